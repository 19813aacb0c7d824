"""Unit tests for toycluster.cli.inputs: durations as Go's time.ParseDuration reads them (kubectl's --timeout),
TYPE/NAME arguments as cli-runtime's builder splits them, and the pod logs/exec pick for deploy/NAME (no root)."""
import pytest

from toycluster.cli import inputs
from toycluster.cluster.lifecycle import UsageError


@pytest.mark.parametrize("text, seconds", [
    ("0", 0), ("30s", 30), ("2m", 120), ("1h30m", 5400), ("500ms", 0.5), ("1.5h", 5400), (".5s", 0.5),
    ("1.s", 1), ("-1s", -1), ("+2s", 2), ("1h2m3s4ms5us6ns", 3723.004005006), ("3µs", 3e-6), ("0s", 0),
])
def test_go_durations(text, seconds):
    assert inputs.parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text, message", [
    ("30", 'time: missing unit in duration "30"'),        # kubectl refuses a bare number other than 0
    ("", 'time: invalid duration ""'),
    ("-", 'time: invalid duration "-"'),
    (".", 'time: invalid duration "."'),
    ("2x", 'time: unknown unit "x" in duration "2x"'),
    ("1h 30m", 'time: unknown unit "h " in duration "1h 30m"'),
    ("s", 'time: invalid duration "s"'),
    ("00", 'time: missing unit in duration "00"'),
    ("99999999999h", 'time: invalid duration "99999999999h"'),
])
def test_bad_go_durations(text, message):
    with pytest.raises(ValueError) as e:
        inputs.parse_go_duration(text)
    assert str(e.value) == message


def test_wait_timeout_as_kubectl():
    assert inputs.wait_timeout("2m") == 120
    assert inputs.wait_timeout("0") == 0                  # check once
    assert inputs.wait_timeout("-1s") == inputs.WEEK     # negative: a week
    with pytest.raises(UsageError) as e:
        inputs.wait_timeout("30")
    assert str(e.value) == 'invalid argument "30" for "--timeout" flag: time: missing unit in duration "30"'


def test_resource_args():
    assert inputs.resource_args(["pods"]) == [("pods", [])]
    assert inputs.resource_args(["pod", "a", "b"]) == [("pod", ["a", "b"])]
    assert inputs.resource_args(["po,svc", "web"]) == [("po", ["web"]), ("svc", ["web"])]
    assert inputs.resource_args(["pod/a", "svc/b", "pod/c"]) == [("pod", ["a", "c"]), ("svc", ["b"])]


@pytest.mark.parametrize("args, message", [
    (["pod/web", "svc"], "there is no need to specify a resource type as a separate argument"),
    (["pod", "svc/web"], "there is no need to specify a resource type as a separate argument"),
    (["pod/a/b"], "may not have more than one slash"),
    (["/web"], "must have a single resource and name"),
    (["pod/"], "must have a single resource and name"),
    (["pod,svc/web"], "must have a single resource and name"),
    (["flurbs"], 'the server doesn\'t have a resource type "flurbs"'),
    (["flurb/x"], 'the server doesn\'t have a resource type "flurb"'),
    ([], "you must specify the type of resource to get"),
])
def test_bad_resource_args(args, message):
    with pytest.raises(UsageError, match=None) as e:
        inputs.resource_args(args)
    assert message in str(e.value)


def test_label_selector_errors_name_the_flag():
    assert inputs.label_selector(None) is None
    with pytest.raises(UsageError) as e:
        inputs.label_selector("x in (")
    assert str(e.value) == "-l 'x in (': unable to parse requirement: found '', expected: ',', ')' or identifier"


def pod(name, labels, phase="Running", ready=True, created="2026-01-01T00:00:00Z"):
    return {"metadata": {"name": name, "labels": labels, "creationTimestamp": created},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": str(ready)}]}}


class FakeAPI:
    def __init__(self, objs):
        self.objs = objs

    def get(self, kind, ns, name):
        return next((o for k, o in self.objs if k == kind and o["metadata"]["name"] == name), None)

    def list(self, kind, ns=None):
        return [o for k, o in self.objs if k == kind]


def test_attachable_pod_for_a_deployment_or_service():
    api = FakeAPI([("Deployment", {"metadata": {"name": "web"}, "spec": {"selector": {"matchLabels": {"app": "web"}}}}),
                   ("Service", {"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}}}),
                   ("Pod", pod("web-pending", {"app": "web"}, phase="Pending")),
                   ("Pod", pod("web-b", {"app": "web"}, created="2026-01-02T00:00:00Z")),
                   ("Pod", pod("web-a", {"app": "web"}, ready=False)),
                   ("Pod", pod("web-c", {"app": "web"})),
                   ("Pod", pod("db", {"app": "db"}))])
    assert inputs.attachable_pod(api, "default", "web-x", "exec") == ("web-x", 1)
    assert inputs.attachable_pod(api, "default", "pod/web-x", "exec") == ("web-x", 1)
    assert inputs.attachable_pod(api, "default", "deploy/web", "exec") == ("web-c", 4)   # running, ready, oldest
    assert inputs.attachable_pod(api, "default", "svc/web", "exec") == ("web-c", 4)
    with pytest.raises(UsageError, match='deployments "nope" not found in namespace "default"'):
        inputs.attachable_pod(api, "default", "deploy/nope", "exec")
