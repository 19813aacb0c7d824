"""kube-controller-manager's namespace controller (pkg/controller/namespace), and the API server's system namespaces:
the four built-in namespaces exist; a namespace being deleted is emptied (pods gracefully), then removed.
"""
from toycluster.controllers.controller_utils import mark_deleted, terminating

BUILT_IN = ("default", "kube-system", "kube-public", "kube-node-lease")


class NamespaceController:
    def __init__(self, store):
        self.store = store

    def reconcile(self) -> None:
        for name in BUILT_IN:
            if self.store.get("Namespace", "", name) is None:
                self.store.put({"apiVersion": "v1", "kind": "Namespace",
                                "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
                                "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
        for ns in self.store.list("Namespace"):
            if terminating(ns):
                self.empty(ns["metadata"]["name"])

    def empty(self, name: str) -> None:
        for (kind, ns, _), obj in list(self.store.objects.items()):
            if ns != name:
                continue
            if kind == "Pod":
                mark_deleted(self.store, obj)
            else:
                self.store.delete(kind, name, obj["metadata"]["name"])
        if not any(k == "Pod" and n == name for (k, n, _) in self.store.objects):
            self.store.delete("Namespace", "", name)
