"""The north-south path on a real cluster (issue 5): user -> public DNS -> cloud load balancer -> NodePort on a node
-> ingress controller pod -> a ready endpoint (pod), over HTTP and HTTPS; LoadBalancer Services; a node taken
off the network and put back under a retrying client; bad requests; a reload under load; bad manifests.

One 3-node cluster of this module's own: CoreDNS is on node1, the ingress controller on node3 (the last node), the
application's pods are pinned to node1, and node2 is the one taken off the network.
"""
import base64
import json
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import cluster_up, poll, sh

APP = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: orders}
spec:
  replicas: 2
  selector: {matchLabels: {app: orders}}
  template:
    metadata: {labels: {app: orders}}
    spec:
      nodeSelector: {kubernetes.io/hostname: node1}
      containers: [{name: web, image: toycluster/echo, ports: [{name: http, containerPort: 8080}]}]
---
apiVersion: v1
kind: Service
metadata: {name: orders}
spec:
  selector: {app: orders}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: shop
  annotations: {nginx.ingress.kubernetes.io/ssl-redirect: "false"}   # HTTP is served too (default: 308 to https)
spec:
  ingressClassName: nginx
  tls: [{hosts: [shop.example.com]}]
  rules:
  - host: shop.example.com
    http:
      paths:
      - {path: /orders, pathType: Prefix, backend: {service: {name: orders, port: {number: 80}}}}
      - {path: /missing, pathType: Prefix, backend: {service: {name: no-such-service, port: {number: 80}}}}
"""

CLIENT = r"""
import sys, time, urllib.request, json, http.client
url, seconds, pause = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
keep = len(sys.argv) > 4 and sys.argv[4] == "keepalive"
ok = retried = failed = 0
log, conn, end = [], None, time.time() + seconds
host, _, path = url.split("://", 1)[1].partition("/")
while time.time() < end:
    for attempt in (1, 2):
        t0 = time.time()
        try:
            if keep:
                if conn is None:
                    conn = http.client.HTTPConnection(host, timeout=3)
                conn.request("GET", "/" + path)
                r = conn.getresponse(); r.read()
                if r.status != 200: raise RuntimeError(f"HTTP {r.status}")
            else:
                with urllib.request.urlopen(url, timeout=3) as r:
                    r.read()
            ok += 1
            break
        except Exception as e:
            conn = None
            log.append(f"{t0:.3f} attempt {attempt}: {type(e).__name__}: {e}")
            if attempt == 2: failed += 1
            else: retried += 1
    time.sleep(pause)
print(json.dumps({"ok": ok, "retried": retried, "failed": failed, "log": log}))
"""


@pytest.fixture(scope="module")
def north():
    with cluster_up(nodes=3) as c:
        c.apply(APP)
        c.wait_running(selector="app=orders", count=2)
        c.ca = c.ok("ca").strip()
        yield c


def user(c, *cmd, check=0, timeout=60):
    return c.exec("user", *cmd, check=check, timeout=timeout)


def curl(c, *args):
    return user(c, "curl", "-s", "--max-time", "5", *args).stdout


def ingress_log(c) -> str:
    pod = c.api_pods(namespace="ingress")[0]["metadata"]["name"]
    return c.ok("logs", "-n", "ingress", pod)


def run_client(c, tmp_path, url, seconds, pause=0.05, keepalive=False) -> subprocess.Popen:
    script = tmp_path / "client.py"
    script.write_text(CLIENT)
    from conftest import TOYCLUSTER
    argv = [TOYCLUSTER, "--cluster", c.name, "exec", "user", "--", "python3", str(script), url, str(seconds), str(pause)]
    return subprocess.Popen(argv + (["keepalive"] if keepalive else []), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def client_result(p: subprocess.Popen) -> dict:
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    return json.loads(out)


# ---------------------------------------------------------------- the whole path
def test_user_reaches_a_pod_through_dns_lb_nodeport_ingress_and_service(north):
    c = north
    text = curl(c, "http://shop.example.com/orders/42?x=1")
    assert "GET /orders/42?x=1 HTTP/1.1" in text and "Pod: default/orders-" in text, text
    for header in ("Host: shop.example.com", "X-Forwarded-Host: shop.example.com", "X-Forwarded-Proto: http",
                   "X-Forwarded-Port: 80", "X-Request-ID: ", "X-Forwarded-For: "):
        assert header in text, (header, text)
    table = c.ok("get", "ingress").splitlines()
    assert table[0].split() == ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"]
    assert table[1].split()[:5] == ["shop", "nginx", "shop.example.com", "203.0.113.10", "80,"], table
    assert user(c, "dig", "+short", "shop.example.com").stdout.split() == ["203.0.113.10"]
    log = poll(lambda: [line for line in ingress_log(c).splitlines() if '"GET /orders/42?x=1 HTTP/1.1" 200' in line],
               what="the access-log line")
    fields = log[0].split()
    assert "[default-orders-80]" in fields and fields[-1] == "shop.example.com", log
    assert any(f.endswith(":8080") and f.startswith("10.") for f in fields), log  # a pod is the upstream
    status = c.ok("lb")
    assert "203.0.113.10:80" in status and "node1=healthy node2=healthy node3=healthy" in status, status
    conntrack = c.exec("lb", "conntrack", "-L", check=None).stdout
    assert "src=203.0.113.100 dst=203.0.113.10" in conntrack, conntrack        # the balancer's address rewrite


def test_https_with_the_cluster_ca_and_with_a_secret(north, tmp_path):
    c = north
    assert curl(c, "--cacert", c.ca, "-o", "/dev/null", "-w", "%{http_code}", "https://shop.example.com/orders") == "200"
    key, crt = tmp_path / "own.key", tmp_path / "own.crt"
    sh(f"openssl req -x509 -newkey rsa:2048 -nodes -keyout {key} -out {crt} -days 2 -subj /CN=secure.example.com "
       f"-addext subjectAltName=DNS:secure.example.com", check=True)
    b64 = lambda p: base64.b64encode(p.read_bytes()).decode()                 # noqa: E731
    c.apply(f"""
