"""Pure tests (no root) of the north-south path: the ingress route matcher against the Kubernetes Ingress rules,
request and response head handling, the proxy headers, Ingress and TLS Secret validation, the cluster PKI, the
cloud load balancer's rules and the public DNS answers."""
import base64

import pytest
from dnslib import QTYPE, DNSRecord

from toycluster import config

from toycluster.cloud import controller
from toycluster.cloud import lb
from toycluster.ingress import balancer
from toycluster.ingress import routes as ingress
from toycluster.cluster import network
from toycluster.api import fields, validation
from toycluster.api import pki
from toycluster.cloud import public_dns
from toycluster.ingress.http1 import parse_head, parse_response_head
from toycluster.wire.http1 import CHUNKED, LENGTH, NO_BODY, UNTIL_CLOSE, Chunks
from toycluster.api.store import Store


def ing(name, rules=None, default=None, cls=None, ts="2024-01-01T00:00:00Z", ns="default", tls=None, annotations=None):
    spec = {}
    if rules is not None:
        spec["rules"] = rules
    if default:
        spec["defaultBackend"] = {"service": {"name": default, "port": {"number": 80}}}
    if cls:
        spec["ingressClassName"] = cls
    if tls:
        spec["tls"] = tls
    meta = {"name": name, "namespace": ns, "creationTimestamp": ts}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta, "spec": spec}


def rule(host, *paths):
    """paths: (path, pathType, service)."""
    r = {"http": {"paths": [{"path": p, "pathType": t, "backend": {"service": {"name": s, "port": {"number": 80}}}}
                            for p, t, s in paths]}}
    if host is not None:
        r["host"] = host
    return r


def match(routes, host, target):
    b = routes.match(ingress.normalise_host(host), ingress.normalise_path(target.encode()))
    return b.service if b else None


# ---------------------------------------------------------------- paths: the table in the Kubernetes docs
DOCS_TABLE = [   # (paths of the rule as (type, path), request path, matches?) - kubernetes.io/docs/concepts/services-networking/ingress/#examples
    ([("Prefix", "/")], "/anything/at/all", True),
    ([("Exact", "/foo")], "/foo", True),
    ([("Exact", "/foo")], "/bar", False),
    ([("Exact", "/foo")], "/foo/", False),
    ([("Exact", "/foo/")], "/foo", False),
    ([("Prefix", "/foo")], "/foo", True),
    ([("Prefix", "/foo")], "/foo/", True),
    ([("Prefix", "/foo/")], "/foo", True),
    ([("Prefix", "/foo/")], "/foo/", True),
    ([("Prefix", "/aaa/bb")], "/aaa/bbb", False),
    ([("Prefix", "/aaa/bbb")], "/aaa/bbb", True),
    ([("Prefix", "/aaa/bbb/")], "/aaa/bbb", True),
    ([("Prefix", "/aaa/bbb")], "/aaa/bbb/", True),
    ([("Prefix", "/aaa/bbb")], "/aaa/bbb/ccc", True),
    ([("Prefix", "/aaa/bbb")], "/aaabbb", False),
    ([("Prefix", "/aaa")], "/ccc", False),
    ([("ImplementationSpecific", "/aaa")], "/aaa/x", True),      # treated as Prefix
    ([("ImplementationSpecific", "/aaa")], "/aaax", False),
]


@pytest.mark.parametrize("paths,request_path,matches", DOCS_TABLE)
def test_path_matching_follows_the_kubernetes_table(paths, request_path, matches):
    routes = ingress.build_routes([ing("a", [rule("h.example.com", *[(p, t, "svc") for t, p in paths])])])
    assert (match(routes, "h.example.com", request_path) == "svc") is matches


@pytest.mark.parametrize("request_path,want", [
    ("/aaa/ccc", "aaa"), ("/aaa/bbb", "bbb"), ("/aaa/bbb/x", "bbb"), ("/ccc", "root"), ("/", "root"),
    ("/foo", "exact"), ("/foo/", "prefix-foo"), ("/foo/x", "prefix-foo"),
])
def test_longest_prefix_wins_and_exact_beats_prefix(request_path, want):
    routes = ingress.build_routes([ing("a", [rule("h.example.com", ("/", "Prefix", "root"), ("/aaa", "Prefix", "aaa"),
                                                   ("/aaa/bbb", "Prefix", "bbb"), ("/foo", "Prefix", "prefix-foo"),
                                                   ("/foo", "Exact", "exact"))])])
    assert match(routes, "h.example.com", request_path) == want


