"""kube-controller-manager's EndpointSlice and Endpoints controllers: which pods back each Service.

A pod backs a Service when the Service's selector matches its labels and it has an IP. Its endpoint is
`ready` when the pod's Ready condition is True (or the Service publishes not-ready addresses) and it is not
being deleted. A named targetPort is resolved per pod from its containers' ports; a pod that does not
declare the name gets no endpoint for that port (as upstream). Pods with the same resolved ports share one
slice, and one Endpoints subset.
"""
import copy
import random

from .controllers import POD_NAME_CHARS, owner_ref, pod_ready
from .objects import label_selector_matches

MANAGED_BY = "endpointslice-controller.k8s.io"


def resolve_port(pod: dict, svc_port: dict) -> int | None:
    target = svc_port.get("targetPort", svc_port["port"])
    if isinstance(target, int):
        return target
    proto = svc_port.get("protocol", "TCP")
    for c in pod["spec"]["containers"]:
        for p in c.get("ports", []):
            if p.get("name") == target and p.get("protocol", "TCP") == proto:
                return p["containerPort"]
    return None


def desired(svc: dict, pods: list[dict]) -> dict[tuple, list[dict]]:
    """Endpoints of SVC grouped by their resolved ports: {((name, port, protocol), ...): [endpoint, ...]}."""
    groups: dict[tuple, list[dict]] = {}
    publish = svc["spec"].get("publishNotReadyAddresses", False)
    selector = {"matchLabels": svc["spec"]["selector"]}
    for pod in pods:
        status = pod.get("status", {})
        if (not status.get("podIP") or status.get("phase") in ("Succeeded", "Failed")
                or not label_selector_matches(selector, pod["metadata"].get("labels", {}))):
            continue
        ports = tuple((p.get("name", ""), port, p.get("protocol", "TCP"))
                      for p in svc["spec"].get("ports", []) if (port := resolve_port(pod, p)) is not None)
        if svc["spec"].get("ports") and not ports:
            continue
        terminating = bool(pod["metadata"].get("deletionTimestamp"))
        ready = pod_ready(pod)
        groups.setdefault(ports, []).append({
            "addresses": [status["podIP"]],
            "conditions": {"ready": (ready or publish) and not terminating, "serving": ready or publish,
                           "terminating": terminating},
            "nodeName": pod["spec"].get("nodeName"),
            "targetRef": {"kind": "Pod", "name": pod["metadata"]["name"], "namespace": pod["metadata"]["namespace"],
                          "uid": pod["metadata"]["uid"]}})
    for eps in groups.values():
        eps.sort(key=lambda e: e["addresses"][0])
    return groups


def endpoints_object(svc: dict, groups: dict) -> dict:
    meta = svc["metadata"]
    labels = dict(meta.get("labels", {}))
    if svc["spec"].get("clusterIP") == "None":
        labels["service.kubernetes.io/headless"] = ""
    subsets = []
    for ports, eps in sorted(groups.items()):
        subset = {}
        for key, want in (("addresses", True), ("notReadyAddresses", False)):
            addrs = [{"ip": e["addresses"][0], "nodeName": e["nodeName"], "targetRef": e["targetRef"]}
                     for e in eps if e["conditions"]["ready"] == want and not e["conditions"]["terminating"]]
            if addrs:
                subset[key] = addrs
        if subset:
            subset["ports"] = [{"name": n, "port": p, "protocol": pr} if n else {"port": p, "protocol": pr}
                               for n, p, pr in ports]
            subsets.append(subset)
    obj = {"apiVersion": "v1", "kind": "Endpoints",
           "metadata": {"name": meta["name"], "namespace": meta["namespace"], **({"labels": labels} if labels else {}),
                        "ownerReferences": [owner_ref(svc)]}}
    if subsets:
        obj["subsets"] = subsets
    return obj


def slice_object(svc: dict, name: str, ports: tuple, eps: list[dict]) -> dict:
    meta = svc["metadata"]
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name, "namespace": meta["namespace"], "generateName": f"{meta['name']}-",
                         "labels": {"kubernetes.io/service-name": meta["name"],
                                    "endpointslice.kubernetes.io/managed-by": MANAGED_BY},
                         "ownerReferences": [owner_ref(svc)]},
            "addressType": "IPv4", "endpoints": eps,
            "ports": [{"name": n, "port": p, "protocol": pr} for n, p, pr in ports]}


class EndpointsController:
    def __init__(self, store):
        self.store = store

    def reconcile(self) -> None:
        for svc in self.store.list("Service"):
            if svc["spec"].get("type") != "ExternalName" and svc["spec"].get("selector"):
                self.sync(svc)

    def sync(self, svc: dict) -> None:
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        groups = desired(svc, self.store.list("Pod", ns))
        self._put(endpoints_object(svc, groups), self.store.get("Endpoints", ns, name))
        existing = {tuple((p["name"], p["port"], p["protocol"]) for p in s["ports"]): s
                    for s in self.store.list("EndpointSlice", ns)
                    if s["metadata"]["labels"].get("kubernetes.io/service-name") == name}
        if not groups:                       # upstream keeps one empty placeholder slice
            groups = {(): []}
        for ports, eps in groups.items():
            old = existing.pop(ports, None)
            slice_name = old["metadata"]["name"] if old else \
                f"{name}-{''.join(random.choice(POD_NAME_CHARS) for _ in range(5))}"
            self._put(slice_object(svc, slice_name, ports, eps), old)
        for stale in existing.values():
            self.store.delete("EndpointSlice", ns, stale["metadata"]["name"])

    def _put(self, want: dict, old: dict | None) -> None:
        if old is not None:
            merged = copy.deepcopy(old)
            merged.update({k: v for k, v in want.items() if k != "metadata"})
            merged["metadata"]["labels"] = want["metadata"].get("labels", {})
            if not merged["metadata"]["labels"]:
                del merged["metadata"]["labels"]
            if "subsets" not in want:
                merged.pop("subsets", None)
            if merged == old:
                return
            want = merged
        self.store.put(want)