apiVersion: v1
kind: Secret
metadata: {{name: secure-tls}}
type: kubernetes.io/tls
data: {{tls.crt: {b64(crt)}, tls.key: {b64(key)}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: secure}}
spec:
  tls: [{{hosts: [secure.example.com], secretName: secure-tls}}]
  rules:
  - host: secure.example.com
    http: {{paths: [{{path: /, pathType: Prefix, backend: {{service: {{name: orders, port: {{name: http}}}}}}}}]}}
""")
    got = poll(lambda: "X-Forwarded-Proto: https" in (t := curl(c, "--cacert", str(crt), "https://secure.example.com/s"))
               and t, timeout=5, what="HTTPS with the Secret's certificate")
    assert "GET /s HTTP/1.1" in got and "X-Forwarded-Port: 443" in got
    p = user(c, "curl", "-s", "--max-time", "5", "--cacert", c.ca, "https://secure.example.com/", check=None)
    assert p.returncode == 60, "the Secret's certificate is served, not one of the cluster CA's"


def test_the_machine_shell_reaches_every_node_port(north):
    for n in (1, 2, 3):
        p = sh(f"curl -s --max-time 5 -H 'Host: shop.example.com' http://{north.node_ip(n)}:30080/orders")
        assert "GET /orders HTTP/1.1" in p.stdout, (n, p.stdout, p.stderr)


def test_a_missing_service_is_accepted_and_answers_503_with_a_reason(north):
    c = north
    head = curl(c, "-i", "http://shop.example.com/missing/x").splitlines()[0]
    assert head.startswith("HTTP/1.1 503"), head
    poll(lambda: 'service "default/no-such-service" does not exist' in ingress_log(c), what="the 503's reason")


def test_load_balancer_service_gets_an_external_ip_a_name_and_traffic(north):
    c = north
    c.apply("""
apiVersion: v1
kind: Service
metadata: {name: orders-lb, annotations: {external-dns.alpha.kubernetes.io/hostname: api.example.org}}
spec:
  type: LoadBalancer
  selector: {app: orders}
  ports: [{name: http, port: 8000, targetPort: http}]
