"""The public DNS (a Route 53 hosted zone kept by external-dns): the names the internet knows for the cluster.

A process the control plane forks into <cluster>.dns (203.0.113.53), answering over UDP and TCP on port 53:
  every host of every Ingress of our class      A  the load balancer's address (203.0.113.10)
    (a wildcard host `*.example.com` answers any name with exactly one more label, as the Ingress matches)
  <service>.<namespace>.lb.example              A  a LoadBalancer Service's EXTERNAL-IP
  names in external-dns.alpha.kubernetes.io/hostname (comma-separated) on such an Ingress or Service: the same
It is an API client (an informer on Ingresses and Services), so a change is answered within milliseconds of
reaching the API. Unknown names get NXDOMAIN, AAAA for known names an empty NOERROR; every answer is
authoritative (aa) with a TTL of 30 s. Queries are read strictly, answers rendered and TCP framed by wire/dns.py,
as CoreDNS's are.
"""
from __future__ import annotations

import asyncio
import socket
import sys
import time

from toycluster.api.selectors import ingress_class_matches
from toycluster.cloud import lb as cloud_lb

TTL = 30
ANNOTATION = "external-dns.alpha.kubernetes.io/hostname"


def _annotated(obj: dict) -> list[str]:
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION) or ""
    return [h.strip().lower().rstrip(".") for h in value.split(",") if h.strip()]


def zone(ingresses: list[dict], services: list[dict], cfg) -> tuple[dict, dict]:
    """({name: address}, {suffix of a wildcard: address}) for the cluster's public names."""
    exact, wild, lb = {}, {}, cloud_lb.lb_ip(cfg)
    for ing in ingresses:
        if not ingress_class_matches(ing):
            continue
        spec = ing.get("spec") or {}
        hosts = [r.get("host") for r in spec.get("rules") or []] + [h for t in spec.get("tls") or [] for h in t.get("hosts") or []]
        for host in [h.lower() for h in hosts if h] + _annotated(ing):
            if host.startswith("*."):
                wild.setdefault(host[2:], lb)
            else:
                exact.setdefault(host, lb)
    for svc in services:
        if (svc.get("spec") or {}).get("type") != "LoadBalancer":
            continue
        ips = [i["ip"] for i in ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or [] if i.get("ip")]
        if ips:
            meta = svc["metadata"]
            for name in [f"{meta['name']}.{meta.get('namespace') or 'default'}.{cloud_lb.PUBLIC_DOMAIN}"] + _annotated(svc):
                exact.setdefault(name, ips[0])
    return exact, wild


def answer(data: bytes, names: tuple[dict, dict], proto: str = "udp") -> bytes | None:
    """The response to the query DATA from NAMES, or None when it gets none (not a query)."""
    from dnslib import RR, A
    from toycluster.wire import dns as wire
    from toycluster.wire.dns import NOERROR, NXDOMAIN, T_A, T_ANY, Answer
    try:
        q = wire.parse_query(data)
    except wire.Drop:
        return None
    if q.error:
        return wire.render(q, None, q.error, proto)
    try:
        name = b".".join(q.labels).decode("ascii").lower()
    except UnicodeDecodeError:
        return wire.render(q, Answer(NXDOMAIN), NXDOMAIN, proto)
    exact, wild = names
    ip = exact.get(name)
    if ip is None and "." in name:
        first, rest = name.split(".", 1)
        ip = wild.get(rest) if first else None
    if ip is None:
        return wire.render(q, Answer(NXDOMAIN), NXDOMAIN, proto)
    records = [RR(name, T_A, ttl=TTL, rdata=A(ip))] if q.qtype in (T_A, T_ANY) else []
    return wire.render(q, Answer(NOERROR, answer=records), NOERROR, proto)


class _UDP(asyncio.DatagramProtocol):
    def __init__(self, server):
        self.server = server

    def connection_made(self, transport):
        self.t = transport

    def datagram_received(self, data, addr):
        reply = answer(data, self.server.names)
        if reply is not None:
            self.t.sendto(reply, addr)
            self.server.log(addr, data, reply, "udp")


class Server:
    def __init__(self, cfg):
        self.cfg, self.names = cfg, ({}, {})

    def set_objects(self, snap: dict) -> None:
        names = zone(list(snap["Ingress"].values()), list(snap["Service"].values()), self.cfg)
        if names != self.names:
            self.names = names
            listed = sorted(names[0].items()) + sorted((f"*.{k}", v) for k, v in names[1].items())
            print(f"[dns] zone: {', '.join(f'{n} A {ip}' for n, ip in listed) or 'empty'}", flush=True)

    def log(self, addr, data: bytes, reply: bytes, proto: str) -> None:
        from toycluster.wire import dns as wire
        try:
            q = wire.parse_query(data)
            rcode = reply[3] & 0xF
            print(f"[INFO] {addr[0]}:{addr[1]} - {q.id} {wire.describe(q, proto, reply, rcode)}", flush=True)
        except Exception:                                     # noqa: BLE001 - a log line is never worth a crash
            pass

    def answer_tcp(self, data: bytes, addr, send) -> bool:
        """One query that came over TCP (wire.serve_tcp's handler); False if it is none."""
        reply = answer(data, self.names, "tcp")
        if reply is None:
            return False
        send(reply)
        self.log(addr, data, reply, "tcp")
        return True


def run_dns(cfg) -> "NoReturn":
    """The public DNS server process (forked into <cluster>.dns by the control plane): never returns."""
    from toycluster.api.client import socket_path
    from toycluster.api.informer import Informer
    from toycluster.wire.dns import serve_tcp
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = Server(cfg)
    informer = Informer(socket_path(cfg.name), ("Ingress", "Service"),
                        lambda: loop.call_soon_threadsafe(server.set_objects, informer.snapshot()), name="public-dns")
    informer.start()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    udp.bind(("0.0.0.0", 53))
    loop.run_until_complete(loop.create_datagram_endpoint(lambda: _UDP(server), sock=udp))
    loop.run_until_complete(asyncio.start_server(lambda r, w: serve_tcp(r, w, server.answer_tcp), "0.0.0.0", 53,
                                                 reuse_address=True))
    print(f"[dns] public DNS of cluster {cfg.name} on {cloud_lb.dns_ip(cfg)}:53 (udp, tcp), started "
          f"{time.strftime('%H:%M:%S')}", flush=True)
    loop.run_forever()
    sys.exit(1)


__all__ = ["zone", "answer", "run_dns"]
