"""Nodes and the node network (the cloud's VPC subnet): namespaces, links, routes, sysctls.

The topology is computed as data first (a list of steps, each printable as the `ip` command that
would do the same), then applied with pyroute2. Every object carries the cluster's name, so that
teardown() finds and removes exactly what a cluster made, even with its state file gone.
Each node has what a real node has, a default route to the node network's router (router_ip()); that
router knows no way off the cluster (its routes: the node network, each node's pod range via the node), so
the route leads nowhere off the machine.
"""
import contextlib
import ipaddress
import os
import shutil
import signal
import time

from toycluster.config import STATE_ROOT, ClusterConfig
from toycluster.kernel import nsfs, procs

VXLAN_DEV, VXLAN_VNI, VXLAN_PORT = "flannel.1", 1, 8472   # flannel's names, so docs transfer


def gateway_mac(n: int) -> str:
    """cni0's MAC, fixed: a bridge left to itself takes its lowest port's MAC, which changes as pods come
    and go, and pods holding the old gateway MAC in their ARP cache would lose their way for a while."""
    return f"0e:7c:01:00:{n >> 8:02x}:{n & 0xff:02x}"


def vtep_mac(n: int) -> str:
    return f"0e:7c:00:00:{n >> 8:02x}:{n & 0xff:02x}"


def router_ip(cfg: ClusterConfig) -> str:
    """The node network's router (the VPC router): its last usable address, held by br0 in <cluster>.net.
    That namespace forwards but has no route beyond the cluster, so whatever is sent its way (a node's default
    route: the internet, a Service IP no rule took) is answered "net unreachable"; nothing leaves the machine."""
    return str(ipaddress.ip_network(cfg.node_cidr)[-2])


def render(cfg: ClusterConfig) -> list[tuple]:
    """The whole node topology as data: one tuple per step, in the order they are applied."""
    net, prefix = cfg.net_ns, cfg.node_prefix
    steps = [("netns", net), ("sysctl", net, "net.ipv6.conf.all.disable_ipv6", 1),
             ("bridge", net, "br0"), ("up", net, "br0"),
             ("addr", net, "br0", f"{router_ip(cfg)}/{prefix}"), ("sysctl", net, "net.ipv4.ip_forward", 1),
             ("veth", None, cfg.host_link, net, "host"), ("master", net, "host", "br0"), ("up", net, "host"),
             ("addr", None, cfg.host_link, f"{cfg.host_ip}/{prefix}"), ("up", None, cfg.host_link)]
    for n in range(1, cfg.nodes + 1):
        ns = cfg.node_ns(n)
        steps += [("netns", ns), ("up", ns, "lo"),
                  ("sysctl", ns, "net.ipv6.conf.all.disable_ipv6", 1),
                  ("sysctl", ns, "net.ipv4.ip_forward", 1),
                  ("sysctl", ns, "net.bridge.bridge-nf-call-iptables", 1),
                  ("sysctl", ns, "net.ipv4.conf.all.route_localnet", 1),
                  ("veth", net, f"node{n}", ns, "eth0"), ("master", net, f"node{n}", "br0"),
                  ("up", net, f"node{n}"),
                  ("addr", ns, "eth0", f"{cfg.node_ip(n)}/{prefix}"), ("up", ns, "eth0"),
                  ("route", ns, "default", router_ip(cfg), None),      # a real node's default route
                  ("bridge", ns, "cni0", gateway_mac(n)), ("addr", ns, "cni0", f"{cfg.gateway(n)}/24"),
                  ("up", ns, "cni0")]
        if cfg.overlay == "vxlan":
            steps += [("vxlan", ns, VXLAN_DEV, VXLAN_VNI, cfg.node_ip(n), vtep_mac(n)),
                      ("addr", ns, VXLAN_DEV, f"{cfg.pod_subnet(n)[0]}/32"), ("up", ns, VXLAN_DEV)]
        for m in range(1, cfg.nodes + 1):
            if m == n:
                continue
            subnet = str(cfg.pod_subnet(m))
            if cfg.overlay == "vxlan":   # flannel's scheme: route via the peer's .0 on the VTEP, onlink
                peer_vtep = str(cfg.pod_subnet(m)[0])
                steps += [("neigh", ns, VXLAN_DEV, peer_vtep, vtep_mac(m)),
                          ("fdb", ns, VXLAN_DEV, vtep_mac(m), cfg.node_ip(m)),
                          ("route", ns, subnet, peer_vtep, VXLAN_DEV)]
            else:                        # host-gw: the other node is the next hop for its pods
                steps.append(("route", ns, subnet, cfg.node_ip(m), None))
    # the router's route table: each node's pod range via the node (as a routes-based VPC's), so that its
    # "net unreachable" answers find their way back to pods too; nothing beyond the cluster
    steps += [("route", net, str(cfg.pod_subnet(n)), cfg.node_ip(n), None) for n in range(1, cfg.nodes + 1)]
    from toycluster.cloud import lb; steps += lb.topology(cfg)   # noqa: E702 - the internet, the cloud LB, the user
    return steps


