"""Ingress controller (ingress-nginx's controller process): the built-in workload of image toycluster/ingress-controller.

It is an API client, as the real one: an informer lists and watches Ingresses, Services, EndpointSlices and
kubernetes.io/tls Secrets; every change rebuilds the route table (routes.build_routes) and the TLS contexts and
swaps them in, so a reload drops no connection. It listens on 80 (HTTP) and 443 (HTTPS, SNI: the certificate of the
Secret an Ingress's `tls` names, else a default certificate for all Ingress hosts, signed by the cluster CA).
A request goes to one of the Service's ready endpoints, picked per request (balancer.py: round robin, or cookie
affinity), as ingress-nginx does; an Ingress annotated `nginx.ingress.kubernetes.io/service-upstream: "true"` (or
ROUTE_TO=service for all) sends it to the ClusterIP instead, where kube-proxy picks the pod per connection.
One access-log line per request, ingress-nginx's log-format-upstream with the Host added at the end:
  CLIENT - - [TIME] "REQUEST" STATUS BYTES "REFERER" "UA" REQ_LEN REQ_TIME [UPSTREAM_NAME] [] UPSTREAM_ADDR
  UPSTREAM_RESP_LEN UPSTREAM_TIME UPSTREAM_STATUS REQUEST_ID HOST
Settings (environment): TOYCLUSTER_API, INGRESS_CLASS (nginx), ROUTE_TO (endpoints|service), CLIENT_HEADER_TIMEOUT
(10 s), CLIENT_BODY_TIMEOUT (60), KEEPALIVE_TIMEOUT (75), PROXY_CONNECT_TIMEOUT (5), PROXY_READ_TIMEOUT (60),
UPSTREAM_KEEPALIVE_CONNECTIONS (320), USE_FORWARDED_HEADERS (false), WORKERS (auto: one per CPU as
ingress-nginx's worker-processes, at most 4 here; each has its own listening sockets, SO_REUSEPORT, and balances
on its own),
HSTS (true: max-age=31536000; includeSubDomains), SERVER_TOKENS (false: no Server header, as ingress-nginx's default).
"""
from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

from toycluster.ingress import routes as ingress
from toycluster.api.informer import Informer
from toycluster.api.selectors import INGRESS_CLASS, ingress_class_matches
from toycluster.ingress import workers
from toycluster.ingress.balancer import Balancer, resolve
from toycluster.ingress.proxy import Client
from toycluster.ingress.upstream import Upstream

KINDS = ("Ingress", "Service", "EndpointSlice", "Secret")


class Settings:
    def __init__(self, env):
        num = lambda k, d: float(env.get(k) or d)            # noqa: E731
        self.api, self.class_name = env.get("TOYCLUSTER_API", ""), env.get("INGRESS_CLASS") or INGRESS_CLASS
        on = lambda k, d: (env.get(k) or d).lower() in ("1", "true", "yes", "on")   # noqa: E731
        self.direct = (env.get("ROUTE_TO") or "endpoints").lower() != "service"
        self.hsts = b"Strict-Transport-Security: max-age=31536000; includeSubDomains\r\n" if on("HSTS", "true") else b""
        self.server_tokens = on("SERVER_TOKENS", "false")
        self.header_timeout, self.body_timeout = num("CLIENT_HEADER_TIMEOUT", 10), num("CLIENT_BODY_TIMEOUT", 60)
        self.keepalive_timeout, self.send_timeout = num("KEEPALIVE_TIMEOUT", 75), num("SEND_TIMEOUT", 60)
        self.connect_timeout, self.read_timeout = num("PROXY_CONNECT_TIMEOUT", 5), num("PROXY_READ_TIMEOUT", 60)
        self.upstream_idle, self.keepalive = num("UPSTREAM_KEEPALIVE_TIMEOUT", 60), int(num("UPSTREAM_KEEPALIVE_CONNECTIONS", 320))
        self.trust_forwarded = on("USE_FORWARDED_HEADERS", "false")
        self.http_port, self.https_port = int(num("HTTP_PORT", 80)), int(num("HTTPS_PORT", 443))
        workers = env.get("WORKERS") or "auto"
        self.workers = min(os.cpu_count() or 1, 4) if workers == "auto" else max(1, int(workers))
        state = os.path.dirname(self.api) if self.api else "/var/lib/toycluster"
        self.ca_cert, self.ca_key = env.get("CA_CERT") or f"{state}/pki/ca.crt", env.get("CA_KEY") or f"{state}/pki/ca.key"


def _trim(kind: str, obj: dict):
    if kind == "Secret":
        return obj if obj.get("type") == ingress.TLS_TYPE else None
    return obj


