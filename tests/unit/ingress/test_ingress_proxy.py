"""The ingress controller's data path on loopback (no root, no cluster): the real Controller, Client and Upstream
between a test client and small upstream servers in the same event loop. Streaming, keep-alive to upstreams,
a stale pooled connection, 502/503/504/404, the header timeout, and TLS with the default certificate."""
import asyncio
import os
import ssl

import pytest

from toycluster.ingress import controller as ic
from toycluster.api import pki
from toycluster.ingress.proxy import Client


def snapshot(port: int, extra_paths=()) -> dict:
    paths = [{"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": port}}}},
             {"path": "/missing", "pathType": "Prefix", "backend": {"service": {"name": "nosuch", "port": {"number": 80}}}},
             *extra_paths]
    svc = lambda name, p: {"metadata": {"name": name, "namespace": "default", "resourceVersion": "1"},  # noqa: E731
                           "spec": {"clusterIP": "127.0.0.1", "ports": [{"name": "", "port": p}]}}
    eps = lambda name, p: {"metadata": {"name": f"{name}-x", "namespace": "default", "resourceVersion": "1",  # noqa: E731
                                        "labels": {"kubernetes.io/service-name": name}},
                           "ports": [{"name": "", "port": p, "protocol": "TCP"}],
                           "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}]}
    return {"Ingress": {("default", "shop"): {"metadata": {"name": "shop", "namespace": "default", "annotations": {
                "nginx.ingress.kubernetes.io/ssl-redirect": "false"}}, "spec": {
                "tls": [{"hosts": ["shop.example.com"]}],
                "rules": [{"host": "shop.example.com", "http": {"paths": paths}}]}}},
            "Service": {("default", "web"): svc("web", port), ("default", "dead"): svc("dead", 1)},
            "EndpointSlice": {("default", "web-x"): eps("web", port), ("default", "dead-x"): eps("dead", 1)},
            "Secret": {}}


class Upstream:
    """A tiny HTTP/1.1 server: GET /big (1 MB, Content-Length), /chunked, /close (until close), /silent (never
    answers), /echo-body (the body's length and last bytes); anything else: the request head back."""

    def __init__(self):
        self.connections, self.close_next = 0, False

    async def handle(self, reader, writer):
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                line = head.split(b"\r\n", 1)[0]
                path = line.split()[1]
                if self.close_next:                       # a keep-alive connection the server drops under load
                    self.close_next = False
                    return
                low = head.lower()
                body = b""
                if b"content-length:" in low:
                    n = int(low.split(b"content-length:")[1].split(b"\r\n")[0])
                    body = await reader.readexactly(n)
                elif b"transfer-encoding: chunked" in low:
                    while True:
                        size = int((await reader.readline()).strip(), 16)
                        if size == 0:
                            while (await reader.readline()).strip():
                                pass
                            break
                        body += await reader.readexactly(size)
                        await reader.readline()
                if path == b"/big":
                    data = os.urandom(16) * 65536
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(data) + data)
                elif path == b"/chunked":
                    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
                elif path == b"/close":
                    writer.write(b"HTTP/1.0 200 OK\r\n\r\n" + b"x" * 300000)
                    await writer.drain()
                    writer.close()
                    return
                elif path == b"/silent":
                    await asyncio.sleep(30)
                elif path == b"/echo-body":
                    out = b"%d %s" % (len(body), body[-12:])
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(out), out))
                else:
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: keep-alive\r\n\r\n%s" % (
                        len(head), head))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def start(tmp_path, env=None):
    up = Upstream()
    server = await asyncio.start_server(up.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    os.makedirs(tmp_path / "pki", exist_ok=True)
    pki.make_ca(str(tmp_path), "t")
    s = ic.Settings({"CA_CERT": str(tmp_path / "pki/ca.crt"), "CA_KEY": str(tmp_path / "pki/ca.key"), **(env or {})})
    loop = asyncio.get_running_loop()
    ctl = ic.Controller(loop, s)
    base = ctl.tls.base
    ctl.sync(snapshot(port))
    http = await loop.create_server(lambda: Client(ctl, "http", 80), "127.0.0.1", 0)
    https = await loop.create_server(lambda: Client(ctl, "https", 443), "127.0.0.1", 0, ssl=base)

    async def sweeper():
        while True:
            await asyncio.sleep(0.1)
            ctl.sweep()
    task = loop.create_task(sweeper())
    return {"up": up, "ctl": ctl, "port": http.sockets[0].getsockname()[1], "upstream_port": port,
            "tls_port": https.sockets[0].getsockname()[1], "task": task, "servers": [server, http, https]}


async def exchange(port, data: bytes, read_until_close=True, timeout=5.0, ssl_ctx=None, sni=None) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ssl_ctx, server_hostname=sni)
    writer.write(data)
    out = b""
    try:
        while chunk := await asyncio.wait_for(reader.read(1 << 20), timeout):
            out += chunk
    except asyncio.TimeoutError:
        pass
    writer.close()
    return out


