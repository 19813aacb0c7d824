"""Network policy agent (as kube-router / Calico do): NetworkPolicies rendered into filter rules on every node.

Render, then apply, as kube-proxy: ``render`` turns networking.k8s.io/v1 NetworkPolicy, Pod and Namespace
dicts into the filter table one node needs, as data in kube_proxy.render's shape ({"filter": {chain: [rule
tokens]}}); ``apply`` writes it with iptables_apply (one commit), owning only the chains named below, so
kube-proxy's rules in the same table are never touched; ``explain`` (network_policy_why) walks the rendered
rules with one packet and says which policies and rules decide it.

Chains (kube-router's names; every rule carries a comment naming the pod or the policy and rule):
  FORWARD           -> KUBE-NWPLCY-FORWARD, kept as the first rule (above kube-proxy's jumps, whose
                       KUBE-FORWARD accepts masquerade-marked packets before any policy could see them)
  KUBE-NWPLCY-FORWARD  replies and established connections RETURN (stateful); then, for each pod on this
                       node isolated for egress, ``-s POD -j KUBE-POD-FW-<hash(ns/pod/egress)>``; then for
                       each pod isolated for ingress, ``-d POD -j KUBE-POD-FW-<hash(ns/pod/ingress)>``
  KUBE-POD-FW-<16>  one pod, one direction: traffic to itself RETURNs; a jump to each policy chain that
                       selects it, each followed by "mark set? RETURN"; finally REJECT
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
kube-router; upstream leaves this to the implementation.  Denied packets are REJECTed (icmp port
unreachable, as kube-router), so a blocked client fails at once instead of timing out.  Plain per-IP rules,
no ipset: the kernel has ip_set but no ipset tool here, CONFIG_IP_SET_MAX is 256 sets per namespace, and a
set match carries a per-namespace set index that would defeat iptables_apply's rule-blob cache.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import ipaddress
import json
import socket

from .objects import label_selector_matches

__all__ = ["render", "render_all", "apply", "explain", "OWNED_PREFIXES", "TOP_CHAIN", "EGRESS_MARK",
           "INGRESS_MARK", "policy_types", "compile_inputs", "pod_chain", "policy_chain"]

OWNED_PREFIXES = ("KUBE-NWPLCY-", "KUBE-POD-FW-")
TOP_CHAIN = "KUBE-NWPLCY-FORWARD"
EGRESS_MARK, INGRESS_MARK = "0x10000", "0x20000"
MARKS = {"egress": EGRESS_MARK, "ingress": INGRESS_MARK}
NS_NAME_LABEL = "kubernetes.io/metadata.name"
_DIRS = (("egress", "Egress", "to"), ("ingress", "Ingress", "from"))


@functools.lru_cache(maxsize=65536)
def _hash16(text: str) -> str:
    return base64.b32encode(hashlib.sha256(text.encode()).digest()[:10]).decode()


def pod_chain(ns: str, pod: str, direction: str) -> str:
    return "KUBE-POD-FW-" + _hash16(f"{ns}/{pod}/{direction}")


def policy_chain(ns: str, name: str, direction: str, resolution: tuple = ()) -> str:
    return "KUBE-NWPLCY-" + _hash16(f"{ns}/{name}/{direction}" + (f"/{resolution}" if resolution else ""))


def _comment(text: str) -> list[str]:
    data = text.encode()
    if len(data) > 255:   # xt_comment holds 255 bytes
        text = data[:250].decode(errors="ignore") + " ..."
    return ["-m", "comment", "--comment", text]


def policy_types(policy: dict) -> list[str]:
    """spec.policyTypes, or upstream's default: Ingress, plus Egress when there are egress rules."""
    spec = policy.get("spec") or {}
    if spec.get("policyTypes"):
        return list(spec["policyTypes"])
    return ["Ingress"] + (["Egress"] if spec.get("egress") else [])


# ---------------------------------------------------------------- inputs

