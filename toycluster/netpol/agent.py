"""Network policy agent (as kube-router / Calico do): NetworkPolicies rendered into filter rules on every node.

Render, then apply, as kube-proxy: ``render`` turns networking.k8s.io/v1 NetworkPolicy, Pod and Namespace
dicts into the filter table one node needs, as data in kube-proxy's render's shape ({"filter": {chain: [rule
tokens]}}); ``apply`` writes it with kernel/iptables_apply.py (one commit), owning only the chains named below,
so kube-proxy's rules in the same table are never touched; ``why.explain`` walks the rendered rules with one
packet and says which policies and rules decide it.

Chains (kube-router's names; every rule carries a comment naming the pod or the policy and rule):
  FORWARD           -> KUBE-NWPLCY-FORWARD, kept as the first rule (above kube-proxy's jumps, whose
                       KUBE-FORWARD accepts masquerade-marked packets before any policy could see them)
  KUBE-NWPLCY-FORWARD  replies and established connections RETURN (stateful); then, for each pod on this
                       node isolated for egress, ``-s POD -j KUBE-POD-FW-<hash(ns/pod/egress)>``; then for
                       each pod isolated for ingress, ``-d POD -j KUBE-POD-FW-<hash(ns/pod/ingress)>``
                       (above 32 pods, grouped: ``-s BLOCK/28 -j KUBE-NWPLCY-<hash>`` holding the block's jumps)
  KUBE-POD-FW-<16>  one pod, one direction: traffic to itself RETURNs; a jump to each policy chain that
                       selects it, each followed by "mark set? RETURN"; finally -j KUBE-NWPLCY-REJECT
  KUBE-NWPLCY-REJECT TCP: REJECT --reject-with tcp-reset; anything else: REJECT (icmp port unreachable)
  KUBE-NWPLCY-<16>  one policy, one direction (and, for ingress with named ports, one resolution of those
                       names): a ``-j MARK --or-mark`` rule per allowed (peer, port); egress sets 0x10000,
                       ingress 0x20000 (kube-proxy uses 0x4000; separate bits because a same-node packet
                       passes the source's egress and the destination's ingress checks in one traversal)
Hashes: 16 characters of base32(sha256), as kube-proxy's and kube-router's chain names.

Semantics (upstream's API reference and e2e netpol tests): a pod is isolated in a direction when a policy
of its namespace selects it with that policyType (absent policyTypes: Ingress, plus Egress when egress
rules exist); then only what the union of those policies' rules allow passes; a connection needs the
source's egress and the destination's ingress.  Peers: podSelector alone (the policy's namespace),
namespaceSelector alone (all pods there), both in one peer (AND), several peers (OR), ipBlock (cidr minus
except, split into plain CIDRs).  Ports: number, range (endPort), name (ingress: resolved on each selected
pod; egress: on each destination pod, so an IP that is no pod never matches a name), protocol TCP/UDP/SCTP
(TCP by default; a protocol without port means every port of it).  Applies on FORWARD, after kube-proxy's
DNAT, to pod IPs, for same-node (bridged; bridge-nf-call-iptables=1) and cross-node traffic alike.  Not
filtered: traffic a pod sends to itself, and traffic between a pod and its own node (it never passes
FORWARD; upstream: "traffic to and from the node where a Pod is running is always allowed").  Established
connections: checks apply to new connections only (conntrack RELATED,ESTABLISHED return first), so a
connection that was allowed keeps working after a policy that would now deny it, as with Calico and
kube-router; upstream leaves this to the implementation.  Denied packets are REJECTed, so a blocked
client of a pod's own address fails at once instead of timing out: TCP with a reset (kube-router's ICMP port
unreachable is rate-limited by the kernel, about one a second per client after a burst of six, so a client
retrying would see refusals and hangs in turn), other protocols with ICMP port unreachable. A client of a
ClusterIP whose packet was DNATed on the node that rejects it still times out: the reset leaves with the pod's
address, not the Service's, and the client ignores it (an egress denial always; an ingress denial when client
and backend share a node) — lab 9 shows it.  Plain address rules
(runs of consecutive pod IPs collapsed into exact CIDRs), no ipset: the kernel has ip_set but there is no
ipset tool here, CONFIG_IP_SET_MAX is 256 sets per namespace, and a set match carries a per-namespace set
index that would defeat iptables_apply's rule-blob cache.  Inputs (selection, peers): inputs.py.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import json
import socket

from toycluster.kernel import iptables_apply
from toycluster.kernel.iptables_chains import chain_hash
from toycluster.kernel.iptables_save import comment
from toycluster.netpol.inputs import Inputs

__all__ = ["render", "render_all", "apply", "fingerprint", "OWNED_PREFIXES", "TOP_CHAIN", "REJECT_CHAIN",
           "EGRESS_MARK", "INGRESS_MARK", "pod_chain", "policy_chain"]

OWNED_PREFIXES = ("KUBE-NWPLCY-", "KUBE-POD-FW-")
TOP_CHAIN = "KUBE-NWPLCY-FORWARD"
REJECT_CHAIN = "KUBE-NWPLCY-REJECT"
EGRESS_MARK, INGRESS_MARK = "0x10000", "0x20000"
MARKS = {"egress": EGRESS_MARK, "ingress": INGRESS_MARK}
DISPATCH_AT = 32       # isolated pods per node and direction above which their jumps are grouped by /28


@functools.lru_cache(maxsize=65536)
def pod_chain(ns: str, pod: str, direction: str) -> str:
    return "KUBE-POD-FW-" + chain_hash(f"{ns}/{pod}/{direction}")


@functools.lru_cache(maxsize=65536)
def policy_chain(ns: str, name: str, direction: str, resolution: tuple = ()) -> str:
    return "KUBE-NWPLCY-" + chain_hash(f"{ns}/{name}/{direction}" + (f"/{resolution}" if resolution else ""))


# ---------------------------------------------------------------- render

def render(policies, pods, namespaces, *, node_name: str) -> dict:
    """Desired filter table of this node's policy agent: {"filter": {chain: [rule tokens]}}."""
    return render_all(policies, pods, namespaces, [node_name])[node_name]


