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

from toycluster.kernel import nsfs
from toycluster.kernel import rtnl

_sockets: dict = {}          # one netlink socket per node namespace, opened once (ADD)
_iproutes: dict = {}         # one pyroute2 IPRoute per node namespace, opened on first use (DEL, CHECK)
_bridges: dict = {}          # cni0's index per node namespace


def host_veth_name(pod_netns: str) -> str:
    """The node-side interface name: fits 15 characters whatever the pod is called (as Calico/flannel)."""
    return "veth" + hashlib.sha1(pod_netns.encode()).hexdigest()[:8]


# -- host-local IPAM (pure parts first) ------------------------------------------------------------

def next_free(subnet: str, used: set[str], last: str | None = None) -> str | None:
    """The first free address after LAST (wrapping round), skipping network, gateway and broadcast."""
    net = ipaddress.ip_network(subnet)
    first, count = int(net.network_address) + 2, net.num_addresses - 3      # .1 is the gateway
    if count <= 0:
        return None
    offset = int(ipaddress.ip_address(last)) - first if last else -1
    start = offset + 1 if 0 <= offset < count else 0
    for i in range(count):
        ip = str(ipaddress.ip_address(first + (start + i) % count))
        if ip not in used:
            return ip
    return None


class IPAM:
    """Leases for one node's pod subnet, kept on disk like host-local's /var/lib/cni/networks/."""

    def __init__(self, directory: str, subnet: str):
        self.dir, self.subnet = directory, subnet
        os.makedirs(directory, exist_ok=True)
        self.owners = {who: ip for ip, who in self.leases().items()}   # this process is the only writer
        self.last_file = f"{directory}/last_reserved_ip.0"
        self.last = open(self.last_file).read().strip() if os.path.exists(self.last_file) else None

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
        used = set(self.owners.values())
        while True:
            ip = next_free(self.subnet, used, self.last)
            if ip is None:
                raise RuntimeError(f"no free address left in {self.subnet} for {owner}")
            try:
                fd = os.open(f"{self.dir}/{ip}", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:       # taken meanwhile: try the next one
                used.add(ip)
                continue
            os.write(fd, owner.encode())
            os.close(fd)
            self._write_last(ip)
            self.owners[owner], self.last = ip, ip
            return ip

    def _write_last(self, ip: str) -> None:
        """last_reserved_ip.0 rewritten in place: ext4 flushes a file truncated to zero and rewritten when
        it is closed (its auto_da_alloc safeguard), which costs milliseconds a pod."""
        fd = os.open(self.last_file, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.pwrite(fd, ip.encode(), 0)
            os.ftruncate(fd, len(ip))
        finally:
            os.close(fd)

    def release(self, owner: str) -> None:
        ip = self.owners.pop(owner, None)
        if ip:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{self.dir}/{ip}")


# -- the plugin ------------------------------------------------------------------------------------

def _node(node_netns: str) -> rtnl.Socket:
    if node_netns not in _sockets:
        with nsfs.in_netns(node_netns):
            _sockets[node_netns] = rtnl.Socket(node_netns)
    return _sockets[node_netns]


def _iproute(node_netns: str):
    if node_netns not in _iproutes:
        _iproutes[node_netns] = nsfs.iproute(node_netns)
    return _iproutes[node_netns]


def add(node_netns: str, pod_netns: str, ipam: IPAM, owner: str, gateway: str) -> dict:
    """CNI ADD: plumb POD_NETNS into the node's cni0. Safe to repeat. Returns the CNI result.
    Three netlink batches (see rtnl.py): the veth, made on cni0 and up, its peer eth0 put straight into
    the pod; hairpin on the bridge port; the pod's lo and eth0 up, its address and default route."""
    ip = ipam.allocate(owner)
    veth = host_veth_name(pod_netns)
    node = _node(node_netns)
    try:
        fd = os.open(nsfs.netns_path(pod_netns), os.O_RDONLY)
        try:   # in a fresh namespace lo is 1, so eth0 can be given index 2 and need no lookup
            (code, index), = node.try_send([rtnl.veth(veth, _bridge(node_netns), "eth0", fd, peer_index=2)])
        finally:
            os.close(fd)
        if code not in (0, errno.EEXIST):
            raise OSError(code, f"ip link add {veth} type veth peer eth0 in {node_netns}: {os.strerror(code)}")
        index = index if code == 0 and index else node.link_index(veth)
        node.send([rtnl.hairpin(index)], f"bridge link set dev {veth} hairpin on")  # a pod may reach itself via a Service
        with nsfs.in_netns(pod_netns):
            for key in ("all", "default"):                 # no IPv6 chatter in the learners' captures
                with open(f"/proc/sys/net/ipv6/conf/{key}/disable_ipv6", "w") as f:
                    f.write("1")
            pod = rtnl.Socket(pod_netns)
        with pod:
            eth0 = 2 if code == 0 else pod.link_index("eth0")
            pod.send([rtnl.link_up(1), rtnl.link_up(eth0), rtnl.address(eth0, ip, 24), rtnl.default_route(gateway)],
                     f"eth0 {ip}/24 via {gateway}")
    except Exception as e:
        delete(node_netns, pod_netns, ipam, owner)
        raise RuntimeError(f"CNI ADD for {pod_netns} ({veth} on {node_netns}): {e}") from e
    return {"cniVersion": "1.0.0", "interfaces": [{"name": veth}, {"name": "eth0", "sandbox": pod_netns}],
            "ips": [{"address": f"{ip}/24", "gateway": gateway, "interface": 1}]}


def _bridge(node_netns: str) -> int:
    if node_netns not in _bridges:
        _bridges[node_netns] = _node(node_netns).link_index("cni0")
    return _bridges[node_netns]


def delete(node_netns: str, pod_netns: str, ipam: IPAM, owner: str) -> None:
    """CNI DEL: remove the veth and release the address. Safe to repeat; never fails on absence."""
    ipam.release(owner)
    with contextlib.suppress(Exception):
        node = _iproute(node_netns)
        for index in node.link_lookup(ifname=host_veth_name(pod_netns)):
            node.link("del", index=index)


def check(node_netns: str, pod_netns: str, ip: str) -> list[str]:
    """CNI CHECK: what is missing or wrong for this pod (an empty list means all is well)."""
    problems = []
    veth = host_veth_name(pod_netns)
    node = _iproute(node_netns)
    links = node.link_lookup(ifname=veth)
    if not links:
        return [f"{veth} is missing on {node_netns}"]
    link = node.get_links(links[0])[0]
    if link.get_attr("IFLA_MASTER") != node.link_lookup(ifname="cni0")[0]:
        problems.append(f"{veth} is not a port of cni0")
    if not nsfs.netns_exists(pod_netns):
        return problems + [f"network namespace {pod_netns} is missing"]
    with nsfs.in_netns(pod_netns), IPRoute() as pod:
        eth0 = pod.link_lookup(ifname="eth0")
        addrs = [a.get_attr("IFA_ADDRESS") for a in pod.get_addr(index=eth0[0])] if eth0 else []
        if ip not in addrs:
            problems.append(f"eth0 in {pod_netns} lacks {ip}")
        if not pod.get_routes(dst_len=0, table=254):
            problems.append(f"{pod_netns} has no default route")
    return problems
