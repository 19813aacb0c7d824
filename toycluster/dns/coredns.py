"""CoreDNS: the cluster's DNS server process — Kubernetes DNS-based service discovery (schema 1.1.0) over UDP and TCP.

The built-in workload of the images toycluster/coredns, coredns/coredns and registry.k8s.io/coredns/coredns.
It is an API client, as the real one is (watch.py): whenever the objects change it rebuilds its zone (zone.py)
at once, and answers from it through a Responder (responder.py).

Threads: one blocking UDP loop (answers to plain queries come from wire templates: see responder.py), one API
watcher, one upstream forwarder (forward.py, only with $DNS_UPSTREAM); TCP, the query log's flush (log.py)
and signals run on an asyncio loop in the main thread. Settings (environment):
  TOYCLUSTER_API  the API socket          DNS_UPSTREAM  ip[:port] for names outside the zone (else SERVFAIL)
  DNS_LOG=0       no query log            DNS_PORT      53         DNS_DOMAIN  cluster.local   DNS_TTL  30
"""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

from toycluster.dns import log as dns_log
from toycluster.dns import zone as dns_zone
from toycluster.dns.forward import Forwarder, merge_chase, parse_upstream, question_for
from toycluster.dns.responder import Responder
from toycluster.dns.watch import ClusterWatch
from toycluster.wire import dns as dns_wire

SYNC_WAIT = 3.0               # at start, how long queries wait for the first list (CoreDNS waits 5 s)
MANIFEST = Path(__file__).resolve().parent / "coredns.yaml"


class Server:
    def __init__(self, port: int = 53, upstream: tuple | None = None, log: bool = True,
                 domain: str = dns_zone.DEFAULT_DOMAIN, ttl: int = dns_zone.DEFAULT_TTL):
        self.port, self.domain, self.ttl = port, domain, ttl
        self.forwarder = Forwarder(upstream) if upstream else None
        self.log = dns_log.QueryLog() if log else None
        self.records, self.serial = None, 0
        self.responder = Responder(dns_zone.build_zone([], [], [], (), domain, ttl, 0), bool(upstream))
        self.templates = self.responder.udp
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        for opt, size in ((getattr(socket, "SO_RCVBUFFORCE", 33), 8 << 20), (getattr(socket, "SO_SNDBUFFORCE", 32), 8 << 20)):
            try:                                    # a deep queue: bursts wait instead of being lost
                self.udp.setsockopt(socket.SOL_SOCKET, opt, size)
            except OSError:
                pass
        self.udp.bind(("0.0.0.0", port))
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind(("0.0.0.0", port))

    def set_objects(self, lists: dict[str, list]) -> None:
        """A new zone from these objects, if it differs from the current one (else templates are kept)."""
        namespaces = frozenset(o["metadata"]["name"] for o in lists.get("Namespace", ()))
        namespaces |= {s["metadata"].get("namespace") or "default" for s in lists.get("Service", ())}
        records = dns_zone.zone_records(lists.get("Service", []), lists.get("EndpointSlice", []),
                                        lists.get("Pod", []), namespaces, self.domain, self.ttl)
        if (records, namespaces) == self.records:
            return
        self.records, self.serial = (records, namespaces), max(self.serial + 1, int(time.time()))
        zone = dns_zone.Zone(records, namespaces, self.domain, self.ttl, self.serial)
        responder, old = Responder(zone, self.forwarder is not None), self.responder
        responder.inherit(old, dns_zone.changed_names(old.zone, zone))    # what did not change stays rendered
        self.responder, self.templates = responder, responder.udp          # the UDP loop reads these: swapped

    # -- UDP: the hot loop --
    def serve_udp(self) -> None:
        """Answer UDP queries forever: templates when they exist (no parsing), the Responder otherwise."""
        recvfrom, sendto, log, perf = self.udp.recvfrom, self.udp.sendto, self.log, time.perf_counter
        append = log.append if log is not None else None
        while True:
            try:
                if log is None:
                    while True:                     # the benchmark's loop: nothing but the lookup
                        data, addr = recvfrom(65535)
                        t = self.templates.get(data[2:-4].lower() + data[-4:])
                        if t is None:
                            break
                        sendto(data[:2] + t[0] + data[12:] + t[1], addr)
                    self._slow(data, addr, 0.0)
                else:
                    while True:
                        data, addr = recvfrom(65535)
                        t0 = perf()
                        t = self.templates.get(data[2:-4].lower() + data[-4:])
                        if t is None:
                            break
                        sendto(data[:2] + t[0] + data[12:] + t[1], addr)
                        append("[INFO] %s:%d - %d %s %.9fs\n" % (addr[0], addr[1], (data[0] << 8) | data[1], t[2],
                                                                 perf() - t0))
                    self._slow(data, addr, t0)
            except OSError:                         # an ICMP error for an earlier reply, ENOBUFS...
                continue
            except Exception as e:                  # noqa: BLE001 - one bad packet must not stop the loop
                dns_log.error(f"udp: {type(e).__name__}: {e}")

    def _slow(self, data: bytes, addr, t0: float, proto: str = "udp", send=None) -> bool:
        """Answer DATA through the Responder (and the upstream, if it says so); False if it gets no answer."""
        send = send or (lambda wire: self.udp.sendto(wire, addr))
        reply = self.responder.respond(data, proto)
        if reply is None:
            return False
        log = self.log

        def finish(wire: bytes) -> None:
            try:
                send(wire)
            except OSError:
                pass
            if log is not None:
                rcode = reply.rcode if wire is reply.wire else wire[3] & 0xF if len(wire) > 3 else 2
                log.add(addr, data, dns_wire.describe(reply.query, proto, wire, rcode), time.perf_counter() - t0)

        if reply.forward:
            self.forwarder.ask(data, lambda resp: finish(resp or dns_wire.render(
                reply.query, None, dns_wire.SERVFAIL, proto)))
        elif reply.chase:
            question = question_for(reply.chase, reply.query.qtype, 0)
            self.forwarder.ask(question, lambda resp: finish(merge_chase(reply, resp, proto)))
        else:
            finish(reply.wire)
        return True

    # -- TCP: length-prefixed messages, several per connection --
    def answer_tcp(self, data: bytes, addr, send) -> bool:
        """Answer one query that came over TCP (dns_wire.serve_tcp's handler): a template, or the Responder."""
        t0 = time.perf_counter()
        t = self.responder.tcp.get(data[2:-4].lower() + data[-4:])
        if t is None:
            return self._slow(data, addr, t0, "tcp", send)      # False: not a DNS query, the connection ends
        send(data[:2] + t[0] + data[12:] + t[1])
        if self.log is not None:
            self.log.add(addr, data, t[2], time.perf_counter() - t0)
        return True

    async def handle_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await dns_wire.serve_tcp(reader, writer, self.answer_tcp)

    async def _flush_log(self) -> None:
        while True:
            await asyncio.sleep(0.1)
            self.log.flush()

    def run(self, watch) -> "NoReturn":
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        sys.setswitchinterval(0.001)            # a zone rebuild holds the UDP loop back 1 ms at most, not 5

        def stop(*_):
            if self.log is not None:
                self.log.flush()
            sys.stdout.flush()
            os._exit(0)

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop)
        if watch is not None:
            threading.Thread(target=watch.run, name="watch", daemon=True).start()
            watch.synced.wait(SYNC_WAIT)
        self.tcp.listen(1024)
        loop.run_until_complete(asyncio.start_server(self.handle_tcp, sock=self.tcp))
        threading.Thread(target=self.serve_udp, name="udp", daemon=True).start()
        if self.log is not None:
            loop.create_task(self._flush_log())
        sys.stdout.write(f".:{self.port}\nCoreDNS-1.11.1 (toycluster: Kubernetes DNS schema {dns_zone.SCHEMA_VERSION}, "
                         f"zone {self.domain}, upstream {self.forwarder.upstream if self.forwarder else 'none'}, "
                         f"query log {'on' if self.log else 'off'})\n")
        sys.stdout.flush()
        loop.run_forever()
        stop()


