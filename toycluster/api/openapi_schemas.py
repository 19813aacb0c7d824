"""kube-apiserver's OpenAPI schemas: each kind's fields with their types and descriptions, for `kubectl explain`."""

DESCRIPTIONS = {
    "apiVersion": "APIVersion defines the versioned schema of this representation of an object.",
    "kind": "Kind is a string value representing the REST resource this object represents.",
    "metadata": "Standard object's metadata.",
    "spec": "Spec defines the desired state of the object.",
    "status": "Status is the most recently observed state of the object. Read-only: written by the cluster.",
}


def schemas(name: str, api: str, kind: str, gvk: dict) -> dict:
    """The schemas of KIND (the top one named NAME carrying GVK)."""
    props = {field: {"type": "object" if field not in ("apiVersion", "kind") else "string",
                     "description": text} for field, text in DESCRIPTIONS.items()}
    return {name: {"type": "object", "description": f"{kind} ({api}).", "properties": props, **gvk}}
