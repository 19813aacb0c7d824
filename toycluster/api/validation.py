"""kube-apiserver's admission of objects: each validated whole, as the API server would, before anything is applied.

validate() checks one object and fills in its defaults: the kind and apiVersion (kinds.KINDS), the metadata, then
the kind's own checks (validation_core, validation_ingress, validation_netpol); validate_all() refuses the whole
input if any object is bad. Messages name file, object and field in the API server's words: "Invalid value",
"Required value", ...
"""
import copy

from toycluster.api import validation_core, validation_ingress, validation_netpol
from toycluster.api.fields import (METADATA, FieldError, ManifestError, bad, check_dns, check_labels, get, show,
                                   type_name, unknown)
from toycluster.api.kinds import KINDS, NOT_APPLIED

_TOP = {"apiVersion", "kind", "metadata", "spec", "status"}
_OWN_TOP = {   # kinds whose fields are not spec and status: their top-level fields
    "ConfigMap": {"apiVersion", "kind", "metadata", "data", "binaryData", "immutable"},
    "ServiceAccount": {"apiVersion", "kind", "metadata", "secrets", "imagePullSecrets",
                       "automountServiceAccountToken"},
    "IngressClass": _TOP}
_LABEL_NAMED = {"Namespace", "Service"}  # names must be DNS-1123 labels; other kinds' are subdomains
_CHECKS = {"Pod": validation_core.check_pod, "Deployment": validation_core.check_workload,
           "ReplicaSet": validation_core.check_workload, "Service": validation_core.check_service,
           "Ingress": validation_ingress.check_ingress, "Secret": validation_ingress.check_secret,
           "NetworkPolicy": validation_netpol.check_networkpolicy, "Lease": validation_core.check_lease}


def label_error(labels: dict, path: str = "metadata.labels") -> str | None:
    """Why LABELS are not valid labels ("field: reason"), or None (for `toycluster label`)."""
    try:
        check_labels(labels, path)
    except FieldError as e:
        return ": ".join(e.args)
    return None


def _ident(doc, source):
    """'Deployment default/web', 'Namespace web', 'Pod (document 2)' or 'document 3'."""
    label = "document " + (source.rpartition("#")[2] if "#" in source else "1")
    kind = doc.get("kind") if isinstance(doc, dict) else None
    md = doc.get("metadata") if isinstance(doc, dict) else None
    name = md.get("name") if isinstance(md, dict) else None
    if not kind or not isinstance(kind, str):
        return label
    if not name or not isinstance(name, str):
        return f"{kind} ({label})"
    if not KINDS.get((doc.get("apiVersion"), kind), {"namespaced": True})["namespaced"]:
        return f"{kind} {name}"
    return f"{kind} {md.get('namespace') or 'default'}/{name}"


def validate(doc: dict, source: str) -> dict:
    """A normalised deep copy of doc with the API server's defaults filled in; raises ManifestError."""
    try:
        return _validate(copy.deepcopy(doc))
    except FieldError as e:
        raise ManifestError(source, _ident(doc, source), *e.args) from None


def _validate(doc):
    if not isinstance(doc, dict):
        raise FieldError("", f"must be a mapping with apiVersion, kind and metadata (got {type_name(doc)})")
    api, kind = get(doc, "", "apiVersion", str, True), get(doc, "", "kind", str, True)
    if (api, kind) in NOT_APPLIED:
        raise bad("kind", kind, NOT_APPLIED[(api, kind)])
    if (api, kind) not in KINDS:
        if versions := [a for a, k in KINDS if k == kind]:
            raise FieldError("apiVersion", f'no matches for kind "{kind}" in version "{api}": use "{versions[0]}"')
        supported = ", ".join(f"{a} {k}" for a, k in KINDS if (a, k) not in NOT_APPLIED)
        raise FieldError("kind", f'no matches for kind "{kind}" in version "{api}"; supported: {supported}')
    if (kind in _CHECKS and kind != "Secret") or kind == "Namespace":   # a Secret's own fields: its check
        unknown(doc, _TOP, "")
    if kind in _OWN_TOP:
        unknown(doc, _OWN_TOP[kind], "")
    unknown(md := get(doc, "", "metadata", dict, required=True), METADATA, "metadata")
    check_dns(get(md, "metadata", "name", str, True), "metadata.name", "label" if kind in _LABEL_NAMED else "subdomain")
    if KINDS[(api, kind)]["namespaced"]:
        md["namespace"] = md.get("namespace") or "default"
        check_dns(md["namespace"], "metadata.namespace")
    else:
        md.pop("namespace", None)
    if md.get("labels") is not None:
        check_labels(md["labels"], "metadata.labels")
    if md.get("annotations") is not None:
        check_labels(md["annotations"], "metadata.annotations", values=False)
    doc.pop("status", None)  # the API server ignores status on create
    if kind in _CHECKS:
        _CHECKS[kind](doc)
    return doc


def validate_all(pairs: list[tuple[str, dict]]) -> list[dict]:
    """Every object validated, or one ManifestError listing every bad object (a line each)."""
    out, errors, seen = [], [], {}
    for source, doc in pairs:
        try:
            out.append(obj := validate(doc, source))
        except ManifestError as e:
            errors.append(e)
            continue
        md = obj["metadata"]
        if (key := (obj["kind"], md.get("namespace"), md["name"])) in seen:
            errors.append(ManifestError(source, _ident(obj, source), "metadata.name",
                                        f"Duplicate value: {show(md['name'])}: also defined in {seen[key]}"))
        seen.setdefault(key, source)
    if len(errors) > 1:
        combined = ManifestError(errors[0].source, errors[0].obj, errors[0].field, errors[0].reason)
        combined.errors, combined.args = errors, ("\n".join(map(str, errors)),)
        raise combined
    if errors:
        raise errors[0]
    return out
