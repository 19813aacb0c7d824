"""kubectl: the `toycluster` command — kubectl's verbs and columns, plus up, down and status for the cluster."""
import argparse
import os
import sys
import time

from toycluster import config

from toycluster.api import client as apiclient
from toycluster.cluster import lifecycle
from toycluster.kernel import nsfs
from toycluster.cluster import network
from toycluster.api import objects
from toycluster.cli import printers
from toycluster.node import workloads
from toycluster.cli import policy
from toycluster.cli import ingress
from toycluster.cluster.lifecycle import UsageError


def client(args) -> apiclient.Client:
    if not lifecycle.exists(args.cluster):
        raise UsageError(f"cluster {args.cluster} does not exist: `toycluster up` makes it "
                         f"(clusters here: {', '.join(network.cluster_names()) or 'none'})")
    return apiclient.Client(args.cluster)


def kind_of(resource: str) -> str:
    try:
        return objects.resource_for(resource)[1]
    except ValueError as e:
        raise UsageError(str(e)) from e


# -- cluster lifecycle --
def cmd_up(args):
    cfg = config.ClusterConfig(name=args.cluster, nodes=args.nodes, node_cidr=args.node_cidr,
                              pod_cidr=args.pod_cidr, service_cidr=args.service_cidr, overlay=args.overlay,
                              dns_upstream=args.dns_upstream or "", internet_cidr=args.internet_cidr)
    return lifecycle.up(cfg, dry_run=args.dry_run)


def cmd_down(args):
    return lifecycle.down(args.cluster)


def cmd_status(args):
    return lifecycle.status(args.cluster)


# -- kubectl verbs --
def cmd_get(args):
    c = client(args)
    rc = 0
    for resource in args.resource.split(","):
        kind = kind_of(resource)
        namespaced = kind not in ("Node", "Namespace")
        ns = None if args.all_namespaces or not namespaced else args.namespace
        if args.names:
            objs = []
            for name in args.names:
                obj = c.get(kind, ns or "-", name)
                if obj is None:
                    print(f'Error from server (NotFound): {objects.KINDS[(objects.resource_for(resource))]["resource"]}'
                          f' "{name}" not found', file=sys.stderr)
                    rc = 1
                else:
                    objs.append(obj)
        else:
            objs = c.list(kind, ns)
        if args.selector:
            want = dict(kv.split("=", 1) for kv in args.selector.split(","))
            objs = [o for o in objs if objects.label_selector_matches({"matchLabels": want},
                                                                      o["metadata"].get("labels", {}))]
        if not objs and not args.names and args.output not in ("json", "yaml"):
            print(printers.no_resources(ns if namespaced else None, args.all_namespaces or not namespaced),
                  file=sys.stderr)
            continue
        try:
            sys.stdout.write(printers.render(args.output, kind, objs, single=len(args.names) == 1 and len(objs) == 1,
                                             all_namespaces=args.all_namespaces and namespaced,
                                             show_labels=args.show_labels))
        except ValueError as e:
            raise UsageError(str(e)) from e
    return rc


def _manifests(args) -> list[dict]:
    if not args.filename:
        raise UsageError("must give -f FILE (a file, a folder, or - for standard input)")
    return objects.validate_all(objects.load(args.filename, stdin=sys.stdin))


def cmd_apply(args):
    items = _manifests(args)
    c = client(args)
    for line in c.apply(items):
        print(line)
    return 0


def cmd_delete(args):
    c = client(args)
    if args.filename:
        targets = [(o["kind"], o["metadata"].get("namespace", "-"), o["metadata"]["name"]) for o in _manifests(args)]
    else:
        if not args.args:
            raise UsageError("delete needs -f FILE, or a resource and names (toycluster delete pod web-1)")
        resource, *names = args.args
        if "/" in resource:
            resource, names = resource.split("/", 1)[0], [resource.split("/", 1)[1]] + names
        if not names:
            raise UsageError(f"delete {resource}: give at least one name")
        kind = kind_of(resource)
        targets = [(kind, args.namespace, n) for n in names]
    rc = 0
    for kind, ns, name in targets:
        try:
            print(c.delete(kind, ns, name))
        except apiclient.APIRequestError as e:
            print(f"Error from server: {e}", file=sys.stderr)
            rc = 1
    if args.wait:     # as kubectl: return once the objects are really gone
        deadline = time.time() + 30
        while time.time() < deadline and any(c.get(k, ns, n) for k, ns, n in targets):
            time.sleep(0.05)
    return rc


