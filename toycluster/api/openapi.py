"""kube-apiserver's OpenAPI v3 documents (/openapi/v3 and one per group version): what kubectl reads.

kubectl apply asks whether the server validates fields itself (a PATCH operation for the kind that takes the
`fieldValidation` parameter): here it does, so kubectl sends fieldValidation=Strict and leaves validation to the
API server. The PATCH operations list no request body types, so kubectl computes strategic merge patches from
its own compiled-in types, as it does against servers without OpenAPI. `kubectl explain` reads the schemas
(components.schemas, by x-kubernetes-group-version-kind) that openapi_schemas.py describes. /openapi/v2 is
not served (404), as on a server with only v3 published; kubectl falls back as it does there.
"""
import hashlib
import json

from toycluster.api import discovery
from toycluster.api.kinds import KINDS

QUERY = ("dryRun", "fieldManager", "fieldValidation", "force", "pretty")


def _gv_path(api: str) -> str:
    return f"api/{api}" if "/" not in api else f"apis/{api}"


def _gvk(api: str, kind: str, listed: bool = False) -> dict:
    """The extension naming the kind: a single map on an operation, a list of them on a schema."""
    group, version = discovery.split_api_version(api)
    gvk = {"group": group, "version": version, "kind": kind}
    return {"x-kubernetes-group-version-kind": [gvk] if listed else gvk}


def _params(names) -> list[dict]:
    return [{"name": n, "in": "query", "schema": {"type": "string" if n != "force" else "boolean"},
             "uniqueItems": True} for n in names]


def _operations(api: str, kind: str, info: dict, ref: str) -> dict:
    base = "/" + _gv_path(api) + ("/namespaces/{namespace}/" if info["namespaced"] else "/") + info["resource"]
    body = {"content": {"application/json": {"schema": {"$ref": ref}}}}
    ok = {"200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": ref}}}}}
    gvk, verbs = _gvk(api, kind), discovery.verbs_of(kind)
    one, many = {}, {}
    if "get" in verbs:
        one["get"] = {"operationId": f"read{kind}", "responses": ok, **gvk, "x-kubernetes-action": "get"}
    if "update" in verbs:
        one["put"] = {"operationId": f"replace{kind}", "requestBody": body, "responses": ok,
                      "parameters": _params(QUERY[:3]), **gvk, "x-kubernetes-action": "put"}
    if "patch" in verbs:
        one["patch"] = {"operationId": f"patch{kind}", "responses": ok, "parameters": _params(QUERY),
                        **gvk, "x-kubernetes-action": "patch"}
    if "delete" in verbs:
        one["delete"] = {"operationId": f"delete{kind}", "responses": ok, **gvk, "x-kubernetes-action": "delete"}
    if "create" in verbs:
        many["post"] = {"operationId": f"create{kind}", "requestBody": body, "responses": ok,
                        "parameters": _params(QUERY[:3]), **gvk, "x-kubernetes-action": "post"}
    if "list" in verbs:
        many["get"] = {"operationId": f"list{kind}", "responses": ok, **gvk, "x-kubernetes-action": "list"}
    return {base: many, base + "/{name}": one}


def schema_name(api: str, kind: str) -> str:
    group, version = discovery.split_api_version(api)
    pkg = {"": "core", "apps": "apps", "networking.k8s.io": "networking", "discovery.k8s.io": "discovery",
           "coordination.k8s.io": "coordination"}
    return f"io.k8s.api.{pkg.get(group, group)}.{version}.{kind}"


def group_version_doc(api: str) -> dict:
    from toycluster.api import openapi_schemas
    paths, schemas = {}, {}
    for (a, kind), info in KINDS.items():
        if a != api:
            continue
        name = schema_name(api, kind)
        paths.update(_operations(api, kind, info, f"#/components/schemas/{name}"))
        schemas.update(openapi_schemas.schemas(name, api, kind, _gvk(api, kind, listed=True)))
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": discovery.VERSION["gitVersion"]},
            "paths": paths, "components": {"schemas": schemas}}


def _hash(doc: dict) -> str:
    return hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:128].upper()


def document(parts: list[str]):
    """The document at /openapi/PARTS, or None (404)."""
    if parts == ["v3"]:
        apis = sorted({api for api, _ in KINDS})
        return {"paths": {_gv_path(api): {"serverRelativeURL": f"/openapi/v3/{_gv_path(api)}?hash="
                                          + _hash(group_version_doc(api))} for api in apis}}
    if parts[:1] == ["v3"] and len(parts) >= 3:
        api = "/".join(parts[2:]) if parts[1] == "apis" else parts[2]
        if any(a == api for a, _ in KINDS):
            return group_version_doc(api)
    return None
