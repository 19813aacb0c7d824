"""kube-controller-manager's ReplicaSet controller (pkg/controller/replicaset): pods created or deleted until each
ReplicaSet has spec.replicas active pods, and its status (replicas, fullyLabeledReplicas, readyReplicas,
availableReplicas after minReadySeconds, observedGeneration).

Pods to delete are ranked as upstream ranks them (unscheduled, pending, not ready, doubled up on a node with
related pods, ready for less time, restarted more, newer go first). Events, component replicaset-controller:
SuccessfulCreate ("Created pod: web-7d9c5b8f6d-x2x4q") and SuccessfulDelete ("Deleted pod: ...").
"""
import copy
import time

from toycluster.api import events, validation
from toycluster.controllers.controller_utils import (controller_uid, mark_deleted, owner_ref, pod_ready,
                                                     put_status, random_suffix, replicas, terminating)

COMPONENT = "replicaset-controller"
PHASE_ORDER = {"Pending": 0, "Unknown": 1, "Running": 2}


class ReplicaSetController:
    def __init__(self, store, pods):
        self.store, self.pods = store, pods

    def reconcile(self) -> None:
        for rs in self.store.list("ReplicaSet"):
            self.sync(rs)

    def sync(self, rs: dict) -> None:
        uid = rs["metadata"]["uid"]
        if not terminating(rs):
            self.manage(rs, self.pods.active(uid))
        self.update_status(rs, self.pods.active(uid))

    def manage(self, rs: dict, pods: list) -> None:
        """manageReplicas: create the missing pods, or delete the extra ones."""
        diff = len(pods) - replicas(rs)
        for _ in range(-diff):
            pod = self.store.put(self.new_pod(rs))
            events.record(self.store, rs, "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}",
                          component=COMPONENT)
        if diff > 0:
            for pod in self.to_delete(rs, pods, diff):
                if mark_deleted(self.store, pod):
                    events.record(self.store, rs, "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}",
                                  component=COMPONENT)

    def new_pod(self, rs: dict) -> dict:
        """A pod from RS's template, named as the API server names a generateName: RS's name, '-', 5 characters."""
        template = copy.deepcopy(rs["spec"]["template"])
        meta, ns, prefix = template.get("metadata", {}), rs["metadata"]["namespace"], f"{rs['metadata']['name']}-"
        name = prefix + random_suffix()
        while self.store.get("Pod", ns, name) is not None:
            name = prefix + random_suffix()
        meta.update(name=name, namespace=ns, generateName=prefix, ownerReferences=[owner_ref(rs)])
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template["spec"]}
        return validation.validate(pod, f"replicaset {rs['metadata']['name']}")

    def to_delete(self, rs: dict, pods: list, count: int) -> list:
        """getPodsToDelete: the COUNT pods ranked first by ActivePodsWithRanks; the rank of a pod is the number of
        related pods (of the ReplicaSets with the same owner) on its node."""
        siblings = [r for r in self.store.list("ReplicaSet", rs["metadata"]["namespace"])
                    if controller_uid(r) is not None and controller_uid(r) == controller_uid(rs)] or [rs]
        on_node: dict[str, int] = {}
        for r in siblings:
            for p in self.pods.active(r["metadata"]["uid"]):
                node = p["spec"].get("nodeName") or ""
                on_node[node] = on_node.get(node, 0) + 1

        def rank(p: dict) -> tuple:
            node, since = p["spec"].get("nodeName") or "", self.pods.ready_since(p)
            restarts = sum(c.get("restartCount", 0) for c in (p.get("status") or {}).get("containerStatuses") or [])
            return (bool(node), PHASE_ORDER.get((p.get("status") or {}).get("phase"), 0), pod_ready(p),
                    -on_node.get(node, 0) if node else 0, -since if since is not None else 0, -restarts,
                    [-ord(c) for c in p["metadata"].get("creationTimestamp", "")])
        return sorted(pods, key=rank)[:count]

    def update_status(self, rs: dict, pods: list) -> None:
        """calculateStatus: counts of RS's active pods (fields that are 0 left out, but replicas)."""
        labels = (rs["spec"]["template"].get("metadata") or {}).get("labels") or {}
        min_ready, now = rs["spec"].get("minReadySeconds", 0), time.time()
        counts = {"fullyLabeledReplicas": sum(all(p["metadata"].get("labels", {}).get(k) == v
                                                  for k, v in labels.items()) for p in pods),
                  "readyReplicas": sum(pod_ready(p) for p in pods),
                  "availableReplicas": sum(self.pods.available(p, min_ready, now) for p in pods),
                  "observedGeneration": rs["metadata"].get("generation", 1)}
        status = {"replicas": len(pods), **{k: v for k, v in counts.items() if v}}
        if (rs.get("status") or {}).get("conditions"):
            status["conditions"] = rs["status"]["conditions"]
        put_status(self.store, rs, status)
