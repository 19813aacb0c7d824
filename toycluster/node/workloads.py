"""Container images: the built-in workloads that well-known image names map to.

toycluster has no container runtime. A container that gives no `command` and whose image is in
KNOWN_IMAGES runs one of the built-ins in its pod's network namespace instead: "echo" (a
whoami-style HTTP echo), "nginx" (the welcome page), "sleeper" (pause), "tcp" (a banner and a
byte echo standing in for a database), "coredns" (the cluster DNS server, coredns.py) and "ingress" (the
ingress controller, controller.py). A
container with a `command` runs that command.

run_builtin() runs in a child forked from the control plane: it keeps memory low (only the lightest
standard modules are imported here; only "coredns" and "ingress" import more, lazily) and never returns; SIGTERM exits 0.
"""
import asyncio
import json
import os
import signal
import socket
import sys
import time

_BIND_HOST = "0.0.0.0"          # the unit tests set 127.0.0.1 in their server subprocess
_MAX_HEAD = 65536               # request line + headers; more is answered 431
_MAX_ECHO_BODY = 16384          # the echo shows at most this much of a request body

# normalised image -> (workload, default port); the ports are the real images' defaults
_IMAGES = {
    "traefik/whoami": ("echo", 80), "containous/whoami": ("echo", 80),
    "hashicorp/http-echo": ("echo", 5678), "ealen/echo-server": ("echo", 80),
    "toycluster/echo": ("echo", 8080), "mendhak/http-https-echo": ("echo", 8080),
    "jmalloc/echo-server": ("echo", 8080), "kicbase/echo-server": ("echo", 8080),
    "echoserver": ("echo", 8080), "google-containers/echoserver": ("echo", 8080),
    "nginx": ("nginx", 80), "httpd": ("nginx", 80), "caddy": ("nginx", 80),
    "nginxinc/nginx-unprivileged": ("nginx", 8080), "bitnami/nginx": ("nginx", 8080),
    "praqma/network-multitool": ("nginx", 80), "wbitt/network-multitool": ("nginx", 80),
    "busybox": ("sleeper", 0), "alpine": ("sleeper", 0), "ubuntu": ("sleeper", 0),
    "debian": ("sleeper", 0), "nicolaka/netshoot": ("sleeper", 0),
    "curlimages/curl": ("sleeper", 0), "pause": ("sleeper", 0),
    "postgres": ("tcp", 5432), "redis": ("tcp", 6379), "mysql": ("tcp", 3306),
    "mariadb": ("tcp", 3306), "mongo": ("tcp", 27017), "memcached": ("tcp", 11211),
    "toycluster/coredns": ("coredns", 53), "coredns/coredns": ("coredns", 53),   # registry.k8s.io/coredns/coredns too
    "toycluster/ingress-controller": ("ingress", 80), "ingress-nginx/controller": ("ingress", 80),
}
KNOWN_IMAGES: dict[str, str] = {name: workload for name, (workload, _) in _IMAGES.items()}
# Images without an ENTRYPOINT: `args` alone are the command (`kubectl run x --image=busybox -- sleep 1d`).
_SHELL_IMAGES = {"busybox", "alpine", "ubuntu", "debian", "nicolaka/netshoot", "curlimages/curl"}


def normalise(image: str) -> str:
    """"docker.io/library/nginx:1.27" -> "nginx": no registry host, tag, digest or library/ prefix."""
    parts = image.strip().lower().partition("@")[0].split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    parts[-1] = parts[-1].partition(":")[0]
    if len(parts) > 1 and parts[0] == "library":
        parts = parts[1:]
    return "/".join(parts)


def resolve(container: dict) -> tuple[str, object]:
    """("exec", argv) for a container with a command, ("builtin", workload) for a known image."""
    image, command, args = container.get("image"), container.get("command") or [], container.get("args") or []
    for field, value in (("command", command), ("args", args)):
        if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
            raise ValueError(f"{field} must be a list of strings")
    if command:
        return "exec", [*command, *args]
    if not isinstance(image, str) or not image.strip():
        raise ValueError("the container gives no image")
    name = normalise(image)
    if name not in KNOWN_IMAGES:
        raise ValueError(f'image "{image}" has no built-in workload and the container gives no command; '
                         f'known images: {", ".join(sorted(KNOWN_IMAGES))}')
    if args and name in _SHELL_IMAGES:          # curl's entrypoint puts "curl" before options
        return "exec", (["curl", *args] if name == "curlimages/curl" and args[0].startswith("-") else args)
    return "builtin", KNOWN_IMAGES[name]


