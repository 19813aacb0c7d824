"""Pure tests (no root, no network namespace) of iptables_blobs, the x_tables rule packer that reaches into
python-iptables' internals for speed: each rule shape kube-proxy, the network policy agent and the cloud load
balancer write (and each target iptables_blobs claims to pack) is encoded twice, by the packer and by
python-iptables' public API (``iptc.Rule``, ``create_match``/``create_target``, ``set_parameter``,
``final_check`` and the ``rule`` buffer ``Chain.append_rule`` hands libiptc), and the bytes must be equal.
So a python-iptables or libxtables upgrade that changes an encoding fails here, not in a cluster.

Nothing here touches the kernel: python-iptables' ``create_target(name)`` looks up whether NAME is a chain by
opening every table through libiptc (``Target._is_standard_target`` -> ``Rule.tables`` -> ``Table``), which
needs root and reads the host's tables.  So jumps to chains are built as python-iptables' standard target with
``standard_target = name`` (what that lookup would have done), extension targets it does not list as standard
(CT, CONNMARK) on a Rule whose ``tables`` is empty (the lookup's answer for them), and ``Table`` is replaced by
a tripwire for every test here.  Only libxtables' extension .so files are loaded.
"""
import ctypes as ct
import difflib
import struct

import pytest

iptc = pytest.importorskip("iptc")

from toycluster.kernel import iptables_blobs  # noqa: E402
from toycluster.kernel.iptables_blobs import ApplyError, rule_blob  # noqa: E402
from toycluster.kernel.iptables_readback import entry_key  # noqa: E402


@pytest.fixture(autouse=True)
def no_kernel(monkeypatch):
    """Any libiptc table python-iptables would open (to ask whether a name is a chain) fails the test."""
    def tripwire(*args, **kwargs):
        raise AssertionError(f"python-iptables opened a libiptc table {args[1:]}: that needs the kernel (root)")
    monkeypatch.setattr(iptc.ip4tc.Table, "__new__", tripwire)


# ---------------------------------------------------------------- python-iptables' own encoding

_ADDRESS = {"-s": "src", "-d": "dst", "-p": "protocol", "-i": "in_interface", "-o": "out_interface"}


def reference_rule(tokens: list[str]):
    """TOKENS (rendered argv, as iptables takes them) built with python-iptables' public API, final-checked
    as ``Chain.append_rule`` does: a Rule.  Written apart from iptables_blobs' own token reader on purpose."""
    rule, ext, inv, i = _KernelAnswers(), None, False, 0
    while i < len(tokens):
        tok = tokens[i]
        if tok == "!":
            inv, i = True, i + 1
        elif tok in _ADDRESS:
            setattr(rule, _ADDRESS[tok], ("!" if inv else "") + tokens[i + 1])
            inv, i = False, i + 2
        elif tok == "-m":
            ext, i = rule.create_match(tokens[i + 1]), i + 2
        elif tok == "-j":
            ext, i = _target(rule, tokens[i + 1]), i + 2
        else:
            assert tok.startswith("--"), f"cannot read {tok!r} in {tokens}"
            j = i + 1
            while j < len(tokens) and tokens[j] != "!" and not tokens[j].startswith("-"):
                j += 1
            values = tokens[i + 1:j]
            value = "" if not values else values[0] if len(values) == 1 else values
            if inv:
                value = "!" + value if isinstance(value, str) else ["!"] + value
            ext.set_parameter(tok[2:], value)
            inv, i = False, j
    if rule.target is None:                       # no -j: fall through (iptables' empty standard target)
        rule.create_target("")
    # rule.final_check(), except for the comment match: its final check is only python-iptables' round trip
    # (print the match, shlex.split, parse again), which turns ' into \' (a python-iptables defect:
    # "balancer's" would reach the kernel as "balancer\'s"); iptables-restore and the packer keep the text.
    rule.target.final_check()
    for match in rule.matches:
        if match.name != "comment":
            match.final_check()
    return rule


