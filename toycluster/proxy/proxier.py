"""kube-proxy (iptables mode): Services and EndpointSlices rendered as iptables rules, applied per node.

Render, then apply.  ``render`` turns v1 Service and discovery.k8s.io/v1 EndpointSlice dicts into the
desired ``nat`` and ``filter`` tables as data; ``to_iptables_save`` prints that data exactly as
``iptables-save`` prints it; ``apply`` (in ``iptables_apply``) writes it with python-iptables, one commit
per table; ``trace`` (in ``kube_proxy_trace``) follows one packet through the rendered rules.

The layout follows upstream kube-proxy, pkg/proxy/iptables/proxier.go (syncProxyRules): chain names
KUBE-SVC/SVL/EXT/FW/SEP-<16 chars of base32(sha256)>, one rule per endpoint with ``-m statistic
--probability 1/n, 1/(n-1), ...`` over endpoints sorted by "ip:port" string, hairpin masquerade in each
KUBE-SEP chain, REJECT in the filter table for services without endpoints.  Above 1,000 endpoints
(upstream's largeClusterMode) the per-endpoint rules (KUBE-SEP chains, and the jumps to them) carry no
comment, as upstream's, which shrinks the table by a quarter.  Deliberate departures (each also in the
report): every other rule carries ``-m comment`` (upstream leaves a few bare); no nfacct counters, no
KUBE-PROXY-CANARY, no topology hints.

A rule is a list of argv tokens in the order iptables-save prints them (``! -s``, ``-d``, ``-p``, then
the matches, then ``-j``), with option values as kube-proxy passes them (``--probability 0.3333333333``,
``--or-mark 0x4000``); ``to_iptables_save`` rewrites the few that the kernel reports differently.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import ipaddress

__all__ = ["render", "to_iptables_save", "apply", "trace", "port_proto_hash",
           "service_port_name", "endpoint_chain_name", "rule_count_per_service"]

MASQ_MARK = "0x4000"  # upstream default --iptables-masquerade-bit=14
NAT_BUILTINS = ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING")
FILTER_BUILTINS = ("INPUT", "FORWARD", "OUTPUT")
BUILTINS = {"nat": NAT_BUILTINS, "filter": FILTER_BUILTINS}
# Chains of ours that may come and go; anything else is either a top-level chain (always present)
# or someone else's.  Same prefixes as upstream isServiceChainName().
SERVICE_CHAIN_PREFIXES = ("KUBE-SVC-", "KUBE-SVL-", "KUBE-EXT-", "KUBE-FW-", "KUBE-SEP-")
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


# ---------------------------------------------------------------- names (upstream hash scheme)

def _hash16(text: str) -> str:
    # 16 base32 characters are exactly the first 10 bytes of the digest
    return base64.b32encode(hashlib.sha256(text.encode()).digest()[:10]).decode()


@functools.lru_cache(maxsize=65536)
def port_proto_hash(svc_port_name: str, protocol: str) -> str:
    """First 16 chars of base32(sha256(servicePortName + protocol)), as upstream portProtoHash()."""
    return _hash16(svc_port_name + protocol.lower())


@functools.lru_cache(maxsize=262144)
def endpoint_chain_name(svc_port_name: str, protocol: str, endpoint: str) -> str:
    """KUBE-SEP-<hash of servicePortName + protocol + "ip:port">, as upstream servicePortEndpointChainName()."""
    return "KUBE-SEP-" + _hash16(svc_port_name + protocol.lower() + endpoint)


def service_port_name(namespace: str, name: str, port_name: str = "") -> str:
    """ServicePortName.String(): "ns/name:port", or "ns/name" for an unnamed port."""
    return f"{namespace}/{name}" + (f":{port_name}" if port_name else "")


def _probability(n: int) -> str:
    return "%0.10f" % (1.0 / n)  # upstream computeProbability()


@functools.lru_cache(maxsize=4096)
def _cidr(value: str) -> str:
    return str(ipaddress.ip_network(value.strip(), strict=False))


@functools.lru_cache(maxsize=262144)
def _host(ip: str) -> str:
    return str(ipaddress.IPv4Address(ip.strip())) + "/32"


def _comment(text: str) -> list[str]:
    return ["-m", "comment", "--comment", text]


def _endpoint_comment(text: str, large: bool) -> list[str]:
    """Upstream appendServiceCommentLocked(): no comment in a large cluster."""
    return [] if large else _comment(text)


# ---------------------------------------------------------------- inputs

def _endpoints_by_port(slices, node_name):
    """{(ns, svc, port name, PROTO): [endpoint dict sorted by "ip:port"]} as upstream's EndpointSliceCache."""
    table: dict[tuple, dict[str, dict]] = {}
    for sl in sorted(slices, key=lambda s: (s.get("metadata") or {}).get("name") or ""):
        meta = sl.get("metadata") or {}
        svc = (meta.get("labels") or {}).get("kubernetes.io/service-name")
        if not svc or sl.get("addressType", "IPv4") != "IPv4":
            continue
        ns = meta.get("namespace") or "default"
        for port in sl.get("ports") or []:
            if port.get("name") is None or not port.get("port"):
                continue  # upstream ignores nil names and port 0 (the API gives "" for unnamed)
            key = (ns, svc, port["name"], (port.get("protocol") or "TCP").upper())
            eps = table.setdefault(key, {})
            for ep in sl.get("endpoints") or []:
                if not ep.get("addresses"):
                    continue
                cond = ep.get("conditions") or {}
                ip = ep["addresses"][0]
                if ":" in ip:
                    continue
                local = bool(node_name) and ep.get("nodeName") == node_name
                info = {"ip": ip, "port": int(port["port"]), "ep": f"{ip}:{int(port['port'])}",
                        "local": local,
                        "ready": cond.get("ready") is None or bool(cond.get("ready")),
                        "serving": cond.get("serving") is None or bool(cond.get("serving")),
                        "terminating": bool(cond.get("terminating"))}
                if info["ep"] not in eps or local:
                    eps[info["ep"]] = info
    return {k: [v[e] for e in sorted(v)] for k, v in table.items()}