def as_ip_command(step: tuple) -> str:
    """The `ip` command a learner would type for STEP (what --dry-run prints)."""
    kind, ns, *rest = step
    n = f"-n {ns} " if ns else ""
    match kind:
        case "netns": return f"ip netns add {ns}"
        case "sysctl": return f"ip netns exec {ns} sysctl -w {rest[0]}={rest[1]}"
        case "bridge": return f"ip {n}link add {rest[0]}{' address ' + rest[1] if len(rest) > 1 else ''} type bridge"
        case "up": return f"ip {n}link set {rest[0]} up"
        case "veth": return f"ip {n}link add {rest[0]} type veth peer name {rest[2]} netns {rest[1]}"
        case "master": return f"ip {n}link set {rest[0]} master {rest[1]}"
        case "addr": return f"ip {n}addr add {rest[1]} dev {rest[0]}"
        case "vxlan": return (f"ip {n}link add {rest[0]} type vxlan id {rest[1]} local {rest[2]} dev eth0 "
                              f"dstport {VXLAN_PORT} nolearning address {rest[3]}")
        case "neigh": return f"ip {n}neigh add {rest[1]} lladdr {rest[2]} dev {rest[0]} nud permanent"
        case "fdb": return f"bridge {n}fdb append {rest[1]} dev {rest[0]} dst {rest[2]}"
        case "route":
            dev = f" dev {rest[2]} onlink" if rest[2] else ""
            return f"ip {n}route add {rest[0]} via {rest[1]}{dev}"
    raise ValueError(step)


