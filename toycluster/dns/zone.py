"""CoreDNS's kubernetes plugin, the pure part: the cluster zone computed from Services, EndpointSlices and Pods.

build_zone() turns API objects into records, as data (name -> type -> rdata tuples), so two zones compare
equal when they would answer alike; Zone.lookup() answers one question from them, as CoreDNS's kubernetes
plugin does (Kubernetes DNS-based service discovery, schema 1.1.0, "pods insecure", ttl 30):

  <svc>.<ns>.svc.<zone>                 A  ClusterIP, or every ready endpoint of a headless Service
  <host>.<svc>.<ns>.svc.<zone>          A  one endpoint of a headless Service: <host> is its hostname (a pod with
                                           spec.hostname whose spec.subdomain is the Service) or its dashed IP
  _<port>._<proto>.<svc>.<ns>.svc.<zone>  SRV for each named port (headless: one per endpoint)
  <svc>.<ns>.svc.<zone>                 SRV one per port (CoreDNS's extension), CNAME for ExternalName
  <d>.<c>.<b>.<a>.in-addr.arpa          PTR ClusterIPs and headless endpoints
  <a>-<b>-<c>-<d>.<ns>.pod.<zone>       A  any address, in an existing namespace (deprecated in the spec)
  dns-version.<zone>                    TXT "1.1.0";  <zone> SOA and NS ns.dns.<zone> (A: the kube-dns ClusterIP)

Names that exist without the type asked (including empty non-terminals such as svc.<zone> and <ns>.svc.<zone>)
answer NOERROR with no records and the SOA in authority; other names in the zone NXDOMAIN with the SOA.
"""
from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass

from dnslib import AAAA, CNAME, NS, PTR, RR, SOA, SRV, TXT, A

from toycluster.wire.dns import (NOERROR, NXDOMAIN, SERVFAIL, T_A, T_ANY, T_CNAME, T_NS, T_PTR, T_SOA, T_SRV, T_TXT,
                                 T_AAAA, Answer)

SCHEMA_VERSION = "1.1.0"
DEFAULT_DOMAIN = "cluster.local"
DEFAULT_TTL = 30                     # kubeadm's Corefile: `kubernetes cluster.local ... { ttl 30 }`
VERSION_TTL = 28800                  # what CoreDNS gives dns-version's TXT
REVERSE_ZONES = ("in-addr.arpa", "ip6.arpa")
_RDATA = {T_A: lambda t: A(t[0]), T_AAAA: lambda t: AAAA(t[0]), T_NS: lambda t: NS(t[0]),
          T_CNAME: lambda t: CNAME(t[0]), T_PTR: lambda t: PTR(t[0]), T_SRV: lambda t: SRV(*t[:3], target=t[3]),
          T_TXT: lambda t: TXT(list(t)), T_SOA: lambda t: SOA(t[0], t[1], t[2:])}


def reverse_name(ip: str) -> str:
    return ".".join(reversed(ip.split("."))) + ".in-addr.arpa" if ":" not in ip else \
        ipaddress.ip_address(ip).reverse_pointer


def dashed(ip: str) -> str:
    return ip.replace(".", "-").replace(":", "-")


def _ready_endpoints(svc: dict, slices: list[dict], pods: dict) -> list[tuple[str, str, list]]:
    """(ip, hostname, [(port name, port, protocol)]) for every endpoint DNS publishes, sorted by IP."""
    publish = bool(svc["spec"].get("publishNotReadyAddresses"))
    name, out, seen = svc["metadata"]["name"], [], set()
    for sl in slices:
        ports = [(p.get("name") or "", p.get("port"), (p.get("protocol") or "TCP")) for p in sl.get("ports") or []]
        for ep in sl.get("endpoints") or []:
            cond = ep.get("conditions") or {}
            if not (publish or (cond.get("ready", True) and not cond.get("terminating"))):
                continue                                # upstream's rule for an endpoint's `ready`
            host = ep.get("hostname")
            ref = ep.get("targetRef") or {}
            if not host and ref.get("kind") == "Pod":     # what the EndpointSlice controller fills in upstream
                hostname, subdomain = pods.get((ref.get("namespace"), ref.get("name")), (None, None))
                host = hostname if hostname and subdomain == name else None
            for ip in ep.get("addresses") or []:
                if ":" in ip or (ip, host) in seen:
                    continue
                seen.add((ip, host))
                out.append((ip, (host or dashed(ip)).lower(), ports))
    return sorted(out, key=lambda e: (ipaddress.ip_address(e[0]), e[1]))