class _KernelAnswers(iptc.Rule):
    """A Rule whose ``tables`` (asked by create_target for a name python-iptables does not list as standard,
    e.g. CT or CONNMARK) are what the kernel would answer for such a name: no table has a chain of it."""
    tables = ()


def _target(rule, name: str):
    if name in iptc.Target.STANDARD_TARGETS or name in iptables_blobs.MODULE_TARGETS:
        return rule.create_target(name)          # ACCEPT, DROP, RETURN and extension targets
    target = rule.create_target("")             # a chain: what create_target(name) does once it found it
    target.standard_target = name
    return target


def reference_blob(tokens: list[str]) -> bytes:
    return bytes(reference_rule(tokens).rule)


# ---------------------------------------------------------------- readable differences

def describe(blob: bytes) -> list[str]:
    """One line per field of an ipt_entry blob (and 16 bytes a line of each match and target)."""
    src, dst, smsk, dmsk, inif, outif, inmask, outmask, proto, flags, invflags = struct.unpack_from(
        "<4s4s4s4s16s16s16s16sHBB", blob)
    nfcache, toff, noff, comefrom = struct.unpack_from("<IHHI", blob, 84)
    lines = [f"ip src {src.hex()}/{smsk.hex()} dst {dst.hex()}/{dmsk.hex()}",
             f"ip iniface {inif.hex()}/{inmask.hex()} outiface {outif.hex()}/{outmask.hex()}",
             f"ip proto {proto} flags {flags:#x} invflags {invflags:#x}",
             f"entry nfcache {nfcache} target_offset {toff} next_offset {noff} comefrom {comefrom} "
             f"counters {blob[96:112].hex()}"]
    off = 112
    while off < len(blob):
        size = struct.unpack_from("<H", blob, off)[0] or len(blob) - off
        kind = "target" if off >= toff else "match"
        name = blob[off + 2:off + 31].split(b"\0", 1)[0].decode(errors="replace")
        lines.append(f"{kind} {name!r} revision {blob[off + 31]} size {size}")
        lines += [f"  +{k:3d} {blob[off + k:off + k + 16].hex(' ')}" for k in range(32, size, 16)]
        off += size
    return lines


def assert_same(tokens, ours: bytes, theirs: bytes, what: str):
    if ours != theirs:
        diff = "\n".join(difflib.unified_diff(describe(theirs), describe(ours), "python-iptables", "iptables_blobs",
                                              lineterm=""))
        pytest.fail(f"{what} differs for rule: {' '.join(tokens)}\n{diff}", pytrace=False)


# ---------------------------------------------------------------- the shapes

