"""Ingress controller (ingress-nginx's upstream keepalive): one connection to a Service's ClusterIP or a pod.

An Upstream carries one request at a time for a Client (proxy.py), reads the response head, hands the
client the head nginx would write (its own Date, no Server unless server-tokens, the balancer's Set-Cookie,
Strict-Transport-Security on HTTPS where TLS is configured; hop-by-hop headers dropped), and streams the body
until its framing says it is over; a 101 to a request that asked for an upgrade turns into a tunnel;
then it goes back to the controller's pool for that address (keep-alive, as ingress-nginx's
upstream-keepalive-connections) unless either side said close. A pooled connection that the upstream closed
under us, before any byte of the answer, is retried once on a fresh connection (bodiless requests only).
"""
from __future__ import annotations

import socket

from toycluster.ingress.http1 import MAX_UPSTREAM_HEAD, response_head
from toycluster.wire.http1 import CHUNKED, LENGTH, NO_BODY, UNTIL_CLOSE, Chunks, head_end

HEAD = -1


class Upstream:
    def __init__(self, ctl, addr: tuple):
        self.ctl, self.addr, self.time, self.text = ctl, addr, ctl.loop.time, f"{addr[0]}:{addr[1]}"
        self.t = self.client = self.req = self.chunks = None
        self.state, self.hbuf, self.left, self.keep = HEAD, bytearray(), 0, False
        self.closed = self.reused = self.tunnel = False
        self.deadline = float("inf")

    # -- asyncio callbacks --
    def connection_made(self, t):
        self.t = t
        t.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.ctl.upstreams.add(self)

    def pause_writing(self):                                 # the upstream reads the request body too slowly
        if self.client is not None:
            self.client.t.pause_reading()

    def resume_writing(self):
        if self.client is not None:
            self.client.t.resume_reading()

    def eof_received(self):
        return False

    def begin(self, client, req, data: bytes) -> None:
        self.client, self.req, self.state, self.hbuf = client, req, HEAD, bytearray()
        self.deadline = self.time() + self.ctl.s.read_timeout
        req.up_addr, req.up_t0 = self.text, self.time()
        self.t.write(data)

    def data_received(self, data):
        client = self.client
        if client is None:                                   # bytes nobody asked for: not reusable
            self.close()
            return
        self.deadline = self.time() + self.ctl.s.read_timeout
        if self.tunnel:
            client.t.write(data)
            return
        if self.state != HEAD:
            self._body(data, client)
            return
        self.hbuf += data
        while self.state == HEAD:
            end, skip = head_end(self.hbuf)
            if end < 0:
                if len(self.hbuf) > MAX_UPSTREAM_HEAD:
                    client.fail(502, "upstream sent too big header while reading response header from upstream")
                return
            parsed = response_head(bytes(self.hbuf[:end]), self.req.method)
            if parsed is None:
                return client.fail(502, "upstream sent invalid header while reading response header from upstream")
            status, (first, fixed, others), framing, length, keep = parsed
            rest = bytes(self.hbuf[end + skip:])
            req = self.req
            if status == 101 and b"\r\nConnection: upgrade\r\n" in req.head:
                return self._upgrade(client, req, first, others, rest)
            if 100 <= status < 200:                          # 100 Continue and friends: we did our own
                self.hbuf = bytearray(rest)
                continue
            req.up_status = req.status = status
            self.keep = keep and req.version == b"HTTP/1.1"
            if framing == UNTIL_CLOSE:
                req.keep = False
            conn = b"Connection: keep-alive\r\n" if req.keep and not client.reading_body else b"Connection: close\r\n"
            self.state, self.left = framing, length
            self.chunks = Chunks() if framing == CHUNKED else None
            head = b"".join((first, self.ctl.server_line, b"Date: ", self.ctl.http_date(), b"\r\n", fixed, conn,
                             req.extra, others, req.hsts, b"\r\n"))
            if framing == NO_BODY or (framing == LENGTH and not length):
                client.t.write(head)
                return self._finish()
            self._body(rest, client, head)

    def _upgrade(self, client, req, first: bytes, others: bytes, rest: bytes) -> None:
        """101 Switching Protocols: the head (with `Connection: upgrade`), then bytes both ways until a close."""
        req.up_status = req.status = 101
        self.tunnel, self.keep, self.state = True, False, UNTIL_CLOSE
        client.t.write(b"".join((first, self.ctl.server_line, b"Date: ", self.ctl.http_date(), b"\r\n", others,
                                 b"Connection: upgrade\r\n", req.hsts, b"\r\n", rest)))
        self.ctl.log(req, client)
        client.tunnelled(self)

    def _body(self, data, client, head: bytes = b"") -> None:
        state, done = self.state, False
        if state == LENGTH:
            take = min(self.left, len(data))
            if take < len(data):
                self.keep = False                            # more than it announced
                data = data[:take]
            self.left -= take
            done = not self.left
        elif state == CHUNKED:
            try:
                end = self.chunks.feed(data)
            except ValueError:
                self.keep = False
                client.t.write(head)
                return client.fail(502, "upstream sent invalid chunked response")
            if end >= 0:
                if end < len(data):
                    self.keep, data = False, data[:end]
                done = True
        self.req.sent += len(data)
        client.t.write(head + data if head else data)
        if done:
            self._finish()

    def _finish(self) -> None:
        client, req = self.client, self.req
        self.client = self.req = None
        req.up_len = str(req.sent)
        self.ctl.log(req, client)
        keep = self.keep and not client.reading_body
        if keep:
            self.release()
        else:
            self.close()
        client.finished(req, req.keep)

    def connection_lost(self, exc):
        self.closed = True
        self.ctl.upstreams.discard(self)
        self.ctl.unpool(self)
        client, req = self.client, self.req
        self.client = self.req = None
        if client is None:
            return
        client.up = None
        if self.tunnel:                                      # the websocket's upstream side closed
            return client.close(linger=True)
        if self.state == UNTIL_CLOSE:                        # the end of a body that runs until close
            req.up_len = str(req.sent)
            self.ctl.log(req, client)
            return client.finished(req, False)
        if self.state == HEAD and not self.hbuf and self.reused and not req.retried and req.framing == NO_BODY:
            req.retried = True                               # a pooled connection closed under us: once more
            client.pending = bytearray(req.head)
            return self.ctl.connect(req, self.addr, client)
        why = "upstream prematurely closed connection while reading " + \
            ("response header" if self.state == HEAD else "upstream")
        if self.state == HEAD and not self.hbuf:             # nothing of the answer came: the next endpoint may
            return client.next_upstream(502, why)
        client.fail(502, why)

    # -- the controller's side --
    def timeout(self) -> None:
        if self.client is None or self.tunnel:              # idle in the pool, or a quiet tunnel, for too long
            return self.close()
        self.client.fail(504, "upstream timed out (110: Connection timed out) while reading response header "
                              "from upstream" if self.state == HEAD else "upstream timed out while reading upstream")

    def release(self) -> None:
        """Back to the pool, idle."""
        self.reused, self.client, self.req = True, None, None
        self.deadline = self.time() + self.ctl.s.upstream_idle
        self.t.resume_reading()
        self.ctl.pool(self)

    def abandon(self) -> None:
        """The client went away (or gave up) in the middle of an exchange."""
        self.client = self.req = None
        self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.ctl.unpool(self)
            self.t.close()
