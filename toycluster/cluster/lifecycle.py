"""The cluster's lifecycle (what kind/minikube do): up, down and status; wires nodes, control plane and checks."""
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time

from toycluster import config

from toycluster.api import client as apiclient
from toycluster.cloud import lb
from toycluster.kernel import nsfs
from toycluster.cluster import network

COMPLETE = "up-complete"
NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,9}$")


class UsageError(Exception):
    """Bad input: the CLI prints it and exits with status 2, having changed nothing."""


def require_root() -> None:
    if os.geteuid() != 0:
        raise UsageError("toycluster builds network namespaces and must run as root (try: sudo toycluster ...)")


def check_name(name: str) -> None:
    if not NAME_RE.match(name):
        raise UsageError(f"cluster name {name!r}: must be 1-10 characters, lowercase letters, digits or '-', "
                         "starting with a letter (it prefixes every namespace and interface the cluster makes)")


def _ranges(cfg) -> dict[str, ipaddress.IPv4Network]:
    out = {}
    for label, value in (("--node-cidr", cfg.node_cidr), ("--pod-cidr", cfg.pod_cidr),
                         ("--service-cidr", cfg.service_cidr)):
        try:
            out[label] = ipaddress.ip_network(value)
        except ValueError as e:
            raise UsageError(f"{label} {value}: {e}") from e
    return out


def check_ranges(cfg, machine: bool = True) -> None:
    """Refuse ranges that are malformed, too small or overlap each other; with MACHINE, also those that
    overlap another cluster's or the machine's own routes."""
    mine = _ranges(cfg)
    if mine["--pod-cidr"].prefixlen > 24 - max(1, (cfg.nodes).bit_length()):
        raise UsageError(f"--pod-cidr {cfg.pod_cidr}: too small for {cfg.nodes} nodes with a /24 each")
    if mine["--node-cidr"].num_addresses < cfg.nodes + 13:
        raise UsageError(f"--node-cidr {cfg.node_cidr}: too small for {cfg.nodes} nodes (.11 upward, "
                         "the router at the last address)")
    if mine["--service-cidr"].num_addresses < 16:
        raise UsageError(f"--service-cidr {cfg.service_cidr}: too small (cluster DNS takes its .10)")
    labels = list(mine)
    for i, a in enumerate(labels):
        for b in labels[i + 1:]:
            if mine[a].overlaps(mine[b]):
                raise UsageError(f"{a} {mine[a]} overlaps {b} {mine[b]}")
    if not machine:
        return
    for other in network.cluster_names():
        if other == cfg.name:
            continue
        try:
            theirs = _ranges(config.ClusterConfig.load(other))
        except (OSError, ValueError, TypeError):
            continue
        for a, net in mine.items():
            for b, their in theirs.items():
                if net.overlaps(their):
                    raise UsageError(f"{a} {net} overlaps cluster {other}'s {b.lstrip('-')} {their}: "
                                     f"choose other ranges (e.g. --node-cidr 192.168.51.0/24 --pod-cidr 10.245.0.0/16)")
    ours = {f"{c}-host" for c in network.cluster_names()}
    with nsfs.iproute() as ipr:
        names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
        for route in ipr.get_routes(family=2, table=254):
            if route["dst_len"] == 0 or names.get(route.get_attr("RTA_OIF")) in ours:
                continue
            dst = ipaddress.ip_network(f"{route.get_attr('RTA_DST')}/{route['dst_len']}")
            for label, net in mine.items():
                if net.overlaps(dst):
                    raise UsageError(f"{label} {net} overlaps this machine's route to {dst} "
                                     f"(dev {names.get(route.get_attr('RTA_OIF'))}): choose another range")


def exists(name: str) -> bool:
    return name in network.cluster_names()


