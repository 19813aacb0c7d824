"""client-go's label selectors and the IngressClass: which objects a selector, or an ingress controller, picks.

label_selector_matches() is the LabelSelector semantics that validation, the controllers (ReplicaSets,
EndpointSlices), the network policy agent and the CLI share; ingress_class_matches() is the IngressClass check
that the ingress controller and the cloud controller (its load balancer address, its public DNS names) share.
"""
import re

INGRESS_CLASS = "nginx"  # the cluster's default IngressClass, served by ingress/


def label_selector_matches(selector: dict, labels: dict) -> bool:
    """LabelSelector semantics: {} matches everything, None nothing. For a Service's plain selector
    map, pass {"matchLabels": selector}."""
    if selector is None:
        return False
    labels = labels or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for ex in selector.get("matchExpressions") or []:
        key, op, values = ex["key"], ex["operator"], ex.get("values") or []
        ok = {"In": key in labels and labels[key] in values, "NotIn": key not in labels or labels[key] not in values,
              "Exists": key in labels, "DoesNotExist": key not in labels,
              "Gt": key in labels and values and _int(labels[key]) > _int(values[0]),
              "Lt": key in labels and values and _int(labels[key]) < _int(values[0])}.get(op)
        if ok is None:
            raise ValueError(f"unknown label selector operator {op!r}")
        if not ok:
            return False
    return True


def _int(text: str) -> float:
    """A label value as the integer Gt and Lt compare, as Go's strconv.ParseInt reads it (one that is not,
    "v2", " 1" or "1_0": never matches)."""
    if not re.fullmatch(r"[+-]?[0-9]+", text or "") or not -2 ** 63 <= int(text) < 2 ** 63:
        return float("nan")
    return int(text)


def ingress_class_matches(ing: dict, class_name: str = INGRESS_CLASS) -> bool:
    """Is the Ingress ING for the controller of CLASS_NAME? Yes if its spec.ingressClassName (or the older
    kubernetes.io/ingress.class annotation) names CLASS_NAME or names no class at all."""
    wanted = (ing.get("spec") or {}).get("ingressClassName") or \
        ((ing.get("metadata") or {}).get("annotations") or {}).get("kubernetes.io/ingress.class")
    return wanted in (None, "", class_name)
