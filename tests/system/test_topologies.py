"""Other shapes of cluster: the VXLAN overlay, and two clusters side by side that do not touch each other."""
import re

from conftest import leftovers, pod_yaml, sh


def echo_pair(c):
    """A client on node1 and an echo pod on each node; returns {name: pod}."""
    c.apply("---\n".join([pod_yaml("client", "nicolaka/netshoot", node=1),
                          pod_yaml("echo-1", "toycluster/echo", node=1, port=8080),
                          pod_yaml("echo-2", "toycluster/echo", node=2, port=8080)]))
    return {p["metadata"]["name"]: p for p in c.wait_running(names=["client", "echo-1", "echo-2"])}


def test_vxlan_overlay(cluster_factory):
    c = cluster_factory(overlay="vxlan")
    pods = echo_pair(c)
    client_ip = pods["client"]["status"]["podIP"]
    for name, node in (("echo-1", "node1"), ("echo-2", "node2")):
        answer = c.curl("client", f"http://{pods[name]['status']['podIP']}:8080/")
        assert f"Pod: default/{name}\nNode: {node}\n" in answer, answer
        assert f"RemoteAddr: {client_ip}:" in answer, answer
    ping = c.exec("client", "ping", "-c", "2", "-i", "0.2", "-W", "2", pods["echo-2"]["status"]["podIP"])
    assert " 0% packet loss" in ping.stdout, ping.stdout

    for n, m in ((1, 2), (2, 1)):
        link = c.exec(f"node{n}", "ip", "-d", "link", "show", "flannel.1").stdout
        assert "vxlan id 1 " in link and f"local {c.node_ip(n)}" in link and "dstport 8472" in link, link
        fdb = c.exec(f"node{n}", "bridge", "fdb", "show", "dev", "flannel.1").stdout
        assert re.search(rf"^\S+ dst {re.escape(c.node_ip(m))} .*permanent", fdb, re.M), fdb
        routes = c.exec(f"node{n}", "ip", "route").stdout
        assert re.search(rf"^{re.escape(str(c.pod_subnet(m)))} via \S+ dev flannel\.1 .*onlink", routes, re.M), routes
        assert f"via {c.node_ip(m)}" not in routes, "vxlan, not host-gw routes"
        neigh = c.exec(f"node{n}", "ip", "neigh", "show", "dev", "flannel.1").stdout
        assert "PERMANENT" in neigh, neigh


def test_two_clusters_side_by_side(cluster_factory):
    a, b = cluster_factory(), cluster_factory()
    pods_a, pods_b = echo_pair(a), echo_pair(b)
    # the same pod names in both, each cluster its own addresses
    for name in pods_a:
        assert pods_a[name]["status"]["podIP"] != pods_b[name]["status"]["podIP"]
    a.apply(pod_yaml("extra", "toycluster/echo", node=2, port=8080))
    a.wait_running(names=["extra"])

    def view(c):
        return {p["metadata"]["name"]: (p["metadata"]["uid"], p["status"]["podIP"],
                                        [s["restartCount"] for s in p["status"]["containerStatuses"]],
                                        [s["containerID"] for s in p["status"]["containerStatuses"]])
                for p in c.pods()}

    def answers(c, pods):
        for name in ("echo-1", "echo-2"):
            out = c.curl("client", f"http://{pods[name]['status']['podIP']}:8080/")
            assert f"Pod: default/{name}" in out, (c.name, out)

    answers(a, pods_a)
    answers(b, pods_b)
    b_before = view(b)
    b_netns = sorted(n for n in sh("ip netns list").stdout.split() if n.startswith(f"{b.name}."))

    # deleting pods in one cluster does not touch the other's, even those of the same name
    a.ok("delete", "pod", "echo-2")
    a.ok("delete", "pod", "extra")
    assert [p["metadata"]["name"] for p in a.pods()] == ["client", "echo-1"]
    assert view(b) == b_before
    answers(b, pods_b)

    # a pod in one cluster cannot reach the other cluster's pods: separate node networks
    p = a.exec("client", "curl", "-s", "--max-time", "2", f"http://{pods_b['echo-1']['status']['podIP']}:8080/",
               check=None)
    assert p.returncode != 0 and "Pod:" not in p.stdout, p

    # down of one leaves the other working
    a.ok("down")
    assert leftovers(a.name) == []
    assert view(b) == b_before
    assert sorted(n for n in sh("ip netns list").stdout.split() if n.startswith(f"{b.name}.")) == b_netns
    answers(b, pods_b)
    assert "The control plane is running" in b.ok("status")
    assert sh(f"ping -c 1 -W 2 {b.node_ip(2)}").returncode == 0
