"""kube-apiserver's update strategies (pkg/registry/*/strategy.go): what a write of an object, or of its status,
may change, what it keeps, and which fields are immutable.

prepare_update() is PrepareForUpdate: a write of the object keeps its status and its system metadata; a write
of the status subresource changes the status alone. immutable_errors() is ValidateUpdate's immutability: a Pod's
spec but a few fields, a Deployment's or ReplicaSet's selector, an immutable Secret's or ConfigMap's data.
"""
import copy
import json

SYSTEM_META = ("uid", "creationTimestamp", "generation", "deletionTimestamp", "deletionGracePeriodSeconds",
               "resourceVersion", "namespace", "name")
USER_META = ("labels", "annotations", "ownerReferences", "finalizers")
SET_BY_SYSTEM = {"Pod": ("nodeName",)}        # spec fields the cluster fills in that a manifest leaves out
POD_MUTABLE = ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds")
POD_FORBIDDEN = ("Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
                 "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions "
                 "to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was "
                 "previously negative)")


def prepare_update(old: dict, new: dict, subresource: str = "") -> dict:
    """The object as stored after NEW is written over OLD (both validated; NEW's status as sent)."""
    if subresource == "status":
        out = copy.deepcopy(old)
        if "status" in new:
            out["status"] = copy.deepcopy(new["status"])
        else:
            out.pop("status", None)
        return out
    out = {k: copy.deepcopy(v) for k, v in new.items() if k not in ("metadata", "status")}
    meta = {k: v for k, v in old["metadata"].items() if k in SYSTEM_META}
    for field in USER_META:
        if new["metadata"].get(field):
            meta[field] = copy.deepcopy(new["metadata"][field])
    out["metadata"] = meta
    if "status" in old:
        out["status"] = copy.deepcopy(old["status"])
    for field in SET_BY_SYSTEM.get(old["kind"], ()):
        if field in old.get("spec", {}) and field not in out.get("spec", {}):
            out.setdefault("spec", {})[field] = old["spec"][field]
    return out


def _pod_spec_masked(spec: dict) -> dict:
    spec = {k: v for k, v in spec.items() if k not in POD_MUTABLE}
    return spec


def immutable_errors(old: dict, new: dict) -> list[tuple[str, str]]:
    """(field, reason) for each immutable field NEW changes."""
    kind, errors = old["kind"], []
    if kind == "Pod" and _pod_spec_masked(old.get("spec", {})) != _pod_spec_masked(new.get("spec", {})):
        errors.append(("spec", POD_FORBIDDEN))
    if kind in ("Deployment", "ReplicaSet") and old["spec"].get("selector") != new.get("spec", {}).get("selector"):
        errors.append(("spec.selector", f"Invalid value: {json.dumps(new.get('spec', {}).get('selector'))}: "
                                        "field is immutable"))
    if kind in ("Secret", "ConfigMap") and old.get("immutable"):
        for field in ("data", "stringData", "binaryData"):
            if old.get(field) != new.get(field) and field != "stringData":
                errors.append((field, "Forbidden: field is immutable when `immutable` is set"))
        if not new.get("immutable"):
            errors.append(("immutable", "Forbidden: field is immutable when `immutable` is set"))
    if kind == "EndpointSlice" and old.get("addressType") != new.get("addressType"):
        errors.append(("addressType", f"Invalid value: {json.dumps(new.get('addressType'))}: field is immutable"))
    return errors


LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def last_applied(obj: dict, raw: dict) -> dict:
    """OBJ with kubectl apply's annotation: the manifest RAW as it was given (its namespace filled in)."""
    raw = copy.deepcopy(raw)
    meta = raw.setdefault("metadata", {})
    if obj["metadata"].get("namespace"):
        meta["namespace"] = obj["metadata"]["namespace"]
    meta["annotations"] = {k: v for k, v in (meta.get("annotations") or {}).items() if k != LAST_APPLIED}
    obj["metadata"].setdefault("annotations", {})[LAST_APPLIED] = json.dumps(  # as kubectl writes it
        raw, separators=(",", ":"), sort_keys=True) + "\n"
    return obj


def three_way_metadata(old: dict, new: dict) -> dict:
    """NEW's labels and annotations merged as kubectl apply merges them: what the live object has is kept,
    unless the last applied manifest set it and NEW no longer does; NEW's own entries win."""
    try:
        last = json.loads((old["metadata"].get("annotations") or {}).get(LAST_APPLIED) or "{}")
    except ValueError:
        last = {}
    new = {**new, "metadata": dict(new["metadata"])}
    for field in ("labels", "annotations"):
        merged = dict(old["metadata"].get(field) or {})
        given = new["metadata"].get(field) or {}
        for key in (last.get("metadata") or {}).get(field) or {}:
            if key not in given:
                merged.pop(key, None)
        merged.update(given)
        new["metadata"][field] = merged
    return new


def unchanged(old: dict, new: dict) -> bool:
    """NEW would store nothing OLD does not hold (the resource version aside)."""
    strip = lambda o: {**o, "metadata": {k: v for k, v in o["metadata"].items() if k != "resourceVersion"}}
    return strip(old) == strip(new)
