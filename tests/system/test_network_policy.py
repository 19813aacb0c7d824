"""NetworkPolicy enforced by the network policy agent in a real 2-node cluster (root): upstream's e2e netpol
model (namespaces x, y, z; pods a, b, c in each, spread over both nodes; TCP 80 and 81 served by two echo
containers, UDP 80 and 81 by a third), and for every scenario of tests/unit/netpol/netpol_scenarios.py the probed
reachability matrix compared with the expected one.

A step is applied through the `toycluster` command (apply, delete, label); then the test waits until both
nodes' kernels hold exactly the rules `toycluster policy rules` renders (so a probe never sees the previous
step's rules), and probes every pair in parallel from inside the source pod's network namespace: a socket
made there (a thread of this process joins the namespace with setns) connects with a 1 s limit (TCP) or
sends a datagram and waits 1 s for the echo (UDP).  Denied connections are REJECTed, so they fail at once.
Traffic from a pod to itself is not judged (as upstream).  Besides: policies apply after ClusterIP
translation (same node and cross node), established connections survive a new deny, `policy why --probe`
agrees with the kernel, bad NetworkPolicies are refused with exit 2, and kube-proxy and the agent share
the filter table without deleting each other's chains.
"""
import contextlib
import ipaddress
import json
import os
import re
import selectors
import socket
import sys
import time
from pathlib import Path

import pytest

from conftest import Cluster, _taken_networks, new_name, new_ranges, sh

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "netpol"))
from netpol_scenarios import ALL, SCENARIOS, resolve  # noqa: E402

from toycluster.api import client
from toycluster.kernel import nsfs  # noqa: E402
from toycluster.netpol import agent as np_  # noqa: E402
from toycluster.kernel.iptables_save import to_iptables_save  # noqa: E402
from toycluster.proxy.proxier import render as kp_render  # noqa: E402
from toycluster.proxy.sync import apply_rules as kp_apply  # noqa: E402

PREFERRED = {"node_cidr": "192.168.96.0/24", "pod_cidr": "10.196.0.0/16", "service_cidr": "10.197.0.0/16"}
UDP_ECHO = ("import socket,selectors,sys\nsel=selectors.DefaultSelector()\nfor p in sys.argv[1:]:\n"
            " s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(('0.0.0.0',int(p)))\n"
            " sel.register(s,selectors.EVENT_READ)\nwhile True:\n for k,_ in sel.select():\n"
            "  d,a=k.fileobj.recvfrom(2048);k.fileobj.sendto(d,a)\n")
ENFORCED = []      # seconds from the CLI returning to both kernels holding the rendered rules


def udp_container(ports):
    return {"name": "udp", "image": "python:3.11-slim", "command": ["/usr/bin/python3", "-S", "-c", UDP_ECHO]
            + [str(p) for p in ports],
            "ports": [{"containerPort": p, "name": f"serve-{p}-udp", "protocol": "UDP"} for p in ports]}


def model_manifest() -> str:
    docs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}} for ns in "xyz"]
    for i, pid in enumerate(ALL):
        ns, name = pid.split("/")
        docs.append({"apiVersion": "v1", "kind": "Pod",
                     "metadata": {"name": name, "namespace": ns, "labels": {"pod": name}},
                     "spec": {"nodeSelector": {"kubernetes.io/hostname": f"node{1 + i % 2}"}, "containers": [
                         {"name": f"c{p}", "image": "toycluster/echo", "env": [{"name": "PORT", "value": str(p)}],
                          "ports": [{"containerPort": p, "name": f"serve-{p}-tcp"}]} for p in (80, 81)]
                         + [udp_container((80, 81))]}})
    return "".join(json.dumps(d) + "\n---\n" for d in docs)


@contextlib.contextmanager
def netpol_cluster():
    """A 2-node cluster of this module's own (PREFERRED ranges when free), removed whatever happens."""
    name, c = new_name(), None
    try:
        taken = _taken_networks()
        ranges = PREFERRED if not any(ipaddress.ip_network(v).overlaps(t) for v in PREFERRED.values()
                                      for t in taken) else new_ranges()
        for _ in range(5):
            c = Cluster(name, ranges)
            p = c.up(check=None)
            if p.returncode == 0:
                break
            assert p.returncode == 2 and "overlaps" in p.stderr, p.stderr
            ranges = new_ranges()
        else:
            pytest.fail("no free ranges")
        yield c
    finally:
        if c is None:
            c = Cluster(name, {"node_cidr": "", "pod_cidr": "", "service_cidr": ""})
        left = c.teardown()
        assert not left, f"`toycluster down` of {name} left:\n" + "\n".join(left)


