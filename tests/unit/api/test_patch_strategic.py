"""Unit tests for toycluster.api.patch's strategic merge: the examples of the Kubernetes docs ("Update API Objects
in Place Using kubectl patch") and of the strategic-merge-patch.md design doc, and upstream's errors (no root)."""
import copy

import pytest

from toycluster.api.patch import REJECTED, PatchError, apply_patch, strategic_merge

SMP = "application/strategic-merge-patch+json"

# the docs' deployment-patch.yaml
PATCH_DEMO = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "patch-demo"},
    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "nginx"}},
             "template": {"metadata": {"labels": {"app": "nginx"}},
                          "spec": {"containers": [{"name": "patch-demo-ctr", "image": "nginx"}],
                                   "tolerations": [{"effect": "NoSchedule", "key": "dedicated",
                                                    "value": "test-team"}]}}}}


def pod_spec(obj: dict) -> dict:
    return obj["spec"]["template"]["spec"]


def test_docs_containers_are_merged_by_name_the_new_one_first():
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "patch-demo-ctr-2", "image": "redis"}]}}}}
    before = copy.deepcopy(PATCH_DEMO)
    assert pod_spec(strategic_merge(PATCH_DEMO, patch, "Deployment"))["containers"] == [
        {"name": "patch-demo-ctr-2", "image": "redis"}, {"name": "patch-demo-ctr", "image": "nginx"}]
    assert PATCH_DEMO == before


def test_docs_tolerations_have_no_strategy_so_they_are_replaced():
    patch = {"spec": {"template": {"spec": {"tolerations": [{"effect": "NoSchedule", "key": "disktype",
                                                              "value": "ssd"}]}}}}
    spec = pod_spec(strategic_merge(PATCH_DEMO, patch, "Deployment"))
    assert spec["tolerations"] == [{"effect": "NoSchedule", "key": "disktype", "value": "ssd"}]
    assert spec["containers"] == [{"name": "patch-demo-ctr", "image": "nginx"}]


def test_docs_the_same_patch_as_a_merge_patch_replaces_the_containers():
    body = b'{"spec":{"template":{"spec":{"containers":[{"name":"patch-demo-ctr-3","image":"hello-app:2.0"}]}}}}'
    merged = apply_patch(PATCH_DEMO, body, "application/merge-patch+json")
    assert pod_spec(merged)["containers"] == [{"name": "patch-demo-ctr-3", "image": "hello-app:2.0"}]