@pytest.mark.parametrize("target,normal", [
    ("/a/b?x=1", "/a/b"), ("/a//b", "/a/b"), ("/a/./b", "/a/b"), ("/a/x/../b", "/a/b"), ("/%61%2Fb", "/a/b"),
    ("/a/b/", "/a/b/"), ("/a/b/.", "/a/b/"), ("/../a", None), ("a/b", None), ("/a%zz", None), ("/a%00", None),
])
def test_paths_are_normalised_as_nginx_does_before_matching(target, normal):
    assert ingress.normalise_path(target.encode()) == normal


def test_a_dot_dot_path_cannot_escape_its_prefix():
    routes = ingress.build_routes([ing("a", [rule("h.example.com", ("/public", "Prefix", "public"))])])
    assert match(routes, "h.example.com", "/public/../admin") is None
    assert match(routes, "h.example.com", "/public/x/../y") == "public"


# ---------------------------------------------------------------- hosts
HOSTS = ingress.build_routes([
    ing("a", [rule("foo.bar.com", ("/", "Prefix", "exact-host")), rule("*.bar.com", ("/", "Prefix", "wildcard")),
              rule(None, ("/", "Prefix", "no-host"))]),
])


@pytest.mark.parametrize("host,want", [
    ("foo.bar.com", "exact-host"), ("FOO.Bar.com", "exact-host"), ("foo.bar.com:8080", "exact-host"),
    ("foo.bar.com.", "exact-host"), ("baz.bar.com", "wildcard"), ("bar.com", "no-host"),
    ("a.baz.bar.com", "no-host"), (".bar.com", "no-host"), ("other.org", "no-host"), ("", "no-host"),
    ("192.168.50.11:30080", "no-host"),
])
def test_exact_host_then_one_label_wildcard_then_host_less_rules(host, want):
    assert match(HOSTS, host, "/x") == want


def test_a_host_server_does_not_fall_through_to_host_less_paths():
    routes = ingress.build_routes([ing("a", [rule("h.example.com", ("/api", "Prefix", "api")),
                                             rule(None, ("/", "Prefix", "catch"))])])
    assert match(routes, "h.example.com", "/api/v1") == "api"
    assert match(routes, "h.example.com", "/other") is None          # 404, as ingress-nginx
    assert match(routes, "x.example.com", "/other") == "catch"


def test_default_backends():
    routes = ingress.build_routes([
        ing("old", [rule("a.example.com", ("/app", "Prefix", "app"))], default="fallback-a"),
        ing("new", [rule("b.example.com", ("/app", "Prefix", "app-b"))], ts="2024-02-01T00:00:00Z"),
        ing("newer", None, default="fallback-late", ts="2024-03-01T00:00:00Z"),
    ])
    assert match(routes, "a.example.com", "/app") == "app"
    assert match(routes, "a.example.com", "/nope") == "fallback-a"   # the Ingress that defined the host
    assert match(routes, "b.example.com", "/nope") == "fallback-a"   # the catch-all: the oldest defaultBackend
    assert match(routes, "unknown.example.com", "/") == "fallback-a"
    assert ingress.build_routes([ing("x", [rule("a.example.com", ("/a", "Exact", "s"))])]).match("z", "/") is None


def test_older_ingress_wins_a_conflict_and_classes_are_respected():
    routes = ingress.build_routes([
        ing("young", [rule("h.example.com", ("/", "Prefix", "young"))], ts="2024-05-01T00:00:00Z"),
        ing("old", [rule("h.example.com", ("/", "Prefix", "old"), ("/extra", "Prefix", "extra"))]),
        ing("other-class", [rule("h.example.com", ("/other", "Prefix", "other"))], cls="traefik"),
        ing("annotated", [rule("h.example.com", ("/annotated", "Prefix", "annotated"))],
            annotations={"kubernetes.io/ingress.class": "nginx"}),
    ])
    assert match(routes, "h.example.com", "/") == "old"
    assert match(routes, "h.example.com", "/extra") == "extra"       # rules of two Ingresses merge per host
    assert match(routes, "h.example.com", "/other") == "old"         # another class's Ingress is ignored
    assert match(routes, "h.example.com", "/annotated") == "annotated"


