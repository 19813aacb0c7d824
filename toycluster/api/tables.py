"""kube-apiserver's Table responses (meta.k8s.io/v1 Table): the columns of `kubectl get`, computed on the server.

kubectl asks for a Table and prints its cells as they come: columnDefinitions name the columns (priority 1:
only with -o wide), each row holds the cells and the object's metadata (PartialObjectMetadata, which kubectl
reads for -A's NAMESPACE and --show-labels). The same columns.row() serves `toycluster get`.
"""
import time

from toycluster.api.columns import HEADERS, row, since

EVENT_HEADERS = (["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
                 ["SUBOBJECT", "SOURCE", "FIRST SEEN", "COUNT", "NAME"])


def event_row(e: dict, now: float) -> list[str]:
    ref, src = e.get("involvedObject", {}), e.get("source", {})
    return [since(e.get("lastTimestamp"), now), e.get("type", ""), e.get("reason", ""),
            f"{ref.get('kind', '').lower()}/{ref.get('name', '')}", e.get("message", "").strip(),
            ref.get("fieldPath", ""), ", ".join(v for v in (src.get("component"), src.get("host")) if v),
            since(e.get("firstTimestamp"), now), str(e.get("count", 1)), e["metadata"]["name"]]


def columns(kind: str) -> list[dict]:
    cols, extra = EVENT_HEADERS if kind == "Event" else HEADERS.get(kind, (["NAME", "AGE"], []))
    return [{"name": c.title() if c not in ("IP", "NODE") else c, "type": "string",
             "format": "name" if c == "NAME" else "", "description": c.lower(), "priority": int(i >= len(cols))}
            for i, c in enumerate(cols + extra)]


def partial(obj: dict) -> dict:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}


def table(kind: str, objs: list[dict], list_meta: dict, include: str = "PartialObjectMetadata",
          now: float | None = None, with_columns: bool = True) -> dict:
    """The Table of OBJS (all of KIND); INCLUDE is the row's object: PartialObjectMetadata, Object or None."""
    now = time.time() if now is None else now
    rows = []
    for o in objs:
        cells = event_row(o, now) if kind == "Event" else row(kind, o, True, now)
        r = {"cells": cells}
        if include == "Object":
            r["object"] = o
        elif include != "None":
            r["object"] = partial(o)
        rows.append(r)
    out = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta, "rows": rows}
    if with_columns:
        out["columnDefinitions"] = columns(kind)
    return out
