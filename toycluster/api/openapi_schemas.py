"""kube-apiserver's OpenAPI schemas: components.schemas of each group version's OpenAPI v3 document.

Each kind's schema, and every schema it refers to, built from the compact tables of openapi_meta.py (which
describes their form), openapi_pod.py, openapi_container.py, openapi_core.py, openapi_apps.py and
openapi_networking.py. Shapes follow upstream's v3 documents: a field naming another schema is
`{"allOf": [{"$ref": ...}], "description": ...}` (a `$ref` may have no siblings in OpenAPI 3.0), list items
with a `$ref` are `{"allOf": [...], "default": {}}`, enums are listed on the field, required fields on the
schema, and the kind's own schema carries x-kubernetes-group-version-kind. `kubectl explain` walks them.
"""
import functools

from toycluster.api import (openapi_apps, openapi_container, openapi_core, openapi_meta, openapi_networking,
                            openapi_pod)

TABLE = {**openapi_meta.META, **openapi_container.SCHEMAS, **openapi_pod.SCHEMAS, **openapi_core.SCHEMAS,
         **openapi_apps.SCHEMAS, **openapi_networking.SCHEMAS}
_PRIMITIVES = {"string": ("string", None), "integer": ("integer", "int32"), "int64": ("integer", "int64"),
               "boolean": ("boolean", None), "byte": ("string", "byte")}


def full_name(short: str) -> str:
    """'core.Container' -> 'io.k8s.api.core.v1.Container'."""
    package, _, name = short.partition(".")
    return f"{openapi_meta.PACKAGES[package]}.{name}"


def _ref(short: str) -> str:
    return "#/components/schemas/" + full_name(short)


def _type(t: str, item: bool = False) -> dict:
    """The schema of type text T (a field's own, or a list's or map's item when ITEM)."""
    if t.startswith("[]"):
        return {"type": "array", "items": _type(t[2:], item=True)}
    if t.startswith("map[string]"):
        return {"type": "object", "additionalProperties": _type(t[11:], item=True)}
    if t in _PRIMITIVES:
        kind, fmt = _PRIMITIVES[t]
        return {"type": kind, **({"format": fmt} if fmt else {}), **({"default": ""} if item and t == "string"
                                                                      else {})}
    if t not in TABLE:
        raise KeyError(f"no schema {t!r} in the OpenAPI tables")
    return {"allOf": [{"$ref": _ref(t)}], **({"default": {}} if item else {})}


def _field(spec: tuple) -> dict:
    t, description, *enum = spec
    out = {**_type(t), "description": description}
    if enum:
        out["enum"] = enum[0].split()
    return out


@functools.cache
def build(short: str) -> dict:
    """One schema from its table entry (shared between documents: read-only)."""
    description, required, fields = TABLE[short]
    if isinstance(fields, str):
        kind, _, fmt = fields.partition("/")
        return {"description": description, "type": kind, **({"format": fmt} if fmt else {})}
    out = {"description": description, "type": "object",
           "properties": {name: _field(spec) for name, spec in fields.items()}}
    if required:
        out["required"] = required.split()
    return out


def _refs(fields) -> set[str]:
    """The short names FIELDS refer to."""
    if isinstance(fields, str):
        return set()
    names = set()
    for t, *_ in fields.values():
        t = t.removeprefix("[]").removeprefix("map[string]")
        if t not in _PRIMITIVES:
            names.add(t)
    return names


@functools.cache
def closure(short: str) -> tuple[str, ...]:
    """SHORT and every schema reachable from it, in the order found."""
    seen, todo = [], [short]
    while todo:
        name = todo.pop(0)
        if name not in seen:
            seen.append(name)
            todo += sorted(_refs(TABLE[name][2]) - set(seen))
    return tuple(seen)


def short_name(name: str) -> str:
    """'io.k8s.api.core.v1.Pod' -> 'core.Pod'."""
    package, _, kind = name.rpartition(".")
    return next(short for short, full in openapi_meta.PACKAGES.items() if full == package) + "." + kind


def schemas(name: str, api: str, kind: str, gvk: dict) -> dict:
    """The schemas of KIND (served as API): the one named NAME, carrying GVK, and all it refers to."""
    out = {full_name(s): build(s) for s in closure(short_name(name))}
    out[name] = {**out[name], **gvk}
    return out