class Inputs:
    """Pods (with IPs, not finished), namespace labels, and each policy's selection, computed once for all nodes."""

    def __init__(self, policies, pods, namespaces):
        self.ns_labels = {n["metadata"]["name"]: (n["metadata"].get("labels") or {}) for n in namespaces}
        self.pods, self.by_ns, self.by_ip = [], {}, {}
        for p in pods:
            meta, status = p["metadata"], p.get("status") or {}
            ip = status.get("podIP")
            if not ip or ":" in ip or status.get("phase") in ("Succeeded", "Failed"):
                continue
            ports = {}
            for c in (p.get("spec") or {}).get("containers") or []:
                for cp in c.get("ports") or []:
                    if cp.get("name"):
                        ports.setdefault((cp["name"], (cp.get("protocol") or "TCP").upper()), cp["containerPort"])
            rec = {"ns": meta.get("namespace") or "default", "name": meta["name"], "ip": ip,
                   "node": (p.get("spec") or {}).get("nodeName"), "labels": meta.get("labels") or {},
                   "ports": ports}
            rec["id"], rec["lkey"] = f"{rec['ns']}/{rec['name']}", tuple(sorted(rec["labels"].items()))
            try:
                rec["int"] = int.from_bytes(socket.inet_aton(ip), "big")
            except OSError:
                continue
            self.pods.append(rec)
            self.by_ns.setdefault(rec["ns"], []).append(rec)
            self.by_ip.setdefault(ip, rec)
        self.policies, self.chains, self._memo = [], {}, {}
        for pol in sorted(policies, key=lambda o: (o["metadata"].get("namespace") or "default", o["metadata"]["name"])):
            ns, spec = pol["metadata"].get("namespace") or "default", pol.get("spec") or {}
            selected = self.select(spec.get("podSelector") or {}, self.by_ns.get(ns, []))
            types = policy_types(pol)
            entry = {"ns": ns, "name": pol["metadata"]["name"], "id": f"{ns}/{pol['metadata']['name']}",
                     "selected": selected, "dirs": {}}
            for direction, ptype, peer_key in _DIRS:
                if ptype in types:
                    entry["dirs"][direction] = [self._rule(ns, r, peer_key) for r in spec.get(direction) or []]
            self.policies.append(entry)
        self.isolating = {}   # (pod id, direction) -> [policy entries], in name order
        for pol in self.policies:
            for direction in pol["dirs"]:
                for r in pol["selected"]:
                    self.isolating.setdefault((r["id"], direction), []).append(pol)

    def ns_of(self, ns: str) -> dict:
        return self.ns_labels.get(ns) or {NS_NAME_LABEL: ns}

    def select(self, selector, records):
        """The pod records SELECTOR matches (memoised per distinct label set: pods of one app share one)."""
        skey, memo, out = json.dumps(selector, sort_keys=True), self._memo, []
        for r in records:
            hit = memo.get((skey, r["lkey"]))
            if hit is None:
                hit = memo[(skey, r["lkey"])] = label_selector_matches(selector, r["labels"])
            if hit:
                out.append(r)
        return out

    def _rule(self, ns, rule, peer_key):
        peers = None if not rule.get(peer_key) else [self._peer(ns, p) for p in rule[peer_key]]
        ports = None if not rule.get("ports") else [_port(p) for p in rule["ports"]]
        return {"peers": peers, "ports": ports}

    def _peer(self, ns, peer):
        if peer.get("ipBlock") is not None:
            block = peer["ipBlock"]
            cidr = ipaddress.ip_network(block["cidr"], strict=False)
            if cidr.version != 4:
                return {"desc": f"ipBlock {block['cidr']} (IPv6: no IPv6 here)", "cidrs": [], "pods": None}
            return {"desc": f"ipBlock {cidr}" + (f" except {', '.join(block['except'])}" if block.get("except")
                                                 else ""),
                    "cidrs": cidr_minus(str(cidr), block.get("except") or []), "pods": None}
        nsel, psel = peer.get("namespaceSelector"), peer.get("podSelector")
        if nsel is None:
            pods = self.select(psel or {}, self.by_ns.get(ns, []))
            how = "podSelector"
        else:
            pods = [r for n, rs in self.by_ns.items() if label_selector_matches(nsel, self.ns_of(n))
                    for r in (rs if psel is None else self.select(psel, rs))]
            how = "namespaceSelector" + ("+podSelector" if psel is not None else "")
        return {"desc": how, "cidrs": None, "pods": pods, "addresses": _collapse(pods, how)}


def _port(p: dict) -> dict:
    proto = (p.get("protocol") or "TCP").upper()
    port, end = p.get("port"), p.get("endPort")
    return {"proto": proto, "name": port if isinstance(port, str) else None,
            "range": None if port is None or isinstance(port, str) else (int(port), int(end or port))}


def _collapse(pods, how):
    """[(CIDR, "pod ns/name (how)" or "pods a, b, ... (how)")]: runs of consecutive pod IPs as the fewest
    CIDRs that cover exactly them (pods of one node get consecutive addresses), so a namespaceSelector over
    hundreds of pods is not hundreds of rules."""
    by_int = sorted((r["int"], r["id"]) for r in pods)
    out, i, n = [], 0, len(by_int)
    while i < n:
        start = by_int[i][0]
        size = 1
        while size < 256 and start % (size * 2) == 0 and i + size * 2 <= n \
                and by_int[i + size * 2 - 1][0] == start + size * 2 - 1:
            size *= 2
        ids = [pid for _, pid in by_int[i:i + size]]
        out.append((f"{socket.inet_ntoa(start.to_bytes(4, 'big'))}/{32 - size.bit_length() + 1}",
                    (f"pod {ids[0]}" if size == 1 else "pods " + ", ".join(ids)) + f" ({how})"))
        i += size
    return out


