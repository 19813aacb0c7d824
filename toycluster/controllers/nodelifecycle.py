"""kube-controller-manager's node lifecycle controller (pkg/controller/nodelifecycle): a node whose kubelet stops
posting its status is marked Unknown, tainted, and its pods are marked NotReady.

monitorNodeHealth, once per reconcile pass: a node's heartbeats are the renewTime of its Lease in kube-node-lease
(renewed every quarter of the grace period by its kubelet, node/nodestatus.py) and its Ready condition's
lastHeartbeatTime (posted when the status changes, else every 5 minutes). The controller notes *when it saw* either
change (probeTimestamp: its own clock, not the kubelet's); after the grace period
(--node-monitor-grace-period, upstream 40 s) without one, the kubelet's conditions (Ready, MemoryPressure,
DiskPressure, PIDPressure) turn Unknown, reason NodeStatusUnknown, "Kubelet stopped posting node status.". On the
Ready True -> not True transition it records NodeNotReady on the node and marks every pod of the node NotReady
(MarkPodsNotReady: their Ready condition False, a NodeNotReady warning each), so they leave the EndpointSlices.

Taints, as its two tainting passes: NoSchedule from the conditions (Ready Unknown -> node.kubernetes.io/unreachable,
Ready False -> not-ready, pressure conditions, spec.unschedulable -> unschedulable), and NoExecute unreachable or
not-ready from Ready (the taint eviction controller, tainteviction.py, acts on those). Ready True again removes
them. When every node is not Ready (full disruption: the control plane's own network is the likelier fault) no
NoExecute taint is kept, as upstream's handleDisruption stops evictions.

Departures: nodes whose Ready condition was never posted are left alone (upstream gives them a 60 s start-up grace);
no zones or eviction rate limits; a pass that comes STALL_SECONDS or more after the previous one (the process was
stopped or starved, so no heartbeat could have been seen either) starts every node's grace period again.
"""
import copy
import time

from toycluster.api import events
from toycluster.api.store import now_rfc3339
from toycluster.controllers.controller_utils import put_status

COMPONENT = "node-controller"
UNREACHABLE, NOT_READY = "node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready"
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
KUBELET_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")
CONDITION_TAINTS = {("Ready", "False"): NOT_READY, ("Ready", "Unknown"): UNREACHABLE,   # NoSchedule, by condition
                    ("MemoryPressure", "True"): "node.kubernetes.io/memory-pressure",
                    ("DiskPressure", "True"): "node.kubernetes.io/disk-pressure",
                    ("PIDPressure", "True"): "node.kubernetes.io/pid-pressure",
                    ("NetworkUnavailable", "True"): "node.kubernetes.io/network-unavailable"}
CONTROLLER_TAINT_KEYS = set(CONDITION_TAINTS.values()) | {UNSCHEDULABLE}
STALL_SECONDS = 5.0
LEASE_NAMESPACE = "kube-node-lease"
DEFAULT_GRACE = 40.0


def condition(obj: dict, type_: str) -> dict | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == type_), None)


