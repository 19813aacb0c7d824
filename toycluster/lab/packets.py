"""Scapy in any namespace: a thread enters a pod's, node's or the cloud's namespace; a pod's veth; sniffs over hops.

    import toycluster.lab.packets as tl
    from scapy.all import IP, TCP, sr1

    with tl.netns("client"):                       # a pod of the default namespace (or node1, user, lb, dns, inet)
        answer = sr1(IP(dst="10.96.0.10") / TCP(dport=53, flags="S"), timeout=2)
    packets = tl.sniff_hops([tl.veth_of("client"), ("web-abc12", "eth0")], filter="tcp port 80",
                            count=2, timeout=3, started_callback=lambda: ...)   # send from the callback

Names are read as `toycluster exec` reads its target: a pod in NAMESPACE first (or `namespace/pod`), then a node
(`node1`), then the cloud's parts (`user`, `lb`, `dns`, `inet`), then a namespace's own name (`toy.node1`); `host` is
the namespace this module was imported in (the machine's, from its shell). The cluster is the argument, else
$TOYCLUSTER, else `toy`, as for the CLI.

setns(2) moves one thread, never the process: `netns()` moves the calling thread and brings it back. A socket stays
in the namespace it was made in, so a scapy socket made inside the block (`conf.L2listen(iface="eth0")`) still
sends and receives there after it; `sniff_hops` opens each capture socket inside its namespace, then reads each
from a thread of its own.
Scapy reads its routes and interfaces once, at import, from the namespace it was imported in: `netns()` has it read
them again on the way in and out (so `IP(dst=...)` picks the pod's eth0 and address). That table is one per
process: two threads building packets in two namespaces at once would share it; `sniff_hops` never uses it.
"""
import contextlib
import os
import socket
import sys
import threading
import time
from typing import NamedTuple

from toycluster import config
from toycluster.cloud import lb
from toycluster.cluster import lifecycle
from toycluster.cluster.lifecycle import UsageError
from toycluster.kernel import nsfs

HOST = "host"                         # the machine's own network namespace: the one this module was imported in
_HOME = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)     # kept open for the process's life
HOST_PATH = f"/proc/self/fd/{_HOME}"  # (pid 1's namespace may be out of reach, in a container)
DEFAULT_TIMEOUT = 3.0                 # seconds a sniff_hops capture stays armed unless its counts fill first


class Hop(NamedTuple):
    """Where to sniff: a name netns() understands (`node1`, `client`, `toy.node1`) and an interface in it."""
    netns: str
    iface: str


class Target(NamedTuple):
    """A name resolved: the label it was given by, the network namespace's name ('' for the host) and its file."""
    label: str
    netns: str
    path: str


def cluster_of(cluster: str | None = None) -> str:
    """The cluster meant: CLUSTER, else $TOYCLUSTER, else `toy` (the CLI's default)."""
    return cluster or os.environ.get("TOYCLUSTER") or "toy"


def _config(cluster: str) -> config.ClusterConfig:
    if not lifecycle.exists(cluster):
        raise UsageError(f"cluster {cluster} does not exist: `toycluster up` makes it")
    return config.ClusterConfig.load(cluster)


def resolve(name: str, cluster: str | None = None, namespace: str = "default") -> Target:
    """The network namespace NAME stands for, read as `toycluster exec` reads its target (see the module's doc)."""
    if name == HOST:
        return Target(HOST, "", HOST_PATH)
    cluster = cluster_of(cluster)
    cfg = _config(cluster)
    pod_namespace, pod = name.split("/", 1) if "/" in name else (namespace, name)
    candidates = [cfg.pod_ns(pod_namespace, pod)]
    if "/" not in name:
        if name.startswith("node") and name[4:].isdigit() and 1 <= int(name[4:]) <= cfg.nodes:
            candidates.append(cfg.node_ns(int(name[4:])))
        if name in lb.SPECIAL:
            candidates.append(f"{cluster}.{name}")
        if name.startswith(cluster + "."):
            candidates.append(name)
    for ns in candidates:
        if nsfs.netns_exists(ns):
            return Target(name, ns, nsfs.netns_path(ns))
    raise UsageError(f'pods "{pod}" not found in namespace "{pod_namespace}" of cluster {cluster} (and no node or '
                     f'namespace of that name: nodes node1..node{cfg.nodes}, the cloud\'s {", ".join(lb.SPECIAL)}, '
                     f"or {HOST})")


