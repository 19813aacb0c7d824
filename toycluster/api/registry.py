"""kube-apiserver's registry (pkg/registry): the semantics of each write, shared by the Kubernetes REST API
(rest.py) and the CLI's socket (server.py): create, update (strategy.py's rules), apply (all or nothing),
graceful delete, scale and label.
"""
import copy

from toycluster.api import strategy, validation
from toycluster.api.fields import ManifestError
from toycluster.api.kinds import KINDS_BY_KIND
from toycluster.api.store import CLUSTER_SCOPED, now_rfc3339

RESULT_NAMES = {"Deployment": "deployment.apps", "ReplicaSet": "replicaset.apps",
                "Ingress": "ingress.networking.k8s.io", "NetworkPolicy": "networkpolicy.networking.k8s.io",
                "EndpointSlice": "endpointslice.discovery.k8s.io"}
READ_ONLY = {"Node", "ReplicaSet", "Endpoints", "EndpointSlice"}
MAX_HEAD, MAX_BODY = 65536, 64 << 20      # a longer head is answered 431; a longer chunked body 400


class APIError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def result_name(obj: dict) -> str:
    kind = obj["kind"]
    return f"{RESULT_NAMES.get(kind, kind.lower())}/{obj['metadata']['name']}"


class API:
    """The API's semantics over a Store; `admit` hooks let later parts (Services, Ingress) add checks."""

    def __init__(self, store, admit=None):
        self.store = store
        self.admit = admit or []        # functions (obj, old, store, planned objects) that fill in or raise APIError

    def apply(self, items: list[dict]) -> list[str]:
        validated = []
        for i, doc in enumerate(items):
            try:
                obj = validation.validate(doc, f"object {i + 1}")
            except ManifestError as e:
                raise APIError(422, str(e)) from e
            validated.append(obj)
        creating_ns = {o["metadata"]["name"] for o in validated if o["kind"] == "Namespace"}
        plan = []
        for obj in sorted(validated, key=lambda o: o["kind"] != "Namespace"):
            kind, meta = obj["kind"], obj["metadata"]
            label = f"{kind} {meta.get('namespace', '') + '/' if kind not in CLUSTER_SCOPED else ''}{meta['name']}"
            if kind in READ_ONLY:
                raise APIError(422, f"{label}: {kind} objects are managed by the cluster, not applied")
            ns = meta.get("namespace")
            if kind not in CLUSTER_SCOPED and ns not in creating_ns:
                ns_obj = self.store.get("Namespace", "", ns)
                if ns_obj is None:
                    raise APIError(404, f"{label}: namespaces \"{ns}\" not found")
                if ns_obj["metadata"].get("deletionTimestamp"):
                    raise APIError(409, f"{label}: namespace {ns} is being terminated")
            old = self.store.get(kind, ns or "", meta["name"])
            if old and old["metadata"].get("deletionTimestamp"):
                raise APIError(409, f"{label}: object is being deleted")
            if old and (errors := strategy.immutable_errors(old, strategy.prepare_update(old, obj))):
                raise APIError(422, f"{label}: " + "; ".join(f"{f}: {r}" for f, r in errors))
            for check in self.admit:
                try:
                    check(obj, old, self.store, [o for o, _ in plan])
                except APIError as e:
                    raise APIError(e.status, f"{label}: {e}") from e
            plan.append((obj, old))
        results = []
        for obj, old in plan:                # everything was checked: now write it all
            results.append(f"{result_name(obj)} {self._write(obj, old)}")
        return results

    def _write(self, obj: dict, old: dict | None) -> str:
        if old is None:
            if obj["kind"] == "Namespace":
                obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
                obj["status"] = {"phase": "Active"}
            self.store.put(obj)
            return "created"
        new = strategy.prepare_update(old, obj)
        if obj["kind"] == "Namespace":
            new["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
        if strategy.unchanged(old, new):
            return "unchanged"
        self.store.put(new)
        return "configured"

    def delete(self, kind: str, namespace: str, name: str) -> str:
        obj = self.store.get(kind, namespace, name)
        if obj is None:
            plural = KINDS_BY_KIND[kind]["resource"]
            raise APIError(404, f"{plural} \"{name}\" not found" +
                           (f" in namespace \"{namespace}\"" if kind not in CLUSTER_SCOPED else ""))
        if kind == "Node":
            raise APIError(422, "nodes are part of the cluster's topology; use `toycluster down`")
        if kind in ("Pod", "Namespace"):      # graceful: the kubelet / namespace controller finish it
            if not obj["metadata"].get("deletionTimestamp"):
                obj = copy.deepcopy(obj)
                obj["metadata"]["deletionTimestamp"] = now_rfc3339()
                if kind == "Namespace":
                    obj["status"] = {"phase": "Terminating"}
                self.store.put(obj)
        else:                                  # dependents go through the garbage collector
            self.store.delete(kind, namespace, name)
        return f"{kind.lower()} \"{name}\" deleted"

    def scale(self, kind: str, namespace: str, name: str, replicas: int) -> str:
        obj = self.store.get(kind, namespace, name)
        if obj is None:
            raise APIError(404, f"{kind.lower()}s \"{name}\" not found in namespace \"{namespace}\"")
        if not isinstance(replicas, int) or replicas < 0:
            raise APIError(422, f"{kind} {namespace}/{name}: spec.replicas: must be >= 0 (got {replicas})")
        obj = copy.deepcopy(obj)
        obj["spec"]["replicas"] = replicas
        self.store.put(obj)
        return f"{result_name(obj)} scaled"

    def label(self, kind: str, namespace: str, name: str, labels: dict, overwrite: bool = False) -> str:
        """kubectl label: set metadata.labels[k] = v, or remove k where v is None."""
        obj = self.store.get(kind, namespace if kind not in CLUSTER_SCOPED else "", name)
        if obj is None:
            plural = KINDS_BY_KIND.get(kind, {}).get("resource", kind.lower() + "s")
            raise APIError(404, f"{plural} \"{name}\" not found" +
                           (f" in namespace \"{namespace}\"" if kind not in CLUSTER_SCOPED else ""))
        old = obj["metadata"].get("labels") or {}
        new = dict(old)
        for key, value in labels.items():
            if kind == "Namespace" and key == "kubernetes.io/metadata.name":
                raise APIError(422, f"{kind} {name}: metadata.labels.{key}: the API server sets it to the "
                                    "namespace's name; it cannot be changed or removed")
            if value is None:
                new.pop(key, None)
            elif key in old and old[key] != value and not overwrite:
                raise APIError(409, f"'{key}' already has a value ({old[key]}), and --overwrite is false")
            else:
                new[key] = value
        problem = validation.label_error(new)
        if problem:
            raise APIError(422, f"{kind} {name}: {problem}")
        if new == old:
            return f"{result_name(obj)} not labeled"
        obj = copy.deepcopy(obj)
        obj["metadata"]["labels"] = new
        if not new:
            del obj["metadata"]["labels"]
        self.store.put(obj)
        return f"{result_name(obj)} {'labeled' if any(v is not None for v in labels.values()) else 'unlabeled'}"