def test_backend_by_port_name_and_the_upstream_name():
    doc = ing("a", [{"host": "h.example.com", "http": {"paths": [
        {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"name": "http"}}}}]}}])
    b = ingress.build_routes([doc]).match("h.example.com", "/")
    assert (b.service, b.port, b.upstream_name, b.ingress) == ("web", "http", "default-web-http", "default/a")


# ---------------------------------------------------------------- backends: ClusterIP, endpoints, 503 reasons
SVC = {"metadata": {"name": "web", "namespace": "default"},
       "spec": {"clusterIP": "10.96.0.50", "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}


def eps(*ips, ready=True):
    return {"metadata": {"name": "web-x", "namespace": "default", "labels": {"kubernetes.io/service-name": "web"}},
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "conditions": {"ready": ready}} for ip in ips]}


def test_resolve_to_the_cluster_ip_or_endpoints_and_explain_503s():
    b = ingress.Backend("default", "web", 80, "default/a")
    services, slices = {("default", "web"): SVC}, {("default", "web"): [eps("10.244.1.5", "10.244.2.7")]}
    assert balancer.resolve(b, services, slices) == (("10.96.0.50", 80), None)
    assert balancer.resolve(ingress.Backend("default", "web", "http"), services, slices) == (("10.96.0.50", 80), None)
    assert {balancer.resolve(b, services, slices, direct=True, turn=t)[0] for t in (0, 1)} == \
        {("10.244.1.5", 8080), ("10.244.2.7", 8080)}
    assert balancer.resolve(ingress.Backend("default", "nosuch", 80), services, slices)[1] == \
        'service "default/nosuch" does not exist'
    assert "has no port 81" in balancer.resolve(ingress.Backend("default", "web", 81), services, slices)[1]
    assert "has no ready endpoints" in balancer.resolve(b, services, {("default", "web"): [eps("10.1.1.1", ready=False)]})[1]
    assert "has no ready endpoints" in balancer.resolve(b, services, {})[1]
    assert "resource backends" in balancer.resolve(ingress.Backend("default", None, None, "default/a"), services, slices)[1]


