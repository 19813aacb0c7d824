"""kube-controller-manager's garbage collector (pkg/controller/garbagecollector): objects all of whose owners are
gone are deleted after them (pods gracefully), as background cascading deletion does.

Only a deletion can orphan an object that was fine before, so without one since the last pass only the objects
that came or changed are looked at (read from the store's watch log).
"""
from toycluster.api.store import key_of
from toycluster.controllers.controller_utils import mark_deleted


class GarbageCollector:
    def __init__(self, store):
        self.store = store
        self._rv: int | None = None               # the store's version at the last pass

    def reconcile(self) -> None:
        since, self._rv = self._rv, self.store.rv
        changes = self.store.events_since(since) if since is not None and self.store.log_covers(since) else None
        if changes is None or any(e["type"] == "DELETED" for e in changes):
            candidates = list(self.store.objects.values())
        else:
            candidates = [o for e in changes if (o := self.store.get(*key_of(e["object"]))) is not None]
        for obj in candidates:
            refs = obj["metadata"].get("ownerReferences", [])
            if refs and not any(self.exists(obj, r) for r in refs):
                if obj["kind"] == "Pod":
                    mark_deleted(self.store, obj)
                else:
                    self.store.delete(obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])

    def exists(self, obj: dict, ref: dict) -> bool:
        owner = self.store.get(ref["kind"], obj["metadata"].get("namespace", ""), ref["name"])
        return owner is not None and owner["metadata"]["uid"] == ref["uid"]
