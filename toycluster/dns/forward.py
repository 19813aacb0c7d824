"""CoreDNS's forward plugin: names outside the zone go to one upstream resolver ($DNS_UPSTREAM) over UDP.

An ExternalName whose target lies outside the zone is chased there too: the upstream's answer about the
target follows the zone's CNAME. An upstream that says nothing within FORWARD_TIMEOUT gets the client SERVFAIL.
"""
from __future__ import annotations

import random
import socket
import threading
import time

from dnslib import DNSHeader, DNSQuestion, DNSRecord

from toycluster.dns import log
from toycluster.dns.responder import Reply
from toycluster.wire.dns import SERVFAIL, Answer, render

FORWARD_TIMEOUT = 2.0         # an upstream that says nothing in this time: SERVFAIL


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
            log.error(f"forward: {type(e).__name__}: {e}")


def question_for(name: str, qtype: int, qid: int) -> bytes:
    """A plain recursive query (used to ask an upstream about an ExternalName's target)."""
    return DNSRecord(DNSHeader(id=qid, bitmap=0x0100), questions=[DNSQuestion(name, qtype)]).pack()


def merge_chase(reply: Reply, upstream: bytes | None, proto: str = "udp") -> bytes:
    """REPLY's CNAME followed by what the upstream said about its target (SERVFAIL if it said nothing)."""
    q = reply.query
    try:
        theirs = DNSRecord.parse(upstream) if upstream else None
    except Exception:
        theirs = None
    if theirs is None:
        return render(q, None, SERVFAIL, proto)
    cname = DNSRecord.parse(reply.wire).rr
    return render(q, Answer(theirs.header.rcode, answer=cname + theirs.rr, authority=theirs.auth,
                            authoritative=True), theirs.header.rcode, proto)
