"""HTTP/1.1 requests on the wire (RFC 9112): the one head parser and chunked-body reader, shared by the API
server, the echo and nginx workloads and the ingress.

parse_head() refuses what no HTTP/1.1 server may accept: 400 a malformed request line or header line (obsolete
line folding included), an HTTP/1.1 request without exactly one Host, a Content-Length that is not a number or
that a second one contradicts, Transfer-Encoding with Content-Length or in HTTP/1.0 (request smuggling); 501 a
transfer coding other than chunked; 505 an HTTP version other than 1.x; and, given a limit, 414 a longer request
line. Each server adds its own limits and answers on top (the ingress's are nginx's: ingress/http1.py). Bare LF
line ends are tolerated (printf ... | nc).
"""
from __future__ import annotations

import re

TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")
NO_BODY, LENGTH, CHUNKED, UNTIL_CLOSE = 0, 1, 2, 3          # how a message's body is framed


def head_end(buf) -> tuple[int, int]:
    """(where the blank line that ends the head in BUF starts, how many bytes of line ends to skip) or (-1, 0)."""
    end = buf.find(b"\r\n\r\n")
    bare = buf.find(b"\n\n", 0, end) if end >= 0 else buf.find(b"\n\n")
    if bare >= 0:
        return bare, 2
    return (end, 4) if end >= 0 else (-1, 0)


class Chunks:
    """A chunked body as it arrives: feed(data, i) -> the index in DATA just past the body's end, or -1 while more
    is to come (ValueError if it is malformed). BODY, when set to a bytearray, collects the first LIMIT bytes of the
    chunks' data; SIZE counts all of it."""
    __slots__ = ("state", "left", "line", "body", "limit", "size")

    def __init__(self):
        self.state, self.left, self.line = 0, 0, b""     # 0 size line, 1 data, 2 CRLF after data, 3 trailers
        self.body, self.limit, self.size = None, 0, 0

    def feed(self, data, i: int = 0) -> int:
        n = len(data)
        while i < n:
            if self.state == 1:
                take = min(self.left, n - i)
                if self.body is not None and self.size < self.limit:
                    self.body += data[i:i + min(take, self.limit - self.size)]
                self.size += take
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


class Head:
    """A request head. HEADERS: (lowercased name, value, raw line) in order; RAWHOST: the Host header as sent (None
    without one); KEEP: the connection stays open after the answer; FRAMING: NO_BODY, LENGTH (LEFT bytes) or CHUNKED
    (read with CHUNKS); EXPECT: the client waits for "100 Continue" before it sends its body."""
    __slots__ = ("method", "target", "version", "line", "headers", "rawhost", "keep", "framing", "left", "chunks",
                 "expect")

    def header(self, name: bytes, default: bytes = b"") -> bytes:
        """The value of header NAME (lowercase), repeated ones joined with ", "; DEFAULT if absent."""
        values = [value for lname, value, _ in self.headers if lname == name]
        return b", ".join(values) if values else default


def parse_head(head: bytes, req: Head | None = None, max_line: int = 0) -> Head | int:
    """A request head (without its blank line) -> REQ (a new Head if None) filled in, or the status to refuse it with
    (414 first if MAX_LINE is set and the request line is longer)."""
    lines = head.split(b"\n")
    req = Head() if req is None else req
    req.line = line = lines[0].rstrip(b"\r")
    if max_line and len(line) > max_line:
        return 414
    parts = line.split(b" ")
    if len(parts) != 3 or not TOKEN.fullmatch(parts[0]) or not parts[1]:
        return 400
    req.method, req.target, version = parts
    if version not in (b"HTTP/1.1", b"HTTP/1.0"):
        return 505 if version.startswith(b"HTTP/") and version[5:6].isdigit() and version[5:6] != b"1" else 400
    req.version = version
    headers, host, cl, te, conn, expect = [], None, None, None, b"", False
    for raw in lines[1:]:
        raw = raw.rstrip(b"\r")
        name, sep, value = raw.partition(b":")
        if not sep or not TOKEN.fullmatch(name):
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
            expect = value.lower() == b"100-continue"
        headers.append((lname, value, raw))
    if version == b"HTTP/1.1" and host is None:
        return 400
    req.headers, req.rawhost = headers, host
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
    req.expect = expect and req.framing != NO_BODY
    return req
