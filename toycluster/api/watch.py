"""kube-apiserver's watch (the watch cache): a stream of ADDED / MODIFIED / DELETED events for one resource.

From resourceVersion N: every change after N, or an ERROR event with a 410 Expired Status when the log no
longer reaches back to N (the client lists again). Without one (or "0"): the objects as they are, as ADDED
events, then every change. Filtered by namespace, name, labelSelector and fieldSelector; Table events when
kubectl asks for Tables (`kubectl get -w`).
"""
from toycluster.api import selector_text, selectors, status, tables

DEFAULT_TIMEOUT = 1800.0     # the API server's --min-request-timeout: a watch ends within 30-60 minutes


def _first(query: dict, key: str, default: str = "") -> str:
    return (query.get(key) or [default])[0]


def _filter(t, query: dict):
    """The predicate of one watch (raises ValueError for a bad selector)."""
    label = selector_text.parse_labels(_first(query, "labelSelector")) if _first(query, "labelSelector") else None
    fields = selector_text.parse_fields(_first(query, "fieldSelector"), t.kind) \
        if _first(query, "fieldSelector") else []

    def wanted(obj: dict) -> bool:
        meta = obj["metadata"]
        return ((not t.namespace or meta.get("namespace") == t.namespace) and (not t.name or meta["name"] == t.name)
                and (label is None or selectors.label_selector_matches(label, meta.get("labels")))
                and selector_text.fields_match(fields, obj))
    return wanted


def _shape(obj: dict, t, accept: str, query: dict, first: list) -> dict:
    if "as=Table" not in accept:
        return obj
    include = _first(query, "includeObject", "PartialObjectMetadata")
    out = tables.table(t.kind, [obj], {"resourceVersion": obj["metadata"].get("resourceVersion", "")}, include,
                       with_columns=first[0])
    first[0] = False
    return out


def _bookmark(t, rv: int) -> dict:
    from toycluster.api.kinds import KINDS_BY_KIND
    return {"kind": t.kind, "apiVersion": KINDS_BY_KIND[t.kind]["apiVersion"],
            "metadata": {"resourceVersion": str(rv), "annotations": {"k8s.io/initial-events-end": "true"}}}


async def watch_stream(store, t, query: dict, accept: str):
    """Yield the watch's events as dicts {"type", "object"} until its timeout."""
    import asyncio
    try:
        wanted = _filter(t, query)
    except ValueError as e:
        yield {"type": "ERROR", "object": status.status(400, str(e), "BadRequest")}
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + min(float(_first(query, "timeoutSeconds", "0") or 0) or DEFAULT_TIMEOUT, 3600)
    first, rv_text = [True], _first(query, "resourceVersion")
    initial = _first(query, "sendInitialEvents") == "true"
    if rv_text in ("", "0") or initial:
        rv = store.rv
        for obj in store.list(t.kind, t.namespace or None):
            if wanted(obj):
                yield {"type": "ADDED", "object": _shape(obj, t, accept, query, first)}
        if initial:          # the watch-list protocol: a bookmark marks the end of the initial events
            yield {"type": "BOOKMARK", "object": _bookmark(t, rv)}
    else:
        try:
            rv = int(rv_text)
        except ValueError:
            yield {"type": "ERROR", "object": status.status(400, f"invalid resource version: {rv_text}")}
            return
    while True:
        if not store.log_covers(rv):
            yield {"type": "ERROR", "object": status.status(
                410, f"too old resource version: {rv} ({store.log[0][0] - 1 if store.log else store.rv})", "Expired")}
            return
        events = store.events_since(rv, {t.kind}) if rv < store.rv else []
        rv = max(rv, store.rv)
        for e in events:
            if wanted(e["object"]):
                yield {"type": e["type"], "object": _shape(e["object"], t, accept, query, first)}
        left = deadline - loop.time()
        if left <= 0:
            return
        await store.wait_change(min(left, 30), {t.kind})