def get(path: str, extra: str = "", close=True) -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: shop.example.com\r\n{extra}" + ("Connection: close\r\n" if close else "")
            + "\r\n").encode()


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def test_get_streams_and_reuses_upstream_connections(tmp_path):
    async def main():
        env = await start(tmp_path)
        out = await exchange(env["port"], get("/a", close=False) + get("/b", close=False) + get("/big"))
        assert out.count(b"HTTP/1.1 200 OK") == 3
        assert b"GET /a HTTP/1.1" in out and b"X-Forwarded-Host: shop.example.com" in out
        assert len(out) > 1048576
        assert env["up"].connections == 1, "three requests, one keep-alive upstream connection"
        chunked = await exchange(env["port"], get("/chunked"))
        assert chunked.endswith(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n") and b"Transfer-Encoding: chunked" in chunked
        closing = await exchange(env["port"], get("/close", close=False))
        assert closing.count(b"x") >= 300000 and b"Connection: close" in closing
        body = os.urandom(8) * 40000
        post = (b"POST /echo-body HTTP/1.1\r\nHost: shop.example.com\r\nTransfer-Encoding: chunked\r\n"
                b"Connection: close\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
        answer = await exchange(env["port"], post)
        assert answer.endswith(b"%d %s" % (len(body), body[-12:])), answer[-60:]
    run(main())


def test_errors_are_answered_as_nginx_does(tmp_path):
    async def main():
        env = await start(tmp_path, {"PROXY_READ_TIMEOUT": "0.5", "CLIENT_HEADER_TIMEOUT": "0.5"})
        ctl = env["ctl"]
        assert (await exchange(env["port"], get("/missing"))).startswith(b"HTTP/1.1 503")
        assert (await exchange(env["port"], get("/x").replace(b"shop.example.com", b"other.org"))).startswith(
            b"HTTP/1.1 404")
        ctl.sync(snapshot(env["upstream_port"], [{"path": "/dead", "pathType": "Prefix", "backend": {
            "service": {"name": "dead", "port": {"number": 1}}}}]))
        assert (await exchange(env["port"], get("/dead"))).startswith(b"HTTP/1.1 502")
        assert (await exchange(env["port"], get("/silent"))).startswith(b"HTTP/1.1 504")
        slow = await exchange(env["port"], b"GET / HTTP/1.1\r\nHost: sh", timeout=3)
        assert slow.startswith(b"HTTP/1.1 408")
        ctl.flush()
    run(main())


def test_a_stale_pooled_connection_is_retried_once(tmp_path):
    async def main():
        env = await start(tmp_path)
        assert (await exchange(env["port"], get("/one"))).startswith(b"HTTP/1.1 200")
        assert sum(len(idle) for idle in env["ctl"].pools.values()) == 1
        env["up"].close_next = True               # the pooled connection is closed when it is used
        assert (await exchange(env["port"], get("/two"))).startswith(b"HTTP/1.1 200")
        assert env["up"].connections == 2, "the request was retried on a fresh connection"
    run(main())


def test_https_with_the_default_certificate_of_the_cluster_ca(tmp_path):
    async def main():
        env = await start(tmp_path)
        ctx = ssl.create_default_context(cafile=str(tmp_path / "pki/ca.crt"))
        out = await exchange(env["tls_port"], get("/tls"), ssl_ctx=ctx, sni="shop.example.com")
        assert out.startswith(b"HTTP/1.1 200") and b"X-Forwarded-Proto: https" in out
        with pytest.raises(ssl.SSLCertVerificationError):
            await exchange(env["tls_port"], get("/tls"), ssl_ctx=ctx, sni="not-an-ingress-host.example.com")
    run(main())
