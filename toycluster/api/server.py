"""kube-apiserver: validates and admits objects into the store, and serves them as HTTP+JSON on a Unix socket.

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
import copy
import json
import time
import urllib.parse

from toycluster.api import validation
from toycluster.api.fields import ManifestError
from toycluster.api.kinds import KINDS_BY_KIND
from toycluster.api.store import CLUSTER_SCOPED, now_rfc3339
from toycluster.wire.http1 import LENGTH, NO_BODY, Head, head_end, parse_head

RESULT_NAMES = {"Deployment": "deployment.apps", "ReplicaSet": "replicaset.apps",
                "Ingress": "ingress.networking.k8s.io", "NetworkPolicy": "networkpolicy.networking.k8s.io",
                "EndpointSlice": "endpointslice.discovery.k8s.io"}
READ_ONLY = {"Node", "ReplicaSet", "Endpoints", "EndpointSlice"}
MAX_HEAD, MAX_BODY = 65536, 64 << 20      # a longer head is answered 431; a longer chunked body 400


class APIError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def result_name(obj: dict) -> str:
    kind = obj["kind"]
    return f"{RESULT_NAMES.get(kind, kind.lower())}/{obj['metadata']['name']}"


class API:
    """The API's semantics over a Store; `admit` hooks let later parts (Services, Ingress) add checks."""

    def __init__(self, store, admit=None):
        self.store = store
        self.admit = admit or []        # functions (obj, old, store, planned objects) that fill in or raise APIError

    def apply(self, items: list[dict]) -> list[str]:
        validated = []
        for i, doc in enumerate(items):
            try:
                obj = validation.validate(doc, f"object {i + 1}")
            except ManifestError as e:
                raise APIError(422, str(e)) from e
            validated.append(obj)
        creating_ns = {o["metadata"]["name"] for o in validated if o["kind"] == "Namespace"}
        plan = []
        for obj in sorted(validated, key=lambda o: o["kind"] != "Namespace"):
            kind, meta = obj["kind"], obj["metadata"]
            label = f"{kind} {meta.get('namespace', '') + '/' if kind not in CLUSTER_SCOPED else ''}{meta['name']}"
            if kind in READ_ONLY:
                raise APIError(422, f"{label}: {kind} objects are managed by the cluster, not applied")
            ns = meta.get("namespace")
            if kind not in CLUSTER_SCOPED and ns not in creating_ns:
                ns_obj = self.store.get("Namespace", "", ns)
                if ns_obj is None:
                    raise APIError(404, f"{label}: namespaces \"{ns}\" not found")
                if ns_obj["metadata"].get("deletionTimestamp"):
                    raise APIError(409, f"{label}: namespace {ns} is being terminated")
            old = self.store.get(kind, ns or "", meta["name"])
            if old and old["metadata"].get("deletionTimestamp"):
                raise APIError(409, f"{label}: object is being deleted")
            if old and kind == "Pod" and old["spec"]["containers"] != obj["spec"]["containers"]:
                raise APIError(422, f"{label}: spec: Forbidden: pod updates may not change fields "
                                    "other than image and a few others; delete and re-create the pod")
            for check in self.admit:
                try:
                    check(obj, old, self.store, [o for o, _ in plan])
                except APIError as e:
                    raise APIError(e.status, f"{label}: {e}") from e
            plan.append((obj, old))
        results = []
        for obj, old in plan:                # everything was checked: now write it all
            results.append(f"{result_name(obj)} {self._write(obj, old)}")
        return results

    def _write(self, obj: dict, old: dict | None) -> str:
        if old is None:
            if obj["kind"] == "Namespace":
                obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
                obj["status"] = {"phase": "Active"}
            self.store.put(obj)
            return "created"
        new = copy.deepcopy(old)
        for field in ("labels", "annotations"):
            new["metadata"][field] = obj["metadata"].get(field) or {}
            if not new["metadata"][field]:
                del new["metadata"][field]
        if obj["kind"] == "Namespace":
            new["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
        for field in obj:
            if field not in ("metadata", "status", "apiVersion", "kind"):
                new[field] = obj[field]
        if new == old:
            return "unchanged"
        self.store.put(new)
        return "configured"

    def delete(self, kind: str, namespace: str, name: str) -> str:
        obj = self.store.get(kind, namespace, name)
        if obj is None:
            plural = KINDS_BY_KIND[kind]["resource"]
            raise APIError(404, f"{plural} \"{name}\" not found" +
                           (f" in namespace \"{namespace}\"" if kind not in CLUSTER_SCOPED else ""))
        if kind == "Node":
            raise APIError(422, "nodes are part of the cluster's topology; use `toycluster down`")
        if kind in ("Pod", "Namespace"):      # graceful: the kubelet / namespace controller finish it
            if not obj["metadata"].get("deletionTimestamp"):
                obj = copy.deepcopy(obj)
                obj["metadata"]["deletionTimestamp"] = now_rfc3339()
                if kind == "Namespace":
                    obj["status"] = {"phase": "Terminating"}
                self.store.put(obj)
        else:                                  # dependents go through the garbage collector
            self.store.delete(kind, namespace, name)
        return f"{kind.lower()} \"{name}\" deleted"

    def scale(self, kind: str, namespace: str, name: str, replicas: int) -> str:
        obj = self.store.get(kind, namespace, name)
        if obj is None:
            raise APIError(404, f"{kind.lower()}s \"{name}\" not found in namespace \"{namespace}\"")
        if not isinstance(replicas, int) or replicas < 0:
            raise APIError(422, f"{kind} {namespace}/{name}: spec.replicas: must be >= 0 (got {replicas})")
        obj = copy.deepcopy(obj)
        obj["spec"]["replicas"] = replicas
        self.store.put(obj)
        return f"{result_name(obj)} scaled"

    def label(self, kind: str, namespace: str, name: str, labels: dict, overwrite: bool = False) -> str:
        """kubectl label: set metadata.labels[k] = v, or remove k where v is None."""
        obj = self.store.get(kind, namespace if kind not in CLUSTER_SCOPED else "", name)
        if obj is None:
            plural = KINDS_BY_KIND.get(kind, {}).get("resource", kind.lower() + "s")
            raise APIError(404, f"{plural} \"{name}\" not found" +
                           (f" in namespace \"{namespace}\"" if kind not in CLUSTER_SCOPED else ""))
        old = obj["metadata"].get("labels") or {}
        new = dict(old)
        for key, value in labels.items():
            if kind == "Namespace" and key == "kubernetes.io/metadata.name":
                raise APIError(422, f"{kind} {name}: metadata.labels.{key}: the API server sets it to the "
                                    "namespace's name; it cannot be changed or removed")
            if value is None:
                new.pop(key, None)
            elif key in old and old[key] != value and not overwrite:
                raise APIError(409, f"'{key}' already has a value ({old[key]}), and --overwrite is false")
            else:
                new[key] = value
        problem = validation.label_error(new)
        if problem:
            raise APIError(422, f"{kind} {name}: {problem}")
        if new == old:
            return f"{result_name(obj)} not labeled"
        obj = copy.deepcopy(obj)
        obj["metadata"]["labels"] = new
        if not new:
            del obj["metadata"]["labels"]
        self.store.put(obj)
        return f"{result_name(obj)} {'labeled' if any(v is not None for v in labels.values()) else 'unlabeled'}"

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
                    return 200, {"result": self.delete(kind, ns, name)}
            if method == "POST" and parts == ["apply"]:
                return 200, {"results": self.apply(body["items"])}
            if method == "POST" and parts == ["label"]:
                return 200, {"result": self.label(body["kind"], body.get("namespace") or "", body["name"],
                                                  body["labels"], bool(body.get("overwrite")))}
            if method == "POST" and parts == ["scale"]:
                return 200, {"result": self.scale(body["kind"], body["namespace"], body["name"],
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


async def read_request(reader: asyncio.StreamReader) -> tuple[Head | int, bytes]:
    """One request from READER, as wire.http1 reads it: (head, body), or (the status to refuse it with, b"")."""
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
        return req, rest[:req.left] + await reader.readexactly(max(req.left - len(rest), 0))
    body = req.chunks.body = bytearray()
    req.chunks.limit = MAX_BODY
    try:
        while req.chunks.feed(rest) < 0:
            if req.chunks.size > MAX_BODY or not (rest := await reader.read(65536)):
                return 400, b""
    except ValueError:                        # a malformed chunk
        return 400, b""
    return req, bytes(body)


async def serve(api: API, socket_path: str) -> asyncio.AbstractServer:
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
