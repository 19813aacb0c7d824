"""kube-proxy (iptables mode), its render: Services and EndpointSlices as the iptables rules of one node.

Render, then apply.  ``render`` turns v1 Service and discovery.k8s.io/v1 EndpointSlice dicts into the
desired ``nat`` and ``filter`` tables as data; ``kernel/iptables_save.py`` prints that data exactly as
``iptables-save`` prints it; ``sync.apply_rules`` writes it (kernel/iptables_apply.py), one commit per
table; ``trace.py`` follows one packet through the rendered rules.

The layout follows upstream kube-proxy, pkg/proxy/iptables/proxier.go (syncProxyRules): chain names
KUBE-SVC/SVL/EXT/FW/SEP-<16 chars of base32(sha256)> (names.py), one rule per endpoint with ``-m statistic
--probability 1/n, 1/(n-1), ...`` over endpoints sorted by "ip:port" string, hairpin masquerade in each
KUBE-SEP chain, REJECT in the filter table for services without endpoints.  Above 1,000 endpoints
(upstream's largeClusterMode) the per-endpoint rules (KUBE-SEP chains, and the jumps to them) carry no
comment, as upstream's, which shrinks the table by a quarter.  Deliberate departures (each also in the
report): every other rule carries ``-m comment`` (upstream leaves a few bare); no nfacct counters, no
KUBE-PROXY-CANARY, no topology hints.

A rule is a list of argv tokens in the order iptables-save prints them (``! -s``, ``-d``, ``-p``, then
the matches, then ``-j``), with option values as kube-proxy passes them (``--probability 0.3333333333``,
``--or-mark 0x4000``); ``iptables_save.save_tokens`` rewrites the few that the kernel reports differently.
"""

from __future__ import annotations

import functools
import ipaddress

from toycluster.kernel.iptables_chains import BUILTINS
from toycluster.kernel.iptables_save import comment
from toycluster.proxy.names import endpoint_chain_name
from toycluster.proxy.service_ports import (canonical_cidr, categorize_endpoints, endpoints_by_port,
                                            endpoints_total, service_ports)

__all__ = ["render", "port_piece", "assemble", "LARGE_CLUSTER_ENDPOINTS"]

MASQ_MARK = "0x4000"  # upstream default --iptables-masquerade-bit=14
# Upstream's largeClusterEndpointsThreshold: with more endpoints than this over all service ports, the
# per-endpoint rules are written without their comment (each `-m comment` is 288 bytes in the kernel).
LARGE_CLUSTER_ENDPOINTS = 1000

# Top-level chains in the order upstream writes their chain lines.
_FILTER_TOP = ["KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-FORWARD", "KUBE-NODEPORTS",
               "KUBE-PROXY-FIREWALL", "KUBE-FIREWALL"]
_NAT_TOP = ["KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ"]

_NEW = ["-m", "conntrack", "--ctstate", "NEW"]
# (table, source built-in chain, extra args, comment, target): upstream iptablesJumpChains plus the
# kubelet's KUBE-FIREWALL jumps (iptablesKubeletJumpChains).  Upstream prepends each one, so the first
# of a chain ends up lowest; the lists below are in the order iptables-save shows them.
_JUMPS = [
    ("filter", "INPUT", _NEW, "kubernetes load balancer firewall", "KUBE-PROXY-FIREWALL"),
    ("filter", "INPUT", [], "kubernetes health check service ports", "KUBE-NODEPORTS"),
    ("filter", "INPUT", _NEW, "kubernetes externally-visible service portals", "KUBE-EXTERNAL-SERVICES"),
    ("filter", "INPUT", [], "kubernetes localhost nodeports firewall", "KUBE-FIREWALL"),
    ("filter", "FORWARD", _NEW, "kubernetes load balancer firewall", "KUBE-PROXY-FIREWALL"),
    ("filter", "FORWARD", [], "kubernetes forwarding rules", "KUBE-FORWARD"),
    ("filter", "FORWARD", _NEW, "kubernetes service portals", "KUBE-SERVICES"),
    ("filter", "FORWARD", _NEW, "kubernetes externally-visible service portals", "KUBE-EXTERNAL-SERVICES"),
    ("filter", "OUTPUT", _NEW, "kubernetes load balancer firewall", "KUBE-PROXY-FIREWALL"),
    ("filter", "OUTPUT", _NEW, "kubernetes service portals", "KUBE-SERVICES"),
    ("filter", "OUTPUT", [], "kubernetes localhost nodeports firewall", "KUBE-FIREWALL"),
    ("nat", "PREROUTING", [], "kubernetes service portals", "KUBE-SERVICES"),
    ("nat", "OUTPUT", [], "kubernetes service portals", "KUBE-SERVICES"),
    ("nat", "POSTROUTING", [], "kubernetes postrouting rules", "KUBE-POSTROUTING"),
]


