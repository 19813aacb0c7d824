"""Pure tests (no root) of the API server's semantics and the controllers, over an in-memory store."""
import copy

import pytest

from toycluster.api import registry
from toycluster.controllers import manager
from toycluster.controllers import endpointslice
from toycluster.controllers import deployment_util
from toycluster.api import validation_core
from toycluster.node import workloads
from toycluster.api.store import Store

validation_core.IMAGE_CHECK = workloads.check_image


def deployment(name="web", replicas=2, image="toycluster/echo", ns="default"):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}}}


@pytest.fixture
def cp():
    store = Store(None)
    ctl = manager.Controllers(store, ["node1", "node2"])
    ctl.reconcile()
    return store, registry.API(store), ctl


def settle(ctl, times=3):
    for _ in range(times):
        ctl.reconcile()


def test_builtin_namespaces_carry_the_metadata_name_label(cp):
    store, _, _ = cp
    names = [n["metadata"]["name"] for n in store.list("Namespace")]
    assert names == ["default", "kube-node-lease", "kube-public", "kube-system"]
    assert store.get("Namespace", "", "default")["metadata"]["labels"] == {"kubernetes.io/metadata.name": "default"}


def test_apply_reports_created_unchanged_configured(cp):
    _, api, _ = cp
    assert api.apply([deployment()]) == ["deployment.apps/web created"]
    assert api.apply([deployment()]) == ["deployment.apps/web unchanged"]
    assert api.apply([deployment(replicas=3)]) == ["deployment.apps/web configured"]


def test_deployment_makes_a_replicaset_and_pods_spread_over_nodes(cp):
    store, api, ctl = cp
    api.apply([deployment(replicas=4)])
    settle(ctl)
    rs = store.list("ReplicaSet")
    assert len(rs) == 1 and rs[0]["metadata"]["name"].startswith("web-")
    pods = store.list("Pod")
    assert len(pods) == 4
    h = rs[0]["metadata"]["labels"]["pod-template-hash"]
    assert all(p["metadata"]["name"].startswith(f"web-{h}-") and len(p["metadata"]["name"]) == len(f"web-{h}-") + 5
               for p in pods)
    assert sorted(p["spec"]["nodeName"] for p in pods) == ["node1", "node1", "node2", "node2"]
    assert all(p["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet" for p in pods)


def test_scale_down_marks_extra_pods_for_deletion(cp):
    store, api, ctl = cp
    api.apply([deployment(replicas=3)])
    settle(ctl)
    api.scale("Deployment", "default", "web", 1)
    settle(ctl)
    live = [p for p in store.list("Pod") if not p["metadata"].get("deletionTimestamp")]
    assert len(live) == 1 and len(store.list("Pod")) == 3, "the kubelet removes deleted pods, not the controller"


def test_a_deleted_pod_is_replaced(cp):
    store, api, ctl = cp
    api.apply([deployment(replicas=1)])
    settle(ctl)
    first = store.list("Pod")[0]["metadata"]["name"]
    api.delete("Pod", "default", first)
    store.delete("Pod", "default", first)            # what the kubelet does once the pod is gone
    settle(ctl)
    pods = store.list("Pod")
    assert len(pods) == 1 and pods[0]["metadata"]["name"] != first


def test_new_template_rolls_out_to_a_new_replicaset(cp):
    store, api, ctl = cp
    api.apply([deployment(replicas=2)])
    settle(ctl)
    api.apply([deployment(replicas=2, image="traefik/whoami")])
    for _ in range(6):                    # step by step: each step waits for the new pods to be ready
        for i, pod in enumerate(store.list("Pod")):
            if pod["metadata"].get("deletionTimestamp"):
                store.delete("Pod", "default", pod["metadata"]["name"])
            else:
                _as_kubelet_reports(store, pod, f"10.244.1.{i + 2}")
        settle(ctl)
    sets = sorted(store.list("ReplicaSet"), key=lambda r: r["spec"]["replicas"])
    assert [r["spec"]["replicas"] for r in sets] == [0, 2]


def test_deleting_a_deployment_collects_its_replicasets_and_pods(cp):
    store, api, ctl = cp
    api.apply([deployment(replicas=2)])
    settle(ctl)
    api.delete("Deployment", "default", "web")
    settle(ctl)
    assert store.list("ReplicaSet") == []
    assert all(p["metadata"].get("deletionTimestamp") for p in store.list("Pod"))


def test_apply_is_all_or_nothing(cp):
    store, api, _ = cp
    bad = deployment(name="other")
    bad["metadata"]["namespace"] = "missing"
    with pytest.raises(registry.APIError, match='namespaces "missing" not found'):
        api.apply([deployment(), bad])
    assert store.list("Deployment") == []


def test_a_namespace_in_the_same_apply_comes_first(cp):
    store, api, _ = cp
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}
    assert api.apply([deployment(ns="shop"), ns]) == ["namespace/shop created", "deployment.apps/web created"]
    assert store.get("Namespace", "", "shop")["metadata"]["labels"]["kubernetes.io/metadata.name"] == "shop"