def render_all(policies, pods, namespaces, node_names, inputs: Inputs | None = None) -> dict:
    """{node name: state} for several nodes, selecting the pods and policies once."""
    inp = inputs or Inputs(policies, pods, namespaces)
    return {node: _render_node(inp, node) for node in node_names}


def _port_desc(port, resolved=None):
    if port is None:
        return "any port"
    if port["name"]:
        return f"port {port['name']}" + (f"={resolved}" if resolved else "") + f"/{port['proto']}"
    if port["range"] is None:
        return f"any {port['proto']} port"
    lo, hi = port["range"]
    return (f"port {lo}" if lo == hi else f"ports {lo}-{hi}") + f"/{port['proto']}"


def _match_port(proto, number_or_range):
    p = proto.lower()
    if number_or_range is None:
        return ["-p", p], []
    if isinstance(number_or_range, tuple):
        lo, hi = number_or_range
        value = str(lo) if lo == hi else f"{lo}:{hi}"
    else:
        value = str(number_or_range)
    return ["-p", p], ["-m", p, "--dport", value]


def _policy_rules(inp: Inputs, pol: dict, direction: str, local_pod: dict | None):
    """The MARK rules of one policy in one direction; named ingress ports are resolved on LOCAL_POD."""
    rules, seen, mark = [], set(), MARKS[direction]
    peer_flag, word = ("-s", "from") if direction == "ingress" else ("-d", "to")
    for i, rule in enumerate(pol["dirs"][direction], 1):
        peers = rule["peers"] if rule["peers"] is not None else [None]
        ports = rule["ports"] if rule["ports"] is not None else [None]
        for port in ports:
            for peer in peers:
                # (address, who) pairs this (peer, port) allows, and the port number or range
                if port is not None and port["name"] and direction == "ingress":
                    number = local_pod["ports"].get((port["name"], port["proto"])) if local_pod else None
                    if number is None:
                        continue
                    targets = [(number, _addresses(peer))]
                elif port is not None and port["name"]:       # egress: resolved on each destination pod
                    dests = _named_destinations(inp, peer, port)
                    targets = [(n, [(r["ip"] + "/32", f"pod {r['id']}")]) for r, n in dests]
                else:
                    targets = [(None if port is None else port["range"], _addresses(peer))]
                for number, addresses in targets:
                    for addr, who in addresses:
                        proto_part, dport = ([], []) if port is None else _match_port(port["proto"], number)
                        desc = _port_desc(port, number if port is not None and port["name"] else None)
                        key = (addr, tuple(proto_part), tuple(dport))
                        if key in seen:
                            continue
                        seen.add(key)
                        rules.append(([peer_flag, addr] if addr else []) + proto_part + comment(
                            f"{pol['id']} {direction} rule {i}: {word} {who}, {desc}") + dport + [
                            "-j", "MARK", "--or-mark", mark])
    return rules


def _addresses(peer):
    """[(address or None, description)] a peer stands for; None = anywhere."""
    if peer is None:
        return [(None, "anywhere")]
    if peer["cidrs"] is not None:
        return [(c, peer["desc"]) for c in peer["cidrs"]]
    return peer["addresses"]


def _named_destinations(inp, peer, port):
    if peer is None:
        candidates = inp.pods
    elif peer["cidrs"] is not None:
        nets = [ipaddress.ip_network(c) for c in peer["cidrs"]]
        candidates = [r for r in inp.pods if any(ipaddress.ip_address(r["ip"]) in n for n in nets)]
    else:
        candidates = peer["pods"]
    return [(r, r["ports"][(port["name"], port["proto"])]) for r in candidates
            if (port["name"], port["proto"]) in r["ports"]]


def _resolution(pol, direction, pod):
    """The numbers this pod gives the policy's named ingress ports (pods that agree share a chain)."""
    if direction != "ingress":
        return ()
    names = sorted({(p["name"], p["proto"]) for r in pol["dirs"]["ingress"] for p in r["ports"] or [] if p["name"]})
    return tuple(pod["ports"].get(n) for n in names)


