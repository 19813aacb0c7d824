"""The cluster's configuration and where its state lives: kind's cluster config, the one leaf everything may import.

ClusterConfig holds a cluster's name and address plan, and derives every name from them (namespaces, the
host link, the state directory), so that each part of toycluster finds the others by name alone.
write_atomic() is the one way state files are written: a reader sees the old file or the new one, never half.
"""
import ipaddress
import json
import os
from dataclasses import asdict, dataclass

STATE_ROOT = "/var/lib/toycluster"


@dataclass
class ClusterConfig:
    name: str = "toy"
    nodes: int = 2
    node_cidr: str = "192.168.50.0/24"
    pod_cidr: str = "10.244.0.0/16"
    service_cidr: str = "10.96.0.0/12"
    overlay: str = "host-gw"            # or "vxlan"
    dns_upstream: str = ""
    internet_cidr: str = "203.0.113.0/24"   # the "internet" segment (lb.py); inside the cluster's namespaces
    node_monitor_grace_period: float = 10.0         # s without a kubelet heartbeat before Ready is Unknown (40)
    default_unreachable_toleration_seconds: int = 30  # the default toleration of an unreachable node (300)

    # -- names: every namespace and root-namespace link starts with the cluster's name --
    @property
    def net_ns(self) -> str:
        return f"{self.name}.net"

    def node_ns(self, n: int) -> str:
        return f"{self.name}.node{n}"

    def pod_ns(self, namespace: str, pod: str) -> str:
        return f"{self.name}.pod.{namespace}.{pod}"

    @property
    def host_link(self) -> str:
        return f"{self.name}-host"

    @property
    def state_dir(self) -> str:
        return f"{STATE_ROOT}/{self.name}"

    # -- the address plan --
    def node_ip(self, n: int) -> str:
        return str(ipaddress.ip_network(self.node_cidr)[10 + n])

    @property
    def host_ip(self) -> str:
        return str(ipaddress.ip_network(self.node_cidr)[1])

    @property
    def node_prefix(self) -> int:
        return ipaddress.ip_network(self.node_cidr).prefixlen

    def pod_subnet(self, n: int) -> ipaddress.IPv4Network:
        """Node N's /24: the Nth of the pod CIDR (node0's, the first, is never used)."""
        cidr = ipaddress.ip_network(self.pod_cidr)
        if cidr.prefixlen > 24 or not 0 <= n < 1 << (24 - cidr.prefixlen):
            raise IndexError(f"node{n} has no /24 in the pod CIDR {self.pod_cidr}")
        return ipaddress.ip_network((int(cidr.network_address) + (n << 8), 24))

    def gateway(self, n: int) -> str:
        return str(self.pod_subnet(n)[1])

    def dns_ip(self) -> str:
        return str(ipaddress.ip_network(self.service_cidr)[10])

    def save(self) -> None:
        os.makedirs(self.state_dir, exist_ok=True)
        write_atomic(f"{self.state_dir}/cluster.json", json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, name: str) -> "ClusterConfig":
        with open(f"{STATE_ROOT}/{name}/cluster.json") as f:
            return cls(**json.load(f))


def write_atomic(path: str, data: str | bytes, mode: int = 0o644, durable: bool = True) -> None:
    """Write DATA to PATH through a temporary file renamed over it (flushed to disk first when DURABLE)."""
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
        if durable:
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, path)
