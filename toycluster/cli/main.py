"""kubectl: the `toycluster` command — its parser and the verbs of its own: up, down, status and proxy-rules."""
import argparse
import os
import sys

from toycluster import config
from toycluster.api import client as apiclient
from toycluster.api import fields, validation_core
from toycluster.cli import ingress, kubectl, policy
from toycluster.cli import graph
from toycluster.cli import lab as lab_verb
from toycluster.cli import packets
from toycluster.cli import trace as trace_verb
from toycluster.cli.common import client, manifests
from toycluster.cluster import lifecycle
from toycluster.cluster.lifecycle import UsageError
from toycluster.node import workloads


# -- cluster lifecycle --
def cmd_up(args):
    cfg = config.ClusterConfig(name=args.cluster, nodes=args.nodes, node_cidr=args.node_cidr,
                              pod_cidr=args.pod_cidr, service_cidr=args.service_cidr, overlay=args.overlay,
                              dns_upstream=args.dns_upstream or "", internet_cidr=args.internet_cidr,
                              node_monitor_grace_period=args.node_monitor_grace_period,
                              default_unreachable_toleration_seconds=args.default_unreachable_toleration_seconds)
    return lifecycle.up(cfg, dry_run=args.dry_run)


def cmd_down(args):
    return lifecycle.down(args.cluster)


def cmd_status(args):
    return lifecycle.status(args.cluster)


def cmd_kubeconfig(args):
    """Print the cluster's kubeconfig (as `kind get kubeconfig`): kubectl --kubeconfig <(toycluster kubeconfig)."""
    from toycluster.cluster import kubeconfig
    if not lifecycle.exists(args.cluster):
        raise UsageError(f"cluster {args.cluster} does not exist: `toycluster up` makes it")
    try:
        with open(kubeconfig.paths(config.ClusterConfig.load(args.cluster))["kubeconfig"]) as f:
            sys.stdout.write(f.read())
    except FileNotFoundError:
        raise UsageError(f"cluster {args.cluster} has no kubeconfig yet (made by `toycluster up`)") from None
    return 0




def cmd_proxy_rules(args):
    """kube-proxy's rules for one node as iptables-save text, rendered from the API (never read from the
    kernel); with --dry-run -f FILE, as they would be once FILE's Services were applied."""
    from toycluster.api import allocators
    from toycluster.api import registry
    from toycluster.controllers import endpointslice
    from toycluster.proxy import proxier      # only this verb renders rules
    from toycluster.kernel.iptables_save import to_iptables_save
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
        api = registry.API(store, admit=[allocators.ServiceRegistry(cfg.service_cidr).admit])
        try:
            api.apply(manifests(args))
        except registry.APIError as e:
            raise UsageError(str(e)) from e
        endpointslice.EndpointsController(store).reconcile()
        services, slices = store.list("Service"), store.list("EndpointSlice")
    state = proxier.render(services, slices, node_name=node, node_ip=cfg.node_ip(int(node[4:])),
                              cluster_cidr=cfg.pod_cidr)
    sys.stdout.write(to_iptables_save(state))
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and a pointer to --help, as kubectl prints them (exit status 2)."""

    def error(self, message):
        self.exit(2, f"error: {message}\nSee '{self.prog} --help' for usage.\n")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="toycluster", description="A Kubernetes-networking lab in network namespaces.")
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
    ingress.node_lifecycle_flags(sp, config.ClusterConfig())
    sp.add_argument("--dry-run", action="store_true", help="print the ip commands instead")
    for name, fn, text in (("down", cmd_down, "remove a cluster"), ("status", cmd_status, "say what is up"),
                           ("kubeconfig", cmd_kubeconfig, "print the cluster's kubeconfig (for kubectl)")):
        verb(name, fn, text, namespaced=False).add_argument("--name", dest="cluster", default=argparse.SUPPRESS)
    kubectl.register(verb)            # get, apply, delete, scale, wait, exec, logs
    sp = verb("proxy-rules", cmd_proxy_rules, "print kube-proxy's rules for a node as iptables-save text")
    sp.add_argument("node", nargs="?")
    sp.add_argument("--dry-run", action="store_true", help="with -f: as they would be after applying FILE")
    sp.add_argument("-f", "--filename", action="append")
    policy.register(verb)             # label, policy why / rules (cli/policy.py)
    ingress.register(verb)            # node stop / start, lb, ca (cli/ingress.py)
    graph.register(verb)              # graph (cli/graph.py)
    packets.register(verb)            # scapy (cli/packets.py)
    trace_verb.register(verb)         # trace (cli/trace.py)
    lab_verb.register(verb)           # lab list / start / check / reset / solve (cli/lab.py)
    return p


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = []
    if "--" in argv:
        i = argv.index("--")
        argv, command = argv[:i], argv[i + 1:]
    args = parser().parse_args(argv)
    args.command = command
    validation_core.IMAGE_CHECK = workloads.check_image
    try:
        if not getattr(args, "dry_run", False):
            lifecycle.require_root()
        return args.fn(args) or 0
    except (UsageError, fields.ManifestError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except apiclient.APIRequestError as e:
        print(f"Error from server: {e}", file=sys.stderr)
        return 2 if 400 <= e.status < 500 and e.status != 404 else 1
    except apiclient.APIUnavailable as e:
        print(f"error: {e}; `toycluster up` restarts it", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:                      # `toycluster get pods | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
