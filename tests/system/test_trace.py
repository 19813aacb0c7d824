"""`toycluster trace` on a real cluster: every path of issue 15, each hop's addresses, the rule and the object named.

One 2-node cluster is shared by the module (pods pinned so that every path is deterministic: web-1 and the
client on node1, web-2, db and the ingress controller on node2); a VXLAN cluster of its own for the overlay.
The stopped-node test runs last and starts the node again. Traces are read as JSON (-o json).
"""
import json
import re
import subprocess

import pytest

from conftest import TOYCLUSTER, cluster_up, pod_yaml, poll, sh

SERVICES = """
apiVersion: v1
kind: Service
metadata: {name: web2}
spec:
  selector: {app: web-2}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: hair}
spec:
  selector: {app: web-1}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: webnp}
spec:
  type: NodePort
  selector: {app: web-2}
  ports: [{port: 80, targetPort: 8080, nodePort: 31081}]
---
apiVersion: v1
kind: Service
metadata: {name: local}
spec:
  type: NodePort
  externalTrafficPolicy: Local
  selector: {app: web-1}
  ports: [{port: 80, targetPort: 8080, nodePort: 31082}]
---
apiVersion: v1
kind: Service
metadata: {name: weblb}
spec:
  type: LoadBalancer
  selector: {app: web-2}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: empty}
spec:
  selector: {app: nothing}
  ports: [{port: 80}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-deny}
spec:
  podSelector: {matchLabels: {app: db}}
  policyTypes: [Ingress]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec:
  ingressClassName: nginx
  rules:
    - host: web.example
      http:
        paths: [{path: /, pathType: Prefix, backend: {service: {name: web2, port: {number: 80}}}}]
    - host: empty.example
      http:
        paths: [{path: /, pathType: Prefix, backend: {service: {name: empty, port: {number: 80}}}}]
"""


@pytest.fixture(scope="module")
def tc():
    with cluster_up(nodes=2) as c:
        c.apply("---\n".join([pod_yaml("client", "nicolaka/netshoot", node=1),
                              pod_yaml("web-1", "toycluster/echo", node=1, port=8080),
                              pod_yaml("web-2", "toycluster/echo", node=2, port=8080),
                              pod_yaml("db", "toycluster/echo", node=2, port=8080)]) + "---\n" + SERVICES)
        pods = {p["metadata"]["name"]: p for p in c.wait_running(names=["client", "web-1", "web-2", "db"])}
        c.ip = {n: p["status"]["podIP"] for n, p in pods.items()}
        svcs = {s["metadata"]["name"]: s for s in c.api().list("Service")}
        c.vip = {n: s["spec"].get("clusterIP") for n, s in svcs.items()}
        c.lb_ip = poll(lambda: ((c.api().get("Service", "default", "weblb").get("status") or {}).get("loadBalancer")
                                or {}).get("ingress", [{}])[0].get("ip"), timeout=10, what="weblb's EXTERNAL-IP")
        poll(lambda: c.run("exec", "user", "--", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                           "--max-time", "2", "http://web.example/").stdout == "200", timeout=15,
             what="the ingress to answer web.example")
        yield c


def trace(c, *args, check=0) -> dict:
    p = c.run("trace", *args, "-o", "json", check=check, timeout=30)
    return json.loads(p.stdout)


def hop_at(tr, where, leg="request", conn=None, interface=None) -> dict:
    for h in tr["hops"]:
        if h["where"] == where and h["leg"] == leg and (conn is None or h["connection"] == conn) \
                and (interface is None or h["interface"] == interface):
            return h
    raise AssertionError(f"no {leg} hop at {where} {interface or ''}: {[(h['where'], h['interface']) for h in tr['hops']]}")


def changes(tr, what, leg="request") -> list[tuple[dict, dict]]:
    return [(h, c) for h in tr["hops"] if h["leg"] == leg for c in ([h["change"]] if h["change"] else []) + h["also"]
            if c["what"] == what]


