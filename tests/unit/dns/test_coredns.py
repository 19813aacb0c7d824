"""Cluster DNS without root: the zone (dns_zone), the messages (wire/dns.py), the templates (responder) and the
server's helpers (coredns, forward, log, watch)."""
import random
import socket
import struct
import threading
import time

import pytest
from dnslib import EDNS0, QTYPE, RCODE, DNSRecord

from toycluster.api import validation
from toycluster.dns import coredns, forward, log as dns_log, watch as dns_watch
from toycluster.dns import zone as dns_zone
from toycluster.dns.responder import Responder
from toycluster.wire import dns as dns_wire
from toycluster.wire.dns import parse_query

DOMAIN = "cluster.local"


# ---------------------------------------------------------------- a small cluster
def svc(name, ns="default", ip="10.96.0.20", ports=(("http", 80, "TCP"),), **spec):
    body = {"clusterIP": ip, "ports": [dict({"port": p, "protocol": pr}, **({"name": n} if n else {}))
                                       for n, p, pr in ports]}
    body.update(spec)
    return {"kind": "Service", "metadata": {"name": name, "namespace": ns}, "spec": body}


def eps(service, endpoints, ns="default", ports=(("http", 8080, "TCP"),)):
    """endpoints: (ip, ready, pod name, extra conditions)"""
    return {"kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"name": f"{service}-abcde", "namespace": ns,
                         "labels": {"kubernetes.io/service-name": service}},
            "ports": [{"name": n, "port": p, "protocol": pr} for n, p, pr in ports],
            "endpoints": [{"addresses": [ip], "conditions": {"ready": ready, **(extra or {})},
                           "targetRef": {"kind": "Pod", "name": pod, "namespace": ns}}
                          for ip, ready, pod, extra in endpoints]}


def pod(name, ns="default", hostname=None, subdomain=None):
    spec = {k: v for k, v in (("hostname", hostname), ("subdomain", subdomain)) if v}
    return {"kind": "Pod", "metadata": {"name": name, "namespace": ns}, "spec": spec}


SERVICES = [
    svc("web"),
    svc("multi", ip="10.96.0.21", ports=(("http", 80, "TCP"), ("dns", 53, "UDP"))),
    svc("unnamed", ip="10.96.0.22", ports=(("", 8080, "TCP"),)),
    svc("kube-dns", "kube-system", "10.96.0.10", (("dns", 53, "UDP"), ("dns-tcp", 53, "TCP"))),
    svc("db", ip="None", ports=(("pg", 5432, "TCP"),)),
    svc("empty", ip="None"),
    svc("tolerant", ip="None", publishNotReadyAddresses=True),
    svc("ext", ip=None, ports=(), type="ExternalName", externalName="www.example.com"),
    svc("alias", ip=None, ports=(), type="ExternalName", externalName="web.default.svc.cluster.local."),
    svc("loop1", ip=None, ports=(), type="ExternalName", externalName="loop2.default.svc.cluster.local"),
    svc("loop2", ip=None, ports=(), type="ExternalName", externalName="loop1.default.svc.cluster.local"),
]
SLICES = [
    eps("db", [("10.244.1.5", True, "db-0", None), ("10.244.2.7", True, "db-1", None),
               ("10.244.2.9", False, "db-2", None), ("10.244.1.8", True, "db-3", {"terminating": True})],
        ports=(("pg", 5432, "TCP"),)),
    eps("empty", [("10.244.1.30", False, "e-0", None)]),
    eps("tolerant", [("10.244.1.40", False, "t-0", None)]),
    eps("web", [("10.244.1.50", True, "w-0", None)]),
]
PODS = [pod("db-0", hostname="db-0", subdomain="db"), pod("db-1", hostname="other", subdomain="not-db")]


@pytest.fixture(scope="module")
def zone():
    return dns_zone.build_zone(SERVICES, SLICES, PODS, ["default", "kube-system", "quiet"], serial=42)


def ask(zone, name, qtype="A", **kw):
    """(parsed reply, Reply) for one question answered by a Responder over ZONE."""
    q = DNSRecord.question(name, qtype)
    for key, value in kw.items():
        setattr(q.header, key, value)
    reply = Responder(zone).respond(bytes(q.pack()))
    return DNSRecord.parse(reply.wire), reply


def rdata(msg, section="rr"):
    return sorted(str(rr.rdata) for rr in getattr(msg, section))


def lookup(zone, name, qtype):
    return zone.lookup(tuple(name.lower().encode().split(b".")), getattr(QTYPE, qtype))


# ---------------------------------------------------------------- records
def test_clusterip_service_a_and_answer_flags(zone):
    msg, reply = ask(zone, "web.default.svc.cluster.local")
    assert rdata(msg) == ["10.96.0.20"] and msg.rr[0].ttl == 30
    assert (msg.header.qr, msg.header.aa, msg.header.rd, msg.header.ra, msg.header.rcode) == (1, 1, 1, 0, 0)
    assert reply.log == '"A IN web.default.svc.cluster.local. udp 47 false 512" NOERROR qr,aa,rd 63'


