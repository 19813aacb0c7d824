"""`toycluster trace --explain` on a small rendered state (no cluster, no root): golden tables and JSON checks.

The state: two nodes; a client pod on node1; Service web (ClusterIP 10.96.5.5:80 -> http 8080) with one endpoint
per node; Service empty without endpoints; a NodePort Service; the ingress controller on node2 behind the load
balancer with an Ingress web.example -> web; a NetworkPolicy that isolates pod db. Regenerate the golden files
with UPDATE_GOLDEN=1 after checking the difference by eye.
"""
import json
import os
import pathlib

import pytest

from toycluster import config
from toycluster.cluster.lifecycle import UsageError
from toycluster.lab import trace_explain, trace_print
from toycluster.lab.trace_state import State

GOLDEN = pathlib.Path(__file__).with_name("golden")


def pod(name, ip, node, labels=None, ns="default", port=None):
    spec = {"nodeName": f"node{node}", "containers": [{"name": "c", "image": "toycluster/echo",
                                                        "ports": [{"name": "http", "containerPort": port}] if port else []}]}
    return {"kind": "Pod", "metadata": {"name": name, "namespace": ns, "labels": labels or {"app": name}},
            "spec": spec, "status": {"phase": "Running", "podIP": ip, "hostIP": f"192.168.50.1{node}",
                                     "conditions": [{"type": "Ready", "status": "True"}]}}


def service(name, ip, ports, ns="default", type_="ClusterIP", status=None):
    return {"kind": "Service", "metadata": {"name": name, "namespace": ns},
            "spec": {"type": type_, "clusterIP": ip, "selector": {"app": name}, "ports": ports,
                     "externalTrafficPolicy": "Cluster"}, "status": status or {}}


def slice_(name, svc, eps, port_name, port, ns="default"):
    return {"kind": "EndpointSlice", "metadata": {"name": name, "namespace": ns,
                                                  "labels": {"kubernetes.io/service-name": svc}},
            "addressType": "IPv4", "ports": [{"name": port_name, "port": port, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "conditions": {"ready": True}, "nodeName": f"node{n}",
                           "targetRef": {"kind": "Pod", "name": p, "namespace": ns}} for ip, n, p in eps]}


def small_state(overlay: str = "host-gw") -> State:
    cfg = config.ClusterConfig(name="toy", overlay=overlay)
    ing_ports = [{"name": "http", "port": 80, "targetPort": 80, "nodePort": 30080, "protocol": "TCP"},
                 {"name": "https", "port": 443, "targetPort": 443, "nodePort": 30443, "protocol": "TCP"}]
    objects = {
        "Namespace": [{"kind": "Namespace", "metadata": {"name": n}} for n in ("default", "ingress", "kube-system")],
        "Pod": [pod("client", "10.244.1.3", 1), pod("web-a", "10.244.1.4", 1, {"app": "web"}, port=8080),
                pod("web-b", "10.244.2.3", 2, {"app": "web"}, port=8080),
                pod("db", "10.244.2.5", 2, port=5432),
                pod("ingress-nginx-controller-x", "10.244.2.2", 2, {"app": "ingress-nginx-controller"}, "ingress")],
        "Service": [service("web", "10.96.5.5", [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]),
                    service("empty", "10.96.7.7", [{"name": "", "port": 80, "targetPort": 80, "protocol": "TCP"}]),
                    service("db", "10.96.9.9", [{"name": "", "port": 5432, "targetPort": 5432, "protocol": "TCP"}]),
                    service("ingress-nginx-controller", "10.96.1.1", ing_ports, "ingress", "NodePort")],
        "EndpointSlice": [slice_("web-1", "web", [("10.244.1.4", 1, "web-a"), ("10.244.2.3", 2, "web-b")], "http", 8080),
                          slice_("db-1", "db", [("10.244.2.5", 2, "db")], "", 5432),
                          slice_("ingress-1", "ingress-nginx-controller",
                                 [("10.244.2.2", 2, "ingress-nginx-controller-x")], "http", 80, "ingress")],
        "Ingress": [{"kind": "Ingress", "metadata": {"name": "web", "namespace": "default"},
                     "spec": {"ingressClassName": "nginx", "rules": [{"host": "web.example", "http": {"paths": [
                         {"path": "/", "pathType": "Prefix",
                          "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}}],
        "NetworkPolicy": [{"kind": "NetworkPolicy", "metadata": {"name": "db-deny", "namespace": "default"},
                           "spec": {"podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Ingress"]}}],
    }
    objects["EndpointSlice"][2]["ports"].append({"name": "https", "port": 443, "protocol": "TCP"})
    lb_status = {"frontends": [{"address": "203.0.113.10", "port": p, "nodePort": np,
                                "targets": [{"address": f"{cfg.node_ip(n)}:{np}", "state": "healthy"}
                                            for n in (1, 2)]} for p, np in ((80, 30080), (443, 30443))]}
    return State(cfg, objects, lb_status)


CASES = {
    "pod_to_clusterip": ("client", "http://web/"),
    "no_endpoints": ("client", "empty:80"),
    "user_https": ("user", "https://web.example/"),
    "policy_drop": ("client", "10.244.2.5:5432"),
    "host_nodeport": ("host", "192.168.50.12:30080"),
}


def test_explain_vxlan_golden():
    text = trace_print.render(trace_explain.explain(small_state("vxlan"), "client", "10.244.2.3:8080"))
    path = GOLDEN / "trace_explain_vxlan.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()
    assert "flannel.1" in text and "VXLAN outer 192.168.50.11 > 192.168.50.12 vni 1" in text


@pytest.mark.parametrize("case", sorted(CASES))
def test_explain_golden(case):
    source, target = CASES[case]
    text = trace_print.render(trace_explain.explain(small_state(), source, target))
    path = GOLDEN / f"trace_explain_{case}.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()


def test_explain_names_rules_and_objects():
    tr = trace_explain.explain(small_state(), "client", "http://web/")
    assert [q.name for q in tr.dns] == ["web.default.svc.cluster.local"] and tr.dns[0].answers == ["10.96.5.5"]
    dnat = next(h for h in tr.hops if h.change and h.change.what == "DNAT")
    assert dnat.where == "node1" and dnat.change.chain.startswith("KUBE-SEP-") and dnat.change.rule == 2
    assert dnat.change.comment == "default/web:http" and "pod default/web-a" in dnat.change.object
    assert tr.result.ok and tr.hops[-1].where == "pod default/client" and tr.hops[-1].leg == "reply"
    json.loads(tr.to_json())


def test_explain_failures_say_where():
    tr = trace_explain.explain(small_state(), "client", "empty:80")
    assert not tr.result.ok and "has no endpoints" in tr.result.why
    assert tr.hops[tr.result.stopped_at - 1].where == "node1"
    tr = trace_explain.explain(small_state(), "client", "10.244.2.5:5432")
    assert not tr.result.ok and "NetworkPolicy default/db-deny" in tr.result.why
    assert tr.hops[tr.result.stopped_at - 1].where == "node2"


def test_unknown_names_are_usage_errors():
    with pytest.raises(UsageError, match='pods "nosuch" not found'):
        trace_explain.explain(small_state(), "nosuch", "http://web/")
    with pytest.raises(UsageError, match='namespace "nons" not found'):
        trace_explain.explain(small_state(), "nons/client", "http://web/")
    with pytest.raises(UsageError, match="node9"):
        trace_explain.explain(small_state(), "node9", "10.96.5.5")
    with pytest.raises(UsageError, match='name "nosuch" not found'):
        trace_explain.explain(small_state(), "client", "http://nosuch/")
