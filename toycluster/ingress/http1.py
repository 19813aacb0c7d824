"""Ingress controller (ingress-nginx's nginx), HTTP/1.x policy on top of wire/http1.py: nginx's limits, reason
phrases and error pages, the request as the data path carries it, and the upstream's response head.

parse_head() refuses what nginx refuses: 414 a request line over 8 KiB, then what wire.http1 refuses (400 malformed,
no or two Hosts in HTTP/1.1, Content-Length with Transfer-Encoding as request smuggling; 501 a Transfer-Encoding
other than chunked; 505 another HTTP version), then 400 a path that leaves the root. parse_response_head() cleans an
upstream's head of hop-by-hop headers.
"""
from __future__ import annotations

from toycluster.ingress.routes import normalise_host, normalise_path, split_target
from toycluster.wire import http1
from toycluster.wire.http1 import CHUNKED, LENGTH, NO_BODY, UNTIL_CLOSE

MAX_LINE, MAX_HEAD, MAX_UPSTREAM_HEAD = 8192, 32768, 32768
PIPELINE_LIMIT, PENDING_LIMIT = 65536, 1 << 20
REASONS = {100: "Continue", 101: "Switching Protocols", 200: "OK", 301: "Moved Permanently", 302: "Found",
           307: "Temporary Redirect", 308: "Permanent Redirect", 400: "Bad Request", 404: "Not Found",
           408: "Request Time-out",
           414: "Request-URI Too Large", 431: "Request Header Fields Too Large", 501: "Not Implemented",
           502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out", 505: "HTTP Version Not Supported"}


def page(status: int) -> bytes:
    title = f"{status} {REASONS.get(status, '')}"
    return (f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
            "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n").encode()


class Request(http1.Head):
    """A request on the data path: the head as parsed, its route (HOST normalised, PATH as nginx matches it,
    RAWHOST as sent), and what the access log needs (LENGTH, times, the upstream's address, status and length)."""
    __slots__ = ("host", "path", "length", "t0", "rid", "backend", "head", "retried", "sent", "status",
                 "up_addr", "up_status", "up_t0", "up_len", "extra", "hsts", "memo", "tried")

    def __init__(self):
        self.rid, self.backend, self.head, self.retried, self.sent, self.status = "", None, b"", False, 0, 0
        self.extra, self.hsts, self.memo = b"", b"", None             # a Set-Cookie line of the balancer's; Strict-Transport-Security
        self.up_addr, self.up_status, self.up_t0, self.up_len = "-", "-", 0.0, "-"
        self.tried = []                                               # endpoints that failed it (next upstream)


def parse_head(head: bytes) -> Request | int:
    """A request head (without the blank line) -> Request, or the status to refuse it with. The parse of a bodiless
    request is remembered (clients send the same head again and again; its headers are only read afterwards)."""
    hit = _HEADS.get(head)
    if hit is not None:
        req = Request()
        (req.method, req.target, req.version, req.line, req.headers, req.rawhost, req.keep, req.framing, req.left,
         req.chunks, req.expect, req.host, req.path, req.length, req.memo) = hit
        return req
    req = http1.parse_head(head, Request(), MAX_LINE)
    if isinstance(req, int):
        return req
    abs_host, target = split_target(req.target)
    req.rawhost = abs_host or req.rawhost or b""
    req.host, req.path = normalise_host(req.rawhost), normalise_path(target)
    if req.path is None:
        return 400
    req.target, req.length = target, len(head) + 4
    if req.framing == NO_BODY and len(head) < 4096:
        if len(_HEADS) > 256:
            _HEADS.clear()
        _HEADS[head] = (req.method, req.target, req.version, req.line, req.headers, req.rawhost, req.keep, req.framing,
                        req.left, req.chunks, req.expect, req.host, req.path, req.length, {})
    return req


_HEADS: dict = {}


_SEEN: dict = {}


def response_head(head: bytes, method: bytes):
    """parse_response_head(), remembered: an upstream tends to send the same head again and again."""
    key = (head, method)
    hit = _SEEN.get(key)
    if hit is None:
        if len(_SEEN) > 256:
            _SEEN.clear()
        hit = _SEEN[key] = parse_response_head(head, method)
    return hit


def parse_response_head(head: bytes, method: bytes):
    """(status, (status line, fixed, rest), framing, length, upstream keep-alive) or None. As nginx's proxy module
    writes a head: the upstream's Server, Date, X-Pad and X-Accel-* are hidden (the caller adds its own Date),
    Content-Type, Content-Length, Last-Modified and Location come first (FIXED), the other headers (REST) in the
    upstream's order; hop-by-hop headers go, but a 101's Upgrade stays."""
    lines = head.split(b"\n")
    parts = lines[0].rstrip(b"\r").split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit() or len(parts[1]) != 3:
        return None
    status = int(parts[1])
    keep = parts[0] == b"HTTP/1.1"
    first = b"HTTP/1.1 %s %s\r\n" % (parts[1], parts[2] if len(parts) > 2 else b"")
    slots, rest, framing, length, te = {}, [], None, 0, False
    for raw in lines[1:]:
        raw = raw.rstrip(b"\r")
        name, sep, value = raw.partition(b":")
        if not sep:
            return None
        lname = name.strip().lower()
        if lname in _FIXED:
            if lname == b"content-length":
                value = value.strip()
                if not value.isdigit() or (framing == LENGTH and length != int(value)):
                    return None
                framing, length = LENGTH, int(value)
            slots[lname] = raw + b"\r\n"
        elif lname == b"connection":
            v = value.lower()
            keep = (b"close" not in v) and (keep or b"keep-alive" in v)
        elif lname == b"transfer-encoding":
            te = value.strip().lower().endswith(b"chunked")
        elif lname in _HIDDEN or lname.startswith(b"x-accel-") or (lname == b"upgrade" and status != 101):
            continue
        else:
            rest.append(raw + b"\r\n")
    fixed = b"".join(slots[k] for k in _FIXED if k in slots)
    if te:
        framing = CHUNKED
        fixed += b"Transfer-Encoding: chunked\r\n"
    if method == b"HEAD" or status in (204, 304) or 100 <= status < 200:
        framing = NO_BODY
    elif framing is None:
        framing, keep = UNTIL_CLOSE, False
    return status, (first, fixed, b"".join(rest)), framing, length, keep


_FIXED = (b"content-type", b"content-length", b"last-modified", b"location")
_HIDDEN = frozenset((b"server", b"date", b"x-pad", b"keep-alive", b"proxy-connection", b"te", b"trailer"))
