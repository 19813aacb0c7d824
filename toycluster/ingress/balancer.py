"""Ingress controller (ingress-nginx's balancer.lua): which endpoint one request goes to.

As upstream, the controller proxies to a Service's ready endpoints (EndpointSlices, named target ports resolved per
endpoint: upstreams() below), not to its ClusterIP, and picks one per request, whatever the client's connection
does: round robin by default (one turn per upstream, starting at a random endpoint, as lua-resty-balancer's
roundrobin does). With `affinity: cookie` (sticky, balanced mode) the session cookie's key hashes to an endpoint
(rendezvous hashing, so a key keeps its endpoint while that endpoint stays ready); a request without the cookie
gets a new random key, set in the answer. With `service-upstream: "true"` (or ROUTE_TO=service) the request goes to
the ClusterIP, and kube-proxy picks the pod per connection.
Pure but for the random start and keys; each worker process balances on its own, as nginx's workers do.
"""
from __future__ import annotations

import hashlib
import os
import random
import time

from toycluster.ingress import annotations as notes


class Balancer:
    def __init__(self, to_service: bool = False):
        self.to_service = to_service
        self.cache, self.owner, self.turns, self.keys = {}, {}, {}, {}
        self.rand = random.Random(os.urandom(8))

    def reset(self) -> None:
        """New Services or EndpointSlices: look the endpoints up again (turns are kept)."""
        self.cache = {}

    def endpoints(self, backend, services: dict, slices: dict):
        """(ClusterIP address or None, ready endpoints, reason for a 503 or None), cached until reset()."""
        hit = self.cache.get(backend)
        if hit is None:
            hit = self.cache[backend] = upstreams(backend, services, slices)
            for addr in [hit[0], *hit[1]]:
                if addr is not None:
                    self.owner[addr] = (backend.namespace, backend.service)
        return hit

    def pick(self, backend, services: dict, slices: dict, req_headers=None, https: bool = False):
        """(address, Set-Cookie line or b"", None) for one request to BACKEND, or (None, b"", reason)."""
        cluster, ready, why = self.endpoints(backend, services, slices)
        if why:
            return None, b"", why
        opts = backend.opts
        if cluster is not None and (self.to_service or opts.service_upstream):
            return cluster, b"", None
        if opts.affinity is not None and req_headers is not None:
            return self.sticky(backend, ready, req_headers, https)
        return self.round_robin(backend.upstream_name, ready), b"", None

    def round_robin(self, name: str, ready: list):
        turn = self.turns.get(name)
        if turn is None:
            turn = self.rand.randrange(len(ready))
        self.turns[name] = turn + 1
        return ready[turn % len(ready)]

    def sticky(self, backend, ready: list, headers: list, https: bool):
        aff = backend.opts.affinity
        value = notes.cookie(headers, aff.name.encode())
        key = value.split(b"|", 1)[0].decode("latin-1") if value else ""
        if key:
            return hash_pick(key, ready), b"", None
        now = time.time()
        key = "%s.%s.%s" % (round(now, 3), os.getpid(), self.rand.randint(1, 999999))
        name = backend.upstream_name
        bkey = self.keys.get(name) or self.keys.setdefault(name, notes.backend_key(name))
        return hash_pick(key, ready), notes.set_cookie(aff, f"{key}|{bkey}", backend.path, https, now), None


def hash_pick(key: str, ready: list):
    """The endpoint KEY sticks to: the highest hash of (key, endpoint) wins (rendezvous hashing)."""
    return max(ready, key=lambda a: hashlib.md5(f"{key}/{a[0]}:{a[1]}".encode()).digest())


def upstreams(backend, services: dict, slices: dict):
    """(ClusterIP address or None, sorted ready endpoint addresses, None) for BACKEND, or (None, [], reason)
    when it must be answered 503. SERVICES: {(ns, name): Service}; SLICES: {(ns, service name): [EndpointSlice]}."""
    if backend.service is None:
        return None, [], f"ingress {backend.ingress}: resource backends are not supported"
    key = (backend.namespace, backend.service)
    svc = services.get(key)
    if svc is None:
        return None, [], f'service "{backend.namespace}/{backend.service}" does not exist'
    spec = svc.get("spec") or {}
    if spec.get("type") == "ExternalName":
        return None, [], f'service "{backend.namespace}/{backend.service}" is an ExternalName service (not supported)'
    port = next((p for p in spec.get("ports") or [] if (p.get("port") == backend.port if isinstance(backend.port, int)
                                                        else p.get("name") == backend.port)), None)
    if port is None:
        return None, [], f'service "{backend.namespace}/{backend.service}" has no port {backend.port}'
    ready = []
    for sl in slices.get(key, ()):
        target = next((p.get("port") for p in sl.get("ports") or [] if (p.get("name") or "") == (port.get("name") or "")
                       and (p.get("protocol") or "TCP") == "TCP"), None)
        for ep in sl.get("endpoints") or []:
            cond = ep.get("conditions") or {}
            if target and cond.get("ready", True) and not cond.get("terminating"):
                ready += [(ip, target) for ip in ep.get("addresses") or []]
    if not ready:
        return None, [], f'service "{backend.namespace}/{backend.service}" has no ready endpoints'
    cip = spec.get("clusterIP")
    return (None if cip in (None, "", "None") else (cip, port["port"])), sorted(ready), None


def resolve(backend, services: dict, slices: dict, direct: bool = False, turn: int = 0):
    """(("ip", port), None) for BACKEND, or (None, reason) when it must be answered 503: by default the
    Service's ClusterIP and port (kube-proxy picks the pod); DIRECT (or a headless Service): the TURN-th
    ready endpoint."""
    cluster, ready, why = upstreams(backend, services, slices)
    if why:
        return None, why
    return (cluster, None) if cluster and not direct else (ready[turn % len(ready)], None)