class Controller:
    def __init__(self, loop, s: Settings):
        self.loop, self.s = loop, s
        self.routes, self.services, self.slices = ingress.Routes(), {}, {}
        self.clients, self.upstreams, self.pools, self.prints = set(), set(), {}, {}
        self.lines, self.warned, self.fingerprints = [], set(), {}
        self.balancer = Balancer(to_service=not s.direct)
        self.server_line = b"Server: nginx\r\n" if s.server_tokens else b""
        from toycluster.ingress.tls import TLS                          # ssl: not for whoever only reads system_manifests()
        self.tls = TLS(s, self)
        self._clock = [0, "", b""]

    # -- what requests need --
    def upstream_for(self, req, addr, client) -> None:
        req.up_addr = f"{addr[0]}:{addr[1]}"
        idle = self.pools.get(addr)
        while idle:
            up = idle.pop()
            if not up.closed:
                return client.attach(up)
        req.up_addr = f"{addr[0]}:{addr[1]}"
        self.connect(req, addr, client)

    def connect(self, req, addr, client) -> None:
        self.loop.create_task(self._connect(addr, client))

    async def _connect(self, addr, client) -> None:
        try:
            _, up = await asyncio.wait_for(self.loop.create_connection(lambda: Upstream(self, addr), *addr),
                                           self.s.connect_timeout)
        except asyncio.TimeoutError:
            client.next_upstream(504, "upstream timed out (110: Connection timed out) while connecting to upstream")
        except OSError as e:
            client.next_upstream(502, f"connect() failed ({e.errno}: {os.strerror(e.errno) if e.errno else e}) "
                                      "while connecting to upstream")
        else:
            client.attach(up)

    def pool(self, up) -> None:
        idle = self.pools.setdefault(up.addr, [])
        if len(idle) >= self.s.keepalive:
            up.close()
        else:
            idle.append(up)

    def unpool(self, up) -> None:
        idle = self.pools.get(up.addr)
        if idle and up in idle:
            idle.remove(up)

    def request_id(self, req) -> str:
        """The client's X-Request-ID, else a new one ($req_id)."""
        return self.named(req)[2] or os.urandom(16).hex()

    def _tick(self) -> list:
        now = int(time.time())
        if now != self._clock[0]:
            self._clock[:] = [now, time.strftime("%d/%b/%Y:%H:%M:%S %z", time.localtime(now)),
                              time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now)).encode()]
        return self._clock

    def http_date(self) -> bytes:
        return self._tick()[2]

    @staticmethod
    def _named(headers) -> tuple:
        """What the access log and X-Request-ID take from a request head: (referer, user agent, request id)."""
        ref = ua = "-"
        rid = None
        for name, value, _ in headers:
            if name == b"user-agent":
                ua = value.decode("latin-1")
            elif name == b"referer":
                ref = value.decode("latin-1")
            elif name == b"x-request-id" and value:
                rid = value.decode("latin-1")[:200]
        return ref, ua, rid

    def named(self, req) -> tuple:
        memo = req.memo
        if memo is None:
            return self._named(req.headers)
        hit = memo.get("named")
        if hit is None:
            hit = memo["named"] = self._named(req.headers)
        return hit

    def log(self, req, client) -> None:
        ref, ua, _ = self.named(req)
        now = self.loop.time()
        b = req.backend
        self.lines.append('%s - - [%s] "%s" %d %d "%s" "%s" %d %.3f [%s] [] %s %s %s %s %s %s\n' % (
            client.ip, self._tick()[1], req.line.decode("latin-1"), req.status, req.sent, ref, ua, req.length, now - req.t0, b.upstream_name if b else "upstream-default-backend",
            req.up_addr, req.up_len, f"{now - req.up_t0:.3f}" if req.up_t0 else "-", req.up_status,
            req.rid or "-", req.host or "-"))
        if len(self.lines) > 512:
            self.flush()

    def error(self, text: str, backend=None) -> None:
        """nginx's error-log line; for a backend at most one a second (a 503 storm must not flood the log)."""
        now = self.loop.time()
        if backend is not None:
            if now - self.prints.get(backend, 0) < 1:
                return
            self.prints[backend] = now
        self.lines.append(f"{time.strftime('%Y/%m/%d %H:%M:%S')} [error] {os.getpid()}#0: *{backend.upstream_name if backend else '-'} {text}\n")

    def flush(self) -> None:
        if self.lines:
            lines, self.lines = self.lines, []
            sys.stdout.write("".join(lines))
            sys.stdout.flush()

    def sweep(self) -> None:
        now = self.loop.time()
        for c in [c for c in self.clients if c.deadline < now]:
            c.timeout()
        for u in [u for u in self.upstreams if u.deadline < now]:
            u.timeout()
        self.flush()

    # -- what the API says --
    def sync(self, snap: dict) -> None:
        ings = [i for i in snap["Ingress"].values() if ingress_class_matches(i, self.s.class_name)]
        routes = ingress.build_routes(ings, self.s.class_name)
        slices: dict = {}
        for sl in snap["EndpointSlice"].values():
            owner = (sl["metadata"].get("labels") or {}).get("kubernetes.io/service-name")
            if owner:
                slices.setdefault((sl["metadata"].get("namespace") or "default", owner), []).append(sl)
        prints = {key: (svc["metadata"].get("resourceVersion"),
                        tuple(sorted(s["metadata"].get("resourceVersion", "") for s in slices.get(key, ()))))
                  for key, svc in snap["Service"].items()}
        self.routes, self.services, self.slices = routes, snap["Service"], slices
        self.balancer.reset()
        owner = self.balancer.owner
        for key in {k for k in self.fingerprints.keys() | prints.keys() if self.fingerprints.get(k) != prints.get(k)}:
            for addr in [a for a, o in owner.items() if o == key]:   # endpoints moved: reconnect
                for up in list(self.pools.get(addr, ())):
                    up.close()
                owner.pop(addr, None)
        self.fingerprints = prints
        self.tls.update(ings, snap["Secret"], self.routes)
        warned = set()
        backends = {b for srv in [routes.catch_all, *routes.hosts.values(), *routes.wildcards.values()]
                    for b in [srv.default, *srv.exact.values(), *srv.prefix.values()] if b is not None}
        for b in sorted(backends, key=lambda b: (b.ingress, b.upstream_name)):
            _, why = resolve(b, self.services, self.slices)
            if why:
                warned.add(f"ingress {b.ingress}: {why}: requests for it are answered 503")
        for text in sorted(warned - self.warned):
            self.lines.append(f"W{time.strftime('%m%d %H:%M:%S')} controller: {text}\n")
        self.warned = warned
        self.lines.append(f"I{time.strftime('%m%d %H:%M:%S')} controller: routes reloaded: {len(ings)} ingresses, "
                          f"{len(routes.hosts) + len(routes.wildcards)} hosts\n")
        self.flush()