C = ["-m", "comment", "--comment"]
SEP = "KUBE-SEP-2RIJ5GIYXEFH6G4D"
SHAPES = {
    # kube-proxy: jumps from the built-in chains and the fixed chains
    "jump, conntrack NEW": ["-m", "conntrack", "--ctstate", "NEW", *C, "kubernetes service portals",
                            "-j", "KUBE-SERVICES"],
    "jump, comment only": [*C, "kubernetes forwarding rules", "-j", "KUBE-FORWARD"],
    "mark negated, RETURN": [*C, "kubernetes: not marked for masquerade", "-m", "mark", "!", "--mark",
                             "0x4000/0x4000", "-j", "RETURN"],
    "MARK --xor-mark": [*C, "kubernetes: clear the masquerade mark", "-j", "MARK", "--xor-mark", "0x4000"],
    "MARK --or-mark": [*C, "kubernetes: mark for masquerade", "-j", "MARK", "--or-mark", "0x4000"],
    "MASQUERADE --random-fully": [*C, "kubernetes service traffic requiring SNAT", "-j", "MASQUERADE",
                                  "--random-fully"],
    "! -s, -d, conntrack negated, DROP": ["!", "-s", "127.0.0.0/8", "-d", "127.0.0.0/8", *C,
                                          "block incoming localnet connections", "-m", "conntrack", "!",
                                          "--ctstate", "RELATED,ESTABLISHED,DNAT", "-j", "DROP"],
    "addrtype --dst-type LOCAL": [*C, "kubernetes service nodeports", "-m", "addrtype", "--dst-type", "LOCAL",
                                  "-j", "KUBE-NODEPORTS"],
    "addrtype --src-type LOCAL": [*C, "masquerade LOCAL traffic", "-m", "addrtype", "--src-type", "LOCAL",
                                  "-j", "KUBE-MARK-MASQ"],
    "conntrack INVALID, DROP": [*C, "kubernetes forwarding: drop conntrack INVALID", "-m", "conntrack",
                                "--ctstate", "INVALID", "-j", "DROP"],
    "mark, ACCEPT": [*C, "kubernetes forwarding rules", "-m", "mark", "--mark", "0x4000/0x4000", "-j", "ACCEPT"],
    "conntrack RELATED,ESTABLISHED, ACCEPT": [*C, "kubernetes forwarding conntrack rule", "-m", "conntrack",
                                              "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"],
    # kube-proxy: per service port
    "tcp VIP": ["-d", "10.96.0.12/32", "-p", "tcp", *C, "default/web:http cluster IP", "-m", "tcp", "--dport",
                "80", "-j", "KUBE-SVC-ERIFXISQEP7F7OF4"],
    "udp VIP": ["-d", "10.96.0.10/32", "-p", "udp", *C, "kube-system/kube-dns:dns cluster IP", "-m", "udp",
                "--dport", "53", "-j", "KUBE-SVC-TCOU7JCQXEZGVUNU"],
    "sctp VIP": ["-d", "10.96.0.70/32", "-p", "sctp", *C, "default/sig:s cluster IP", "-m", "sctp", "--dport",
                 "3868", "-j", "KUBE-SVC-AAAAAAAAAAAAAAAA"],
    "VIP without endpoints, REJECT": ["-d", "10.96.0.20/32", "-p", "tcp", *C, "default/empty has no endpoints",
                                      "-m", "tcp", "--dport", "80", "-j", "REJECT"],
    "VIP without local endpoints, DROP": ["-d", "203.0.113.10/32", "-p", "tcp", *C, "default/lb has no local "
                                          "endpoints", "-m", "tcp", "--dport", "80", "-j", "DROP"],
    "! -s cluster CIDR, VIP, mark masq": ["!", "-s", "10.244.0.0/16", "-d", "10.96.0.12/32", "-p", "tcp", *C,
                                          "default/web:http cluster IP", "-m", "tcp", "--dport", "80",
                                          "-j", "KUBE-MARK-MASQ"],
    "NodePort": ["-p", "tcp", *C, "default/shop:http", "-m", "tcp", "--dport", "30080",
                 "-j", "KUBE-EXT-JSLCNGWSGB5JPS5Q"],
    "NodePort, addrtype, DROP": ["-p", "tcp", *C, "default/local:https has no local endpoints", "-m", "addrtype",
                                 "--dst-type", "LOCAL", "-m", "tcp", "--dport", "30443", "-j", "DROP"],
    "-s cluster CIDR jump": ["-s", "10.244.0.0/16", *C, "pod traffic for default/local:https external "
                             "destinations", "-j", "KUBE-SVC-AAAAAAAAAAAAAAAA"],
    "-s source range jump": ["-s", "198.51.100.0/24", *C, "default/lb:http loadbalancer IP",
                             "-j", "KUBE-EXT-AAAAAAAAAAAAAAAA"],
    "comment only, no target": [*C, "other traffic to default/lb:http will be dropped by KUBE-PROXY-FIREWALL"],
    "endpoint -s /32, mark masq": ["-s", "10.244.1.9/32", *C, "default/web:http", "-j", "KUBE-MARK-MASQ"],
    "statistic 1/3": [*C, "default/web:http -> 10.244.1.10:8080", "-m", "statistic", "--mode", "random",
                      "--probability", "0.3333333333", "-j", SEP],
    "statistic 1/2": [*C, "default/web:http -> 10.244.1.9:8080", "-m", "statistic", "--mode", "random",
                      "--probability", "0.5000000000", "-j", SEP],
    "statistic 1/1000, large cluster": ["-m", "statistic", "--mode", "random", "--probability", "0.0010000000",
                                        "-j", SEP],
    "recent --rcheck --seconds --reap": [*C, "default/sticky:http -> 10.244.1.30:8080", "-m", "recent", "--name",
                                         SEP, "--rcheck", "--seconds", "10800", "--reap", "-j", SEP],
    "recent --rcheck, --mask --rsource spelled out": ["-m", "recent", "--name", SEP, "--rcheck", "--seconds",
                                                      "600", "--reap", "--mask", "255.255.255.255", "--rsource",
                                                      "-j", SEP],
    "recent --set, tcp DNAT": ["-p", "tcp", *C, "default/sticky:http", "-m", "recent", "--name", SEP, "--set",
                               "-m", "tcp", "-j", "DNAT", "--to-destination", "10.244.1.30:8080"],
    "tcp DNAT": ["-p", "tcp", *C, "default/web:http", "-m", "tcp", "-j", "DNAT", "--to-destination",
                 "10.244.1.9:8080"],
    "udp DNAT": ["-p", "udp", *C, "kube-system/kube-dns:dns", "-m", "udp", "-j", "DNAT", "--to-destination",
                 "10.244.1.3:53"],
    "sctp DNAT": ["-p", "sctp", *C, "default/sig:s", "-m", "sctp", "-j", "DNAT", "--to-destination",
                  "10.244.1.80:3868"],
    "tcp DNAT, large cluster (no comment)": ["-p", "tcp", "-m", "tcp", "-j", "DNAT", "--to-destination",
                                             "10.244.200.1:65535"],
    # the network policy agent
    "policy: jump to the top chain": [*C, "network policies of the pods on this node", "-j", "KUBE-NWPLCY-FORWARD"],
    "policy: established RETURN": [*C, "network policies: replies pass", "-m", "conntrack", "--ctstate",
                                   "RELATED,ESTABLISHED", "-j", "RETURN"],
    "policy: -s pod jump": ["-s", "10.244.1.5/32", *C, "x/a: egress isolation", "-j", "KUBE-POD-FW-AAAAAAAAAAAAAAAA"],
    "policy: -d pod RETURN": ["-d", "10.244.1.5/32", *C, "x/a: traffic to itself is not filtered", "-j", "RETURN"],
    "policy: mark 0x20000 RETURN": [*C, "x/a ingress: allowed by policy x/p", "-m", "mark", "--mark",
                                    "0x20000/0x20000", "-j", "RETURN"],
    "policy: -s peer, tcp port, MARK --or-mark": ["-s", "10.244.2.0/24", "-p", "tcp", *C, "x/p ingress rule 1",
                                                  "-m", "tcp", "--dport", "80", "-j", "MARK", "--or-mark",
                                                  "0x20000"],
    "policy: -d peer, port range": ["-d", "10.244.2.16/28", "-p", "tcp", *C, "x/p egress rule 1", "-m", "tcp",
                                    "--dport", "8000:9000", "-j", "MARK", "--or-mark", "0x10000"],
    "policy: udp port": ["-p", "udp", *C, "x/p egress rule 2", "-m", "udp", "--dport", "53", "-j", "MARK",
                         "--or-mark", "0x10000"],
    "policy: sctp port range": ["-p", "sctp", *C, "x/p ingress rule 3", "-m", "sctp", "--dport", "1000:2000",
                                "-j", "MARK", "--or-mark", "0x20000"],
    "policy: -p udp, any port": ["-p", "udp", *C, "x/p ingress rule 4", "-j", "MARK", "--or-mark", "0x20000"],
    "policy: anywhere, MARK": [*C, "x/p ingress rule 5: from anywhere, any port", "-j", "MARK", "--or-mark",
                               "0x20000"],
    "policy: REJECT --reject-with tcp-reset": ["-p", "tcp", *C, "network policies: deny TCP with a reset",
                                               "-j", "REJECT", "--reject-with", "tcp-reset"],
    "policy: REJECT (icmp port unreachable)": [*C, "network policies: deny other protocols", "-j", "REJECT"],
    # the cloud load balancer
    "lb: -d node CIDR, conntrack DNAT, MASQUERADE": ["-d", "192.168.50.0/24", *C, "connections to the nodes",
                                                     "-m", "conntrack", "--ctstate", "DNAT", "-j", "MASQUERADE"],
    "lb: statistic, DNAT without -m tcp": ["-p", "tcp", *C, "default/lb:http -> node 192.168.50.11:30900", "-m",
                                           "statistic", "--mode", "random", "--probability", "0.5000000000",
                                           "-j", "DNAT", "--to-destination", "192.168.50.11:30900"],
    # what else iptables_blobs packs (STANDARD_TARGETS, MODULE_TARGETS, its token reader)
    "! -d": ["!", "-d", "10.96.0.0/12", "-j", "ACCEPT"],
    "! -p": ["!", "-p", "tcp", "-j", "DROP"],
    "-p icmp": ["-p", "icmp", "-j", "ACCEPT"],
    "QUEUE": ["-j", "QUEUE"],
    "DNAT without a port": ["-p", "tcp", "-j", "DNAT", "--to-destination", "10.244.1.9"],
    "DNAT without -p": ["-j", "DNAT", "--to-destination", "10.244.1.9"],
    "SNAT --to-source --random-fully": ["-s", "10.244.0.0/16", "-j", "SNAT", "--to-source", "192.168.50.11",
                                        "--random-fully"],
    "REJECT --reject-with icmp-host-prohibited": ["-j", "REJECT", "--reject-with", "icmp-host-prohibited"],
    "LOG --log-prefix": ["-j", "LOG", "--log-prefix", "toycluster: "],
    "CT --notrack": ["-p", "udp", "-m", "udp", "--dport", "53", "-j", "CT", "--notrack"],
    "CONNMARK --set-mark": ["-j", "CONNMARK", "--set-mark", "0x1/0x1"],
    "multiport --dports (generic match)": ["-p", "tcp", "-m", "multiport", "--dports", "80,443,8000:9000",
                                           "-j", "ACCEPT"],
}


