"""Names answered from the API, for `trace --explain` (no query sent): what CoreDNS or the public DNS would say.

A pod's resolver tries its search path (`<ns>.svc.cluster.local svc.cluster.local cluster.local`, ndots 5)
against the cluster DNS, which knows Services (`<svc>.<ns>.svc.cluster.local`: the ClusterIP, or the ready
endpoints of a headless one); the user's asks the public DNS, which knows the hosts of our Ingresses (a wildcard
answering one more label) at the load balancer's address, and `<svc>.<ns>.lb.example` (or the external-dns
hostname annotation) at a LoadBalancer Service's EXTERNAL-IP. Same answers as the servers (dns/zone.py,
cloud/public_dns.py), in fewer lines: only A records, only what a trace needs.
"""
from __future__ import annotations

from toycluster.cloud import lb
from toycluster.lab.trace_model import DnsQuery
from toycluster.lab.trace_request import expansions

CLUSTER_DOMAIN = "cluster.local"


def cluster_answer(state, qname: str) -> list[str]:
    parts = qname.lower().rstrip(".").split(".")
    if len(parts) != 5 or parts[2:] != ["svc", "cluster", "local"]:
        return []
    svc = state.service(parts[1], parts[0])
    if svc is None:
        return []
    ip = (svc.get("spec") or {}).get("clusterIP")
    if ip and ip != "None":
        return [ip]
    out = []
    for sl in state.slices:
        meta = sl["metadata"]
        if meta.get("namespace", "default") == parts[1] and \
                (meta.get("labels") or {}).get("kubernetes.io/service-name") == parts[0]:
            out += [ep["addresses"][0] for ep in sl.get("endpoints") or []
                    if ep.get("addresses") and (ep.get("conditions") or {}).get("ready", True) is not False]
    return out


def public_answer(state, qname: str) -> list[str]:
    name = qname.lower().rstrip(".")
    for ing in state.objects.get("Ingress", []):
        for rule in (ing.get("spec") or {}).get("rules") or []:
            host = (rule.get("host") or "").lower()
            if host == name or (host.startswith("*.") and name.split(".", 1)[-1] == host[2:] and "." in name):
                return [lb.lb_ip(state.cfg)]
    for svc in state.services:
        meta, spec = svc["metadata"], svc.get("spec") or {}
        if spec.get("type") != "LoadBalancer":
            continue
        names = {f"{meta['name']}.{meta.get('namespace', 'default')}.{lb.PUBLIC_DOMAIN}"}
        names |= {h.strip().rstrip(".").lower() for h in ((meta.get("annotations") or {}).get(
            "external-dns.alpha.kubernetes.io/hostname") or "").split(",") if h.strip()}
        if name in names:
            return [i["ip"] for i in ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
                    if i.get("ip")]
    return []


def resolve(state, src, name: str) -> tuple[str | None, list[DnsQuery]]:
    """(address, [the query that answered, with the names tried]) as SRC's resolver would get them."""
    if src.kind == "pod":
        ns = src.name.split("/")[0]
        conf = {"search": [f"{ns}.svc.{CLUSTER_DOMAIN}", f"svc.{CLUSTER_DOMAIN}", CLUSTER_DOMAIN], "ndots": 5}
        server, answer = state.cfg.dns_ip(), cluster_answer
    elif src.kind == "user":
        conf, server, answer = {"search": [], "ndots": 1}, lb.dns_ip(state.cfg), public_answer
    else:
        return None, []
    tried = []
    names = expansions(name, conf)
    for qname in names:
        tried.append(qname)
        ips = answer(state, qname)
        if ips or qname == names[-1]:
            return (ips[0] if ips else None), [DnsQuery(qname, "A", server, ips, "NOERROR" if ips else "NXDOMAIN",
                                                        list(tried))]
    return None, []
