"""ingress-nginx's per-request balancing and its most used annotations, pure (no sockets): round robin per upstream,
service-upstream, rewrite-target with use-regex and capture groups, ssl-redirect, cookie affinity."""
import pytest

from toycluster.ingress import annotations as notes
from toycluster.ingress import routes
from toycluster.ingress.balancer import Balancer, hash_pick

P = notes.PREFIX


def ingress(name="shop", annotations=None, paths=(("/", "Prefix"),), host="shop.example.com", tls=False,
            service="web", ts="2024-01-01T00:00:00Z"):
    return {"metadata": {"name": name, "namespace": "default", "creationTimestamp": ts,
                         "annotations": {P + k: v for k, v in (annotations or {}).items()}},
            "spec": {"tls": [{"hosts": [host]}] if tls else [],
                     "rules": [{"host": host, "http": {"paths": [
                         {"path": p, "pathType": t, "backend": {"service": {"name": service, "port": {"number": 80}}}}
                         for p, t in paths]}}]}}


def world(ips=("10.0.0.3", "10.0.0.1", "10.0.0.2"), ready=None):
    svc = {"metadata": {"name": "web", "namespace": "default"},
           "spec": {"clusterIP": "10.96.0.10", "ports": [{"name": "http", "port": 80, "targetPort": "web"}]}}
    ready = ready or [True] * len(ips)
    sl = {"metadata": {"name": "web-abc", "namespace": "default", "labels": {"kubernetes.io/service-name": "web"}},
          "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
          "endpoints": [{"addresses": [ip], "conditions": {"ready": r}} for ip, r in zip(ips, ready)]}
    return {("default", "web"): svc}, {("default", "web"): [sl]}


def test_round_robin_per_request_over_ready_endpoints_in_order():
    services, slices = world(ready=[True, True, False])
    backend = routes.build_routes([ingress()]).match("shop.example.com", "/")
    b = Balancer()
    picks = [b.pick(backend, services, slices)[0] for _ in range(6)]
    assert set(picks) == {("10.0.0.1", 8080), ("10.0.0.3", 8080)}, "ready endpoints only, the slice's target port"
    assert picks[:2] * 3 == picks, "each request the next endpoint, in turn"
    first = Balancer()
    starts = {first.__init__() or first.pick(backend, services, slices)[0] for _ in range(40)}
    assert len(starts) == 2, "each worker starts at a random endpoint, as lua-resty-balancer's roundrobin"


def test_one_turn_per_upstream_and_endpoints_that_change():
    services, slices = world()
    r = routes.build_routes([ingress(paths=(("/a", "Prefix"), ("/b", "Prefix")))])
    a, b = r.match("shop.example.com", "/a"), r.match("shop.example.com", "/b")
    bal = Balancer()
    picks = [bal.pick(x, services, slices)[0][0] for x in (a, b, a, b, a, b)]
    assert sorted(picks[:3]) == ["10.0.0.1", "10.0.0.2", "10.0.0.3"] and picks[:3] == picks[3:]
    bal.reset()
    services, slices = world(ips=("10.0.0.9",))
    assert bal.pick(a, services, slices)[0] == ("10.0.0.9", 8080)


def test_service_upstream_goes_to_the_cluster_ip():
    services, slices = world()
    backend = routes.build_routes([ingress(annotations={"service-upstream": "true"})]).match("shop.example.com", "/x")
    assert {Balancer().pick(backend, services, slices)[0] for _ in range(5)} == {("10.96.0.10", 80)}
    plain = routes.build_routes([ingress()]).match("shop.example.com", "/x")
    assert Balancer(to_service=True).pick(plain, services, slices)[0] == ("10.96.0.10", 80)
    services, slices = world(ready=[False, False, False])
    assert Balancer().pick(backend, services, slices) == (None, b"", 'service "default/web" has no ready endpoints')


@pytest.mark.parametrize("uri, target, sent", [
    ("/something", b"/something", b"/"),
    ("/something/", b"/something/", b"/"),
    ("/something/new", b"/something/new?x=1", b"/new?x=1"),
    ("/SOMETHING/a b", b"/SOMETHING/a%20b", b"/a%20b"),
])
def test_rewrite_target_with_capture_groups_as_upstream_documents(uri, target, sent):
    r = routes.build_routes([ingress(annotations={"use-regex": "true", "rewrite-target": "/$2"},
                                     paths=(("/something(/|$)(.*)", "ImplementationSpecific"),))])
    backend = r.match("shop.example.com", uri)
    assert backend is not None and backend.path == "/something(/|$)(.*)"
    assert notes.rewrite(backend.opts, backend.path, uri, target) == sent
    assert r.match("shop.example.com", "/other") is None


def test_rewrite_without_groups_replaces_the_whole_uri_and_keeps_arguments():
    opts = notes.options(ingress(annotations={"rewrite-target": "/app?v=2"}))
    assert notes.rewrite(opts, "/pay", "/pay/x", b"/pay/x?a=1") == b"/app?v=2&a=1"
    assert notes.rewrite(notes.options(ingress(annotations={"rewrite-target": "/"})), "/", "/a", b"/a") == b"/a"