def test_srv_for_named_ports_only_with_the_service_a_as_additional(zone):
    msg, _ = ask(zone, "_http._tcp.web.default.svc.cluster.local", "SRV")
    assert rdata(msg) == ["0 100 80 web.default.svc.cluster.local."]
    assert rdata(msg, "ar") == ["10.96.0.20"]
    assert rdata(ask(zone, "_dns._udp.multi.default.svc.cluster.local", "SRV")[0]) == \
        ["0 100 53 multi.default.svc.cluster.local."]
    assert ask(zone, "_dns._tcp.multi.default.svc.cluster.local", "SRV")[0].header.rcode == RCODE.NXDOMAIN
    assert ask(zone, "_8080._tcp.unnamed.default.svc.cluster.local", "SRV")[0].header.rcode == RCODE.NXDOMAIN


def test_srv_on_the_service_name_lists_every_port_as_coredns_does(zone):
    msg, _ = ask(zone, "multi.default.svc.cluster.local", "SRV")
    assert rdata(msg) == ["0 50 53 multi.default.svc.cluster.local.", "0 50 80 multi.default.svc.cluster.local."]


def test_ptr_for_cluster_ips(zone):
    assert rdata(ask(zone, "20.0.96.10.in-addr.arpa", "PTR")[0]) == ["web.default.svc.cluster.local."]
    assert rdata(ask(zone, "10.0.96.10.in-addr.arpa", "PTR")[0]) == ["kube-dns.kube-system.svc.cluster.local."]


def test_headless_answers_ready_endpoints_only(zone):
    msg, _ = ask(zone, "db.default.svc.cluster.local")
    assert rdata(msg) == ["10.244.1.5", "10.244.2.7"]     # not ready and terminating ones are left out


def test_headless_endpoint_names_hostname_or_dashed_ip(zone):
    assert rdata(ask(zone, "db-0.db.default.svc.cluster.local")[0]) == ["10.244.1.5"]
    assert rdata(ask(zone, "10-244-2-7.db.default.svc.cluster.local")[0]) == ["10.244.2.7"]
    # a hostname counts only when the pod's subdomain is this Service (as the EndpointSlice controller decides)
    assert ask(zone, "other.db.default.svc.cluster.local")[0].header.rcode == RCODE.NXDOMAIN
    assert ask(zone, "10-244-1-5.db.default.svc.cluster.local")[0].header.rcode == RCODE.NXDOMAIN
    assert ask(zone, "10-244-2-9.db.default.svc.cluster.local")[0].header.rcode == RCODE.NXDOMAIN


def test_headless_srv_one_per_endpoint_with_targets_that_resolve(zone):
    msg, _ = ask(zone, "_pg._tcp.db.default.svc.cluster.local", "SRV")
    assert rdata(msg) == ["0 50 5432 10-244-2-7.db.default.svc.cluster.local.",
                          "0 50 5432 db-0.db.default.svc.cluster.local."]
    assert rdata(msg, "ar") == ["10.244.1.5", "10.244.2.7"]
    for rr in msg.rr:
        assert rdata(ask(zone, str(rr.rdata.target))[0])


def test_headless_ptr_names_the_endpoint(zone):
    assert rdata(ask(zone, "5.1.244.10.in-addr.arpa", "PTR")[0]) == ["db-0.db.default.svc.cluster.local."]
    assert rdata(ask(zone, "7.2.244.10.in-addr.arpa", "PTR")[0]) == ["10-244-2-7.db.default.svc.cluster.local."]


def test_headless_without_ready_endpoints_is_nxdomain(zone):
    for name, qtype in (("empty.default.svc.cluster.local", "A"), ("_http._tcp.empty.default.svc.cluster.local", "SRV"),
                        ("empty.default.svc.cluster.local", "AAAA")):
        msg, _ = ask(zone, name, qtype)
        assert msg.header.rcode == RCODE.NXDOMAIN and msg.auth[0].rtype == QTYPE.SOA


def test_publish_not_ready_addresses_is_honoured(zone):
    assert rdata(ask(zone, "tolerant.default.svc.cluster.local")[0]) == ["10.244.1.40"]


def test_externalname_is_a_cname_followed_inside_the_zone(zone):
    msg, reply = ask(zone, "ext.default.svc.cluster.local")
    assert [str(rr.rdata) for rr in msg.rr] == ["www.example.com."] and msg.rr[0].rtype == QTYPE.CNAME
    assert reply.chase is None                          # no upstream: the CNAME alone
    assert lookup(zone, "ext.default.svc.cluster.local", "A").chase == "www.example.com"
    msg, _ = ask(zone, "alias.default.svc.cluster.local")
    assert [(QTYPE[rr.rtype], str(rr.rdata)) for rr in msg.rr] == [("CNAME", "web.default.svc.cluster.local."),
                                                                  ("A", "10.96.0.20")]
    assert rdata(ask(zone, "ext.default.svc.cluster.local", "CNAME")[0]) == ["www.example.com."]
    assert ask(zone, "x.ext.default.svc.cluster.local", "CNAME")[0].header.rcode == RCODE.NXDOMAIN