@pytest.mark.parametrize("name", list(SHAPES))
def test_packed_rule_is_python_iptables_own_bytes(name):
    tokens = SHAPES[name]
    assert_same(tokens, rule_blob(tokens)[0], reference_blob(tokens), f"{name!r}: the ipt_entry blob")


def test_a_comment_is_packed_as_written():
    """Quotes and backslashes reach the kernel as they are (python-iptables' round trip would add a \\)."""
    text = """the balancer's "address" \\ 100%"""
    blob = rule_blob([*C, text, "-j", "ACCEPT"])[0]
    assert blob[112 + 32:112 + 32 + 256] == text.encode().ljust(256, b"\0")


def test_the_struct_packers_are_in_use():
    """The comment match and DNAT target are packed with struct only while they agree with python-iptables;
    otherwise iptables_blobs falls back to python-iptables' parser, correct but some 10x slower: say so."""
    for tokens in (SHAPES["tcp DNAT"], SHAPES["udp DNAT"], SHAPES["sctp DNAT"]):
        rule_blob(tokens)
    revisions = iptables_blobs.fast_path_revisions()
    assert set(revisions) >= {"comment", "DNAT/tcp", "DNAT/udp", "DNAT/sctp"}, revisions
    assert all(rev >= 0 for rev in revisions.values()), \
        f"python-iptables' encoding no longer matches the struct packers (-1: fallen back): {revisions}"


