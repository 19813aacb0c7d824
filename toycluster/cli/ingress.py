"""toycluster's verbs for the north-south path (registered by cli/main.parser):

    toycluster node stop NODE      take a node off the network: its eth0 loses its link (the node network's
                                   port to it goes down: a pulled cable), its addresses and routes stay; its
                                   kubelet can no longer reach the API server, so it stops posting heartbeats
                                   and the node lifecycle controller takes over (controllers/nodelifecycle.py)
    toycluster node start NODE     put it back: heartbeats resume, the node is Ready and untainted again
    toycluster lb                  the cloud load balancer: frontends, and each node's health as it sees it
    toycluster lb rules            its NAT rules, read from the kernel (iptables-legacy-save in <cluster>.lb)
    toycluster ca                  the path of the cluster CA's certificate (for curl --cacert)

and special_netns(), which lets `toycluster exec` enter the cloud's namespaces: user, lb, dns and inet;
node_lifecycle_flags(), `up`'s flags for what happens to a node that goes away.
"""
import argparse
import json
import os
import re
import shutil
import subprocess

from toycluster import config

from toycluster.cloud import lb
from toycluster.kernel import nsfs
from toycluster.cluster.lifecycle import UsageError, exists


def special_netns(cluster: str, name: str) -> str | None:
    """The network namespace of the cloud's part NAME (user, lb, dns, inet) of CLUSTER, if it exists."""
    if name not in lb.SPECIAL:
        return None
    ns = f"{cluster}.{name}"
    return ns if nsfs.netns_exists(ns) else None


def _cfg(args) -> config.ClusterConfig:
    if not exists(args.cluster):
        raise UsageError(f"cluster {args.cluster} does not exist: `toycluster up` makes it")
    return config.ClusterConfig.load(args.cluster)


def node_lifecycle_flags(sp, defaults: config.ClusterConfig) -> None:
    """`up --node-monitor-grace-period` (kube-controller-manager's flag) and `--default-unreachable-toleration-
    seconds` (kube-apiserver's, for its DefaultTolerationSeconds admission; the not-ready toleration gets it too)."""
    sp.add_argument("--node-monitor-grace-period", type=_grace, default=defaults.node_monitor_grace_period,
                    metavar="DURATION", help="how long a node may go without a heartbeat of its kubelet (lease "
                    f"or status) before it is NotReady (default {defaults.node_monitor_grace_period:g}s; upstream 40s)")
    seconds = defaults.default_unreachable_toleration_seconds
    sp.add_argument("--default-unreachable-toleration-seconds", type=_toleration, metavar="SECONDS",
                    default=seconds, help="how long pods stay on an unreachable node before they are evicted "
                    f"(default {seconds}; upstream 300)")


def _grace(text: str) -> float:
    """A Go duration (40s, 1m30s, 500ms) or plain seconds; at least 4 s, so a few heartbeats fit in it."""
    parts = re.findall(r"(\d+(?:\.\d*)?)(ms|s|m|h)", text)
    if re.fullmatch(r"\d+(\.\d*)?", text):
        seconds = float(text)
    elif parts and "".join(n + u for n, u in parts) == text:
        seconds = sum(float(n) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[u] for n, u in parts)
    else:
        raise argparse.ArgumentTypeError(f'invalid duration "{text}" (e.g. 10s, 1m, 40)')
    if seconds < 4:
        raise argparse.ArgumentTypeError(f"{text}: must be at least 4s (the kubelets post every quarter of it)")
    return seconds


def _toleration(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f'invalid number of seconds "{text}" (a whole number, 0 or more)')
    return int(text)


