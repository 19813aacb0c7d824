"""kube-proxy's inputs as it sees them (upstream's ServiceChangeTracker and EndpointSliceCache results):
v1 Services as one record per service port it programs, discovery.k8s.io/v1 EndpointSlices as the
endpoints of each service port (and which of them a port's chains use), and the counts that decide
on large cluster mode.
"""

from __future__ import annotations

import functools
import ipaddress

from toycluster.proxy.names import port_proto_hash, service_port_name


@functools.lru_cache(maxsize=4096)
def canonical_cidr(value: str) -> str:
    """VALUE ("10.244.1.7/16 ") as a network ("10.244.0.0/16")."""
    return str(ipaddress.ip_network(value.strip(), strict=False))


def endpoints_by_port(slices, node_name):
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


# Labels that hide a Service from kube-proxy: its informers list and watch with the selector
# "!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless" (cmd/kube-proxy), so a
# Service with either label (any value) is, to kube-proxy, a Service that does not exist.
IGNORED_LABELS = ("service.kubernetes.io/service-proxy-name", "service.kubernetes.io/headless")


def proxied(svc: dict) -> bool:
    """Does kube-proxy see SVC at all (none of IGNORED_LABELS on it)?"""
    labels = (svc.get("metadata") or {}).get("labels") or {}
    return not any(label in labels for label in IGNORED_LABELS)


def service_ports(services):
    """One record per service port that kube-proxy programs (skipping headless and ExternalName Services,
    and those with a label in IGNORED_LABELS)."""
    out = []
    for svc in services:
        meta, spec = svc.get("metadata") or {}, svc.get("spec") or {}
        if not proxied(svc):
            continue
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
                "source_ranges": [canonical_cidr(r) for r in spec.get("loadBalancerSourceRanges") or []
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


def categorize_endpoints(eps, sp):
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


def endpoint_count(services: list[dict], slices: list[dict]) -> int:
    """Endpoints summed over the service ports kube-proxy programs (ready or not), as upstream counts them to
    decide on large cluster mode (more than proxier.LARGE_CLUSTER_ENDPOINTS)."""
    return endpoints_total(endpoints_by_port(slices, ""), service_ports(services))


def endpoints_total(endpoints: dict, ports: list) -> int:
    """The endpoints of PORTS (service port records) in ENDPOINTS (as endpoints_by_port gives them)."""
    return sum(len(endpoints.get(sp["key"], [])) for sp in ports)


def port_sort_key(sp) -> tuple:
    """The order of service ports in the top-level chains (upstream sorts by servicePortName)."""
    return sp["name"], sp["proto"]