def test_cname_loops_end(zone):
    msg, _ = ask(zone, "loop1.default.svc.cluster.local")
    assert msg.header.rcode == RCODE.SERVFAIL and len(msg.rr) == 8


def test_dns_version_txt(zone):
    msg, _ = ask(zone, "dns-version.cluster.local", "TXT")
    assert rdata(msg) == ['"1.1.0"'] and msg.rr[0].ttl == 28800


def test_pod_records_insecure_mode(zone):
    assert rdata(ask(zone, "10-244-9-9.default.pod.cluster.local")[0]) == ["10.244.9.9"]
    assert rdata(ask(zone, "1-2-3-4.quiet.pod.cluster.local")[0]) == ["1.2.3.4"]     # a namespace with no services
    assert ask(zone, "1-2-3-4.default.pod.cluster.local", "AAAA")[0].header.rcode == RCODE.NOERROR
    for bad in ("1-2-3-256", "1-2-3", "01-2-3-4", "a-b-c-d", "1-2-3-4-5"):
        assert ask(zone, f"{bad}.default.pod.cluster.local")[0].header.rcode == RCODE.NXDOMAIN, bad
    assert ask(zone, "1-2-3-4.nowhere.pod.cluster.local")[0].header.rcode == RCODE.NXDOMAIN


@pytest.mark.parametrize("name,qtype", [("web.default.svc.cluster.local", "AAAA"),
                                        ("web.default.svc.cluster.local", "TXT"),
                                        ("web.default.svc.cluster.local", "MX"),
                                        ("db-0.db.default.svc.cluster.local", "AAAA"),
                                        ("svc.cluster.local", "A"), ("pod.cluster.local", "A"),
                                        ("default.svc.cluster.local", "A"), ("quiet.svc.cluster.local", "A"),
                                        ("_tcp.web.default.svc.cluster.local", "SRV"),
                                        ("dns.cluster.local", "A"), ("0.96.10.in-addr.arpa", "PTR")])
def test_existing_names_without_the_type_are_nodata_with_soa(zone, name, qtype):
    msg, _ = ask(zone, name, qtype)
    assert msg.header.rcode == RCODE.NOERROR and not msg.rr
    apex = "in-addr.arpa." if name.endswith("arpa") else "cluster.local."
    assert [(QTYPE[rr.rtype], str(rr.rname)) for rr in msg.auth] == [("SOA", apex)]
    assert str(msg.auth[0].rdata) == f"ns.dns.{apex} hostmaster.{apex} 42 7200 1800 86400 30"


@pytest.mark.parametrize("name", ["nope.default.svc.cluster.local", "web.nowhere.svc.cluster.local",
                                  "foo.cluster.local", "a.b.web.default.svc.cluster.local",
                                  "web.default.svc.cluster.local.default.svc.cluster.local"])
def test_unknown_names_in_the_zone_are_nxdomain_with_soa(zone, name):
    msg, _ = ask(zone, name)
    assert msg.header.rcode == RCODE.NXDOMAIN and msg.header.aa and msg.auth[0].rtype == QTYPE.SOA


def test_names_outside_the_zone_servfail_at_once_without_upstream(zone):
    msg, reply = ask(zone, "example.com")
    assert msg.header.rcode == RCODE.SERVFAIL and not msg.header.aa and not reply.forward
    assert lookup(zone, "example.com", "A").forward
    with_upstream = Responder(zone, upstream=True).respond(bytes(DNSRecord.question("example.com").pack()))
    assert with_upstream.forward


def test_unknown_reverse_names_nxdomain_or_forwarded(zone):
    msg, _ = ask(zone, "9.9.9.9.in-addr.arpa", "PTR")
    assert msg.header.rcode == RCODE.NXDOMAIN and str(msg.auth[0].rname) == "in-addr.arpa."
    assert lookup(zone, "9.9.9.9.in-addr.arpa", "PTR").forward      # CoreDNS: fallthrough in-addr.arpa


def test_apex_soa_and_ns_with_glue(zone):
    msg, _ = ask(zone, "cluster.local", "SOA")
    assert [QTYPE[rr.rtype] for rr in msg.rr] == ["SOA"] and not msg.auth
    msg, _ = ask(zone, "cluster.local", "NS")
    assert rdata(msg) == ["ns.dns.cluster.local."] and rdata(msg, "ar") == ["10.96.0.10"]
    assert rdata(ask(zone, "ns.dns.cluster.local")[0]) == ["10.96.0.10"]


def test_any_returns_what_the_name_has(zone):
    msg, _ = ask(zone, "web.default.svc.cluster.local", "ANY")
    assert sorted(QTYPE[rr.rtype] for rr in msg.rr) == ["A", "SRV"]


def test_zone_records_compare_equal_until_something_dns_sees_changes():
    a = dns_zone.zone_records(SERVICES, SLICES, PODS, {"default"})
    assert a == dns_zone.zone_records(SERVICES, SLICES, PODS, {"default"})
    moved = [eps("web", [("10.244.1.51", True, "w-0", None)])] + SLICES[:3]
    assert dns_zone.zone_records(SERVICES, moved, PODS, {"default"}) == a   # web has a ClusterIP: no change
    gone = [eps("db", [("10.244.1.5", True, "db-0", None)], ports=(("pg", 5432, "TCP"),))] + SLICES[1:]
    assert dns_zone.zone_records(SERVICES, gone, PODS, {"default"}) != a


