"""Labs 3, 4 and 6: what their checks read from the learner's cluster (rule counters, events, the load's log,
the echo's RemoteAddr), on made-up outputs; the labs themselves run in tests/system/test_labs.py."""
import subprocess
from types import SimpleNamespace

from toycluster.labs import lab03_service_rules as lab03
from toycluster.labs import lab04_endpoints_readiness as lab04
from toycluster.labs import lab06_nodeport as lab06

SAVE = """\
[0:0] -A KUBE-SEP-5RVLHK5W7SKI3QYV -s 10.106.1.3/32 -m comment --comment "lab03/web:http" -j KUBE-MARK-MASQ
[104:6240] -A KUBE-SEP-5RVLHK5W7SKI3QYV -p tcp -m comment --comment "lab03/web:http" -m tcp -j DNAT --to-destination 10.106.1.3:8080
[96:5760] -A KUBE-SEP-QILFDTNTRPN74R3P -p tcp -m comment --comment "lab03/web:http" -m tcp -j DNAT --to-destination 10.106.1.4:8080
[7:420] -A KUBE-SEP-OTHERXXXXXXXXXXX -p tcp -m comment --comment "lab03/other:http" -m tcp -j DNAT --to-destination 10.106.1.9:8080
[33:1980] -A KUBE-SVC-SHHM3PXHEN4AFRXM -m comment --comment "lab03/web:http -> 10.106.1.3:8080" -j KUBE-SEP-5RVLHK5W7SKI3QYV
"""


class FakeCtx:
    """A Ctx answering from canned outputs: EXEC_OUT for every exec, ITEMS[kind] for list, GETS[(kind, name)]."""

    def __init__(self, exec_out="", items=None, gets=None, logs=""):
        self.exec_out, self.items, self.gets, self.logs = exec_out, items or {}, gets or {}, logs
        self.cfg = SimpleNamespace(nodes=2, host_ip="10.105.0.1")

    def exec(self, target, *cmd, **kw):
        return subprocess.CompletedProcess(cmd, 0, self.exec_out, "")

    def list(self, kind, namespace="default"):
        return self.items.get(kind, [])

    def get(self, kind, name, namespace="default"):
        return self.gets.get((kind, name))

    def kubectl(self, *args, **kw):
        return self.logs


def test_lab03_counts_each_endpoints_dnat_over_the_nodes():
    assert lab03.dnat_hits(FakeCtx(SAVE)) == {"10.106.1.3": 208, "10.106.1.4": 192}


def test_lab03_check_wants_three_endpoints_then_300_spread():
    def slice_(*ips):
        return {"EndpointSlice": [{"metadata": {"labels": {"kubernetes.io/service-name": "web"}},
                                   "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip in ips]}]}
    two = lab03.check(FakeCtx(SAVE, slice_("10.106.1.3", "10.106.1.4")))
    assert not two.ok and "2 ready endpoints" in two.missing
    three = lab03.check(FakeCtx(SAVE, slice_("10.106.1.3", "10.106.1.4", "10.106.2.5")))
    assert not three.ok and "10.106.2.5: 0" in three.missing and "after scaling" in three.hints[0]
    enough = SAVE + "[120:7200] -A KUBE-SEP-NEWXXXXXXXXXXXXX -p tcp -m comment --comment \"lab03/web:http\" " \
                    "-m tcp -j DNAT --to-destination 10.106.2.5:8080\n"
    assert lab03.check(FakeCtx(enough, slice_("10.106.1.3", "10.106.1.4", "10.106.2.5"))).ok


def _event(reason, name, message=""):
    return {"reason": reason, "message": message, "involvedObject": {"name": name}}


def test_lab04_events_tell_a_hand_deletion_from_the_replicasets():
    probe = _event("Unhealthy", "web-a", "Readiness probe failed: ")
    rollout = [_event("Killing", "web-b"), _event("SuccessfulDelete", "web-rs", "Deleted pod: web-b")]
    assert "readiness" in lab04._event_verdict(FakeCtx(items={"Event": rollout})).missing
    assert "by hand" in lab04._event_verdict(FakeCtx(items={"Event": [probe, *rollout]})).missing
    by_hand = [probe, *rollout, _event("Killing", "web-c")]
    assert lab04._event_verdict(FakeCtx(items={"Event": by_hand})) is None


def test_lab04_the_loads_log_decides():
    pod = {("Pod", "load"): {"status": {"containerStatuses": [{"restartCount": 0}]}}}
    assert lab04._load_verdict(FakeCtx(gets=pod, logs="ok=10 failed=0\nok=20 failed=0\n")) is None
    few = lab04._load_verdict(FakeCtx(gets=pod, logs="ok=10 failed=0\n"))
    assert "10 successful" in few.missing
    failed = lab04._load_verdict(FakeCtx(gets=pod, logs="ok=30 failed=0\n01:02:03 a request failed\n"))
    assert "1 failed" in failed.missing and "01:02:03" in failed.missing
    assert "gone" in lab04._load_verdict(FakeCtx(logs="ok=30 failed=0\n")).missing


def test_lab06_reads_the_echos_remote_address():
    answer = "Hostname: web-1\nNode: node2\nIP: 10.106.2.5\nRemoteAddr: 10.105.0.1:53004\nGET / HTTP/1.1\n"
    assert lab06.REMOTE.search(answer).group(1) == "10.105.0.1"
