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


class APIError(Exception):
    """STATUS and a message; FIELDS: (field path, reason) for a 422 (the REST API lists them as causes)."""

    def __init__(self, status: int, message: str, fields: list | None = None, reason: str = "", name: str = ""):
        super().__init__(message)
        self.status, self.fields, self.reason, self.name = status, fields or [], reason, name


def result_name(obj: dict) -> str:
    kind = obj["kind"]
    return f"{RESULT_NAMES.get(kind, kind.lower())}/{obj['metadata']['name']}"


def label_of(obj: dict) -> str:
    kind, meta = obj["kind"], obj["metadata"]
    return f"{kind} {meta.get('namespace', '') + '/' if kind not in CLUSTER_SCOPED else ''}{meta['name']}"


def validated(doc: dict, source: str) -> dict:
    try:
        return validation.validate(doc, source)
    except ManifestError as e:
        raise APIError(422, str(e), [(e.field, e.reason)]) from e


class API:
    """The API's semantics over a Store; `admit` hooks let later parts (Services, Ingress) add checks."""

    def __init__(self, store, admit=None):
        self.store = store
        self.admit = admit or []        # functions (obj, old, store, planned objects) that fill in or raise APIError

    def apply(self, items: list[dict]) -> list[str]:
        objs = [strategy.last_applied(validated(doc, f"object {i + 1}"), doc) for i, doc in enumerate(items)]
        creating_ns = {o["metadata"]["name"] for o in objs if o["kind"] == "Namespace"}
        plan = []
        for obj in sorted(objs, key=lambda o: o["kind"] != "Namespace"):
            if obj["kind"] in READ_ONLY:
                raise APIError(422, f"{label_of(obj)}: {obj['kind']} objects are managed by the cluster, not applied")
            plan.append((obj, self._admit(obj, creating_ns, [o for o, _ in plan])))
        results = []
        for obj, old in plan:                # everything was checked: now write it all
            results.append(f"{result_name(obj)} {self._write(obj, old)}")
        return results

    def _admit(self, obj: dict, creating_ns=(), planned=(), old=False) -> dict | None:
        """Check OBJ against the cluster (its namespace, its old self, immutables, the admit hooks); its old self."""
        kind, meta, label = obj["kind"], obj["metadata"], label_of(obj)
        ns = meta.get("namespace")
        if kind not in CLUSTER_SCOPED and ns not in creating_ns:
            ns_obj = self.store.get("Namespace", "", ns)
            if ns_obj is None:
                raise APIError(404, f"{label}: namespaces \"{ns}\" not found", reason="NamespaceNotFound", name=ns)
            if ns_obj["metadata"].get("deletionTimestamp") and old is False:
                raise APIError(403, f"{label}: unable to create new content in namespace {ns} because it is being "
                                    "terminated", reason="NamespaceTerminating", name=ns)
        old = self.store.get(kind, ns or "", meta["name"])
        if old and old["metadata"].get("deletionTimestamp") and kind == "Namespace":
            raise APIError(409, f"{label}: object is being deleted")
        if old and (errors := strategy.immutable_errors(old, strategy.prepare_update(old, obj))):
            raise APIError(422, f"{label}: " + "; ".join(f"{f}: {r}" for f, r in errors), errors)
        for check in self.admit:
            try:
                check(obj, old, self.store, list(planned))
            except APIError as e:           # the hooks say "field: reason": the REST API lists it as a cause
                fields = e.fields or ([tuple(str(e).split(": ", 1))] if e.status == 422 and ": " in str(e) else [])
                raise APIError(e.status, f"{label}: {e}", fields) from e
        return old

    def create(self, doc: dict, dry_run: bool = False) -> dict:
        """POST: a new object (409 if it exists); DRY_RUN: checked whole, written nowhere."""
        obj = validated(doc, "")
        old = self._admit(obj)
        if old is not None:
            raise APIError(409, f"{label_of(obj)} already exists", reason="AlreadyExists")
        if not dry_run:
            self._write(obj, None)
        return obj

    def update(self, doc: dict, subresource: str = "", dry_run: bool = False) -> tuple[dict, bool]:
        """PUT (and PATCH, once patched): the object written over its old self, or only its status; 409 if
        DOC names a resourceVersion that is no longer current. Returns (the object, whether it changed)."""
        meta = doc.get("metadata") or {}
        kind = doc.get("kind", "")
        old = self.store.get(kind, meta.get("namespace") or "default", meta.get("name", ""))
        if old is None:
            raise APIError(404, f"{label_of(doc)} not found", reason="NotFound")
        if meta.get("resourceVersion") and meta["resourceVersion"] != old["metadata"]["resourceVersion"]:
            raise APIError(409, "the object has been modified; please apply your changes to the latest version "
                                "and try again", reason="Conflict")
        if subresource == "status":
            new = strategy.prepare_update(old, doc, "status")
        else:
            obj = validated(doc, "")
            self._admit(obj, old=True)
            new = strategy.prepare_update(old, obj)
            if kind == "Namespace":
                new["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
        if strategy.unchanged(old, new):
            return old, False
        return (new if dry_run else self.store.put(new)), True

    def _write(self, obj: dict, old: dict | None) -> str:
        if old is None:
            if obj["kind"] == "Namespace":
                obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
                obj["status"] = {"phase": "Active"}
            self.store.put(obj)
            return "created"
        new = strategy.prepare_update(old, strategy.three_way_metadata(old, obj))
        if obj["kind"] == "Namespace":
            new["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
        if strategy.unchanged(old, new):
            return "unchanged"
        self.store.put(new)
        return "configured"

    def delete(self, kind: str, namespace: str, name: str, grace: int | None = None,
               propagation: str = "Background") -> str:
        """Graceful for Pods (GRACE seconds, default the pod's terminationGracePeriodSeconds, 30; 0 removes it at
        once, as --grace-period=0 --force) and Namespaces; the garbage collector takes the dependents."""
        obj = self.store.get(kind, namespace, name)
        if obj is None:
            plural = KINDS_BY_KIND[kind]["resource"]
            raise APIError(404, f"{plural} \"{name}\" not found" +
                           (f" in namespace \"{namespace}\"" if kind not in CLUSTER_SCOPED else ""))
        if kind == "Node":
            raise APIError(422, "nodes are part of the cluster's topology; use `toycluster down`")
        if kind == "Pod" and grace is None:
            grace = obj["spec"].get("terminationGracePeriodSeconds", 30)
        if kind == "Pod" and not obj["spec"].get("nodeName"):
            grace = 0                           # never scheduled: no kubelet to finish it (as upstream)
        meta = obj["metadata"]
        if kind == "Pod" and grace == 0:
            self.store.delete(kind, namespace, name)
        elif kind == "Pod" and meta.get("deletionTimestamp") and grace < meta.get("deletionGracePeriodSeconds", 30):
            obj = copy.deepcopy(obj)            # a second delete may shorten the grace period, never lengthen it
            obj["metadata"]["deletionGracePeriodSeconds"] = grace
            self.store.put(obj)
        elif kind in ("Pod", "Namespace"):      # graceful: the kubelet / namespace controller finish it
            if not obj["metadata"].get("deletionTimestamp"):
                obj = copy.deepcopy(obj)
                obj["metadata"]["deletionTimestamp"] = now_rfc3339()
                if kind == "Pod":
                    obj["metadata"]["deletionGracePeriodSeconds"] = grace
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