# ---------------------------------------------------------------- every rule the renderers produce
# (imported in each renderer's case: a renderer that does not import fails its own case only)

def _service(name, ip, ports, **spec):
    return {"metadata": {"namespace": "default", "name": name},
            "spec": {"type": "ClusterIP", "clusterIP": ip, "ports": ports, **spec}}


def _slice(name, ips, ports, node="node1"):
    return {"metadata": {"namespace": "default", "name": f"{name}-x", "labels": {"kubernetes.io/service-name": name}},
            "addressType": "IPv4", "ports": ports,
            "endpoints": [{"addresses": [ip], "conditions": {"ready": True}, "nodeName": node} for ip in ips]}


def kube_proxy_rules():
    from toycluster.proxy import proxier
    tcp = [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]
    services = [
        _service("web", "10.96.0.12", tcp),
        _service("dns", "10.96.0.10", [{"name": "dns", "port": 53, "protocol": "UDP"},
                                       {"name": "sig", "port": 3868, "protocol": "SCTP"}]),
        _service("empty", "10.96.0.20", tcp),
        _service("sticky", "10.96.0.30", tcp, sessionAffinity="ClientIP",
                 sessionAffinityConfig={"clientIP": {"timeoutSeconds": 600}}),
        _service("local", "10.96.0.50", [dict(tcp[0], nodePort=30443)], type="NodePort",
                 externalTrafficPolicy="Local", externalIPs=["198.51.100.7"]),
        _service("lb", "10.96.0.60", [dict(tcp[0], nodePort=30900)], type="LoadBalancer",
                 loadBalancerSourceRanges=["192.168.50.0/24"], healthCheckNodePort=31999,
                 externalTrafficPolicy="Local", status={"loadBalancer": {"ingress": [{"ip": "203.0.113.10"}]}}),
    ]
    http = [{"name": "http", "port": 8080, "protocol": "TCP"}]
    slices = [_slice("web", ["10.244.1.9", "10.244.1.10", "10.244.2.7"], http),
              _slice("dns", ["10.244.1.3"], [{"name": "dns", "port": 53, "protocol": "UDP"},
                                             {"name": "sig", "port": 3868, "protocol": "SCTP"}]),
              _slice("empty", [], http), _slice("sticky", ["10.244.1.30", "10.244.2.30"], http),
              _slice("local", ["10.244.1.50"], http), _slice("lb", ["10.244.2.60"], http, node="node2")]
    state = proxier.render(services, slices, node_name="node1", node_ip="192.168.50.11",
                           cluster_cidr="10.244.0.0/16")
    return [r for chains in state.values() for rules in chains.values() for r in rules]


