"""kube-apiserver's discovery: the kinds served here, their resource and short names, which are namespaced.

KINDS is keyed by (apiVersion, kind); resource_for() turns the word a user types ("po", "deploy",
"deployments.apps") into its kind, as kubectl's RESTMapper does.
"""


def _k(namespaced, resource, *short):
    return {"namespaced": namespaced, "resource": resource, "short": list(short)}


KINDS = {
    ("v1", "Namespace"): _k(False, "namespaces", "ns"),
    ("v1", "Node"): _k(False, "nodes", "no"),
    ("v1", "Pod"): _k(True, "pods", "po"),
    ("apps/v1", "Deployment"): _k(True, "deployments", "deploy"),
    ("apps/v1", "ReplicaSet"): _k(True, "replicasets", "rs"),
    ("v1", "Service"): _k(True, "services", "svc"),
    ("v1", "Endpoints"): _k(True, "endpoints", "ep"),
    ("discovery.k8s.io/v1", "EndpointSlice"): _k(True, "endpointslices"),
    ("networking.k8s.io/v1", "Ingress"): _k(True, "ingresses", "ing"),
    ("networking.k8s.io/v1", "NetworkPolicy"): _k(True, "networkpolicies", "netpol"),
    ("v1", "Secret"): _k(True, "secrets"),
    ("v1", "ConfigMap"): _k(True, "configmaps", "cm"),
    ("v1", "Event"): _k(True, "events", "ev"),
    ("networking.k8s.io/v1", "IngressClass"): _k(False, "ingressclasses"),
    ("v1", "ServiceAccount"): _k(True, "serviceaccounts", "sa"),
    ("coordination.k8s.io/v1", "Lease"): _k(True, "leases"),      # the kubelets' heartbeats, in kube-node-lease
}
KINDS_BY_KIND = {kind: {**info, "apiVersion": api} for (api, kind), info in KINDS.items()}  # kinds are unique
CLUSTER_SCOPED = {kind for (_, kind), info in KINDS.items() if not info["namespaced"]}
NOT_APPLIED = {("v1", "Node"): "nodes are made by `toycluster up`, not applied"}


def resource_for(name: str) -> tuple[str, str]:
    """CLI resource word ("pods", "po", "deploy", "deployments.apps", ...) -> (apiVersion, kind)."""
    word = name.strip().lower()
    for (api, kind), info in KINDS.items():
        words = {info["resource"], kind.lower(), *info["short"]}
        if word in words or ("/" in api and word in {f"{w}.{api.rpartition('/')[0]}" for w in words}):
            return api, kind
    known = ", ".join(" ".join([i["resource"], *i["short"]]) for i in KINDS.values())
    raise ValueError(f'the server doesn\'t have a resource type "{name}" (known: {known})')
