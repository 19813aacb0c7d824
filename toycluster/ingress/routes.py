"""Ingress controller (ingress-nginx), the pure part: Ingress objects -> a route table; (host, path) -> backend.

build_routes() reads networking.k8s.io/v1 Ingresses of our class and match() answers one request, following
the Kubernetes Ingress rules and, where they leave room, ingress-nginx:

  host      a rule's host picks a "server": an exact host first (case-insensitive, port and trailing dot
            ignored), then a wildcard `*.example.com`, which matches exactly one extra label (`a.example.com`,
            not `example.com` nor `a.b.example.com`), then the catch-all server of host-less rules.
            As ingress-nginx, a request whose host picked a server never falls through to another server's paths.
  path      matched on the normalised path (percent-decoded, `//` merged, `.` and `..` resolved; the request is
            forwarded as sent). Longest match wins; at equal length Exact beats Prefix, so a matching Exact
            path always wins. Prefix matches whole path elements: `/foo` matches `/foo`, `/foo/` and `/foo/bar`,
            not `/foobar`; a trailing slash in the rule is ignored. ImplementationSpecific is treated as
            Prefix (what ingress-nginx does without its use-regex annotation). A host where any Ingress asks
            for use-regex or a rewrite-target (annotations.py) has regular-expression paths instead, tried
            longest first, the first match winning (nginx's `~*` locations in ingress-nginx's order).
  default   no path matched: the defaultBackend of an Ingress that defined this host, else the catch-all's
            (the oldest Ingress's defaultBackend), else 404.
  conflicts the same host and path in two Ingresses: the older Ingress wins (ingress-nginx's rule).
  class     ours are Ingresses with spec.ingressClassName "nginx" (or the kubernetes.io/ingress.class
            annotation), or with none at all: here "nginx" is the cluster's default IngressClass
            (api/selectors.py's ingress_class_matches, which the cloud controller shares).

Also pure: upstream_head() (the request as sent upstream, with X-Forwarded-* and X-Request-ID). Where a backend's
Service and endpoints are is balancer.py's part.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

from toycluster.api.selectors import INGRESS_CLASS, ingress_class_matches
from toycluster.ingress import annotations as notes

TLS_TYPE = "kubernetes.io/tls"
_PCT = re.compile(rb"%([0-9A-Fa-f]{2})")
_HOP = frozenset((b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer", b"upgrade",
                  b"transfer-encoding", b"expect"))
_OURS = frozenset((b"x-forwarded-for", b"x-forwarded-host", b"x-forwarded-port", b"x-forwarded-proto",
                   b"x-forwarded-scheme", b"x-scheme", b"x-real-ip", b"x-request-id", b"x-original-forwarded-for",
                   b"x-original-forwarded-host"))


@dataclass(frozen=True)
class Backend:
    namespace: str
    service: str | None            # None: a `resource` backend (not served: 503)
    port: int | str | None         # the Service port's number or name
    ingress: str = ""              # "namespace/name" of the Ingress that defined it, for logs
    path: str = "/"                # the rule's path as written (nginx's $location_path)
    opts: notes.Options = notes.DEFAULT   # what the Ingress's annotations ask

    @cached_property
    def upstream_name(self) -> str:
        """ingress-nginx's $proxy_upstream_name: namespace-service-port."""
        return f"{self.namespace}-{self.service or 'resource'}-{self.port if self.port is not None else ''}"


@dataclass
class Server:
    host: str                                               # "" is the catch-all
    exact: dict = field(default_factory=dict)               # normalised path -> Backend
    prefix: dict = field(default_factory=dict)              # tuple of path elements -> Backend
    default: Backend | None = None
    locations: list = field(default_factory=list)          # (path, Backend) in the order Ingresses define them
    regex: list | None = None                               # (compiled, Backend), longest path first