@pytest.fixture(scope="module")
def model():
    if os.geteuid() != 0:
        pytest.skip("needs root")
    with netpol_cluster() as c:
        c.apply(model_manifest())
        deadline = time.time() + 30
        while time.time() < deadline:
            pods = json.loads(c.ok("get", "pods", "-A", "-o", "json"))["items"]
            mine = [p for p in pods if p["metadata"]["namespace"] in "xyz"]
            if len(mine) == 9 and all(p["status"].get("phase") == "Running" and p["status"].get("podIP")
                                      for p in mine):
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"model pods not running: {c.ok('get', 'pods', '-A')}")
        c.ip = {f"{p['metadata']['namespace']}/{p['metadata']['name']}": p["status"]["podIP"] for p in mine}
        c.applied = set()
        c.labelled = []
        wait_serving(c)
        yield c


def pod_ns(c, pid):
    ns, name = pid.split("/")
    return f"{c.name}.pod.{ns}.{name}"


def probe(c, targets, pairs=None, timeout=1.0):
    """{(port, proto): {(src, dst): reached}} for every pair, all probes at once."""
    pairs = pairs or [(s, d) for s in ALL for d in ALL if s != d]
    sel, pending, result = selectors.DefaultSelector(), {}, {t: {} for t in targets}
    for src in sorted({s for s, _ in pairs}):
        with nsfs.in_netns(pod_ns(c, src)):      # sockets belong to the namespace they are made in
            for s, d in pairs:
                if s != src:
                    continue
                for port, proto in targets:
                    ip = c.ip[d] if "/" in d else d
                    if proto == "TCP":
                        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                        sock.setblocking(False)
                        sock.connect_ex((ip, port))
                        sel.register(sock, selectors.EVENT_WRITE)
                    else:
                        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                        sock.setblocking(False)
                        sock.connect((ip, port))
                        sock.send(b"probe")
                        sel.register(sock, selectors.EVENT_READ)
                    pending[sock] = ((port, proto), (s, d))
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(max(0.0, deadline - time.monotonic())):
            sock = key.fileobj
            target, pair = pending.pop(sock)
            if target[1] == "TCP":
                ok = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
            else:
                try:
                    ok = sock.recv(64) == b"probe"
                except OSError:
                    ok = False
            result[target][pair] = ok
            sel.unregister(sock)
            sock.close()
    for sock, (target, pair) in pending.items():
        result[target][pair] = False
        sock.close()
    sel.close()
    return result


def wait_serving(c):
    """Everything reaches everything before any policy (the servers are up)."""
    deadline = time.time() + 20
    targets = [(80, "TCP"), (81, "TCP"), (80, "UDP"), (81, "UDP")]
    while True:
        got = probe(c, targets)
        if all(all(m.values()) for m in got.values()):
            return
        if time.time() > deadline:
            pytest.fail("the model does not serve: " + str({t: [k for k, v in m.items() if not v]
                                                            for t, m in got.items()}))
        time.sleep(0.2)


_CHAIN_LINE = re.compile(r"^(-A |:)(\S+)")


def ours(text):
    """The lines of iptables-save text that belong to the network policy agent (and its FORWARD jump)."""
    out = set()
    for line in text.splitlines():
        m = _CHAIN_LINE.match(line)
        if m and (m[2].startswith(np_.OWNED_PREFIXES) or (m[2] == "FORWARD" and np_.TOP_CHAIN in line)):
            out.add(line.replace(" [0:0]", ""))
    return out


def rendered(c):
    """What `toycluster policy rules nodeN` prints, rendered here from the API (one CLI start costs ~0.7 s)."""
    api = client.Client(c.name)
    states = np_.render_all(api.list("NetworkPolicy"), api.list("Pod"), api.list("Namespace"), ["node1", "node2"])
    return {n: ours(to_iptables_save(states[f"node{n}"])) for n in (1, 2)}