def _service_ports(services):
    """One record per service port that kube-proxy programs (skipping headless and ExternalName)."""
    out = []
    for svc in services:
        meta, spec = svc.get("metadata") or {}, svc.get("spec") or {}
        status = svc.get("status") or {}
        stype = spec.get("type") or "ClusterIP"
        cip = spec.get("clusterIP") or ""
        if stype == "ExternalName" or cip in ("", "None"):
            continue  # upstream ShouldSkipService()
        ns, name = meta.get("namespace") or "default", meta["name"]
        ext_ips = [ip for ip in spec.get("externalIPs") or [] if ":" not in ip]
        lb_ips = []
        if stype == "LoadBalancer":
            lb_ips = [i["ip"] for i in (status.get("loadBalancer") or {}).get("ingress") or []
                      if i.get("ip") and ":" not in i["ip"] and i.get("ipMode", "VIP") != "Proxy"]
        externally = stype in ("NodePort", "LoadBalancer") or (stype == "ClusterIP" and ext_ips)
        ext_local = bool(externally) and spec.get("externalTrafficPolicy") == "Local"
        affinity = spec.get("sessionAffinity") == "ClientIP"
        timeout = (((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {})
                   .get("timeoutSeconds") or 10800)
        for port in spec.get("ports") or []:
            proto = (port.get("protocol") or "TCP").upper()
            pname = port.get("name") or ""
            spn = service_port_name(ns, name, pname)
            h = port_proto_hash(spn, proto.lower())
            node_port = int(port.get("nodePort") or 0) if stype in ("NodePort", "LoadBalancer") else 0
            out.append({
                "key": (ns, name, pname, proto), "name": spn, "proto": proto.lower(),
                "cluster_ip": cip, "port": int(port["port"]), "node_port": node_port,
                "external_ips": ext_ips, "lb_ips": lb_ips,
                "source_ranges": [_cidr(r) for r in spec.get("loadBalancerSourceRanges") or []
                                  if ":" not in r] if stype == "LoadBalancer" else [],
                "health_check_node_port": int(spec.get("healthCheckNodePort") or 0)
                if (stype == "LoadBalancer" and ext_local) else 0,
                "internal_local": spec.get("internalTrafficPolicy") == "Local",
                "external_local": ext_local,
                "affinity_timeout": int(timeout) if affinity else 0,
                "svc": "KUBE-SVC-" + h, "svl": "KUBE-SVL-" + h, "ext": "KUBE-EXT-" + h, "fw": "KUBE-FW-" + h,
            })
    out.sort(key=port_sort_key)
    return out


def _categorize(eps, sp):
    """Upstream proxy.CategorizeEndpoints() without topology hints: (cluster, local, reachable, any)."""
    externally = bool(sp["node_port"] or sp["lb_ips"] or sp["external_ips"])
    uses_cluster = not sp["internal_local"] or (externally and not sp["external_local"])
    uses_local = sp["internal_local"] or (externally and sp["external_local"])
    cluster, local, has_any, fallback_local = [], [], False, False
    if uses_cluster:
        cluster = [e for e in eps if e["ready"]] or [e for e in eps if e["serving"] and e["terminating"]]
        has_any = bool(cluster)
    if not uses_local:
        return cluster, local, cluster, has_any
    if any(e["ready"] or (e["serving"] and e["terminating"]) for e in eps):
        has_any = True
    local = [e for e in eps if e["local"] and e["ready"]]
    if not local:
        local = [e for e in eps if e["local"] and e["serving"] and e["terminating"]]
        fallback_local = bool(local)
    if not uses_cluster:
        return cluster, local, local, has_any
    if not fallback_local:
        return cluster, local, cluster, has_any
    merged = {e["ep"]: e for e in cluster + local}
    return cluster, local, [merged[k] for k in sorted(merged)], has_any


# ---------------------------------------------------------------- render

def render(services: list[dict], slices: list[dict], *, node_name: str, node_ip: str,
           cluster_cidr: str) -> dict:
    """Desired state of this node's kube-proxy rules: {"nat": {chain: [rule]}, "filter": {...}}.

    Each rule is a list of argv tokens without "-A CHAIN".  Built-in chains hold only our jump rules.
    Dicts keep chain order: built-ins, then top-level chains, then per-service chains.  Rendered as one
    piece per service port (``port_piece``), then put together (``assemble``); ``kube_proxy_cache``
    keeps the pieces of unchanged Services between syncs and calls the same two functions.
    """
    cidr = _cidr(cluster_cidr)
    endpoints = _endpoints_by_port(slices, node_name)
    ports = _service_ports(services)
    large = endpoints_total(endpoints, ports) > LARGE_CLUSTER_ENDPOINTS
    return assemble([port_piece(sp, endpoints.get(sp["key"], []), cidr, node_ip, large) for sp in ports])


def endpoint_count(services: list[dict], slices: list[dict]) -> int:
    """Endpoints summed over the service ports kube-proxy programs (ready or not), as upstream counts them to
    decide on large cluster mode (more than LARGE_CLUSTER_ENDPOINTS)."""
    return endpoints_total(_endpoints_by_port(slices, ""), _service_ports(services))


def endpoints_total(endpoints: dict, ports: list) -> int:
    """The endpoints of PORTS (service port records) in ENDPOINTS (as _endpoints_by_port gives them)."""
    return sum(len(endpoints.get(sp["key"], [])) for sp in ports)


def port_sort_key(sp) -> tuple:
    """The order of service ports in the top-level chains (upstream sorts by servicePortName)."""
    return sp["name"], sp["proto"]


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
    for table, src, extra, comment, target in _JUMPS:
        state[table][src].append(list(extra) + _comment(comment) + ["-j", target])
    for c in _FILTER_TOP:
        filt[c] = []
    for c in _NAT_TOP:
        nat[c] = []

    nat["KUBE-POSTROUTING"] += [
        ["-m", "comment", "--comment", "kubernetes: not marked for masquerade",
         "-m", "mark", "!", "--mark", f"{MASQ_MARK}/{MASQ_MARK}", "-j", "RETURN"],
        _comment("kubernetes: clear the masquerade mark") + ["-j", "MARK", "--xor-mark", MASQ_MARK],
        _comment("kubernetes service traffic requiring SNAT") + ["-j", "MASQUERADE", "--random-fully"]]
    nat["KUBE-MARK-MASQ"].append(_comment("kubernetes: mark for masquerade in KUBE-POSTROUTING")
                                 + ["-j", "MARK", "--or-mark", MASQ_MARK])
    # localhostNodePorts (upstream default): NodePorts answer on 127.0.0.1, which needs
    # route_localnet=1 in the node's namespace and this guard (kubelet's and kube-proxy's KUBE-FIREWALL).
    filt["KUBE-FIREWALL"].append(["!", "-s", "127.0.0.0/8", "-d", "127.0.0.0/8"]
                                 + _comment("block incoming localnet connections")
                                 + ["-m", "conntrack", "!", "--ctstate", "RELATED,ESTABLISHED,DNAT",
                                    "-j", "DROP"])

    service_chains: dict[str, list] = {}
    for tops, chains in pieces:
        for table, chain, rules in tops:
            state[table][chain] += rules
        service_chains.update(chains)

    nat["KUBE-SERVICES"].append(
        _comment("kubernetes service nodeports; NOTE: this must be the last rule in this chain")
        + ["-m", "addrtype", "--dst-type", "LOCAL", "-j", "KUBE-NODEPORTS"])
    filt["KUBE-FORWARD"] += [
        _comment("kubernetes forwarding: drop conntrack INVALID") + ["-m", "conntrack", "--ctstate",
                                                                      "INVALID", "-j", "DROP"],
        _comment("kubernetes forwarding rules") + ["-m", "mark", "--mark", f"{MASQ_MARK}/{MASQ_MARK}",
                                                   "-j", "ACCEPT"],
        _comment("kubernetes forwarding conntrack rule") + ["-m", "conntrack", "--ctstate",
                                                            "RELATED,ESTABLISHED", "-j", "ACCEPT"]]
    for name in sorted(service_chains):
        nat[name] = service_chains[name]
    return state


def _render_port(sp, eps, cidr, node_ip, filt, nat, chains, large):
    name, proto, port = sp["name"], sp["proto"], str(sp["port"])
    cluster_eps, local_eps, reachable, has_any = _categorize(eps, sp)
    externally = bool(sp["node_port"] or sp["lb_ips"] or sp["external_ips"])
    uses_cluster_chain = bool(cluster_eps) and (not sp["internal_local"]
                                                or (externally and not sp["external_local"]))
    uses_local_chain = bool(local_eps) and (sp["internal_local"] or (externally and sp["external_local"]))
    internal_chain = sp["svl"] if sp["internal_local"] else sp["svc"]
    has_internal = has_any and (bool(local_eps) or not sp["internal_local"])
    external_policy_chain = sp["svl"] if sp["external_local"] else sp["svc"]
    has_external = has_any and (bool(local_eps) or not sp["external_local"])
    uses_ext_chain = has_any and externally
    uses_fw = has_any and bool(sp["lb_ips"]) and bool(sp["source_ranges"])
    lb_chain = sp["fw"] if uses_fw else sp["ext"]
    if not has_any:
        int_target = ext_target = "REJECT"
        int_comment = ext_comment = f"{name} has no endpoints"
    else:
        int_target = ext_target = "DROP"
        int_comment = ext_comment = f"{name} has no local endpoints"

    def vip(ip, comment, target, extra=()):
        return (list(extra) + ["-d", _host(ip), "-p", proto] + _comment(comment)
                + ["-m", proto, "--dport", port, "-j", target])

    if has_internal:
        nat["KUBE-SERVICES"].append(vip(sp["cluster_ip"], f"{name} cluster IP", internal_chain))
    else:
        filt["KUBE-SERVICES"].append(vip(sp["cluster_ip"], int_comment, int_target))
    for ip in sp["external_ips"]:
        if has_any:
            nat["KUBE-SERVICES"].append(vip(ip, f"{name} external IP", sp["ext"]))
        if not has_external:
            filt["KUBE-EXTERNAL-SERVICES"].append(vip(ip, ext_comment, ext_target))
    for ip in sp["lb_ips"]:
        if has_any:
            nat["KUBE-SERVICES"].append(vip(ip, f"{name} loadbalancer IP", lb_chain))
        if uses_fw:
            filt["KUBE-PROXY-FIREWALL"].append(
                vip(ip, f"{name} traffic not accepted by {sp['fw']}", "DROP"))
    if not has_external:
        for ip in sp["lb_ips"]:
            filt["KUBE-EXTERNAL-SERVICES"].append(vip(ip, ext_comment, ext_target))
    if sp["node_port"]:
        np_match = ["-m", proto, "--dport", str(sp["node_port"])]
        if has_any:
            nat["KUBE-NODEPORTS"].append(["-p", proto] + _comment(name) + np_match + ["-j", sp["ext"]])
        if not has_external:
            filt["KUBE-EXTERNAL-SERVICES"].append(
                ["-p", proto] + _comment(ext_comment) + ["-m", "addrtype", "--dst-type", "LOCAL"]
                + np_match + ["-j", ext_target])
    if sp["health_check_node_port"]:
        filt["KUBE-NODEPORTS"].append(["-p", "tcp"] + _comment(f"{name} health check node port")
                                      + ["-m", "tcp", "--dport", str(sp["health_check_node_port"]),
                                         "-j", "ACCEPT"])

    if has_internal:  # masquerade off-cluster traffic to the VIP (LocalTrafficDetector by cluster CIDR)
        chains.setdefault(internal_chain, []).append(
            vip(sp["cluster_ip"], f"{name} cluster IP", "KUBE-MARK-MASQ", extra=["!", "-s", cidr]))
    if uses_ext_chain:
        ext = chains.setdefault(sp["ext"], [])
        if not sp["external_local"]:
            ext.append(_comment(f"masquerade traffic for {name} external destinations")
                       + ["-j", "KUBE-MARK-MASQ"])
        else:
            ext += [["-s", cidr] + _comment(f"pod traffic for {name} external destinations")
                    + ["-j", sp["svc"]],
                    _comment(f"masquerade LOCAL traffic for {name} external destinations")
                    + ["-m", "addrtype", "--src-type", "LOCAL", "-j", "KUBE-MARK-MASQ"],
                    _comment(f"route LOCAL traffic for {name} external destinations")
                    + ["-m", "addrtype", "--src-type", "LOCAL", "-j", sp["svc"]]]
        if has_external:
            which = "local" if sp["external_local"] else "cluster"
            ext.append(_comment(f"{name} external destinations to {which} endpoints")
                       + ["-j", external_policy_chain])
    if uses_fw:
        fw = chains.setdefault(sp["fw"], [])
        allow_node = False
        for rng in sp["source_ranges"]:
            fw.append(["-s", rng] + _comment(f"{name} loadbalancer IP") + ["-j", sp["ext"]])
            allow_node |= bool(node_ip) and ipaddress.ip_address(node_ip) in ipaddress.ip_network(rng)
        if allow_node:
            fw += [["-s", _host(ip)] + _comment(f"{name} loadbalancer IP") + ["-j", sp["ext"]]
                   for ip in sp["lb_ips"]]
        fw.append(_comment(f"other traffic to {name} will be dropped by KUBE-PROXY-FIREWALL"))
    if uses_cluster_chain:
        chains.setdefault(sp["svc"], []).extend(_to_endpoints(sp, cluster_eps, large))
    if uses_local_chain:
        chains.setdefault(sp["svl"], []).extend(_to_endpoints(sp, local_eps, large))
    for e in reachable:
        sep = endpoint_chain_name(name, proto, e["ep"])
        affinity = ["-m", "recent", "--name", sep, "--set"] if sp["affinity_timeout"] else []
        chains[sep] = [["-s", _host(e["ip"])] + _endpoint_comment(name, large) + ["-j", "KUBE-MARK-MASQ"],
                       ["-p", proto] + _endpoint_comment(name, large) + affinity
                       + ["-m", proto, "-j", "DNAT", "--to-destination", e["ep"]]]


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


def rule_count_per_service(state: dict) -> dict[str, int]:
    """nat + filter rules per service port (upstream number_generated_rules): those that name it in their
    comment, and those without one in a chain of its own (a KUBE-SEP chain in a large cluster), whose
    service port is the one named by the rules that jump to it."""
    def named(rule):
        text = rule[rule.index("--comment") + 1] if "--comment" in rule else ""
        return next((w for w in text.split() if "/" in w and not w[0].isdigit()), None)

    owner: dict[tuple, str] = {}
    for _ in range(4):                            # KUBE-SERVICES -> EXT -> SVC -> SEP at the most
        for tname, table in state.items():
            for chain, rules in table.items():
                for rule in rules:
                    target = rule[rule.index("-j") + 1] if "-j" in rule else ""
                    name = named(rule) or owner.get((tname, chain))
                    if name and target.startswith(SERVICE_CHAIN_PREFIXES):
                        owner.setdefault((tname, target), name)
    counts: dict[str, int] = {}
    for tname, table in state.items():
        for chain, rules in table.items():
            for rule in rules:
                name = named(rule) or chain.startswith(SERVICE_CHAIN_PREFIXES) and owner.get((tname, chain))
                if name:
                    counts[name] = counts.get(name, 0) + 1
    return counts


# ---------------------------------------------------------------- iptables-save text

_QUOTE_FREE = set("_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _save_string(value: str) -> str:
    """xtables_save_string(): bare if only [A-Za-z0-9_-], else double-quoted with \\ before " \\ '."""
    if value and set(value) <= _QUOTE_FREE:
        return value
    return '"' + "".join("\\" + c if c in "\"\\'" else c for c in value) + '"'


def save_tokens(rule: list[str]) -> list[str]:
    """The tokens iptables-save prints for a rule we wrote (values the kernel reports differently)."""
    out, i = [], 0
    while i < len(rule):
        tok = rule[i]
        if tok == "--probability":  # stored as round(p * 2^31), printed with %.11f
            out += [tok, "%.11f" % (round(float(rule[i + 1]) * 0x80000000) / 0x80000000)]
            i += 2
            continue
        if tok == "recent":  # libxt_recent prints the command first and its defaults
            j = i + 1
            opts = []
            while j < len(rule) and rule[j] not in ("-m", "-j"):
                opts.append(rule[j])
                j += 1
            name = opts[opts.index("--name") + 1]
            rest = [o for k, o in enumerate(opts) if o != "--name" and (k == 0 or opts[k - 1] != "--name")]
            out += ["recent"] + rest + ["--name", name, "--mask", "255.255.255.255", "--rsource"]
            i = j
            continue
        if tok in ("--or-mark", "--xor-mark"):
            mask = rule[i + 1] if tok == "--or-mark" else "0x0"
            out += ["--set-xmark", f"{rule[i + 1]}/{mask}"]
            i += 2
            continue
        out.append(tok)
        if tok == "REJECT" and rule[i - 1] == "-j" and "--reject-with" not in rule:
            out += ["--reject-with", "icmp-port-unreachable"]
        i += 1
    return out


def to_iptables_save(state: dict) -> str:
    """The tables as iptables-save prints them (without its "# Generated" lines): for each table the
    built-in chains with policy ACCEPT, then the other chains sorted by name (libiptc keeps them
    sorted), then the rules chain by chain in that order.  Filter first, then nat, as upstream writes."""
    lines = []
    for table in [t for t in ("filter", "nat") if t in state] + \
                 sorted(t for t in state if t not in ("filter", "nat")):
        chains = state[table]
        builtins = list(BUILTINS.get(table, ()))
        users = sorted(c for c in chains if c not in builtins)
        lines.append("*" + table)
        lines += [f":{c} ACCEPT [0:0]" for c in builtins]
        lines += [f":{c} - [0:0]" for c in users]
        for c in builtins + users:
            for rule in chains.get(c, []):
                toks = save_tokens(rule)
                text = []
                for k, tok in enumerate(toks):
                    text.append(_save_string(tok) if k and toks[k - 1] == "--comment" else tok)
                lines.append(" ".join(["-A", c] + text))
        lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def apply(state: dict, previous: dict | None = None, opened: dict | None = None, verify: dict | None = None) -> dict:
    """Write ``state`` into the current network namespace's legacy tables; see iptables_apply.apply."""
    from toycluster.kernel import iptables_apply
    return iptables_apply.apply(state, previous, opened=opened, verify=verify)


def trace(state: dict, *, src: str, dst: str, dport: int, proto: str = "tcp",
          from_local_process: bool = False, local_ips=()) -> list[str]:
    """Follow one new connection through the rendered rules; see kube_proxy_trace.trace."""
    from toycluster.proxy import trace as kube_proxy_trace
    return kube_proxy_trace.trace(state, src=src, dst=dst, dport=dport, proto=proto,
                                  from_local_process=from_local_process, local_ips=local_ips)
