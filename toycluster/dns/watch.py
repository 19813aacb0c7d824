"""CoreDNS's kubernetes plugin, the API half: an informer on the objects the zone is built from.

It lists Services, EndpointSlices, Pods and Namespaces from the control plane's socket ($TOYCLUSTER_API),
long-polls /watch for changes, and keeps only what the zone needs; if the API goes away, what it last knew
stays, and it lists again when the API is back.
"""
from __future__ import annotations

from toycluster.api.informer import Informer
from toycluster.dns import log

KINDS = ("Service", "EndpointSlice", "Pod", "Namespace")
HEADLESS = "service.kubernetes.io/headless"   # on a headless Service's EndpointSlices (endpointslice.py)


def _trim(kind: str, obj: dict) -> dict | None:
    """What the zone needs of OBJ (None: nothing): pods only matter with a hostname and a subdomain, and
    EndpointSlices only for headless Services (a ClusterIP Service's name answers with its cluster IP, so its
    endpoints coming and going change nothing here)."""
    if kind == "EndpointSlice":
        return obj if HEADLESS in ((obj.get("metadata") or {}).get("labels") or {}) else None
    if kind == "Pod":
        spec = obj.get("spec") or {}
        if not (spec.get("hostname") and spec.get("subdomain")):
            return None
        return {"metadata": {"name": obj["metadata"]["name"], "namespace": obj["metadata"].get("namespace")},
                "spec": {"hostname": spec["hostname"], "subdomain": spec["subdomain"]}}
    if kind == "Namespace":
        return {"metadata": {"name": obj["metadata"]["name"]}}
    return obj


def ClusterWatch(api_path: str, on_change):     # noqa: N802 - it stands for the class it makes
    """client-go's informer on Services, EndpointSlices, Pods and Namespaces, logging as CoreDNS's kubernetes
    plugin does; on_change() is called after every batch of events that changed one of them."""
    say = lambda level, text: (log.error if level == "error" else log.info)(f"plugin/kubernetes: {text}")  # noqa: E731
    return Informer(api_path, KINDS, on_change, trim=_trim, name="coredns", say=say)