def main(container: dict, pod: dict) -> "NoReturn":
    """The built-in workload "coredns" (started by node/entrypoint.run_builtin in the pod's namespaces)."""
    env = os.environ
    server = Server(port=int(env.get("DNS_PORT") or 53), upstream=parse_upstream(env.get("DNS_UPSTREAM", "")),
                    log=env.get("DNS_LOG", "1").lower() not in ("0", "false", "off", "no"),
                    domain=(env.get("DNS_DOMAIN") or dns_zone.DEFAULT_DOMAIN).strip(".").lower(),
                    ttl=int(env.get("DNS_TTL") or dns_zone.DEFAULT_TTL))
    api = env.get("TOYCLUSTER_API", "")
    watch = None
    if api:
        watch = ClusterWatch(api, lambda: server.set_objects(watch.lists()))
    else:
        dns_log.error("plugin/kubernetes: TOYCLUSTER_API is not set: serving an empty cluster zone")
    server.run(watch)


def system_manifests(cfg) -> list[dict]:
    """The kube-dns Service and the coredns Deployment for cluster CFG (a config.ClusterConfig), from
    dns/coredns.yaml with {{DNS_IP}}, {{API_SOCKET}} and {{UPSTREAM}} filled in."""
    import yaml
    from toycluster.api.client import socket_path
    text = (MANIFEST.read_text().replace("{{DNS_IP}}", cfg.dns_ip()).replace("{{API_SOCKET}}", socket_path(cfg.name))
            .replace("{{UPSTREAM}}", cfg.dns_upstream or ""))
    return [doc for doc in yaml.safe_load_all(text) if doc]
