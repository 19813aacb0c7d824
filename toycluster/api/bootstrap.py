"""kube-apiserver's bootstrap controller: the `kubernetes` Service in `default` and its endpoints, kept by the API.

As upstream's kubernetesservice controller (pkg/controlplane/controller/kubernetesservice) with the endpoints
reconciler and its EndpointsAdapter: the Service `default/kubernetes` takes the service range's first address,
port 443 named `https` to targetPort 6443, and has no selector, so the EndpointSlice controller leaves it alone;
the API server itself writes its Endpoints `kubernetes` and its EndpointSlice `kubernetes` (addressType IPv4,
label kubernetes.io/service-name=kubernetes), one endpoint: the control-plane node's (node1's) address on the
node network, port 6443. ensure_kubernetes_service() makes or repairs all three, writes nothing when they are
as they should be, and runs again every RESYNC_SECONDS while the control plane's event loop runs (upstream's
10 s loop), so a deleted `kubernetes` Service comes back as it does upstream. The allocator
(allocators.ServiceRegistry) never hands the first address to another Service.
"""
import asyncio
import copy
import ipaddress
import sys

NAMESPACE, NAME = "default", "kubernetes"
PORT_NAME, SERVICE_PORT, API_PORT = "https", 443, 6443
RESYNC_SECONDS = 10.0
SKIP_MIRROR = "endpointslice.kubernetes.io/skip-mirror"   # upstream's mark: the mirroring controller skips it


def service_ip(cfg) -> str:
    """The `kubernetes` Service's ClusterIP: the first address of the service range."""
    return str(ipaddress.ip_network(cfg.service_cidr)[1])


def api_endpoint_ip(cfg) -> str:
    """Where the API server listens: the control-plane node's (node1's) address on the node network."""
    return cfg.node_ip(1)


def desired(cfg) -> list[dict]:
    """The Service, its Endpoints and its EndpointSlice as the bootstrap controller writes them."""
    ip, api_ip = service_ip(cfg), api_endpoint_ip(cfg)
    meta = {"name": NAME, "namespace": NAMESPACE}
    service = {"apiVersion": "v1", "kind": "Service",
               "metadata": {**meta, "labels": {"component": "apiserver", "provider": "kubernetes"}},
               "spec": {"type": "ClusterIP", "clusterIP": ip, "clusterIPs": [ip], "ipFamilies": ["IPv4"],
                        "ipFamilyPolicy": "SingleStack", "sessionAffinity": "None",
                        "internalTrafficPolicy": "Cluster",
                        "ports": [{"name": PORT_NAME, "port": SERVICE_PORT, "protocol": "TCP",
                                   "targetPort": API_PORT}]}}
    port = {"name": PORT_NAME, "port": API_PORT, "protocol": "TCP"}
    endpoints = {"apiVersion": "v1", "kind": "Endpoints",
                 "metadata": {**meta, "labels": {SKIP_MIRROR: "true"}},
                 "subsets": [{"addresses": [{"ip": api_ip}], "ports": [port]}]}
    endpoint_slice = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                      "metadata": {**meta, "labels": {"kubernetes.io/service-name": NAME}},
                      "addressType": "IPv4",
                      "endpoints": [{"addresses": [api_ip], "conditions": {"ready": True}}],
                      "ports": [dict(port)]}
    return [service, endpoints, endpoint_slice]


def _held_by_another(store, ip: str) -> str | None:
    """The namespace/name of a Service other than ours that holds IP (from before the controller existed)."""
    for svc in store.list("Service"):
        meta = svc["metadata"]
        mine = (meta.get("namespace"), meta["name"]) == (NAMESPACE, NAME)
        if not mine and (svc.get("spec") or {}).get("clusterIP") == ip:
            return f"{meta.get('namespace')}/{meta['name']}"
    return None


def _ensure(store, want: dict) -> bool:
    """Write WANT unless the store holds it already (its labels and every field but metadata); an existing
    object keeps its metadata (uid, creation time) but for the labels, and a Service its ClusterIP (which
    never changes once set, upstream's neither). Returns whether it wrote."""
    old = store.get(want["kind"], NAMESPACE, NAME)
    want = copy.deepcopy(want)
    if old is not None:
        if want["kind"] == "Service" and (old.get("spec") or {}).get("clusterIP"):
            want["spec"]["clusterIP"] = old["spec"]["clusterIP"]
            want["spec"]["clusterIPs"] = [old["spec"]["clusterIP"]]
        fields = {k: v for k, v in want.items() if k != "metadata"}
        if (old["metadata"].get("labels") or {}) == want["metadata"]["labels"] and \
                all(old.get(k) == v for k, v in fields.items()):
            return False
        want = {**copy.deepcopy(old), **fields,
                "metadata": {**copy.deepcopy(old["metadata"]), "labels": want["metadata"]["labels"]}}
    store.put(want)
    return True


def ensure_kubernetes_service(store, cfg, repeat: bool = True) -> list[str]:
    """Make the `kubernetes` Service, Endpoints and EndpointSlice in `default` as desired() says, changing
    nothing that is right already (safe to call any number of times). Returns the kinds it wrote. With REPEAT
    and an event loop running, runs again every RESYNC_SECONDS, as upstream's controller loop does."""
    written = []
    other = _held_by_another(store, service_ip(cfg))
    if other is not None:
        print(f"the kubernetes Service cannot take {service_ip(cfg)}: Service {other} holds it",
              file=sys.stderr, flush=True)
    else:
        written = [want["kind"] for want in desired(cfg) if _ensure(store, want)]
    if repeat:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return written
        loop.call_later(RESYNC_SECONDS, ensure_kubernetes_service, store, cfg)
    return written
