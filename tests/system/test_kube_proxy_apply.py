"""kube-proxy's apply() against the real kernel (root): rules written with python-iptables into network
namespaces made here (never the root namespace), read back with iptables-legacy-save, and traffic through
them.  Every namespace made here is deleted afterwards, pass or fail."""
import concurrent.futures
import contextlib
import ctypes
import itertools
import os
import re
import shutil
import socket
import subprocess
import threading
import time

import pytest

pytestmark = [pytest.mark.system,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces, iptables)"),
              pytest.mark.skipif(shutil.which("iptables-legacy-save") is None, reason="no iptables-legacy")]

from toycluster.kernel import iptables_apply
from toycluster.kernel import nsfs  # noqa: E402
from toycluster.kernel.iptables_save import to_iptables_save  # noqa: E402
from toycluster.proxy.proxier import render  # noqa: E402
from toycluster.proxy.sync import apply_rules as apply  # noqa: E402

_libc = ctypes.CDLL(None, use_errno=True)
_count = itertools.count()
CIDR = "10.244.0.0/16"
NODE = dict(node_name="node1", node_ip="192.168.50.11", cluster_cidr=CIDR)


def sh(*args, ns=None, check=True, **kw):
    cmd = (["ip", "netns", "exec", ns] if ns else []) + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, check=check, **kw)


@pytest.fixture
def netns():
    """Factory of fresh network namespaces, all deleted at the end of the test. Made as the project makes
    them (nsfs.create_netns), not with `ip netns add`: that turns /run/netns into a mount point holding
    copies of every pin that exists, and the originals, hidden under it, would keep other clusters'
    namespaces alive after their `down`."""
    made = []

    def make():
        name = f"kpt{os.getpid()}-{next(_count)}"
        nsfs.create_netns(name)
        made.append(name)
        sh("ip", "link", "set", "lo", "up", ns=name)
        return name
    try:
        yield make
    finally:
        for name in made:
            nsfs.delete_netns(name)