# ---------------------------------------------------------------- the wire
def test_question_case_is_kept_and_answers_follow_it(zone):
    msg, _ = ask(zone, "WeB.DeFault.svc.CLUSTER.local")
    assert str(msg.q.qname) == "WeB.DeFault.svc.CLUSTER.local." and str(msg.rr[0].rname) == "WeB.DeFault.svc.CLUSTER.local."
    assert rdata(msg) == ["10.96.0.20"]


def test_templates_patch_the_id_and_keep_the_case(zone):
    r = Responder(zone)
    first = DNSRecord.question("web.default.svc.cluster.local")
    first.header.id = 1
    slow = r.respond(bytes(first.pack()))
    assert len(r.udp) == 1
    again = DNSRecord.question("WEB.default.svc.cluster.local")
    again.header.id = 0xBEEF
    data = bytes(again.pack())
    fast = r.fast(data)
    assert fast is not None and fast[:2] == b"\xbe\xef" and fast[12:12 + len(data) - 12] == data[12:]
    assert fast[2:] != slow.wire[2:] and fast.lower()[2:] == slow.wire.lower()[2:]
    assert r.respond(data).wire == fast                 # the template says what the slow path says
    norecurse = DNSRecord.question("web.default.svc.cluster.local")
    norecurse.header.rd = 0
    assert r.fast(bytes(norecurse.pack())) is None      # another header: another template
    assert DNSRecord.parse(r.respond(bytes(norecurse.pack())).wire).header.rd == 0


def test_only_plain_queries_become_templates(zone):
    r = Responder(zone)
    q = DNSRecord.question("web.default.svc.cluster.local")
    q.add_ar(EDNS0(udp_len=1232))
    r.respond(bytes(q.pack()))
    q = DNSRecord.question("web.default.svc.cluster.local")
    q.header.cd = 1
    r.respond(bytes(q.pack()))
    assert not r.udp
    r.respond(bytes(DNSRecord.question("web.default.svc.cluster.local").pack()), "tcp")
    assert len(r.tcp) == 1 and not r.udp


def test_templates_that_a_change_does_not_touch_are_kept():
    old = dns_zone.build_zone(SERVICES, SLICES, PODS, ["default"], serial=1)
    r = Responder(old)
    for name, qtype in (("web.default.svc.cluster.local", "A"), ("_http._tcp.web.default.svc.cluster.local", "SRV"),
                        ("alias.default.svc.cluster.local", "A"), ("db.default.svc.cluster.local", "A"),
                        ("nope.default.svc.cluster.local", "A"), ("web.default.svc.cluster.local", "AAAA"),
                        ("example.com", "A")):
        r.respond(bytes(DNSRecord.question(name, qtype).pack()))
    kept = lambda new: sorted(str(DNSRecord.parse(b"\0\0" + t[0] + k[10:] + t[1]).q.qname)   # noqa: E731
                              + " " + QTYPE[DNSRecord.parse(b"\0\0" + t[0] + k[10:] + t[1]).q.qtype]
                              for k, t in new.udp.items())
    # another Service's endpoints change: web's answers stay; NXDOMAIN and NODATA carry the old serial: dropped
    new = dns_zone.build_zone(SERVICES, SLICES[1:], PODS, ["default"], serial=2)
    fresh = Responder(new)
    fresh.inherit(r, dns_zone.changed_names(old, new))
    assert kept(fresh) == ["_http._tcp.web.default.svc.cluster.local. SRV", "alias.default.svc.cluster.local. A",
                           "example.com. A", "web.default.svc.cluster.local. A"]
    # web itself changes: what was made from it goes, the CNAME to it included
    moved = [svc("web", ip="10.96.0.99")] + SERVICES[1:]
    newer = dns_zone.build_zone(moved, SLICES, PODS, ["default"], serial=3)
    fresh = Responder(newer)
    fresh.inherit(r, dns_zone.changed_names(old, newer))
    assert kept(fresh) == ["db.default.svc.cluster.local. A", "example.com. A"]
    fresh = Responder(dns_zone.build_zone(SERVICES, SLICES, PODS, ["default", "new"], serial=4))
    fresh.inherit(r, dns_zone.changed_names(old, fresh.zone))
    assert not fresh.udp                                 # the namespaces changed: nothing is kept


def big_zone(n=40):
    return dns_zone.build_zone([svc("big", ip="None")],
                               [eps("big", [(f"10.244.1.{i}", True, f"b{i}", None) for i in range(1, n + 1)])],
                               [], ["default"], serial=1)


def test_large_answers_set_tc_over_udp_and_come_whole_over_tcp():
    zone, name = big_zone(), "big.default.svc.cluster.local"
    r = Responder(zone)
    data = bytes(DNSRecord.question(name).pack())
    udp = DNSRecord.parse(r.respond(data).wire)
    assert udp.header.tc and not udp.rr and len(r.respond(data).wire) <= 512
    assert r.fast(data) == r.respond(data).wire and DNSRecord.parse(r.fast(data)).header.tc
    tcp = DNSRecord.parse(r.respond(data, "tcp").wire)
    assert not tcp.header.tc and len(tcp.rr) == 40
    srv = DNSRecord.parse(r.respond(bytes(DNSRecord.question("_http._tcp." + name, "SRV").pack()), "tcp").wire)
    assert len(srv.rr) == 40 and len(srv.ar) == 40