def network_policy_rules():
    from toycluster.netpol import agent
    pods = [{"metadata": {"namespace": ns, "name": n, "labels": {"app": n}},
             "spec": {"nodeName": "node1", "containers": [{"name": "c", "ports": [
                 {"containerPort": 8080, "name": "http", "protocol": "TCP"}]}]},
             "status": {"phase": "Running", "podIP": ip}}
            for ns, n, ip in (("x", "a", "10.244.1.5"), ("x", "b", "10.244.1.6"), ("y", "c", "10.244.2.7"))]
    namespaces = [{"metadata": {"name": n, "labels": {"kubernetes.io/metadata.name": n}}} for n in "xy"]
    spec = {"podSelector": {"matchLabels": {"app": "a"}}, "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "b"}}}],
                         "ports": [{"port": 8080, "protocol": "TCP"}, {"port": "http"}]},
                        {"from": [{"ipBlock": {"cidr": "198.51.100.0/24"}}],
                         "ports": [{"port": 1000, "endPort": 2000, "protocol": "SCTP"}, {"protocol": "UDP"}]}],
            "egress": [{"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "y"}}}],
                        "ports": [{"port": 53, "protocol": "UDP"}, {"port": 8000, "endPort": 9000}]}, {}]}
    policies = [{"metadata": {"namespace": "x", "name": "p"}, "spec": spec}]
    state = agent.render(policies, pods, namespaces, node_name="node1")
    return [r for rules in state["filter"].values() for r in rules]


