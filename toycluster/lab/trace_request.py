"""The one real request a trace sends, from inside the source's namespace: DNS first, then HTTP(S), TCP or UDP.

parse_target() reads URL | NAME | IP[:PORT]; resolve() asks the nameserver of the source's resolv.conf (a pod's
cluster DNS with its search path and ndots, the user's public DNS), each expansion tried in the order a
resolver tries them; send() makes the request on a socket opened inside the namespace (a socket keeps the
namespace it was made in) and says how it went. HTTP requests carry a header `X-Toycluster-Trace: <id>` so the
trace can find the connection a proxy opens for them.
"""
from __future__ import annotations

import errno
import os
import socket
import ssl
import time
import urllib.parse
from contextlib import nullcontext
from dataclasses import dataclass, field

from dnslib import DNSRecord, QTYPE

from toycluster.cluster.lifecycle import UsageError
from toycluster.kernel import nsfs
from toycluster.lab.trace_model import DnsQuery

TAG_HEADER = "X-Toycluster-Trace"


@dataclass
class Target:
    """What to reach: scheme (http, https or None), host as given, port, path, and the address once known."""
    scheme: str | None
    host: str
    port: int
    path: str = "/"
    ip: str | None = None


@dataclass
class Outcome:
    """How the request went: the client's own socket addresses, and the answer or the error."""
    client: tuple | None = None          # (src, sport, dst, dport)
    ok: bool = False
    status: str = ""                     # "HTTP 200", "connected", "reply 12 bytes"
    error: str | None = None             # "connection refused", "timed out", "network unreachable", ...
    errno: int | None = None
    elapsed: float = 0.0
    extra: dict = field(default_factory=dict)


def parse_target(text: str, proto: str) -> Target:
    """URL | NAME | IP[:PORT]; a URL's default ports are 80 and 443, others' 80 (TCP) or 53 (UDP)."""
    if "://" in text:
        u = urllib.parse.urlsplit(text)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise UsageError(f"{text}: give an http:// or https:// URL, a name or an address")
        port = u.port or (443 if u.scheme == "https" else 80)
        return Target(u.scheme, u.hostname, port, (u.path or "/") + (f"?{u.query}" if u.query else ""))
    host, _, port = text.rpartition(":") if text.count(":") == 1 else (text, "", "")
    if not port.isdigit() and port:
        raise UsageError(f"{text}: the port must be a number")
    return Target(None, host or text, int(port) if port else (53 if proto == "udp" else 80))


def is_ip(host: str) -> bool:
    try:
        socket.inet_aton(host)
        return host.count(".") == 3
    except OSError:
        return False


def resolv_conf(netns: str | None) -> dict:
    """The nameservers, search list and ndots of NETNS's resolv.conf (/etc/netns/NETNS/resolv.conf)."""
    conf = {"nameservers": [], "search": [], "ndots": 1}
    path = f"{nsfs.etc_dir(netns)}/resolv.conf" if netns else None
    if not path or not os.path.exists(path):
        return conf
    with open(path) as f:
        for line in f:
            parts = line.split()
            if parts and parts[0] == "nameserver" and len(parts) > 1:
                conf["nameservers"].append(parts[1])
            elif parts and parts[0] == "search":
                conf["search"] = parts[1:]
            elif parts and parts[0] == "options":
                conf["ndots"] = next((int(o[6:]) for o in parts[1:] if o.startswith("ndots:")), conf["ndots"])
    return conf


def expansions(name: str, conf: dict) -> list[str]:
    """The names a resolver tries for NAME, in order (glibc: as is first when it has ndots dots or more)."""
    if name.endswith("."):
        return [name.rstrip(".")]
    searched = [f"{name}.{s}" for s in conf["search"]]
    return [name] + searched if name.count(".") >= conf["ndots"] else searched + [name]


def resolve(netns: str | None, name: str, timeout: float = 1.0) -> tuple[str | None, list[DnsQuery]]:
    """NAME's first A record as the source's resolver would find it, and every query asked on the way."""
    conf = resolv_conf(netns)
    if not conf["nameservers"]:
        raise UsageError(f"{name}: this source has no nameserver to ask (give an address)")
    server, tried, queries = conf["nameservers"][0], [], []
    for qname in expansions(name, conf):
        tried.append(qname)
        rcode, answers = _ask(netns, server, qname, timeout)
        if answers or qname == expansions(name, conf)[-1]:
            queries.append(DnsQuery(qname, "A", server, answers, rcode, list(tried)))
            return (answers[0] if answers else None), queries
    return None, queries


