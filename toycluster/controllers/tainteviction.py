"""kube-controller-manager's taint eviction controller (pkg/controller/tainteviction, once the NoExecute taint
manager): pods on a node with NoExecute taints are deleted, at once if they do not tolerate every one of them,
else when the shortest tolerationSeconds of the tolerations used runs out (never, if none of those sets one).

An eviction is scheduled when the controller first sees the pod under the taints (processPodOnNode's start time)
and cancelled if the taints go or the pod comes to tolerate them for ever: "Cancelling deletion of Pod ns/name".
When it fires the pod gets the DisruptionTarget condition (DeletionByTaintManager) and a graceful delete, with the
event TaintManagerEviction "Marking for deletion Pod ns/name". A pod on an unreachable node then stays Terminating
until its kubelet is back to stop it, while its ReplicaSet makes a replacement (a terminating pod is not active).
Deadlines are checked on each reconcile pass (at least every 2 s), not by a timer of their own.
"""
import copy
import time

from toycluster.api import events
from toycluster.api.store import now_rfc3339
from toycluster.controllers.controller_utils import mark_deleted, put_status, terminating
from toycluster.controllers.scheduler import tolerates

COMPONENT = "taint-eviction-controller"


def no_execute_taints(node: dict) -> list[dict]:
    return [t for t in (node.get("spec") or {}).get("taints") or [] if t.get("effect") == "NoExecute"]


def matching_tolerations(taints: list[dict], tolerations: list[dict]) -> tuple[bool, list[dict]]:
    """GetMatchingTolerations: whether every taint is tolerated, and the tolerations that tolerate one."""
    used = []
    for taint in taints:
        found = [t for t in tolerations if tolerates(t, taint)]
        if not found:
            return False, []
        used += [t for t in found if t not in used]
    return True, used


def min_toleration_seconds(tolerations: list[dict]) -> float | None:
    """getMinTolerationTime: 0 with no tolerations or one of 0 s or less, the smallest tolerationSeconds, or None
    (for ever) when none of them sets it."""
    if not tolerations:
        return 0.0
    seconds = [t["tolerationSeconds"] for t in tolerations if t.get("tolerationSeconds") is not None]
    return None if not seconds else max(0.0, float(min(seconds)))


class TaintEvictionController:
    def __init__(self, store, clock=time.time):
        self.store, self.clock = store, clock
        self.scheduled: dict[tuple[str, str], tuple[float, float]] = {}   # (ns, pod) -> (scheduled at, fire at)

    def reconcile(self) -> None:
        tainted = {n["metadata"]["name"]: taints for n in self.store.list("Node") if (taints := no_execute_taints(n))}
        if not tainted and not self.scheduled:
            return
        now, seen = self.clock(), set()
        for pod in self.store.list("Pod") if tainted else ():
            taints = tainted.get(pod["spec"].get("nodeName"))
            if not taints or terminating(pod):
                continue
            key = (pod["metadata"]["namespace"], pod["metadata"]["name"])
            tolerated, used = matching_tolerations(taints, pod["spec"].get("tolerations") or [])
            wait = min_toleration_seconds(used) if tolerated else 0.0
            if wait is None:
                continue
            seen.add(key)
            start = self.scheduled.get(key, (now, 0.0))[0]
            self.scheduled[key] = (start, start + wait)
            if now >= start + wait:
                self.evict(pod)
                del self.scheduled[key]
        for key in set(self.scheduled) - seen:
            del self.scheduled[key]
            if (pod := self.store.get("Pod", *key)) is not None and not terminating(pod):
                events.record(self.store, pod, "TaintManagerEviction", f"Cancelling deletion of Pod {key[0]}/{key[1]}",
                              component=COMPONENT)

    def evict(self, pod: dict) -> None:
        """addConditionAndDeletePod: DisruptionTarget True, then a graceful delete."""
        meta = pod["metadata"]
        events.record(self.store, pod, "TaintManagerEviction", f"Marking for deletion Pod {meta['namespace']}/"
                      f"{meta['name']}", component=COMPONENT)
        status = copy.deepcopy(pod.get("status") or {})
        conditions = [c for c in status.get("conditions") or [] if c.get("type") != "DisruptionTarget"]
        status["conditions"] = conditions + [{
            "type": "DisruptionTarget", "status": "True", "lastProbeTime": None, "lastTransitionTime": now_rfc3339(),
            "reason": "DeletionByTaintManager", "message": "Taint manager: deleting due to NoExecute taint"}]
        mark_deleted(self.store, put_status(self.store, pod, status))
