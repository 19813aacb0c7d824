"""What a trace knows about the cluster: its config, the API objects, and the names of the places a packet visits.

State.load() reads the objects once (pods, Services, EndpointSlices, Ingresses, NetworkPolicies, Namespaces) and
the load balancer's status; then it answers the questions the live trace and `--explain` both ask: which pod,
Service or node owns an address, how a namespace is called in a table ("pod default/client", "node1", "load
balancer"), a node's rendered kube-proxy tables (cached), and where a source (`--from`) stands.
"""
from __future__ import annotations

import hashlib
import ipaddress
import json
from dataclasses import dataclass

from toycluster import config
from toycluster.api import client as apiclient
from toycluster.cloud import lb
from toycluster.cluster.lifecycle import UsageError, exists
from toycluster.kernel import nsfs
from toycluster.proxy import proxier

KINDS = ("Pod", "Service", "EndpointSlice", "Ingress", "NetworkPolicy", "Namespace")


@dataclass
class Source:
    """Where a request starts: its name as given, its namespace (None: the machine's own), its address."""
    name: str
    netns: str | None
    ip: str
    kind: str                       # pod, node, user, host
    node: str | None = None         # the node of a pod, or the node itself


def host_veth(pod_netns: str) -> str:
    """The pod's veth on its node, as node/cni.host_veth_name names it (that module imports pyroute2)."""
    return "veth" + hashlib.sha1(pod_netns.encode()).hexdigest()[:8]