@contextlib.contextmanager
def inside(name):
    """Run this thread inside network namespace NAME (python-iptables works on the thread's namespace)."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if _libc.setns(target, 0x40000000) != 0:
            raise OSError(ctypes.get_errno(), "setns")
        yield
    finally:
        if _libc.setns(home, 0x40000000) != 0:
            raise OSError(ctypes.get_errno(), "setns back")
        os.close(home)
        os.close(target)


def saved(ns, table):
    """iptables-legacy-save -t TABLE in NS, without its "#" lines and with built-in counters zeroed."""
    out = sh("iptables-legacy-save", "-t", table, ns=ns).stdout
    out = re.sub(r"^(:\S+ \S+) \[\d+:\d+\]$", r"\1 [0:0]", out, flags=re.M)
    return "".join(line + "\n" for line in out.splitlines() if not line.startswith("#"))


def expected(state, table):
    return to_iptables_save({table: state[table]})


def service(name, ip, port=80, node_port=None, **spec):
    p = {"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}
    if node_port:
        p["nodePort"] = node_port
        spec.setdefault("type", "NodePort")
    return {"metadata": {"namespace": "default", "name": name},
            "spec": {"type": "ClusterIP", "clusterIP": ip, "ports": [p], **spec}}


def eps(name, ips, port=8080, unready=()):
    return {"metadata": {"namespace": "default", "name": name + "-x1",
                         "labels": {"kubernetes.io/service-name": name}}, "addressType": "IPv4",
            "endpoints": [{"addresses": [ip], "conditions": {"ready": ip not in unready},
                           "nodeName": "node1" if ip.startswith("10.244.1.") else "node2"} for ip in ips],
            "ports": [{"name": "http", "port": port, "protocol": "TCP"}]}


def world(web_unready=(), with_web=True):
    services = [service("shop", "10.96.0.40", node_port=30080),
                service("empty", "10.96.0.20"),
                service("sticky", "10.96.0.30", sessionAffinity="ClientIP",
                        sessionAffinityConfig={"clientIP": {"timeoutSeconds": 600}}),
                service("local", "10.96.0.50", node_port=30443, externalTrafficPolicy="Local")]
    slices = [eps("shop", ["10.244.2.20"]), eps("sticky", ["10.244.1.30", "10.244.2.30"]),
              eps("local", ["10.244.1.50", "10.244.2.50"], port=8443)]
    if with_web:
        services.append(service("web", "10.96.0.12"))
        slices.append(eps("web", ["10.244.1.9", "10.244.2.7", "10.244.1.10"], unready=web_unready))
    return render(services, slices, **NODE)


def test_apply_writes_exactly_what_iptables_save_shows(netns):
    ns, st = netns(), world()
    with inside(ns):
        apply(st)
    for table in ("nat", "filter"):
        assert saved(ns, table) == expected(st, table)


def test_apply_again_is_a_no_op(netns):
    ns, st = netns(), world()
    with inside(ns):
        prev = apply(st)
        before = saved(ns, "nat") + saved(ns, "filter")
        prev = apply(st, prev)
        assert all(s["chains_rewritten"] == 0 and s["chains_deleted"] == 0
                   for s in iptables_apply.LAST_SYNC.values())
        apply(st)  # previous=None: read the kernel and find nothing to do
        assert all(s["read"] and s["chains_rewritten"] == 0 and s["chains_deleted"] == 0
                   for s in iptables_apply.LAST_SYNC.values())
    assert saved(ns, "nat") + saved(ns, "filter") == before
    assert saved(ns, "nat").count("-A PREROUTING ") == 1
    assert saved(ns, "filter").count("-A FORWARD ") == 4


def test_one_service_change_rewrites_only_its_chains(netns):
    ns = netns()
    st, st2 = world(), world(web_unready=("10.244.2.7",))
    with inside(ns):
        prev = apply(st)
        before = set(saved(ns, "nat").splitlines())
        apply(st2, prev)
        sync = dict(iptables_apply.LAST_SYNC)
    after = set(saved(ns, "nat").splitlines())
    assert saved(ns, "nat") == expected(st2, "nat") and saved(ns, "filter") == expected(st2, "filter")
    assert sync["nat"]["chains_rewritten"] == 1 and sync["nat"]["chains_deleted"] == 1
    assert "filter" not in sync                          # unchanged: not even read
    gone_sep = next(c for c in st["nat"] if c not in st2["nat"])
    for line in before ^ after:  # every line that changed belongs to default/web
        assert "default/web:http" in line or gone_sep in line, line


def test_removed_service_chains_are_deleted(netns):
    ns, st, st2 = netns(), world(), world(with_web=False)
    web_chains = set(st["nat"]) - set(st2["nat"])
    assert len(web_chains) == 4  # KUBE-SVC + 3 KUBE-SEP
    with inside(ns):
        prev = apply(st)
        apply(st2, prev)
    text = saved(ns, "nat")
    assert text == expected(st2, "nat")
    assert not any(c in text for c in web_chains)


def test_flushed_or_deleted_table_is_restored(netns):
    ns, st = netns(), world()
    with inside(ns):
        prev = apply(st)
    sh("iptables-legacy", "-t", "nat", "-F", ns=ns)
    assert "-A PREROUTING" not in saved(ns, "nat")
    with inside(ns):
        prev = apply(st, None)
        assert iptables_apply.LAST_SYNC["nat"]["chains_rewritten"] == len(st["nat"]) - 4
        left = {t: v["info"] for t, v in iptables_apply.LAST_SYNC.items()}
    assert saved(ns, "nat") == expected(st, "nat")
    # chains deleted too, and the caller trusts `previous` but asks for a check (the periodic resync): the
    # table's header gives it away
    sh("iptables-legacy", "-t", "nat", "-F", ns=ns)
    sh("iptables-legacy", "-t", "nat", "-X", ns=ns)
    with inside(ns):
        apply(st, prev, verify=left)
    assert saved(ns, "nat") == expected(st, "nat")
    # with a state that changes one service, a sync trusting `previous` finds its chains gone and reads
    sh("iptables-legacy", "-t", "nat", "-F", ns=ns)
    sh("iptables-legacy", "-t", "nat", "-X", ns=ns)
    st2 = world(web_unready=("10.244.2.7",))
    with inside(ns):
        apply(st2, prev)
    assert saved(ns, "nat") == expected(st2, "nat")


def test_other_software_rules_are_left_alone(netns):
    ns, st = netns(), world()
    sh("iptables-legacy", "-t", "nat", "-N", "OTHER", ns=ns)
    sh("iptables-legacy", "-t", "nat", "-A", "PREROUTING", "-s", "10.9.9.9", "-m", "comment", "--comment",
       "not ours", "-j", "OTHER", ns=ns)
    sh("iptables-legacy", "-t", "filter", "-A", "FORWARD", "-i", "eth9", "-j", "ACCEPT", ns=ns)
    with inside(ns):
        prev = apply(st)
        prev = apply(world(with_web=False), prev)
        apply(st)
    nat, filt = saved(ns, "nat").splitlines(), saved(ns, "filter").splitlines()
    ours = '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES'
    theirs = '-A PREROUTING -s 10.9.9.9/32 -m comment --comment "not ours" -j OTHER'
    assert [line for line in nat if line.startswith("-A PREROUTING")] == [ours, theirs]
    assert ":OTHER - [0:0]" in nat
    assert filt.count("-A FORWARD -i eth9 -j ACCEPT") == 1
    assert [line for line in filt if line.startswith("-A FORWARD")][-1] == "-A FORWARD -i eth9 -j ACCEPT"


def test_each_namespace_gets_its_own_rules_and_the_root_namespace_none(netns):
    root_before = subprocess.run(["iptables-legacy-save"], capture_output=True, text=True).stdout
    a, b = netns(), netns()
    st_a, st_b = world(), world(with_web=False)
    with inside(a):
        prev_a = apply(st_a)
    with inside(b):
        prev_b = apply(st_b)  # each apply opens its own libiptc handle here: nothing is written into `a`
    with inside(a):
        apply(st_a, prev_a)
    with inside(b):
        apply(st_b, prev_b)
    assert saved(a, "nat") == expected(st_a, "nat") and saved(b, "nat") == expected(st_b, "nat")
    root_after = subprocess.run(["iptables-legacy-save"], capture_output=True, text=True).stdout
    strip = lambda t: re.sub(r"^#.*\n|\[\d+:\d+\]", "", t, flags=re.M)  # noqa: E731
    assert strip(root_after) == strip(root_before)


def test_namespaces_applied_at_once_each_get_their_own_rules(netns):
    """node_sync.apply_nodes applies every node at once (threads, one libiptc handle each): each namespace
    ends with exactly its own state, round after round, and one node's error leaves the others applied."""
    from toycluster.kernel import node_sync
    names = [netns() for _ in range(3)]
    helpers = concurrent.futures.ThreadPoolExecutor(2)
    states = [world(), world(with_web=False), world(web_unready=("10.244.2.7",))]
    prev = [None] * 3
    write = lambda state, previous, _extra, opened, _verify: apply(state, previous, opened)  # noqa: E731
    try:
        for rnd in range(6):                    # the states rotate: chains come and go in every namespace
            st = [states[(k + rnd) % 3] for k in range(3)]
            reading = {}                        # every other round, nat is read beforehand (as kube-proxy does)
            if rnd % 2:
                reading = node_sync.open_tables([(k, names[k]) for k in range(3)], ("nat",), helpers, helpers)
            done = node_sync.apply_nodes([(k, names[k], st[k], prev[k], None, None) for k in range(3)],
                                         write, helpers, reading)
            assert all(not isinstance(done[k][0], Exception) for k in range(3)), done
            assert all(done[k][2]["nat"]["read_early"] == bool(rnd % 2) for k in range(3))
            prev = [done[k][0] for k in range(3)]
            for k in range(3):
                assert saved(names[k], "nat") == expected(st[k], "nat"), f"round {rnd}, namespace {k}"
                assert saved(names[k], "filter") == expected(st[k], "filter"), f"round {rnd}, namespace {k}"
        bad = {t: dict(c) for t, c in states[0].items()}
        bad["nat"]["KUBE-MARK-MASQ"] = [["-m", "comment", "--comment", "x", "-j", "KUBE-NOWHERE"]]
        done = node_sync.apply_nodes([(0, names[0], bad, None, None, None), (1, names[1], states[0], prev[1], None, None)],
                                     write, helpers)
        assert isinstance(done[0][0], iptables_apply.ApplyError)
        assert saved(names[1], "nat") == expected(states[0], "nat")
    finally:
        helpers.shutdown()


