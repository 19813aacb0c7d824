"""kube-apiserver's Events (client-go's event recorder and its correlator): what happened to an object, and why.

record() writes a core/v1 Event about an object, as client-go's EventRecorder does: an event with the same
source, object, reason, message and type as an earlier one is not written again, its `count` goes up and its
`lastTimestamp` moves (the correlator's deduplication, through an index by its key). Events are kept for
EVENT_TTL seconds (the API server's --event-ttl is one hour) and at most MAX_EVENTS of them (the oldest tenth
goes when there are more); `kubectl describe` and `kubectl get events` read them.
"""
import time

from toycluster.api.store import CLUSTER_SCOPED, now_rfc3339

EVENT_TTL = 3600.0
MAX_EVENTS = 2000
NORMAL, WARNING = "Normal", "Warning"


def _event_name(obj: dict) -> str:
    """As upstream: <object name>.<the time in nanoseconds, in hex>, so events sort by name as they happened."""
    return f"{obj['metadata']['name']}.{time.time_ns():x}"


def _same(store, ns: str, ref: dict, fields: tuple) -> tuple[dict | None, tuple]:
    """The earlier event that this one repeats (the correlator's key: source, object, reason, message, type),
    found through an index kept on the store (event name by key), and the key."""
    k = (ns, ref["uid"], ref["name"], ref["kind"], ref.get("fieldPath", ""), *fields)
    index = store.__dict__.setdefault("event_index", {})
    name = index.get(k)
    return (store.get("Event", ns, name) if name else None), k


def involved(obj: dict, field_path: str = "") -> dict:
    """The event's involvedObject: a reference to OBJ (and FIELD_PATH within it, e.g. spec.containers{web})."""
    meta = obj["metadata"]
    ref = {"kind": obj["kind"], "name": meta["name"], "uid": meta.get("uid", ""),
           "apiVersion": obj.get("apiVersion", "v1"), "resourceVersion": meta.get("resourceVersion", "")}
    if obj["kind"] not in CLUSTER_SCOPED:
        ref["namespace"] = meta.get("namespace", "default")
    if field_path:
        ref["fieldPath"] = field_path
    return ref


def record(store, obj: dict, reason: str, message: str, type_: str = NORMAL, component: str = "",
           host: str = "", field_path: str = "") -> dict:
    """Write (or count again) an Event about OBJ. COMPONENT is the source (default-scheduler, kubelet,
    deployment-controller, ...); HOST the node for a kubelet's events."""
    ns = obj["metadata"].get("namespace", "default") if obj["kind"] not in CLUSTER_SCOPED else "default"
    ref = involved(obj, field_path)
    now = now_rfc3339()
    old, k = _same(store, ns, ref, (component, host, reason, message, type_))
    if old is not None:
        event = {**old, "count": old.get("count", 1) + 1, "lastTimestamp": now, "involvedObject": ref,
                 "metadata": {k: v for k, v in old["metadata"].items() if k != "resourceVersion"}}
    else:
        event = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": _event_name(obj), "namespace": ns},
                 "involvedObject": ref, "reason": reason, "message": message, "type": type_,
                 "source": {"component": component, **({"host": host} if host else {})},
                 "firstTimestamp": now, "lastTimestamp": now, "count": 1, "eventTime": None,
                 "reportingComponent": component, "reportingInstance": host}
        if len(store.by_kind.get("Event", ())) >= MAX_EVENTS or time.monotonic() >= store.__dict__.get(
                "events_expire_at", 0):                       # not on every event: a pass reads them all
            expire(store)
            store.events_expire_at = time.monotonic() + 60
        store.event_index[k] = event["metadata"]["name"]
    return store.put(event)


def expire(store, now: float | None = None) -> None:
    """Delete events older than EVENT_TTL, and the oldest beyond MAX_EVENTS."""
    events = store.list("Event")
    cutoff = now_rfc3339((now if now is not None else time.time()) - EVENT_TTL)
    old = [e for e in events if e.get("lastTimestamp", "") < cutoff]
    if len(events) - len(old) >= MAX_EVENTS:          # down to 90 %: the next pass is 200 events away
        gone = {id(e) for e in old}
        rest = sorted((e for e in events if id(e) not in gone), key=lambda e: e.get("lastTimestamp", ""))
        old += rest[:len(rest) - MAX_EVENTS * 9 // 10]
    for e in old:
        store.delete("Event", e["metadata"]["namespace"], e["metadata"]["name"])
    if old and len(store.__dict__.get("event_index", {})) > 2 * MAX_EVENTS:   # names of deleted events: drop them
        store.event_index = {k: n for k, n in store.event_index.items() if store.get("Event", k[0], n)}
