"""Pure tests (no root) of kube-apiserver's bootstrap controller: the `kubernetes` Service in `default`, its Endpoints
and EndpointSlice; idempotent; the allocator never gives its address away; the EndpointSlice controller leaves a
selector-less Service's slices alone; kube-proxy and CoreDNS see it as upstream's."""
import pytest

from toycluster import config
from toycluster.api import allocators, bootstrap
from toycluster.api.store import Store
from toycluster.controllers.endpointslice import EndpointsController
from toycluster.dns.zone import build_zone
from toycluster.proxy.proxier import render
from toycluster.kernel.iptables_save import to_iptables_save

CFG = config.ClusterConfig(name="lab", service_cidr="10.96.0.0/12", node_cidr="192.168.50.0/24")


@pytest.fixture
def store():
    s = Store(None)
    assert bootstrap.ensure_kubernetes_service(s, CFG) == ["Service", "Endpoints", "EndpointSlice"]
    return s


def test_the_service_as_upstream_makes_it(store):
    svc = store.get("Service", "default", "kubernetes")
    assert svc["spec"]["clusterIP"] == "10.96.0.1" == bootstrap.service_ip(CFG)
    assert svc["spec"]["ports"] == [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]
    assert "selector" not in svc["spec"] and svc["spec"]["type"] == "ClusterIP"
    assert svc["metadata"]["labels"] == {"component": "apiserver", "provider": "kubernetes"}


def test_the_endpoint_slice_and_endpoints_point_at_node1_port_6443(store):
    sl = store.get("EndpointSlice", "default", "kubernetes")
    assert sl["addressType"] == "IPv4"
    assert sl["metadata"]["labels"] == {"kubernetes.io/service-name": "kubernetes"}
    assert sl["endpoints"] == [{"addresses": ["192.168.50.11"], "conditions": {"ready": True}}]
    assert sl["ports"] == [{"name": "https", "port": 6443, "protocol": "TCP"}]
    ep = store.get("Endpoints", "default", "kubernetes")
    assert ep["subsets"] == [{"addresses": [{"ip": "192.168.50.11"}],
                              "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]}]


def test_idempotent_and_repairing(store):
    rv = store.rv
    assert bootstrap.ensure_kubernetes_service(store, CFG) == [] and store.rv == rv, "nothing to write"
    uid = store.get("Service", "default", "kubernetes")["metadata"]["uid"]
    store.get("EndpointSlice", "default", "kubernetes")["endpoints"] = []
    store.delete("Endpoints", "default", "kubernetes")
    assert bootstrap.ensure_kubernetes_service(store, CFG) == ["Endpoints", "EndpointSlice"]
    assert store.get("EndpointSlice", "default", "kubernetes")["endpoints"][0]["addresses"] == ["192.168.50.11"]
    assert store.get("Service", "default", "kubernetes")["metadata"]["uid"] == uid
    store.delete("Service", "default", "kubernetes")
    assert bootstrap.ensure_kubernetes_service(store, CFG) == ["Service"]


def test_the_allocator_never_gives_the_first_address_away(store):
    registry = allocators.ServiceRegistry(CFG.service_cidr)
    for n in range(200):
        svc = {"kind": "Service", "metadata": {"namespace": "default", "name": f"s{n}"}, "spec": {"ports": []}}
        registry.admit(svc, None, store, [])
        assert svc["spec"]["clusterIP"] not in ("10.96.0.1", "10.96.0.10")
    taken = {"kind": "Service", "metadata": {"namespace": "default", "name": "mine"},
             "spec": {"clusterIP": "10.96.0.1", "ports": []}}
    with pytest.raises(Exception, match="already allocated"):
        registry.admit(taken, None, store, [])


def test_the_endpointslice_controller_leaves_a_selectorless_services_slices_alone(store):
    before = {k: dict(v) for k, v in store.objects.items()}
    controller = EndpointsController(store)
    controller.reconcile()
    store.put({"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": "default", "name": "p", "uid": "u"},
               "spec": {"containers": [{"name": "c"}]}, "status": {"podIP": "10.244.1.5"}})
    controller.reconcile()
    for kind in ("EndpointSlice", "Endpoints", "Service"):
        assert store.get(kind, "default", "kubernetes") == before[(kind, "default", "kubernetes")]
    assert [s["metadata"]["name"] for s in store.list("EndpointSlice")] == ["kubernetes"]


def test_kube_proxy_sends_the_service_to_node1_port_6443(store):
    state = render(store.list("Service"), store.list("EndpointSlice"), node_name="node2",
                   node_ip="192.168.50.12", cluster_cidr="10.244.0.0/16")
    text = to_iptables_save(state)
    assert '-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m comment --comment "default/kubernetes:https cluster IP"' in text
    assert "--to-destination 192.168.50.11:6443" in text


def test_cluster_dns_answers_kubernetes_default(store):
    zone = build_zone(store.list("Service"), store.list("EndpointSlice"), [])
    [a] = zone.rrsets("kubernetes.default.svc.cluster.local")[1]          # qtype 1: A
    assert str(a.rdata) == "10.96.0.1"
