"""kube-controller-manager and kube-scheduler: Deployments → ReplicaSets → Pods, garbage collection,
namespace deletion, and placing each new pod on the node with the fewest pods.

Controllers are level-triggered: after any change in the store, reconcile() compares what is wanted
with what exists, over all objects, and writes the difference back to the store.
"""
import copy
import hashlib
import json
import random

from toycluster.api import validation
from toycluster.api.store import key_of, now_rfc3339

POD_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"   # the alphabet Kubernetes uses for generated names


def template_hash(template: dict) -> str:
    """The pod-template-hash label: a short, stable, name-safe hash of the pod template."""
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    return "".join(POD_NAME_CHARS[b % len(POD_NAME_CHARS)] for b in digest[:10])


def owner_ref(obj: dict) -> dict:
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def owned_by(obj: dict, owner: dict) -> bool:
    return any(r.get("uid") == owner["metadata"]["uid"] for r in obj["metadata"].get("ownerReferences", []))


def pod_ready(pod: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", []))


def terminating(obj: dict) -> bool:
    return bool(obj["metadata"].get("deletionTimestamp"))


class Controllers:
    def __init__(self, store, node_names: list[str]):
        self.store, self.node_names = store, node_names
        self._owned, self._owned_rv = {}, -1         # live pods by owner uid, and how many are ready, as of
                                                     # the pods' version _owned_rv
        self._gc_rv: int | None = None               # the store's version at the last garbage collection

    def reconcile(self) -> None:
        self.namespaces()
        self.garbage_collect()
        for d in self.store.list("Deployment"):
            self.deployment(d)
        for rs in self.store.list("ReplicaSet"):
            self.replicaset(rs)
        self.schedule()

    # -- Deployment: one ReplicaSet per pod template; the current one scaled to spec.replicas --
    def deployment(self, d: dict) -> None:
        ns, name = d["metadata"]["namespace"], d["metadata"]["name"]
        h = template_hash(d["spec"]["template"])
        sets = [rs for rs in self.store.list("ReplicaSet", ns) if owned_by(rs, d)]
        current = next((rs for rs in sets if rs["metadata"]["labels"].get("pod-template-hash") == h), None)
        want = d["spec"].get("replicas", 1)
        if current is None:
            template = copy.deepcopy(d["spec"]["template"])
            template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = h
            selector = copy.deepcopy(d["spec"]["selector"])
            selector.setdefault("matchLabels", {})["pod-template-hash"] = h
            current = self.store.put({
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": f"{name}-{h}", "namespace": ns, "labels": template["metadata"]["labels"],
                             "ownerReferences": [owner_ref(d)]},
                "spec": {"replicas": want, "selector": selector, "template": template}})
        elif current["spec"]["replicas"] != want:
            self._set(current, ("spec", "replicas"), want)
        for rs in sets:        # a rollout: older templates scaled to zero (kept, as revision history)
            if rs is not current and rs["spec"]["replicas"] != 0:
                self._set(rs, ("spec", "replicas"), 0)
        owners = sets if current in sets else sets + [current]
        pods = [p for rs in owners for p in self._pods_of(rs)]
        ready = sum(self._index(rs)[1] for rs in owners)
        updated = len(self._pods_of(current))
        status = {"observedGeneration": d["metadata"].get("generation", 1), "replicas": len(pods),
                  "updatedReplicas": updated, "readyReplicas": ready, "availableReplicas": ready,
                  "conditions": [{"type": "Available", "status": "True" if ready >= want else "False",
                                  "reason": "MinimumReplicasAvailable" if ready >= want
                                  else "MinimumReplicasUnavailable"}]}
        if ready < len(pods):
            status["unavailableReplicas"] = len(pods) - ready
        self._status(d, status)

    # -- ReplicaSet: create or delete pods until the count matches --
    def replicaset(self, rs: dict) -> None:
        pods = self._pods_of(rs)
        want = rs["spec"]["replicas"]
        for _ in range(want - len(pods)):
            self.store.put(self._new_pod(rs))
        if len(pods) > want:   # as upstream: unscheduled, then not ready, then newest go first
            pods.sort(key=lambda p: (bool(p["spec"].get("nodeName")), pod_ready(p),
                                     [-ord(c) for c in p["metadata"]["creationTimestamp"]]))
            for p in pods[:len(pods) - want]:
                self._mark_deleted(p)
        pods, ready = self._index(rs)
        self._status(rs, {"replicas": len(pods), "readyReplicas": ready, "availableReplicas": ready,
                          "observedGeneration": rs["metadata"].get("generation", 1)})

    def _new_pod(self, rs: dict) -> dict:
        template = copy.deepcopy(rs["spec"]["template"])
        suffix = "".join(random.choice(POD_NAME_CHARS) for _ in range(5))
        meta = template.get("metadata", {})
        meta.update(name=f"{rs['metadata']['name']}-{suffix}", namespace=rs["metadata"]["namespace"],
                    generateName=f"{rs['metadata']['name']}-", ownerReferences=[owner_ref(rs)])
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template["spec"]}
        return validation.validate(pod, f"replicaset {rs['metadata']['name']}")

    def _index(self, owner: dict) -> tuple[list, int]:
        """OWNER's pods that are not being deleted, and how many of them are ready (from an index by owner,
        rebuilt when a pod changed)."""
        if self._owned_rv != self.store.kind_rv.get("Pod", 0):
            self._owned, self._owned_rv = {}, self.store.kind_rv.get("Pod", 0)
            for p in self.store.list("Pod"):
                if not terminating(p):
                    for ref in p["metadata"].get("ownerReferences", []):
                        entry = self._owned.setdefault(ref.get("uid"), [[], 0])
                        entry[0].append(p)
                        entry[1] += pod_ready(p)
        pods, ready = self._owned.get(owner["metadata"]["uid"], ([], 0))
        return pods, ready

    def _pods_of(self, rs: dict) -> list[dict]:
        return list(self._index(rs)[0])

    # -- garbage collector: objects whose owner is gone follow it --
    def garbage_collect(self) -> None:
        """Objects all of whose owners are gone are deleted (pods gracefully).  Only a deletion can orphan
        an object that was fine before, so without one since the last pass only the objects that came
        or changed are looked at."""
        since, self._gc_rv = self._gc_rv, self.store.rv
        events = self.store.events_since(since) if since is not None and self.store.log_covers(since) else None
        if events is None or any(e["type"] == "DELETED" for e in events):
            candidates = list(self.store.objects.values())
        else:
            candidates = [o for e in events if (o := self.store.get(*key_of(e["object"]))) is not None]
        for obj in candidates:
            refs = obj["metadata"].get("ownerReferences", [])
            if refs and not any(self._exists(obj, r) for r in refs):
                if obj["kind"] == "Pod":
                    self._mark_deleted(obj)
                else:
                    self.store.delete(obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])

    def _exists(self, obj: dict, ref: dict) -> bool:
        owner = self.store.get(ref["kind"], obj["metadata"].get("namespace", ""), ref["name"])
        return owner is not None and owner["metadata"]["uid"] == ref["uid"]

    # -- namespaces: the four built-in ones exist; a deleted one empties, then goes --
    def namespaces(self) -> None:
        for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
            if self.store.get("Namespace", "", name) is None:
                self.store.put({"apiVersion": "v1", "kind": "Namespace",
                                "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
                                "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
        for ns in self.store.list("Namespace"):
            if not terminating(ns):
                continue
            name = ns["metadata"]["name"]
            left = [o for (k, n, _), o in list(self.store.objects.items()) if n == name]
            for obj in left:
                if obj["kind"] == "Pod":
                    self._mark_deleted(obj)
                else:
                    self.store.delete(obj["kind"], name, obj["metadata"]["name"])
            if not any(k == "Pod" and n == name for (k, n, _) in self.store.objects):
                self.store.delete("Namespace", "", name)

    # -- kube-scheduler: the node with the fewest pods, ties to the lowest-numbered --
    def schedule(self) -> None:
        load = {n: 0 for n in self.node_names}
        pending = []
        for p in self.store.list("Pod"):
            node = p["spec"].get("nodeName")
            if node in load:
                load[node] += 1
            elif not node and not terminating(p):
                pending.append(p)
        for p in pending:
            wanted = p["spec"].get("nodeSelector", {}).get("kubernetes.io/hostname")
            candidates = [wanted] if wanted in load else list(load)
            node = min(candidates, key=lambda n: (load[n], n))
            load[node] += 1
            p = copy.deepcopy(p)
            p["spec"]["nodeName"] = node
            p.setdefault("status", {}).update(phase="Pending", conditions=[
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": now_rfc3339()}])
            self.store.put(p)
        if pending:    # bindings are on disk before a kubelet acts on them (etcd acknowledges a Binding first),
            self.store.save()          # so a restarted control plane finds each pod where its processes are

    # -- helpers --
    def _mark_deleted(self, pod: dict) -> None:
        if not terminating(pod):
            pod = copy.deepcopy(pod)
            pod["metadata"]["deletionTimestamp"] = now_rfc3339()
            self.store.put(pod)

    def _set(self, obj: dict, path: tuple, value) -> None:
        obj = copy.deepcopy(obj)
        obj[path[0]][path[1]] = value
        self.store.put(obj)

    def _status(self, obj: dict, status: dict) -> None:
        if obj.get("status") != status:      # a new object sharing the old one's spec (never changed in place)
            self.store.put({**obj, "metadata": dict(obj["metadata"]), "status": status})