def check_image(container: dict) -> None:
    """Raise ValueError as resolve() does; used by manifest validation."""
    resolve(container)


def _flag(args: list, name: str):
    """A Go-style flag's value: -name=v, --name=v, -name v or --name v; the last one wins."""
    value = None
    for i, arg in enumerate(args):
        if isinstance(arg, str) and arg.startswith("-"):
            key, eq, val = arg.lstrip("-").partition("=")
            if key == name:
                value = val if eq else (args[i + 1] if i + 1 < len(args) else None)
    return value


def _env(container: dict) -> dict:
    return {e.get("name"): e.get("value") for e in container.get("env") or [] if isinstance(e, dict)}


def _port_of(value) -> int:
    """8080, "8080", ":8080" or "0.0.0.0:8080" -> 8080; anything else -> 0."""
    try:
        port = int(str(value).rpartition(":")[2])
    except ValueError:
        return 0
    return port if 0 < port < 65536 else 0


def _listen_ports(container: dict) -> list[int]:
    """Flags, then $PORT / $WHOAMI_PORT_NUMBER (echo only), then containerPorts, then the image's default."""
    workload, default = _IMAGES.get(normalise(container.get("image") or ""), ("echo", 80))
    if workload == "echo":
        args, env = container.get("args") or [], _env(container)
        for value in (_flag(args, "listen"), _flag(args, "port"), env.get("PORT"), env.get("WHOAMI_PORT_NUMBER")):
            if _port_of(value):
                return [_port_of(value)]
    declared = [p for p in (_port_of(cp.get("containerPort")) for cp in container.get("ports") or []
                            if (cp.get("protocol") or "TCP").upper() == "TCP") if p]
    return (declared or [default]) if workload == "tcp" else (declared[:1] or [default])


class _BadRequest(Exception):
    pass


_REASONS = {200: b"200 OK", 400: b"400 Bad Request", 404: b"404 Not Found", 405: b"405 Not Allowed",
            431: b"431 Request Header Fields Too Large"}
_TEXT, _HTML, _JSON = b"text/plain; charset=utf-8", b"text/html", b"application/json"
_clock = [0, b"", ""]                           # this second, its HTTP date, its nginx log time


def _now() -> list:
    now = int(time.time())
    if now != _clock[0]:
        _clock[:] = [now, time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now)).encode(),
                     time.strftime("%d/%b/%Y:%H:%M:%S %z", time.localtime(now))]
    return _clock


class _Request:
    __slots__ = ("method", "target", "version", "line", "lines", "headers", "keep", "left", "chunk", "body", "size")

    def __init__(self, head: bytes):
        lines = head.split(b"\n")
        self.line = lines[0].rstrip(b"\r")
        parts = self.line.split(b" ")
        if len(parts) != 3 or not parts[0] or not parts[1] or parts[2] not in (b"HTTP/1.1", b"HTTP/1.0"):
            raise _BadRequest(400)
        self.method, self.target, self.version = parts
        self.lines, self.headers = [], {}
        headers = self.headers
        for raw in lines[1:]:
            raw = raw.rstrip(b"\r")
            name, sep, value = raw.partition(b":")
            if not sep or not name or name[:1] in b" \t" or name[-1:] in b" \t":
                raise _BadRequest(400)
            key, value = name.lower(), value.strip()
            if key in headers:
                if key == b"content-length" and headers[key] != value:
                    raise _BadRequest(400)
                value = headers[key] + b", " + value
            headers[key] = value
            self.lines.append(raw)
        tokens = headers.get(b"connection", b"").lower()
        self.keep = b"close" not in tokens if self.version == b"HTTP/1.1" else b"keep-alive" in tokens
        self.left, self.chunk, self.body, self.size = 0, 0, b"", 0   # chunk: 1 size line, 2 CRLF, 3 trailers
        te, cl = headers.get(b"transfer-encoding"), headers.get(b"content-length")
        if te is not None:
            if te.lower().rsplit(b",", 1)[-1].strip() != b"chunked":
                raise _BadRequest(400)
            self.chunk, self.body = 1, bytearray()
        elif cl is not None:
            if not cl.isdigit():
                raise _BadRequest(400)
            self.left, self.body = int(cl), bytearray()