# ---------------------------------------------------------------- request heads
def test_parse_head_reads_a_request_and_its_framing():
    req = parse_head(b"POST /a/./b?q=1 HTTP/1.1\r\nHost: Shop.Example.com:80\r\nContent-Length: 5\r\nX-A: 1")
    assert (req.method, req.target, req.host, req.path, req.keep, req.framing, req.left) == \
        (b"POST", b"/a/./b?q=1", "shop.example.com", "/a/b", True, LENGTH, 5)
    req = parse_head(b"GET http://abs.example.com/x HTTP/1.1\r\nHost: other")
    assert (req.host, req.target) == ("abs.example.com", b"/x")
    assert parse_head(b"GET / HTTP/1.0").keep is False
    assert parse_head(b"GET / HTTP/1.0\r\nConnection: keep-alive").keep is True
    assert parse_head(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close").keep is False
    assert parse_head(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked").framing == CHUNKED


@pytest.mark.parametrize("head,status", [
    (b"HELLO", 400), (b"GET /", 400), (b"GET / HTTP/1.1", 400),                     # no Host in HTTP/1.1
    (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b", 400), (b"GET / HTTP/1.1\r\nHost: a\r\n folded", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nBad Header: x", 400), (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2", 400),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked", 400),   # smuggling
    (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip", 501), (b"GET / HTTP/2.0", 505),
    (b"GET /../x HTTP/1.1\r\nHost: a", 400), (b"GET /" + b"a" * 9000 + b" HTTP/1.1", 414),
])
def test_parse_head_refuses_what_nginx_refuses(head, status):
    assert parse_head(head) == status


def test_response_heads_lose_hop_by_hop_headers_and_keep_their_framing():
    status, lines, framing, length, keep = parse_response_head(
        b"HTTP/1.1 200 OK\r\nX-App: 1\r\nServer: echo\r\nDate: x\r\nContent-Length: 12\r\nConnection: keep-alive\r\n"
        b"Keep-Alive: timeout=5\r\nX-Accel-Buffering: no\r\nContent-Type: text/plain\r\nUpgrade: h2c", b"GET")
    assert (status, framing, length, keep) == (200, LENGTH, 12, True)
    # nginx's order: the status line, then (after its own Date) Content-Type, Content-Length, then the rest;
    # the upstream's Server, Date and X-Accel-* are hidden (proxy_hide_header's defaults)
    assert lines == (b"HTTP/1.1 200 OK\r\n", b"Content-Type: text/plain\r\nContent-Length: 12\r\n", b"X-App: 1\r\n")
    assert parse_response_head(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade",
                               b"GET")[1][2] == b"Upgrade: websocket\r\n"
    assert parse_response_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked", b"GET")[2] == CHUNKED
    assert parse_response_head(b"HTTP/1.0 200 OK", b"GET")[2:5:2] == (UNTIL_CLOSE, False)
    assert parse_response_head(b"HTTP/1.1 200 OK\r\nContent-Length: 9", b"HEAD")[2] == NO_BODY
    assert parse_response_head(b"HTTP/1.1 304 Not Modified", b"GET")[2] == NO_BODY
    assert parse_response_head(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1", b"GET")[4] is False
    assert parse_response_head(b"garbage", b"GET") is None


def test_chunked_bodies_are_delimited_across_reads():
    body = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\nNEXT"
    for cut in range(1, len(body)):
        c = Chunks()
        first = c.feed(body[:cut])
        end = first if first >= 0 else cut + c.feed(body[cut:])
        assert body[end:] == b"NEXT", cut
    with pytest.raises(ValueError):
        Chunks().feed(b"zz\r\n")
    with pytest.raises(ValueError):
        Chunks().feed(b"0x5\r\n")


def test_upstream_head_adds_forwarded_headers_and_drops_hop_by_hop_ones():
    req = parse_head(b"GET /x HTTP/1.1\r\nHost: shop.example.com\r\nConnection: keep-alive, X-Secret\r\nX-Secret: 1\r\n"
                     b"Keep-Alive: 300\r\nUpgrade: h2c\r\nX-Forwarded-For: 6.6.6.6\r\nX-Request-ID: abc\r\nAccept: */*")
    head = ingress.upstream_head(req.method, req.target, req.headers, client_ip="192.168.50.11", scheme="https",
                                 host=req.rawhost, server_port=443, request_id="abc").decode()
    lines = head.split("\r\n")
    assert lines[0] == "GET /x HTTP/1.1" and head.endswith("\r\n\r\n")
    assert "Host: shop.example.com" in lines and "Accept: */*" in lines
    for gone in ("X-Secret", "Keep-Alive"):
        assert not any(line.startswith(gone + ":") for line in lines), gone
    # ingress-nginx: `Upgrade $http_upgrade` and `Connection $connection_upgrade` (upgrade when one was asked for)
    assert [line for line in lines if line.startswith(("Connection:", "Upgrade:"))] == ["Upgrade: h2c",
                                                                                       "Connection: upgrade"]
    plain = ingress.upstream_head(b"GET", b"/", [], client_ip="1.2.3.4", scheme="http", host=b"h", server_port=80,
                                  request_id="r").decode()
    assert "Connection:" not in plain and "Upgrade:" not in plain
    # nginx's order: Host and the proxy_set_header lines first, the client's other lines after; what the client
    # sent as X-Forwarded-For is kept as X-Original-Forwarded-For; httpoxy's Proxy header goes
    assert lines.index("Host: shop.example.com") == 1 and lines.index("X-Scheme: https") < lines.index("Accept: */*")
    assert "X-Original-Forwarded-For: 6.6.6.6" in lines
    evil = parse_head(b"GET / HTTP/1.1\r\nHost: h\r\nProxy: http://evil/")
    assert b"Proxy:" not in ingress.upstream_head(evil.method, evil.target, evil.headers, client_ip="1.2.3.4",
                                                  scheme="http", host=b"h", server_port=80, request_id="r")
    assert "X-Forwarded-For: 192.168.50.11" in lines          # the client's own X-Forwarded-For is not trusted
    for want in ("X-Real-IP: 192.168.50.11", "X-Forwarded-Host: shop.example.com", "X-Forwarded-Port: 443",
                 "X-Forwarded-Proto: https", "X-Request-ID: abc"):
        assert want in lines, want
    trusted = ingress.upstream_head(req.method, req.target, req.headers, client_ip="10.0.0.1", scheme="http",
                                    host=b"h", server_port=80, request_id="r", trust_forwarded=True).decode()
    assert "X-Forwarded-For: 6.6.6.6, 10.0.0.1\r\n" in trusted


# ---------------------------------------------------------------- validation: Ingress and TLS Secrets
def validate(doc):
    return validation.validate(doc, "test.yaml")


def bad(doc):
    with pytest.raises(fields.ManifestError) as e:
        validate(doc)
    return str(e.value)


def test_a_good_ingress_validates_and_a_missing_service_is_accepted():
    doc = ing("shop", [rule("shop.example.com", ("/orders", "Prefix", "no-such-service")), rule("*.example.com",
              ("/", "ImplementationSpecific", "web"))], tls=[{"hosts": ["shop.example.com"], "secretName": "shop-tls"}],
              cls="nginx")
    assert validate(doc)["spec"]["rules"][0]["host"] == "shop.example.com"
    validate(ing("d", None, default="web"))


@pytest.mark.parametrize("change,words", [
    (lambda d: d["spec"]["rules"][0]["http"]["paths"][0].update(path="orders"), ["paths[0].path", "must be an absolute path"]),
    (lambda d: d["spec"]["rules"][0]["http"]["paths"][0].update(path="/a//b"), ["must not contain '//'"]),
    (lambda d: d["spec"]["rules"][0]["http"]["paths"][0].pop("pathType"), ["pathType", "Required value"]),
    (lambda d: d["spec"]["rules"][0]["http"]["paths"][0].update(pathType="Regex"), ["Unsupported value"]),
    (lambda d: d["spec"]["rules"][0].update(host="Shop_.example.com"), ["rules[0].host", "RFC 1123 subdomain"]),
    (lambda d: d["spec"]["rules"][0].update(host="shop.*.com"), ["rules[0].host", "wildcard DNS-1123"]),
    (lambda d: d["spec"]["rules"][0].update(host="*.*.example.com"), ["wildcard DNS-1123"]),
    (lambda d: d["spec"]["rules"][0].update(host="10.0.0.1"), ["not an IP address"]),
    (lambda d: d["spec"].update(tls=[{"hosts": ["a.*.com"]}]), ["tls[0].hosts[0]", "wildcard"]),
    (lambda d: d["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"].update(port={}), ["port name or number"]),
    (lambda d: d["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"].update(name="Web"), ["DNS-1035"]),
    (lambda d: d["spec"].update(rules=[]), ["either `defaultBackend` or `rules`"]),
    (lambda d: d["spec"]["rules"][0].update(htpp={}), ["rules[0].htpp", "unknown field"]),
])
def test_bad_ingresses_get_the_api_servers_errors(change, words):
    doc = ing("shop", [rule("shop.example.com", ("/", "Prefix", "web"))])
    change(doc)
    text = bad(doc)
    assert text.startswith("test.yaml: Ingress default/shop: spec"), text
    for w in words:
        assert w in text, text


CA_DIR = {}


def keypair(hosts=("shop.example.com",)):
    if "dir" not in CA_DIR:
        import tempfile
        CA_DIR["dir"] = tempfile.mkdtemp()
        pki.make_ca(CA_DIR["dir"], "test")
    cert, key = (open(p, "rb").read() for p in pki.ca_paths(CA_DIR["dir"]))
    return pki.issue(cert, key, list(hosts))


def secret(crt: bytes, key: bytes, **extra):
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "shop-tls"}, "type": "kubernetes.io/tls",
            "data": {"tls.crt": base64.b64encode(crt).decode(), "tls.key": base64.b64encode(key).decode()}, **extra}


def test_tls_secrets_must_hold_a_certificate_and_its_key():
    crt, key = keypair()
    assert validate(secret(crt, key))["type"] == "kubernetes.io/tls"
    other_crt, other_key = keypair(("other.example.com",))
    assert "tls.key is not the private key of the certificate" in bad(secret(crt, other_key))
    assert "data[tls.crt]" in bad(secret(b"hello", key)) and "not a PEM-encoded X.509 certificate" in bad(secret(b"x", key))
    assert "data[tls.key]" in bad(secret(crt, b"world")) and "not a PEM-encoded private key" in bad(secret(crt, b"w"))
    doc = secret(crt, key)
    del doc["data"]["tls.key"]
    assert "data[tls.key]: Required value" in bad(doc)
    doc = secret(crt, key)
    doc["data"]["tls.crt"] = "not base64!"
    assert "must be base64-encoded" in bad(doc)
    string = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "type": "kubernetes.io/tls",
              "stringData": {"tls.crt": crt.decode(), "tls.key": key.decode()}}
    merged = validate(string)
    assert "stringData" not in merged and base64.b64decode(merged["data"]["tls.crt"]) == crt
    assert validate({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "o"}, "data": {"a": "YQ=="}})["type"] == "Opaque"
    assert "unknown field" in bad({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "o"}, "dta": {}})


