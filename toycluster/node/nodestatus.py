"""kubelet's node status and node lease (pkg/kubelet/kubelet_node_status.go, nodelease): the heartbeats the node
lifecycle controller watches, for as long as the kubelet can reach the API server.

Heartbeats, as upstream's kubelet since NodeLease: the Lease kube-node-lease/<node> (holderIdentity the node,
owned by the Node) has its renewTime renewed every renew interval, a quarter of the lease duration (upstream 10 s of
40 s; here the duration is the cluster's node monitor grace period, so the ratio holds); the Node's status is
posted when its conditions change, else every REPORT_SECONDS (nodeStatusReportFrequency, 5 min), so the conditions'
lastHeartbeatTime is minutes old on a healthy node, as on a real one. The conditions are a healthy kubelet's:
MemoryPressure, DiskPressure and PIDPressure False, Ready True (KubeletReady, "kubelet is posting ready status");
lastTransitionTime moves only when a status changes; Ready coming back to True is the kubelet's NodeReady event.

Reaching the API server: the kubelets run in the control plane's process, so what stands for the network between a
kubelet and the API is the node's cable: the node network's port to the node (`<cluster>.net`, link `nodeN`),
which `toycluster node stop` sets down. While it is down the kubelet posts nothing (no lease, no node or pod status,
no event) and learns nothing (no new pod, no deletion): its containers keep running as they were.
"""
import asyncio
import copy
import sys
import threading
import time

from toycluster.api import events
from toycluster.api.store import now_rfc3339
from toycluster.kernel import nsfs, rtnl

CONDITIONS = (("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
              ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
              ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
              ("Ready", "True", "KubeletReady", "kubelet is posting ready status"))
IFF_UP = 0x1
REPORT_SECONDS = 300.0
LEASE_NAMESPACE = "kube-node-lease"


def update_period(grace: float) -> float:
    return max(1.0, grace / 4)


def micro_time(t: float) -> str:
    """metav1.MicroTime as JSON: RFC 3339 with microseconds."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1e6) % 1000000:06d}Z"


def conditions(old: list[dict], now: float) -> list[dict]:
    """The kubelet's conditions, heartbeat NOW; a condition whose status is unchanged keeps its lastTransitionTime."""
    by_type, stamp = {c.get("type"): c for c in old or []}, now_rfc3339(now)
    out = [c for c in old or [] if c.get("type") not in {t for t, *_ in CONDITIONS}]   # others' conditions stay
    for type_, status, reason, message in CONDITIONS:
        before = by_type.get(type_) or {}
        since = before.get("lastTransitionTime") if before.get("status") == status else None
        out.append({"type": type_, "status": status, "lastHeartbeatTime": stamp, "lastTransitionTime": since or stamp,
                    "reason": reason, "message": message})
    return out


class CableCheck:
    """Is node N's port on the node network set up? A netlink socket in `<cluster>.net` (made by a helper thread:
    only helper threads switch namespace), asked each period (RTM_GETLINK, well under a millisecond)."""

    def __init__(self, cfg, n: int):
        self.netns, self.port, self.sock, self.warned = cfg.net_ns, f"node{n}", None, False

    def _open(self) -> None:
        box = []

        def make():
            with nsfs.in_netns(self.netns):
                box.append(rtnl.Socket(self.netns))
        t = threading.Thread(target=make, name="cable-check")
        t.start()
        t.join()
        self.sock = box[0]

    def __call__(self) -> bool:
        try:
            if self.sock is None:
                self._open()
            flags = self.sock.link_flags(self.port)
            return flags is None or bool(flags & IFF_UP)   # no port: nothing stands between kubelet and API
        except Exception as e:
            if not self.warned:
                print(f"kubelet {self.port}: cannot read its link ({type(e).__name__}: {e}); taken as up",
                      file=sys.stderr, flush=True)
            self.warned = True
            if self.sock is not None:
                self.sock.close()
            self.sock = None
            return True


class NodeStatus:
    def __init__(self, store, node: str, grace: float, reachable, clock=time.time):
        self.store, self.node, self.reachable, self.clock = store, node, reachable, clock
        self.grace, self.period = grace, update_period(grace)
        self.connected, self.reported = reachable(), None   # reported: when the node status was last posted

    async def run(self, on_reconnect) -> None:
        """Every period: can the API be reached? If so, renew the lease, post the status if it is due, and when
        the API has just come back, ON_RECONNECT()."""
        while True:
            if self.tick():
                on_reconnect()
            await asyncio.sleep(self.period)

    def tick(self) -> bool:
        """One update: True when the API has just become reachable again."""
        was, self.connected = self.connected, self.reachable()
        if self.connected:
            self.renew_lease()
            self.post()
        if was != self.connected:
            print(f"kubelet {self.node}: " + ("the API server is reachable again: posting node status" if
                  self.connected else "its network is down: it can no longer reach the API server"), flush=True)
        return self.connected and not was

    def renew_lease(self) -> None:
        """The node lease controller: kube-node-lease/<node> made if missing (owned by the Node), renewTime now."""
        node = self.store.get("Node", "", self.node)
        if node is None:
            return
        lease = self.store.get("Lease", LEASE_NAMESPACE, self.node) or {
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": self.node, "namespace": LEASE_NAMESPACE, "ownerReferences": [
                {"apiVersion": "v1", "kind": "Node", "name": self.node, "uid": node["metadata"].get("uid", "")}]},
            "spec": {"holderIdentity": self.node}}
        spec = {**lease.get("spec", {}), "leaseDurationSeconds": max(1, round(self.grace)),
                "renewTime": micro_time(self.clock())}
        self.store.put({**lease, "metadata": dict(lease["metadata"]), "spec": spec})

    def post(self) -> None:
        """tryUpdateNodeStatus: the conditions, if they changed or REPORT_SECONDS passed since the last post (a
        status write: spec and metadata kept)."""
        node, now = self.store.get("Node", "", self.node), self.clock()
        if node is None:
            return
        status = copy.deepcopy(node.get("status") or {})
        old = status.get("conditions") or []
        new = conditions(old, now)
        plain = lambda cs: [{k: v for k, v in c.items() if k != "lastHeartbeatTime"} for c in cs]   # noqa: E731
        if self.reported is not None and now - self.reported < REPORT_SECONDS and plain(old) == plain(new):
            return
        self.reported, status["conditions"] = now, new
        was_ready = next((c.get("status") for c in old if c.get("type") == "Ready"), None)
        node = self.store.put({**node, "metadata": dict(node["metadata"]), "status": status})
        if was_ready is not None and was_ready != "True":
            events.record(self.store, node, "NodeReady", f"Node {self.node} status is now: NodeReady",
                          component="kubelet", host=self.node)