def test_a_rewrite_makes_every_path_of_the_host_a_regex_tried_longest_first():
    r = routes.build_routes([
        ingress("plain", paths=(("/api", "Prefix"), ("/api/v1", "Exact"))),
        ingress("rw", annotations={"rewrite-target": "/$1"}, paths=(("/api/v[0-9]+/(.*)", "Prefix"),),
                ts="2024-02-01T00:00:00Z")])
    assert r.match("shop.example.com", "/api/v2/users").ingress == "default/rw"
    assert r.match("shop.example.com", "/API/v1").path == "/api/v1", "case-insensitive, anchored at the start"
    assert r.match("shop.example.com", "/apix").path == "/api", "a regex path is a prefix: /api matches /apix"
    assert r.match("shop.example.com", "/x") is None


def test_ssl_redirect_defaults_on_where_tls_is_configured_and_can_be_turned_off_or_forced():
    on, off = notes.options(ingress()), notes.options(ingress(annotations={"ssl-redirect": "false"}))
    forced = notes.options(ingress(annotations={"force-ssl-redirect": "true"}))
    assert notes.https_redirect(on, "http", tls=True) and not notes.https_redirect(on, "https", tls=True)
    assert not notes.https_redirect(on, "http", tls=False) and not notes.https_redirect(off, "http", tls=True)
    assert notes.https_redirect(forced, "http", tls=False)
    assert notes.options(ingress(annotations={"ssl-redirect": "maybe"})).ssl_redirect, "a bad bool: the default"
    assert notes.https_location(b"shop.example.com:80", b"/cart/?id=1") == b"https://shop.example.com/cart/?id=1"
    assert notes.https_location(b"shop.example.com", b"/cart/") == b"https://shop.example.com/cart"
    r = routes.build_routes([ingress(tls=True)])
    assert r.tls_for("shop.example.com") and not r.tls_for("other.example.com")


def test_cookie_affinity_sets_ingresscookie_once_and_sticks_to_its_endpoint():
    services, slices = world()
    backend = routes.build_routes([ingress(annotations={"affinity": "cookie"}, paths=(("/shop", "Prefix"),))]).match(
        "shop.example.com", "/shop/cart")
    b = Balancer()
    addr, line, _ = b.pick(backend, services, slices, [], https=False)
    text = line.decode()
    assert text.startswith("Set-Cookie: INGRESSCOOKIE=") and text.endswith("; Path=/shop; HttpOnly\r\n"), text
    value = text.split("=", 1)[1].split(";")[0]
    key, bkey = value.split("|")
    assert bkey == notes.backend_key("default-web-80") and len(bkey) == 32
    headers = [(b"cookie", b"a=b; INGRESSCOOKIE=" + value.encode(), b"")]
    assert {b.pick(backend, services, slices, headers)[:2] for _ in range(10)} == {(addr, b"")}, "sticky, no new cookie"
    assert hash_pick(key, sorted(b.endpoints(backend, services, slices)[1])) == addr
    three = [(f"10.0.0.{i}", 8080) for i in (1, 2, 3)]
    moved = [k for k in map(str, range(200)) if hash_pick(k, three) != hash_pick(k, [*three, ("10.0.0.4", 8080)])]
    assert moved and all(hash_pick(k, [*three, ("10.0.0.4", 8080)]) == ("10.0.0.4", 8080) for k in moved), \
        "a new endpoint takes over only the sessions it wins"
    named = routes.build_routes([ingress(annotations={"affinity": "cookie", "session-cookie-name": "route",
                                                      "session-cookie-max-age": "60", "session-cookie-samesite": "Lax"})])
    line = b.pick(named.match("shop.example.com", "/"), services, slices, [], https=True)[1].decode()
    assert line.startswith("Set-Cookie: route=") and line.endswith("; Max-Age=60; Path=/; Secure; HttpOnly; SameSite=Lax\r\n")


def test_a_named_target_port_is_resolved_per_endpoint():
    services, slices = world(ips=("10.0.0.1",))
    other = {"metadata": {"name": "web-def", "namespace": "default", "labels": {"kubernetes.io/service-name": "web"}},
             "ports": [{"name": "http", "port": 9090, "protocol": "TCP"}],   # pods whose port "web" is 9090
             "endpoints": [{"addresses": ["10.0.0.2"], "conditions": {"ready": True}},
                           {"addresses": ["10.0.0.4"], "conditions": {"ready": True, "terminating": True}}]}
    slices[("default", "web")].append(other)
    backend = routes.build_routes([ingress()]).match("shop.example.com", "/")
    b = Balancer()
    assert sorted({b.pick(backend, services, slices)[0] for _ in range(4)}) == [("10.0.0.1", 8080), ("10.0.0.2", 9090)]
