"""The controllers' events against an in-memory store (no root): the scheduler's Scheduled and FailedScheduling, the
ReplicaSet controller's SuccessfulCreate/SuccessfulDelete, the Deployment controller's ScalingReplicaSet, the
service controller's load balancer events; an event that happens again is counted, not written again."""
import pytest

from toycluster.api import server, validation_core
from toycluster.api.store import Store
from toycluster.cloud import controller as cloud
from toycluster.config import ClusterConfig
from toycluster.controllers import manager
from toycluster.node import workloads

validation_core.IMAGE_CHECK = workloads.check_image


def deployment(replicas=3, image="toycluster/echo"):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}}}


@pytest.fixture
def cp():
    store = Store(None)
    ctl = manager.Controllers(store, ["node1", "node2"])
    ctl.reconcile()
    return store, server.API(store), ctl


def events_of(store, kind, name=None):
    return sorted(((e["reason"], e["message"], e["count"], e["type"], e["source"]["component"])
                   for e in store.list("Event") if e["involvedObject"]["kind"] == kind
                   and (name is None or e["involvedObject"]["name"] == name)), key=lambda e: e[1])


def test_a_deployments_pods_are_created_scheduled_and_said_so(cp):
    store, api, ctl = cp
    api.apply([deployment()])
    ctl.reconcile()
    rs = store.list("ReplicaSet")[0]["metadata"]["name"]
    pods = sorted(p["metadata"]["name"] for p in store.list("Pod"))
    assert events_of(store, "Deployment") == [
        ("ScalingReplicaSet", f"Scaled up replica set {rs} from 0 to 3", 1, "Normal", "deployment-controller")]
    assert events_of(store, "ReplicaSet") == [("SuccessfulCreate", f"Created pod: {p}", 1, "Normal",
                                               "replicaset-controller") for p in pods]
    assert [(e[0], e[1].rsplit(" ", 1)[0], e[4]) for e in events_of(store, "Pod")] == [
        ("Scheduled", f"Successfully assigned default/{p} to", "default-scheduler") for p in pods]
    assert {e[1].rsplit(" ", 1)[1] for e in events_of(store, "Pod")} == {"node1", "node2"}


def test_the_same_event_again_is_counted_on_one_event(cp):
    store, api, ctl = cp
    api.apply([deployment()])
    ctl.reconcile()
    rs = store.list("ReplicaSet")[0]["metadata"]["name"]
    for n in (1, 3, 1):
        api.scale("Deployment", "default", "web", n)
        ctl.reconcile()
    assert events_of(store, "Deployment") == [
        ("ScalingReplicaSet", f"Scaled down replica set {rs} from 3 to 1", 2, "Normal", "deployment-controller"),
        ("ScalingReplicaSet", f"Scaled up replica set {rs} from 0 to 3", 1, "Normal", "deployment-controller"),
        ("ScalingReplicaSet", f"Scaled up replica set {rs} from 1 to 3", 1, "Normal", "deployment-controller")]
    deleted = [e for e in events_of(store, "ReplicaSet") if e[0] == "SuccessfulDelete"]
    assert len(deleted) == 4 and all(e[1].startswith(f"Deleted pod: {rs}-") for e in deleted)
    for _ in range(3):
        ctl.reconcile()                                     # nothing happens: nothing more is said
    assert sum(e[2] for e in events_of(store, "Deployment")) == 4


def test_a_pod_no_node_fits_stays_pending_and_the_scheduler_says_why_once(cp):
    store, api, ctl = cp
    api.apply([{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
                "spec": {"nodeSelector": {"kubernetes.io/hostname": "node9"},
                         "containers": [{"name": "c", "image": "busybox"}]}}])
    for _ in range(3):
        ctl.reconcile()
    pod = store.get("Pod", "default", "p")
    message = ("0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/2 nodes "
               "are available: 2 Preemption is not helpful for scheduling.")
    assert "nodeName" not in pod["spec"] and pod["status"]["phase"] == "Pending"
    cond = pod["status"]["conditions"][0]
    assert (cond["type"], cond["status"], cond["reason"], cond["message"]) == \
        ("PodScheduled", "False", "Unschedulable", message)
    assert events_of(store, "Pod") == [("FailedScheduling", message, 1, "Warning", "default-scheduler")]


def test_tainted_nodes_take_only_pods_that_tolerate_the_taint(cp):
    store, api, ctl = cp
    for n in (1, 2):
        store.put({"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"node{n}", "labels": {
            "kubernetes.io/hostname": f"node{n}"}}, "spec": {"taints": [
                {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}] if n == 1 else []}})
    tolerating = {"tolerations": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists"}]}
    api.apply([{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
                "spec": {"nodeSelector": {"kubernetes.io/hostname": "node1"}, **extra,
                         "containers": [{"name": "c", "image": "busybox"}]}}
               for name, extra in (("plain", {}), ("tolerant", tolerating))])
    ctl.reconcile()
    assert "nodeName" not in store.get("Pod", "default", "plain")["spec"]
    assert store.get("Pod", "default", "tolerant")["spec"]["nodeName"] == "node1"
    assert events_of(store, "Pod", "plain")[0][1].startswith(
        "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
        "1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }.")


def test_the_service_controller_says_when_it_ensures_and_deletes_a_load_balancer():
    store = Store(None)
    ctl = cloud.CloudController(ClusterConfig(name="evt"), store)
    ctl.enabled, ctl.pool = True, ctl.pool[:1]
    for name in ("a", "b"):
        store.put({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"},
                   "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}})
    for _ in range(3):
        ctl.reconcile()
    assert events_of(store, "Service", "a") == [
        ("EnsuredLoadBalancer", "Ensured load balancer", 1, "Normal", "service-controller"),
        ("EnsuringLoadBalancer", "Ensuring load balancer", 1, "Normal", "service-controller")]
    assert events_of(store, "Service", "b") == [
        ("SyncLoadBalancerFailed", "Error syncing load balancer: failed to ensure load balancer: no free external "
         f"address left in {ctl.pool[0]}-{ctl.pool[0]}", 1, "Warning", "service-controller")]
    svc = store.get("Service", "default", "a")
    store.put({**svc, "spec": {"type": "ClusterIP", "ports": [{"port": 80}]}})
    ctl.reconcile()
    assert [e[0] for e in events_of(store, "Service", "a")][:2] == ["DeletedLoadBalancer", "DeletingLoadBalancer"]
    assert store.get("Service", "default", "b")["status"]["loadBalancer"]["ingress"][0]["ip"] == ctl.pool[0]
