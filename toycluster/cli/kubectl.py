"""kubectl's verbs: get, apply, delete, scale, wait, exec and logs, with kubectl's flags and messages."""
import os
import sys
import time

from toycluster import config
from toycluster.api import client as apiclient
from toycluster.api import kinds
from toycluster.cli import ingress, inputs, printers
from toycluster.cli.common import client, kind_of, manifests, pod_or_node
from toycluster.cluster.lifecycle import UsageError
from toycluster.kernel import nsfs


def cmd_get(args):
    sel = inputs.label_selector(args.selector)           # the arguments are checked before the API is asked
    groups = inputs.resource_args([args.resource, *args.names] if args.resource else [])
    if sel is not None and any(names for _, names in groups):
        raise UsageError("name cannot be provided when a selector is specified")
    c = client(args)
    rc = 0
    for resource, names in groups:
        kind = kind_of(resource)
        namespaced = kind not in ("Node", "Namespace")
        ns = None if args.all_namespaces or not namespaced else args.namespace
        if names:
            objs = []
            for name in names:
                obj = c.get(kind, ns or "-", name)
                if obj is None:
                    print(f'Error from server (NotFound): {kinds.KINDS[(kinds.resource_for(resource))]["resource"]}'
                          f' "{name}" not found', file=sys.stderr)
                    rc = 1
                else:
                    objs.append(obj)
        else:
            objs = inputs.matching(sel, c.list(kind, ns))
        if not objs and not names and args.output not in ("json", "yaml"):
            print(printers.no_resources(ns if namespaced else None, args.all_namespaces or not namespaced),
                  file=sys.stderr)
            continue
        try:
            sys.stdout.write(printers.render(args.output, kind, objs, single=len(names) == 1 and len(objs) == 1,
                                             all_namespaces=args.all_namespaces and namespaced,
                                             show_labels=args.show_labels))
        except ValueError as e:
            raise UsageError(str(e)) from e
    return rc


def cmd_apply(args):
    items = manifests(args, as_written=True)
    c = client(args)
    for line in c.apply(items):
        print(line)
    return 0


def cmd_delete(args):
    sel = inputs.label_selector(args.selector)
    if args.filename:
        if args.args or sel is not None:
            raise UsageError("delete -f FILE takes no resource names or -l selector as well")
        targets = [(o["kind"], o["metadata"].get("namespace", "-"), o["metadata"]["name"]) for o in manifests(args)]
        c = client(args)
    else:
        if not args.args:
            raise UsageError("delete needs -f FILE, or a resource and names (toycluster delete pod web-1), "
                             "or a resource and -l SELECTOR or --all")
        groups = inputs.resource_args(args.args, "delete")
        named = any(names for _, names in groups)
        if named and (sel is not None or args.all):
            raise UsageError("name cannot be provided when a selector is specified" if sel is not None
                             else "--all cannot be used with resource names")
        if not named and sel is None and not args.all:
            raise UsageError(f"resource(s) were provided, but no name was specified: give NAMES, -l SELECTOR "
                             f"or --all (toycluster delete {args.args[0]} NAME)")
        c = client(args)
        targets = []
        for resource, names in groups:
            kind = kind_of(resource)
            ns = "-" if kind in ("Node", "Namespace") else args.namespace
            found = [] if named else inputs.matching(sel, c.list(kind, None if ns == "-" else ns))
            targets += [(kind, ns, n) for n in names or [o["metadata"]["name"] for o in found]]
        if not targets:
            print("No resources found", file=sys.stderr)
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
    groups = inputs.resource_args([args.resource] + ([args.name] if args.name else []), "scale")
    if len(groups) != 1 or len(groups[0][1]) != 1:
        raise UsageError("scale needs one resource and one name: toycluster scale deployment web --replicas 3")
    (resource, (name,)), = groups
    if args.replicas < 0:
        raise UsageError(f"--replicas {args.replicas}: must be >= 0")
    print(client(args).scale(kind_of(resource), args.namespace, name, args.replicas))
    return 0


def cmd_wait(args):
    """kubectl wait --for=condition=Ready pod --all (or named pods, pod/NAME, or -l selector)."""
    cond = args.for_.removeprefix("condition=")
    if args.for_ == cond or not cond:
        raise UsageError(f"--for {args.for_}: only --for=condition=NAME is supported")
    timeout, sel = inputs.wait_timeout(args.timeout), inputs.label_selector(args.selector)
    groups = inputs.resource_args([args.resource, *args.names], "wait")
    if len(groups) != 1:
        raise UsageError("wait takes one resource type: toycluster wait --for=condition=Ready pod web")
    (resource, names), = groups
    if names and (sel is not None or args.all):
        raise UsageError("name cannot be provided when a selector or --all is specified")
    if not names and sel is None and not args.all:
        raise UsageError("resource(s) were provided, but no name was specified: give NAMES, -l SELECTOR or --all")
    kind = kind_of(resource)
    c, deadline = client(args), time.time() + timeout
    while True:
        objs = [c.get(kind, args.namespace, n) for n in names] if names else \
            inputs.matching(sel, c.list(kind, args.namespace))
        met = [o for o in objs if o and any(x["type"] == cond and x["status"] == "True"
                                            for x in o.get("status", {}).get("conditions", []))]
        if objs and len(met) == len(objs):
            for o in met:
                print(f"{printers.render('name', kind, [o], single=True).strip()} condition met")
            return 0
        if time.time() >= deadline:
            print(f"error: timed out waiting for the condition on {len(objs) - len(met)} of {len(objs)} "
                  f"{resource}", file=sys.stderr)
            return 1
        time.sleep(0.05)


def cmd_exec(args):
    if not args.command:
        raise UsageError("exec needs a command after --: toycluster exec POD -- ip addr")
    inputs.check_target(args.target)
    c = client(args)
    try:
        args.target, _ = inputs.attachable_pod(c, args.namespace, args.target, "exec into")
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
    from toycluster.lab import packets     # the venv's bin first on PATH: the pod's python3 has scapy
    os.environ["PATH"] = packets.exec_path(os.environ.get("PATH"))
    nsfs.enter_pod_netns(netns, hostname)
    try:
        os.execvp(args.command[0], args.command)
    except FileNotFoundError:
        print(f"exec: {args.command[0]}: executable file not found in $PATH", file=sys.stderr)
        return 127


def cmd_logs(args):
    inputs.check_target(args.target)
    c = client(args)
    args.target, found = inputs.attachable_pod(c, args.namespace, args.target, "print the logs of")
    if found > 1:
        print(f"Found {found} pods, using pod/{args.target}", file=sys.stderr)
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
    sp.add_argument("resource", nargs="?", help="TYPE[,TYPE...] [NAME...] or TYPE/NAME...")
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
            sp.add_argument("-l", "--selector")
            sp.add_argument("--all", action="store_true")
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