def test_pod_spec_is_immutable_and_missing_objects_are_not_found(cp):
    _, api, _ = cp
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    api.apply([pod])
    pod["spec"]["containers"][0]["image"] = "nginx"
    with pytest.raises(registry.APIError, match="Forbidden"):
        api.apply([pod])
    with pytest.raises(registry.APIError, match='pods "nope" not found in namespace "default"'):
        api.delete("Pod", "default", "nope")


def test_namespace_deletion_empties_it_then_removes_it(cp):
    store, api, ctl = cp
    api.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}, deployment(ns="shop")])
    settle(ctl)
    api.delete("Namespace", "", "shop")
    settle(ctl)
    assert store.get("Namespace", "", "shop")["status"]["phase"] == "Terminating"
    for p in store.list("Pod", "shop"):
        store.delete("Pod", "shop", p["metadata"]["name"])   # the kubelets finish the pods
    settle(ctl)
    assert store.get("Namespace", "", "shop") is None and store.list("Deployment", "shop") == []


def test_template_hash_is_stable_and_name_safe():
    t = deployment()["spec"]["template"]
    assert deployment_util.template_hash(t) == deployment_util.template_hash(dict(t))
    assert set(deployment_util.template_hash(t)) <= set("456789bcdf")     # decimal digits, safely encoded
    assert deployment_util.template_hash(t, 1) != deployment_util.template_hash(t)


def test_store_lists_in_key_order_as_objects_come_and_go(cp):
    store, api, _ = cp
    api.apply([deployment("b"), deployment("a"), deployment("c", ns="kube-system")])
    assert [d["metadata"]["name"] for d in store.list("Deployment")] == ["a", "b", "c"]
    store.delete("Deployment", "default", "a")
    api.apply([deployment("aa")])
    assert [d["metadata"]["name"] for d in store.list("Deployment")] == ["aa", "b", "c"]
    assert [d["metadata"]["name"] for d in store.list("Deployment", "kube-system")] == ["c"]


def test_watch_sends_only_the_kinds_asked_for_and_says_when_its_log_moved_on(cp):
    import asyncio
    import collections
    from toycluster.api.server import SocketAPI
    store, reg, ctl = cp
    api = SocketAPI(reg)
    rv = store.rv
    reg.apply([deployment("web", replicas=2)])
    settle(ctl)
    status, answer = asyncio.run(api.handle("GET", "/watch", {"resourceVersion": str(rv), "kinds": "ReplicaSet"}, None))
    assert status == 200 and answer["complete"] and answer["resourceVersion"] == store.rv
    assert {e["object"]["kind"] for e in answer["events"]} == {"ReplicaSet"}
    everything = asyncio.run(api.handle("GET", "/watch", {"resourceVersion": str(rv)}, None))[1]["events"]
    assert {"Deployment", "ReplicaSet", "Pod"} <= {e["object"]["kind"] for e in everything}
    assert len(everything) == store.rv - rv
    store.log = collections.deque(store.log, maxlen=3)       # a short log: older watchers must list again
    reg.apply([deployment("other", replicas=0)])
    _, answer = asyncio.run(api.handle("GET", "/watch", {"resourceVersion": str(rv), "kinds": "Deployment"}, None))
    assert answer["complete"] is False and answer["events"] == []
    _, answer = asyncio.run(api.handle("GET", "/watch", {"resourceVersion": str(store.rv - 1)}, None))
    assert answer["complete"] and [e["object"]["metadata"]["name"] for e in answer["events"]] == ["other"]


def test_a_restarted_controller_manager_counts_the_pods_it_finds(cp):
    import copy
    store, api, ctl = cp
    api.apply([deployment("web", replicas=3)])
    settle(ctl)
    names = sorted(p["metadata"]["name"] for p in store.list("Pod"))
    loaded = Store(None)                       # what a restarted control plane reads back from disk
    for obj in store.objects.values():
        loaded.insert(copy.deepcopy(obj))
    settle(manager.Controllers(loaded, ["node1", "node2"]))
    assert sorted(p["metadata"]["name"] for p in loaded.list("Pod")) == names
    assert not any(p["metadata"].get("deletionTimestamp") for p in loaded.list("Pod"))


def _service(name: str, selector: dict) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"},
            "spec": {"selector": selector, "ports": [{"port": 80, "targetPort": 8080}]}}


