"""Ingress controller (ingress-nginx's annotations parser): an Ingress's nginx.ingress.kubernetes.io/* annotations,
and what they do to one request.

Read as ingress-nginx reads them (a bool is Go's strconv.ParseBool; a bad value falls back to the default):
  service-upstream     "true": proxy to the Service's ClusterIP (kube-proxy picks the pod per connection)
                       instead of to the endpoints (the default: the controller balances each request)
  rewrite-target       the URI sent upstream: nginx's `rewrite "(?i)PATH" TARGET break;` where PATH is the rule's
                       path as a regular expression, so $1..$9 are its capture groups; the query is kept
  use-regex            the rule's paths are regular expressions (case-insensitive, anchored at the start);
                       as upstream, a rewrite-target or use-regex on any Ingress of a host makes every path of
                       that host a regular expression, tried longest path first
  ssl-redirect         (default true) an HTTP request for a host with TLS configured is answered 308 with the
                       https:// URL (the trailing slash dropped, as upstream's preserve-trailing-slash false)
  force-ssl-redirect   the same even where no TLS is configured
  affinity: cookie     sticky sessions (balanced mode): the cookie session-cookie-name (INGRESSCOOKIE) holds a
                       random key and the backend's key; the key hashes to one endpoint. Also session-cookie-path
                       (default: the rule's path), -max-age, -expires, -domain, -secure, -samesite
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

PREFIX = "nginx.ingress.kubernetes.io/"
_TRUE, _FALSE = {"1", "t", "T", "TRUE", "true", "True"}, {"0", "f", "F", "FALSE", "false", "False"}
_GROUP = re.compile(r"\$(\d)|\$\{(\d)\}")
_UNSAFE = re.compile(rb'[\x00-\x20"#%<>?\x7f-\xff]')


@dataclass(frozen=True)
class Affinity:
    """session-cookie-* of an Ingress with affinity: cookie."""
    name: str = "INGRESSCOOKIE"
    path: str | None = None
    max_age: str | None = None
    expires: str | None = None
    domain: str | None = None
    secure: bool | None = None
    samesite: str | None = None


@dataclass(frozen=True)
class Options:
    """What one Ingress's annotations ask of its paths."""
    rewrite: str | None = None
    use_regex: bool = False
    ssl_redirect: bool = True
    force_ssl_redirect: bool = False
    service_upstream: bool = False
    affinity: Affinity | None = None
    _regex: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    def regex(self, path: str):
        """The rule's PATH as nginx's `~* "^PATH"` (None if it is not a valid expression)."""
        if path not in self._regex:
            try:
                self._regex[path] = re.compile(path, re.IGNORECASE)
            except re.error:
                self._regex[path] = None
        return self._regex[path]


def _bool(annotations: dict, name: str, default: bool) -> bool:
    value = annotations.get(PREFIX + name)
    return True if value in _TRUE else False if value in _FALSE else default


def options(ingress: dict) -> Options:
    """The Options of an Ingress object, from its annotations."""
    a = (ingress.get("metadata") or {}).get("annotations") or {}
    if not any(k.startswith(PREFIX) for k in a):
        return DEFAULT
    get = lambda name: (a.get(PREFIX + name) or "").strip() or None   # noqa: E731
    affinity = None
    if get("affinity") == "cookie":
        secure = a.get(PREFIX + "session-cookie-secure")
        affinity = Affinity(get("session-cookie-name") or "INGRESSCOOKIE", get("session-cookie-path"),
                            get("session-cookie-max-age"), get("session-cookie-expires"),
                            get("session-cookie-domain"),
                            True if secure in _TRUE else False if secure in _FALSE else None,
                            get("session-cookie-samesite"))
    return Options(get("rewrite-target"), _bool(a, "use-regex", False), _bool(a, "ssl-redirect", True),
                   _bool(a, "force-ssl-redirect", False), _bool(a, "service-upstream", False), affinity)


