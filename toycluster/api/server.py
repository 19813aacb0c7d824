"""kube-apiserver's local socket: the registry (registry.py) served as HTTP+JSON on a Unix socket.

A Unix socket path is reachable from every network namespace, so clients inside pods (the DNS server,
the ingress controller) talk to it exactly as the CLI does. Paths:
  GET    /api/<Kind>[?namespace=N]            a List          GET /api/<Kind>/<ns>/<name>   one object
  POST   /apply        {"items": [...]}       create or update, all-or-nothing
  DELETE /api/<Kind>/<ns>/<name>              graceful delete (pods) or cascading delete
  POST   /scale        {"kind", "namespace", "name", "replicas"}
  POST   /label        {"kind", "namespace", "name", "labels": {k: v, or null to remove}, "overwrite"}
  GET    /watch?resourceVersion=N&timeout=S[&kinds=K1,K2]   events after N, of kinds K only (long poll);
                                               "complete": false if the log no longer reaches back to N
"""
import asyncio
import json
import time
import urllib.parse

from toycluster.api.registry import API, APIError
from toycluster.wire.http1 import LENGTH, NO_BODY, Head, head_end, parse_head

MAX_HEAD, MAX_BODY = 65536, 64 << 20      # a longer head is answered 431; a longer chunked body 400

class SocketAPI:
    """The socket's paths over the registry's API."""

    def __init__(self, api: API):
        self.api, self.store = api, api.store

    async def handle(self, method: str, path: str, query: dict, body) -> tuple[int, dict]:
        status, payload = await self._route(method, path, query, body)
        if method != "GET" and status < 400:
            self.store.save()      # what a client was told is written is on disk (as etcd acknowledges)
        return status, payload

    async def _route(self, method: str, path: str, query: dict, body) -> tuple[int, dict]:
        parts = [p for p in path.split("/") if p]
        try:
            if method == "GET" and parts[:1] == ["api"] and len(parts) == 2:
                items = self.store.list(parts[1], query.get("namespace") or None)
                return 200, {"apiVersion": "v1", "kind": "List", "items": items,
                             "metadata": {"resourceVersion": str(self.store.rv)}}
            if parts[:1] == ["api"] and len(parts) == 4:
                kind, ns, name = parts[1:]
                if method == "GET":
                    obj = self.store.get(kind, ns, name)
                    if obj is None:
                        raise APIError(404, f"{kind.lower()}s \"{name}\" not found")
                    return 200, obj
                if method == "DELETE":
                    return 200, {"result": self.api.delete(kind, ns, name)}
            if method == "POST" and parts == ["apply"]:
                return 200, {"results": self.api.apply(body["items"])}
            if method == "POST" and parts == ["label"]:
                return 200, {"result": self.api.label(body["kind"], body.get("namespace") or "", body["name"],
                                                  body["labels"], bool(body.get("overwrite")))}
            if method == "POST" and parts == ["scale"]:
                return 200, {"result": self.api.scale(body["kind"], body["namespace"], body["name"],
                                                  body["replicas"])}
            if method == "GET" and parts == ["watch"]:
                rv = int(query.get("resourceVersion", 0))
                kinds = set(query["kinds"].split(",")) if query.get("kinds") else None
                deadline = time.monotonic() + min(float(query.get("timeout", 30)), 60)
                while True:    # wait for an event of the kinds asked for: other changes wake nobody up
                    complete = self.store.log_covers(rv)
                    events = self.store.events_since(rv, kinds) if complete and rv < self.store.rv else []
                    left = deadline - time.monotonic()
                    if events or not complete or rv > self.store.rv or left <= 0:
                        break
                    await self.store.wait_change(left, kinds)
                return 200, {"resourceVersion": self.store.rv, "events": events, "complete": complete}
            if method == "GET" and parts == ["healthz"]:
                return 200, {"status": "ok", "time": time.time()}
            raise APIError(404, f"no such API path: {method} {path}")
        except APIError as e:
            return e.status, {"error": str(e)}


async def read_request(reader: asyncio.StreamReader, max_body: int = MAX_BODY) -> tuple[Head | int, bytes]:
    """One request from READER, as wire.http1 reads it: (head, body), or (the status to refuse it with, b"":
    413 for a body over MAX_BODY)."""
    buf = bytearray()
    while (found := head_end(buf))[0] < 0:
        if len(buf) > MAX_HEAD:
            return 431, b""
        data = await reader.read(65536)
        if not data:
            return 400, b""
        buf += data
    end, skip = found
    req, rest = parse_head(bytes(buf[:end])), bytes(buf[end + skip:])
    if isinstance(req, int) or req.framing == NO_BODY:
        return req, b""
    if req.framing == LENGTH:
        if req.left > max_body:
            return 413, b""
        return req, rest[:req.left] + await reader.readexactly(max(req.left - len(rest), 0))
    body = req.chunks.body = bytearray()
    req.chunks.limit = max_body
    try:
        while req.chunks.feed(rest) < 0:
            if req.chunks.size > max_body:
                return 413, b""
            if not (rest := await reader.read(65536)):
                return 400, b""
    except ValueError:                        # a malformed chunk
        return 400, b""
    return req, bytes(body)


async def serve(api: API, socket_path: str) -> asyncio.AbstractServer:
    api = SocketAPI(api)
    """A small HTTP/1.1 server (one request per connection) for API on SOCKET_PATH."""

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        try:
            req, raw = await read_request(reader)
            if isinstance(req, int):
                status, payload = req, {"error": f"bad HTTP request (status {req})"}
            else:
                url = urllib.parse.urlsplit(req.target.decode("latin-1"))
                query = dict(urllib.parse.parse_qsl(url.query))
                body = json.loads(raw) if raw else None
                status, payload = await api.handle(req.method.decode("latin-1"), url.path, query, body)
        except Exception as e:  # a bad request must never stop the server
            status, payload = 500, {"error": f"{type(e).__name__}: {e}"}
        data = json.dumps(payload).encode()
        writer.write(b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                     b"Connection: close\r\n\r\n%s" % (status, len(data), data))
        try:
            await writer.drain()
        finally:
            writer.close()

    return await asyncio.start_unix_server(on_client, path=socket_path)