def _as_kubelet_reports(store, pod: dict, ip: str, ready: bool = True, labels: dict | None = None) -> None:
    pod = copy.deepcopy(pod)
    if labels is not None:
        pod["metadata"]["labels"] = labels
    pod["status"] = {"phase": "Running", "podIP": ip,
                     "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    store.put(pod)


def _ready_ips(store, service: str) -> set:
    return {e["addresses"][0] for s in store.list("EndpointSlice")
            if s["metadata"]["labels"]["kubernetes.io/service-name"] == service
            for e in s["endpoints"] if e["conditions"]["ready"]}


def test_endpoints_controller_syncs_only_the_services_an_event_touches(cp, monkeypatch):
    """After its first pass (every Service), a pass syncs the Services whose pods changed: those selecting
    the pod now, and those that listed it before (its labels changed); a quiet pass syncs none."""
    store, api, ctl = cp
    api.apply([deployment("web", replicas=2), _service("web", {"app": "web"})]
              + [_service(f"other{i}", {"app": "other"}) for i in range(5)])
    settle(ctl)
    pods = store.list("Pod")
    for i, pod in enumerate(pods):
        _as_kubelet_reports(store, pod, f"10.244.1.{i + 2}")
    ec = endpointslice.EndpointsController(store)
    synced = []
    real_sync = ec.sync
    monkeypatch.setattr(ec, "sync", lambda svc, *a: (synced.append(svc["metadata"]["name"]), real_sync(svc, *a)))
    ec.reconcile()
    assert sorted(synced) == ["other0", "other1", "other2", "other3", "other4", "web"]
    assert _ready_ips(store, "web") == {"10.244.1.2", "10.244.1.3"} and _ready_ips(store, "other0") == set()

    synced.clear()
    ec.reconcile()
    assert synced == []
    _as_kubelet_reports(store, store.get("Pod", "default", pods[0]["metadata"]["name"]), "10.244.1.2", ready=False)
    ec.reconcile()
    assert synced == ["web"] and _ready_ips(store, "web") == {"10.244.1.3"}

    synced.clear()
    _as_kubelet_reports(store, store.get("Pod", "default", pods[1]["metadata"]["name"]), "10.244.1.3",
                        labels={"app": "other"})
    ec.reconcile()
    assert sorted(synced) == ["other0", "other1", "other2", "other3", "other4", "web"]
    assert _ready_ips(store, "web") == set() and _ready_ips(store, "other3") == {"10.244.1.3"}


def test_garbage_collector_looks_at_every_object_only_after_a_deletion(cp, monkeypatch):
    store, api, ctl = cp
    api.apply([deployment("web", replicas=2)])
    settle(ctl)
    looked = []
    gc = ctl.garbage_collector
    real = gc.exists
    monkeypatch.setattr(gc, "exists", lambda obj, ref: (looked.append(obj["kind"]), real(obj, ref))[1])
    gc.reconcile()
    assert looked == []                                     # nothing changed since the last pass
    _as_kubelet_reports(store, store.list("Pod")[0], "10.244.1.2")
    gc.reconcile()
    assert looked == ["Pod"]                                # the pod that changed, only
    looked.clear()
    api.delete("Deployment", "default", "web")
    gc.reconcile()                                   # a deletion: every owned object is looked at
    assert sorted(set(looked)) == ["Pod", "ReplicaSet"] and store.list("ReplicaSet") == []


def _slices_of(store, service: str) -> list:
    return [s for s in store.list("EndpointSlice") if s["metadata"]["labels"]["kubernetes.io/service-name"] == service]


def test_endpoints_controller_finds_each_services_slices_as_they_come_and_go(cp):
    """A Service keeps one slice across passes (its index follows the controller's own writes); deleted,
    its slice goes with it (the garbage collector); made again, it gets one new slice, with its pods."""
    store, api, ctl = cp
    api.apply([deployment("web", replicas=2), _service("web", {"app": "web"}), _service("db", {"app": "db"})])
    settle(ctl)
    for i, pod in enumerate(store.list("Pod")):
        _as_kubelet_reports(store, pod, f"10.244.1.{i + 2}")
    ec = endpointslice.EndpointsController(store)
    ec.reconcile()
    first = [s["metadata"]["name"] for s in _slices_of(store, "web")]
    for i, pod in enumerate(store.list("Pod")):
        _as_kubelet_reports(store, pod, f"10.244.1.{i + 2}", ready=False)
        ec.reconcile()
        assert len(_ready_ips(store, "web")) == 1
        _as_kubelet_reports(store, store.get("Pod", "default", pod["metadata"]["name"]), f"10.244.1.{i + 2}")
        ec.reconcile()
    assert [s["metadata"]["name"] for s in _slices_of(store, "web")] == first
    assert _ready_ips(store, "web") == {"10.244.1.2", "10.244.1.3"}

    api.delete("Service", "default", "web")
    ctl.reconcile()                                          # the garbage collector deletes its slice
    ec.reconcile()
    assert _slices_of(store, "web") == [] and len(_slices_of(store, "db")) == 1
    api.apply([_service("web", {"app": "web"})])
    ec.reconcile()
    again = _slices_of(store, "web")
    assert len(again) == 1 and again[0]["metadata"]["name"] != first[0]
    assert _ready_ips(store, "web") == {"10.244.1.2", "10.244.1.3"}
