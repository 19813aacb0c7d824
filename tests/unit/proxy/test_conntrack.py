"""Pure tests of kube-proxy's conntrack clean-up decisions (which UDP flows become stale)."""
from toycluster.proxy import conntrack


def svc(ports, vip="10.96.0.10"):
    return {"metadata": {"namespace": "kube-system", "name": "kube-dns"},
            "spec": {"clusterIP": vip, "ports": ports}}


def slice_(ips, ready=True):
    return {"metadata": {"namespace": "kube-system", "labels": {"kubernetes.io/service-name": "kube-dns"}},
            "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "conditions": {"ready": ready}} for ip in ips]}


PORTS = [{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]


def test_udp_endpoints_only_ready_udp_ports():
    assert conntrack.udp_endpoints([svc(PORTS)], [slice_(["10.244.1.5", "10.244.2.7"])]) == {
        ("10.96.0.10", 53, 0): {"10.244.1.5", "10.244.2.7"}}
    assert conntrack.udp_endpoints([svc(PORTS)], [slice_(["10.244.1.5"], ready=False)]) == {("10.96.0.10", 53, 0): set()}
    assert conntrack.udp_endpoints([svc(PORTS, vip="None")], [slice_(["10.244.1.5"])]) == {}


def test_a_removed_endpoint_loses_its_flows_and_a_first_endpoint_clears_the_vip():
    old = {("10.96.0.10", 53, 0): {"10.244.1.5", "10.244.2.7"}, ("10.96.5.5", 53, 30053): {"10.244.1.9"}}
    new = {("10.96.0.10", 53, 0): {"10.244.2.7"}, ("10.96.5.5", 53, 30053): set()}
    assert conntrack.stale_flows(old, new) == [
        ["-p", "udp", "--orig-dst", "10.96.0.10", "--dst-nat", "10.244.1.5"],
        ["-p", "udp", "--orig-dst", "10.96.5.5", "--dst-nat", "10.244.1.9"],
        ["-p", "udp", "--dport", "30053", "--dst-nat", "10.244.1.9"]]
    assert conntrack.stale_flows(new, old) == [["-p", "udp", "--orig-dst", "10.96.5.5"]]
    assert conntrack.stale_flows(old, old) == []