def cmd_node(args):
    cfg = _cfg(args)
    name = args.node
    if not (name.startswith("node") and name[4:].isdigit() and 1 <= int(name[4:]) <= cfg.nodes):
        raise UsageError(f"{name}: cluster {cfg.name} has nodes node1..node{cfg.nodes}")
    n, up = int(name[4:]), args.action == "start"
    with nsfs.iproute(cfg.net_ns) as ipr:                  # the node network's port to the node: its cable
        idx = ipr.link_lookup(ifname=name)
        if not idx:
            raise UsageError(f"the node network has no port {name} (is the cluster half-made?)")
        ipr.link("set", index=idx[0], state="up" if up else "down")
    port = f"`ip -n {cfg.net_ns} link set {name} {'up' if up else 'down'}`"
    grace, toleration = cfg.node_monitor_grace_period, cfg.default_unreachable_toleration_seconds
    if up:
        print(f"{name}: eth0 has its link back ({cfg.node_ip(n)}; {port}); the load balancer puts it back after "
              f"{lb.RISE} passed health check (within {lb.CHECK_INTERVAL:g} s). Its kubelet reaches the API server "
              f"again: its next heartbeat (within {max(1.0, grace / 4):g} s) makes it Ready, the node controller "
              "removes its taints, and pods it was told to delete meanwhile are stopped now.")
    else:
        print(f"{name}: eth0 link down: the node network's port to it is down ({port}), so {cfg.node_ip(n)} is "
              f"unreachable while the node keeps its addresses and routes. The load balancer takes it out after "
              f"{lb.FALL} failed health checks (one every {lb.CHECK_INTERVAL:g} s, "
              f"{lb.CHECK_TIMEOUT:g} s timeout). Its kubelet can no longer reach the API server: after "
              f"{grace:g} s without a heartbeat (--node-monitor-grace-period) the node controller marks it NotReady "
              f"(Ready Unknown), taints it node.kubernetes.io/unreachable and marks its pods NotReady, so they leave "
              f"their Services' endpoints; {toleration} s later (their toleration) they are evicted and their "
              f"ReplicaSets replace them on other nodes. `toycluster node start {name}` undoes it.")
    return 0


def cmd_lb(args):
    cfg = _cfg(args)
    lb_ns = lb.netns(cfg, "lb")
    if not nsfs.netns_exists(lb_ns):
        raise UsageError(f"cluster {cfg.name} has no load balancer (it was made before toycluster had one)")
    if args.what == "rules":
        tool = shutil.which("iptables-legacy-save") or shutil.which("iptables-save")
        print(f"# ip netns exec {lb_ns} {os.path.basename(tool)} -t nat", flush=True)
        return subprocess.run(["ip", "netns", "exec", lb_ns, tool, "-t", "nat"]).returncode
    try:
        with open(f"{cfg.state_dir}/lb/status.json") as f:
            doc = json.load(f)
    except (OSError, ValueError):
        raise UsageError(f"the load balancer of cluster {cfg.name} has written no status yet "
                         f"(its log: {cfg.state_dir}/logs/cloud-lb.log)") from None
    chk = doc["check"]
    print(f"load balancer {doc['address']} (internet) / {doc['vpcAddress']} (node network); health check: TCP connect "
          f"every {chk['interval']:g}s, timeout {chk['timeout']:g}s, out after {chk['fall']} failures, back after "
          f"{chk['rise']} success")
    rows = [("FRONTEND", "SERVICE", "NODEPORT", "TARGETS")]
    for fe in doc["frontends"]:
        targets = " ".join(f"{t['node']}={t['state']}" + (f"({t['why']})" if t["why"] and t["state"] != "healthy" else "")
                           for t in fe["targets"])
        rows.append((f"{fe['address']}:{fe['port']}", fe["name"], str(fe["nodePort"]), targets))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print("   ".join(c.ljust(w) for c, w in zip(r, widths)) + "   " + r[3])
    return 0


def cmd_ca(args):
    from toycluster.api import pki
    path = pki.ca_paths(_cfg(args).state_dir)[0]
    if not os.path.exists(path):
        raise UsageError(f"cluster {args.cluster} has no CA (it was made before toycluster made one)")
    print(path)
    return 0


def register(verb) -> None:
    sp = verb("node", cmd_node, "take a node off the network or put it back: node stop|start NODE", namespaced=False)
    sp.add_argument("action", choices=("stop", "start"))
    sp.add_argument("node")
    sp = verb("lb", cmd_lb, "the cloud load balancer: its frontends and node health; `lb rules`: its NAT rules",
              namespaced=False)
    sp.add_argument("what", nargs="?", default="status", choices=("status", "rules"))
    verb("ca", cmd_ca, "print the path of the cluster CA's certificate (curl --cacert PATH)", namespaced=False)


__all__ = ["register", "special_netns"]