def test_the_ca_signs_certificates_for_hosts_and_wildcards():
    from cryptography import x509
    crt, key = keypair(("shop.example.com", "*.example.org"))
    cert = x509.load_pem_x509_certificate(crt)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert names == ["shop.example.com", "*.example.org"]
    ca = x509.load_pem_x509_certificate(open(pki.ca_paths(CA_DIR["dir"])[0], "rb").read())
    cert.verify_directly_issued_by(ca)
    assert pki.check_tls_pair(crt, key) is None


# ---------------------------------------------------------------- the cloud load balancer and the public DNS
CFG = config.ClusterConfig(name="lab", nodes=3)


def lb_service(name="db", ip="203.0.113.20", ports=((5432, 31000),)):
    return {"metadata": {"name": name, "namespace": "default"},
            "spec": {"type": "LoadBalancer", "ports": [{"port": p, "nodePort": n, "protocol": "TCP"} for p, n in ports]},
            "status": {"loadBalancer": {"ingress": [{"ip": ip}]}}}


INGRESS_SVC = {"metadata": {"name": "ingress-nginx-controller", "namespace": "ingress"},
               "spec": {"type": "NodePort", "ports": [{"name": "http", "port": 80, "nodePort": 30080},
                                                      {"name": "https", "port": 443, "nodePort": 30443}]}}