def test_pod_to_pod_on_the_same_node(tc):
    tr = trace(tc, "--from", "client", f"{tc.ip['web-1']}:8080")
    first, last = tr["hops"][0], hop_at(tr, "pod default/web-1")
    assert (first["where"], first["interface"], first["src"], first["dst"]) == \
        ("pod default/client", "eth0", tc.ip["client"], tc.ip["web-1"])
    assert last["src"] == tc.ip["client"] and last["flags"] == "S"
    assert not any(h["where"] in ("node2", "node network") for h in tr["hops"]) and not changes(tr, "DNAT")
    assert tr["hops"][-1]["where"] == "pod default/client" and tr["hops"][-1]["flags"] == "S."
    assert [h["n"] for h in tr["hops"]] == list(range(1, len(tr["hops"]) + 1)) and tr["result"]["ok"]


def test_pod_to_pod_across_nodes_host_gw(tc):
    tr = trace(tc, "--from", "client", f"{tc.ip['web-2']}:8080")
    out = hop_at(tr, "node1", interface="eth0")
    assert out["route"] == f"{tc.pod_subnet(2)} via {tc.node_ip(2)} dev eth0" and out["ttl"] == 63
    assert hop_at(tr, "node network", interface="node2")["dst"] == tc.ip["web-2"]
    assert hop_at(tr, "pod default/web-2")["src"] == tc.ip["client"]
    assert hop_at(tr, "node2", leg="reply", interface="eth0")["route"].endswith("dev eth0")


def test_pod_to_cluster_ip_dnat_on_the_clients_node_source_kept(tc):
    tr = trace(tc, "--from", "client", "http://web2/")
    assert tr["dns"][0]["name"] == "web2.default.svc.cluster.local" and tr["dns"][0]["answers"] == [tc.vip["web2"]]
    assert tr["dns"][0]["server"] == tc.dns_ip
    (hop, dnat), = changes(tr, "DNAT")
    assert hop["where"] == "node1" and dnat["table"] == "nat" and dnat["chain"].startswith("KUBE-SEP-")
    assert dnat["rule"] == 2 and dnat["comment"] == "default/web2:http"
    assert dnat["before"] == f"{tc.vip['web2']}:80" and dnat["after"] == f"{tc.ip['web-2']}:8080"
    assert "Service default/web2" in dnat["object"] and "pod default/web-2" in dnat["object"]
    assert "EndpointSlice web2-" in dnat["object"] and hop["conntrack"] and f"dst={tc.vip['web2']}" in hop["conntrack"]
    assert hop_at(tr, "pod default/web-2")["src"] == tc.ip["client"] and not changes(tr, "MASQUERADE")
    back = hop_at(tr, "pod default/client", leg="reply")
    assert back["src"] == tc.vip["web2"] and back["sport"] == 80 and changes(tr, "DNAT", leg="reply")
    assert tr["result"]["ok"] and "HTTP 200" in tr["result"]["summary"] and "web-2" in tr["result"]["summary"]


def test_hairpin_is_masqueraded(tc):
    tr = trace(tc, "--from", "web-1", f"{tc.vip['hair']}:80")
    (hop, masq), = changes(tr, "MASQUERADE")
    assert hop["where"] == "node1" and masq["chain"] == "KUBE-POSTROUTING" and "KUBE-SEP-" in masq["object"]
    arrived = [h for h in tr["hops"] if h["where"] == "pod default/web-1" and h["leg"] == "request"][-1]
    assert arrived["dst"] == tc.ip["web-1"] and arrived["src"] == str(tc.pod_subnet(1)[1])


def test_host_to_node_port_is_masqueraded(tc):
    tr = trace(tc, "--from", "host", f"{tc.node_ip(1)}:31081")
    assert tr["hops"][0]["where"] == "host" and tr["hops"][0]["src"] == tc.host_ip
    (hop, dnat), = changes(tr, "DNAT")
    assert hop["where"] == "node1" and dnat["after"] == f"{tc.ip['web-2']}:8080" and dnat["comment"] == "default/webnp"
    (_, masq), = changes(tr, "MASQUERADE")
    assert masq["before"].startswith(tc.host_ip + ":") and masq["after"].startswith(tc.node_ip(1) + ":")
    assert "KUBE-EXT-" in masq["object"]
    assert hop_at(tr, "pod default/web-2")["src"] == tc.node_ip(1)


