"""kube-apiserver's secure serving: the REST API over HTTPS on port 6443, with client-certificate authentication.

The listening socket is made inside the control-plane node's network namespace (node1's address, port 6443),
so the API is where a real control plane has it: reachable from the machine's shell through the host leg, from
pods through the `kubernetes` Service, and never on the machine's own interfaces. HTTP/1.1 with keep-alive (ALPN
offers only http/1.1); watches are streamed as chunked JSON lines; exec, attach, log and port-forward hand
the connection to the kubelet side. Authentication as upstream: a client certificate signed by the cluster CA
names the user (CN) and groups (O); a bearer token is refused with 401; anonymous requests reach /version,
/healthz, /readyz and /livez only (403 elsewhere).
"""
import asyncio
import json
import socket
import ssl
import urllib.parse
import uuid

from toycluster.api import status
from toycluster.api.rest import MAX_BODY, PUBLIC
from toycluster.api.server import read_request

REASON = {200: "OK", 201: "Created", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
          405: "Method Not Allowed", 409: "Conflict", 410: "Gone", 413: "Request Entity Too Large",
          415: "Unsupported Media Type", 422: "Unprocessable Entity", 431: "Request Header Fields Too Large",
          500: "Internal Server Error"}


def tls_context(cert: str, key: str, ca: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.load_verify_locations(ca)
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def listen_in(netns_enter, address: str, port: int) -> socket.socket:
    """A listening TCP socket made inside a network namespace (NETNS_ENTER: a context manager that enters it)."""
    with netns_enter:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen(512)
    sock.setblocking(False)
    return sock


def user_of(writer: asyncio.StreamWriter, auth: bytes) -> tuple[str, list[str]] | None:
    """(user, groups) from the client certificate; ("system:anonymous", ...) without one; None: 401."""
    if auth:
        return None                       # no tokens are issued here: any bearer or basic credential is bad
    cert = writer.get_extra_info("peercert")
    if cert:
        subject = [kv for rdn in cert.get("subject", ()) for kv in rdn]
        cn = next((v for k, v in subject if k == "commonName"), "")
        return cn, [v for k, v in subject if k == "organizationName"] + ["system:authenticated"]
    return "system:anonymous", ["system:unauthenticated"]


def _head(code: int, ctype: str, extra: str = "") -> bytes:
    return (f"HTTP/1.1 {code} {REASON.get(code, 'Status')}\r\nAudit-Id: {uuid.uuid4()}\r\n"
            f"Cache-Control: no-cache, private\r\nContent-Type: {ctype}\r\n{extra}").encode()


async def _send(writer, code: int, doc, keep: bool) -> None:
    body = doc.encode() if isinstance(doc, str) else json.dumps(doc, separators=(",", ":")).encode()
    ctype = "text/plain; charset=utf-8" if isinstance(doc, str) else "application/json"
    writer.write(_head(code, ctype, f"Content-Length: {len(body)}\r\n"
                       + ("" if keep else "Connection: close\r\n") + "\r\n") + body)
    await writer.drain()


async def _stream(writer, events) -> None:
    writer.write(_head(200, "application/json", "Transfer-Encoding: chunked\r\n\r\n"))
    await writer.drain()
    async for event in events:
        line = json.dumps(event, separators=(",", ":")).encode() + b"\n"
        writer.write(b"%x\r\n%s\r\n" % (len(line), line))
        await writer.drain()
    writer.write(b"0\r\n\r\n")
    await writer.drain()


def _denied(user: str, path: str, method: str) -> dict:
    verb = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method, "get")
    return status.status(403, f'forbidden: User "{user}" cannot {verb} path "{path}"', "Forbidden")


async def _one(rest, req, raw: bytes, reader, writer) -> bool:
    """Answer one request; False when the connection is done with."""
    url = urllib.parse.urlsplit(req.target.decode("latin-1"))
    method, path = req.method.decode("latin-1"), url.path
    query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
    who = user_of(writer, req.header(b"authorization"))
    if who is None:
        await _send(writer, 401, status.status(401, "Unauthorized", "Unauthorized"), req.keep)
        return req.keep
    if who[0] == "system:anonymous" and path.rstrip("/") not in PUBLIC:
        await _send(writer, 403, _denied(who[0], path, method), req.keep)
        return req.keep
    accept, ctype = req.header(b"accept").decode("latin-1"), req.header(b"content-type").decode("latin-1")
    result = await rest.handle(method, path, query, accept, ctype.split(";")[0].strip(), raw)
    if result[0] == "takeover":
        t = result[1]
        pod = rest.store.get("Pod", t.namespace, t.name)
        await rest.streams[t.sub](pod, query, req, reader, writer)
        return False
    if result[0] == "stream":
        await _stream(writer, result[1])
        return req.keep
    await _send(writer, result[0], result[1], req.keep)
    return req.keep


async def serve(rest, sock: socket.socket, ctx: ssl.SSLContext) -> asyncio.AbstractServer:
    """Serve REST on the listening socket SOCK with TLS context CTX."""

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        try:
            while True:
                req, raw = await read_request(reader, MAX_BODY)
                if isinstance(req, int):
                    if req != 400 or raw:
                        await _send(writer, req, status.status(req, "the request is too large" if req == 413
                                                               else "bad request"), False)
                    break
                if not await _one(rest, req, raw, reader, writer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        except Exception as e:  # noqa: BLE001 - a bad request must never stop the server
            try:
                await _send(writer, 500, status.status(500, f"{type(e).__name__}: {e}"), False)
            except Exception:  # noqa: BLE001
                pass
        finally:
            writer.close()

    return await asyncio.start_server(on_client, sock=sock, ssl=ctx, ssl_handshake_timeout=10)
