"""The data path with three endpoints on loopback (127.0.0.1-3, one port; no root, no cluster): each request on one
kept-alive client connection goes to the next endpoint; ssl-redirect, rewrite-target, cookie affinity, the headers
nginx writes (no Server, its Date, HSTS on HTTPS) and a websocket tunnel."""
import asyncio
import os
import ssl

from toycluster.api import pki
from toycluster.ingress import controller as ic
from toycluster.ingress.proxy import Client

P = "nginx.ingress.kubernetes.io/"


def snapshot(port: int) -> dict:
    def ing(name, host, annotations, path="/", tls=False):
        return {"metadata": {"name": name, "namespace": "default", "annotations": annotations},
                "spec": {"tls": [{"hosts": [host]}] if tls else [], "rules": [{"host": host, "http": {"paths": [
                    {"path": path, "pathType": "ImplementationSpecific",
                     "backend": {"service": {"name": "web", "port": {"name": "http"}}}}]}}]}}
    svc = {"metadata": {"name": "web", "namespace": "default", "resourceVersion": "1"},
           "spec": {"clusterIP": "127.0.0.1", "ports": [{"name": "http", "port": port, "targetPort": "web"}]}}
    eps = {"metadata": {"name": "web-x", "namespace": "default", "resourceVersion": "1",
                        "labels": {"kubernetes.io/service-name": "web"}},
           "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
           "endpoints": [{"addresses": [f"127.0.0.{i}"], "conditions": {"ready": True}} for i in (1, 2, 3)]}
    ings = [ing("plain", "rr.example.com", {}),
            ing("secure", "tls.example.com", {}, tls=True),
            ing("rw", "rw.example.com", {P + "use-regex": "true", P + "rewrite-target": "/$2"}, "/app(/|$)(.*)"),
            ing("sticky", "sticky.example.com", {P + "affinity": "cookie"})]
    return {"Ingress": {("default", i["metadata"]["name"]): i for i in ings}, "Service": {("default", "web"): svc},
            "EndpointSlice": {("default", "web-x"): eps}, "Secret": {}}


async def serve(reader, writer):
    """An endpoint: answers with its own address and the request line; a websocket upgrade is echoed raw."""
    me = writer.get_extra_info("sockname")[0].encode()
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            if b"\r\nUpgrade: websocket\r\n" in head:
                writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
                while data := await reader.read(65536):
                    writer.write(b"echo:" + data)
                return
            body = me + b" " + head.split(b"\r\n", 1)[0]
            writer.write(b"HTTP/1.1 200 OK\r\nServer: endpoint\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
                         b"Content-Length: %d\r\nContent-Type: text/plain\r\n\r\n%s" % (len(body), body))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def start(tmp_path):
    first = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = first.sockets[0].getsockname()[1]
    others = [await asyncio.start_server(serve, f"127.0.0.{i}", port) for i in (2, 3)]
    os.makedirs(tmp_path / "pki", exist_ok=True)
    pki.make_ca(str(tmp_path), "t")
    loop = asyncio.get_running_loop()
    ctl = ic.Controller(loop, ic.Settings({"CA_CERT": str(tmp_path / "pki/ca.crt"),
                                           "CA_KEY": str(tmp_path / "pki/ca.key")}))
    ctl.sync(snapshot(port))
    http = await loop.create_server(lambda: Client(ctl, "http", 80), "127.0.0.1", 0)
    https = await loop.create_server(lambda: Client(ctl, "https", 443), "127.0.0.1", 0, ssl=ctl.tls.base)
    return http.sockets[0].getsockname()[1], https.sockets[0].getsockname()[1], [first, *others, http, https]