def wait_enforced(c, started, timeout=5.0):
    """Until every node's kernel holds exactly the rules rendered from the API."""
    deadline = started + timeout
    want = rendered(c)
    while True:
        have = {n: ours(sh(f"ip netns exec {c.name}.node{n} iptables-legacy-save -t filter").stdout) for n in (1, 2)}
        if have == want:
            ENFORCED.append(time.monotonic() - started)
            return
        if time.monotonic() > deadline:
            pytest.fail(f"rules not enforced within {timeout}s:\n" + "\n".join(
                f"node{n}: missing {sorted(want[n] - have[n])[:5]}, extra {sorted(have[n] - want[n])[:5]}"
                for n in (1, 2)))
        time.sleep(0.02)


def reset(c):
    """Remove what earlier scenarios applied and relabel what they labelled (through the API: the steps
    themselves go through the CLI)."""
    api = client.Client(c.name)
    changed = bool(c.applied or c.labelled)
    for ns, name in sorted(c.applied):
        api.delete("NetworkPolicy", ns, name)
    c.applied.clear()
    for kind, ns, name, labels in c.labelled:
        api.label(kind, ns, name, {k: None for k in labels}, True)
    c.labelled.clear()
    if changed:
        wait_enforced(c, time.monotonic())


def run_step(c, step):
    ctx = {"ip": c.ip}
    if step.get("apply"):
        docs = [resolve(p, ctx) for p in step["apply"]]
        c.apply("".join(json.dumps(d) + "\n---\n" for d in docs))
        c.applied |= {(d["metadata"]["namespace"], d["metadata"]["name"]) for d in docs}
    for ns, name in step.get("delete", []):
        c.ok("delete", "-n", ns, "networkpolicy", name)
        c.applied.discard((ns, name))
    for kind, ns, name, labels in step.get("label", []):
        c.ok("label", "--overwrite", *(["-n", ns] if ns else []), "pod" if kind == "Pod" else "ns", name,
             *[f"{k}={v}" if v is not None else f"{k}-" for k, v in labels.items()])
        c.labelled.append((kind, ns, name, labels))
    wait_enforced(c, time.monotonic())    # from the CLI's return: the object is in the store


def table(expected, got):
    rows = [" " * 4 + " ".join(d.replace("/", "") for d in ALL)]
    for s in ALL:
        cells = []
        for d in ALL:
            if s == d:
                cells.append(" - ")
            else:
                e, g = expected[(s, d)], got[(s, d)]
                cells.append((" . " if g else " X ") if e == g else (" !." if g else " !X"))
        rows.append(f"{s:4}" + " ".join(c.strip().center(2) for c in cells))
    return "\n".join(rows) + "\n(. reached, X blocked, ! differs from the expectation)"


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_reachability_matrix(model, scenario):
    reset(model)
    for n, step in enumerate(SCENARIOS[scenario], 1):
        run_step(model, step)
        got = probe(model, list(step["expect"]))
        for target, reach in step["expect"].items():
            expected = {k: v for k, v in reach.m.items() if k[0] != k[1]}
            assert got[target] == expected, (f"{scenario} step {n}, {target[0]}/{target[1]}:\n"
                                             f"{table(expected, got[target])}")
    reset(model)


def test_policies_apply_after_cluster_ip_translation(model):
    c = model
    reset(c)
    c.apply(json.dumps({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "x"},
                        "spec": {"selector": {"pod": "a"}, "ports": [{"port": 8080, "targetPort": 80}]}}))
    try:
        svc = json.loads(c.ok("get", "-n", "x", "service", "web", "-o", "json"))
        vip = svc["spec"]["clusterIP"]
        run_step(c, {"apply": [{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                                "metadata": {"name": "only-x-b", "namespace": "x"},
                                "spec": {"podSelector": {"matchLabels": {"pod": "a"}},
                                         "ingress": [{"from": [{"podSelector": {"matchLabels": {"pod": "b"}}}]}]}}]})
        pairs = [(s, vip) for s in ("x/b", "x/c", "y/a", "y/b")]  # x/a on node1: x/c, y/b same node
        deadline = time.time() + 5
        while True:      # kube-proxy's rules for the new service may still be on their way
            got = probe(c, [(8080, "TCP")], pairs=pairs)[(8080, "TCP")]
            if got[("x/b", vip)] or time.time() > deadline:
                break
            time.sleep(0.1)
        assert got == {("x/b", vip): True, ("x/c", vip): False, ("y/a", vip): False, ("y/b", vip): False}
    finally:
        c.ok("delete", "-n", "x", "service", "web")
        reset(c)


