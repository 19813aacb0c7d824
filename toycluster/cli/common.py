"""kubectl's client side shared by the verbs: the API client for --cluster, resource names, -f files, targets."""
import sys

from toycluster import config
from toycluster.api import client as apiclient
from toycluster.api import kinds, validation
from toycluster.api.manifests import load
from toycluster.cli import ingress
from toycluster.cluster import lifecycle, network
from toycluster.cluster.lifecycle import UsageError
from toycluster.node import dns_config


def client(args) -> apiclient.Client:
    if not lifecycle.exists(args.cluster):
        raise UsageError(f"cluster {args.cluster} does not exist: `toycluster up` makes it "
                         f"(clusters here: {', '.join(network.cluster_names()) or 'none'})")
    return apiclient.Client(args.cluster)


def kind_of(resource: str) -> str:
    try:
        return kinds.resource_for(resource)[1]
    except ValueError as e:
        raise UsageError(str(e)) from e


def manifests(args, as_written: bool = False) -> list[dict]:
    """The objects of -f, validated (a bad one: every error, nothing sent). AS_WRITTEN: as the files give them
    (their namespace filled in), which is what apply sends, so the server records the manifest as written."""
    if not args.filename:
        raise UsageError("must give -f FILE (a file, a folder, or - for standard input)")
    pairs = load(args.filename, stdin=sys.stdin)
    objs = validation.validate_all(pairs)
    if not as_written:
        return objs
    docs = []
    for (_, doc), obj in zip(pairs, objs):
        if obj["metadata"].get("namespace") and isinstance(doc.get("metadata"), dict):
            doc = {**doc, "metadata": {**doc["metadata"], "namespace": obj["metadata"]["namespace"]}}
        docs.append(doc)
    return docs


def pod_or_node(args, c, name: str):
    """(netns, hostname) of pod NAME in the namespace, or of node NAME."""
    pod = c.get("Pod", args.namespace, name)
    if pod is None:
        node = c.get("Node", "-", name)
        if node is None and (special := ingress.special_netns(args.cluster, name)):
            return special, name, None           # user, lb, dns, inet: the cloud's namespaces (cloud/lb.py)
        if node is None:
            raise UsageError(f'pods "{name}" not found in namespace "{args.namespace}" (and no node of that name)')
        return config.ClusterConfig.load(args.cluster).node_ns(int(name[4:])), name, None
    containers = [x["name"] for x in pod["spec"]["containers"]]
    if getattr(args, "container", None) and args.container not in containers:
        raise UsageError(f"container {args.container} is not valid for pod {name}: choose one of: {containers}")
    cfg = config.ClusterConfig.load(args.cluster)
    return cfg.pod_ns(args.namespace, name), dns_config.uts_hostname(pod), pod   # the kernel's, as the kubelet's