async def answers(port, host, paths, extra=b"", n=None, tls=False):
    """Requests on ONE connection; the answers' (head, body) in order."""
    ctx = None
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname=host if tls else None)
    out = []
    for path in paths:
        writer.write(b"GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (path.encode(), host.encode(), extra))
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        out.append((head.decode(), (await reader.readexactly(length)).decode()))
    writer.close()
    return out


def test_requests_on_one_connection_are_balanced_over_the_endpoints(tmp_path):
    async def main():
        port, tls_port, servers = await start(tmp_path)
        got = await answers(port, "rr.example.com", ["/"] * 30)
        who = [body.split()[0] for _, body in got]
        assert sorted(set(who)) == ["127.0.0.1", "127.0.0.2", "127.0.0.3"] and who[:3] * 10 == who
        head = got[0][0]
        assert "Server:" not in head and "Date: Thu, 01 Jan 1970" not in head and "\r\nDate: " in head
        assert head.index("Content-Type") < head.index("Content-Length") < head.index("Connection: keep-alive")
        assert "Strict-Transport-Security" not in head
        for s in servers:
            s.close()
    asyncio.run(asyncio.wait_for(main(), 20))


def test_ssl_redirect_hsts_rewrite_and_affinity_on_the_data_path(tmp_path):
    async def main():
        port, tls_port, servers = await start(tmp_path)
        head, body = (await answers(port, "tls.example.com", ["/cart/?x=1"]))[0]
        assert head.startswith("HTTP/1.1 308 Permanent Redirect\r\n"), head
        assert "Location: https://tls.example.com/cart/?x=1\r\n" in head, "the slash goes only at the URI's end"
        assert "<hr><center>nginx</center>" in body and "Server:" not in head
        head, _ = (await answers(tls_port, "tls.example.com", ["/"], tls=True))[0]
        assert head.startswith("HTTP/1.1 200") and "Strict-Transport-Security: max-age=31536000; includeSubDomains" in head
        got = await answers(port, "rw.example.com", ["/app", "/app/", "/app/new?q=1"])
        assert [b.split(" ", 1)[1] for _, b in got] == ["GET / HTTP/1.1", "GET / HTTP/1.1", "GET /new?q=1 HTTP/1.1"]
        (head, body), = await answers(port, "sticky.example.com", ["/"])
        cookie = head.split("Set-Cookie: ")[1].split(";")[0]
        assert cookie.startswith("INGRESSCOOKIE=") and "; Path=/; HttpOnly" in head
        again = await answers(port, "sticky.example.com", ["/"] * 6, b"Cookie: " + cookie.encode() + b"\r\n")
        assert {b.split()[0] for _, b in again} == {body.split()[0]} and not any("Set-Cookie" in h for h, _ in again)
        for s in servers:
            s.close()
    asyncio.run(asyncio.wait_for(main(), 20))


def test_a_websocket_upgrade_becomes_a_tunnel(tmp_path):
    async def main():
        port, _, servers = await start(tmp_path)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /chat HTTP/1.1\r\nHost: rr.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        assert head.startswith("HTTP/1.1 101 Switching Protocols\r\n") and "Upgrade: websocket\r\n" in head
        assert "Connection: upgrade\r\n" in head
        writer.write(b"\x81\x02hi")
        assert await asyncio.wait_for(reader.readexactly(9), 5) == b"echo:\x81\x02hi"
        writer.close()
        for s in servers:
            s.close()
    asyncio.run(asyncio.wait_for(main(), 20))


def test_a_refusing_endpoint_is_replaced_by_the_next_one(tmp_path):
    """proxy_next_upstream: with one endpoint gone (its port closed), every request still gets an answer, from
    the two that are left."""
    async def main():
        port, tls_port, servers = await start(tmp_path)
        servers[1].close()                               # 127.0.0.2 refuses from now on
        await servers[1].wait_closed()
        got = await answers(port, "rr.example.com", ["/"] * 12)
        assert all(head.startswith("HTTP/1.1 200") for head, _ in got), [h.split("\r\n")[0] for h, _ in got]
        assert {body.split()[0] for _, body in got} == {"127.0.0.1", "127.0.0.3"}
        for s in servers:
            s.close()
    asyncio.run(asyncio.wait_for(main(), 20))