class NodeLifecycleController:
    def __init__(self, store, grace: float = DEFAULT_GRACE, clock=time.time):
        self.store, self.grace, self.clock = store, grace, clock
        self.health: dict[str, tuple[tuple, float]] = {}  # node -> (the heartbeats last seen, when they were seen)
        self.fully_disrupted = False
        self._last_pass: float | None = None

    def reconcile(self) -> None:
        now = self.clock()
        if self._last_pass is not None and now - self._last_pass >= STALL_SECONDS:
            self.health = {name: (beat, now) for name, (beat, _) in self.health.items()}
        self._last_pass = now
        nodes = [n for n in self.store.list("Node") if condition(n, "Ready") is not None]
        statuses = {}
        for node in nodes:
            before = condition(node, "Ready")["status"]
            node = self.update_health(node, now)
            statuses[node["metadata"]["name"]] = current = condition(node, "Ready")["status"]
            self.mark_pods(node, before, current, now)
        self.health = {name: h for name, h in self.health.items() if name in statuses}
        full = bool(statuses) and all(s != "True" for s in statuses.values())
        if self.fully_disrupted and not full:      # leaving full disruption: every node gets its grace again
            self.health = {name: (beat, now) for name, (beat, _) in self.health.items()}
        self.fully_disrupted = full
        for node in nodes:
            node = self.store.get("Node", "", node["metadata"]["name"])
            if node is not None:
                self.set_taints(node, full)

    def update_health(self, node: dict, now: float) -> dict:
        """tryUpdateNodeHealth: note a new heartbeat; past the grace period, the kubelet's conditions Unknown."""
        name = node["metadata"]["name"]
        lease = self.store.get("Lease", LEASE_NAMESPACE, name) or {}
        beat = (condition(node, "Ready").get("lastHeartbeatTime") or "", (lease.get("spec") or {}).get("renewTime"))
        seen = self.health.get(name)
        if seen is None or seen[0] != beat:
            self.health[name] = seen = (beat, now)
        if now - seen[1] <= self.grace:
            return node
        status = copy.deepcopy(node.get("status") or {})
        conditions = status.setdefault("conditions", [])
        for type_ in KUBELET_CONDITIONS:
            c = next((c for c in conditions if c.get("type") == type_), None)
            if c is None:
                conditions.append({"type": type_, "status": "Unknown", "lastHeartbeatTime": node["metadata"].get(
                    "creationTimestamp"), "lastTransitionTime": now_rfc3339(now), "reason": "NodeStatusNeverUpdated",
                    "message": "Kubelet never posted node status."})
            elif c.get("status") != "Unknown":
                c.update(status="Unknown", reason="NodeStatusUnknown", message="Kubelet stopped posting node status.",
                         lastTransitionTime=now_rfc3339(now))
        return put_status(self.store, node, status)

    def mark_pods(self, node: dict, before: str, current: str, now: float) -> None:
        """On Ready True -> not True: the NodeNotReady event, then MarkPodsNotReady."""
        if current == "True" or before != "True":
            return
        name = node["metadata"]["name"]
        events.record(self.store, node, "NodeNotReady", f"Node {name} status is now: NodeNotReady", component=COMPONENT)
        for pod in self.store.list("Pod"):
            if pod["spec"].get("nodeName") == name:
                mark_pod_not_ready(self.store, pod, now)

    def set_taints(self, node: dict, fully_disrupted: bool) -> None:
        """The NoSchedule and NoExecute taints the node's conditions call for, added with their timeAdded (kept while
        they stay), the controller's others removed; other taints are left as they are."""
        spec = node.get("spec") or {}
        want = [(key, "NoSchedule") for (type_, status), key in CONDITION_TAINTS.items()
                if (c := condition(node, type_)) is not None and c.get("status") == status]
        if spec.get("unschedulable"):
            want.append((UNSCHEDULABLE, "NoSchedule"))
        ready = condition(node, "Ready")["status"]
        if ready != "True" and not fully_disrupted:
            want.append((UNREACHABLE if ready == "Unknown" else NOT_READY, "NoExecute"))
        old = spec.get("taints") or []
        kept = [t for t in old if t.get("key") not in CONTROLLER_TAINT_KEYS or (t.get("key"), t.get("effect")) in want]
        have = {(t.get("key"), t.get("effect")) for t in kept}
        taints = kept + [{"key": k, "effect": e, "timeAdded": now_rfc3339(self.clock())} for k, e in want
                         if (k, e) not in have]
        if taints != old:
            new = {**node, "metadata": dict(node["metadata"]), "spec": {**spec, "taints": taints}}
            if not taints:
                new["spec"].pop("taints")
            self.store.put(new)


def mark_pod_not_ready(store, pod: dict, now: float) -> None:
    """MarkPodsNotReady for one pod: its Ready condition False (lastTransitionTime now), and a NodeNotReady warning."""
    status = copy.deepcopy(pod.get("status") or {})
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    if ready is None or ready.get("status") == "False":
        return
    ready.update(status="False", lastTransitionTime=now_rfc3339(now))
    put_status(store, pod, status)
    events.record(store, pod, "NodeNotReady", "Node is not ready", events.WARNING, component=COMPONENT)