def _ask(netns: str | None, server: str, qname: str, timeout: float) -> tuple[str, list[str]]:
    with nsfs.in_netns(netns) if netns else nullcontext():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.settimeout(timeout)
        q = DNSRecord.question(qname, "A")
        s.sendto(q.pack(), (server, 53))
        while True:
            data, _ = s.recvfrom(4096)
            reply = DNSRecord.parse(data)
            if reply.header.id == q.header.id:
                break
    except socket.timeout:
        return "TIMEOUT", []
    except OSError as e:
        return os.strerror(e.errno) if e.errno else str(e), []
    finally:
        s.close()
    from dnslib import RCODE
    return RCODE[reply.header.rcode], [str(r.rdata) for r in reply.rr if r.rtype == QTYPE.A]


def _socket(netns: str | None, proto: str) -> socket.socket:
    with nsfs.in_netns(netns) if netns else nullcontext():
        return socket.socket(socket.AF_INET, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)


def _error(e: OSError) -> str:
    if isinstance(e, socket.timeout) or e.errno in (errno.ETIMEDOUT, None):
        return "timed out"
    return {errno.ECONNREFUSED: "connection refused", errno.ECONNRESET: "connection reset",
            errno.ENETUNREACH: "network unreachable", errno.EHOSTUNREACH: "no route to host"}.get(
        e.errno, os.strerror(e.errno))


def send(netns: str | None, target: Target, proto: str, tag: str, timeout: float, ca: str | None) -> Outcome:
    """One request to TARGET.ip from inside NETNS; never raises for what the network does."""
    out, t0 = Outcome(), time.monotonic()
    s = _socket(netns, proto)
    try:
        s.settimeout(timeout)
        s.bind(("0.0.0.0", 0))
        if proto == "udp":
            _udp(s, target, tag, out)
        else:
            s.connect((target.ip, target.port))
            out.client = s.getsockname() + s.getpeername()
            out.ok, out.status = True, "connected"
            if target.scheme:
                _http(s, target, tag, out, ca)
    except OSError as e:
        out.ok, out.error, out.errno = False, _error(e), getattr(e, "errno", None)
        if isinstance(e, ssl.SSLError):
            out.error = f"TLS: {e.reason or e}"
    finally:
        if out.client is None:
            with_port = s.getsockname()
            out.client = (with_port[0], with_port[1], target.ip, target.port)
        s.close()
        out.elapsed = time.monotonic() - t0
    return out


def _http(s: socket.socket, target: Target, tag: str, out: Outcome, ca: str | None) -> None:
    conn = s
    if target.scheme == "https":
        ctx = ssl.create_default_context(cafile=ca) if ca and os.path.exists(ca) else ssl.create_default_context()
        conn = ctx.wrap_socket(s, server_hostname=target.host)
    host = target.host if target.port in (80, 443) else f"{target.host}:{target.port}"
    conn.sendall(f"GET {target.path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: toycluster-trace\r\n"
                 f"{TAG_HEADER}: {tag}\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    head = data.split(b"\r\n", 1)[0].decode(errors="replace").split()
    if len(head) < 2:
        out.ok, out.error = False, "connection closed without an HTTP answer"
        return
    out.status = f"HTTP {head[1]}"
    out.ok = head[1][:1] in ("2", "3")
    out.extra["body"] = data.split(b"\r\n\r\n", 1)[-1][:200].decode(errors="replace")
    if conn is not s:
        try:
            conn.unwrap()
        except (OSError, ValueError):
            pass


def _udp(s: socket.socket, target: Target, tag: str, out: Outcome) -> None:
    payload = DNSRecord.question("kubernetes.default.svc.cluster.local", "A").pack() if target.port == 53 \
        else f"toycluster trace {tag}\n".encode()
    s.connect((target.ip, target.port))              # connected: an ICMP error comes back as ECONNREFUSED
    out.client = s.getsockname() + s.getpeername()
    s.send(payload)
    data = s.recv(65536)
    out.ok, out.status = True, f"reply of {len(data)} bytes"