def test_edns_raises_the_udp_limit_and_is_answered_with_opt():
    r = Responder(big_zone())
    q = DNSRecord.question("big.default.svc.cluster.local")
    q.add_ar(EDNS0(udp_len=4096, flags="do"))
    msg = DNSRecord.parse(r.respond(bytes(q.pack())).wire)
    assert not msg.header.tc and len(msg.rr) == 40
    opt = [rr for rr in msg.ar if rr.rtype == QTYPE.OPT]
    assert len(opt) == 1 and opt[0].rclass == dns_wire.EDNS_SIZE and opt[0].ttl & 0x8000   # DO echoed
    q = DNSRecord.question("big.default.svc.cluster.local")
    q.add_ar(EDNS0(udp_len=600))
    msg = DNSRecord.parse(r.respond(bytes(q.pack())).wire)
    assert msg.header.tc and [rr.rtype for rr in msg.ar] == [QTYPE.OPT]


def test_edns_version_above_zero_is_badvers(zone):
    q = DNSRecord.question("web.default.svc.cluster.local")
    q.add_ar(EDNS0(version=1))
    msg = DNSRecord.parse(Responder(zone).respond(bytes(q.pack())).wire)
    assert msg.header.rcode == 0 and not msg.rr and (msg.ar[0].ttl >> 24) == 1       # extended rcode 16