def _render_node(inp: Inputs, node: str) -> dict:
    filt = {"INPUT": [], "FORWARD": [], "OUTPUT": [], TOP_CHAIN: []}
    filt["FORWARD"].append(comment("network policies of the pods on this node (toycluster network policy agent)")
                           + ["-j", TOP_CHAIN])
    top = filt[TOP_CHAIN]
    top.append(comment("network policies: replies and established connections pass (stateful)")
               + ["-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "RETURN"])
    local = sorted((r for r in inp.pods if r["node"] == node), key=lambda r: r["id"])
    policy_chains: dict[str, list] = {}
    pod_chains: dict[str, list] = {}
    dispatch: dict[str, list] = {}
    for direction, flag, other in (("egress", "-s", "-d"), ("ingress", "-d", "-s")):
        jumps = []
        for pod in local:
            pols = inp.isolating.get((pod["id"], direction))
            if not pols:
                continue
            chain = pod_chain(pod["ns"], pod["name"], direction)
            jumps.append((pod["int"], [flag, pod["ip"] + "/32"] + comment(f"{pod['id']}: {direction} isolation")
                          + ["-j", chain]))
            rules = [[other, pod["ip"] + "/32"] + comment(f"{pod['id']}: traffic to itself is not filtered")
                     + ["-j", "RETURN"]]
            for pol in pols:
                res = _resolution(pol, direction, pod)
                target = policy_chain(pol["ns"], pol["name"], direction, res)
                if target not in inp.chains:            # the same on every node: made once
                    inp.chains[target] = _policy_rules(inp, pol, direction, pod)
                policy_chains[target] = inp.chains[target]
                rules.append(comment(f"{pod['id']} {direction}: policy {pol['id']}") + ["-j", target])
                rules.append(comment(f"{pod['id']} {direction}: allowed by policy {pol['id']}")
                             + ["-m", "mark", "--mark", f"{MARKS[direction]}/{MARKS[direction]}", "-j", "RETURN"])
            rules.append(comment(f"{pod['id']}: {direction} isolated and no policy allows it")
                         + ["-j", REJECT_CHAIN])
            pod_chains[chain] = rules
        top.extend(_dispatch(jumps, direction, flag, dispatch))
    filt[REJECT_CHAIN] = [
        ["-p", "tcp"] + comment("network policies: deny TCP with a reset") + ["-j", "REJECT", "--reject-with",
                                                                                 "tcp-reset"],
        comment("network policies: deny other protocols with ICMP port unreachable") + ["-j", "REJECT"]]
    for chains in (dispatch, pod_chains, policy_chains):
        for name in sorted(chains):
            filt[name] = chains[name]
    return {"filter": filt}


def _dispatch(jumps, direction, flag, dispatch):
    """The per-pod jumps for KUBE-NWPLCY-FORWARD.  Above DISPATCH_AT pods, a new connection would test every
    one of them in turn, so they are grouped by /28 of their address: a jump per block to a chain holding the
    block's pod jumps (at most 16 + 16 tests instead of one per pod on the node)."""
    if len(jumps) <= DISPATCH_AT:
        return [rule for _, rule in jumps]
    groups: dict[int, list] = {}
    for ip, rule in sorted(jumps, key=lambda j: j[0]):
        groups.setdefault(ip >> 4, []).append(rule)
    out = []
    for block, rules in groups.items():
        if len(rules) == 1:
            out += rules
            continue
        cidr = f"{socket.inet_ntoa((block << 4).to_bytes(4, 'big'))}/28"
        name = "KUBE-NWPLCY-" + chain_hash(f"dispatch/{direction}/{cidr}")
        dispatch[name] = rules
        out.append([flag, cidr] + comment(f"{direction} isolation of {len(rules)} pods in {cidr}") + ["-j", name])
    return out


# ---------------------------------------------------------------- apply

def apply(state: dict, previous: dict | None = None) -> dict:
    """Write ``state`` into the current network namespace's filter table, owning only KUBE-NWPLCY-* and
    KUBE-POD-FW-* chains and keeping the FORWARD jump first; see iptables_apply.apply."""
    return iptables_apply.apply(state, previous, owned_prefixes=OWNED_PREFIXES, pin_first=True)


def fingerprint(policies, pods, namespaces) -> str:
    """What render depends on, so a sync loop can skip pods' status-only changes (and, while there is no
    NetworkPolicy, every change: the rules are then the same whatever the pods)."""
    if not policies:
        return "no policies"
    view = ([(p["metadata"].get("namespace"), p["metadata"]["name"], p["metadata"].get("resourceVersion"),
              p.get("spec")) for p in policies],
            [(n["metadata"]["name"], n["metadata"].get("labels")) for n in namespaces],
            [(p["metadata"].get("namespace"), p["metadata"]["name"], p["metadata"].get("labels"),
              (p.get("status") or {}).get("podIP"), (p.get("status") or {}).get("phase") in ("Succeeded", "Failed"),
              (p.get("spec") or {}).get("nodeName"),
              [c.get("ports") for c in (p.get("spec") or {}).get("containers") or []]) for p in pods])
    return hashlib.sha256(json.dumps(view, sort_keys=True, default=str).encode()).hexdigest()