def _quiet(loop, context) -> None:
    """Handshakes that fail and peers that vanish are the clients' business, not errors of ours."""
    exc = context.get("exception")
    if isinstance(exc, (ConnectionError, TimeoutError, OSError)) or "SSL" in type(exc).__name__:
        return
    loop.default_exception_handler(context)


def main(container: dict, pod: dict) -> "NoReturn":
    """The entry point of image toycluster/ingress-controller (node/entrypoint.py imports and calls it in the pod's
    namespaces, by its name in node/workloads.py)."""
    import resource
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))   # 1,000 idle clients need more than 1,024 fds
    s = Settings(os.environ)
    socks = workers.spawn(s.workers, (s.http_port, s.https_port))   # listening at once: early clients wait
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.set_exception_handler(_quiet)
    ctl = Controller(loop, s)
    base = ctl.tls.base
    informer = Informer(s.api, KINDS, lambda: loop.call_soon_threadsafe(ctl.sync, informer.snapshot()),
                        _trim, "ingress-controller")
    if s.api:
        informer.start().synced.wait(3)
        ctl.sync(informer.snapshot())
    else:
        ctl.sync({k: {} for k in KINDS})
        print("TOYCLUSTER_API is not set: no Ingress will be served", file=sys.stderr)
    loop.run_until_complete(loop.create_server(lambda: Client(ctl, "http", s.http_port), sock=socks[0]))
    loop.run_until_complete(loop.create_server(lambda: Client(ctl, "https", s.https_port), sock=socks[1], ssl=base,
                                               ssl_handshake_timeout=s.header_timeout))

    def every(seconds, fn):
        fn()
        loop.call_later(seconds, every, seconds, fn)

    loop.call_later(0.1, every, 0.1, ctl.flush)
    loop.call_later(0.5, every, 0.5, ctl.sweep)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: (ctl.flush(), os._exit(0)))
    print(f"NGINX Ingress controller (toycluster): class {s.class_name}, HTTP :{s.http_port}, HTTPS :{s.https_port}, "
          f"routing to {'endpoints' if s.direct else 'Service ClusterIPs'} by default, worker {os.getpid()}", flush=True)
    loop.run_forever()
    os._exit(0)


def system_manifests(cfg) -> list[dict]:
    """Namespace `ingress`, the controller's Deployment and its NodePort Service (ingress/ingress.yaml)."""
    import yaml
    from pathlib import Path
    from toycluster.api.client import socket_path
    text = (Path(__file__).resolve().parent / "ingress.yaml").read_text()
    text = text.replace("{{API_SOCKET}}", socket_path(cfg.name)).replace("{{INGRESS_NODE}}", f"node{cfg.nodes}")
    return [doc for doc in yaml.safe_load_all(text) if doc]