def load_balancer_rules():
    from toycluster.cloud import lb
    from toycluster.config import ClusterConfig
    cfg = ClusterConfig(nodes=3)
    fronts = [("203.0.113.10", 80, 30900, "default/lb:http"), ("203.0.113.11", 443, 30443, "default/tls:https")]
    healthy = {(cfg.node_ip(n), 30900): True for n in (1, 2, 3)} | {(cfg.node_ip(2), 30443): True}
    state = lb.render(fronts, healthy, cfg)
    return [r for rules in state["nat"].values() for r in rules]


RENDERED = {  # renderer -> the matches and targets its world here must exercise
    kube_proxy_rules: {"comment", "conntrack", "mark", "addrtype", "statistic", "recent", "tcp", "udp", "sctp",
                       "DNAT", "MARK", "MASQUERADE", "REJECT", "DROP", "ACCEPT", "RETURN"},
    network_policy_rules: {"comment", "conntrack", "mark", "tcp", "udp", "sctp", "MARK", "REJECT", "RETURN"},
    load_balancer_rules: {"comment", "conntrack", "statistic", "tcp", "DNAT", "MASQUERADE"},
}


@pytest.mark.parametrize("renderer", list(RENDERED), ids=lambda f: f.__name__)
def test_every_rendered_rule_is_python_iptables_own_bytes(renderer):
    rules = {tuple(r): r for r in renderer()}
    used = {r[i + 1] for r in rules.values() for i, t in enumerate(r) if t in ("-m", "-j")}
    assert RENDERED[renderer] <= used, f"{renderer.__name__}'s world here no longer renders " \
                                       f"{sorted(RENDERED[renderer] - used)}"
    for tokens in rules.values():
        assert_same(tokens, rule_blob(tokens)[0], reference_blob(tokens), renderer.__name__)


# ---------------------------------------------------------------- what the packer refuses

@pytest.mark.parametrize("tokens", [["-i", "eth0", "-j", "ACCEPT"], ["-o", "eth0", "-j", "ACCEPT"],
                                    ["-j", "ACCEPT", "--foo"], ["-m", "nosuchmatch", "--foo", "1", "-j", "ACCEPT"],
                                    ["-m", "tcp", "--dport", "http-alt-x", "-p", "tcp", "-j", "ACCEPT"]],
                         ids=["-i", "-o", "options after ACCEPT", "unknown match", "bad port"])
def test_what_it_cannot_pack_is_refused_not_misencoded(tokens):
    with pytest.raises(ApplyError):
        rule_blob(tokens)


# ---------------------------------------------------------------- read back as the same keys

class _FakeLibiptc:
    """iptc_get_target as libiptc answers it for a rule of its in-memory copy: the standard target's name."""

    def __init__(self, name: bytes):
        self.name = name

    def iptc_get_target(self, entry, handle):
        return self.name


@pytest.mark.parametrize("name", list(SHAPES))
def test_a_rule_read_back_gives_the_key_it_was_packed_with(name):
    """What the kernel hands back differs from what was written: standard targets and jumps lose their name
    (libiptc resolves them), and an extension's kernel-private tail (past python-iptables' usersize) holds
    kernel data.  iptables_readback.entry_key must ignore both, or every sync would rewrite every chain."""
    tokens = SHAPES[name]
    blob, key = rule_blob(tokens)
    ref = reference_rule(tokens)
    kernel = bytearray(blob)
    off = 112
    for part in ref.matches + [ref.target]:
        size = struct.unpack_from("<H", kernel, off)[0]
        kernel[off + part.usersize:off + size] = b"\xa5" * (size - part.usersize)
        off += size
    toff = struct.unpack_from("<H", kernel, 88)[0]
    target = kernel[toff + 2:toff + 31].split(b"\0", 1)[0]
    standard = "-j" not in tokens or tokens[tokens.index("-j") + 1] not in iptables_blobs.MODULE_TARGETS
    if standard:
        kernel[toff + 2:toff + 31] = b"\0" * 29
    buf = (ct.c_ubyte * len(kernel)).from_buffer(kernel)
    assert entry_key(_FakeLibiptc(target if standard else None), None, ct.addressof(buf)) == key