def test_established_connections_survive_a_new_deny(model):
    """Conntrack-based, as Calico and kube-router: only new connections are checked."""
    c = model
    reset(c)
    with nsfs.in_netns(pod_ns(c, "y/a")):
        old = socket.create_connection((c.ip["x/a"], 80), timeout=2)
    try:
        old.sendall(b"GET /before HTTP/1.1\r\nHost: a\r\n\r\n")
        assert old.recv(4096).startswith(b"HTTP/1.1 200")
        run_step(c, {"apply": [{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                                "metadata": {"name": "deny-all-now", "namespace": "x"},
                                "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}]})
        assert probe(c, [(80, "TCP")], pairs=[("y/a", "x/a")])[(80, "TCP")][("y/a", "x/a")] is False
        old.sendall(b"GET /after HTTP/1.1\r\nHost: a\r\n\r\n")
        assert old.recv(4096).startswith(b"HTTP/1.1 200")
    finally:
        old.close()
        reset(c)


def test_policy_why_agrees_with_the_kernel_and_label_changes_apply_within_a_second(model):
    c = model
    reset(c)
    run_step(c, {"apply": [resolve(p, {}) for p in SCENARIOS["updated-pod-labels"][0]["apply"]]})
    assert ours(c.ok("policy", "rules", "node1")) == rendered(c)[1]
    p = c.run("policy", "why", "-n", "x", "b", "a:serve-80-tcp", "--probe")
    assert p.returncode == 1, p.stdout + p.stderr
    assert p.stdout.startswith("DENIED: x/b") and "isolated by x/allow-from-pod2-updated" in p.stdout
    assert "probe: failed" in p.stdout and "agrees" in p.stdout
    started = time.monotonic()
    c.ok("label", "-n", "x", "pod", "b", "pod2=updated")
    c.labelled.append(("Pod", "x", "b", {"pod2": "updated"}))
    while not probe(c, [(80, "TCP")], pairs=[("x/b", "x/a")])[(80, "TCP")][("x/b", "x/a")]:
        assert time.monotonic() - started < 1.0, "a label change took more than 1 s to take effect"
        time.sleep(0.01)
    p = c.run("policy", "why", "x/b", "x/a:80/tcp", "--probe")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "matched: x/allow-from-pod2-updated ingress rule 1: from pod x/b (podSelector), any port" in p.stdout
    assert "probe: connected" in p.stdout and "agrees" in p.stdout
    p = c.run("policy", "why", "-n", "y", "a", f"{c.ip['x/a']}:81/udp", "--probe")
    assert p.returncode == 1 and "probe: failed" in p.stdout and "agrees" in p.stdout, p.stdout
    reset(c)


def dns_query(c, src, server, name="kubernetes.default.svc.cluster.local", timeout=1.0):
    """One UDP DNS query from SRC's pod: the answer's rcode (any: NXDOMAIN is an answer too), or None if it
    was refused or timed out."""
    from dnslib import DNSRecord
    with nsfs.in_netns(pod_ns(c, src)):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(timeout)
    try:
        sock.connect((server, 53))
        sock.send(DNSRecord.question(name).pack())
        return DNSRecord.parse(sock.recv(4096)).header.rcode
    except OSError:
        return None
    finally:
        sock.close()


def test_egress_to_cluster_dns_by_kube_dns_labels(model):
    """x may only talk to the cluster DNS (kube-system pods labelled k8s-app=kube-dns), through its ClusterIP."""
    c = model
    reset(c)
    deadline = time.time() + 20
    while dns_query(c, "x/a", c.dns_ip) is None:      # the coredns pod `up` made answers
        assert time.time() < deadline, "the cluster DNS does not answer"
        time.sleep(0.2)
    run_step(c, {"apply": [
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "only-dns", "namespace": "x"},
         "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [
             {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                      "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
              "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}]}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "no-egress", "namespace": "y"},
         "spec": {"podSelector": {}, "policyTypes": ["Egress"]}}]})
    try:
        assert dns_query(c, "x/a", c.dns_ip) is not None and dns_query(c, "x/b", c.dns_ip) is not None  # answered
        assert dns_query(c, "y/a", c.dns_ip) is None
        assert probe(c, [(80, "TCP")], pairs=[("x/a", "y/a"), ("z/a", "x/a")])[(80, "TCP")] == {
            ("x/a", "y/a"): False, ("z/a", "x/a"): True}
        p = c.run("policy", "why", "x/a", f"{c.dns_ip}:53/udp")     # the VIP: explained per endpoint
        assert p.returncode == 0 and "ClusterIP of service kube-system/kube-dns" in p.stdout, p.stdout
        assert "matched: x/only-dns egress rule 1: to pod kube-system/coredns-" in p.stdout, p.stdout
    finally:
        reset(c)


def test_bad_network_policies_are_refused_and_nothing_changes(model):
    c = model
    bad = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
           "metadata": {"name": "bad", "namespace": "x"},
           "spec": {"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8",
                                                                          "except": ["11.0.0.0/16"]}}]}]}}
    good = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "good", "namespace": "x"}, "spec": {"podSelector": {}}}
    text = json.dumps(good) + "\n---\n" + json.dumps(bad) + "\n"
    p = c.run("apply", "-f", "-", input=text)
    assert p.returncode == 2
    assert ("NetworkPolicy x/bad: spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: \"11.0.0.0/16\": "
            "must be a strict subset of `cidr`") in p.stderr
    for spec, field in [({"egress": [{"ports": [{"port": "a-very-long-name"}]}]}, "spec.egress[0].ports[0].port"),
                        ({"egress": [{"ports": [{"port": 90, "endPort": 80}]}]}, "spec.egress[0].ports[0].endPort"),
                        ({"ingress": [{"ports": [{"protocol": "ICMP"}]}]}, "spec.ingress[0].ports[0].protocol"),
                        ({"ingress": [{"from": [{"ipBlock": {"cidr": "300.0.0.0/8"}}]}]},
                         "spec.ingress[0].from[0].ipBlock.cidr")]:
        p = c.run("apply", "-f", "-", input=json.dumps({**bad, "spec": spec}))
        assert p.returncode == 2 and f"<stdin>: NetworkPolicy x/bad: {field}: " in p.stderr, p.stderr
    assert "No resources found" in c.run("get", "netpol", "-n", "x").stderr