# ---------------------------------------------------------------- bad input: the right code, or nothing
def header(qid=0x1234, flags=0x0100, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!6H", qid, flags, qd, an, ns, ar)


QNAME = b"\x03web\x07default\x03svc\x07cluster\x05local\x00"
QUESTION = QNAME + b"\x00\x01\x00\x01"


@pytest.mark.parametrize("data", [b"", b"\x12", header()[:11], header(flags=0x8180) + QUESTION,
                                  header(flags=0x8000, qd=0)])
def test_dropped_silently(zone, data):
    with pytest.raises(dns_wire.Drop):
        parse_query(data)
    assert Responder(zone).respond(data) is None


OPT = b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00"


@pytest.mark.parametrize("data,rcode", [
    (header(qd=0), RCODE.FORMERR),
    (header(qd=2) + QUESTION + QUESTION, RCODE.FORMERR),
    (header(an=1) + QUESTION, RCODE.FORMERR),
    (header(ns=1) + QUESTION, RCODE.FORMERR),
    (header(ar=3) + QUESTION + OPT * 3, RCODE.FORMERR),
    (header() + QUESTION[:-2], RCODE.FORMERR),                                  # truncated question
    (header() + QNAME[:10], RCODE.FORMERR),                                     # truncated name
    (header() + b"\x03web\xc0\x0c" + b"\x00\x01\x00\x01", RCODE.FORMERR),       # pointer loop
    (header() + b"\xc0\x0c\x00\x01\x00\x01", RCODE.FORMERR),                    # pointer to itself
    (header() + b"\xc0\x20\x00\x01\x00\x01" + b"\x00" * 30, RCODE.FORMERR),     # pointer forwards
    (header() + b"\x3fa" + b"a" * 62 + b"\x3f" + b"b" * 63 + b"\x3f" + b"c" * 63 + b"\x3f" + b"d" * 63 +
     b"\x00\x00\x01\x00\x01", RCODE.FORMERR),                                   # 257 bytes: oversize name
    (header() + b"\x41" + b"a" * 65 + b"\x00\x00\x01\x00\x01", RCODE.FORMERR),  # label length 65 (0x40 type)
    (header() + b"\x80\x00\x00\x01\x00\x01", RCODE.FORMERR),                    # 0x80: reserved label type
    (header(ar=1) + QUESTION + OPT[:-3], RCODE.FORMERR),                        # truncated OPT
    (header(ar=2) + QUESTION + OPT + OPT, RCODE.FORMERR),                       # two OPTs
    (header(ar=1) + QUESTION + b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x10", RCODE.FORMERR),  # rdlen too long
    (header() + QNAME + b"\x00\x00\x00\x01", RCODE.FORMERR),                    # qtype 0
    (header() + QNAME + b"\x00\x29\x00\x01", RCODE.FORMERR),                    # qtype OPT
    (header(flags=0x0900) + QUESTION, RCODE.NOTIMP),                            # IQUERY
    (header(flags=0x1100) + QUESTION, RCODE.NOTIMP),                            # STATUS
    (header(flags=0x2000) + QUESTION, RCODE.NOTIMP),                            # NOTIFY
    (header(flags=0x2800) + QUESTION, RCODE.NOTIMP),                            # UPDATE
    (header(flags=0x7800, qd=0), RCODE.NOTIMP),                                 # opcode 15
    (header() + QNAME + b"\x00\xfe\x00\x01", RCODE.NOTIMP),                     # MAILA
    (header() + QNAME + b"\x00\x01\x00\x03", RCODE.REFUSED),                    # class CH
    (header() + QNAME + b"\x00\x01\x00\x04", RCODE.REFUSED),                    # class HS
    (header() + QNAME + b"\x00\x01\x00\xff", RCODE.REFUSED),                    # class ANY
    (header() + QNAME + b"\x00\x01\x12\x34", RCODE.REFUSED),                    # an unassigned class
    (header() + QNAME + b"\x00\xfc\x00\x01", RCODE.REFUSED),                    # AXFR
])
def test_malformed_and_unsupported_queries_get_the_rfc_code(zone, data, rcode):
    reply = Responder(zone).respond(data)
    msg = DNSRecord.parse(reply.wire)
    assert (msg.header.id, msg.header.qr, msg.header.rcode) == (0x1234, 1, rcode)
    assert msg.header.opcode == (data[2] >> 3) & 0xF and not msg.rr
    if rcode == RCODE.FORMERR or data[2] & 0x78:
        assert len(reply.wire) == 12                    # nothing was understood: the header alone
    else:
        assert msg.q.qtype == struct.unpack("!H", data[-4:-2])[0]
    assert reply.rcode == rcode and dns_wire.RCODES[rcode] in reply.log


def test_compression_pointers_backwards_are_followed(zone):
    extra = header(ar=1) + QUESTION + b"\xc0\x0c" + struct.pack("!HHIH", 16, 1, 0, 0)   # a record named by pointer
    q = parse_query(extra)
    assert q.error == dns_wire.NOERROR and q.labels[0] == b"web" and not q.plain
    assert rdata(DNSRecord.parse(Responder(zone).respond(extra).wire)) == ["10.96.0.20"]
    q = parse_query(header() + b"\xc0\x02\x00\x01\x00\x01")       # a question pointing into the header
    assert q.error == dns_wire.NOERROR and q.labels == (b"\x00",)
    assert DNSRecord.parse(Responder(zone).respond(header() + b"\xc0\x02\x00\x01\x00\x01").wire).header.rcode == \
        RCODE.SERVFAIL


def walk(wire: bytes) -> None:
    """Assert WIRE is one well-formed message: every counted record there, nothing after."""
    qd, an, ns, ar = struct.unpack_from("!4H", wire, 4)
    off = 12
    for _ in range(qd):
        off = dns_wire.read_name(wire, off)[1] + 4
    for _ in range(an + ns + ar):
        off = dns_wire.read_name(wire, off)[1]
        off += 10 + struct.unpack_from("!H", wire, off + 8)[0]
    assert off == len(wire)


def test_fuzz_never_raises_and_answers_only_with_the_query_id(zone):
    rnd = random.Random(4)
    r = Responder(big_zone())
    seeds = [bytes(DNSRecord.question(n, t).pack()) for n, t in
             (("web.default.svc.cluster.local", "A"), ("_http._tcp.big.default.svc.cluster.local", "SRV"),
              ("1-2-3-4.default.pod.cluster.local", "A"), ("example.com", "MX"))]
    for i in range(6000):
        if i % 3 == 0:
            data = bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(0, 80)))
        else:
            data = bytearray(rnd.choice(seeds))
            for _ in range(rnd.randrange(1, 6)):
                data[rnd.randrange(len(data))] = rnd.getrandbits(8)
            data = bytes(data[:rnd.randrange(len(data) + 1)] if i % 5 == 0 else data)
        for proto in ("udp", "tcp"):
            reply = r.respond(data, proto)
            if reply is not None:
                assert reply.wire[:2] == data[:2] and reply.wire[2] & 0x80
                assert "\n" not in reply.log and reply.log.isprintable()      # one log line, whatever the name
                walk(reply.wire)
                if proto == "udp":
                    assert len(reply.wire) <= 512
            fast = r.fast(data, proto) if len(data) >= 12 else None
            if fast is not None:
                assert fast == reply.wire


# ---------------------------------------------------------------- the server's helpers
def test_query_log_lines_are_coredns_log_lines(capsys):
    log = dns_log.QueryLog()
    log.add(("10.244.1.2", 53211), b"\x11\xd7rest", '"A IN web.default.svc.cluster.local. udp 47 false 512" '
            'NOERROR qr,aa,rd 63', 0.000123)
    log.flush()
    assert capsys.readouterr().out == ('[INFO] 10.244.1.2:53211 - 4567 "A IN web.default.svc.cluster.local. udp 47 '
                                       'false 512" NOERROR qr,aa,rd 63 0.000123000s\n')


def test_parse_upstream():
    assert forward.parse_upstream("") is None
    assert forward.parse_upstream("10.0.0.2") == ("10.0.0.2", 53)
    assert forward.parse_upstream("10.0.0.2:5353") == ("10.0.0.2", 5353)
    for bad in ("resolver", "10.0.0.2:x", "10.0.0.2:0"):
        with pytest.raises((ValueError, OSError)):
            forward.parse_upstream(bad)


