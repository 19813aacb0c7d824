"""Container images: the HTTP server of the built-in "echo" (whoami, http-echo, echoserver, ...) and "nginx"
(nginx, httpd, caddy, ...) images.

One asyncio Protocol per connection speaks HTTP/1.x as wire/http1.py reads it: keep-alive, pipelining (one write
per batch of answers), Content-Length and chunked bodies, "100 Continue"; a head over 64 KiB is answered 431, a
refused request gets its status, then the connection closes. "echo" answers what it saw: the pod, the request line,
the headers and up to 16 KiB of the body (JSON for /api, `?json` or Accept: application/json; http-echo's -text
answers just that text). "nginx" answers its welcome page on / and writes nginx's "combined" access log.
"""
import asyncio
import json
import socket
import sys
import time

from toycluster.node.entrypoint import serve
from toycluster.node.workloads import container_env, flag, listen_ports, normalise
from toycluster.wire.http1 import LENGTH, Head, head_end, parse_head

_MAX_HEAD = 65536               # request line + headers; more is answered 431
_MAX_ECHO_BODY = 16384          # the echo shows at most this much of a request body


class _BadRequest(Exception):
    pass


_REASONS = {200: b"200 OK", 400: b"400 Bad Request", 404: b"404 Not Found", 405: b"405 Not Allowed",
            431: b"431 Request Header Fields Too Large", 501: b"501 Not Implemented",
            505: b"505 HTTP Version Not Supported"}
_TEXT, _HTML, _JSON = b"text/plain; charset=utf-8", b"text/html", b"application/json"
_clock = [0, b"", ""]                           # this second, its HTTP date, its nginx log time


def _now() -> list:
    now = int(time.time())
    if now != _clock[0]:
        _clock[:] = [now, time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now)).encode(),
                     time.strftime("%d/%b/%Y:%H:%M:%S %z", time.localtime(now))]
    return _clock


class Request(Head):
    """A request head, and its body as far as the echo shows it (BODY, the first 16 KiB; SIZE, all of it)."""
    __slots__ = ("body", "size")


def _request(head: bytes) -> Request:
    req = parse_head(head, Request())
    if isinstance(req, int):
        raise _BadRequest(req)
    req.size, req.body = 0, bytearray() if req.framing else b""
    if req.chunks is not None:
        req.chunks.body, req.chunks.limit = req.body, _MAX_ECHO_BODY
    return req


class HTTP(asyncio.Protocol):
    """One HTTP/1.x connection: keep-alive, pipelining, Content-Length and chunked bodies."""

    def __init__(self, site):
        self.site, self.buf, self.req, self.t, self.paused, self.closing = site, bytearray(), None, None, False, False

    def connection_made(self, transport):
        self.t = transport
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = transport.get_extra_info("peername") or ("-", 0)
        self.peer = f"{peer[0]}:{peer[1]}"

    def data_received(self, data):
        if self.closing:                        # lingering close: what the client still sends is dropped
            return
        self.buf += data
        if not self.paused:
            self._process()

    def pause_writing(self):                    # the client does not read its answers: stop reading requests
        self.paused = True
        self.t.pause_reading()

    def resume_writing(self):
        self.paused = False
        self.t.resume_reading()
        if not self.closing:
            self._process()

    def _process(self):
        buf, out, close = self.buf, [], False
        try:
            while True:
                req = self.req
                if req is None:
                    if buf[:1] in (b"\r", b"\n"):  # blank lines before a request are ignored
                        del buf[:len(buf) - len(buf.lstrip(b"\r\n"))]
                    end, skip = head_end(buf)
                    if end > _MAX_HEAD or (end < 0 and len(buf) > _MAX_HEAD):
                        raise _BadRequest(431)
                    if end < 0:
                        break
                    self.req = req = _request(bytes(buf[:end]))
                    del buf[:end + skip]
                    if req.expect:
                        out.append(b"HTTP/1.1 100 Continue\r\n\r\n")
                if req.framing and not self._body(req):
                    break
                self.req = None
                out.append(self.site.respond(req, self))
                if not req.keep:
                    close = True
                    break
        except _BadRequest as e:
            out.append(self.site.error(e.args[0]))
            close = True
        if out:                                 # one write per batch of pipelined requests
            self.t.write(out[0] if len(out) == 1 else b"".join(out))
        if close:                               # half-close and drain, so that no RST destroys the answer
            self.closing = True
            self.buf.clear()
            self.t.write_eof()
            asyncio.get_running_loop().call_later(2.0, self.t.close)

    def _body(self, req: Request) -> bool:
        """Consume the request body from the buffer; True once it is complete."""
        buf = self.buf
        if req.framing == LENGTH:
            take = min(req.left, len(buf))
            if req.size < _MAX_ECHO_BODY:
                req.body += buf[:min(take, _MAX_ECHO_BODY - req.size)]
            req.size, req.left = req.size + take, req.left - take
            del buf[:take]
            return not req.left
        try:
            end = req.chunks.feed(buf)
        except ValueError:
            raise _BadRequest(400) from None
        req.size = req.chunks.size
        if end < 0:
            buf.clear()
            return False
        del buf[:end]
        return True


