"""kubectl's verbs: get, apply, delete, scale, wait, exec and logs, with kubectl's flags and messages."""
import os
import sys
import time

from toycluster import config
from toycluster.api import client as apiclient
from toycluster.api import kinds, selectors
from toycluster.cli import ingress, printers
from toycluster.cli.common import client, kind_of, manifests, pod_or_node
from toycluster.cluster.lifecycle import UsageError
from toycluster.kernel import nsfs


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
                    print(f'Error from server (NotFound): {kinds.KINDS[(kinds.resource_for(resource))]["resource"]}'
                          f' "{name}" not found', file=sys.stderr)
                    rc = 1
                else:
                    objs.append(obj)
        else:
            objs = c.list(kind, ns)
        if args.selector:
            want = dict(kv.split("=", 1) for kv in args.selector.split(","))
            objs = [o for o in objs if selectors.label_selector_matches({"matchLabels": want},
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


def cmd_apply(args):
    items = manifests(args)
    c = client(args)
    for line in c.apply(items):
        print(line)
    return 0


def cmd_delete(args):
    c = client(args)
    if args.filename:
        targets = [(o["kind"], o["metadata"].get("namespace", "-"), o["metadata"]["name"]) for o in manifests(args)]
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
            objs = [o for o in objs if o and selectors.label_selector_matches({"matchLabels": want},
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


def cmd_exec(args):
    if not args.command:
        raise UsageError("exec needs a command after --: toycluster exec POD -- ip addr")
    c = client(args)
    try:
        netns, hostname, pod = pod_or_node(args, c, args.target)
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
    netns, _, pod = pod_or_node(args, c, args.target)
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


def register(verb) -> None:
    """Add kubectl's verbs to the `toycluster` parser (VERB(name, fn, help) adds one and returns it)."""
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
