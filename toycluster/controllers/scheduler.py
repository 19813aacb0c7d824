"""kube-scheduler: each pod without a node is bound to the node with the fewest pods among those that fit it (ties
to the lowest-numbered), as a Binding would. A node fits when it is not cordoned (spec.unschedulable), its labels
match the pod's nodeSelector, and the pod tolerates its NoSchedule and NoExecute taints (the NodeUnschedulable,
NodeAffinity and TaintToleration filters). A pod no node fits stays Pending with PodScheduled False (Unschedulable).

Events, component default-scheduler: Scheduled ("Successfully assigned default/web-7d9c5b8f6d-x2x4q to node1") and
FailedScheduling (Warning, upstream's "0/2 nodes are available: ..." text), the latter again only after
UNSCHEDULABLE_RETRY seconds, as upstream flushes its unschedulable queue (podMaxInUnschedulablePodsDuration).
"""
import copy
import time

from toycluster.api import events
from toycluster.api.store import now_rfc3339
from toycluster.controllers.controller_utils import terminating

COMPONENT = "default-scheduler"
UNSCHEDULABLE_RETRY = 300.0


class Scheduler:
    def __init__(self, store, node_names: list[str]):
        self.store, self.node_names = store, node_names
        self._failed_at: dict[str, float] = {}    # pod uid -> when its last FailedScheduling was recorded

    def nodes(self) -> dict[str, dict]:
        """The nodes' objects (a bare one with the hostname label where the store has none)."""
        return {name: self.store.get("Node", "", name) or {"metadata": {"labels": {"kubernetes.io/hostname": name}}}
                for name in self.node_names}

    def schedule(self) -> None:
        nodes = self.nodes()
        load = {n: 0 for n in self.node_names}
        pending = []
        for p in self.store.list("Pod"):
            node = p["spec"].get("nodeName")
            if node in load:
                load[node] += 1
            elif not node and not terminating(p):
                pending.append(p)
        bound = False
        for p in pending:
            reasons = {n: filter_reason(p, node) for n, node in nodes.items()}
            fits = [n for n, reason in reasons.items() if reason is None]
            if not fits:
                self.unschedulable(p, list(reasons.values()))
                continue
            node = min(fits, key=lambda n: (load[n], n))
            load[node] += 1
            self.bind(p, node)
            bound = True
        if bound:      # bindings are on disk before a kubelet acts on them (etcd acknowledges a Binding first),
            self.store.save()          # so a restarted control plane finds each pod where its processes are
        if len(self._failed_at) > len(pending):
            waiting = {p["metadata"].get("uid") for p in pending}
            self._failed_at = {u: t for u, t in self._failed_at.items() if u in waiting}

    def bind(self, pod: dict, node: str) -> None:
        pod = copy.deepcopy(pod)
        pod["spec"]["nodeName"] = node
        pod.setdefault("status", {}).update(phase="Pending", conditions=[
            {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": now_rfc3339()}])
        pod = self.store.put(pod)
        meta = pod["metadata"]
        events.record(self.store, pod, "Scheduled", f"Successfully assigned {meta['namespace']}/{meta['name']} to {node}",
                      component=COMPONENT)

    def unschedulable(self, pod: dict, reasons: list[str]) -> None:
        """PodScheduled False, and a FailedScheduling event (again after UNSCHEDULABLE_RETRY seconds)."""
        total = len(reasons)
        parts = sorted(f"{reasons.count(r)} {r}" for r in set(reasons))
        message = (f"0/{total} nodes are available: {', '.join(parts)}. preemption: 0/{total} nodes are "
                   f"available: {total} Preemption is not helpful for scheduling.")
        status = pod.get("status") or {}
        cond = next((c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), {})
        if cond.get("reason") != "Unschedulable" or cond.get("message") != message:
            pod = copy.deepcopy(pod)
            pod.setdefault("status", {}).update(phase="Pending", conditions=[
                {"type": "PodScheduled", "status": "False", "lastProbeTime": None,
                 "lastTransitionTime": now_rfc3339(), "reason": "Unschedulable", "message": message}])
            pod = self.store.put(pod)
        uid, now = pod["metadata"].get("uid", ""), time.time()
        if now - self._failed_at.get(uid, -UNSCHEDULABLE_RETRY) >= UNSCHEDULABLE_RETRY:
            self._failed_at[uid] = now
            events.record(self.store, pod, "FailedScheduling", message, events.WARNING, component=COMPONENT)


def filter_reason(pod: dict, node: dict) -> str | None:
    """Why NODE does not fit POD (the filter plugins' words), or None if it fits: NodeUnschedulable, NodeAffinity
    (nodeSelector), TaintToleration (NoSchedule and NoExecute taints)."""
    if (node.get("spec") or {}).get("unschedulable"):
        return "node(s) were unschedulable"
    labels = node["metadata"].get("labels") or {}
    if any(labels.get(k) != v for k, v in (pod["spec"].get("nodeSelector") or {}).items()):
        return "node(s) didn't match Pod's node affinity/selector"
    tolerations = pod["spec"].get("tolerations") or []
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not any(tolerates(t, taint) for t in tolerations):
            return f"node(s) had untolerated taint {{{taint['key']}: {taint.get('value', '')}}}"
    return None


def tolerates(toleration: dict, taint: dict) -> bool:
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    if toleration.get("key") and toleration["key"] != taint.get("key"):
        return False
    if toleration.get("operator") == "Exists":
        return True
    return bool(toleration.get("key")) and toleration.get("value", "") == taint.get("value", "")