class State:
    """The cluster as the trace sees it."""

    def __init__(self, cfg: config.ClusterConfig, objects: dict, lb_status: dict | None = None):
        self.cfg, self.objects, self.lb_status = cfg, objects, lb_status or {}
        self.pods = objects.get("Pod", [])
        self.services = objects.get("Service", [])
        self.slices = objects.get("EndpointSlice", [])
        self._proxy: dict[str, dict] = {}

    @classmethod
    def load(cls, cluster: str) -> "State":
        if not exists(cluster):
            raise UsageError(f"cluster {cluster} does not exist: `toycluster up` makes it")
        cfg = config.ClusterConfig.load(cluster)
        c = apiclient.Client(cluster)
        objects = {k: c.list(k) for k in KINDS}
        try:
            with open(f"{cfg.state_dir}/lb/status.json") as f:
                status = json.load(f)
        except (OSError, ValueError):
            status = {}
        return cls(cfg, objects, status)

    # -- who owns an address --
    def pod_by_ip(self, ip: str) -> dict | None:
        return next((p for p in self.pods if (p.get("status") or {}).get("podIP") == ip), None)

    def pod(self, namespace: str, name: str) -> dict | None:
        return next((p for p in self.pods if p["metadata"]["name"] == name
                     and p["metadata"].get("namespace", "default") == namespace), None)

    def service_by_ip(self, ip: str) -> dict | None:
        return next((s for s in self.services if (s.get("spec") or {}).get("clusterIP") == ip), None)

    def service(self, namespace: str, name: str) -> dict | None:
        return next((s for s in self.services if s["metadata"]["name"] == name
                     and s["metadata"].get("namespace", "default") == namespace), None)

    def node_by_ip(self, ip: str) -> int | None:
        return next((n for n in range(1, self.cfg.nodes + 1) if self.cfg.node_ip(n) == ip), None)

    def node_of_pod_ip(self, ip: str) -> int | None:
        """The node whose pod /24 holds IP (whether or not a pod has it now)."""
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return None
        return next((n for n in range(1, self.cfg.nodes + 1) if addr in self.cfg.pod_subnet(n)), None)

    def slice_of(self, namespace: str, service: str, ip: str) -> str | None:
        for sl in self.slices:
            meta = sl["metadata"]
            if meta.get("namespace", "default") == namespace and \
                    (meta.get("labels") or {}).get("kubernetes.io/service-name") == service and \
                    any(ip in (ep.get("addresses") or []) for ep in sl.get("endpoints") or []):
                return meta["name"]
        return None

    def describe_ip(self, ip: str) -> str:
        """'pod default/web-abc', 'Service default/web (ClusterIP)', 'node2', 'the load balancer', or the address."""
        pod = self.pod_by_ip(ip)
        if pod:
            return f"pod {pod['metadata'].get('namespace', 'default')}/{pod['metadata']['name']}"
        svc = self.service_by_ip(ip)
        if svc:
            return f"Service {svc['metadata'].get('namespace', 'default')}/{svc['metadata']['name']} (ClusterIP)"
        n = self.node_by_ip(ip)
        if n:
            return f"node{n}"
        names = {lb.lb_ip(self.cfg): "the load balancer", lb.lb_vpc_ip(self.cfg): "the load balancer",
                 lb.user_ip(self.cfg): "the user", lb.dns_ip(self.cfg): "the public DNS", self.cfg.host_ip: "host"}
        if ip in names:
            return names[ip]
        for fe in self.lb_status.get("frontends") or []:
            if fe.get("address") == ip:
                return f"load-balancer frontend {ip} ({fe.get('name')})"
        return ip

    # -- namespaces as a table names them --
    def where(self, netns: str | None) -> str:
        """'pod default/client', 'node1', 'node network', 'load balancer', 'user', 'host'."""
        if netns in (None, "host"):
            return "host"
        rest = netns[len(self.cfg.name) + 1:]
        if rest.startswith("pod."):
            ns, _, pod = rest[4:].partition(".")
            return f"pod {ns}/{pod}"
        return {"net": "node network", "lb": "load balancer", "user": "user", "dns": "public DNS",
                "inet": "internet"}.get(rest, rest)

    def node_of_netns(self, netns: str | None) -> int | None:
        rest = (netns or "")[len(self.cfg.name) + 1:]
        return int(rest[4:]) if rest.startswith("node") and rest[4:].isdigit() else None

    def links(self) -> dict:
        """(netns, interface) -> (netns, interface) at the other end of each veth the project made (both ways):
        pods' eth0 and their veths, the nodes', the balancer's and the host's legs on the node network, the
        cloud's on the internet segment. ("host" is the machine's own namespace.)"""
        cfg, pairs = self.cfg, []
        for p in self.pods:
            meta, node = p["metadata"], (p.get("spec") or {}).get("nodeName") or ""
            if node.startswith("node") and node[4:].isdigit():
                ns = cfg.pod_ns(meta.get("namespace", "default"), meta["name"])
                pairs.append(((ns, "eth0"), (cfg.node_ns(int(node[4:])), host_veth(ns))))
        pairs += [((cfg.node_ns(n), "eth0"), (cfg.net_ns, f"node{n}")) for n in range(1, cfg.nodes + 1)]
        pairs += [((lb.netns(cfg, "lb"), "eth0"), (cfg.net_ns, "lb")), (("host", cfg.host_link), (cfg.net_ns, "host"))]
        pairs += [((lb.netns(cfg, r), "eth1" if r == "lb" else "eth0"), (lb.netns(cfg, "inet"), r))
                  for r in ("lb", "user", "dns")]
        return {**dict(pairs), **{b: a for a, b in pairs}}

    def proxy_state(self, node: int) -> dict:
        """Node N's nat and filter tables as kube-proxy renders them (what it wrote into the kernel)."""
        if node not in self._proxy:
            self._proxy[node] = proxier.render(self.services, self.slices, node_name=f"node{node}",
                                               node_ip=self.cfg.node_ip(node), cluster_cidr=self.cfg.pod_cidr)
        return self._proxy[node]

    def lb_healthy(self) -> dict:
        """(node ip, nodePort) -> healthy?, from the balancer's status file."""
        out = {}
        for fe in self.lb_status.get("frontends") or []:
            for t in fe.get("targets") or []:
                ip, _, port = t["address"].rpartition(":")
                out[(ip, int(port))] = t.get("state") == "healthy"
        return out

    # -- the source of a request --
    def source(self, spec: str, namespace: str = "default", live: bool = True) -> Source:
        """`--from`: a pod (NAME or NS/NAME), nodeN, user or host. An unknown one is a UsageError naming it."""
        cfg = self.cfg
        if spec == "host":
            return Source("host", None, cfg.host_ip, "host")
        if spec in ("user",):
            return Source(spec, lb.netns(cfg, spec), lb.user_ip(cfg), spec)
        if spec.startswith("node") and spec[4:].isdigit():
            n = int(spec[4:])
            if not 1 <= n <= cfg.nodes:
                raise UsageError(f"{spec}: cluster {cfg.name} has nodes node1..node{cfg.nodes}")
            return Source(spec, cfg.node_ns(n), cfg.node_ip(n), "node", spec)
        ns, _, name = spec.rpartition("/")
        ns = ns or namespace
        if not any(o["metadata"]["name"] == ns for o in self.objects.get("Namespace", [])):
            raise UsageError(f'namespace "{ns}" not found')
        pod = self.pod(ns, name)
        if pod is None:
            raise UsageError(f'pods "{name}" not found in namespace "{ns}" (--from takes a pod, node1.., user or host)')
        ip = (pod.get("status") or {}).get("podIP")
        netns = cfg.pod_ns(ns, name)
        if not ip or (live and not nsfs.netns_exists(netns)):
            raise UsageError(f"pod {ns}/{name} has no IP or network namespace yet (is it Running?)")
        return Source(f"{ns}/{name}", netns, ip, "pod", (pod.get("spec") or {}).get("nodeName"))
