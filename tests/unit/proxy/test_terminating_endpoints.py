"""Pure tests of kube-proxy's choice among terminating endpoints (upstream's CategorizeEndpoints): no new
connection goes to a terminating endpoint while a ready one exists; when none is ready the serving
terminating ones are used (the fallback); a terminating endpoint that no longer serves is never used."""
from toycluster.proxy.names import endpoint_chain_name, port_proto_hash, service_port_name
from toycluster.proxy.proxier import render
from toycluster.proxy.service_ports import categorize_endpoints, endpoints_by_port, service_ports

NODE1 = dict(node_name="node1", node_ip="192.168.50.11", cluster_cidr="10.244.0.0/16")
PORT = [{"name": "http", "port": 8080, "protocol": "TCP"}]


def service(**spec):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": "default", "name": "web"},
            "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.77",
                     "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}], **spec}}


def ep(ip, node="node2", ready=True, serving=True, terminating=False):
    return {"addresses": [ip], "nodeName": node,
            "conditions": {"ready": ready, "serving": serving, "terminating": terminating}}


def going(ip, node="node2", serving=True):
    return ep(ip, node, ready=False, serving=serving, terminating=True)


def chosen(svc, endpoints):
    """(cluster endpoints, local endpoints, reachable, any) as "ip" lists for SVC's one port."""
    sl = {"metadata": {"namespace": "default", "name": "web-abcde",
                       "labels": {"kubernetes.io/service-name": "web"}}, "addressType": "IPv4",
          "endpoints": endpoints, "ports": PORT}
    sp = service_ports([svc])[0]
    eps = endpoints_by_port([sl], "node1").get(sp["key"], [])
    cluster, local, reachable, has_any = categorize_endpoints(eps, sp)
    return [e["ip"] for e in cluster], [e["ip"] for e in local], [e["ip"] for e in reachable], has_any


def svc_jumps(endpoints, svc=None):
    """The endpoint chains the Service's KUBE-SVC chain sends new connections to."""
    svc = svc or service()
    sl = {"metadata": {"namespace": "default", "name": "web-abcde", "labels": {"kubernetes.io/service-name": "web"}},
          "addressType": "IPv4", "endpoints": endpoints, "ports": PORT}
    nat = render([svc], [sl], **NODE1)["nat"]
    chain = "KUBE-SVC-" + port_proto_hash(service_port_name("default", "web", "http"), "tcp")
    return [r[-1] for r in nat.get(chain, []) if r[-1].startswith("KUBE-SEP-")]


def sep(ip):
    return endpoint_chain_name(service_port_name("default", "web", "http"), "tcp", f"{ip}:8080")


def test_ready_endpoints_take_every_new_connection_while_one_terminates():
    assert chosen(service(), [ep("10.244.2.5"), going("10.244.2.6")]) == (["10.244.2.5"], [], ["10.244.2.5"], True)
    assert svc_jumps([ep("10.244.2.5"), going("10.244.2.6")]) == [sep("10.244.2.5")]


def test_serving_terminating_endpoints_are_the_fallback_when_none_is_ready():
    eps = [going("10.244.2.6"), going("10.244.2.7"), going("10.244.2.8", serving=False)]
    assert chosen(service(), eps)[0] == ["10.244.2.6", "10.244.2.7"]
    assert svc_jumps(eps) == [sep("10.244.2.6"), sep("10.244.2.7")]


def test_terminating_endpoints_that_stopped_serving_are_never_used():
    assert chosen(service(), [going("10.244.2.6", serving=False)]) == ([], [], [], False)
    rendered = render([service()], [{"metadata": {"namespace": "default", "name": "web-abcde",
                                                  "labels": {"kubernetes.io/service-name": "web"}},
                                     "addressType": "IPv4", "endpoints": [going("10.244.2.6", serving=False)],
                                     "ports": PORT}], **NODE1)
    rejects = [r for r in rendered["filter"].get("KUBE-SERVICES", []) if "REJECT" in r]
    assert rejects and "default/web:http has no endpoints" in rejects[0]


def test_not_ready_endpoints_that_are_not_terminating_are_not_a_fallback():
    assert chosen(service(), [ep("10.244.2.6", ready=False, serving=False)])[0] == []


def test_external_traffic_policy_local_falls_back_to_local_terminating_endpoints_only():
    svc = service(type="NodePort", externalTrafficPolicy="Local",
                  ports=[{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080, "protocol": "TCP"}])
    cluster, local, reachable, has_any = chosen(svc, [ep("10.244.2.5"), going("10.244.1.6", node="node1")])
    assert (cluster, local, has_any) == (["10.244.2.5"], ["10.244.1.6"], True)
    assert reachable == ["10.244.1.6", "10.244.2.5"]
    cluster, local, _, _ = chosen(svc, [ep("10.244.1.5", node="node1"), going("10.244.1.6", node="node1")])
    assert local == ["10.244.1.5"]


def test_missing_conditions_count_as_ready_and_serving():
    bare = {"addresses": ["10.244.2.9"], "nodeName": "node2", "conditions": {}}
    assert chosen(service(), [bare, going("10.244.2.6")])[0] == ["10.244.2.9"]
