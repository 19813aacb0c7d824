"""A node that goes away (issue 14, item 5), against an in-memory store and a clock of the test's own: the kubelet's
heartbeats (node/nodestatus.py), the node lifecycle controller's decisions (Ready Unknown after the grace period,
taints, pods NotReady, events), the taint eviction controller's (evicted after the toleration, replaced by the
ReplicaSet on the other node, cancelled when the node is back), the DefaultTolerationSeconds admission."""
import re

import pytest

from toycluster.api import registry, validation, validation_core
from toycluster.api.store import Store
from toycluster.controllers import manager, nodelifecycle
from toycluster.node import nodestatus, workloads

validation_core.IMAGE_CHECK = workloads.check_image
GRACE, TOLERATION = 10.0, 30
UNREACHABLE = "node.kubernetes.io/unreachable"


class Clock:
    def __init__(self):
        self.t = 1_900_000_000.0

    def __call__(self):
        return self.t


@pytest.fixture
def cluster(monkeypatch):
    monkeypatch.setattr(validation_core, "DEFAULT_TOLERATION_SECONDS", TOLERATION)
    store, clock = Store(None), Clock()
    ctl = manager.Controllers(store, ["node1", "node2"], GRACE)
    ctl.node_lifecycle.clock = ctl.taint_eviction.clock = clock
    ctl.reconcile()                          # the built-in namespaces
    for n in (1, 2):
        store.put({"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"node{n}", "labels": {
            "kubernetes.io/hostname": f"node{n}"}}, "spec": {}, "status": {"conditions": [
                {"type": "Ready", "status": "True", "lastHeartbeatTime": "2030-01-01T00:00:00Z"}]}})
    up = {"node1": True, "node2": True}
    kubelets = {name: nodestatus.NodeStatus(store, name, GRACE, lambda name=name: up[name], clock)
                for name in up}
    registry.API(store).apply([{
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "web"}}, "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "toycluster/echo"}]}}}}])
    world = type("World", (), {"store": store, "clock": clock, "ctl": ctl, "up": up, "kubelets": kubelets})
    run(world, 1)
    return world


def run(w, seconds: int) -> None:
    """SECONDS go by, a second at a time: the kubelets that reach the API post, the pods they run turn Ready, and
    the controllers run."""
    for _ in range(seconds):
        w.clock.t += 1
        for k in w.kubelets.values():
            k.tick()
        w.ctl.reconcile()
        for pod in w.store.list("Pod"):
            node, running = pod["spec"].get("nodeName"), {"phase": "Running", "conditions": [
                {"type": "Ready", "status": "True"}]}
            if node and w.up[node] and pod.get("status") != running and not pod["metadata"].get("deletionTimestamp"):
                w.store.put({**pod, "status": running})


def node(w, name):
    return w.store.get("Node", "", name)


def ready(obj) -> dict:
    return nodelifecycle.condition(obj, "Ready")


def pods_on(w, name, live=True):
    return [p for p in w.store.list("Pod") if p["spec"].get("nodeName") == name
            and (not live or not p["metadata"].get("deletionTimestamp"))]


def events(w, reason, kind=None):
    return sorted((e["involvedObject"]["name"], e["message"], e["type"], e["source"]["component"])
                  for e in w.store.list("Event")
                  if e["reason"] == reason and kind in (None, e["involvedObject"]["kind"]))


def test_kubelets_renew_their_leases_and_post_the_conditions_of_a_healthy_node(cluster):
    w = cluster
    first = node(w, "node1")["status"]["conditions"]
    assert [(c["type"], c["status"], c["reason"]) for c in first] == [
        ("MemoryPressure", "False", "KubeletHasSufficientMemory"),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID"), ("Ready", "True", "KubeletReady")]
    lease = w.store.get("Lease", "kube-node-lease", "node1")
    assert lease["spec"]["holderIdentity"] == "node1" and lease["spec"]["leaseDurationSeconds"] == GRACE
    assert lease["metadata"]["ownerReferences"][0]["kind"] == "Node"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", lease["spec"]["renewTime"])
    run(w, 3)
    assert w.store.get("Lease", "kube-node-lease", "node1")["spec"]["renewTime"] > lease["spec"]["renewTime"]
    assert node(w, "node1")["status"]["conditions"] == first       # unchanged: posted again after 5 minutes
    run(w, int(nodestatus.REPORT_SECONDS))
    later = ready(node(w, "node1"))
    assert later["lastHeartbeatTime"] > first[-1]["lastHeartbeatTime"]
    assert later["lastTransitionTime"] == first[-1]["lastTransitionTime"]      # still Ready: no transition
    assert ready(node(w, "node2"))["status"] == "True"
    assert nodestatus.update_period(40) == 10 and nodestatus.update_period(2) == 1


def test_a_node_posting_status_without_a_lease_is_healthy_too(cluster, monkeypatch):
    w = cluster
    w.store.delete("Lease", "kube-node-lease", "node2")
    w.kubelets["node2"].renew_lease = lambda: None
    monkeypatch.setattr(nodestatus, "REPORT_SECONDS", 0.0)     # posts its status on every update, as before leases
    run(w, int(GRACE) * 3)
    assert ready(node(w, "node2"))["status"] == "True" and not events(w, "NodeNotReady")
    w.up["node2"] = False
    run(w, int(GRACE) + 1)
    assert ready(node(w, "node2"))["status"] == "Unknown"


def test_a_silent_node_turns_unknown_after_the_grace_period_and_its_pods_not_ready(cluster):
    w = cluster
    assert len(pods_on(w, "node2")) == 2
    w.up["node2"] = False
    run(w, int(GRACE) - 1)
    assert ready(node(w, "node2"))["status"] == "True" and not node(w, "node2")["spec"].get("taints")
    last_beat = ready(node(w, "node2"))["lastHeartbeatTime"]
    run(w, 2)
    n2 = node(w, "node2")
    assert [(c["type"], c["status"], c["reason"], c["message"]) for c in n2["status"]["conditions"]] == [
        (t, "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.")
        for t in ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready")]
    assert ready(n2)["lastHeartbeatTime"] == last_beat
    assert sorted((t["key"], t["effect"]) for t in n2["spec"]["taints"]) == [
        (UNREACHABLE, "NoExecute"), (UNREACHABLE, "NoSchedule")]
    assert all(t["timeAdded"].endswith("Z") for t in n2["spec"]["taints"])
    assert [ready(p)["status"] for p in pods_on(w, "node2")] == ["False", "False"]
    assert [ready(p)["status"] for p in pods_on(w, "node1")] == ["True", "True"]
    assert events(w, "NodeNotReady", "Node") == [("node2", "Node node2 status is now: NodeNotReady", "Normal",
                                                  "node-controller")]
    assert events(w, "NodeNotReady", "Pod") == sorted((p["metadata"]["name"], "Node is not ready", "Warning",
                                                       "node-controller") for p in pods_on(w, "node2"))
    assert ready(node(w, "node1"))["status"] == "True" and not node(w, "node1")["spec"].get("taints")


def test_pods_are_evicted_after_their_toleration_and_replaced_on_the_other_node(cluster):
    w = cluster
    doomed = sorted(p["metadata"]["name"] for p in pods_on(w, "node2"))
    assert pods_on(w, "node2")[0]["spec"]["tolerations"] == [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30},
        {"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30}]
    w.up["node2"] = False
    run(w, int(GRACE) + 1)
    run(w, TOLERATION - 1)
    assert sorted(p["metadata"]["name"] for p in pods_on(w, "node2")) == doomed
    run(w, 2)
    assert pods_on(w, "node2") == []
    gone = [w.store.get("Pod", "default", name) for name in doomed]
    assert all(p["metadata"]["deletionTimestamp"] for p in gone)      # Terminating: the kubelet is away
    assert all(c["reason"] == "DeletionByTaintManager" for p in gone for c in p["status"]["conditions"]
               if c["type"] == "DisruptionTarget")
    assert events(w, "TaintManagerEviction") == [(name, f"Marking for deletion Pod default/{name}", "Normal",
                                                  "taint-eviction-controller") for name in doomed]
    assert len(pods_on(w, "node1")) == 4 and all(ready(p)["status"] == "True" for p in pods_on(w, "node1"))


def test_a_node_back_in_time_is_ready_untainted_and_its_evictions_cancelled(cluster):
    w = cluster
    w.up["node2"] = False
    run(w, int(GRACE) + 5)
    w.up["node2"] = True
    run(w, 2)
    n2 = node(w, "node2")
    assert ready(n2)["status"] == "True" and ready(n2)["reason"] == "KubeletReady"
    assert not n2["spec"].get("taints")
    assert [e[:2] for e in events(w, "NodeReady")] == [("node2", "Node node2 status is now: NodeReady")]
    assert sorted(e[1] for e in events(w, "TaintManagerEviction")) == sorted(
        f"Cancelling deletion of Pod default/{p['metadata']['name']}" for p in pods_on(w, "node2"))
    run(w, TOLERATION)
    assert len(pods_on(w, "node2")) == 2 and all(ready(p)["status"] == "True" for p in pods_on(w, "node2"))


def test_a_pod_that_does_not_tolerate_the_taint_goes_at_once_one_tolerating_it_for_ever_stays(cluster):
    w = cluster
    api = registry.API(w.store)
    for name, tolerations in (("bare", [{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                                         "effect": "NoExecute"}]),
                              ("forever", [{"operator": "Exists"}])):
        api.apply([{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
                    "spec": {"nodeName": "node2", "tolerations": tolerations,
                             "containers": [{"name": "c", "image": "busybox"}]}}])
    assert [t["key"] for t in w.store.get("Pod", "default", "bare")["spec"]["tolerations"]] == [
        "node.kubernetes.io/not-ready", UNREACHABLE]        # the admission filled in only the one it lacked
    w.store.put({**(bare := w.store.get("Pod", "default", "bare")), "spec": {**bare["spec"], "tolerations": [
        bare["spec"]["tolerations"][0]]}})                  # as if made before the admission plugin
    w.up["node2"] = False
    run(w, int(GRACE) + 2)
    assert w.store.get("Pod", "default", "bare")["metadata"].get("deletionTimestamp")
    run(w, 3 * TOLERATION)
    assert not w.store.get("Pod", "default", "forever")["metadata"].get("deletionTimestamp")


def test_when_every_node_is_silent_nothing_is_evicted(cluster):
    w = cluster
    w.up.update(node1=False, node2=False)
    run(w, int(GRACE) + TOLERATION + 5)
    for name in ("node1", "node2"):
        assert ready(node(w, name))["status"] == "Unknown"
        assert [(t["key"], t["effect"]) for t in node(w, name)["spec"]["taints"]] == [(UNREACHABLE, "NoSchedule")]
    assert len(pods_on(w, "node1") + pods_on(w, "node2")) == 4 and not events(w, "TaintManagerEviction")


def test_a_stalled_control_plane_gives_every_node_its_grace_again(cluster):
    w = cluster
    w.clock.t += GRACE + 5                   # nothing ran: no heartbeat could have been seen
    w.ctl.reconcile()
    assert ready(node(w, "node1"))["status"] == "True"


def test_default_tolerations_are_added_on_the_server_side_only(monkeypatch):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    monkeypatch.setattr(validation_core, "DEFAULT_TOLERATION_SECONDS", None)
    assert "tolerations" not in validation.validate(pod, "test")["spec"]
    monkeypatch.setattr(validation_core, "DEFAULT_TOLERATION_SECONDS", 300)
    assert [(t["key"], t["tolerationSeconds"]) for t in validation.validate(pod, "test")["spec"]["tolerations"]] == [
        ("node.kubernetes.io/not-ready", 300), (UNREACHABLE, 300)]
    every = {**pod, "spec": {**pod["spec"], "tolerations": [{"operator": "Exists"}]}}
    assert validation.validate(every, "test")["spec"]["tolerations"] == [{"operator": "Exists"}]