def test_system_manifests_are_valid_objects():
    from toycluster.config import ClusterConfig
    cfg = ClusterConfig(name="toy", service_cidr="10.96.0.0/12", dns_upstream="203.0.113.53")
    docs = [validation.validate(d, "coredns.yaml") for d in coredns.system_manifests(cfg)]
    svc_, deploy = docs
    assert svc_["spec"]["clusterIP"] == "10.96.0.10" and svc_["metadata"]["namespace"] == "kube-system"
    assert {(p["name"], p["port"], p["protocol"]) for p in svc_["spec"]["ports"]} == \
        {("dns", 53, "UDP"), ("dns-tcp", 53, "TCP")}
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env == {"TOYCLUSTER_API": "/var/lib/toycluster/toy/api.sock", "DNS_UPSTREAM": "203.0.113.53"}
    from toycluster.node import workloads
    assert workloads.resolve(container) == ("builtin", "coredns")


class FakeAPI:
    """The API's list and watch answers, scripted."""
    path = "/nowhere"

    def __init__(self, rv=5):
        self.rv, self.items, self.watches, self.lists = rv, {k: [] for k in dns_watch.KINDS}, [], 0

    def request(self, method, path, **query):
        if path == "/watch":
            if not self.watches:
                raise SystemExit                        # ends the test's run()
            return self.watches.pop(0)
        self.lists += 1
        return {"items": self.items[path.rsplit("/", 1)[1]], "metadata": {"resourceVersion": str(self.rv)}}


def test_cluster_watch_lists_then_follows_and_relists_after_a_gap():
    api, calls = FakeAPI(), []
    watch = dns_watch.ClusterWatch("/nowhere", lambda: calls.append(watch.lists()))
    watch.client = api
    api.items["Service"] = [svc("web")]
    new = svc("new", ip="10.96.0.30")
    api.watches = [
        {"resourceVersion": 7, "complete": True, "events": [{"type": "ADDED", "object": new},
                                                             {"type": "MODIFIED", "object": {"kind": "Deployment"}}]},
        {"resourceVersion": 8, "complete": True, "events": [{"type": "MODIFIED", "object": pod("plain")}]},  # DNS sees nothing
        {"resourceVersion": 12, "complete": False, "events": []},           # the log no longer reaches back
    ]
    with pytest.raises(SystemExit):
        watch.run()
    assert [sorted(s["metadata"]["name"] for s in c["Service"]) for c in calls] == [["web"], ["new", "web"], ["web"]]
    assert api.lists == 2 * len(dns_watch.KINDS)         # the first list, and one after the gap


def test_cluster_watch_keeps_what_it_knew_while_the_api_is_away(monkeypatch, capsys):
    monkeypatch.setattr(time, "sleep", lambda s: None)
    api, calls = FakeAPI(), []
    watch = dns_watch.ClusterWatch("/nowhere", lambda: calls.append(watch.lists()))
    watch.client = api
    api.items["Service"] = [svc("web")]
    down = iter([ConnectionRefusedError(111, "Connection refused")] * 3)

    def request(method, path, **query):
        if path == "/watch" or api.lists >= len(dns_watch.KINDS):
            err = next(down, None)
            if err is not None:
                raise err
        return FakeAPI.request(api, method, path, **query)
    watch.client = type("C", (), {"request": staticmethod(request), "path": "/nowhere"})()
    with pytest.raises(SystemExit):
        watch.run()
    assert all(c["Service"] for c in calls) and watch.synced.is_set()      # never an empty zone
    out = capsys.readouterr().out
    assert out.count("[ERROR] plugin/kubernetes: the API at /nowhere is not answering") == 1
    assert "[INFO] plugin/kubernetes: the API is back" in out


def test_server_answers_udp_and_keeps_templates_while_the_zone_is_unchanged():
    server = coredns.Server(port=0, log=False)
    server.set_objects({"Service": SERVICES, "EndpointSlice": SLICES, "Pod": PODS})
    threading.Thread(target=server.serve_udp, daemon=True).start()
    port = server.udp.getsockname()[1]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
        c.settimeout(2)
        for qid in (1, 2, 3):
            q = DNSRecord.question("Web.default.svc.cluster.local")
            q.header.id = qid
            c.sendto(bytes(q.pack()), ("127.0.0.1", port))
            msg = DNSRecord.parse(c.recv(512))
            assert msg.header.id == qid and rdata(msg) == ["10.96.0.20"] and str(msg.q.qname).startswith("Web.")
        c.sendto(b"\x00\x01garbage", ("127.0.0.1", port))
        templates = server.templates
        server.set_objects({"Service": SERVICES, "EndpointSlice": SLICES, "Pod": PODS})
        assert server.templates is templates and len(templates) == 1
        server.set_objects({"Service": SERVICES[1:], "EndpointSlice": SLICES, "Pod": PODS})
        assert server.templates is not templates
        c.sendto(bytes(DNSRecord.question("web.default.svc.cluster.local").pack()), ("127.0.0.1", port))
        assert DNSRecord.parse(c.recv(512)).header.rcode == RCODE.NXDOMAIN
    server.udp.close()
    server.tcp.close()