@pytest.mark.parametrize("trusted", [True, False])
def test_a_table_read_early_and_changed_meanwhile_is_read_again(netns, trusted):
    """open_tables() reads nat before apply() writes it; a rule added in between makes the kernel refuse
    the commit (the rule count changed), so apply reads the table again: the rule stays, ours are right."""
    ns, st, st2 = netns(), world(), world(web_unready=("10.244.2.7",))
    with inside(ns):
        prev = apply(st)
        opened = iptables_apply.open_tables(("nat",))
    sh("iptables-legacy", "-t", "nat", "-A", "OUTPUT", "-d", "10.9.9.9", "-j", "ACCEPT", ns=ns)
    with inside(ns):
        apply(st2, prev if trusted else None, opened=opened)
        assert iptables_apply.LAST_SYNC["nat"]["read"] and not iptables_apply.LAST_SYNC["nat"]["read_early"]
    theirs = "-A OUTPUT -d 10.9.9.9/32 -j ACCEPT\n"
    assert theirs in saved(ns, "nat")
    assert saved(ns, "nat").replace(theirs, "") == expected(st2, "nat")


def test_a_resync_reads_back_only_a_table_someone_else_changed(netns):
    """With verify (kube-proxy's periodic resync), a table whose header is as our last write left it is
    trusted and not read; one that someone else flushed is read back, compared and restored."""
    ns, st = netns(), world()
    with inside(ns):
        prev = apply(st)
        left = {t: v["info"] for t, v in iptables_apply.last_sync().items()}
        assert left["nat"] == iptables_apply.table_info("nat") and left["nat"][0] > 0
        prev = apply(st, prev, verify=left)
        assert iptables_apply.last_sync() == {}                  # nothing read, nothing written
    sh("iptables-legacy", "-t", "nat", "-F", ns=ns)
    with inside(ns):
        assert iptables_apply.table_info("nat") != left["nat"]
        apply(st, prev, verify=left)
        assert iptables_apply.last_sync()["nat"]["read"] and "filter" not in iptables_apply.last_sync()
    assert saved(ns, "nat") == expected(st, "nat")


