"""Ingress controller (ingress-nginx's SSL): the certificates served on 443, picked by SNI.

The host of an Ingress whose `tls` names a kubernetes.io/tls Secret gets that Secret's certificate; every other host
(and a client that sends no SNI) gets a default certificate that lists all of our Ingress hosts, signed by the
cluster CA (api/pki.py) and re-issued when the hosts change. Certificates are loaded from memory (a memfd): none is
written to disk. A Secret that is missing or does not load is logged, and its hosts get the default certificate.
"""
from __future__ import annotations

import base64
import os
import ssl
import time


def ssl_context(cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    """A server SSLContext for this certificate and key (HTTP/1.1 by ALPN)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.set_alpn_protocols(["http/1.1"])
    load(ctx, cert_pem, key_pem)
    return ctx


def load(ctx: ssl.SSLContext, cert_pem: bytes, key_pem: bytes) -> None:
    fd = os.memfd_create("tls")
    try:
        os.write(fd, cert_pem.rstrip(b"\n") + b"\n" + key_pem)
        ctx.load_cert_chain(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)


class TLS:
    def __init__(self, settings, ctl):
        from toycluster.api import pki
        self.s, self.ctl, self.routes = settings, ctl, None
        self.secret_ctx, self.secret_rv, self.default_hosts = {}, {}, None
        self.base = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)     # the listening socket's: the default certificate
        self.base.set_alpn_protocols(["http/1.1"])
        self.base.sni_callback = self._sni
        if not os.path.exists(settings.ca_cert):
            pki.make_ca(os.path.dirname(os.path.dirname(settings.ca_cert)), "ingress")

    def update(self, ings: list, secrets: dict, routes) -> None:
        """New Ingresses (ours) and kubernetes.io/tls Secrets: re-issue the default certificate if the hosts
        changed, load the Secrets the routes name (again only if their resourceVersion changed)."""
        self.routes = routes
        hosts = sorted({h.lower() for i in ings for r in (i.get("spec") or {}).get("rules") or [] if (h := r.get("host"))}
                       | {h.lower() for i in ings for t in (i.get("spec") or {}).get("tls") or [] for h in t.get("hosts") or []})
        if hosts != self.default_hosts:
            try:
                from toycluster.api import pki
                with open(self.s.ca_cert, "rb") as f, open(self.s.ca_key, "rb") as g:
                    cert, key = pki.issue(f.read(), g.read(), hosts or ["ingress.local"])
                load(self.base, cert, key)
                self.default_hosts = hosts
            except Exception as e:                            # noqa: BLE001
                self.ctl.error(f"cannot make the default certificate: {type(e).__name__}: {e}")
        wanted = {v for v in routes.tls_hosts.values() if v}
        for ref in wanted:
            ns, name = ref.split("/", 1)
            secret = secrets.get((ns, name))
            if secret is None:
                self.secret_ctx.pop(ref, None)
                self.ctl.lines.append(f"W{time.strftime('%m%d %H:%M:%S')} controller: secret {ref} (kubernetes.io/tls) "
                                      "not found: its hosts get the default certificate\n")
                continue
            rv = secret["metadata"].get("resourceVersion")
            if self.secret_rv.get(ref) == rv:
                continue
            try:
                data = secret.get("data") or {}
                self.secret_ctx[ref] = ssl_context(base64.b64decode(data["tls.crt"]), base64.b64decode(data["tls.key"]))
                self.secret_rv[ref] = rv
            except Exception as e:                            # noqa: BLE001
                self.secret_ctx.pop(ref, None)
                self.ctl.error(f"secret {ref}: cannot load its certificate: {type(e).__name__}: {e}")
        for ref in set(self.secret_ctx) - wanted:
            self.secret_ctx.pop(ref, None)
            self.secret_rv.pop(ref, None)

    def _sni(self, sslobj, name, _ctx):
        if name and self.routes is not None:
            name = name.lower()
            ref = self.routes.tls_hosts.get(name)
            if ref is None and "." in name:
                ref = self.routes.tls_hosts.get("*." + name.split(".", 1)[1])
            ctx = self.secret_ctx.get(ref) if ref else None
            if ctx is not None:
                sslobj.context = ctx
        return None