def test_forward_jump_stays_first_and_chains_survive_kube_proxy():
    """kube-proxy and the agent write the same filter table; neither deletes the other's chains, and a full
    re-read by either (previous=None) keeps both; the agent's FORWARD jump is put back on top."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    name = f"npt{os.getpid()}"
    nsfs.create_netns(name)         # not `ip netns add`: see test_kube_proxy_apply's netns fixture
    try:
        pods = [{"metadata": {"namespace": "x", "name": "a", "labels": {"pod": "a"}},
                 "spec": {"nodeName": "node1", "containers": []},
                 "status": {"phase": "Running", "podIP": "10.196.1.2"}}]
        pol = {"metadata": {"namespace": "x", "name": "deny"}, "spec": {"podSelector": {}}}
        theirs = kp_render([], [], node_name="node1", node_ip="192.168.96.11", cluster_cidr="10.196.0.0/16")
        mine = np_.render([pol], pods, [], node_name="node1")
        with nsfs.in_netns(name):
            np_.apply(mine)
            kp_apply(theirs)                  # kube-proxy's jumps go in above ours
            kp_apply(theirs, None)            # kube-proxy's full re-read leaves our chains alone
            np_.apply(mine, None)             # ours: full re-read, the FORWARD jump back on top
            np_.apply(np_.render([], pods, [], node_name="node1"), None)   # the policy is gone ...
            np_.apply(mine, None)             # ... and back
        save = sh(f"ip netns exec {name} iptables-legacy-save -t filter").stdout
        forward = [line for line in save.splitlines() if line.startswith("-A FORWARD")]
        assert np_.TOP_CHAIN in forward[0], forward
        assert ours(save) == ours(to_iptables_save(mine))
        assert {line for line in save.splitlines() if line.startswith("-A KUBE-")} - ours(save) == {
            line for line in to_iptables_save({"filter": theirs["filter"]}).splitlines() if line.startswith("-A KUBE-")}
    finally:
        nsfs.delete_netns(name)


def test_report_enforcement_times(model):
    """Not a check of its own: prints how fast steps were enforced on both nodes (from the CLI returning)."""
    if ENFORCED:
        ms = sorted(t * 1e3 for t in ENFORCED)
        print(f"\nenforced on both nodes after {len(ms)} steps: median {ms[len(ms) // 2]:.0f} ms, "
              f"max {ms[-1]:.0f} ms")
        assert ms[-1] < 1000