def test_errors_name_the_table_and_chain_and_change_nothing(netns):
    ns, st = netns(), world()
    with inside(ns):
        prev = apply(st)
        bad = {t: dict(c) for t, c in st.items()}
        bad["nat"]["KUBE-MARK-MASQ"] = bad["nat"]["KUBE-MARK-MASQ"] + [["-m", "comment", "--comment", "x",
                                                                           "-j", "KUBE-NOWHERE"]]
        with pytest.raises(iptables_apply.ApplyError, match=r"nat table, chain KUBE-MARK-MASQ, rule 2: .*KUBE-NOWHERE"):
            apply(bad, prev)
        bad["nat"]["KUBE-MARK-MASQ"] = [["-m", "nosuchmatch", "--foo", "1", "-j", "ACCEPT"]]
        with pytest.raises(iptables_apply.ApplyError, match=r"nat table, chain KUBE-MARK-MASQ, rule 1: .*nosuchmatch"):
            apply(bad, prev)
    assert saved(ns, "nat") == expected(st, "nat")


def test_rule_blobs_equal_python_iptables_own(netns):
    """The packed comment match and DNAT target are byte for byte what python-iptables builds."""
    import iptc
    ns = netns()
    with inside(ns):
        rule = iptc.Rule()
        rule.protocol, rule.dst = "tcp", "10.96.0.12/32"
        rule.create_match("comment").comment = "default/web:http -> 10.244.1.9:8080"
        rule.create_match("tcp")
        rule.create_target("DNAT").to_destination = "10.244.1.9:8080"
        rule.final_check()
        ours, _ = iptables_apply.rule_blob(["-d", "10.96.0.12/32", "-p", "tcp", "-m", "comment", "--comment",
                                            "default/web:http -> 10.244.1.9:8080", "-m", "tcp",
                                            "-j", "DNAT", "--to-destination", "10.244.1.9:8080"])
    theirs = bytes(rule.rule)
    assert ours[:84] == theirs[:84] and ours[88:92] == theirs[88:92]  # ipt_ip, target/next offsets
    assert ours[112:] == theirs[112:]                                  # matches and target