@contextlib.contextmanager
def _entered(path: str):
    """The calling thread inside the network namespace whose file is PATH for the block; back where it was after."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(path, os.O_RDONLY)
        try:
            nsfs.setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            nsfs.setns(home)
    finally:
        os.close(home)


def sync_scapy() -> None:
    """Have scapy read routes, interfaces and neighbours again, in the namespace the calling thread is in now.
    Nothing to do before scapy is imported: it reads them at import."""
    if "scapy.route" not in sys.modules:
        return
    from scapy.config import conf
    conf.route.resync()
    if getattr(conf, "route6", None) is not None:
        conf.route6.resync()
    conf.ifaces.reload()
    conf.netcache.flush()


@contextlib.contextmanager
def netns(name: str, cluster: str | None = None, namespace: str = "default", scapy_routes: bool = True):
    """Run the calling thread in the network namespace NAME stands for (see resolve), then bring it back.
    Yields the namespace's name ('' for the host). With SCAPY_ROUTES, scapy's routes follow the thread in and out."""
    target = resolve(name, cluster, namespace)
    try:
        with _entered(target.path):
            if scapy_routes:
                sync_scapy()
            yield target.netns
    finally:
        if scapy_routes:
            sync_scapy()              # back home: scapy's routes again those of the namespace the thread is in


def has_iface(target: Target, iface: str) -> bool:
    """True if the namespace TARGET has an interface IFACE."""
    with _entered(target.path):
        try:
            socket.if_nametoindex(iface)
        except OSError:
            return False
    return True


def veth_of(pod: str, cluster: str | None = None, namespace: str = "default") -> Hop:
    """The pod's veth peer on its node, as a Hop (`node1`, `veth1bd5dbb2`): what the CNI plugin named it
    (node/cni.py: `veth` + 8 hex of a hash of the pod's netns name), found on the node that has it."""
    from toycluster.node import cni           # here, not above: cni imports pyroute2, which `exec` does without
    target = resolve(pod, cluster, namespace)
    cluster = cluster_of(cluster)
    cfg = _config(cluster)
    if not target.netns.startswith(f"{cluster}.pod."):
        raise UsageError(f"{pod} is not a pod ({target.netns or 'the host'}): only pods have a veth on a node")
    veth = cni.host_veth_name(target.netns)
    for n in range(1, cfg.nodes + 1):
        node = Target(f"node{n}", cfg.node_ns(n), nsfs.netns_path(cfg.node_ns(n)))
        if nsfs.netns_exists(node.netns) and has_iface(node, veth):
            return Hop(node.label, veth)
    raise UsageError(f"pod {pod} has no veth {veth} on any node of cluster {cluster} (is its sandbox half-made?)")


def open_captures(hops, filter: str | None, cluster: str | None, namespace: str) -> dict:
    """One scapy listening socket per hop, each opened inside its namespace (where it stays): {socket: label}.
    Any failure closes those already opened."""
    from scapy.config import conf
    sockets: dict = {}
    try:
        for where, iface in hops:
            target = resolve(where, cluster, namespace)
            if not has_iface(target, iface):
                raise UsageError(f"no interface {iface} in {where} ({target.netns or 'the host'})")
            with _entered(target.path):
                s = conf.L2listen(iface=iface, filter=filter, promisc=False)
            sockets[s] = f"{where}:{iface}"
    except BaseException:
        for s in sockets:
            s.close()
        raise
    return sockets


def sniff_hops(hops, filter: str | None = None, count: int = 0, timeout: float | None = DEFAULT_TIMEOUT,
               started_callback=None, cluster: str | None = None, namespace: str = "default"):
    """Sniff every (namespace, interface) of HOPS at once: one thread per interface running scapy's sniff on a
    socket opened in that namespace, with the BPF FILTER (tcpdump's syntax). Each stops after COUNT packets
    (0: no limit); all stop after TIMEOUT seconds (None: only the counts end it). STARTED_CALLBACK, if given, is
    called in the calling thread once every socket is armed (send the packets from it). Returns one scapy
    PacketList ordered by the kernel's receive timestamps; each packet's `sniffed_on` is `namespace:interface`.
    Sockets are closed and threads joined on every way out."""
    from scapy.plist import PacketList
    from scapy.sendrecv import AsyncSniffer
    if timeout is None and count <= 0:
        raise UsageError("sniff_hops needs a count or a timeout, or it would never end")
    sockets = open_captures(hops, filter, cluster, namespace)
    deadline = None if timeout is None else time.monotonic() + timeout
    sniffers = []
    try:
        for s, label in sockets.items():
            armed = threading.Event()
            sniffer = AsyncSniffer(opened_socket={s: label}, count=count, started_callback=armed.set)
            sniffers.append(sniffer)
            sniffer.start()
            while not armed.wait(0.05) and sniffer.thread.is_alive():
                pass                  # armed, or already dead (its exception is raised below)
        if started_callback is not None:
            started_callback()
        for sniffer in sniffers:
            sniffer.thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
    finally:
        packets, error = _stop(sniffers)
        for s in sockets:
            s.close()
    if error is not None:
        raise error
    return PacketList(sorted(packets, key=lambda p: float(p.time)), "Sniffed on hops")


def _stop(sniffers) -> tuple[list, BaseException | None]:
    """Stop the sniffers still running, join them all; what they caught, and the first one's error if any."""
    packets, error = [], None
    for sniffer in sniffers:
        if sniffer.thread.is_alive() and sniffer.running:
            with contextlib.suppress(Exception):
                sniffer.stop(join=False)
        sniffer.thread.join()
        packets += list(getattr(sniffer, "results", None) or [])
        error = error or sniffer.exception
    return packets, error


def exec_path(path: str | None) -> str:
    """The PATH a command run inside a pod gets from `toycluster exec`: the bin folder of the Python toycluster runs
    on (its venv) first, so that the pod's `python3` is one that has scapy (and `scapy` is a command), then PATH."""
    first = os.path.dirname(sys.executable)
    rest = [p for p in (path or "").split(os.pathsep) if p and p != first]
    return os.pathsep.join([first, *rest])