def up(cfg, dry_run: bool = False, out=sys.stdout) -> int:
    from toycluster.cluster import kubeconfig     # yaml and the PKI: only up and down need them
    check_name(cfg.name)
    if cfg.overlay not in ("host-gw", "vxlan"):
        raise UsageError(f"--overlay {cfg.overlay}: must be host-gw or vxlan")
    if not 1 <= cfg.nodes <= 50:
        raise UsageError(f"--nodes {cfg.nodes}: must be between 1 and 50")
    check_ranges(cfg, machine=False)          # well-formed and big enough, before anything uses them
    if problem := lb.check_cidr(cfg):
        raise UsageError(problem)
    steps = network.render(cfg)
    if dry_run:
        out.write("".join(network.as_ip_command(s) + "\n" for s in steps))
        return 0
    require_root()
    if exists(cfg.name):
        client = apiclient.Client(cfg.name, timeout=5)
        if client.healthy():
            raise UsageError(f"cluster {cfg.name} already exists and is running; left as it is "
                             f"(`toycluster down --name {cfg.name}` removes it)")
        if not os.path.exists(f"{cfg.state_dir}/{COMPLETE}") or not nsfs.netns_exists(cfg.net_ns):
            raise UsageError(f"cluster {cfg.name} is half-made (an interrupted up?): "
                             f"run `toycluster down --name {cfg.name}` first")
        cfg = config.ClusterConfig.load(cfg.name)
        start_control_plane(cfg)
        out.write(f"cluster {cfg.name}: control plane restarted; it adopted the pods that were running\n")
        return 0
    check_ranges(cfg)
    started = time.time()
    ca = _Background(lambda: _make_ca(cfg))
    try:
        cfg.save()
        ca.start()                    # the cluster CA is made while the nodes and the control plane come up
        network.apply(steps)
        start_control_plane(cfg)
        ca_path = ca.result()
        install_addons(cfg)
        wait_https(cfg)
        open(f"{cfg.state_dir}/{COMPLETE}", "w").close()     # an up killed before here left a half-made cluster
    except BaseException:
        if ca.is_alive():
            ca.join(30)                   # it writes the kubeconfig context: let it finish, then take it out
        network.teardown(cfg.name)
        _forget_context(cfg.name)
        raise
    out.write(f"cluster {cfg.name} is up: {cfg.nodes} nodes on {cfg.node_cidr} ({cfg.overlay}), "
              f"pods in {cfg.pod_cidr}, services in {cfg.service_cidr} ({time.time() - started:.2f}s)\n"
              f"this machine reaches the nodes through {cfg.host_link} ({cfg.host_ip})\n"
              f"the cloud load balancer is {lb.lb_ip(cfg)} on the internet segment {cfg.internet_cidr} "
              f"(`toycluster exec user -- curl http://HOST/`); ingress NodePorts 30080 (HTTP), 30443 (HTTPS)\n"
              f"cluster CA: {ca_path} (curl --cacert {ca_path})\n"
              f"kubectl: context {kubeconfig.context_name(cfg.name)} in {kubeconfig.user_config_path()} "
              f"(current), API at {kubeconfig.server_url(cfg)}; `kubectl get nodes`\n")
    warn_iptables(out)
    return 0


def start_control_plane(cfg) -> None:
    log = open(f"{cfg.state_dir}/controlplane.log", "a")
    subprocess.Popen([sys.executable, "-P", "-m", "toycluster.cluster.controlplane", cfg.name], stdin=subprocess.DEVNULL,
                     stdout=log, stderr=log, start_new_session=True, close_fds=True)
    client = apiclient.Client(cfg.name, timeout=5)
    deadline = time.time() + 15
    while not client.healthy():
        if time.time() > deadline:
            with open(f"{cfg.state_dir}/controlplane.log") as f:
                tail = "".join(f.readlines()[-15:])
            raise RuntimeError(f"the control plane of cluster {cfg.name} did not start:\n{tail}")
        time.sleep(0.01)


def install_addons(cfg, timeout: float = 20) -> None:
    """What kubeadm installs after the control plane: cluster DNS (CoreDNS behind kube-dns); and what a cloud
    cluster gets next: the ingress controller behind its NodePorts. Waits until both are ready and the cloud load
    balancer has seen the ingress NodePorts answer."""
    from toycluster.ingress import controller
    client = apiclient.Client(cfg.name)
    from toycluster.dns import coredns            # the add-ons' manifests: only up reads them
    client.apply(coredns.system_manifests(cfg) + controller.system_manifests(cfg))
    deadline = time.time() + timeout
    while True:
        pods = client.list("Pod", "kube-system") + client.list("Pod", "ingress")
        if len(pods) >= 2 and all(any(c["type"] == "Ready" and c["status"] == "True"
                                      for c in p.get("status", {}).get("conditions", [])) for p in pods) \
                and _lb_ready(cfg):
            return
        if time.time() > deadline:
            raise RuntimeError(f"cluster {cfg.name}: the kube-system and ingress pods did not become ready, or the "
                               f"load balancer saw no ingress NodePort answer, in {timeout:.0f}s "
                               f"(see {cfg.state_dir}/logs/)")
        time.sleep(0.01)


