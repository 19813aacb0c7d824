"""etcd: the API server's store of objects, with resource versions, a watch log and atomic persistence."""
from __future__ import annotations

import asyncio
import collections
import copy
import itertools
import json
import os
import time
import uuid

from toycluster.api.kinds import CLUSTER_SCOPED   # re-exported: the components import it from here
from toycluster.config import write_atomic

QUIET_KINDS = {"Event"}   # what no controller reconciles: a change to one wakes watchers, not the controllers
SAVE_DELAY = 0.2      # seconds: changes are written together (a restarted control plane also looks at the kernel);
STATUS_SAVE_DELAY = 1.0   # changes to an object's status alone wait longer


def key_of(obj: dict) -> tuple[str, str, str]:
    meta = obj["metadata"]
    ns = "" if obj["kind"] in CLUSTER_SCOPED else meta.get("namespace", "default")
    return obj["kind"], ns, meta["name"]


def _but_status(obj: dict) -> tuple:
    """What a change to OBJ's status leaves as it was."""
    meta = {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}
    return meta, {k: v for k, v in obj.items() if k not in ("metadata", "status")}


def now_rfc3339(t: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t if t is not None else time.time()))


class Store:
    """Objects keyed by (kind, namespace, name); every change bumps the resource version and is
    recorded for watchers; the whole store is written to disk atomically (debounced)."""

    def __init__(self, path: str | None):
        self.path, self.objects, self.rv = path, {}, 0
        self.by_kind: dict[str, dict] = {}                # the same objects, per kind (what list() reads)
        self._sorted: dict[str, list] = {}                # per kind, its keys in order (until one comes or goes)
        self.kind_rv: dict[str, int] = {}                 # per kind, the version of its last change
        self.log = collections.deque(maxlen=20000)      # (rv, type, object) for watchers
        self.waiters: list[tuple] = []                    # (future, kinds or None): watchers waiting
        self.on_change = None                             # the controllers' wake-up call
        self._save_pending = None                         # the timer of the next save
        if path and os.path.exists(path):
            with open(path) as f:
                data = json.load(f)
            self.rv = data["resourceVersion"]
            for obj in data["items"]:
                self.insert(obj)

    def insert(self, obj: dict) -> None:
        """Hold OBJ as it is (no resource version, no event): loading a saved or a copied store."""
        key = key_of(obj)
        self._sorted.pop(key[0], None)
        self.objects[key] = self.by_kind.setdefault(key[0], {})[key] = obj

    def get(self, kind: str, namespace: str, name: str) -> dict | None:
        return self.objects.get((kind, "" if kind in CLUSTER_SCOPED else namespace, name))

    def list(self, kind: str, namespace: str | None = None) -> list[dict]:
        objs = self.by_kind.get(kind, {})
        keys = self._sorted.get(kind)
        if keys is None:
            keys = self._sorted[kind] = sorted(objs)
        if namespace is None:
            return [objs[key] for key in keys]
        return [objs[key] for key in keys if key[1] == namespace]

    def put(self, obj: dict) -> dict:
        """Create or replace OBJ; fills uid, creationTimestamp and generation as the API server does."""
        key = key_of(obj)
        old = self.objects.get(key)
        meta = obj["metadata"]
        if obj["kind"] not in CLUSTER_SCOPED:
            meta["namespace"] = key[1]
        meta.setdefault("uid", old["metadata"]["uid"] if old else str(uuid.uuid4()))
        meta.setdefault("creationTimestamp",
                        old["metadata"]["creationTimestamp"] if old else now_rfc3339())
        if "spec" in obj:
            gen = old["metadata"].get("generation", 1) if old else 1
            meta["generation"] = gen + 1 if old and old.get("spec") != obj["spec"] else gen
        self.rv += 1
        meta["resourceVersion"] = str(self.rv)
        if old is None:
            self._sorted.pop(key[0], None)
        self.objects[key] = self.by_kind.setdefault(key[0], {})[key] = obj
        self._record("MODIFIED" if old else "ADDED", obj, status_only=old is not None and _but_status(old) == _but_status(obj))
        return obj

    def delete(self, kind: str, namespace: str, name: str) -> dict | None:
        key = (kind, "" if kind in CLUSTER_SCOPED else namespace, name)
        obj = self.objects.pop(key, None)
        if obj:
            del self.by_kind[kind][key]
            self._sorted.pop(kind, None)
            self.rv += 1
            self._record("DELETED", obj)
        return obj

    def events_since(self, rv: int, kinds=None) -> list[dict]:
        """Events after RV (of KINDS only, if given). The log's versions are consecutive, so the first
        wanted one is found by subtraction."""
        recent = list(itertools.islice(reversed(self.log), max(0, self.rv - rv)))
        return [{"type": t, "object": o} for _, t, o in reversed(recent) if kinds is None or o["kind"] in kinds]

    def log_covers(self, rv: int) -> bool:
        """True if every event after RV is still in the log (a watcher from RV missed nothing)."""
        return rv >= self.rv or (bool(self.log) and self.log[0][0] <= rv + 1)

    async def wait_change(self, timeout: float, kinds=None) -> None:
        """Return at the next change (of an object of KINDS, if given), or after TIMEOUT seconds."""
        fut = asyncio.get_running_loop().create_future()
        self.waiters.append((fut, kinds))
        try:
            await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            pass

    def _record(self, kind: str, obj: dict, status_only: bool = False) -> None:
        self.kind_rv[obj["kind"]] = self.rv
        self.log.append((self.rv, kind, copy.deepcopy(obj)))
        waiting = []
        for fut, kinds in self.waiters:
            if kinds is None or obj["kind"] in kinds:
                if not fut.done():
                    fut.set_result(None)
            elif not fut.done():
                waiting.append((fut, kinds))
        self.waiters = waiting
        if self.on_change and obj["kind"] not in QUIET_KINDS:
            self.on_change()
        if self.path:
            loop = asyncio.get_running_loop()
            at = loop.time() + (STATUS_SAVE_DELAY if status_only else SAVE_DELAY)
            if self._save_pending is None or at < self._save_pending.when():
                if self._save_pending:
                    self._save_pending.cancel()
                self._save_pending = loop.call_at(at, self.save)

    def save(self) -> None:
        if self._save_pending:
            self._save_pending.cancel()
        self._save_pending = None
        if self.path:
            write_atomic(self.path, json.dumps({"resourceVersion": self.rv,
                                                "items": list(self.objects.values())}))
