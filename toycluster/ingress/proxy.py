"""Ingress controller (ingress-nginx's nginx), the data path: one client connection in, keep-alive upstreams out.

Client is an asyncio Protocol per client connection (HTTP/1.0 and 1.1, keep-alive, pipelining); Upstream one
per connection to a pod (balancer.py picks one per request), or to a Service's ClusterIP with service-upstream.
Annotations act here (annotations.py): ssl-redirect answers 308, rewrite-target changes the URI sent upstream.
An answer of 101 turns both connections into a tunnel (websockets) until either side closes. Bodies are streamed
both ways (Content-Length, chunked, or until the upstream closes) with back-pressure: a side whose peer cannot keep
up stops being read. Limits and answers, as nginx gives them:
  request line over 8 KiB          414     header section over 32 KiB   431     malformed request   400
  Transfer-Encoding not chunked    501     no route                     404     no ready endpoint   503
  upstream refused or broke        502     upstream silent              504     head not in time    408, closed
  (a refused, unreachable or silent endpoint, or one that closes before answering, is first replaced by the next
  one, up to three tries for a request without a body: proxy_next_upstream "error timeout")
  http:// where TLS is configured  308 (https://, as ssl-redirect)
Timeouts (Settings, from the pod's environment) are checked by a sweep every 0.5 s, not by a timer per request.
"""
from __future__ import annotations

import socket

from toycluster.ingress.annotations import https_location, https_redirect, rewrite
from toycluster.ingress.routes import upstream_head
from toycluster.ingress.http1 import MAX_HEAD, MAX_LINE, PENDING_LIMIT, PIPELINE_LIMIT, REASONS, Request, page, parse_head
from toycluster.wire.http1 import CHUNKED, LENGTH, NO_BODY, head_end

NEXT_TRIES = 3             # proxy-next-upstream-tries: the first endpoint and two more