def test_external_traffic_policy_local_keeps_the_source_and_drops_elsewhere(tc):
    tr = trace(tc, "--from", "host", f"{tc.node_ip(1)}:31082")
    assert hop_at(tr, "pod default/web-1")["src"] == tc.host_ip and not changes(tr, "MASQUERADE")
    tr = trace(tc, "--from", "host", "--timeout", "0.5", f"{tc.node_ip(2)}:31082", check=1)
    stop = tr["hops"][tr["result"]["stopped_at"] - 1]
    assert stop["where"] == "node2" and "has no local endpoints" in tr["result"]["why"]


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_user_dns_lb_nodeport_ingress_service_pod(tc, scheme):
    tr = trace(tc, f"{scheme}://web.example/")
    assert tr["dns"][0]["answers"] and tr["dns"][0]["server"].endswith(".53")
    lb_ip = tr["dns"][0]["answers"][0]
    lb_dnat = [c for h, c in changes(tr, "DNAT") if h["where"] == "load balancer"]
    assert lb_dnat and lb_dnat[0]["chain"].startswith("LB-FE-") and lb_dnat[0]["before"] == f"{lb_ip}:{80 if scheme == 'http' else 443}"
    assert "load-balancer frontend" in lb_dnat[0]["object"] and "ingress/ingress-nginx-controller" in lb_dnat[0]["object"]
    node_dnat = [c for h, c in changes(tr, "DNAT") if h["where"].startswith("node") and h["connection"] == 1]
    assert node_dnat and node_dnat[0]["comment"].startswith("ingress/ingress-nginx-controller")
    (hop, proxy), = changes(tr, "PROXY")
    assert hop["connection"] == 2 and hop["where"].startswith("pod ingress/ingress-nginx-controller")
    assert "Ingress default/web" in proxy["object"] and "web2" in proxy["object"]
    assert [c["id"] for c in tr["connections"]] == [1, 2] and tr["connections"][0]["continues_as"] == 2
    assert hop_at(tr, "pod default/web-2", conn=2)["dst"] == tc.ip["web-2"]
    assert tr["hops"][-1]["where"] == "user" and tr["hops"][-1]["leg"] == "reply"
    assert tr["result"]["ok"] and "HTTP 200" in tr["result"]["summary"]


def test_load_balancer_service(tc):
    tr = trace(tc, "http://weblb.default.lb.example/")
    assert tr["dns"][0]["answers"] == [tc.lb_ip]
    (lbh, lbc), = [(h, c) for h, c in changes(tr, "DNAT") if h["where"] == "load balancer"]
    assert "default/weblb" in lbc["object"] and lbc["after"].rsplit(":")[0] in (tc.node_ip(1), tc.node_ip(2))
    assert hop_at(tr, "pod default/web-2")["dst"] == tc.ip["web-2"] and tr["result"]["ok"]


def test_network_policy_drop_names_the_policy_and_the_node(tc):
    tr = trace(tc, "--from", "client", f"{tc.ip['db']}:8080", check=1)
    assert "NetworkPolicy default/db-deny" in tr["result"]["why"]
    assert tr["hops"][tr["result"]["stopped_at"] - 1]["where"] == "node2"


def test_service_without_endpoints_is_rejected_by_kube_proxy(tc):
    p = tc.run("trace", "--from", "client", "http://empty/", check=1)
    assert "has no endpoints" in p.stdout and "REJECT" in p.stdout
    tr = trace(tc, "--from", "client", "http://empty/", check=1)
    stop = tr["hops"][tr["result"]["stopped_at"] - 1]
    assert stop["where"] == "node1" and stop["change"]["chain"] == "KUBE-SERVICES"
    assert stop["change"]["comment"] == "default/empty has no endpoints"


def test_an_ingress_answering_503_itself_is_named(tc):
    tr = trace(tc, "http://empty.example/", check=1)
    assert tr["result"]["summary"] == "HTTP 503"
    assert "the ingress controller answered itself" in tr["result"]["why"]
    assert len(tr["connections"]) == 1                    # no connection to a backend was opened


