"""kube-apiserver's REST API (the paths and verbs of k8s.io/apiserver's endpoints): what kubectl speaks.

    /version /healthz /readyz /livez        /api /api/v1 /apis /apis/GROUP /apis/GROUP/VERSION   (discovery)
    /api/v1/[namespaces/NS/]RESOURCE[/NAME[/SUBRESOURCE]]   and   /apis/GROUP/VERSION/...   (resources)

GET one, list (labelSelector, fieldSelector, limit/continue; a Table when kubectl asks for one), watch;
POST create; PUT update; PATCH (the three patch types); DELETE one or a collection. Subresources: status,
scale, and the streams (log, exec, attach, portforward) that the kubelet side serves (`streams`). Errors
are Status objects with upstream's codes, reasons and messages. The watch itself is in watch.py.
"""
import base64
import json

from toycluster.api import discovery, manifests, openapi, protobuf, selector_text, selectors, status, tables
from toycluster.api.kinds import KINDS_BY_KIND
from toycluster.api.registry import APIError
from toycluster.api.status import StatusError
from toycluster.api.store import CLUSTER_SCOPED
from toycluster.api.watch import watch_stream

PUBLIC = {"/version", "/healthz", "/readyz", "/livez", "/version/"}
MAX_BODY = 3 << 20           # the API server's request body limit: 3 MiB


class Target:
    """A resource path: group, version, kind, resource, namespace, name, subresource."""
    __slots__ = ("group", "version", "kind", "resource", "namespace", "name", "sub")

    def __init__(self, group, version, kind, resource, namespace="", name="", sub=""):
        self.group, self.version, self.kind, self.resource = group, version, kind, resource
        self.namespace, self.name, self.sub = namespace, name, sub


def resolve(parts: list[str]) -> Target:
    """/api/v1/... or /apis/G/V/... split on "/" (the prefix gone: GROUP, VERSION, rest) -> a Target."""
    group, version, rest = parts[0], parts[1], parts[2:]
    ns = ""
    if len(rest) >= 3 and rest[0] == "namespaces" and not (len(rest) == 3 and rest[2] in ("status", "finalize")):
        ns, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        raise StatusError(404, "the server could not find the requested resource", "NotFound")
    kind = discovery.kind_for(group, version, rest[0])
    if kind is None:
        raise StatusError(404, "the server could not find the requested resource", "NotFound")
    name, sub = (rest[1:] + ["", ""])[:2]
    if sub and not discovery.verbs_of(kind, sub):
        raise StatusError(404, "the server could not find the requested resource", "NotFound")
    return Target(group, version, kind, rest[0], "" if kind in CLUSTER_SCOPED else ns, name, sub)


def _first(query: dict, key: str, default: str = "") -> str:
    return (query.get(key) or [default])[0]


def _json(body: bytes, ctype: str = "") -> dict:
    if ctype == protobuf.MEDIA_TYPE:
        try:
            return protobuf.decode(body)
        except protobuf.ProtobufError as e:
            raise StatusError(400, f"the protobuf body could not be decoded: {e}", "BadRequest") from None
    try:                    # JSON, or YAML for application/yaml, under the decoders' limits (api/yaml_json.py)
        doc = manifests.decode_body(body, ctype)
    except ValueError as e:
        raise StatusError(400, f"the object provided is unrecognized: {e}", "BadRequest") from None
    if not isinstance(doc, dict):
        raise StatusError(400, "the object provided is not a JSON object", "BadRequest")
    return doc