def _probability(n: int) -> str:
    return "%0.10f" % (1.0 / n)  # upstream computeProbability()


@functools.lru_cache(maxsize=262144)
def _host(ip: str) -> str:
    return str(ipaddress.IPv4Address(ip.strip())) + "/32"


def _endpoint_comment(text: str, large: bool) -> list[str]:
    """Upstream appendServiceCommentLocked(): no comment in a large cluster."""
    return [] if large else comment(text)


# ---------------------------------------------------------------- render

def render(services: list[dict], slices: list[dict], *, node_name: str, node_ip: str,
           cluster_cidr: str) -> dict:
    """Desired state of this node's kube-proxy rules: {"nat": {chain: [rule]}, "filter": {...}}.

    Each rule is a list of argv tokens without "-A CHAIN".  Built-in chains hold only our jump rules.
    Dicts keep chain order: built-ins, then top-level chains, then per-service chains.  Rendered as one
    piece per service port (``port_piece``), then put together (``assemble``); ``changes.ClusterRender``
    keeps the pieces of unchanged Services between syncs and calls the same two functions.
    """
    cidr = canonical_cidr(cluster_cidr)
    endpoints = endpoints_by_port(slices, node_name)
    ports = service_ports(services)
    large = endpoints_total(endpoints, ports) > LARGE_CLUSTER_ENDPOINTS
    return assemble([port_piece(sp, endpoints.get(sp["key"], []), cidr, node_ip, large) for sp in ports])


def port_piece(sp, eps, cidr, node_ip, large=False) -> tuple[list, dict]:
    """One service port's rules: ([(table, top-level chain, [rule])...], {service chain: [rule]}); LARGE:
    the cluster has more than LARGE_CLUSTER_ENDPOINTS endpoints."""
    tops = {"filter": {c: [] for c in _FILTER_TOP}, "nat": {c: [] for c in _NAT_TOP}}
    chains: dict[str, list] = {}
    _render_port(sp, eps, cidr, node_ip, tops["filter"], tops["nat"], chains, large)
    return [(t, c, rules) for t, top in tops.items() for c, rules in top.items() if rules], chains


def assemble(pieces) -> dict:
    """The whole state from the service ports' pieces, in port order (see ``port_sort_key``).  The
    per-service rule lists are shared with the pieces, not copied: nobody may change them in place."""
    state = {t: {c: [] for c in BUILTINS[t]} for t in ("filter", "nat")}
    filt, nat = state["filter"], state["nat"]
    for table, src, extra, text, target in _JUMPS:
        state[table][src].append(list(extra) + comment(text) + ["-j", target])
    for c in _FILTER_TOP:
        filt[c] = []
    for c in _NAT_TOP:
        nat[c] = []

    nat["KUBE-POSTROUTING"] += [
        ["-m", "comment", "--comment", "kubernetes: not marked for masquerade",
         "-m", "mark", "!", "--mark", f"{MASQ_MARK}/{MASQ_MARK}", "-j", "RETURN"],
        comment("kubernetes: clear the masquerade mark") + ["-j", "MARK", "--xor-mark", MASQ_MARK],
        comment("kubernetes service traffic requiring SNAT") + ["-j", "MASQUERADE", "--random-fully"]]
    nat["KUBE-MARK-MASQ"].append(comment("kubernetes: mark for masquerade in KUBE-POSTROUTING")
                                 + ["-j", "MARK", "--or-mark", MASQ_MARK])
    # localhostNodePorts (upstream default): NodePorts answer on 127.0.0.1, which needs
    # route_localnet=1 in the node's namespace and this guard (kubelet's and kube-proxy's KUBE-FIREWALL).
    filt["KUBE-FIREWALL"].append(["!", "-s", "127.0.0.0/8", "-d", "127.0.0.0/8"]
                                 + comment("block incoming localnet connections")
                                 + ["-m", "conntrack", "!", "--ctstate", "RELATED,ESTABLISHED,DNAT",
                                    "-j", "DROP"])

    service_chains: dict[str, list] = {}
    for tops, chains in pieces:
        for table, chain, rules in tops:
            state[table][chain] += rules
        service_chains.update(chains)

    nat["KUBE-SERVICES"].append(
        comment("kubernetes service nodeports; NOTE: this must be the last rule in this chain")
        + ["-m", "addrtype", "--dst-type", "LOCAL", "-j", "KUBE-NODEPORTS"])
    filt["KUBE-FORWARD"] += [
        comment("kubernetes forwarding: drop conntrack INVALID") + ["-m", "conntrack", "--ctstate",
                                                                      "INVALID", "-j", "DROP"],
        comment("kubernetes forwarding rules") + ["-m", "mark", "--mark", f"{MASQ_MARK}/{MASQ_MARK}",
                                                   "-j", "ACCEPT"],
        comment("kubernetes forwarding conntrack rule") + ["-m", "conntrack", "--ctstate",
                                                            "RELATED,ESTABLISHED", "-j", "ACCEPT"]]
    for name in sorted(service_chains):
        nat[name] = service_chains[name]
    return state