""")
    row = poll(lambda: [line.split() for line in c.ok("get", "svc", "orders-lb").splitlines()[1:]
                        if "203.0.113." in line], timeout=3, what="an EXTERNAL-IP")[0]
    assert row[1] == "LoadBalancer" and row[3].startswith("203.0.113.2") and row[4].startswith("8000:"), row
    for name in ("orders-lb.default.lb.example", "api.example.org", row[3]):
        text = poll(lambda: curl(c, f"http://{name}:8000/lb"), timeout=5, what=f"traffic to {name}")
        assert "GET /lb HTTP/1.1" in text
    c.ok("delete", "svc", "orders-lb")
    poll(lambda: user(c, "dig", "+short", "orders-lb.default.lb.example").stdout.strip() == "", timeout=2,
         what="the name to go")


def test_public_dns_follows_the_api_within_a_second(north):
    c = north
    doc = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "fresh"},
           "spec": {"rules": [{"host": "*.fresh.example.com", "http": {"paths": [
               {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "orders", "port": {"number": 80}}}}]}}]}}
    c.apply(json.dumps(doc))
    t0 = time.time()
    poll(lambda: user(c, "dig", "+short", "a.fresh.example.com").stdout.split() == ["203.0.113.10"], timeout=1.5,
         interval=0.05, what="the new host in the public DNS")
    assert time.time() - t0 < 1.5
    assert "GET / HTTP/1.1" in curl(c, "http://b.fresh.example.com/")
    assert user(c, "dig", "+short", "x.y.fresh.example.com").stdout.strip() == ""       # one label only
    c.ok("delete", "ingress", "fresh")
    poll(lambda: "NXDOMAIN" in user(c, "dig", "a.fresh.example.com").stdout, timeout=1.5, interval=0.05,
         what="the host to leave the public DNS")


# ---------------------------------------------------------------- bad requests
def raw(ip: str, data: bytes, timeout=5.0) -> bytes:
    with socket.create_connection((ip, 30080), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except OSError:
            pass
        return out


def test_bad_requests_slow_clients_and_idle_connections_do_not_stop_the_controller(north):
    ip = north.node_ip(1)
    assert raw(ip, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: shop.example.com\r\n\r\n").startswith(b"HTTP/1.1 414")
    big = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 1000) for i in range(40))
    assert raw(ip, b"GET / HTTP/1.1\r\nHost: shop.example.com\r\n" + big + b"\r\n").startswith(b"HTTP/1.1 431")
    assert raw(ip, b"\x16\x03\x01\x02\x00garbage\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert raw(ip, b"GET /orders HTTP/1.1\r\nHost: shop.example.com\r\nTransfer-Encoding: gzip\r\n\r\n").startswith(
        b"HTTP/1.1 501")
    slow = {}

    def slow_client():                     # one byte a second: closed after the header timeout (10 s)
        s = socket.create_connection((ip, 30080))
        s.settimeout(1)
        t0 = time.time()
        for b in b"GET /orders HTTP/1.1\r\nHost: shop.example.com\r\nX-Slow: " + b"z" * 30:
            try:
                s.send(bytes([b]))
                slow["answer"] = s.recv(100)       # waits a second (the pace) unless the controller speaks
                break
            except socket.timeout:
                continue
            except OSError as e:
                slow["answer"] = repr(e).encode()
                break
        slow["after"] = time.time() - t0
        s.close()

    t = threading.Thread(target=slow_client)
    t.start()
    idle = [socket.create_connection((ip, 30080), timeout=5) for _ in range(1000)]
    try:
        p = sh(f"curl -s --max-time 5 -o /dev/null -w '%{{http_code}}' -H 'Host: shop.example.com' http://{ip}:30080/orders")
        assert p.stdout == "200", p.stdout + p.stderr
        assert curl(north, "-o", "/dev/null", "-w", "%{http_code}", "http://shop.example.com/orders") == "200"
    finally:
        for s in idle:
            s.close()
    t.join(timeout=30)
    assert slow["answer"].startswith(b"HTTP/1.1 408"), slow
    assert 9.5 <= slow["after"] <= 13, slow


# ---------------------------------------------------------------- failures and reloads
def lb_state(c, node: str) -> set:
    """What the load balancer's status file (written as it changes its rules) says of NODE's targets."""
    with open(f"/var/lib/toycluster/{c.name}/lb/status.json") as f:
        fronts = json.load(f)["frontends"]
    return {t["state"] for fe in fronts for t in fe["targets"] if t["node"] == node}


def test_node_stop_takes_it_out_within_3s_and_start_brings_it_back(north, tmp_path):
    c = north
    client = run_client(c, tmp_path, "http://shop.example.com/orders", seconds=9)
    time.sleep(1.5)
    t0 = time.time()
    c.ok("node", "stop", "node2")
    poll(lambda: lb_state(c, "node2") == {"unhealthy"}, timeout=3.5, interval=0.05, what="node2 out of rotation")
    assert time.time() - t0 <= 3.0
    assert "node2=unhealthy" in c.ok("lb")
    rules = c.ok("lb", "rules")
    assert f"--to-destination {c.node_ip(2)}:30080" not in rules and f"{c.node_ip(1)}:30080" in rules, rules
    time.sleep(1)
    c.ok("node", "start", "node2")
    poll(lambda: "node1=healthy node2=healthy node3=healthy" in c.ok("lb"), timeout=2.5, interval=0.1,
         what="node2 back in rotation")
    result = client_result(client)
    assert result["failed"] == 0 and result["ok"] > 50, result


def test_reload_under_load_drops_no_request(north, tmp_path):
    c = north
    base = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "reload"},
            "spec": {"rules": [{"host": "reload.example.com", "http": {"paths": []}}]}}
    path = lambda p: {"path": p, "pathType": "Prefix", "backend": {"service": {"name": "orders", "port": {"number": 80}}}}  # noqa: E731
    base["spec"]["rules"][0]["http"]["paths"] = [path("/")]
    c.apply(json.dumps(base))
    poll(lambda: "GET /" in curl(c, "http://reload.example.com/"), timeout=3, what="the reload host")
    clients = [run_client(c, tmp_path, "http://reload.example.com/x", seconds=5, pause=0.01, keepalive=True),
               run_client(c, tmp_path, "http://reload.example.com/y", seconds=5, pause=0.02)]
    for i in range(8):
        time.sleep(0.5)
        base["spec"]["rules"][0]["http"]["paths"] = [path("/"), path(f"/v{i}")]
        c.apply(json.dumps(base))
    results = [client_result(p) for p in clients]
    for r in results:
        assert r["failed"] == 0 and r["retried"] == 0 and r["ok"] > 50, r
    assert "GET /v7/x" in curl(c, "http://reload.example.com/v7/x")
    assert ingress_log(c).count("routes reloaded") >= 8


# ---------------------------------------------------------------- bad manifests
@pytest.mark.parametrize("change,words", [
    ("path: orders", "must be an absolute path"),
    ("host: shop.*.example.com", "wildcard DNS-1123 subdomain"),
    ("host: Shop_Example", "RFC 1123 subdomain"),
    ("host: 10.1.2.3", "must be a DNS name, not an IP address"),
])
def test_bad_ingress_exits_2_and_changes_nothing(north, change, words):
    c = north
    before = c.ok("get", "ingress", "-o", "json")
    key, value = change.split(": ")
    path = value if key == "path" else "/"
    host = value if key == "host" else "ok.example.com"
    text = (f"apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {{name: bad}}\nspec:\n  rules:\n"
            f"  - host: \"{host}\"\n    http:\n      paths: [{{path: {path}, pathType: Prefix, backend: "
            f"{{service: {{name: orders, port: {{number: 80}}}}}}}}]\n")
    p = c.run("apply", "-f", "-", input=text)
    assert p.returncode == 2 and "Ingress default/bad" in p.stderr and words in p.stderr, p.stderr
    assert c.ok("get", "ingress", "-o", "json") == before


def test_a_tls_secret_that_is_not_a_certificate_and_key_exits_2(north):
    c = north
    text = ("apiVersion: v1\nkind: Secret\nmetadata: {name: broken-tls}\ntype: kubernetes.io/tls\n"
            "stringData: {tls.crt: hello, tls.key: world}\n")
    p = c.run("apply", "-f", "-", input=text)
    assert p.returncode == 2 and "Secret default/broken-tls: data[tls.crt]" in p.stderr, p.stderr
    assert "not a PEM-encoded X.509 certificate" in p.stderr
    assert c.run("get", "secret", "broken-tls").returncode != 0


# ---------------------------------------------------------------- the cloud without its control plane
def cloud_pids(c) -> dict:
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            for role in ("lb", "dns"):
                if cmd.startswith(f"toycluster cloud {role} {c.name}.{role}"):
                    found.setdefault(role, []).append(int(entry))
    return found


def test_the_cloud_outlives_the_control_plane_and_is_adopted(north):
    c = north
    before = cloud_pids(c)
    assert sorted(before) == ["dns", "lb"] and all(len(p) == 1 for p in before.values()), before
    from toycluster.cluster import network
    for pid in network.control_plane_pids(c.name):
        os.kill(pid, signal.SIGKILL)
    poll(lambda: not c.api().healthy(), timeout=5, what="the control plane to be gone")
    assert "GET /orders/still HTTP/1.1" in curl(c, "http://shop.example.com/orders/still")   # the data plane serves on
    assert "control plane restarted" in c.up().stdout
    assert cloud_pids(c) == before, "the restarted control plane adopted the load balancer and the DNS server"
    assert "node1=healthy node2=healthy node3=healthy" in c.ok("lb")
    assert "GET /orders/again HTTP/1.1" in curl(c, "http://shop.example.com/orders/again")