class _HTTP(asyncio.Protocol):
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
                    end, skip, bare = buf.find(b"\r\n\r\n"), 4, buf.find(b"\n\n")
                    if end < 0 or 0 <= bare < end:   # tolerate bare LF line ends (printf ... | nc)
                        end, skip = bare, 2
                    if end > _MAX_HEAD or (end < 0 and len(buf) > _MAX_HEAD):
                        raise _BadRequest(431)
                    if end < 0:
                        break
                    self.req = req = _Request(bytes(buf[:end]))
                    del buf[:end + skip]
                    if (req.left or req.chunk) and req.headers.get(b"expect", b"").lower() == b"100-continue":
                        out.append(b"HTTP/1.1 100 Continue\r\n\r\n")
                if (req.left or req.chunk) and not self._body(req):
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

    def _body(self, req: _Request) -> bool:
        """Consume the request body from the buffer; True once it is complete."""
        buf = self.buf
        while True:
            if req.left:
                take = min(req.left, len(buf))
                if req.size < _MAX_ECHO_BODY:
                    req.body += buf[:min(take, _MAX_ECHO_BODY - req.size)]
                req.size, req.left = req.size + take, req.left - take
                del buf[:take]
                if req.left:
                    return False
            if not req.chunk:
                return True
            i = buf.find(b"\n")
            if i < 0:
                if len(buf) > 4096:
                    raise _BadRequest(400)
                return False
            line = bytes(buf[:i]).strip()
            del buf[:i + 1]
            if req.chunk == 1:                  # a chunk's size line; size 0 starts the trailers
                try:
                    req.left = int(line.partition(b";")[0], 16)
                except ValueError:
                    raise _BadRequest(400) from None
                if req.left < 0:
                    raise _BadRequest(400)
                req.chunk = 2 if req.left else 3
            elif req.chunk == 2:                # the CRLF after a chunk's data
                if line:
                    raise _BadRequest(400)
                req.chunk = 1
            elif not line:                      # trailers end with an empty line
                req.chunk = 0
                return True


class _Site:
    """What an HTTP workload answers; one per server, shared by its connections."""
    server, log = b"", False

    def __init__(self, container: dict, pod: dict):
        self.image, self.pod = normalise(container.get("image") or ""), pod
        self.podname = f"{pod.get('namespace') or 'default'}/{pod.get('name') or ''}"
        self.hostname = pod.get("hostname") or pod.get("name") or socket.gethostname()

    def respond(self, req: _Request, conn: _HTTP) -> bytes:
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
                0 if req.method == b"HEAD" else len(body), req.headers.get(b"referer", b"-").decode("latin-1"),
                req.headers.get(b"user-agent", b"-").decode("latin-1")))
            sys.stdout.flush()
        return head if req.method == b"HEAD" else head + body

    def error(self, status: int) -> bytes:
        body = b"%s\n" % _REASONS[status]
        return b"HTTP/1.1 %s\r\n%sContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (
            _REASONS[status], self.server, len(body), body)


class _Echo(_Site):
    def __init__(self, container, pod):
        super().__init__(container, pod)
        text = None
        if self.image == "hashicorp/http-echo":     # -text=... answers just that text, as http-echo does
            text = _flag(container.get("args") or [], "text")
            text = _env(container).get("ECHO_TEXT") if text is None else text
        self.text = None if text is None else (text + "\n").encode()
        self.ips = ["127.0.0.1"] + ([pod["ip"]] if pod.get("ip") else [])
        self.prefix = "".join([f"Hostname: {self.hostname}\nPod: {self.podname}\nNode: {pod.get('node') or ''}\n"]
                              + [f"IP: {ip}\n" for ip in self.ips]).encode()

    def answer(self, req, conn):
        if self.text is not None:
            if req.target == b"/health":
                return 200, _JSON, b'{"status":"ok"}\n', b""
            return 200, _TEXT, self.text, b"X-App-Name: http-echo\r\n"
        lines = req.lines
        host = [raw for raw in lines if raw[:5].lower() == b"host:"]
        if host and lines[0] is not host[0]:        # Host first, as whoami shows it
            lines = host + [raw for raw in lines if raw[:5].lower() != b"host:"]
        path, _, query = req.target.partition(b"?")
        if path == b"/api" or b"application/json" in req.headers.get(b"accept", b"") or \
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


