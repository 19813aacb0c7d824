"""Labs 8, 10 and 11: what their checks read (a trace's JSON, a ConfigMap, every node's nat table), on made-up
outputs; the labs themselves, packets included, run in tests/system/test_labs.py."""
import json
import subprocess
from types import SimpleNamespace

from toycluster.labs import lab08_journey as lab08
from toycluster.labs import lab10_scapy as lab10
from toycluster.labs import lab11_scale as lab11


def hop(conn, leg, what, obj):
    return {"connection": conn, "leg": leg, "change": {"what": what, "object": obj}, "also": []}


LB = hop(1, "request", "DNAT", "load-balancer frontend 203.0.113.10:80 (Service ingress/ingress-nginx-controller:http)")
PROXY = hop(2, "request", "PROXY", "Ingress lab08/api, rule api.lab08.example.com/orders -> Service lab08/orders:http")
SERVICE = hop(2, "request", "DNAT", "Service lab08/orders (port http), endpoint 10.244.1.3:80: pod lab08/orders-x-y")
BACK = hop(2, "reply", "DNAT", "Service lab08/orders (port http), endpoint 10.244.1.3:80: pod lab08/orders-x-y")
DNS_OK = [{"name": lab08.HOST, "rcode": "NOERROR", "answers": ["203.0.113.10"]}]
OK = {"ok": True, "summary": "HTTP 200 from pod lab08/orders-x-y (10.244.1.3:80)"}


class FakeCtx:
    """A Ctx answering from canned outputs: RUN (stdout, stderr) for every command, EXEC_OUT for every node's exec,
    ITEMS[kind] for list, GETS[(kind, name)] for get."""

    def __init__(self, run=("", ""), exec_out="", items=None, gets=None):
        self.out, self.exec_out, self.items, self.gets = run, exec_out, items or {}, gets or {}
        self.cluster, self.cfg = "t", SimpleNamespace(nodes=2)

    def run(self, argv, **kw):
        return subprocess.CompletedProcess(argv, 0, *self.out)

    def exec(self, target, *cmd, **kw):
        return subprocess.CompletedProcess(cmd, 0, self.exec_out, "")

    def list(self, kind, namespace="default"):
        return self.items.get(kind, [])

    def get(self, kind, name, namespace="default"):
        return self.gets.get((kind, name))


def trace_ctx(hops, dns=DNS_OK, result=OK):
    return FakeCtx(run=(json.dumps({"dns": dns, "hops": hops, "result": result}), ""))


def test_lab08_passes_when_the_trace_goes_through_the_ingress_and_the_services_dnat():
    assert lab08.check(trace_ctx([LB, PROXY, SERVICE, BACK])).ok
    assert lab08.changes({"hops": [LB, BACK]}) == [(1, "DNAT", LB["change"]["object"])]


def test_lab08_names_what_is_missing():
    v = lab08.check(FakeCtx(run=("", 'error: name "api.lab08.example.com" not found (NXDOMAIN from 203.0.113.53)')))
    assert not v.ok and "public DNS does not know" in v.missing and "kubectl create ingress" in v.hints[1]
    v = lab08.check(trace_ctx([LB], result={"ok": False, "summary": "None", "why": "no answer"}))
    assert not v.ok and "stopped at the ingress controller" in v.missing
    v = lab08.check(trace_ctx([LB, PROXY, BACK]))             # straight to the pod: only the reply's reversal
    assert not v.ok and "no Service hop" in v.missing and "service-upstream" in v.hints[1]
    v = lab08.check(trace_ctx([LB, PROXY, SERVICE], result={"ok": True, "summary": "HTTP 200 from pod lab07/x"}))
    assert not v.ok and "did not end at an orders pod" in v.missing
    assert not lab08.check(FakeCtx(run=("", "error: cluster t does not exist"))).ok


def test_lab10_asks_for_the_configmap_before_sending_anything():
    v = lab10.check(FakeCtx(gets={("ConfigMap", "seen"): {"data": {"syn-in-echo": "10.244.2.3:8080"}}}))
    assert not v.ok and "synack-in-client, dns-a" in v.missing and "kubectl create configmap seen" in v.hints[1]


NAT = "\n".join([
    '-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m comment --comment "default/kubernetes:https cluster IP" -m tcp '
    '--dport 443 -j KUBE-SVC-NPX46M4PTMTKRN6Y',
    *[f'-A KUBE-SERVICES -d 10.96.{i // 250}.{i % 250}/32 -p tcp -m comment --comment "lab11/s{i:04d} cluster IP" '
      f'-m tcp --dport 80 -j KUBE-SVC-X{i:04d}' for i in range(lab11.SERVICES)],
    "-A KUBE-SEP-22WVIDPIMBYNKNU6 -s 10.244.1.16/32 -j KUBE-MARK-MASQ",
    "-A KUBE-SEP-22WVIDPIMBYNKNU6 -p tcp -m tcp -j DNAT --to-destination 10.244.1.16:8080"])
COMMENTED = ('-A KUBE-SEP-YXI6OLLVNOP2XSAO -p tcp -m comment --comment "lab11/echo:http" -m tcp -j DNAT '
             '--to-destination 10.244.1.20:8080')
SERVICES = {"Service": [{"metadata": {"name": f"s{i:04d}"}} for i in range(lab11.SERVICES)]
            + [{"metadata": {"name": "echo"}}]}
LATENCY = {("ConfigMap", "latency"): {"data": {"0": "14", "500": "23", "2000": "32"}}}


def test_lab11_reads_the_rules_large_cluster_mode_and_the_measurements():
    assert len(lab11.MINE.findall(NAT)) == lab11.SERVICES
    assert lab11.BARE_DNAT.search(NAT) and not lab11.BARE_DNAT.search(COMMENTED)
    assert lab11.check(FakeCtx(exec_out=NAT, items=SERVICES, gets=LATENCY)).ok
    assert lab11.measured(FakeCtx(gets=LATENCY)) == {0: "14", 500: "23", 2000: "32"}


def test_lab11_names_what_is_missing():
    v = lab11.check(FakeCtx(exec_out=NAT, items={"Service": SERVICES["Service"][:500]}, gets=LATENCY))
    assert not v.ok and "has 500 Services" in v.missing
    v = lab11.check(FakeCtx(exec_out=NAT.replace("lab11/s1999", "lab11/t1999"), items=SERVICES, gets=LATENCY))
    assert not v.ok and "not every node" in v.missing
    v = lab11.check(FakeCtx(exec_out=NAT.rsplit("\n", 1)[0] + "\n" + COMMENTED, items=SERVICES, gets=LATENCY))
    assert not v.ok and "large cluster mode" in v.missing
    v = lab11.check(FakeCtx(exec_out=NAT, items=SERVICES, gets={("ConfigMap", "latency"): {"data": {"0": "14"}}}))
    assert not v.ok and "latency" in v.missing
