"""client-go's informer: list some kinds from the API, then long-poll /watch, keeping a local cache current.

Used by the processes that are API clients but not the control plane (kube-proxy, CoreDNS, the ingress
controller, the cloud load balancer, the public DNS server). run() blocks (give it a thread of its own);
on_change() is called from that thread after every batch of events that changed the cache, and once after
each (re)list. A client that
follows changes object by object (kube-proxy) takes ``dirty``, under ``lock``: the (kind, key) of every
object changed since it last did, or None after a list (everything may have changed). If the API goes
away the cache keeps what it last knew, and the informer lists again when the API is back.
"""
from __future__ import annotations

import sys
import threading
import time

WATCH_TIMEOUT = 25


class Informer:
    def __init__(self, api_path: str, kinds: tuple, on_change, trim=None, name: str = "informer", say=None):
        from toycluster.api.client import Client
        self.client = Client(name, timeout=WATCH_TIMEOUT + 10)
        self.client.path = api_path
        self.kinds, self.on_change, self.name = tuple(kinds), on_change, name
        self.trim = trim or (lambda kind, obj: obj)      # what of an object to keep (None: drop it)
        self.objects: dict[str, dict] = {k: {} for k in self.kinds}
        self.dirty: set | None = None      # (kind, key) changed since a client took it; None: all
        self.synced = threading.Event()
        self.lock = threading.Lock()
        self.say = say or (lambda level, text: print(f"{self.name}: {text}", file=sys.stderr, flush=True))

    def snapshot(self) -> dict[str, dict]:
        """{kind: {(namespace, name): object}}: copies of the maps (the objects themselves are shared)."""
        with self.lock:
            return {k: dict(v) for k, v in self.objects.items()}

    def lists(self) -> dict[str, list]:
        """{kind: [object, ...]}: what the cache holds now."""
        with self.lock:
            return {k: list(v.values()) for k, v in self.objects.items()}

    @staticmethod
    def _key(obj: dict) -> tuple:
        return obj["metadata"].get("namespace") or "", obj["metadata"]["name"]

    def _apply(self, event: dict) -> bool:
        obj = event["object"]
        kind = obj.get("kind")
        if kind not in self.objects:
            return False
        key, objs = self._key(obj), self.objects[kind]
        kept = None if event["type"] == "DELETED" else self.trim(kind, obj)
        if kept is None:
            if objs.pop(key, None) is None:
                return False
        elif objs.get(key) == kept:
            return False
        else:
            objs[key] = kept
        if self.dirty is not None:
            self.dirty.add((kind, key))
        return True

    def _list(self) -> int:
        rvs, fresh = [], {}
        for kind in self.kinds:
            answer = self.client.request("GET", f"/api/{kind}")
            rvs.append(int(answer.get("metadata", {}).get("resourceVersion", 0)))
            fresh[kind] = {self._key(o): t for o in answer["items"] if (t := self.trim(kind, o)) is not None}
        with self.lock:
            self.objects, self.dirty = fresh, None
        return min(rvs)

    def _changed(self) -> None:
        try:
            self.on_change()
        except Exception as e:                      # noqa: BLE001 - keep watching; the next change retries
            self.say("error", f"applying a change failed: {type(e).__name__}: {e}")

    def run(self) -> None:
        rv, down_since = None, None
        while True:
            try:
                if rv is None:
                    rv = self._list()
                    if down_since is not None:
                        self.say("info", f"the API is back after {time.monotonic() - down_since:.1f}s")
                        down_since = None
                    self._changed()
                    self.synced.set()
                answer = self.client.request("GET", "/watch", resourceVersion=rv, timeout=WATCH_TIMEOUT,
                                             kinds=",".join(self.kinds))
                new_rv, events = int(answer["resourceVersion"]), answer["events"]
                if new_rv < rv or not answer["complete"]:     # a restarted API, or a log that moved on
                    rv = None
                    continue
                with self.lock:
                    changed = [self._apply(e) for e in events]
                rv = new_rv
                if any(changed):
                    self._changed()
            except Exception as e:                  # noqa: BLE001 - keep what we knew, and retry
                if down_since is None:
                    down_since = time.monotonic()
                    self.say("error", f"the API at {self.client.path} is not answering ({type(e).__name__}: {e}); "
                                      "keeping the last known state, retrying")
                rv = None
                self.synced.set()
                time.sleep(0.5)

    def start(self) -> "Informer":
        threading.Thread(target=self.run, name=self.name, daemon=True).start()
        return self