class Client:
    """One client connection (asyncio Protocol). CTL is the controller: routes, pools, log, settings."""

    def __init__(self, ctl, scheme: str, port: int):
        self.ctl, self.scheme, self.port, self.time = ctl, scheme, port, ctl.loop.time
        self.t, self.buf, self.req, self.up, self.pending = None, bytearray(), None, None, None
        self.busy = self.closing = self.reading_body = self.started = self.eof = self.tunnel = False
        self.deadline, self.ip = self.time() + ctl.s.header_timeout, "-"

    # -- asyncio callbacks --
    def connection_made(self, t):
        self.t = t
        sock = t.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = t.get_extra_info("peername")
        self.ip = peer[0] if peer else "-"
        self.ctl.clients.add(self)

    def connection_lost(self, exc):
        self.closing = True
        self.ctl.clients.discard(self)
        up, self.up = self.up, None
        if up is not None:
            up.abandon()

    def eof_received(self):
        self.eof = True                                      # the client sends no more: answer what it sent, then close
        return self.busy and self.scheme == "http"

    def pause_writing(self):                                 # the client reads our answer too slowly
        self.deadline = self.time() + self.ctl.s.send_timeout
        if self.up is not None:
            self.up.t.pause_reading()
            self.up.deadline = float("inf")                  # not the upstream's fault while we do not read it

    def resume_writing(self):
        self.deadline = float("inf") if self.busy else self.deadline
        if self.up is not None:
            self.up.t.resume_reading()
            self.up.deadline = self.time() + self.ctl.s.read_timeout

    def data_received(self, data):
        if self.closing:
            return
        if self.tunnel:
            self.up.t.write(data)
            self.up.deadline = self.time() + self.ctl.s.read_timeout
            return
        if self.reading_body:
            self.deadline = self.time() + self.ctl.s.body_timeout
            self._body(data)
            return
        self.buf += data
        if not self.busy:
            self._next()
        elif len(self.buf) > PIPELINE_LIMIT:
            self.t.pause_reading()

    # -- requests --
    def _next(self):
        buf = self.buf
        while not self.busy and not self.closing:
            if buf[:1] in (b"\r", b"\n"):
                del buf[:len(buf) - len(buf.lstrip(b"\r\n"))]
            if not buf:
                if self.started:
                    self.deadline, self.started = self.time() + self.ctl.s.keepalive_timeout, False
                return
            if not self.started:
                self.started, self.deadline = True, self.time() + self.ctl.s.header_timeout
            end, skip = head_end(buf)
            if end < 0:
                nl = buf.find(b"\n")
                if nl > MAX_LINE or (nl < 0 and len(buf) > MAX_LINE):
                    return self.refuse(414)
                if len(buf) > MAX_LINE + MAX_HEAD:
                    return self.refuse(431)
                return
            if end - max(buf.find(b"\n", 0, end), 0) > MAX_HEAD:
                return self.refuse(431)
            req = parse_head(bytes(buf[:end]))
            del buf[:end + skip]
            if isinstance(req, int):
                return self.refuse(req)
            self.started = False
            self._serve(req)

    def _serve(self, req: Request) -> None:
        ctl = self.ctl
        req.t0 = self.time()
        backend = req.backend = ctl.routes.match(req.host, req.path)
        if backend is None:
            return self.local(req, 404)
        tls = bool(ctl.routes.tls_hosts) and ctl.routes.tls_for(req.host)      # a certificate for this host
        if self.scheme == "http":
            if https_redirect(backend.opts, "http", tls):
                return self.local(req, 308, location=https_location(req.rawhost, req.target))
        elif tls:
            req.hsts = ctl.s.hsts
        addr, req.extra, why = ctl.balancer.pick(backend, ctl.services, ctl.slices, req.headers, self.scheme == "https")
        if addr is None:
            ctl.error(f"{why} (request \"{req.line.decode('latin-1')}\", host \"{req.host}\")", backend)
            return self.local(req, 503)
        req.rid = ctl.request_id(req)
        target = rewrite(backend.opts, backend.path, req.path, req.target) if backend.opts.rewrite else req.target
        req.head = upstream_head(req.method, target, req.headers, client_ip=self.ip, scheme=self.scheme,
                                 host=req.rawhost, server_port=self.port, request_id=req.rid,
                                 trust_forwarded=ctl.s.trust_forwarded, chunked=req.framing == CHUNKED,
                                 version=req.version, memo=req.memo)
        self.busy, self.req, self.deadline = True, req, float("inf")
        self.pending = bytearray(req.head)
        if req.framing != NO_BODY:
            if req.expect:
                self.t.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.reading_body, self.deadline = True, self.time() + ctl.s.body_timeout
            rest = bytes(self.buf)
            self.buf.clear()
            if rest:
                self._body(rest)
        ctl.upstream_for(req, addr, self)

    def _body(self, data) -> None:
        """Request body bytes: to the upstream (or held until it is connected); what follows stays buffered."""
        req, rest = self.req, b""
        try:
            if req.framing == LENGTH:
                take = min(req.left, len(data))
                part, rest, req.left = data[:take], data[take:], req.left - take
                done = not req.left
            else:
                end = req.chunks.feed(data)
                done = end >= 0
                part, rest = (data[:end], data[end:]) if done else (data, b"")
        except ValueError:
            return self.fail(400, "client sent invalid chunked body")
        req.length += len(part)
        if self.up is not None:
            self.up.t.write(part)
        else:
            self.pending += part
            if len(self.pending) > PENDING_LIMIT:
                self.t.pause_reading()
        if done:
            self.reading_body, self.deadline = False, float("inf")
            if rest:
                self.buf += rest

    def attach(self, up) -> None:
        """An upstream connection is ready: send what is held and go on streaming."""
        if self.closing:
            up.release()
            return
        self.up = up
        data, self.pending = bytes(self.pending), None
        up.begin(self, self.req, data)
        if len(data) > PENDING_LIMIT:
            self.t.resume_reading()

    def tunnelled(self, up) -> None:
        """The upstream answered 101: from now on bytes go both ways unread."""
        self.tunnel, self.up, self.deadline = True, up, float("inf")
        data, self.buf = bytes(self.buf), bytearray()
        if data:
            up.t.write(data)
        self.t.resume_reading()

    def finished(self, req: Request, keep: bool) -> None:
        """The upstream's answer is complete (CTL has logged it)."""
        self.up, self.req, self.busy = None, None, False
        if not keep or not req.keep or self.reading_body or (self.eof and not self.buf):
            self.close()
            return
        self.t.resume_reading()
        self._next()

    # -- answers of our own --
    def local(self, req: Request, status: int, close: bool = False, location: bytes = b"") -> None:
        """An answer of nginx's own, with its error page (as nginx writes it, server_tokens off)."""
        body = page(status)
        keep = req.keep and not close and req.framing == NO_BODY and not self.reading_body
        head = b"HTTP/1.1 %d %s\r\n%sDate: %s\r\nContent-Type: text/html\r\nContent-Length: %d\r\n%s%s%s\r\n" % (
            status, REASONS[status].encode(), self.ctl.server_line, self.ctl.http_date(), len(body),
            b"Location: %s\r\n" % location if location else b"",
            b"Connection: keep-alive\r\n" if keep else b"Connection: close\r\n", req.hsts)
        self.t.write(head if req.method == b"HEAD" else head + body)
        req.status, req.sent = status, len(body)
        self.ctl.log(req, self)
        self.up, self.req, self.busy = None, None, False
        if keep and not (self.eof and not self.buf):
            self._next()
        else:
            self.close(linger=True)

    def refuse(self, status: int) -> None:
        """A request we could not even read: answer STATUS and close."""
        req = Request()
        req.line, req.method, req.keep, req.framing, req.length, req.host = b"-", b"GET", False, NO_BODY, len(self.buf), ""
        req.headers, req.t0 = [], self.time()
        self.buf.clear()
        self.local(req, status, close=True)

    def next_upstream(self, status: int, why: str) -> None:
        """ingress-nginx's proxy_next_upstream "error timeout" (proxy-next-upstream-tries 3): a request none of
        whose answer has come and that has no body goes to the next endpoint; after three, or else, STATUS."""
        req, ctl = self.req, self.ctl
        if req is None or self.closing or req.status or req.framing != NO_BODY or len(req.tried) >= NEXT_TRIES - 1:
            return self.fail(status, why)
        ctl.error(f"{why}, client: {self.ip}, request: \"{req.line.decode('latin-1')}\", upstream: "
                  f"\"{req.up_addr}\", host: \"{req.host}\"", req.backend)
        req.tried.append(req.up_addr)
        for _ in range(8):                                   # round robin: the next one is another endpoint
            addr = ctl.balancer.pick(req.backend, ctl.services, ctl.slices)[0]
            if addr is None or f"{addr[0]}:{addr[1]}" not in req.tried:
                break
        if addr is None or f"{addr[0]}:{addr[1]}" in req.tried:
            return self.fail(status, why)
        self.up, self.pending = None, bytearray(req.head)
        ctl.upstream_for(req, addr, self)

    def fail(self, status: int, why: str) -> None:
        """The upstream could not answer (or the client broke its body): STATUS if nothing was sent yet."""
        req = self.req
        if req is None or self.closing:
            return self.close()
        self.ctl.error(f"{why}, client: {self.ip}, request: \"{req.line.decode('latin-1')}\", "
                       f"upstream: \"{req.up_addr}\", host: \"{req.host}\"", req.backend)
        up, self.up = self.up, None
        if up is not None:
            up.abandon()
        if req.status:                                       # part of an answer went out: all we can do is close
            self.ctl.log(req, self)
            return self.close()
        self.reading_body = False
        self.local(req, status, close=True)

    def timeout(self) -> None:
        if self.busy and not self.reading_body:              # a slow reader of our answer (send_timeout)
            return self.fail(504, "client timed out while reading the response") if not self.req.status \
                else self.close()
        if self.reading_body:
            return self.fail(408, "client timed out while sending the request body")
        if self.started and self.buf:
            return self.refuse(408)                          # client_header_timeout
        self.close()                                         # an idle keep-alive connection

    def close(self, linger: bool = False) -> None:
        if self.closing:
            return
        self.closing = True
        self.ctl.clients.discard(self)
        if linger and self.t.can_write_eof():                # half-close, so no RST destroys the answer
            self.t.write_eof()
            self.ctl.loop.call_later(1.0, self.t.close)
        else:
            self.t.close()
