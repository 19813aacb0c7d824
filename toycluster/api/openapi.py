"""kube-apiserver's OpenAPI documents (/openapi/v2, /openapi/v3): what kubectl reads for `apply` and `explain`."""


def document(parts: list[str]):
    """The document at /openapi/PARTS, or None (404)."""
    return None