def test_lb_topology_addresses_and_no_default_route():
    text = [network.as_ip_command(s) for s in lb.topology(CFG)]
    assert "ip -n lab.lb addr add 203.0.113.10/24 dev eth1" in text
    assert "ip -n lab.lb addr add 192.168.50.2/24 dev eth0" in text
    assert "ip -n lab.user addr add 203.0.113.100/24 dev eth0" in text
    assert "ip -n lab.dns addr add 203.0.113.53/24 dev eth0" in text
    assert "ip netns exec lab.lb sysctl -w net.ipv4.ip_forward=1" in text
    assert not any("route" in t for t in text), "nothing may route out of the machine"
    assert lb.topology(CFG)[0] in network.render(CFG)
    assert lb.check_cidr(config.ClusterConfig(internet_cidr="192.168.50.0/24")) is not None
    assert lb.check_cidr(config.ClusterConfig(internet_cidr="203.0.113.0/26")) is not None
    assert lb.check_cidr(CFG) is None


def test_lb_rules_spread_over_healthy_nodes_only():
    fronts = lb.frontends([INGRESS_SVC, lb_service()], CFG)
    assert [f[:3] for f in fronts] == [("203.0.113.20", 5432, 31000), ("203.0.113.10", 80, 30080),
                                       ("203.0.113.10", 443, 30443)]
    healthy = {(CFG.node_ip(n), p): n != 2 for n in (1, 2, 3) for p in (30080, 30443, 31000)}
    nat = lb.render(fronts, healthy, CFG)["nat"]
    chain = nat[lb.chain_name("203.0.113.10", 80)]
    assert [r[-1] for r in chain] == ["192.168.50.11:30080", "192.168.50.13:30080"]
    assert "--probability" in chain[0] and "0.5000000000" in chain[0] and "statistic" not in chain[1]
    assert any("--dport" in r and "5432" in r for r in nat["LB-FRONTENDS"])
    none = lb.render(fronts, {}, CFG)["nat"]
    assert none[lb.chain_name("203.0.113.10", 80)] == []          # nobody healthy: the LB resets