def cmd_scale(args):
    resource, name = (args.resource.split("/", 1) + [args.name])[:2] if "/" in args.resource else (args.resource, args.name)
    if not name:
        raise UsageError("scale needs a name: toycluster scale deployment web --replicas 3")
    if args.replicas < 0:
        raise UsageError(f"--replicas {args.replicas}: must be >= 0")
    print(client(args).scale(kind_of(resource), args.namespace, name, args.replicas))
    return 0


def cmd_wait(args):
    """kubectl wait --for=condition=Ready pod --all (or named pods, or -l selector)."""
    cond = args.for_.removeprefix("condition=")
    if args.for_ == cond:
        raise UsageError(f"--for {args.for_}: only --for=condition=NAME is supported")
    c, kind = client(args), kind_of(args.resource)
    deadline = time.time() + float(args.timeout.rstrip("s"))
    while True:
        objs = [c.get(kind, args.namespace, n) for n in args.names] if args.names else c.list(kind, args.namespace)
        if args.selector:
            want = dict(kv.split("=", 1) for kv in args.selector.split(","))
            objs = [o for o in objs if o and objects.label_selector_matches({"matchLabels": want},
                                                                            o["metadata"].get("labels", {}))]
        met = [o for o in objs if o and any(x["type"] == cond and x["status"] == "True"
                                            for x in o.get("status", {}).get("conditions", []))]
        if objs and len(met) == len(objs):
            for o in met:
                print(f"{printers.render('name', kind, [o], single=True).strip()} condition met")
            return 0
        if time.time() > deadline:
            print(f"error: timed out waiting for the condition on {len(objs) - len(met)} of {len(objs)} "
                  f"{args.resource}", file=sys.stderr)
            return 1
        time.sleep(0.05)


def _pod_or_node(args, c, name: str):
    """(netns, hostname) of pod NAME in the namespace, or of node NAME."""
    pod = c.get("Pod", args.namespace, name)
    if pod is None:
        node = c.get("Node", "-", name)
        if node is None and (special := ingress.special_netns(args.cluster, name)):
            return special, name, None           # user, lb, dns, inet: the cloud's namespaces (cloud_lb.py)
        if node is None:
            raise UsageError(f'pods "{name}" not found in namespace "{args.namespace}" (and no node of that name)')
        return config.ClusterConfig.load(args.cluster).node_ns(int(name[4:])), name, None
    containers = [x["name"] for x in pod["spec"]["containers"]]
    if getattr(args, "container", None) and args.container not in containers:
        raise UsageError(f"container {args.container} is not valid for pod {name}: choose one of: {containers}")
    cfg = config.ClusterConfig.load(args.cluster)
    return cfg.pod_ns(args.namespace, name), pod["spec"].get("hostname", name)[:63], pod


def cmd_exec(args):
    if not args.command:
        raise UsageError("exec needs a command after --: toycluster exec POD -- ip addr")
    c = client(args)
    try:
        netns, hostname, pod = _pod_or_node(args, c, args.target)
    except apiclient.APIUnavailable:      # the data plane outlives the control plane: go in by name
        cfg = config.ClusterConfig.load(args.cluster)
        node = args.target[4:].isdigit() and args.target.startswith("node")
        netns = cfg.node_ns(int(args.target[4:])) if node else cfg.pod_ns(args.namespace, args.target)
        if not node and not nsfs.netns_exists(netns):
            netns = ingress.special_netns(args.cluster, args.target) or netns
        if not nsfs.netns_exists(netns):
            raise
        print("warning: the control plane is not answering; entering the namespace directly", file=sys.stderr)
        hostname, pod = args.target, None
    if pod is not None and pod.get("status", {}).get("phase") != "Running":
        raise UsageError(f"cannot exec into pod {args.target}: it is {pod.get('status', {}).get('phase', 'Pending')}, "
                         "not Running")
    nsfs.enter_pod_netns(netns, hostname)
    try:
        os.execvp(args.command[0], args.command)
    except FileNotFoundError:
        print(f"exec: {args.command[0]}: executable file not found in $PATH", file=sys.stderr)
        return 127