@dataclass
class Routes:
    hosts: dict = field(default_factory=dict)               # exact host -> Server
    wildcards: dict = field(default_factory=dict)           # "example.com" (for *.example.com) -> Server
    catch_all: Server = field(default_factory=lambda: Server(""))
    tls_hosts: dict = field(default_factory=dict)           # host or *.suffix -> "namespace/secret" or ""

    def server_for(self, host: str) -> Server:
        server = self.hosts.get(host)
        if server is None and "." in host:
            first, rest = host.split(".", 1)
            if first:
                server = self.wildcards.get(rest)
        return server or self.catch_all

    def match(self, host: str, path: str) -> Backend | None:
        """The backend for HOST (as normalise_host gives it) and PATH (as normalise_path gives it), or None."""
        server = self.server_for(host)
        if server.regex is not None:
            for rx, backend in server.regex:
                if rx.match(path):
                    return backend
            return server.default or self.catch_all.default
        hit = server.exact.get(path)
        if hit is not None:
            return hit
        if server.prefix:
            elems = tuple(e for e in path.split("/") if e)
            for n in range(len(elems), -1, -1):
                hit = server.prefix.get(elems[:n])
                if hit is not None:
                    return hit
        return server.default or self.catch_all.default

    def tls_for(self, host: str) -> bool:
        """Whether an Ingress configures TLS for HOST (spec.tls lists it, or a wildcard covering it)."""
        return host in self.tls_hosts or ("." in host and "*." + host.split(".", 1)[1] in self.tls_hosts)


def _backend(ns: str, spec: dict | None, ingress: str, path: str = "/", opts=notes.DEFAULT) -> Backend | None:
    if not spec:
        return None
    svc = spec.get("service")
    if not svc:
        return Backend(ns, None, None, ingress, path, opts)
    port = svc.get("port") or {}
    return Backend(ns, svc.get("name"), port.get("number") if port.get("number") is not None else port.get("name"),
                   ingress, path, opts)


def _regex_locations(server: Server) -> None:
    """A host with use-regex or a rewrite-target anywhere: every path a `~* "^PATH"` location, ordered as
    ingress-nginx orders them (by path descending, then stably by length descending)."""
    if not any(notes.needs_regex(b.opts, p) for p, b in server.locations):
        return
    locs = sorted(server.locations, key=lambda pb: pb[0], reverse=True)
    locs.sort(key=lambda pb: len(pb[0]), reverse=True)
    server.regex = [(rx, b) for p, b in locs if (rx := b.opts.regex(p if p.startswith("^") else "^" + p))]


def build_routes(ingresses: list[dict], class_name: str = INGRESS_CLASS) -> Routes:
    """The route table of every Ingress of CLASS_NAME, older Ingresses first (they win conflicts)."""
    routes = Routes()
    ours = sorted((i for i in ingresses if ingress_class_matches(i, class_name)),
                  key=lambda i: (i["metadata"].get("creationTimestamp") or "", i["metadata"].get("namespace") or "",
                                 i["metadata"]["name"]))
    for ing in ours:
        meta, spec = ing["metadata"], ing.get("spec") or {}
        ns, label = meta.get("namespace") or "default", f"{meta.get('namespace') or 'default'}/{meta['name']}"
        opts = notes.options(ing)
        default = _backend(ns, spec.get("defaultBackend"), label, "/", opts)
        if default is not None and routes.catch_all.default is None:
            routes.catch_all.default = default
        for rule in spec.get("rules") or []:
            host = (rule.get("host") or "").lower()
            if not host:
                server = routes.catch_all
            elif host.startswith("*."):
                server = routes.wildcards.setdefault(host[2:], Server(host))
            else:
                server = routes.hosts.setdefault(host, Server(host))
            if default is not None and server.default is None and server is not routes.catch_all:
                server.default = default
            for p in (rule.get("http") or {}).get("paths") or []:
                path = p.get("path") or "/"
                backend = _backend(ns, p.get("backend"), label, path, opts)
                server.locations.append((path, backend))
                if p.get("pathType") == "Exact":
                    server.exact.setdefault(path, backend)
                else:                                   # Prefix, and ImplementationSpecific as Prefix
                    server.prefix.setdefault(tuple(e for e in path.split("/") if e), backend)
        for tls in spec.get("tls") or []:
            secret = f"{ns}/{tls['secretName']}" if tls.get("secretName") else ""
            for host in tls.get("hosts") or []:
                routes.tls_hosts.setdefault(host.lower(), secret)
    for server in [routes.catch_all, *routes.hosts.values(), *routes.wildcards.values()]:
        _regex_locations(server)
    return routes


def normalise_host(value: bytes | str | None) -> str:
    """A Host header as a route key: lowercased, without port or trailing dot ("" when absent)."""
    if not value:
        return ""
    host = value.decode("latin-1") if isinstance(value, bytes) else value
    host = host.strip().lower()
    if host.startswith("["):                                # an IPv6 literal
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0].rstrip(".") if ":" in host else host.rstrip(".")


