"""CNI: the bridge plugin with host-local IPAM (ADD / DEL / CHECK for one pod).

ADD gives the pod's network namespace an `eth0` (one end of a veth pair whose other end joins the
node's `cni0` bridge, hairpin on), an address from the node's pod CIDR and a default route via the
bridge. Addresses are leased the way host-local does: one file per address in a directory per node
holding the owner's id, and `last_reserved_ip.0` so that addresses are not reused at once.
"""
import contextlib
import errno
import hashlib
import ipaddress
import os

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from . import kernel

_sockets: dict = {}          # one netlink socket per node namespace, opened once
_bridges: dict = {}          # cni0's index per node namespace


def host_veth_name(pod_netns: str) -> str:
    """The node-side interface name: fits 15 characters whatever the pod is called (as Calico/flannel)."""
    return "veth" + hashlib.sha1(pod_netns.encode()).hexdigest()[:8]


# -- host-local IPAM (pure parts first) ------------------------------------------------------------

def next_free(subnet: str, used: set[str], last: str | None = None) -> str | None:
    """The first free address after LAST (wrapping round), skipping network, gateway and broadcast."""
    net = ipaddress.ip_network(subnet)
    hosts = [str(h) for h in net.hosts()][1:]              # .1 is the gateway
    start = hosts.index(last) + 1 if last in hosts else 0
    for ip in hosts[start:] + hosts[:start]:
        if ip not in used:
            return ip
    return None


class IPAM:
    """Leases for one node's pod subnet, kept on disk like host-local's /var/lib/cni/networks/."""

    def __init__(self, directory: str, subnet: str):
        self.dir, self.subnet = directory, subnet
        os.makedirs(directory, exist_ok=True)
        self.owners = {who: ip for ip, who in self.leases().items()}   # this process is the only writer

    def leases(self) -> dict[str, str]:
        out = {}
        for entry in os.listdir(self.dir):
            if entry[0].isdigit():
                with contextlib.suppress(FileNotFoundError), open(f"{self.dir}/{entry}") as f:
                    out[entry] = f.read().strip()
        return out

    def allocate(self, owner: str) -> str:
        if owner in self.owners:          # ADD repeated for the same pod: same address
            return self.owners[owner]
        last_file = f"{self.dir}/last_reserved_ip.0"
        last = open(last_file).read().strip() if os.path.exists(last_file) else None
        used = set(self.owners.values())
        while True:
            ip = next_free(self.subnet, used, last)
            if ip is None:
                raise RuntimeError(f"no free address left in {self.subnet} for {owner}")
            try:
                fd = os.open(f"{self.dir}/{ip}", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:       # taken meanwhile: try the next one
                used.add(ip)
                continue
            os.write(fd, owner.encode())
            os.close(fd)
            with open(last_file, "w") as f:
                f.write(ip)
            self.owners[owner] = ip
            return ip

    def release(self, owner: str) -> None:
        ip = self.owners.pop(owner, None)
        if ip:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{self.dir}/{ip}")


# -- the plugin ------------------------------------------------------------------------------------

def _node(node_netns: str):
    if node_netns not in _sockets:
        _sockets[node_netns] = kernel.iproute(node_netns)
    return _sockets[node_netns]


def forget_node(node_netns: str) -> None:
    _bridges.pop(node_netns, None)
    sock = _sockets.pop(node_netns, None)
    if sock:
        sock.close()


def add(node_netns: str, pod_netns: str, ipam: IPAM, owner: str, gateway: str) -> dict:
    """CNI ADD: plumb POD_NETNS into the node's cni0. Safe to repeat. Returns the CNI result."""
    ip = ipam.allocate(owner)
    veth = host_veth_name(pod_netns)
    node = _node(node_netns)
    try:
        fd = os.open(kernel.netns_path(pod_netns), os.O_RDONLY)
        try:   # in a fresh namespace lo is 1, so eth0 can be given index 2 and need no lookup
            node.link("add", ifname=veth, kind="veth", peer={"ifname": "eth0", "net_ns_fd": fd, "index": 2})
        except NetlinkError as e:
            if e.code != errno.EEXIST:
                raise
        finally:
            os.close(fd)
        index = node.link("get", ifname=veth)[0]["index"]
        node.link("set", index=index, master=_bridge(node_netns), state="up")
        node.brport("set", index=index, mode=1)            # hairpin: a pod may reach itself via a Service
        with kernel.in_netns(pod_netns):
            for key in ("all", "default"):                 # no IPv6 chatter in the learners' captures
                with open(f"/proc/sys/net/ipv6/conf/{key}/disable_ipv6", "w") as f:
                    f.write("1")
            pod = IPRoute()
        with pod:
            eth0 = pod.link("get", ifname="eth0")[0]["index"]
            pod.link("set", index=1, state="up")
            pod.addr("replace", index=eth0, address=ip, prefixlen=24)
            pod.link("set", index=eth0, state="up")
            pod.route("replace", dst="0.0.0.0/0", gateway=gateway)
    except Exception as e:
        delete(node_netns, pod_netns, ipam, owner)
        raise RuntimeError(f"CNI ADD for {pod_netns} ({veth} on {node_netns}): {e}") from e
    return {"cniVersion": "1.0.0", "interfaces": [{"name": veth}, {"name": "eth0", "sandbox": pod_netns}],
            "ips": [{"address": f"{ip}/24", "gateway": gateway, "interface": 1}]}


def _bridge(node_netns: str) -> int:
    if node_netns not in _bridges:
        _bridges[node_netns] = _node(node_netns).link("get", ifname="cni0")[0]["index"]
    return _bridges[node_netns]


def delete(node_netns: str, pod_netns: str, ipam: IPAM, owner: str) -> None:
    """CNI DEL: remove the veth and release the address. Safe to repeat; never fails on absence."""
    ipam.release(owner)
    with contextlib.suppress(Exception):
        node = _node(node_netns)
        for index in node.link_lookup(ifname=host_veth_name(pod_netns)):
            node.link("del", index=index)


def check(node_netns: str, pod_netns: str, ip: str) -> list[str]:
    """CNI CHECK: what is missing or wrong for this pod (an empty list means all is well)."""
    problems = []
    veth = host_veth_name(pod_netns)
    node = _node(node_netns)
    links = node.link_lookup(ifname=veth)
    if not links:
        return [f"{veth} is missing on {node_netns}"]
    link = node.get_links(links[0])[0]
    if link.get_attr("IFLA_MASTER") != node.link_lookup(ifname="cni0")[0]:
        problems.append(f"{veth} is not a port of cni0")
    if not kernel.netns_exists(pod_netns):
        return problems + [f"network namespace {pod_netns} is missing"]
    with kernel.in_netns(pod_netns), IPRoute() as pod:
        eth0 = pod.link_lookup(ifname="eth0")
        addrs = [a.get_attr("IFA_ADDRESS") for a in pod.get_addr(index=eth0[0])] if eth0 else []
        if ip not in addrs:
            problems.append(f"eth0 in {pod_netns} lacks {ip}")
        if not pod.get_routes(dst_len=0, table=254):
            problems.append(f"{pod_netns} has no default route")
    return problems