def _render_port(sp, eps, cidr, node_ip, filt, nat, chains, large):
    """One service port, as an iteration of upstream syncProxyRules' loop: which chains it needs (from its
    endpoints, categorized), its rules in the top-level chains, its own chains, then its endpoints'."""
    cluster_eps, local_eps, reachable, has_any = categorize_endpoints(eps, sp)
    externally = bool(sp["node_port"] or sp["lb_ips"] or sp["external_ips"])
    uses_cluster_chain = bool(cluster_eps) and (not sp["internal_local"]
                                                or (externally and not sp["external_local"]))
    uses_local_chain = bool(local_eps) and (sp["internal_local"] or (externally and sp["external_local"]))
    has_internal = has_any and (bool(local_eps) or not sp["internal_local"])
    has_external = has_any and (bool(local_eps) or not sp["external_local"])
    uses_ext_chain = has_any and externally
    uses_fw = has_any and bool(sp["lb_ips"]) and bool(sp["source_ranges"])
    _top_level_rules(sp, filt, nat, has_any, has_internal, has_external, uses_fw)
    _service_chains(sp, cidr, node_ip, chains, has_internal, uses_ext_chain, has_external, uses_fw)
    if uses_cluster_chain:
        chains.setdefault(sp["svc"], []).extend(_to_endpoints(sp, cluster_eps, large))
    if uses_local_chain:
        chains.setdefault(sp["svl"], []).extend(_to_endpoints(sp, local_eps, large))
    name, proto = sp["name"], sp["proto"]
    for e in reachable:
        sep = endpoint_chain_name(name, proto, e["ep"])
        affinity = ["-m", "recent", "--name", sep, "--set"] if sp["affinity_timeout"] else []
        chains[sep] = [["-s", _host(e["ip"])] + _endpoint_comment(name, large) + ["-j", "KUBE-MARK-MASQ"],
                       ["-p", proto] + _endpoint_comment(name, large) + affinity
                       + ["-m", proto, "-j", "DNAT", "--to-destination", e["ep"]]]


def _vip(ip, proto, port, text, target, extra=()):
    """A rule for traffic to a service's address and port: ``-d IP/32 -p PROTO ... --dport PORT -j TARGET``."""
    return (list(extra) + ["-d", _host(ip), "-p", proto] + comment(text)
            + ["-m", proto, "--dport", port, "-j", target])


def _top_level_rules(sp, filt, nat, has_any, has_internal, has_external, uses_fw):
    """The service port's rules in the top-level chains: nat jumps to its chains from its cluster IP,
    external IPs, load balancer IPs and node port; in filter, REJECT when it has no endpoints (DROP when
    none is local and its traffic policy is Local), the load balancer's source ranges, its health check."""
    name, proto, port = sp["name"], sp["proto"], str(sp["port"])
    internal_chain = sp["svl"] if sp["internal_local"] else sp["svc"]
    lb_chain = sp["fw"] if uses_fw else sp["ext"]
    if not has_any:
        int_target = ext_target = "REJECT"
        int_comment = ext_comment = f"{name} has no endpoints"
    else:
        int_target = ext_target = "DROP"
        int_comment = ext_comment = f"{name} has no local endpoints"

    if has_internal:
        nat["KUBE-SERVICES"].append(_vip(sp["cluster_ip"], proto, port, f"{name} cluster IP", internal_chain))
    else:
        filt["KUBE-SERVICES"].append(_vip(sp["cluster_ip"], proto, port, int_comment, int_target))
    for ip in sp["external_ips"]:
        if has_any:
            nat["KUBE-SERVICES"].append(_vip(ip, proto, port, f"{name} external IP", sp["ext"]))
        if not has_external:
            filt["KUBE-EXTERNAL-SERVICES"].append(_vip(ip, proto, port, ext_comment, ext_target))
    for ip in sp["lb_ips"]:
        if has_any:
            nat["KUBE-SERVICES"].append(_vip(ip, proto, port, f"{name} loadbalancer IP", lb_chain))
        if uses_fw:
            filt["KUBE-PROXY-FIREWALL"].append(
                _vip(ip, proto, port, f"{name} traffic not accepted by {sp['fw']}", "DROP"))
    if not has_external:
        for ip in sp["lb_ips"]:
            filt["KUBE-EXTERNAL-SERVICES"].append(_vip(ip, proto, port, ext_comment, ext_target))
    if sp["node_port"]:
        np_match = ["-m", proto, "--dport", str(sp["node_port"])]
        if has_any:
            nat["KUBE-NODEPORTS"].append(["-p", proto] + comment(name) + np_match + ["-j", sp["ext"]])
        if not has_external:
            filt["KUBE-EXTERNAL-SERVICES"].append(
                ["-p", proto] + comment(ext_comment) + ["-m", "addrtype", "--dst-type", "LOCAL"]
                + np_match + ["-j", ext_target])
    if sp["health_check_node_port"]:
        filt["KUBE-NODEPORTS"].append(["-p", "tcp"] + comment(f"{name} health check node port")
                                      + ["-m", "tcp", "--dport", str(sp["health_check_node_port"]),
                                         "-j", "ACCEPT"])


