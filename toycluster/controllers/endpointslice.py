"""kube-controller-manager's EndpointSlice and Endpoints controllers: which pods back each Service.

A pod backs a Service when the Service's selector matches its labels and it has an IP. As upstream's
podToEndpoint: its endpoint is `serving` when the pod's Ready condition is True, `terminating` once it is
being deleted (it stays in the slice while it terminates), and `ready` when it serves and is not
terminating, or always if the Service publishes not-ready addresses. The Endpoints object (v1) leaves
terminating pods out unless the Service publishes not-ready addresses.
A named targetPort is resolved per pod from its containers' ports; a pod that does not declare the name
gets no endpoint for that port (as upstream). Pods with the same resolved ports share one slice, and one
Endpoints subset.
"""
import copy
import random

from toycluster.controllers.controller_utils import POD_NAME_CHARS, owner_ref, pod_ready
from toycluster.api.selectors import label_selector_matches

MANAGED_BY = "endpointslice-controller.k8s.io"
SERVICE_NAME = "kubernetes.io/service-name"    # the label naming an EndpointSlice's Service
HEADLESS = "service.kubernetes.io/headless"    # the label of a headless Service's Endpoints and EndpointSlices


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
        serving = pod_ready(pod)
        groups.setdefault(ports, []).append({
            "addresses": [status["podIP"]],
            "conditions": {"ready": publish or (serving and not terminating), "serving": serving,
                           "terminating": terminating},
            "nodeName": pod["spec"].get("nodeName"),
            "targetRef": {"kind": "Pod", "name": pod["metadata"]["name"], "namespace": pod["metadata"]["namespace"],
                          "uid": pod["metadata"]["uid"]}})
    for eps in groups.values():
        eps.sort(key=lambda e: e["addresses"][0])
    return groups


def service_labels(svc: dict) -> dict:
    """The labels upstream puts on a Service's Endpoints and EndpointSlices: the Service's own, and the
    headless marker if it has no cluster IP."""
    labels = {k: v for k, v in svc["metadata"].get("labels", {}).items() if k != HEADLESS}
    if svc["spec"].get("clusterIP") == "None":
        labels[HEADLESS] = ""
    return labels


def endpoints_object(svc: dict, groups: dict) -> dict:
    meta = svc["metadata"]
    labels = service_labels(svc)
    publish = svc["spec"].get("publishNotReadyAddresses", False)
    subsets = []
    for ports, eps in sorted(groups.items()):
        subset = {}
        for key, want in (("addresses", True), ("notReadyAddresses", False)):
            addrs = [{"ip": e["addresses"][0], "nodeName": e["nodeName"], "targetRef": e["targetRef"]}
                     for e in eps if e["conditions"]["ready"] == want
                     and (publish or not e["conditions"]["terminating"])]
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
                         "labels": {**service_labels(svc), SERVICE_NAME: meta["name"],
                                    "endpointslice.kubernetes.io/managed-by": MANAGED_BY},
                         "ownerReferences": [owner_ref(svc)]},
            "addressType": "IPv4", "endpoints": eps,
            "ports": [{"name": n, "port": p, "protocol": pr} for n, p, pr in ports]}


