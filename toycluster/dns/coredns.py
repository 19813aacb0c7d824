"""CoreDNS: the cluster's DNS server — Kubernetes DNS-based service discovery (schema 1.1.0) over UDP and TCP.

The built-in workload of the images toycluster/coredns, coredns/coredns and registry.k8s.io/coredns/coredns.
It is an API client, as the real one is: it lists Services, EndpointSlices, Pods and Namespaces from the
control plane's socket ($TOYCLUSTER_API), long-polls /watch for changes, and rebuilds its zone (dns_zone) at
once; if the API goes away it keeps answering from what it last knew and lists again when it is back.

Threads: one blocking UDP loop (answers to plain queries come from wire templates: see dns_wire), one API
watcher, one upstream forwarder (only with $DNS_UPSTREAM); TCP, the query log's flush and signals run on an
asyncio loop in the main thread. Settings (environment):
  TOYCLUSTER_API  the API socket          DNS_UPSTREAM  ip[:port] for names outside the zone (else SERVFAIL)
  DNS_LOG=0       no query log            DNS_PORT      53         DNS_DOMAIN  cluster.local   DNS_TTL  30
The query log is CoreDNS's log plugin's line, written every 100 ms:
  [INFO] 10.244.1.2:53211 - 4567 "A IN web.default.svc.cluster.local. udp 47 false 512" NOERROR qr,aa,rd 63 0.000045s
"""
from __future__ import annotations

import asyncio
import collections
import os
import random
import signal
import socket
import struct
import sys
import threading
import time
from pathlib import Path


from toycluster.dns import wire as dns_wire
from toycluster.dns import zone as dns_zone

FORWARD_TIMEOUT = 2.0         # an upstream that says nothing in this time: SERVFAIL
TCP_IDLE = 10.0               # seconds a TCP client may stay silent between queries
SYNC_WAIT = 3.0               # at start, how long queries wait for the first list (CoreDNS waits 5 s)
KINDS = ("Service", "EndpointSlice", "Pod", "Namespace")
HEADLESS = "service.kubernetes.io/headless"   # the label of a headless Service's EndpointSlices (endpoints.py)
MANIFEST = Path(__file__).resolve().parent / "coredns.yaml"


def info(text: str) -> None:
    sys.stdout.write(f"[INFO] {text}\n")
    sys.stdout.flush()


def error(text: str) -> None:
    sys.stdout.write(f"[ERROR] {text}\n")
    sys.stdout.flush()


# ---------------------------------------------------------------- the cluster, as the API tells it
def _trim(kind: str, obj: dict) -> dict | None:
    """What the zone needs of OBJ (None: nothing): pods only matter with a hostname and a subdomain, and
    EndpointSlices only for headless Services (a ClusterIP Service's name answers with its cluster IP, so its
    endpoints coming and going change nothing here)."""
    if kind == "EndpointSlice":
        return obj if HEADLESS in ((obj.get("metadata") or {}).get("labels") or {}) else None
    if kind == "Pod":
        spec = obj.get("spec") or {}
        if not (spec.get("hostname") and spec.get("subdomain")):
            return None
        return {"metadata": {"name": obj["metadata"]["name"], "namespace": obj["metadata"].get("namespace")},
                "spec": {"hostname": spec["hostname"], "subdomain": spec["subdomain"]}}
    if kind == "Namespace":
        return {"metadata": {"name": obj["metadata"]["name"]}}
    return obj


def ClusterWatch(api_path: str, on_change):     # noqa: N802 - it stands for the class it makes
    """client-go's informer on Services, EndpointSlices, Pods and Namespaces, logging as CoreDNS's kubernetes
    plugin does; on_change() is called after every batch of events that changed one of them."""
    from toycluster.api.informer import Informer
    say = lambda level, text: (error if level == "error" else info)(f"plugin/kubernetes: {text}")  # noqa: E731
    return Informer(api_path, KINDS, on_change, trim=_trim, name="coredns", say=say)


# ---------------------------------------------------------------- the query log
class QueryLog:
    """Lines from the hot loops go into a deque (formatted there: handing the GIL to a formatting thread costs
    the UDP loop more than the formatting); flush() writes them out, every 100 ms."""

    def __init__(self):
        self.lines = collections.deque(maxlen=200_000)       # beyond that, the oldest lines are lost
        self.append = self.lines.append

    def add(self, addr, data: bytes, fields: str, seconds: float) -> None:
        self.append("[INFO] %s:%d - %d %s %.9fs\n" % (addr[0], addr[1], (data[0] << 8) | data[1], fields, seconds))

    def flush(self) -> None:
        out, pop = [], self.lines.popleft
        try:
            while True:
                out.append(pop())
        except IndexError:
            pass
        if out:
            sys.stdout.write("".join(out))
            sys.stdout.flush()