def apply(steps: list[tuple]) -> None:
    """Carry out STEPS with pyroute2, one netlink socket per namespace."""
    sockets: dict = {}

    def ipr(ns):
        if ns not in sockets:
            sockets[ns] = nsfs.iproute(ns)
        return sockets[ns]

    def idx(ns, ifname):
        found = ipr(ns).link_lookup(ifname=ifname)
        if not found:
            raise RuntimeError(f"interface {ifname} not found in {ns or 'the root namespace'}")
        return found[0]

    try:
        for step in steps:
            kind, ns, *rest = step
            try:
                match kind:
                    case "netns": nsfs.create_netns(ns)
                    case "sysctl": nsfs.sysctl(ns, rest[0], rest[1])
                    case "bridge":
                        mac = {"address": rest[1]} if len(rest) > 1 else {}
                        ipr(ns).link("add", ifname=rest[0], kind="bridge", **mac)
                    case "up": ipr(ns).link("set", index=idx(ns, rest[0]), state="up")
                    case "veth":
                        fd = os.open(nsfs.netns_path(rest[1]), os.O_RDONLY)
                        try:
                            ipr(ns).link("add", ifname=rest[0], kind="veth",
                                         peer={"ifname": rest[2], "net_ns_fd": fd})
                        finally:
                            os.close(fd)
                    case "master": ipr(ns).link("set", index=idx(ns, rest[0]), master=idx(ns, rest[1]))
                    case "addr":
                        ip, plen = rest[1].split("/")
                        ipr(ns).addr("add", index=idx(ns, rest[0]), address=ip, prefixlen=int(plen))
                    case "vxlan":
                        ipr(ns).link("add", ifname=rest[0], kind="vxlan", vxlan_id=rest[1],
                                     vxlan_local=rest[2], vxlan_link=idx(ns, "eth0"),
                                     vxlan_port=VXLAN_PORT, vxlan_learning=0, address=rest[3])
                    case "neigh":
                        ipr(ns).neigh("add", dst=rest[1], lladdr=rest[2], ifindex=idx(ns, rest[0]),
                                      state="permanent")
                    case "fdb":
                        ipr(ns).fdb("append", ifindex=idx(ns, rest[0]), lladdr=rest[1], dst=rest[2])
                    case "route":
                        if rest[2]:
                            ipr(ns).route("add", dst=rest[0], gateway=rest[1], oif=idx(ns, rest[2]),
                                          flags=4)  # RTNH_F_ONLINK
                        else:
                            dst = "0.0.0.0/0" if rest[0] == "default" else rest[0]
                            ipr(ns).route("add", dst=dst, gateway=rest[1])
            except Exception as e:
                raise RuntimeError(f"{as_ip_command(step)}: {e}") from e
    finally:
        for s in sockets.values():
            s.close()


def cluster_names() -> list[str]:
    """Clusters known by their state directory or by a namespace pinned under their name."""
    names = set(os.listdir(STATE_ROOT)) if os.path.isdir(STATE_ROOT) else set()
    names |= {ns.split(".")[0] for ns in nsfs.list_netns() if ns.endswith(".net")}
    return sorted(names)


def teardown(name: str) -> list[str]:
    """Remove everything cluster NAME made, found by name alone. Returns what was removed."""
    removed = []
    killed = _kill_all(control_plane_pids(name))          # the supervisor first: it restarts what dies
    namespaces = nsfs.list_netns(f"{name}.")
    killed += _kill_all(nsfs.pids_in_netns(namespaces))
    if killed:
        removed.append(f"{killed} processes")
    with nsfs.iproute() as ipr:
        for link in ipr.link_lookup(ifname=f"{name}-host"):
            ipr.link("del", index=link)
            removed.append(f"link {name}-host")
    for ns in namespaces:
        nsfs.delete_netns(ns)
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(nsfs.etc_dir(ns))
    if namespaces:
        removed.append(f"{len(namespaces)} network namespaces")
    with contextlib.suppress(OSError):
        os.rmdir("/etc/netns")          # only if empty: other users' entries stay
    if os.path.isdir(f"{STATE_ROOT}/{name}"):
        shutil.rmtree(f"{STATE_ROOT}/{name}")
        removed.append(f"{STATE_ROOT}/{name}")
    return removed


def _kill_all(pids: list[int]) -> int:
    """SIGKILL PIDS and wait (up to 3 s) until they are gone; returns how many there were."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.time() + 3
    while time.time() < deadline and any(procs.alive(p) for p in pids):
        time.sleep(0.01)
    return len(pids)


def control_plane_pids(name: str) -> list[int]:
    """Processes whose command line says they are cluster NAME's control plane, runtime, kube-proxy or fork
    server."""
    wants = [f"toycluster.{part} {name} "
             for part in ("cluster.controlplane", "node.runtime", "node.zygote", "proxy.server",
                          "controlplane", "runtime", "zygote", "kube_proxy_server")]   # the last four: before 0.2
    wants += [f"toycluster {part} {name} " for part in ("runtime", "kube-proxy")]   # as forked
    return procs.pids_matching(wants)