def zone_records(services: list[dict], slices: list[dict], pods: list[dict], namespaces,
                 domain: str = DEFAULT_DOMAIN, ttl: int = DEFAULT_TTL) -> dict:
    """{name: {qtype: [(ttl, rdata tuple), ...]}} for the cluster's objects (no SOA: it carries a serial)."""
    records: dict[str, dict[int, list]] = {}

    def add(name, qtype, rdata, t=ttl):
        rrs = records.setdefault(name.lower(), {}).setdefault(qtype, [])
        if (t, rdata) not in rrs:
            rrs.append((t, rdata))

    by_service: dict[tuple, list] = {}
    for sl in slices:
        meta = sl.get("metadata") or {}
        owner = (meta.get("labels") or {}).get("kubernetes.io/service-name")
        if owner and sl.get("addressType", "IPv4") == "IPv4":
            by_service.setdefault((meta.get("namespace"), owner), []).append(sl)
    pod_names = {(p["metadata"].get("namespace"), p["metadata"]["name"]):
                 ((p.get("spec") or {}).get("hostname"), (p.get("spec") or {}).get("subdomain")) for p in pods}
    add(f"dns-version.{domain}", T_TXT, (SCHEMA_VERSION,), VERSION_TTL)
    for zone in (domain, *REVERSE_ZONES):
        add(zone, T_NS, (f"ns.dns.{zone}.",))
    for svc in sorted(services, key=lambda s: (s["metadata"].get("namespace", ""), s["metadata"]["name"])):
        meta, spec = svc["metadata"], svc.get("spec") or {}
        ns, name = meta.get("namespace") or "default", meta["name"]
        fqdn = f"{name}.{ns}.svc.{domain}"
        cip = spec.get("clusterIP") or ""
        if spec.get("type") == "ExternalName":
            add(fqdn, T_CNAME, (spec.get("externalName", "").rstrip(".").lower() + ".",))
        elif cip not in ("", "None"):
            if ns == "kube-system" and name == "kube-dns":
                add(f"ns.dns.{domain}", T_A, (cip,))
            add(fqdn, T_A, (cip,))
            add(reverse_name(cip), T_PTR, (fqdn + ".",))
            ports = spec.get("ports") or []
            for p in ports:
                proto = (p.get("protocol") or "TCP").lower()
                add(fqdn, T_SRV, (0, 100 // len(ports), p["port"], fqdn + "."))
                if p.get("name"):
                    add(f"_{p['name']}._{proto}.{fqdn}", T_SRV, (0, 100, p["port"], fqdn + "."))
        elif cip == "None":
            endpoints = _ready_endpoints(svc, by_service.get((ns, name), []), pod_names)
            srv: dict[str, list] = {}
            for ip, host, ports in endpoints:
                add(fqdn, T_A, (ip,))
                add(f"{host}.{fqdn}", T_A, (ip,))
                add(reverse_name(ip), T_PTR, (f"{host}.{fqdn}.",))
                for pname, port, proto in ports:
                    srv.setdefault(fqdn, []).append((port, f"{host}.{fqdn}."))
                    if pname:
                        srv.setdefault(f"_{pname}._{proto.lower()}.{fqdn}", []).append((port, f"{host}.{fqdn}."))
            for owner, targets in srv.items():
                for port, target in targets:
                    add(owner, T_SRV, (0, 100 // len(targets), port, target))
    return records


def _ancestors(name: str, apex: str):
    while name != apex and "." in name:
        name = name.split(".", 1)[1]
        yield name


@dataclass
class Zone:
    """The records of the cluster zone and the reverse zones, ready to answer questions."""
    records: dict
    namespaces: frozenset
    domain: str = DEFAULT_DOMAIN
    ttl: int = DEFAULT_TTL
    serial: int = 0

    def __post_init__(self):
        self.apexes = (self.domain, *REVERSE_ZONES)
        self._labels = {apex: tuple(apex.encode().split(b".")) for apex in self.apexes}
        names = set(self.records) | set(self.apexes) | {f"svc.{self.domain}", f"pod.{self.domain}"}
        names |= {f"{ns}.{kind}.{self.domain}" for ns in self.namespaces for kind in ("svc", "pod")}
        self.existing = set(names)
        for name in names:
            self.existing.update(_ancestors(name, self._apex_of(name) or name))
        self.soa = {apex: RR(apex, T_SOA, ttl=self.ttl, rdata=SOA(f"ns.dns.{apex}", f"hostmaster.{apex}",
                                                                   (self.serial, 7200, 1800, 86400, self.ttl)))
                    for apex in self.apexes}
        self._rrs: dict[str, dict | None] = {}       # dnslib records, made when a name is first asked for

    def rrsets(self, name: str) -> dict | None:
        """{qtype: [RR]} of NAME, or None if it owns no records."""
        try:
            return self._rrs[name]
        except KeyError:
            pass
        types = self.records.get(name)
        rrsets = None if types is None else {
            qtype: [RR(name, qtype, ttl=t, rdata=_RDATA[qtype](rd)) for t, rd in rrs] for qtype, rrs in types.items()}
        if name in self.soa:
            rrsets = {**(rrsets or {}), T_SOA: [self.soa[name]]}
        self._rrs[name] = rrsets
        return rrsets

    def _apex_of(self, name: str) -> str | None:
        for apex in self.apexes:
            if name == apex or name.endswith("." + apex):
                return apex
        return None

    def apex_of_labels(self, labels: tuple) -> str | None:
        for apex, tail in self._labels.items():
            if labels[-len(tail):] == tail:
                return apex
        return None

    def lookup(self, labels: tuple, qtype: int) -> Answer:
        """Answer QTYPE for the name given as lowercase labels (bytes), CNAMEs chased inside the zone."""
        apex = self.apex_of_labels(labels)
        if apex is None:
            return Answer(SERVFAIL, authoritative=False, forward=True)
        if any(b"." in label for label in labels):
            return self._negative(apex, NXDOMAIN)
        try:
            name = b".".join(labels).decode("ascii")
        except UnicodeDecodeError:
            return self._negative(apex, NXDOMAIN)
        chain, deps = [], set()
        for _ in range(8):                                   # CNAME chains inside the zone, loops cut short
            got = self._one(name, apex, labels, qtype, deps)
            got.answer[:0] = chain
            got.deps = deps
            cname = (self.rrsets(name) or {}).get(T_CNAME)
            if not cname or qtype in (T_CNAME, T_ANY) or got.answer[len(chain):] or got.rcode:
                return got
            chain.append(cname[0])
            target = str(cname[0].rdata.label).rstrip(".").lower()
            apex = self._apex_of(target)
            if apex is None:                                 # an ExternalName outside the cluster
                return Answer(NOERROR, answer=chain, chase=target, deps=deps)
            name, labels = target, tuple(target.encode().split(b"."))
        return Answer(SERVFAIL, answer=chain, deps=deps)

    def _one(self, name: str, apex: str, labels: tuple, qtype: int, deps: set) -> Answer:
        deps.add(name)
        rrsets = self.rrsets(name)
        if rrsets is None and apex == self.domain:
            rrsets = self._pod_record(name, labels)
        if rrsets is None:
            if name in self.existing:
                return self._negative(apex, NOERROR)
            answer = self._negative(apex, NXDOMAIN)
            answer.forward = apex != self.domain             # fallthrough in-addr.arpa ip6.arpa
            return answer
        if T_CNAME in rrsets and qtype not in (T_CNAME, T_ANY):
            return Answer(NOERROR)                           # lookup() follows it
        found = [rr for rrs in rrsets.values() for rr in rrs] if qtype == T_ANY else rrsets.get(qtype, [])
        if not found:
            return self._negative(apex, NOERROR)
        if qtype == T_SOA and name == apex:
            return Answer(NOERROR, answer=list(found))
        extra = []
        for rr in found:
            if rr.rtype in (T_SRV, T_NS):
                target = str(rr.rdata.target if rr.rtype == T_SRV else rr.rdata.label).rstrip(".").lower()
                deps.add(target)
                extra += [x for x in (self.rrsets(target) or {}).get(T_A, []) if x not in extra]
        return Answer(NOERROR, answer=list(found), additional=extra)

    def _pod_record(self, name: str, labels: tuple) -> dict | None:
        """`1-2-3-4.<ns>.pod.<zone>` in an existing namespace ("pods insecure": the address is not checked)."""
        n = len(self._labels[self.domain])
        if len(labels) != n + 3 or labels[2] != b"pod" or labels[1].decode() not in self.namespaces:
            return None
        parts = labels[0].split(b"-")
        if len(parts) != 4 or not all(p.isdigit() and len(p) <= 3 and (p == b"0" or p[:1] != b"0")
                                      and int(p) < 256 for p in parts):
            return None
        return {T_A: [RR(name, T_A, ttl=self.ttl, rdata=A(b".".join(parts).decode()))]}

    def _negative(self, apex: str, rcode: int) -> Answer:
        return Answer(rcode, authority=[self.soa[apex]])


def build_zone(services: list[dict], slices: list[dict], pods: list[dict], namespaces=(),
               domain: str = DEFAULT_DOMAIN, ttl: int = DEFAULT_TTL, serial: int | None = None) -> Zone:
    """The zone for these API objects; NAMESPACES are the names of the cluster's Namespaces."""
    spaces = frozenset(namespaces) | {s["metadata"].get("namespace") or "default" for s in services}
    return Zone(zone_records(services, slices, pods, spaces, domain, ttl), spaces, domain, ttl,
                int(time.time()) if serial is None else serial)


def changed_names(old: "Zone", new: "Zone") -> set | None:
    """The names whose records differ between two zones; None when anything else differs (namespaces, domain)."""
    if (old.namespaces, old.domain, old.ttl) != (new.namespaces, new.domain, new.ttl):
        return None
    a, b = old.records, new.records
    return {name for name in a.keys() | b.keys() if a.get(name) != b.get(name)}