def normalise_path(target: bytes) -> str | None:
    """The path of a request target (origin form) as nginx matches it, or None if it is not a valid path:
    query dropped, %XX decoded, `//` merged, `.` and `..` resolved (`..` above the root is invalid)."""
    path = target.split(b"?", 1)[0].split(b"#", 1)[0]
    if not path.startswith(b"/"):
        return None
    if b"%" in path:
        if path.count(b"%") != len(_PCT.findall(path)):
            return None
        path = _PCT.sub(lambda m: bytes([int(m.group(1), 16)]), path)
        if b"\0" in path:
            return None
    text = path.decode("latin-1")
    if "//" not in text and "/." not in text:
        return text
    out: list[str] = []
    parts = text.split("/")
    for part in parts[1:]:
        if part == "..":
            if not out:
                return None
            out.pop()
        elif part not in ("", "."):
            out.append(part)
    trailing = parts[-1] in ("", ".", "..") and out
    return "/" + "/".join(out) + ("/" if trailing else "")


def split_target(target: bytes) -> tuple[bytes | None, bytes]:
    """An absolute-form target ("http://host/path") -> (host, "/path"); an origin-form one -> (None, target)."""
    low = target[:8].lower()
    if low.startswith(b"http://") or low.startswith(b"https://"):
        rest = target.split(b"://", 1)[1]
        host, slash, path = rest.partition(b"/")
        return host, b"/" + path if slash else b"/"
    return None, target


def upstream_head(method: bytes, target: bytes, headers: list, *, client_ip: str, scheme: str, host: bytes,
                  server_port: int, request_id: str, trust_forwarded: bool = False, chunked: bool = False,
                  version: bytes = b"HTTP/1.1", memo: dict | None = None) -> bytes:
    """The request head sent to the upstream: the client's header lines (HEADERS: (lowercased name, value, raw
    line)) without hop-by-hop ones and those the Connection header names, Host kept as sent, Upgrade with
    `Connection: upgrade` if the client asked for one (websockets), then ingress-nginx's proxy headers. Unless
    TRUST_FORWARDED (its use-forwarded-headers), a client's own X-Forwarded-* are replaced, not appended to;
    X-Request-ID is REQUEST_ID (the client's, or a new one). MEMO: a dict shared by requests with this same head."""
    hit = memo.get(trust_forwarded) if memo is not None else None
    if hit is None:
        hit = _client_lines(headers, trust_forwarded)
        if memo is not None:
            memo[trust_forwarded] = hit
    first, xff, last = hit
    proto, ip = scheme.encode(), client_ip.encode()
    return b"%s %s %s\r\n%sX-Request-ID: %s\r\nX-Real-IP: %s\r\nX-Forwarded-For: %s%s\r\nX-Forwarded-Host: %s\r\n" \
        b"X-Forwarded-Port: %d\r\nX-Forwarded-Proto: %s\r\nX-Forwarded-Scheme: %s\r\nX-Scheme: %s\r\n%s%s\r\n" % (
            method, target, version, first or (b"Host: %s\r\n" % host if host else b""), request_id.encode(), ip,
            xff, ip, host, server_port, proto, proto, proto, last, b"Transfer-Encoding: chunked\r\n" if chunked else b"")


def _client_lines(headers: list, trust_forwarded: bool) -> tuple[bytes, bytes, bytes]:
    """What of the client's head goes upstream, in nginx's order (proxy_set_header's first, then the client's
    other lines): (Host and, for an upgrade, Upgrade and `Connection: upgrade`; the X-Forwarded-For it sent and
    ", " if trusted, else b""; X-Original-Forwarded-For/-Host with what it sent, then its other lines). The
    httpoxy `Proxy` header is dropped."""
    named = set()
    for name, value, _ in headers:
        if name == b"connection":
            named |= {t.strip() for t in value.lower().split(b",")}
    first, out, xff, upgrade, sent = b"", [], b"", None, {b"x-forwarded-for": [], b"x-forwarded-host": []}
    for name, value, raw in headers:
        if name == b"host":
            first = raw + b"\r\n"
        elif name in _HOP or name in named or name in _OURS:
            if name in sent:
                sent[name].append(value)
                if trust_forwarded and name == b"x-forwarded-for":
                    xff = value + b", " + xff
            elif name == b"upgrade":
                upgrade = value
        elif name != b"proxy":
            out.append(raw + b"\r\n")
    if upgrade:                                             # websockets: `Connection $connection_upgrade`
        first += b"Upgrade: %s\r\nConnection: upgrade\r\n" % upgrade
    original = b"".join(b"X-Original-Forwarded-%s: %s\r\n" % (what, b", ".join(sent[key]))
                        for key, what in ((b"x-forwarded-for", b"For"), (b"x-forwarded-host", b"Host")) if sent[key])
    return first, xff, original + b"".join(out)