def _service_chains(sp, cidr, node_ip, chains, has_internal, uses_ext_chain, has_external, uses_fw):
    """The service port's own chains before its endpoint jumps: the masquerade of off-cluster traffic in
    its KUBE-SVC (or KUBE-SVL) chain, its KUBE-EXT chain for external traffic, its KUBE-FW chain for the
    load balancer's source ranges."""
    name, proto, port = sp["name"], sp["proto"], str(sp["port"])
    internal_chain = sp["svl"] if sp["internal_local"] else sp["svc"]
    external_policy_chain = sp["svl"] if sp["external_local"] else sp["svc"]
    if has_internal:  # masquerade off-cluster traffic to the VIP (LocalTrafficDetector by cluster CIDR)
        chains.setdefault(internal_chain, []).append(
            _vip(sp["cluster_ip"], proto, port, f"{name} cluster IP", "KUBE-MARK-MASQ", extra=["!", "-s", cidr]))
    if uses_ext_chain:
        ext = chains.setdefault(sp["ext"], [])
        if not sp["external_local"]:
            ext.append(comment(f"masquerade traffic for {name} external destinations")
                       + ["-j", "KUBE-MARK-MASQ"])
        else:
            ext += [["-s", cidr] + comment(f"pod traffic for {name} external destinations")
                    + ["-j", sp["svc"]],
                    comment(f"masquerade LOCAL traffic for {name} external destinations")
                    + ["-m", "addrtype", "--src-type", "LOCAL", "-j", "KUBE-MARK-MASQ"],
                    comment(f"route LOCAL traffic for {name} external destinations")
                    + ["-m", "addrtype", "--src-type", "LOCAL", "-j", sp["svc"]]]
        if has_external:
            which = "local" if sp["external_local"] else "cluster"
            ext.append(comment(f"{name} external destinations to {which} endpoints")
                       + ["-j", external_policy_chain])
    if uses_fw:
        fw = chains.setdefault(sp["fw"], [])
        allow_node = False
        for rng in sp["source_ranges"]:
            fw.append(["-s", rng] + comment(f"{name} loadbalancer IP") + ["-j", sp["ext"]])
            allow_node |= bool(node_ip) and ipaddress.ip_address(node_ip) in ipaddress.ip_network(rng)
        if allow_node:
            fw += [["-s", _host(ip)] + comment(f"{name} loadbalancer IP") + ["-j", sp["ext"]]
                   for ip in sp["lb_ips"]]
        fw.append(comment(f"other traffic to {name} will be dropped by KUBE-PROXY-FIREWALL"))

def _to_endpoints(sp, eps, large):
    """Upstream writeServiceToEndpointRules(): affinity checks first, then 1/n, 1/(n-1), ... picks."""
    rules, n = [], len(eps)
    if sp["affinity_timeout"]:
        for e in eps:
            sep = endpoint_chain_name(sp["name"], sp["proto"], e["ep"])
            rules.append(_endpoint_comment(f"{sp['name']} -> {e['ep']}", large)
                         + ["-m", "recent", "--name", sep, "--rcheck", "--seconds",
                            str(sp["affinity_timeout"]), "--reap", "-j", sep])
    for i, e in enumerate(eps):
        stat = ["-m", "statistic", "--mode", "random", "--probability", _probability(n - i)] \
            if i < n - 1 else []
        rules.append(_endpoint_comment(f"{sp['name']} -> {e['ep']}", large) + stat
                     + ["-j", endpoint_chain_name(sp["name"], sp["proto"], e["ep"])])
    return rules