# ---------------------------------------------------------------- traffic through the rules

class Pod:
    """A 'pod' namespace behind a veth from the 'node' namespace, with a TCP server on port 8080 that
    answers each connection with "<client address> <local address>"."""

    def __init__(self, node, pod, ips):
        sh("ip", "link", "add", "kpv0", "type", "veth", "peer", "name", "eth0", "netns", pod, ns=node)
        sh("ip", "addr", "add", "10.244.1.1/24", "dev", "kpv0", ns=node)
        sh("ip", "link", "set", "kpv0", "up", ns=node)
        sh("ip", "route", "add", "10.96.0.0/12", "dev", "kpv0", ns=node)  # where a node's default route would go
        for ip in ips:
            sh("ip", "addr", "add", f"{ip}/24", "dev", "eth0", ns=pod)
        sh("ip", "link", "set", "eth0", "up", ns=pod)
        sh("ip", "route", "add", "default", "via", "10.244.1.1", ns=pod)
        with inside(pod):  # a socket stays in the namespace it was made in
            self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("0.0.0.0", 8080))
        self.sock.listen(64)
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.sendall(f"{peer[0]} {conn.getsockname()[0]}".encode())

    def close(self):
        self.sock.close()


def ask(node, ip, port, timeout=2.0):
    with inside(node):
        s = socket.socket()
    with s:
        s.settimeout(timeout)
        s.connect((ip, port))
        return s.recv(100).decode().split()


def test_traffic_spreads_refuses_and_masquerades(netns):
    node, pod = netns(), netns()
    ips = ["10.244.1.10", "10.244.1.11", "10.244.1.12"]
    server = Pod(node, pod, ips)
    try:
        sh("sysctl", "-qw", "net.ipv4.conf.all.route_localnet=1", ns=node)  # NodePorts on 127.0.0.1
        services = [service("web", "10.96.0.12", node_port=30080), service("empty", "10.96.0.20")]
        st = render(services, [eps("web", ips)], **NODE)
        with inside(node):
            apply(st)
        hits = {}
        for _ in range(300):
            client, chosen = ask(node, "10.96.0.12", 80)
            hits[chosen] = hits.get(chosen, 0) + 1
        assert client == "10.244.1.1"  # inside the pod CIDR: not masqueraded
        assert sorted(hits) == ips and all(60 <= n <= 140 for n in hits.values()), hits
        started = time.monotonic()
        with pytest.raises(ConnectionRefusedError):
            ask(node, "10.96.0.20", 80)  # no endpoints: REJECT, at once
        assert time.monotonic() - started < 1.0
        client, _ = ask(node, "127.0.0.1", 30080)  # NodePort on localhost: masqueraded to the node's address
        assert client == "10.244.1.1"
    finally:
        server.close()