def cidr_minus(cidr: str, excepts: list[str]) -> list[str]:
    """CIDR without the EXCEPT blocks, as plain CIDRs (what one -s/-d per rule can match)."""
    nets = [ipaddress.ip_network(cidr, strict=False)]
    for ex in excepts:
        ex_net = ipaddress.ip_network(ex, strict=False)
        out = []
        for n in nets:
            if ex_net.version != n.version or not ex_net.overlaps(n):
                out.append(n)
            elif n.subnet_of(ex_net):
                continue
            else:
                out.extend(n.address_exclude(ex_net))
        nets = out
    return [str(n) for n in ipaddress.collapse_addresses(nets)] if nets else []


def compile_inputs(policies, pods, namespaces) -> Inputs:
    return Inputs(policies, pods, namespaces)


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
                        rules.append(([peer_flag, addr] if addr else []) + proto_part + _comment(
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
    filt["FORWARD"].append(_comment("network policies of the pods on this node (toycluster network policy agent)")
                           + ["-j", TOP_CHAIN])
    top = filt[TOP_CHAIN]
    top.append(_comment("network policies: replies and established connections pass (stateful)")
               + ["-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "RETURN"])
    local = sorted((r for r in inp.pods if r["node"] == node), key=lambda r: r["id"])
    policy_chains: dict[str, list] = {}
    pod_chains: dict[str, list] = {}
    for direction, flag, other in (("egress", "-s", "-d"), ("ingress", "-d", "-s")):
        for pod in local:
            pols = inp.isolating.get((pod["id"], direction))
            if not pols:
                continue
            chain = pod_chain(pod["ns"], pod["name"], direction)
            top.append([flag, pod["ip"] + "/32"] + _comment(f"{pod['id']}: {direction} isolation")
                       + ["-j", chain])
            rules = [[other, pod["ip"] + "/32"] + _comment(f"{pod['id']}: traffic to itself is not filtered")
                     + ["-j", "RETURN"]]
            for pol in pols:
                res = _resolution(pol, direction, pod)
                target = policy_chain(pol["ns"], pol["name"], direction, res)
                if target not in inp.chains:            # the same on every node: made once
                    inp.chains[target] = _policy_rules(inp, pol, direction, pod)
                policy_chains[target] = inp.chains[target]
                rules.append(_comment(f"{pod['id']} {direction}: policy {pol['id']}") + ["-j", target])
                rules.append(_comment(f"{pod['id']} {direction}: allowed by policy {pol['id']}")
                             + ["-m", "mark", "--mark", f"{MARKS[direction]}/{MARKS[direction]}", "-j", "RETURN"])
            rules.append(_comment(f"{pod['id']}: {direction} isolated and no policy allows it")
                         + ["-j", "REJECT"])
            pod_chains[chain] = rules
    for name in sorted(pod_chains):
        filt[name] = pod_chains[name]
    for name in sorted(policy_chains):
        filt[name] = policy_chains[name]
    return {"filter": filt}


# ---------------------------------------------------------------- apply and explain

def apply(state: dict, previous: dict | None = None) -> dict:
    """Write ``state`` into the current network namespace's filter table, owning only KUBE-NWPLCY-* and
    KUBE-POD-FW-* chains and keeping the FORWARD jump first; see iptables_apply.apply."""
    from . import iptables_apply
    return iptables_apply.apply(state, previous, owned_prefixes=OWNED_PREFIXES, pin_first=True)


def explain(src, dst, port, proto, policies, pods, namespaces):
    """(verdict, reasons) for one new connection; see network_policy_why.explain."""
    from . import network_policy_why
    return network_policy_why.explain(src, dst, port, proto, policies, pods, namespaces)


def fingerprint(policies, pods, namespaces) -> str:
    """What render depends on, so a sync loop can skip pods' status-only changes."""
    view = ([(p["metadata"].get("namespace"), p["metadata"]["name"], p["metadata"].get("resourceVersion"),
              p.get("spec")) for p in policies],
            [(n["metadata"]["name"], n["metadata"].get("labels")) for n in namespaces],
            [(p["metadata"].get("namespace"), p["metadata"]["name"], p["metadata"].get("labels"),
              (p.get("status") or {}).get("podIP"), (p.get("status") or {}).get("phase") in ("Succeeded", "Failed"),
              (p.get("spec") or {}).get("nodeName"),
              [c.get("ports") for c in (p.get("spec") or {}).get("containers") or []]) for p in pods])
    return hashlib.sha256(json.dumps(view, sort_keys=True, default=str).encode()).hexdigest()