def test_refused_by_the_pod(tc):
    tr = trace(tc, "--from", "client", f"{tc.ip['web-2']}:9999", check=1)
    assert "refused by the pod default/web-2" in tr["result"]["why"]


def test_explain_computes_the_same_path_without_packets(tc):
    tr = trace(tc, "--explain", "https://web.example/")
    assert tr["request"]["explain"] and tr["result"]["ok"]
    assert {c["what"] for h in tr["hops"] for c in ([h["change"]] if h["change"] else []) + h["also"]} >= \
        {"DNAT", "MASQUERADE", "PROXY"}
    tr = trace(tc, "--explain", "--from", "client", "http://empty/", check=1)
    assert "has no endpoints" in tr["result"]["why"]


@pytest.mark.parametrize("args, words", [
    (["--from", "nosuch", "http://web2/"], 'pods "nosuch" not found'),
    (["--from", "nons/client", "http://web2/"], 'namespace "nons" not found'),
    (["--from", "node7", "10.0.0.1"], "node7"),
    (["--from", "client", "http://nosuch/"], 'name "nosuch" not found'),
])
def test_bad_input_names_it_and_exits_2(tc, args, words):
    p = tc.run("trace", *args, check=2)
    assert words in p.stderr and "Traceback" not in p.stderr


def _tables(c) -> str:
    """Every rule of the nodes and the balancer, as iptables-save prints them (packet counters left out)."""
    return "".join(re.sub(r"\[\d+:\d+\]", "", sh(f"ip netns exec {c.name}.{ns} iptables-legacy-save | grep -v '^#'").stdout)
                   for ns in ("node1", "node2", "lb"))


def _packet_sockets(c) -> int:
    return sum(len(sh(f"ip netns exec {c.name}.{ns} cat /proc/net/packet").stdout.splitlines()) - 1
               for ns in ("node1", "node2", "lb", "user", "net"))


def test_two_traces_at_once_and_nothing_left_behind(tc):
    before, sockets = _tables(tc), _packet_sockets(tc)
    procs = [subprocess.Popen([TOYCLUSTER, "--cluster", tc.name, "trace", "-o", "json", url],
                              stdout=subprocess.PIPE, text=True) for url in ("http://web.example/", "https://web.example/")]
    outs = [json.loads(p.communicate(timeout=30)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs) and all(o["result"]["ok"] for o in outs)
    assert outs[0]["connections"][0]["server"].endswith(":80") and outs[1]["connections"][0]["server"].endswith(":443")
    assert _tables(tc) == before and _packet_sockets(tc) == sockets


def test_zz_stopped_node_behind_the_load_balancer(tc):
    """Last: node2 (web-2's node) stops; the trace says where it stopped and that node2 is down."""
    tc.ok("node", "stop", "node2")
    try:
        tr = trace(tc, "--timeout", "0.5", f"http://{tc.lb_ip}/", check=1)
        why, stop = tr["result"]["why"], tr["hops"][tr["result"]["stopped_at"] - 1]
        assert ("node2" in why and "down" in why) or "no healthy node" in why, why
        assert stop["where"] in ("load balancer", "node network", "node1"), stop
    finally:
        tc.ok("node", "start", "node2")


def test_vxlan_across_nodes_shows_the_outer_header():
    with cluster_up(nodes=2, overlay="vxlan") as c:
        c.apply(pod_yaml("a", "toycluster/echo", node=1, port=8080) + "---\n"
                + pod_yaml("b", "toycluster/echo", node=2, port=8080))
        ips = {p["metadata"]["name"]: p["status"]["podIP"] for p in c.wait_running(names=["a", "b"])}
        tr = json.loads(c.ok("trace", "--from", "a", f"{ips['b']}:8080", "-o", "json"))
        vtep = hop_at(tr, "node1", interface="flannel.1")
        assert vtep["route"] == f"{c.pod_subnet(2)} via {c.pod_subnet(2)[0]} dev flannel.1"
        wire = hop_at(tr, "node1", interface="eth0")
        assert wire["outer"] == {"src": c.node_ip(1), "dst": c.node_ip(2), "vni": 1} and wire["dst"] == ips["b"]
        assert hop_at(tr, "node2", interface="flannel.1")["outer"] is None and tr["result"]["ok"]
