"""The built-in workloads: image names, ports, and the servers themselves (run on loopback only)."""
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from toycluster.node import workloads as w

POD = {"name": "web-1", "namespace": "shop", "ip": "10.244.1.5", "node": "node-1", "hostname": "web-1"}
SCRIPT = ("import json, sys; import toycluster.node.entrypoint as e; e.BIND_HOST = '127.0.0.1'; "
          "e.run_builtin(sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]))")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def start(tmp_path):
    """start(workload, container, port) runs run_builtin in a subprocess and waits for its port."""
    procs = []

    def _start(workload, container, port=None):
        log = tmp_path / f"log{len(procs)}"
        with open(log, "wb") as out:
            proc = subprocess.Popen([sys.executable, "-c", SCRIPT, workload, json.dumps(container), json.dumps(POD)],
                                    stdout=out, stderr=subprocess.STDOUT)
        proc.log = log
        procs.append(proc)
        deadline = time.monotonic() + 10
        while port is not None:
            assert proc.poll() is None, log.read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.02)
        return proc

    try:
        yield _start
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def get(port, path="/", method="GET", headers=None, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read().decode()
    finally:
        conn.close()


@pytest.mark.parametrize("image, name", [
    ("docker.io/traefik/whoami:v1.10", "traefik/whoami"),
    ("nginx:1.27-alpine", "nginx"),
    ("library/nginx", "nginx"),
    ("docker.io/library/nginx:latest", "nginx"),
    ("ghcr.io/x/y@sha256:0123abcd", "x/y"),
    ("localhost/toycluster/echo", "toycluster/echo"),
    ("localhost:5000/redis:7", "redis"),
    ("registry.k8s.io/pause:3.9", "pause"),
    ("hashicorp/http-echo", "hashicorp/http-echo"),
])
def test_normalise(image, name):
    assert w.normalise(image) == name


def test_resolve_known_images_and_commands():
    assert w.resolve({"name": "c", "image": "docker.io/traefik/whoami:v1.10"}) == ("builtin", "echo")
    assert w.resolve({"image": "nginx:1.27", "args": ["ignored"]}) == ("builtin", "nginx")
    assert w.resolve({"image": "busybox"}) == ("builtin", "sleeper")
    assert w.resolve({"image": "postgres:16"}) == ("builtin", "tcp")
    assert w.resolve({"image": "nginx", "command": ["sh", "-c"], "args": ["sleep 1"]}) == ("exec", ["sh", "-c", "sleep 1"])
    assert w.resolve({"image": "foo/bar:1", "command": ["/bin/true"]}) == ("exec", ["/bin/true"])
    # images without an entrypoint: args alone are the command (kubectl run --image=busybox -- sleep 1d)
    assert w.resolve({"image": "busybox", "args": ["sleep", "1d"]}) == ("exec", ["sleep", "1d"])
    assert w.resolve({"image": "curlimages/curl", "args": ["-s", "http://x"]}) == ("exec", ["curl", "-s", "http://x"])
    assert w.resolve({"image": "registry.k8s.io/coredns/coredns:v1.11.1"}) == ("builtin", "coredns")
    assert set(w.KNOWN_IMAGES.values()) == {"echo", "nginx", "sleeper", "tcp", "coredns", "ingress"}
    assert w.check_image({"image": "redis"}) is None


def test_unknown_image_is_refused_with_the_known_list():
    with pytest.raises(ValueError) as err:
        w.resolve({"name": "c", "image": "foo/bar:1"})
    assert str(err.value) == ('image "foo/bar:1" has no built-in workload and the container gives no command; '
                              "known images: " + ", ".join(sorted(w.KNOWN_IMAGES)))
    with pytest.raises(ValueError, match="foo/bar"):
        w.check_image({"image": "foo/bar:1"})
    with pytest.raises(ValueError):
        w.check_image({"name": "no-image"})


@pytest.mark.parametrize("container, ports", [
    ({"image": "traefik/whoami"}, [80]),
    ({"image": "traefik/whoami", "args": ["--port", "9000"]}, [9000]),
    ({"image": "traefik/whoami", "args": ["--port=9001"], "env": [{"name": "PORT", "value": "7"}]}, [9001]),
    ({"image": "traefik/whoami", "env": [{"name": "WHOAMI_PORT_NUMBER", "value": "8081"}]}, [8081]),
    ({"image": "ealen/echo-server", "env": [{"name": "PORT", "value": "3000"}],
      "ports": [{"containerPort": 80}]}, [3000]),
    ({"image": "hashicorp/http-echo", "args": ["-text=hi"]}, [5678]),
    ({"image": "hashicorp/http-echo", "args": ["-listen=:9090"]}, [9090]),
    ({"image": "hashicorp/http-echo", "args": ["--listen", ":9091"]}, [9091]),
    ({"image": "toycluster/echo"}, [8080]),
    ({"image": "toycluster/echo", "ports": [{"containerPort": 53, "protocol": "UDP"}, {"containerPort": 81}]}, [81]),
    ({"image": "nginx"}, [80]),
    ({"image": "nginx", "ports": [{"containerPort": 8000}, {"containerPort": 8001}]}, [8000]),
    ({"image": "nginx", "env": [{"name": "PORT", "value": "1"}]}, [80]),
    ({"image": "nginxinc/nginx-unprivileged"}, [8080]),
    ({"image": "redis"}, [6379]),
    ({"image": "postgres", "ports": [{"containerPort": 5432}, {"containerPort": 5433}]}, [5432, 5433]),
])
def test_listen_ports(container, ports):
    assert w.listen_ports(container) == ports


def test_echo_shows_pod_facts_path_and_headers(start):
    port = free_port()
    start("echo", {"name": "c", "image": "traefik/whoami", "ports": [{"containerPort": port}]}, port)
    status, headers, body = get(port, "/hello?q=1", headers={"X-Learner": "yes"})
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    lines = body.splitlines()
    assert lines[:6] == ["Hostname: web-1", "Pod: shop/web-1", "Node: node-1", "IP: 127.0.0.1", "IP: 10.244.1.5",
                         lines[5]]
    assert lines[5].startswith("RemoteAddr: 127.0.0.1:")
    assert lines[6] == "GET /hello?q=1 HTTP/1.1"
    assert lines[7] == f"Host: 127.0.0.1:{port}" and "X-Learner: yes" in lines
    status, headers, body = get(port, "/api")
    assert json.loads(body)["namespace"] == "shop" and json.loads(body)["ip"] == ["127.0.0.1", "10.244.1.5"]
    assert json.loads(get(port, "/x?json")[2])["url"] == "/x?json"
    assert json.loads(get(port, "/x?a=1&json=1")[2])["remoteAddr"].startswith("127.0.0.1:")
    assert get(port, "/", method="HEAD")[::2] == (200, "")


def test_echo_keep_alive_bodies_pipelining_and_bad_requests(start):
    port = free_port()
    start("echo", {"name": "c", "image": "toycluster/echo", "env": [{"name": "PORT", "value": str(port)}]}, port)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/one")
        first = conn.getresponse().read().decode()
        sock = conn.sock
        conn.request("POST", "/two", body=b"hello body")
        second = conn.getresponse().read().decode()
        assert conn.sock is sock                    # the same connection served both
        conn.request("PUT", "/three", body=iter([b"chunk-a", b"chunk-b"]), encode_chunked=True)
        third = conn.getresponse().read().decode()
    finally:
        conn.close()
    assert "GET /one HTTP/1.1" in first and "POST /two HTTP/1.1" in second and "hello body" in second
    assert "PUT /three HTTP/1.1" in third and "chunk-achunk-b" in third
    assert first.splitlines()[5] == second.splitlines()[5]  # same RemoteAddr
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nNONSENSE\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):               # the server closes after the 400
            data += chunk
    assert data.count(b"HTTP/1.1 200 OK") == 2 and b"GET /b HTTP/1.1" in data
    assert data.count(b"HTTP/1.1 400 Bad Request") == 1
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:   # HTTP/1.0 closes by default
        s.sendall(b"GET /old HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert b"Connection: close" in data and b"GET /old HTTP/1.0" in data


def test_http_echo_text(start):
    port = free_port()
    start("echo", {"name": "c", "image": "hashicorp/http-echo:1.0", "args": [f"-listen=:{port}", "-text=hello world"]},
          port)
    assert get(port, "/anything")[::2] == (200, "hello world\n")


def test_nginx_page_404_and_access_log(start):
    port = free_port()
    proc = start("nginx", {"name": "c", "image": "nginx:1.27", "ports": [{"containerPort": port}]}, port)
    status, headers, body = get(port, "/", headers={"User-Agent": "pytest"})
    assert status == 200 and headers["Server"] == "nginx" and "Welcome to nginx!" in body and "shop/web-1" in body
    status, headers, body = get(port, "/missing")
    assert status == 404 and "404 Not Found" in body
    deadline = time.monotonic() + 5
    while proc.log.read_text().count('HTTP/1.1" ') < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    log = proc.log.read_text()
    assert '"GET / HTTP/1.1" 200 ' in log and '"pytest"' in log and '"GET /missing HTTP/1.1" 404 ' in log


def test_tcp_banner_and_echo(start):
    ports = [free_port(), free_port()]
    start("tcp", {"name": "c", "image": "redis:7", "ports": [{"containerPort": p} for p in ports]}, ports[0])
    for port in ports:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            f = s.makefile("rwb")
            assert f.readline() == f"redis stand-in on shop/web-1 (10.244.1.5:{port})\n".encode()
            f.write(b"PING\n")
            f.flush()
            assert f.readline() == b"PING\n"


def _catches_sigterm(pid):
    with open(f"/proc/{pid}/status") as f:
        mask = next(int(line.split()[1], 16) for line in f if line.startswith("SigCgt:"))
    return bool(mask & (1 << (signal.SIGTERM - 1)))


@pytest.mark.parametrize("workload, image", [("sleeper", "busybox"), ("echo", "traefik/whoami")])
def test_sigterm_exits_zero_promptly(start, workload, image):
    port = free_port()
    proc = start(workload, {"name": "c", "image": image, "ports": [{"containerPort": port}]},
                 port if workload == "echo" else None)
    deadline = time.monotonic() + 10
    while not _catches_sigterm(proc.pid):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    started = time.monotonic()
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=5) == 0
    assert time.monotonic() - started < 1


def test_port_in_use_exits_one_with_the_reason(start):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = start("echo", {"name": "web", "image": "traefik/whoami", "ports": [{"containerPort": port}]})
        assert proc.wait(timeout=10) == 1
    assert "web: OSError" in proc.log.read_text() and "in use" in proc.log.read_text()


def test_oversized_headers_and_large_bodies(start):
    port = free_port()
    start("echo", {"name": "c", "image": "traefik/whoami", "ports": [{"containerPort": port}]}, port)
    assert get(port, headers={"X-Big": "a" * 70000})[0] == 431
    status, _, body = get(port, "/up", method="POST", body=b"x" * 1_000_000)
    assert status == 200 and "[1000000 bytes in all]" in body and len(body) < 20000