def test_names_outside_the_zone_go_to_the_upstream_with_a_time_limit(monkeypatch):
    from dnslib import RR, A
    monkeypatch.setattr(forward, "FORWARD_TIMEOUT", 0.5)
    upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    upstream.bind(("127.0.0.1", 0))
    asked = []

    def serve():
        while True:
            data, addr = upstream.recvfrom(4096)
            q = DNSRecord.parse(data)
            asked.append(str(q.q.qname))
            if str(q.q.qname) == "silent.example.":
                continue                                # never answers: the client must get SERVFAIL
            reply = q.reply()
            reply.add_answer(RR(q.q.qname, rdata=A("192.0.2.7"), ttl=60))
            upstream.sendto(reply.pack(), addr)
    threading.Thread(target=serve, daemon=True).start()
    server = coredns.Server(port=0, log=False, upstream=upstream.getsockname())
    server.set_objects({"Service": SERVICES, "EndpointSlice": SLICES, "Pod": PODS})
    threading.Thread(target=server.serve_udp, daemon=True).start()
    port = server.udp.getsockname()[1]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
        c.settimeout(3)

        def query(name, qid):
            q = DNSRecord.question(name)
            q.header.id = qid
            c.sendto(bytes(q.pack()), ("127.0.0.1", port))
            return DNSRecord.parse(c.recv(4096))
        msg = query("www.example.com", 77)
        assert msg.header.id == 77 and rdata(msg) == ["192.0.2.7"]
        msg = query("ext.default.svc.cluster.local", 78)          # an ExternalName outside: CNAME + its A
        assert msg.header.id == 78 and [str(rr.rdata) for rr in msg.rr] == ["www.example.com.", "192.0.2.7"]
        started = time.monotonic()
        msg = query("silent.example", 79)
        assert msg.header.id == 79 and msg.header.rcode == RCODE.SERVFAIL
        assert 0.4 < time.monotonic() - started < 1.5
        assert rdata(query("web.default.svc.cluster.local", 80)) == ["10.96.0.20"]   # the zone is not forwarded
    assert asked == ["www.example.com.", "www.example.com.", "silent.example."]
    for sock in (server.udp, server.tcp, upstream):
        sock.close()


def test_tcp_answers_several_queries_per_connection_in_full():
    import asyncio
    server = coredns.Server(port=0, log=False)
    server.set_objects({"Service": [svc("big", ip="None")],
                        "EndpointSlice": [eps("big", [(f"10.244.1.{i}", True, f"b{i}", None) for i in range(1, 41)])]})
    server.tcp.listen(16)
    loop = asyncio.new_event_loop()

    def run():
        asyncio.set_event_loop(loop)
        loop.run_until_complete(asyncio.start_server(server.handle_tcp, sock=server.tcp))
        loop.run_forever()
    threading.Thread(target=run, daemon=True).start()
    with socket.create_connection(("127.0.0.1", server.tcp.getsockname()[1]), timeout=3) as c:
        for qid in (1, 2, 3):                           # the second and third come from the template
            q = bytes(DNSRecord.question("big.default.svc.cluster.local").pack())
            q = struct.pack("!H", qid) + q[2:]
            c.sendall(struct.pack("!H", len(q)) + q + (b"\x00\x05hello" if qid == 3 else b""))
            size = struct.unpack("!H", c.recv(2, socket.MSG_WAITALL))[0]
            msg = DNSRecord.parse(c.recv(size, socket.MSG_WAITALL))
            assert msg.header.id == qid and not msg.header.tc and len(msg.rr) == 40
        assert c.recv(10) == b""                        # a message that is no query ends the connection
    loop.call_soon_threadsafe(loop.stop)


def test_the_watch_keeps_only_headless_services_slices_and_the_zone_stays_the_same():
    """The EndpointSlice controller labels a headless Service's slices as upstream does; CoreDNS's cache keeps
    only those (a ClusterIP Service answers with its cluster IP, whatever its endpoints do), and the zone
    built from what it keeps is the zone built from everything."""
    from toycluster.controllers import endpointslice as endpoints
    by_name = {s["metadata"]["name"]: dict(s, apiVersion="v1", metadata=dict(s["metadata"], uid="u"))
               for s in SERVICES}
    made = [endpoints.slice_object(by_name[sl["metadata"]["labels"]["kubernetes.io/service-name"]],
                                   sl["metadata"]["name"], tuple((p["name"], p["port"], p["protocol"])
                                                                 for p in sl["ports"]), sl["endpoints"])
            for sl in SLICES]
    kept = [sl for sl in made if dns_watch._trim("EndpointSlice", sl) is not None]
    assert sorted(s["metadata"]["labels"]["kubernetes.io/service-name"] for s in kept) == ["db", "empty", "tolerant"]
    assert all(sl["metadata"]["labels"]["service.kubernetes.io/headless"] == "" for sl in kept)
    full = dns_zone.build_zone(SERVICES, made, PODS, ["default", "kube-system"], serial=1)
    trimmed = dns_zone.build_zone(SERVICES, kept, PODS, ["default", "kube-system"], serial=1)
    assert full.records == trimmed.records and full.records == dns_zone.build_zone(
        SERVICES, SLICES, PODS, ["default", "kube-system"], serial=1).records