def test_docs_retain_keys_clears_rolling_update():
    demo = {"kind": "Deployment", "metadata": {"name": "retainkeys-demo"},
            "spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "30%"}}}}
    without = strategic_merge(demo, {"spec": {"strategy": {"type": "Recreate"}}}, "Deployment")
    assert without["spec"]["strategy"] == {"type": "Recreate", "rollingUpdate": {"maxSurge": "30%"}}
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    assert strategic_merge(demo, patch, "Deployment")["spec"]["strategy"] == {"type": "Recreate"}


def test_design_doc_replace_directive_on_a_map_and_on_a_list():
    pod = {"kind": "Pod", "metadata": {"name": "p", "labels": {"a": "1", "b": "2"}},
           "spec": {"containers": [{"name": "nginx", "image": "nginx-1.0"}, {"name": "log", "image": "log-1"}]}}
    labels = strategic_merge(pod, {"metadata": {"labels": {"$patch": "replace", "c": "3"}}}, "Pod")
    assert labels["metadata"]["labels"] == {"c": "3"}
    patch = {"spec": {"containers": [{"name": "nginx", "image": "nginx-2.0"}, {"$patch": "replace"}]}}
    assert strategic_merge(pod, patch, "Pod")["spec"]["containers"] == [{"name": "nginx", "image": "nginx-2.0"}]


def test_design_doc_delete_directive_on_a_list_item_and_on_a_map():
    pod = {"kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "nginx", "image": "nginx-1.0"}, {"name": "log-tailer", "image": "t"}]}}
    patch = {"spec": {"containers": [{"name": "nginx", "image": "nginx-1.0"},
                                     {"$patch": "delete", "name": "log-tailer"}]}}
    assert strategic_merge(pod, patch, "Pod")["spec"]["containers"] == [{"name": "nginx", "image": "nginx-1.0"}]
    dep = {"kind": "Deployment", "spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}
    patch = {"spec": {"strategy": {"rollingUpdate": {"$patch": "delete"}}}}
    assert strategic_merge(dep, patch, "Deployment")["spec"]["strategy"]["rollingUpdate"] == {}
    patch = {"spec": {"strategy": {"rollingUpdate": None}}}
    assert strategic_merge(dep, patch, "Deployment")["spec"]["strategy"] == {"type": "RollingUpdate"}


def test_design_doc_finalizers_merge_as_a_set_and_delete_from_primitive_list():
    ns = {"kind": "Namespace", "metadata": {"name": "n", "finalizers": ["a", "b", "c"]}}
    deleted = strategic_merge(ns, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b", "c"]}}, "Namespace")
    assert deleted["metadata"]["finalizers"] == ["a"]
    added = strategic_merge(ns, {"metadata": {"finalizers": ["d", "b"]}}, "Namespace")
    assert added["metadata"]["finalizers"] == ["d", "a", "b", "c"]
    patch = {"metadata": {"finalizers": ["x"], "$deleteFromPrimitiveList/finalizers": ["a"]}}
    assert strategic_merge(ns, patch, "Namespace")["metadata"]["finalizers"] == ["x", "b", "c"]


def test_design_doc_set_element_order_for_primitives_and_maps():
    ns = {"kind": "Namespace", "metadata": {"name": "n", "finalizers": ["a", "b", "c"]}}
    patch = {"metadata": {"$setElementOrder/finalizers": ["b", "c", "a"]}}
    assert strategic_merge(ns, patch, "Namespace")["metadata"]["finalizers"] == ["b", "c", "a"]
    pod = {"kind": "Pod", "spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "2"},
                                                  {"name": "c", "image": "3"}]}}
    patch = {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "c"}, {"name": "a"}],
                      "containers": [{"name": "c", "image": "33"}]}}
    assert strategic_merge(pod, patch, "Pod")["spec"]["containers"] == [
        {"name": "b", "image": "2"}, {"name": "c", "image": "33"}, {"name": "a", "image": "1"}]


def test_container_fields_merge_by_their_keys():
    pod = {"kind": "Pod", "spec": {"containers": [{
        "name": "web", "image": "nginx", "args": ["-a"],
        "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 443}],
        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
        "volumeMounts": [{"mountPath": "/data", "name": "data"}]}]}}
    patch = {"spec": {"containers": [{"name": "web", "args": ["-b"],
                                      "ports": [{"containerPort": 80, "protocol": "TCP"}],
                                      "env": [{"name": "B", "value": None}, {"name": "C", "value": "3"}],
                                      "volumeMounts": [{"mountPath": "/logs", "name": "logs"}]}]}}
    web = strategic_merge(pod, patch, "Pod")["spec"]["containers"][0]
    assert web["args"] == ["-b"]                                   # args has no strategy
    assert web["ports"] == [{"containerPort": 80, "name": "http", "protocol": "TCP"}, {"containerPort": 443}]
    assert web["env"] == [{"name": "A", "value": "1"}, {"name": "B"}, {"name": "C", "value": "3"}]
    assert web["volumeMounts"] == [{"mountPath": "/logs", "name": "logs"}, {"mountPath": "/data", "name": "data"}]