class Site:
    """What an HTTP workload answers; one per server, shared by its connections."""
    server, log = b"", False

    def __init__(self, container: dict, pod: dict):
        self.image, self.pod = normalise(container.get("image") or ""), pod
        self.podname = f"{pod.get('namespace') or 'default'}/{pod.get('name') or ''}"
        self.hostname = pod.get("hostname") or pod.get("name") or socket.gethostname()

    def respond(self, req: Request, conn: HTTP) -> bytes:
        status, ctype, body, extra = self.answer(req, conn)
        if not req.keep:
            extra += b"Connection: close\r\n"
        elif req.version == b"HTTP/1.0":
            extra += b"Connection: keep-alive\r\n"
        clock = _now()
        head = b"HTTP/1.1 %s\r\n%sDate: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n" % (
            _REASONS[status], self.server, clock[1], ctype, len(body), extra)
        if self.log:                            # nginx's "combined" access log format
            sys.stdout.write('%s - - [%s] "%s" %d %d "%s" "%s"\n' % (
                conn.peer.rpartition(":")[0], clock[2], req.line.decode("latin-1"), status,
                0 if req.method == b"HEAD" else len(body), req.header(b"referer", b"-").decode("latin-1"),
                req.header(b"user-agent", b"-").decode("latin-1")))
            sys.stdout.flush()
        return head if req.method == b"HEAD" else head + body

    def error(self, status: int) -> bytes:
        body = b"%s\n" % _REASONS[status]
        return b"HTTP/1.1 %s\r\n%sContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (
            _REASONS[status], self.server, len(body), body)