def cmd_logs(args):
    c = client(args)
    netns, _, pod = _pod_or_node(args, c, args.target)
    if pod is None:
        raise UsageError(f"{args.target} is a node; logs are kept for pods")
    names = [x["name"] for x in pod["spec"]["containers"]]
    if not args.container and len(names) > 1:
        raise UsageError(f"a container name must be specified for pod {args.target}, choose one of: {names}")
    path = f"{config.STATE_ROOT}/{args.cluster}/logs/{args.namespace}_{args.target}/{args.container or names[0]}.log"
    if args.previous:
        path += ".previous"
    if not os.path.exists(path):
        raise UsageError(f"no {'previous ' if args.previous else ''}logs for pod {args.target} yet")
    with open(path, "rb") as f:
        lines = f.readlines()
        sys.stdout.buffer.write(b"".join(lines[-args.tail:] if args.tail >= 0 else lines))
        sys.stdout.flush()
        while args.follow and c.get("Pod", args.namespace, args.target):
            chunk = f.read()
            if chunk:
                sys.stdout.buffer.write(chunk)
                sys.stdout.flush()
            else:
                time.sleep(0.2)
    return 0


def cmd_proxy_rules(args):
    """kube-proxy's rules for one node as iptables-save text, rendered from the API (never read from the
    kernel); with --dry-run -f FILE, as they would be once FILE's Services were applied."""
    from toycluster.api import allocators
    from toycluster.api import server
    from toycluster.controllers import endpointslice
    from toycluster.proxy import proxier      # only this verb renders rules
    from toycluster.api.store import Store
    node = args.node or "node1"
    if not node.startswith("node") or not node[4:].isdigit():
        raise UsageError(f"{node}: give a node name such as node1")
    live = lifecycle.exists(args.cluster)
    cfg = config.ClusterConfig.load(args.cluster) if live else config.ClusterConfig(name=args.cluster)
    if int(node[4:]) > cfg.nodes:
        raise UsageError(f"cluster {args.cluster} has no {node} (nodes: node1..node{cfg.nodes})")
    services, slices, pods = ([], [], [])
    if live:
        c = client(args)
        services, slices, pods = c.list("Service"), c.list("EndpointSlice"), c.list("Pod")
    if args.dry_run or args.filename:
        store = Store(None)
        for obj in services + slices + pods:
            store.insert(obj)
        for ns in {o["metadata"]["namespace"] for o in services + pods} | {"default"}:
            store.insert({"kind": "Namespace", "metadata": {"name": ns}})
        api = server.API(store, admit=[allocators.ServiceRegistry(cfg.service_cidr).admit])
        try:
            api.apply(_manifests(args))
        except server.APIError as e:
            raise UsageError(str(e)) from e
        endpointslice.EndpointsController(store).reconcile()
        services, slices = store.list("Service"), store.list("EndpointSlice")
    state = proxier.render(services, slices, node_name=node, node_ip=cfg.node_ip(int(node[4:])),
                              cluster_cidr=cfg.pod_cidr)
    sys.stdout.write(proxier.to_iptables_save(state))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="toycluster", description="A Kubernetes-networking lab in network namespaces.")
    p.add_argument("--cluster", default=os.environ.get("TOYCLUSTER", "toy"),
                   help="which cluster (default: $TOYCLUSTER or 'toy')")
    sub = p.add_subparsers(dest="verb", required=True)

    def verb(name, fn, help_text, namespaced=True):
        sp = sub.add_parser(name, help=help_text)
        sp.set_defaults(fn=fn)
        if namespaced:
            sp.add_argument("-n", "--namespace", default="default")
        return sp

    sp = verb("up", cmd_up, "build a cluster", namespaced=False)
    sp.add_argument("--name", dest="cluster", default=argparse.SUPPRESS)
    sp.add_argument("--nodes", type=int, default=2)
    sp.add_argument("--overlay", default="host-gw", help="host-gw (routes) or vxlan")
    sp.add_argument("--node-cidr", default="192.168.50.0/24")
    sp.add_argument("--pod-cidr", default="10.244.0.0/16")
    sp.add_argument("--service-cidr", default="10.96.0.0/12")
    sp.add_argument("--dns-upstream", default="")
    sp.add_argument("--internet-cidr", default="203.0.113.0/24", help="the 'internet' segment (load balancer, user)")
    sp.add_argument("--dry-run", action="store_true", help="print the ip commands instead")
    for name, fn, text in (("down", cmd_down, "remove a cluster"), ("status", cmd_status, "say what is up")):
        verb(name, fn, text, namespaced=False).add_argument("--name", dest="cluster", default=argparse.SUPPRESS)
    sp = verb("get", cmd_get, "list objects, with kubectl's columns")
    sp.add_argument("resource")
    sp.add_argument("names", nargs="*")
    sp.add_argument("-A", "--all-namespaces", action="store_true")
    sp.add_argument("-o", "--output")
    sp.add_argument("-l", "--selector")
    sp.add_argument("--show-labels", action="store_true")
    for name, fn, text in (("apply", cmd_apply, "create or update objects from YAML"),
                           ("delete", cmd_delete, "delete objects")):
        sp = verb(name, fn, text)
        sp.add_argument("-f", "--filename", action="append")
        if name == "delete":
            sp.add_argument("args", nargs="*")
            sp.add_argument("--wait", default=True, type=lambda v: v.lower() != "false")
    sp = verb("scale", cmd_scale, "set a Deployment's replicas")
    sp.add_argument("resource")
    sp.add_argument("name", nargs="?")
    sp.add_argument("--replicas", type=int, required=True)
    sp = verb("wait", cmd_wait, "wait for a condition: wait --for=condition=Ready pod --all")
    sp.add_argument("resource")
    sp.add_argument("names", nargs="*")
    sp.add_argument("--for", dest="for_", required=True)
    sp.add_argument("--all", action="store_true")
    sp.add_argument("-l", "--selector")
    sp.add_argument("--timeout", default="30s")
    sp = verb("proxy-rules", cmd_proxy_rules, "print kube-proxy's rules for a node as iptables-save text")
    sp.add_argument("node", nargs="?")
    sp.add_argument("--dry-run", action="store_true", help="with -f: as they would be after applying FILE")
    sp.add_argument("-f", "--filename", action="append")
    sp = verb("exec", cmd_exec, "run a command inside a pod or node: exec POD -- CMD")
    sp.add_argument("target")
    sp.add_argument("-c", "--container")
    sp.add_argument("-i", "--stdin", action="store_true", help="accepted for kubectl habits")
    sp.add_argument("-t", "--tty", action="store_true", help="accepted for kubectl habits")
    sp = verb("logs", cmd_logs, "print a container's output")
    sp.add_argument("target")
    sp.add_argument("-c", "--container")
    sp.add_argument("-f", "--follow", action="store_true")
    sp.add_argument("-p", "--previous", action="store_true")
    sp.add_argument("--tail", type=int, default=-1)
    policy.register(verb)             # label, policy why / rules (toycluster/policy.py)
    ingress.register(verb)            # node stop / start, lb, ca (toycluster/ingress.py)
    return p


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = []
    if "--" in argv:
        i = argv.index("--")
        argv, command = argv[:i], argv[i + 1:]
    args = parser().parse_args(argv)
    args.command = command
    objects.IMAGE_CHECK = workloads.check_image
    try:
        if not getattr(args, "dry_run", False):
            lifecycle.require_root()
        return args.fn(args) or 0
    except (UsageError, objects.ManifestError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except apiclient.APIRequestError as e:
        print(f"Error from server: {e}", file=sys.stderr)
        return 2 if 400 <= e.status < 500 and e.status != 404 else 1
    except apiclient.APIUnavailable as e:
        print(f"error: {e}; `toycluster up` restarts it", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