def test_other_kinds_tags():
    svc = {"kind": "Service", "spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}],
                                       "selector": {"app": "web"}}}
    out = strategic_merge(svc, {"spec": {"ports": [{"port": 80, "targetPort": 9090}], "selector": {"v": "2"}}},
                          "Service")
    assert out["spec"] == {"ports": [{"port": 80, "targetPort": 9090}, {"port": 443}],
                           "selector": {"app": "web", "v": "2"}}
    node = {"kind": "Node", "status": {"conditions": [{"type": "Ready", "status": "False"}],
                                       "addresses": [{"type": "InternalIP", "address": "10.0.0.2"}]}}
    patch = {"status": {"conditions": [{"type": "Ready", "status": "True"}],
                        "addresses": [{"type": "Hostname", "address": "node1"}]}}
    status = strategic_merge(node, patch, "Node")["status"]
    assert status["conditions"] == [{"type": "Ready", "status": "True"}]
    assert status["addresses"] == [{"type": "Hostname", "address": "node1"},
                                   {"type": "InternalIP", "address": "10.0.0.2"}]
    cm = {"kind": "ConfigMap", "metadata": {"ownerReferences": [{"uid": "1", "name": "a"}]}, "data": {"k": "v"}}
    out = strategic_merge(cm, {"metadata": {"ownerReferences": [{"uid": "2", "name": "b"}]}, "data": {"k": None}},
                          "ConfigMap")
    assert out["metadata"]["ownerReferences"] == [{"uid": "2", "name": "b"}, {"uid": "1", "name": "a"}]
    assert out["data"] == {}


def test_added_items_lose_nulls_and_directives_once_decoded():
    body = b'{"spec":{"containers":[{"name":"new","image":"x","env":[{"name":"A","$patch":"delete"}]}]}}'
    out = apply_patch({"kind": "Pod", "spec": {"containers": [{"name": "web"}]}}, body, SMP)
    assert out["spec"]["containers"] == [{"name": "new", "image": "x", "env": [{"name": "A"}]}, {"name": "web"}]


POD = {"kind": "Pod", "metadata": {"name": "p", "finalizers": ["a"]},
       "spec": {"containers": [{"name": "web", "image": "nginx"}]}}


@pytest.mark.parametrize("body,status,message", [
    (b'{"spec":{"containers":[{"image":"x"}]}}', 500, "map: map[image:x] does not contain declared merge key: name"),
    (b'{"spec":{"containers":[{"$patch":"delete"}]}}', 500, "map: map[$patch:delete] does not contain declared "
                                                           "merge key: name"),
    (b'{"spec":{"containers":[{"name":"web","$patch":"frob"}]}}', 500,
     "unknown patch type: frob in map: map[$patch:frob name:web]"),
    (b'{"spec":{"$patch":"frob"}}', 500, "unknown patch type: frob in map: map[$patch:frob]"),
    (b'{"spec":{"containers":[{"name":"web","$patch":"merge"}]}}', 500,
     "merging lists cannot yet be specified in the patch"),
    (b'{"metadata":{"finalizers":[{"a":1}]}}', 500, "list element types are not identical: [[a] [map[a:1]]]"),
    (b'{"metadata":{"finalizers":[["x"]]}}', 500, "list element types are not identical: [[a] [[x]]]"),
    (b'{"metadata":{"$retainKeys":"name"}}', 400, "invalid patch format of retainKeys"),
    (b'{"metadata":{"$retainKeys":["name"],"labels":{"a":"b"}}}', 400, "invalid patch format of retainKeys"),
    (b'{"metadata":{"$deleteFromPrimitiveListfinalizers":["a"]}}', 400, "invalid patch format of primitive list"),
    (b'{"metadata":{"$setElementOrder":["a"]}}', 400, "invalid patch format of setElementOrder list"),
    (b'{"metadata":{"$setElementOrder/finalizers":"a"}}', 500,
     "expected a []interface {}, but received a string"),
    (b'{"metadata":{"$setElementOrder/finalizers":["a"],"finalizers":["b","a"]}}', 500,
     "The order in patch list:\n[b a]\n doesn't match $setElementOrder list:\n[a]\n"),
])
def test_strategic_errors_as_kube_apiserver_answers_them(body, status, message):
    with pytest.raises(PatchError) as err:
        apply_patch(POD, body, SMP)
    assert (err.value.status, str(err.value)) == (status, message)
    assert err.value.reason == {400: "BadRequest", 422: "Invalid", 500: ""}[status]


def test_a_list_of_lists_is_422():
    with pytest.raises(PatchError) as err:
        apply_patch({"kind": "Pod", "metadata": {"finalizers": []}}, b'{"metadata":{"finalizers":[["x"]]}}', SMP)
    assert (err.value.status, err.value.reason, str(err.value)) == (422, "Invalid", REJECTED)
    assert err.value.detail == "lists of lists are not supported"
