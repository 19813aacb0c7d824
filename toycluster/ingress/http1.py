"""Ingress controller (ingress-nginx's nginx), HTTP/1.x, pure: request and response heads, chunked framing, and
nginx's own error pages. parse_head() says how to refuse a request (400 malformed, 414 request line over 8 KiB,
501 a Transfer-Encoding other than chunked, 505 another HTTP version; Content-Length with Transfer-Encoding is
refused, as request smuggling); parse_response_head() cleans an upstream's head of hop-by-hop headers.
"""
from __future__ import annotations

import re

from toycluster.ingress.routes import normalise_host, normalise_path, split_target

MAX_LINE, MAX_HEAD, MAX_UPSTREAM_HEAD = 8192, 32768, 32768
PIPELINE_LIMIT, PENDING_LIMIT = 65536, 1 << 20
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
REASONS = {100: "Continue", 200: "OK", 400: "Bad Request", 404: "Not Found", 408: "Request Time-out",
           414: "Request-URI Too Large", 431: "Request Header Fields Too Large", 501: "Not Implemented",
           502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out", 505: "HTTP Version Not Supported"}
NO_BODY, LENGTH, CHUNKED, UNTIL_CLOSE = 0, 1, 2, 3


def page(status: int) -> bytes:
    title = f"{status} {REASONS.get(status, '')}"
    return (f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
            "<hr><center>toycluster ingress (nginx)</center>\r\n</body>\r\n</html>\r\n").encode()


class Chunks:
    """Finds where a chunked body ends, without copying it: feed(data) -> the index just past the end, or -1."""
    __slots__ = ("state", "left", "line")

    def __init__(self):
        self.state, self.left, self.line = 0, 0, b""     # 0 size line, 1 data, 2 CRLF after data, 3 trailers

    def feed(self, data, i: int = 0) -> int:
        n = len(data)
        while i < n:
            if self.state == 1:
                take = min(self.left, n - i)
                i += take
                self.left -= take
                if not self.left:
                    self.state = 2
                continue
            j = data.find(b"\n", i)
            if j < 0:
                self.line += bytes(data[i:])
                if len(self.line) > 4096:
                    raise ValueError("chunk line too long")
                return -1
            line, self.line = (self.line + bytes(data[i:j])).rstrip(b"\r"), b""
            i = j + 1
            if self.state == 0:
                size = line.split(b";", 1)[0].strip()
                if not _HEX.fullmatch(size):
                    raise ValueError("bad chunk size")
                self.left = int(size, 16)
                self.state = 1 if self.left else 3
            elif self.state == 2:
                if line:
                    raise ValueError("chunk data longer than its size")
                self.state = 0
            elif not line:                                  # the empty line after the trailers
                self.state = 4
                return i
        return -1


class Request:
    __slots__ = ("method", "target", "version", "line", "headers", "host", "rawhost", "path", "keep", "framing",
                 "left", "chunks", "expect", "length", "t0", "rid", "backend", "head", "retried", "sent", "status",
                 "up_addr", "up_status", "up_t0", "up_len")

    def __init__(self):
        self.rid, self.backend, self.head, self.retried, self.sent, self.status = "", None, b"", False, 0, 0
        self.up_addr, self.up_status, self.up_t0, self.up_len = "-", "-", 0.0, "-"


def parse_head(head: bytes) -> Request | int:
    """A request head (without the blank line) -> Request, or the status to refuse it with."""
    lines = head.split(b"\n")
    req = Request()
    req.line = line = lines[0].rstrip(b"\r")
    if len(line) > MAX_LINE:
        return 414
    parts = line.split(b" ")
    if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or not parts[1]:
        return 400
    req.method, req.target, version = parts
    if version not in (b"HTTP/1.1", b"HTTP/1.0"):
        return 505 if version.startswith(b"HTTP/") and version[5:6].isdigit() and version[5:6] != b"1" else 400
    req.version, req.length = version, len(head) + 4
    headers, host, cl, te, conn = [], None, None, None, b""
    for raw in lines[1:]:
        raw = raw.rstrip(b"\r")
        name, sep, value = raw.partition(b":")
        if not sep or not _TOKEN.fullmatch(name):
            return 400                                      # also obsolete line folding (a leading space)
        lname, value = name.lower(), value.strip()
        if lname == b"host":
            if host is not None:
                return 400
            host = value
        elif lname == b"content-length":
            if not value.isdigit() or (cl is not None and cl != value):
                return 400
            cl = value
        elif lname == b"transfer-encoding":
            te = value.lower() if te is None else te + b"," + value.lower()
        elif lname == b"connection":
            conn += b"," + value.lower()
        elif lname == b"expect":
            req.expect = value.lower() == b"100-continue"
        headers.append((lname, value, raw))
    abs_host, target = split_target(req.target)
    req.rawhost = abs_host or host or b""
    if version == b"HTTP/1.1" and host is None:
        return 400
    req.host, req.path = normalise_host(req.rawhost), normalise_path(target)
    if req.path is None:
        return 400
    req.target, req.headers = target, headers
    req.keep = (b"close" not in conn) if version == b"HTTP/1.1" else (b"keep-alive" in conn)
    req.left, req.chunks, req.framing = 0, None, NO_BODY
    if te is not None:
        if cl is not None or version == b"HTTP/1.0":
            return 400                                      # no request smuggling: both framings, or TE in 1.0
        if te.replace(b" ", b"") != b"chunked":
            return 501
        req.framing, req.chunks = CHUNKED, Chunks()
    elif cl is not None and int(cl):
        req.framing, req.left = LENGTH, int(cl)
    if not hasattr(req, "expect") or req.framing == NO_BODY:
        req.expect = False
    return req


def parse_response_head(head: bytes, method: bytes):
    """(status, head for the client without hop-by-hop headers, framing, length, upstream keep-alive) or None."""
    lines = head.split(b"\n")
    parts = lines[0].rstrip(b"\r").split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit() or len(parts[1]) != 3:
        return None
    status = int(parts[1])
    keep = parts[0] == b"HTTP/1.1"
    out, framing, length, te = [b"HTTP/1.1 %s %s\r\n" % (parts[1], parts[2] if len(parts) > 2 else b"")], None, 0, False
    for raw in lines[1:]:
        raw = raw.rstrip(b"\r")
        name, sep, value = raw.partition(b":")
        if not sep:
            return None
        lname = name.strip().lower()
        if lname == b"connection":
            v = value.lower()
            keep = (b"close" not in v) and (keep or b"keep-alive" in v)
            continue
        if lname == b"content-length":
            value = value.strip()
            if not value.isdigit() or (framing == LENGTH and length != int(value)):
                return None
            framing, length = LENGTH, int(value)
        elif lname == b"transfer-encoding":
            te = value.strip().lower().endswith(b"chunked")
            continue
        elif lname in (b"keep-alive", b"proxy-connection", b"upgrade", b"te", b"trailer"):
            continue
        out.append(raw + b"\r\n")
    if te:
        framing = CHUNKED
        out.append(b"Transfer-Encoding: chunked\r\n")
    if method == b"HEAD" or status in (204, 304) or 100 <= status < 200:
        framing = NO_BODY
    elif framing is None:
        framing, keep = UNTIL_CLOSE, False
    return status, out, framing, length, keep