class Echo(Site):
    def __init__(self, container, pod):
        super().__init__(container, pod)
        text = None
        if self.image == "hashicorp/http-echo":     # -text=... answers just that text, as http-echo does
            text = flag(container.get("args") or [], "text")
            text = container_env(container).get("ECHO_TEXT") if text is None else text
        self.text = None if text is None else (text + "\n").encode()
        self.ips = ["127.0.0.1"] + ([pod["ip"]] if pod.get("ip") else [])
        self.prefix = "".join([f"Hostname: {self.hostname}\nPod: {self.podname}\nNode: {pod.get('node') or ''}\n"]
                              + [f"IP: {ip}\n" for ip in self.ips]).encode()

    def answer(self, req, conn):
        if self.text is not None:
            if req.target == b"/health":
                return 200, _JSON, b'{"status":"ok"}\n', b""
            return 200, _TEXT, self.text, b"X-App-Name: http-echo\r\n"
        lines = [raw for _, _, raw in req.headers]
        host = [raw for raw in lines if raw[:5].lower() == b"host:"]
        if host and lines[0] is not host[0]:        # Host first, as whoami shows it
            lines = host + [raw for raw in lines if raw[:5].lower() != b"host:"]
        path, _, query = req.target.partition(b"?")
        if path == b"/api" or b"application/json" in req.header(b"accept") or \
                (b"json" in query and b"json" in [q.partition(b"=")[0] for q in query.split(b"&")]):
            headers = {}
            for raw in lines:
                name, _, value = raw.decode("latin-1").partition(":")
                headers.setdefault(name, []).append(value.strip())
            facts = {"hostname": self.hostname, "pod": self.pod.get("name"), "namespace": self.pod.get("namespace"),
                     "node": self.pod.get("node"), "ip": self.ips, "remoteAddr": conn.peer,
                     "method": req.method.decode("latin-1"), "url": req.target.decode("latin-1"),
                     "proto": req.version.decode(), "headers": headers, "bodySize": req.size}
            return 200, _JSON, json.dumps(facts, indent=2).encode() + b"\n", b""
        body = [self.prefix, b"RemoteAddr: %s\n%s\n" % (conn.peer.encode(), req.line), *[raw + b"\n" for raw in lines]]
        if req.size:                                # the body follows the headers, as whoami shows it
            body += [b"\n", req.body, b"" if req.body.endswith(b"\n") else b"\n"]
            if req.size > len(req.body):
                body.append(b"[%d bytes in all]\n" % req.size)
        return 200, _TEXT, b"".join(body), b""


_SERVED_BY = "<p>Served by pod <b>%s</b> on node <b>%s</b> (IP %s), image %s.</p>\n"
_WELCOME = ("<!DOCTYPE html>\n<html>\n<head>\n<title>Welcome to nginx!</title>\n<style>\nhtml { color-scheme: light dark; }\n"
            "body { width: 35em; margin: 0 auto;\nfont-family: Tahoma, Verdana, Arial, sans-serif; }\n</style>\n</head>\n"
            "<body>\n<h1>Welcome to nginx!</h1>\n<p>If you see this page, the nginx web server is successfully installed and\n"
            "working. Further configuration is required.</p>\n\n" + _SERVED_BY +
            "\n<p><em>Thank you for using nginx.</em></p>\n</body>\n</html>\n")
_IT_WORKS = "<html><body><h1>It works!</h1>\n" + _SERVED_BY + "</body></html>\n"


class Web(Site):
    log = True

    def __init__(self, container, pod):
        super().__init__(container, pod)
        self.name = {"httpd": b"Apache", "caddy": b"Caddy"}.get(self.image, b"nginx")
        self.server = b"Server: %s\r\n" % self.name
        page = _IT_WORKS if self.image == "httpd" else _WELCOME
        self.page = (page % (self.podname, pod.get("node") or "", pod.get("ip") or "", self.image)).encode()

    def answer(self, req, conn):
        status = 405 if req.method not in (b"GET", b"HEAD") else \
            200 if req.target.partition(b"?")[0] in (b"/", b"/index.html") else 404
        if status == 200:
            return 200, _HTML, self.page, b""
        return status, _HTML, (b"<html>\n<head><title>%s</title></head>\n<body>\n<center><h1>%s</h1></center>\n"
                               b"<hr><center>%s</center>\n</body>\n</html>\n" % (
                                   _REASONS[status], _REASONS[status], self.name)), b""


def echo(container: dict, pod: dict) -> None:
    """The entry point of "echo" (never returns)."""
    site = Echo(container, pod)
    serve([(port, lambda: HTTP(site)) for port in listen_ports(container)])


def nginx(container: dict, pod: dict) -> None:
    """The entry point of "nginx" (never returns)."""
    site = Web(container, pod)
    serve([(port, lambda: HTTP(site)) for port in listen_ports(container)])
