"""kube-controller-manager's shared helpers (pkg/controller/controller_utils.go): owner references, pod readiness and
availability, the pods of each owner, graceful deletion, status writes and the names upstream generates.

The controllers run in the control plane's one loop and write the store directly (as kube-controller-manager writes
through the API): a status write goes through put_status, which writes only when something changed.
"""
import calendar
import copy
import random
import time

from toycluster.api.store import now_rfc3339

POD_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"   # apimachinery's rand.String alphabet (no vowels, no 0/1/3)


def random_suffix(n: int = 5) -> str:
    """The 5 characters the API server appends to a generateName."""
    return "".join(random.choice(POD_NAME_CHARS) for _ in range(n))


def owner_ref(obj: dict) -> dict:
    """A controller reference to OBJ, as a controller puts on what it creates."""
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def owned_by(obj: dict, owner: dict) -> bool:
    return any(r.get("uid") == owner["metadata"]["uid"] for r in obj["metadata"].get("ownerReferences", []))


def controller_uid(obj: dict) -> str | None:
    """The uid of OBJ's controller (the owner reference with controller: true), if any."""
    return next((r.get("uid") for r in obj["metadata"].get("ownerReferences", []) if r.get("controller")), None)


def terminating(obj: dict) -> bool:
    return bool(obj["metadata"].get("deletionTimestamp"))


def replicas(obj: dict) -> int:
    """spec.replicas, defaulted to 1 as the API server defaults it."""
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else value


def parse_time(stamp: str | None) -> float | None:
    """An RFC 3339 time as the store writes it (2026-01-02T03:04:05Z), in seconds since the epoch."""
    if not stamp:
        return None
    try:
        return float(calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")))
    except ValueError:
        return None


def ready_condition(pod: dict) -> dict | None:
    return next((c for c in (pod.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), None)


def pod_ready(pod: dict) -> bool:
    c = ready_condition(pod)
    return bool(c) and c.get("status") == "True"


def pod_active(pod: dict) -> bool:
    """controller.IsPodActive: not being deleted, and not finished."""
    return not terminating(pod) and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


class PodIndex:
    """Pods by owner uid, rebuilt when a pod changed (the shared informer's index by controller), and the time
    each pod was first seen Ready when its Ready condition carries no lastTransitionTime."""

    def __init__(self, store):
        self.store = store
        self._by_owner: dict[str, list] = {}
        self._rv = -1
        self._ready_since: dict[str, float] = {}
        self._started = False             # pods ready before the controller manager started count as ready long ago

    def _refresh(self) -> None:
        rv = self.store.kind_rv.get("Pod", 0)
        if rv == self._rv:
            return
        self._by_owner, self._rv, now, seen = {}, rv, time.time(), set()
        for p in self.store.list("Pod"):
            uid = p["metadata"].get("uid", "")
            seen.add(uid)
            if pod_ready(p):
                self._ready_since.setdefault(uid, now if self._started else 0.0)
            else:
                self._ready_since.pop(uid, None)
            for ref in p["metadata"].get("ownerReferences", []):
                self._by_owner.setdefault(ref.get("uid"), []).append(p)
        self._ready_since = {u: t for u, t in self._ready_since.items() if u in seen}

    def start(self) -> None:
        """Called after the first pass: from now on a pod seen turning Ready became ready now."""
        self._refresh()
        self._started = True

    def all(self, owner_uid: str) -> list[dict]:
        """Every pod OWNER_UID owns, terminating and finished ones too."""
        self._refresh()
        return list(self._by_owner.get(owner_uid, ()))

    def active(self, owner_uid: str) -> list[dict]:
        return [p for p in self.all(owner_uid) if pod_active(p)]

    def ready_since(self, pod: dict) -> float | None:
        """When POD turned Ready: its condition's lastTransitionTime, else when this controller first saw it."""
        if not pod_ready(pod):
            return None
        stamp = parse_time(ready_condition(pod).get("lastTransitionTime"))
        if stamp is not None:
            return stamp
        self._refresh()
        return self._ready_since.get(pod["metadata"].get("uid", ""), time.time())

    def available(self, pod: dict, min_ready_seconds: int, now: float | None = None) -> bool:
        """podutil.IsPodAvailable: Ready for at least MIN_READY_SECONDS."""
        since = self.ready_since(pod)
        if since is None:
            return False
        return min_ready_seconds <= 0 or since + min_ready_seconds < (now if now is not None else time.time())


def mark_deleted(store, pod: dict) -> bool:
    """A graceful delete: the deletion timestamp is set, the kubelet stops the pod and removes it."""
    if terminating(pod):
        return False
    pod = copy.deepcopy(pod)
    pod["metadata"]["deletionTimestamp"] = now_rfc3339()
    store.put(pod)
    return True


def put_status(store, obj: dict, status: dict) -> dict:
    """Write STATUS as OBJ's status (a status-subresource write: spec and metadata as stored), if it changed."""
    if obj.get("status") == status:
        return obj
    return store.put({**obj, "metadata": dict(obj["metadata"]), "status": status})