DEFAULT = Options()


def needs_regex(opts: Options, path: str) -> bool:
    """ingress-nginx's enforceRegexModifier for one location: a rewrite to another URI, or use-regex."""
    return opts.use_regex or (opts.rewrite is not None and opts.rewrite != path)


def rewrite(opts: Options, path: str, uri: str, target: bytes) -> bytes:
    """The request target sent upstream for URI (the normalised path) when the rule's PATH has a rewrite-target:
    `rewrite "(?i)PATH" TARGET break;` — the whole URI becomes TARGET with $N filled from PATH's groups, escaped,
    and the client's query appended (after TARGET's own arguments, if it has some). TARGET (as sent) if no rewrite."""
    if opts.rewrite is None or opts.rewrite == path:
        return target
    rx = opts.regex(path)
    m = rx.search(uri) if rx is not None else None
    if m is None:
        return target
    groups = m.groups()
    new = _GROUP.sub(lambda g: (groups[int(g.group(1) or g.group(2)) - 1] or "")
                     if 0 < int(g.group(1) or g.group(2)) <= len(groups) else "", opts.rewrite)
    args = target.partition(b"?")[2]
    base, q, own = new.partition("?")
    out = _UNSAFE.sub(lambda c: b"%%%02X" % c.group()[0], base.encode("latin-1", "replace"))
    if q:
        out += b"?" + own.encode("latin-1", "replace") + (b"&" + args if args else b"")
    elif args:
        out += b"?" + args
    return out


def https_redirect(opts: Options, scheme: str, tls: bool) -> bool:
    """ingress-nginx's redirect_to_https for a request arriving on SCHEME; TLS: a certificate is configured for
    its host."""
    if scheme != "http":
        return False
    return opts.force_ssl_redirect or (opts.ssl_redirect and tls)


def https_location(rawhost: bytes, target: bytes) -> bytes:
    """Where the 308 points: https://HOST (without its port) and the request URI, its trailing slash dropped."""
    host = rawhost.strip()
    host = host.split(b"]")[0] + b"]" if host.startswith(b"[") else host.split(b":")[0]
    if target.endswith(b"/"):
        target = target[:-1]
    return b"https://" + host + target


def backend_key(upstream_name: str) -> str:
    """The second half of the affinity cookie: md5(md5(NAME) .. NAME), as upstream's sticky balancer."""
    inner = hashlib.md5(upstream_name.encode()).hexdigest()
    return hashlib.md5((inner + upstream_name).encode()).hexdigest()


def set_cookie(aff: Affinity, value: str, location_path: str, https: bool, now: float) -> bytes:
    """The Set-Cookie header line for a new session, attributes in lua-resty-cookie's order."""
    import time
    out = f"Set-Cookie: {aff.name}={value}"
    if aff.expires and aff.expires.isdigit():
        out += "; Expires=" + time.strftime("%a, %d-%b-%y %H:%M:%S GMT", time.gmtime(now + int(aff.expires)))
    if aff.max_age and aff.max_age.lstrip("-").isdigit():
        out += f"; Max-Age={aff.max_age}"
    if aff.domain:
        out += f"; Domain={aff.domain}"
    out += f"; Path={aff.path or location_path}"
    if aff.secure if aff.secure is not None else https:
        out += "; Secure"
    out += "; HttpOnly"
    if aff.samesite:
        out += f"; SameSite={aff.samesite}"
    return out.encode("latin-1", "replace") + b"\r\n"


def cookie(headers: list, name: bytes) -> bytes | None:
    """The value of cookie NAME in the request's Cookie headers (HEADERS: (lowercased name, value, raw))."""
    for hname, value, _ in headers:
        if hname == b"cookie":
            for part in value.split(b";"):
                k, eq, v = part.strip().partition(b"=")
                if eq and k == name:
                    return v.strip().strip(b'"')
    return None
