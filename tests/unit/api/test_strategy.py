"""The update strategies (api/strategy.py): what a write keeps, what a status write changes, immutable fields,
and kubectl apply's three-way merge of labels and annotations."""
import json

from toycluster.api import strategy


def pod(**over):
    base = {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "default", "uid": "u1", "resourceVersion": "7",
                         "creationTimestamp": "2026-01-01T00:00:00Z", "labels": {"app": "a"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}], "nodeName": "node1"},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
    base.update(over)
    return base


def test_a_write_of_the_object_keeps_its_status_and_system_metadata():
    new = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default",
                                                           "labels": {"app": "a", "tier": "x"}},
           "spec": {"containers": [{"name": "c", "image": "nginx"}]}, "status": {"phase": "Pending"}}
    out = strategy.prepare_update(pod(), new)
    assert out["status"] == pod()["status"]                          # the write's status is ignored
    assert out["metadata"]["uid"] == "u1" and out["metadata"]["labels"] == {"app": "a", "tier": "x"}
    assert out["spec"]["nodeName"] == "node1"                        # what the scheduler set stays


def test_a_status_write_changes_the_status_alone():
    new = pod(spec={"containers": [{"name": "c", "image": "other"}]}, status={"phase": "Succeeded"})
    out = strategy.prepare_update(pod(), new, "status")
    assert out["spec"] == pod()["spec"] and out["status"] == {"phase": "Succeeded"}


def test_immutable_fields():
    changed = pod(spec={"containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 1}]}],
                      "nodeName": "node1"})
    assert strategy.immutable_errors(pod(), changed)[0][0] == "spec"
    assert strategy.immutable_errors(pod(), pod()) == []
    dep = {"kind": "Deployment", "metadata": {"name": "d"}, "spec": {"selector": {"matchLabels": {"a": "1"}}}}
    moved = {**dep, "spec": {"selector": {"matchLabels": {"a": "2"}}}}
    assert strategy.immutable_errors(dep, moved) == [("spec.selector", 'Invalid value: {"matchLabels": {"a": "2"}}: '
                                                                       "field is immutable")]


def test_three_way_merge_keeps_what_others_set_and_drops_what_the_manifest_no_longer_sets():
    manifest = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"app": "a", "old": "1"}}}
    live = strategy.last_applied(pod(), manifest)
    live["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "2"    # a controller's
    live["metadata"]["labels"] = {"app": "a", "old": "1", "by-hand": "yes"}
    new = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"app": "b"}}, "spec": {}}
    merged = strategy.three_way_metadata(live, new)["metadata"]
    assert merged["labels"] == {"app": "b", "by-hand": "yes"}
    assert merged["annotations"]["deployment.kubernetes.io/revision"] == "2"


def test_the_last_applied_annotation_is_written_as_kubectl_writes_it():
    manifest = {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "p"}, "spec": {"containers": []}}
    obj = strategy.last_applied(pod(), manifest)
    text = obj["metadata"]["annotations"][strategy.LAST_APPLIED]
    assert text.endswith("}\n") and json.loads(text)["metadata"] == {"annotations": {}, "name": "p",
                                                                     "namespace": "default"}
    assert text.index('"apiVersion"') < text.index('"kind"') < text.index('"metadata"')    # keys sorted, compact
    assert ", " not in text and '": ' not in text