class REST:
    """The REST API over the registry's API. STREAMS: subresource -> the kubelet side's handler."""

    def __init__(self, api, server_address: str, streams: dict | None = None):
        self.api, self.store, self.server_address = api, api.store, server_address
        self.streams = streams if streams is not None else {}

    def discovery_doc(self, path: str):
        parts = [p for p in path.split("/") if p]
        docs = {"/version": lambda: discovery.VERSION, "/api": lambda: discovery.core_versions(self.server_address),
                "/api/v1": lambda: discovery.resource_list("", "v1"), "/apis": discovery.group_list}
        if path.rstrip("/") in docs:
            return docs[path.rstrip("/")]()
        if parts[:1] == ["apis"] and len(parts) == 2:
            return discovery.group(parts[1])
        if parts[:1] == ["apis"] and len(parts) == 3:
            return discovery.resource_list(parts[1], parts[2])
        if parts[:1] == ["openapi"]:
            return openapi.document(parts[1:])
        return None

    def target(self, path: str) -> Target | None:
        parts = [p for p in path.split("/") if p]
        if parts[:2] == ["api", "v1"] and len(parts) > 2:
            return resolve(["", "v1", *parts[2:]])
        if parts[:1] == ["apis"] and len(parts) > 3:
            return resolve(parts[1:])
        return None

    async def handle(self, method: str, path: str, query: dict, accept: str, ctype: str, body: bytes):
        """-> (code, document) | ("stream", async iterator of documents) | ("takeover", target)."""
        try:
            if path in ("/healthz", "/readyz", "/livez"):
                return 200, "ok"
            if (doc := self.discovery_doc(path)) is not None and method == "GET":
                return 200, doc
            t = self.target(path)
            if t is None:
                raise StatusError(404, "the server could not find the requested resource", "NotFound")
            return await self._verb(method, t, query, accept, ctype, body)
        except StatusError as e:
            return e.code, e.status()
        except APIError as e:
            return e.status, self._from_api_error(e, path).status()

    def _from_api_error(self, e: APIError, path: str) -> StatusError:
        """The registry's error as upstream's Status for the resource at PATH."""
        t = self.target(path)
        if t is None:
            return StatusError(e.status, str(e))
        name = t.name or e.name
        if e.status == 422:
            return status.invalid(t.kind, t.group, t.resource, name or "?", e.fields or [("", str(e))])
        if e.reason == "NamespaceNotFound":
            return status.not_found("namespaces", "", e.name)
        if e.reason == "NamespaceTerminating":
            return StatusError(403, f'{status.qualified(t.resource, t.group)} "{name}" is forbidden: unable to create '
                                    f"new content in namespace {e.name} because it is being terminated", "Forbidden")
        if e.reason == "AlreadyExists":
            return status.already_exists(t.resource, t.group, name)
        if e.reason == "NotFound":
            return status.not_found(t.resource, t.group, name)
        if e.reason == "Conflict":
            return status.conflict(t.resource, t.group, name, str(e))
        return StatusError(e.status, str(e).split(": ", 1)[-1] if e.status in (404, 409) else str(e))

    async def _verb(self, method, t: Target, query, accept, ctype, body):
        verb = {"GET": "get" if t.name else ("watch" if _first(query, "watch") in ("true", "1") else "list"),
                "POST": "create", "PUT": "update", "PATCH": "patch",
                "DELETE": "delete" if t.name else "deletecollection"}.get(method)
        if t.sub in ("log", "exec", "attach", "portforward"):
            self._existing(t)
            if t.sub not in self.streams:
                raise StatusError(404, f"the server could not find the requested resource ( pods/{t.sub})")
            return "takeover", t
        if verb is None or verb not in discovery.verbs_of(t.kind, t.sub) or (verb == "create" and t.name):
            raise status.method_not_supported(t.resource, t.group, verb or method.lower())
        if verb == "watch":
            return "stream", watch_stream(self.store, t, query, accept)
        if verb == "list":
            return 200, self.list(t, query, accept)
        if verb == "get":
            obj = self._existing(t)
            if t.sub == "scale":
                return 200, self._scale(obj)
            if "as=Table" in accept:
                return 200, tables.table(t.kind, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]},
                                         _first(query, "includeObject", "PartialObjectMetadata"))
            return 200, obj
        if verb in ("create", "update", "patch") and len(body) > MAX_BODY:
            raise StatusError(413, "the request is too large", "RequestEntityTooLarge")
        if verb in ("create", "update") and ctype not in ("application/json", "application/yaml", "",
                                                          protobuf.MEDIA_TYPE):
            raise StatusError(415, f'the body of the request was in an unknown format - accepted media types '
                                   f'include: application/json, application/yaml, {protobuf.MEDIA_TYPE}',
                              "UnsupportedMediaType")
        if verb == "create":
            doc = _json(body, ctype)
            self._place(t, doc)
            try:
                return 201, self.api.create(doc, dry_run=bool(_first(query, "dryRun")))
            except APIError as e:
                e.name = e.name if e.reason.startswith("Namespace") else (doc.get("metadata") or {}).get("name", "")
                raise
        if verb in ("update", "patch"):
            return self._write(t, verb, ctype, body, query)
        if verb == "delete":
            if _first(query, "dryRun"):
                return 200, self._existing(t)
            return self._delete(t, _json(body) if body else {})
        return 200, self._delete_collection(t, query)

    def _existing(self, t: Target) -> dict:
        obj = self.store.get(t.kind, t.namespace, t.name)
        if obj is None:
            raise status.not_found(t.resource, t.group, t.name)
        return obj

    def _place(self, t: Target, doc: dict) -> None:
        """The path's kind and namespace are the object's (as upstream, a mismatch is refused)."""
        api = KINDS_BY_KIND[t.kind]["apiVersion"]
        doc.setdefault("apiVersion", api)
        doc.setdefault("kind", t.kind)
        meta = doc.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise StatusError(400, "metadata must be an object")
        if t.namespace:
            if meta.get("namespace") and meta["namespace"] != t.namespace:
                raise StatusError(400, "the namespace of the provided object does not match the namespace sent "
                                       "on the request")
            meta["namespace"] = t.namespace
        if not meta.get("name") and meta.get("generateName"):
            import secrets
            meta["name"] = meta["generateName"] + "".join(secrets.choice("bcdfghjklmnpqrstvwxz2456789")
                                                          for _ in range(5))

    def _write(self, t: Target, verb: str, ctype: str, body: bytes, query: dict):
        old = self._existing(t)
        if t.sub == "scale":
            return 200, self._scale(self._write_scale(t, verb, ctype, body, old))
        if verb == "patch":
            from toycluster.api import patch
            try:
                doc = patch.apply_patch(old, body, ctype)
            except patch.PatchError as e:
                raise StatusError(e.status, str(e), e.reason) from None
        else:
            doc = _json(body, ctype)
        self._place(t, doc)
        if doc["metadata"].get("name") != t.name:
            raise StatusError(400, "the name of the object does not match the name on the URL")
        obj, _ = self.api.update(doc, t.sub, dry_run=bool(_first(query, "dryRun")))
        return 200, obj

    def _write_scale(self, t: Target, verb, ctype, body, old) -> dict:
        scale = self._scale(old)
        if verb == "patch":
            from toycluster.api import patch
            scale = patch.apply_patch(scale, body, ctype if "strategic" not in ctype else
                                      "application/merge-patch+json")
        else:
            scale = _json(body)
        replicas = (scale.get("spec") or {}).get("replicas")
        self.api.scale(t.kind, t.namespace, t.name, replicas)
        return self._existing(t)

    def _scale(self, obj: dict) -> dict:
        meta, spec, st = obj["metadata"], obj.get("spec", {}), obj.get("status", {})
        sel = ",".join(f"{k}={v}" for k, v in ((spec.get("selector") or {}).get("matchLabels") or {}).items())
        return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                                  "creationTimestamp") if k in meta},
                "spec": {"replicas": spec.get("replicas", 1)},
                "status": {"replicas": st.get("replicas", 0), "selector": sel}}

    def _delete(self, t: Target, options: dict):
        obj = self._existing(t)
        grace = options.get("gracePeriodSeconds")
        policy = options.get("propagationPolicy") or ("Orphan" if options.get("orphanDependents") else "Background")
        self.api.delete(t.kind, t.namespace, t.name, grace=grace, propagation=policy)
        after = self.store.get(t.kind, t.namespace, t.name)
        if after is not None:
            return 200, after
        return 200, status.status(200, details={"name": t.name, "group": t.group, "kind": t.resource,
                                                "uid": obj["metadata"].get("uid")}) | {"status": "Success"}

    def _delete_collection(self, t: Target, query: dict) -> dict:
        for obj in self._select(t, query):
            self.api.delete(t.kind, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        return status.status(200)

    def _select(self, t: Target, query: dict) -> list[dict]:
        objs = self.store.list(t.kind, t.namespace or None)
        try:
            if text := _first(query, "labelSelector"):
                sel = selector_text.parse_labels(text)
                objs = [o for o in objs if selectors.label_selector_matches(sel, o["metadata"].get("labels"))]
            if text := _first(query, "fieldSelector"):
                terms = selector_text.parse_fields(text, t.kind)
                objs = [o for o in objs if selector_text.fields_match(terms, o)]
        except ValueError as e:
            raise StatusError(400, str(e), "BadRequest") from None
        return objs

    def list(self, t: Target, query: dict, accept: str) -> dict:
        objs, rv = self._select(t, query), str(self.store.rv)
        start, limit = 0, int(_first(query, "limit", "0") or 0)
        if token := _first(query, "continue"):
            try:
                rv, start = json.loads(base64.urlsafe_b64decode(token))
            except ValueError:
                raise StatusError(400, "continue key is not valid: illegal base64 data", "BadRequest") from None
        meta = {"resourceVersion": rv}
        if limit and start + limit < len(objs):
            meta["continue"] = base64.urlsafe_b64encode(json.dumps([rv, start + limit]).encode()).decode()
            meta["remainingItemCount"] = len(objs) - start - limit
        objs = objs[start:start + limit] if limit else objs[start:]
        if "as=Table" in accept:
            return tables.table(t.kind, objs, meta, _first(query, "includeObject", "PartialObjectMetadata"))
        api = KINDS_BY_KIND[t.kind]["apiVersion"]
        return {"kind": f"{t.kind}List", "apiVersion": api, "metadata": meta, "items": objs}