def wait_https(cfg, timeout: float = 10) -> None:
    """Until the Kubernetes API accepts connections on node1's address (it starts once the CA is made)."""
    import socket
    from toycluster.cluster import kubeconfig
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((cfg.node_ip(1), kubeconfig.API_PORT), timeout=1).close()
            return
        except OSError as e:
            if time.monotonic() > deadline:
                raise UsageError(f"the Kubernetes API did not come up on {kubeconfig.server_url(cfg)}: {e} "
                                 f"(see {cfg.state_dir}/controlplane.log)") from e
            time.sleep(0.02)


def _make_ca(cfg) -> str:
    from toycluster.api import pki                # cryptography: imported in the background, not on up's path
    from toycluster.cluster import kubeconfig
    path = pki.make_ca(cfg.state_dir, cfg.name)
    kubeconfig.write(cfg)                         # the API's certificates, its kubeconfig, the user's context
    return path


def _lb_ready(cfg) -> bool:
    """Every frontend of the cloud load balancer has a healthy node (its status file says so)."""
    try:
        with open(f"{cfg.state_dir}/lb/status.json") as f:
            fronts = json.load(f)["frontends"]
    except (OSError, ValueError, KeyError):
        return False
    return bool(fronts) and all(any(t["state"] == "healthy" for t in fe["targets"]) for fe in fronts)


class _Background(threading.Thread):
    """A function run in a thread; result() waits and returns its value or raises its exception."""

    def __init__(self, fn):
        super().__init__(daemon=True)
        self.fn, self.value, self.error = fn, None, None

    def run(self):
        try:
            self.value = self.fn()
        except BaseException as e:       # noqa: BLE001 - handed to result()
            self.error = e

    def result(self):
        self.join()
        if self.error is not None:
            raise self.error
        return self.value


def down(name: str, out=sys.stdout) -> int:
    check_name(name)
    require_root()
    if not exists(name):
        _forget_context(name, out)        # a context a half-finished up or down left behind
        raise UsageError(f"cluster {name} does not exist (clusters here: {', '.join(network.cluster_names()) or 'none'})")
    try:
        removed = network.teardown(name)
    finally:                              # even when the teardown fails: the context names a cluster going away
        _forget_context(name, out)
    out.write(f"cluster {name} removed ({', '.join(removed)})\n")
    return 0


def _forget_context(name: str, out=sys.stderr) -> None:
    """Take cluster NAME's context, cluster and user out of the user's kubeconfig (a warning if that fails)."""
    from toycluster.cluster import kubeconfig
    try:
        kubeconfig.remove(name)
    except (OSError, ValueError) as e:
        out.write(f"warning: kubeconfig: {e}\n")


def status(name: str, out=sys.stdout) -> int:
    names = network.cluster_names()
    if name not in names:
        out.write(f"cluster {name} is not up. Clusters on this machine: {', '.join(names) or 'none'}.\n")
        return 1
    client = apiclient.Client(name, timeout=5)
    try:
        cfg = config.ClusterConfig.load(name)
    except OSError:
        out.write(f"cluster {name} is half-made (namespaces without a state file): `toycluster down` removes it\n")
        return 1
    ns = nsfs.list_netns(f"{name}.")
    out.write(f"cluster {name}: {cfg.nodes} nodes on {cfg.node_cidr} ({cfg.overlay}), pods in {cfg.pod_cidr}, "
              f"services in {cfg.service_cidr}; {len(ns)} network namespaces.\n")
    if not client.healthy():
        out.write("The control plane is NOT running: pods keep serving, nothing is reconciled. "
                  "`toycluster up` restarts it and adopts what exists.\n")
        return 1
    pods = client.list("Pod")
    running = sum(p.get("status", {}).get("phase") == "Running" for p in pods)
    out.write(f"The control plane is running. {len(pods)} pods, {running} of them Running.\n")
    for n in range(1, cfg.nodes + 1):
        on = sum(p["spec"].get("nodeName") == f"node{n}" for p in pods)
        out.write(f"  node{n}: {cfg.node_ip(n)}, pod CIDR {cfg.pod_subnet(n)}, {on} pod{'s' * (on != 1)}\n")
    return 0


def warn_iptables(out=sys.stdout) -> None:
    """python-iptables writes legacy rules: say so if `iptables` would not show them."""
    iptables = shutil.which("iptables")
    if iptables and "nft" in os.path.realpath(iptables):
        out.write("note: `iptables` on this machine is the nf_tables variant and does not show the rules "
                  "toycluster writes; use iptables-legacy-save, or run scripts/setup to switch (it says how)\n")