class EndpointsController:
    """Keeps every selector Service's Endpoints and EndpointSlices. As upstream's controller queues only
    the Services an event touches, a pass syncs only the Services whose object, slices or pods changed
    since the last pass (read from the store's watch log): a pod's event touches the Services of its
    namespace that select it now or that listed it before.  The first pass, and any pass after the
    log has moved past what was seen, syncs every Service.  A Service's slices are found through an
    index kept from the same events (upstream's controller reads them from its informer's index)."""

    def __init__(self, store):
        self.store = store
        self.seen: int | None = None                   # the store's version after the last pass
        self.listed: dict[tuple, set] = {}             # (namespace, pod) -> Services whose slices list it
        self.slices: dict[tuple, set] = {}             # (namespace, Service) -> names of its EndpointSlices

    def reconcile(self) -> None:
        services = self._touched()
        self.seen = self.store.rv
        if not services:
            return
        pods: dict[str, list] = {}
        for svc in services:
            ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
            if ns not in pods:
                pods[ns] = self.store.list("Pod", ns)
            slices = [self.store.get("EndpointSlice", ns, s) for s in sorted(self.slices.get((ns, name), ()))]
            self.sync(svc, pods[ns], [s for s in slices if s is not None])
        self.seen = self.store.rv                      # our own writes need no second look

    def _index(self, sl: dict, deleted: bool = False) -> None:
        meta = sl["metadata"]
        names = self.slices.setdefault((meta["namespace"], meta.get("labels", {}).get(SERVICE_NAME)), set())
        (names.discard if deleted else names.add)(meta["name"])

    def _touched(self) -> list[dict]:
        """The selector Services to sync in this pass."""
        everything = self.seen is None or not self.store.log_covers(self.seen)
        events = [] if everything else \
            self.store.events_since(self.seen, ("Service", "Pod", "EndpointSlice", "Endpoints"))
        if not everything and not events:               # a quiet pass reads no Service
            return []
        wanted = [s for s in self.store.list("Service")
                  if s["spec"].get("type") != "ExternalName" and s["spec"].get("selector")]
        if everything:
            self.slices = {}
            for sl in self.store.list("EndpointSlice"):
                self._index(sl)
            return wanted
        names: set[tuple] = set()
        labels_by_ns: dict[str, list] = {}             # the labels of the changed pods
        for e in events:
            obj = e["object"]
            meta, kind = obj["metadata"], obj["kind"]
            ns = meta.get("namespace", "default")
            if kind == "Pod":
                was = self.listed.pop((ns, meta["name"]), set()) if e["type"] == "DELETED" \
                    else self.listed.get((ns, meta["name"]), ())
                names |= {(ns, svc) for svc in was}
                labels_by_ns.setdefault(ns, []).append(meta.get("labels", {}).items())
            elif kind == "EndpointSlice":
                self._index(obj, deleted=e["type"] == "DELETED")
                names.add((ns, meta.get("labels", {}).get(SERVICE_NAME)))
            else:
                names.add((ns, meta["name"]))

        def touched(svc: dict) -> bool:      # a Service's selector selects the pods whose labels include it
            ns = svc["metadata"]["namespace"]
            return (ns, svc["metadata"]["name"]) in names or \
                any(svc["spec"]["selector"].items() <= labels for labels in labels_by_ns.get(ns, ()))
        return [s for s in wanted if touched(s)]

    def sync(self, svc: dict, pods: list[dict], slices: list[dict]) -> None:
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        groups = desired(svc, pods)
        for e in (e for eps in groups.values() for e in eps):
            self.listed.setdefault((ns, e["targetRef"]["name"]), set()).add(name)
        self._put(endpoints_object(svc, groups), self.store.get("Endpoints", ns, name))
        existing = {tuple((p["name"], p["port"], p["protocol"]) for p in s["ports"]): s for s in slices}
        if not groups:                       # upstream keeps one empty placeholder slice
            groups = {(): []}
        for ports, eps in groups.items():
            old = existing.pop(ports, None)
            slice_name = old["metadata"]["name"] if old else \
                f"{name}-{''.join(random.choice(POD_NAME_CHARS) for _ in range(5))}"
            self._index(self._put(slice_object(svc, slice_name, ports, eps), old))
        for stale in existing.values():
            self.store.delete("EndpointSlice", ns, stale["metadata"]["name"])
            self._index(stale, deleted=True)

    def _put(self, want: dict, old: dict | None) -> dict:
        """Write WANT over OLD (keeping OLD's metadata but for the labels) unless that changes nothing;
        returns what the store holds."""
        if old is not None:
            merged = {**old, **{k: v for k, v in want.items() if k != "metadata"}}
            merged["metadata"] = {k: v for k, v in old["metadata"].items() if k != "labels"}
            if want["metadata"].get("labels"):
                merged["metadata"]["labels"] = want["metadata"]["labels"]
            if "subsets" not in want:
                merged.pop("subsets", None)
            if merged == old:
                return old
            want = copy.deepcopy(merged)
        return self.store.put(want)