# ---------------------------------------------------------------- the upstream resolver
class Forwarder:
    """Relays queries to one upstream over UDP with IDs of its own; done(response or None) on answer or timeout."""

    def __init__(self, upstream: tuple[str, int], timeout: float | None = None):
        self.upstream, self.timeout = upstream, timeout or FORWARD_TIMEOUT
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.connect(upstream)
        self.sock.settimeout(0.2)
        self.pending: dict[int, tuple] = {}
        self.lock = threading.Lock()
        threading.Thread(target=self._loop, name="forward", daemon=True).start()

    def ask(self, query: bytes, done) -> None:
        with self.lock:
            nid = next((n for n in (random.getrandbits(16) for _ in range(20)) if n not in self.pending), None)
            if nid is not None:
                self.pending[nid] = (query[:2], done, time.monotonic() + self.timeout)
        if nid is None:
            done(None)
            return
        try:
            self.sock.send(nid.to_bytes(2, "big") + query[2:])
        except OSError:
            with self.lock:
                self.pending.pop(nid, None)
            done(None)

    def _loop(self) -> None:
        while True:
            try:
                data = self.sock.recv(65535)
            except OSError:                         # timeout, or ICMP port unreachable from the upstream
                data = b""
            entry = None
            if len(data) >= 12 and data[2] & 0x80:
                with self.lock:
                    entry = self.pending.pop(int.from_bytes(data[:2], "big"), None)
            if entry:
                self._call(entry[1], entry[0] + data[2:])
            now = time.monotonic()
            with self.lock:
                late = [k for k, (_, _, deadline) in self.pending.items() if deadline < now]
                late = [self.pending.pop(k) for k in late]
            for _, done, _ in late:
                self._call(done, None)

    @staticmethod
    def _call(done, response) -> None:
        try:
            done(response)
        except Exception as e:                      # noqa: BLE001
            error(f"forward: {type(e).__name__}: {e}")


# ---------------------------------------------------------------- the server
class Server:
    def __init__(self, port: int = 53, upstream: tuple | None = None, log: bool = True,
                 domain: str = dns_zone.DEFAULT_DOMAIN, ttl: int = dns_zone.DEFAULT_TTL):
        self.port, self.domain, self.ttl = port, domain, ttl
        self.forwarder = Forwarder(upstream) if upstream else None
        self.log = QueryLog() if log else None
        self.records, self.serial = None, 0
        self.responder = dns_wire.Responder(dns_zone.build_zone([], [], [], (), domain, ttl, 0), bool(upstream))
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
        responder, old = dns_wire.Responder(zone, self.forwarder is not None), self.responder
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
                error(f"udp: {type(e).__name__}: {e}")

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
                reply.query, None, dns_zone.SERVFAIL, proto)))
        elif reply.chase:
            question = dns_wire.question_for(reply.chase, reply.query.qtype, 0)
            self.forwarder.ask(question, lambda resp: finish(dns_wire.merge_chase(reply, resp, proto)))
        else:
            finish(reply.wire)
        return True

    # -- TCP: length-prefixed messages, several per connection --
    async def handle_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        addr = writer.get_extra_info("peername") or ("-", 0)

        def send(wire: bytes) -> None:
            loop.call_soon_threadsafe(lambda: writer.is_closing() or writer.write(struct.pack("!H", len(wire)) + wire))
        try:
            while True:
                size = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), TCP_IDLE))[0]
                data = await asyncio.wait_for(reader.readexactly(size), TCP_IDLE)
                t0 = time.perf_counter()
                t = self.responder.tcp.get(data[2:-4].lower() + data[-4:])
                if t is not None:
                    wire = data[:2] + t[0] + data[12:] + t[1]
                    writer.write(struct.pack("!H", len(wire)) + wire)
                    if self.log is not None:
                        self.log.add(addr, data, t[2], time.perf_counter() - t0)
                elif not self._slow(data, addr, t0, "tcp", send):
                    break                           # not a DNS query: the connection ends
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError, OSError):
            pass
        finally:
            writer.close()

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


def parse_upstream(value: str) -> tuple[str, int] | None:
    """"10.0.0.2", "10.0.0.2:5353" -> (ip, port); "" -> None. Raises ValueError for anything else."""
    value = (value or "").strip()
    if not value:
        return None
    host, _, port = value.rpartition(":") if value.count(":") == 1 else (value, "", "53")
    socket.inet_aton(host)
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"DNS_UPSTREAM={value!r}: give ip or ip:port")
    return host, int(port)


def main(container: dict, pod: dict) -> "NoReturn":
    """The built-in workload "coredns" (called by workloads.run_builtin in the pod's namespaces)."""
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
        error("plugin/kubernetes: TOYCLUSTER_API is not set: serving an empty cluster zone")
    server.run(watch)


def system_manifests(cfg) -> list[dict]:
    """The kube-dns Service and the coredns Deployment for cluster CFG (a config.ClusterConfig), from
    dns/coredns.yaml with {{DNS_IP}}, {{API_SOCKET}} and {{UPSTREAM}} filled in."""
    import yaml
    from toycluster.api.client import socket_path
    text = (MANIFEST.read_text().replace("{{DNS_IP}}", cfg.dns_ip()).replace("{{API_SOCKET}}", socket_path(cfg.name))
            .replace("{{UPSTREAM}}", cfg.dns_upstream or ""))
    return [doc for doc in yaml.safe_load_all(text) if doc]