def test_cloud_controller_gives_external_ips_and_ingress_addresses():
    store = Store(None)
    ctl = controller.CloudController(CFG, store)
    ctl.enabled = True
    store.put({"kind": "Service", "metadata": {"name": "a", "namespace": "default"},
               "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "nodePort": 30001}]}, "status": {"loadBalancer": {}}})
    store.put({"kind": "Service", "metadata": {"name": "b", "namespace": "default"},
               "spec": {"type": "LoadBalancer", "loadBalancerIP": "203.0.113.33", "ports": [{"port": 80, "nodePort": 30002}]}})
    store.put(ing("shop", [rule("shop.example.com", ("/", "Prefix", "a"))]) | {"kind": "Ingress"})
    store.put(ing("other", [rule("x.example.com", ("/", "Prefix", "a"))], cls="traefik") | {"kind": "Ingress"})
    ctl.reconcile()
    ips = lambda name: store.get("Service", "default", name)["status"]["loadBalancer"]["ingress"][0]["ip"]  # noqa: E731
    assert (ips("a"), ips("b")) == ("203.0.113.20", "203.0.113.33")
    assert store.get("Ingress", "default", "shop")["status"]["loadBalancer"]["ingress"] == [{"ip": "203.0.113.10"}]
    assert "status" not in store.get("Ingress", "default", "other") or not store.get("Ingress", "default", "other")["status"]
    rv = store.rv
    ctl.reconcile()
    assert store.rv == rv, "a second pass changes nothing"
    svc = store.get("Service", "default", "a")
    svc["spec"]["type"] = "ClusterIP"
    store.put(svc)
    ctl.reconcile()
    assert store.get("Service", "default", "a")["status"] == {}


def ask(names, name, qtype="A"):
    reply = public_dns.answer(DNSRecord.question(name, qtype).pack(), names)
    return DNSRecord.parse(reply)


def test_public_dns_answers_ingress_hosts_and_load_balancer_names():
    names = public_dns.zone([ing("shop", [rule("shop.example.com", ("/", "Prefix", "a")), rule("*.apps.example.com",
                                          ("/", "Prefix", "a"))], annotations={public_dns.ANNOTATION: "www.example.com"}),
                             ing("other", [rule("x.example.com", ("/", "Prefix", "a"))], cls="traefik")],
                            [lb_service("db", "203.0.113.21")], CFG)
    a = lambda n: [str(r.rdata) for r in ask(names, n).rr]                      # noqa: E731
    assert a("shop.example.com") == ["203.0.113.10"] and a("SHOP.example.com.") == ["203.0.113.10"]
    assert a("www.example.com") == ["203.0.113.10"]
    assert a("one.apps.example.com") == ["203.0.113.10"]
    assert ask(names, "two.one.apps.example.com").header.rcode == 3             # one label only: NXDOMAIN
    assert ask(names, "x.example.com").header.rcode == 3                         # another class's host
    assert a("db.default.lb.example") == ["203.0.113.21"]
    aaaa = ask(names, "shop.example.com", "AAAA")
    assert aaaa.header.rcode == 0 and aaaa.rr == [] and aaaa.header.aa == 1
    assert QTYPE[ask(names, "shop.example.com").rr[0].rtype] == "A"
    assert public_dns.answer(b"\x00\x01", names) is None
