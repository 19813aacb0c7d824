"""Services answer from everywhere, and refuse as upstream does (issue 14, item 7), on a real 2-node cluster.

A node has what a real node has: a default route to the node network's router, which knows no way off the
cluster, so `toycluster exec node1 -- curl http://CLUSTER-IP/` works (TCP, and UDP to cluster DNS), a Service
without endpoints is refused (ICMP port unreachable: "Connection refused") from a pod and from a node alike,
and anything else sent that way is answered "net unreachable" by the router and never leaves the machine.
kube-proxy ignores Services labelled service.kubernetes.io/service-proxy-name or service.kubernetes.io/headless:
the label takes the rules away, removing it brings them back.

One cluster for the module. Traffic goes only to this cluster's addresses, and to 198.51.100.7 (TEST-NET-2),
which the router answers for: the test checks that it does, and that nothing has a way out.
"""
import ipaddress
import json
import os
import re

import pytest

from conftest import cluster_up, poll, sh

OUTSIDE = "198.51.100.7"       # TEST-NET-2: never routed anywhere; the router must answer "net unreachable"
PROXY_NAME = "service.kubernetes.io/service-proxy-name"
HEADLESS = "service.kubernetes.io/headless"


def manifest(*docs) -> str:
    return "".join("---\n" + json.dumps(d) + "\n" for d in docs)


def pod(name, node, image, port=None):
    c = {"name": "main", "image": image, **({"ports": [{"containerPort": port}]} if port else {})}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"containers": [c], "nodeSelector": {"kubernetes.io/hostname": f"node{node}"}}}


def service(name, app, port=80, target=8080):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": app}, "ports": [{"name": "http", "port": port, "targetPort": target}]}}


def router_ip(c) -> str:
    return str(ipaddress.ip_network(c.node_cidr)[-2])


def cluster_ip(c, name) -> str:
    return c.api().get("Service", "default", name)["spec"]["clusterIP"]


def nat(c, node) -> str:
    return c.exec(node, "iptables-legacy-save", "-t", "nat").stdout


@pytest.fixture(scope="module")
def rc():
    if os.geteuid() != 0:
        pytest.skip("needs root")
    with cluster_up() as c:
        c.apply(manifest(pod("client", 1, "nicolaka/netshoot"), pod("web", 2, "toycluster/echo", 8080),
                         service("web", "web"), service("nobody", "nothing-has-this-label"),
                         service("toggled", "web")))
        c.wait_running(names=["client", "web"])
        c.vip = {n: cluster_ip(c, n) for n in ("web", "nobody", "toggled")}
        poll(lambda: all(f"-d {c.vip['web']}/32" in nat(c, n) for n in ("node1", "node2")), timeout=20,
             what="web's rules on both nodes")
        yield c


# ---------------------------------------------------------------- the route, and where it leads
def test_each_node_has_a_default_route_to_the_router(rc):
    for n in (1, 2):
        routes = rc.exec(f"node{n}", "ip", "-4", "route").stdout
        assert re.search(rf"^default via {re.escape(router_ip(rc))} dev eth0", routes, re.M), routes
        got = rc.exec(f"node{n}", "ip", "-4", "route", "get", rc.vip["web"]).stdout
        assert f"via {router_ip(rc)} dev eth0 src {rc.node_ip(n)}" in got, got
    addrs = sh(f"ip -n {rc.name}.net -4 -o addr show dev br0").stdout
    assert f"{router_ip(rc)}/24" in addrs, addrs


def test_the_router_leads_nowhere_off_the_machine(rc):
    net = f"{rc.name}.net"
    routes = sh(f"ip -n {net} -4 route show table all").stdout.splitlines()
    main = [r for r in routes if not r.startswith(("local ", "broadcast "))]
    want = {f"{rc.node_cidr} dev br0", *(f"{rc.pod_subnet(n)} via {rc.node_ip(n)} dev br0" for n in (1, 2))}
    assert {" ".join(r.split()[:5]) if " via " in r else " ".join(r.split()[:3]) for r in main} == want, routes
    links = sh(f"ip -n {net} -o link").stdout.splitlines()
    for line in links:                                 # lo, the bridge, and its ports: nothing else to leave by
        name = line.split(":")[1].strip().split("@")[0]
        assert name in ("lo", "br0") or "master br0" in line, line
    p = rc.exec("node1", "ping", "-n", "-c", "1", "-W", "3", OUTSIDE, check=None)
    assert p.returncode != 0 and f"From {router_ip(rc)} icmp_seq=1 Destination Net Unreachable" in p.stdout, p
    for where in ("client", "node1"):                 # answered (curl's 7), not left to time out (28)
        p = rc.exec(where, "curl", "-sS", "--max-time", "5", f"http://{OUTSIDE}/", check=None)
        assert p.returncode == 7, p


# ---------------------------------------------------------------- ClusterIPs from a node
def test_a_node_reaches_a_cluster_ip_over_tcp(rc):
    for n in (1, 2):               # node1's endpoint is on another node, node2's on itself
        out = rc.exec(f"node{n}", "curl", "-sS", "--max-time", "5", f"http://{rc.vip['web']}/").stdout
        assert "Hostname: web" in out, out


def test_a_node_reaches_cluster_dns_over_udp(rc):
    for n in (1, 2):
        out = rc.exec(f"node{n}", "dig", "+short", "+time=2", "+tries=2", f"@{rc.dns_ip}",
                      "web.default.svc.cluster.local").stdout
        assert out.split() == [rc.vip["web"]], out


# ---------------------------------------------------------------- no endpoints: refused
@pytest.mark.parametrize("where", ["client", "node1", "node2"])
def test_a_service_without_endpoints_is_refused(rc, where):
    p = rc.exec(where, "nc", "-vz", "-w", "3", rc.vip["nobody"], "80", check=None)
    assert p.returncode == 1 and "Connection refused" in p.stderr, p
    p = rc.exec(where, "curl", "-sS", "--max-time", "5", f"http://{rc.vip['nobody']}/", check=None)
    assert p.returncode == 7, p                   # refused at once (a drop would be 28, the timeout)


# ---------------------------------------------------------------- labels that hide a Service from kube-proxy
@pytest.mark.parametrize("label", [PROXY_NAME, HEADLESS])
def test_the_label_takes_the_rules_away_and_removing_it_brings_them_back(rc, label):
    vip = rc.vip["toggled"]

    def rules_everywhere(present):
        return all((f"-d {vip}/32" in nat(rc, n)) == present for n in ("node1", "node2"))
    poll(lambda: rules_everywhere(True), timeout=20, what="toggled's rules")
    rc.ok("label", "svc", "toggled", f"{label}=some-other-proxy")
    poll(lambda: rules_everywhere(False), timeout=20, what=f"toggled's rules to go with {label}")
    p = rc.exec("client", "curl", "-sS", "--max-time", "3", f"http://{vip}/", check=None)
    assert p.returncode != 0, p                   # no rule takes it: the router says "net unreachable"
    assert f"-d {rc.vip['web']}/32" in nat(rc, "node1"), "the other Services keep theirs"
    rc.ok("label", "svc", "toggled", f"{label}-")
    poll(lambda: rules_everywhere(True), timeout=20, what="toggled's rules to come back")
    out = rc.exec("client", "curl", "-sS", "--max-time", "5", f"http://{vip}/").stdout
    assert "Hostname: web" in out, out