class _Web(_Site):
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


class _TCPStandIn(asyncio.Protocol):
    """A one-line banner, then every byte echoed back until the client closes."""

    def __init__(self, image: str, pod: dict, port: int):
        self.image, self.pod, self.port = image, pod, port

    def connection_made(self, transport):
        self.t = transport
        ip = self.pod.get("ip") or transport.get_extra_info("sockname")[0]
        pod = f"{self.pod.get('namespace') or 'default'}/{self.pod.get('name') or ''}"
        transport.write(f"{self.image} stand-in on {pod} ({ip}:{self.port})\n".encode())

    def data_received(self, data):
        self.t.write(data)


def _exit(code: int) -> "NoReturn":
    """Flush the log and leave at once (the kernel closes the sockets)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(code)


def _detach_from_parent():
    """Drop what the forked-from control plane set up: signal handlers, wakeup fd, open fds, log handlers."""
    import gc                                   # built in: costs nothing
    gc.freeze()                                 # the parent's objects are never scanned: their pages stay shared
    signal.set_wakeup_fd(-1)                    # else our signals would wake the parent's event loop
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    for signum in signal.valid_signals():
        try:
            if callable(signal.getsignal(signum)):
                signal.signal(signum, signal.SIG_DFL)
        except (OSError, ValueError, TypeError):
            pass
    signal.signal(signal.SIGTERM, lambda *_: _exit(0))
    signal.signal(signal.SIGINT, lambda *_: _exit(0))
    keep = {0, 1, 2}
    for stream in (sys.stdout, sys.stderr):
        try:
            keep.add(stream.fileno())
        except Exception:
            pass
    low = 3                                     # close every inherited fd but stdin/stdout/stderr
    for fd in sorted(keep | {os.sysconf("SC_OPEN_MAX")}):
        if fd >= low:
            os.closerange(low, fd)
            low = fd + 1
    logging = sys.modules.get("logging")        # asyncio's errors go to the container log, not the parent's
    if logging is not None:
        for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
            if isinstance(logger, logging.Logger):
                logger.handlers.clear()
        logging.getLogger().addHandler(logging.StreamHandler(sys.stderr))


def _serve(servers: list) -> None:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    for port, factory in servers:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((_BIND_HOST, port))
        loop.run_until_complete(loop.create_server(factory, sock=sock, backlog=1024))
    print("Starting up on port " + ", ".join(str(port) for port, _ in servers), flush=True)
    loop.run_forever()


def run_builtin(workload: str, container: dict, pod: dict) -> "NoReturn":
    """Run a built-in workload in this (forked) process until SIGTERM; never returns.

    pod = {"name", "namespace", "ip", "node", "hostname"}. Exits 0 on SIGTERM or SIGINT, 1 on an error
    (a port in use, say), after writing the reason to stderr.
    """
    code = 1
    try:
        _detach_from_parent()
        if workload == "sleeper":
            while True:
                signal.pause()
        ports = _listen_ports(container)
        if workload in ("echo", "nginx"):
            site = (_Echo if workload == "echo" else _Web)(container, pod)
            _serve([(port, lambda: _HTTP(site)) for port in ports])
        elif workload == "tcp":
            image = normalise(container.get("image") or "")
            _serve([(port, lambda port=port: _TCPStandIn(image, pod, port)) for port in ports])
        elif workload == "coredns":
            from toycluster.dns import coredns               # only the DNS pod pays for dnslib
            coredns.main(container, pod)
        elif workload == "ingress":
            from toycluster.ingress import controller    # only the ingress pod pays for ssl and cryptography
            controller.main(container, pod)
        else:
            raise ValueError(f"unknown built-in workload {workload!r}")
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException as e:
        print(f"{container.get('name') or workload}: {type(e).__name__}: {e}", file=sys.stderr)
    _exit(code)
