"""Pure tests (no root) of the address plan, the rendered node topology and host-local IPAM."""
import ipaddress

from toycluster import config

from toycluster.node import cni
from toycluster.node import dns_config
from toycluster.node import kubelet
from toycluster.cluster import network
from toycluster.node import runtime


def test_address_plan_matches_the_design():
    cfg = config.ClusterConfig()
    assert (cfg.node_ip(1), cfg.node_ip(2), cfg.host_ip) == ("192.168.50.11", "192.168.50.12", "192.168.50.1")
    assert str(cfg.pod_subnet(2)) == "10.244.2.0/24" and cfg.gateway(2) == "10.244.2.1"
    assert cfg.dns_ip() == "10.96.0.10"
    assert (cfg.net_ns, cfg.node_ns(1), cfg.pod_ns("default", "web")) == ("toy.net", "toy.node1", "toy.pod.default.web")
    assert cfg.host_link == "toy-host"


def test_host_gw_topology_as_ip_commands():
    cfg = config.ClusterConfig(name="lab", nodes=2)
    text = [network.as_ip_command(s) for s in network.render(cfg)]
    assert text[:3] == ["ip netns add lab.net", "ip netns exec lab.net sysctl -w net.ipv6.conf.all.disable_ipv6=1",
                        "ip -n lab.net link add br0 type bridge"]
    assert "ip link add lab-host type veth peer name host netns lab.net" in text
    assert "ip addr add 192.168.50.1/24 dev lab-host" in text
    assert "ip -n lab.net link add node2 type veth peer name eth0 netns lab.node2" in text
    assert "ip -n lab.node1 addr add 10.244.1.1/24 dev cni0" in text
    assert "ip -n lab.node1 route add 10.244.2.0/24 via 192.168.50.12" in text
    assert "ip -n lab.node2 route add 10.244.1.0/24 via 192.168.50.11" in text
    for key in ("net.ipv4.ip_forward", "net.bridge.bridge-nf-call-iptables", "net.ipv4.conf.all.route_localnet"):
        assert f"ip netns exec lab.node1 sysctl -w {key}=1" in text
    assert "ip -n lab.net addr add 192.168.50.254/24 dev br0" in text, "the node network's router"
    assert "ip netns exec lab.net sysctl -w net.ipv4.ip_forward=1" in text
    for n in (1, 2):                                   # a real node's default route, to that router
        assert f"ip -n lab.node{n} route add default via 192.168.50.254" in text
    assert network.router_ip(cfg) == "192.168.50.254"
    defaults = [t for t in text if "default" in t]
    assert len(defaults) == 2 and all("via 192.168.50.254" in t for t in defaults), \
        "nothing but the nodes' routes to the router, which has no way out of the machine"
    assert [t for t in text if t.startswith("ip -n lab.net route")] == [
        "ip -n lab.net route add 10.244.1.0/24 via 192.168.50.11",
        "ip -n lab.net route add 10.244.2.0/24 via 192.168.50.12"], "the router knows no way out of the cluster"


def test_vxlan_topology_uses_flannel_scheme():
    cfg = config.ClusterConfig(name="lab", nodes=3, overlay="vxlan")
    text = [network.as_ip_command(s) for s in network.render(cfg)]
    assert ("ip -n lab.node1 link add flannel.1 type vxlan id 1 local 192.168.50.11 dev eth0 dstport 8472 "
            "nolearning address 0e:7c:00:00:00:01") in text
    assert "ip -n lab.node1 route add 10.244.3.0/24 via 10.244.3.0 dev flannel.1 onlink" in text
    assert "bridge -n lab.node1 fdb append 0e:7c:00:00:00:03 dev flannel.1 dst 192.168.50.13" in text
    assert "ip -n lab.node1 neigh add 10.244.2.0 lladdr 0e:7c:00:00:00:02 dev flannel.1 nud permanent" in text
    node_routes = [t for t in text if " route " in t and "default" not in t and not t.startswith("ip -n lab.net ")]
    assert node_routes and not any("via 192.168.50" in t for t in node_routes), "pod ranges go over the VTEPs"


def test_host_veth_name_fits_15_characters_whatever_the_pod_is_called():
    long = config.ClusterConfig().pod_ns("a-very-long-namespace-name", "x" * 200)
    names = {cni.host_veth_name(long), cni.host_veth_name(long + "y"), cni.host_veth_name("toy.pod.default.web")}
    assert len(names) == 3 and all(len(n) <= 15 and n.startswith("veth") for n in names)


def test_next_free_starts_at_dot_2_and_skips_used_and_wraps():
    assert cni.next_free("10.244.1.0/24", set()) == "10.244.1.2"
    assert cni.next_free("10.244.1.0/24", {"10.244.1.2", "10.244.1.3"}) == "10.244.1.4"
    assert cni.next_free("10.244.1.0/24", set(), last="10.244.1.7") == "10.244.1.8"
    assert cni.next_free("10.244.1.0/24", set(), last="10.244.1.254") == "10.244.1.2"
    full = {str(h) for h in ipaddress.ip_network("10.244.1.0/29").hosts()}
    assert cni.next_free("10.244.1.0/29", full) is None


def test_ipam_leases_on_disk_like_host_local(tmp_path):
    ipam = cni.IPAM(str(tmp_path), "10.244.1.0/24")
    a, b = ipam.allocate("default/a"), ipam.allocate("default/b")
    assert (a, b) == ("10.244.1.2", "10.244.1.3")
    assert ipam.allocate("default/a") == a, "ADD repeated for one pod gives the same address"
    assert (tmp_path / a).read_text() == "default/a"
    assert (tmp_path / "last_reserved_ip.0").read_text() == b
    ipam.release("default/a")
    ipam.release("default/a")                       # DEL is safe to repeat
    assert not (tmp_path / a).exists()
    assert ipam.allocate("default/c") == "10.244.1.4", "a released address is not reused at once"
    again = cni.IPAM(str(tmp_path), "10.244.1.0/24")  # a restarted control plane reads the leases back
    assert again.allocate("default/b") == b


def test_kubelet_writes_resolv_conf_and_hosts_as_upstream():
    pod = {"metadata": {"name": "web", "namespace": "shop"}, "spec": {}}
    assert dns_config.resolv_conf(*dns_config.pod_dns(pod, ["10.96.0.10"], "")[0]) == (
        "search shop.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n")
    hosts = runtime.hosts_file("10.244.1.5", "db-0", "db-0.db.shop.svc.cluster.local")
    assert hosts.startswith("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n")
    assert hosts.endswith("10.244.1.5\tdb-0.db.shop.svc.cluster.local\tdb-0\n")
    assert [kubelet.backoff(n) for n in (1, 2, 3, 4, 10)] == [0, 10, 20, 40, 300]
