"""A node that goes away (issue 14, item 5), on a real 2-node cluster made with short grace periods
(`up --node-monitor-grace-period 6s --default-unreachable-toleration-seconds 10`), watched through the pinned kubectl.

Each kubelet renews its Lease in kube-node-lease. `toycluster node stop node2` pulls node2's cable: its kubelet can
no longer renew it or post its status, so after the grace
period node2 is NotReady (Ready Unknown, NodeStatusUnknown) and tainted node.kubernetes.io/unreachable, its pods turn
NotReady and leave the Service's endpoints (the Service answers from node1 alone); after their toleration they are
evicted (Terminating: their kubelet is away) and their ReplicaSet replaces them on node1, and the Service answers.
`toycluster node start node2` makes it Ready again, untainted, and its kubelet stops the evicted pods.

Traffic: only inside this cluster's namespaces (a client pod on node1 to the Service's ClusterIP).
"""
import json
import os
import re
import time

import pytest

from conftest import cluster_up, poll

GRACE, TOLERATION = 6, 10
UNREACHABLE = "node.kubernetes.io/unreachable"


def manifest(*docs) -> str:
    return "".join("---\n" + json.dumps(d) + "\n" for d in docs)


WEB = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
       "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "web"}}, "template": {
           "metadata": {"labels": {"app": "web"}},
           "spec": {"containers": [{"name": "web", "image": "toycluster/echo",
                                    "ports": [{"containerPort": 8080}]}]}}}}
SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
           "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}
CLIENT = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "client"},
          "spec": {"nodeSelector": {"kubernetes.io/hostname": "node1"},
                   "containers": [{"name": "main", "image": "nicolaka/netshoot"}]}}


@pytest.fixture(scope="module")
def nf():
    if os.geteuid() != 0:
        pytest.skip("needs root")
    with cluster_up(start=False) as c:
        c.run(*c.up_args(), "--node-monitor-grace-period", f"{GRACE}s",
              "--default-unreachable-toleration-seconds", TOLERATION, check=0, timeout=120)
        c.apply(manifest(WEB, SERVICE, CLIENT))
        c.wait_running(selector="app=web", count=4, timeout=30)
        c.wait_running(names=["client"], timeout=30)
        yield c


def node_row(c, name) -> list[str]:
    out = c.kubectl("get", "nodes").stdout
    return next(line.split() for line in out.splitlines() if line.split()[0] == name)


def web_pods(c, live=True) -> list[dict]:
    return [p for p in c.api_pods("app=web") if not live or not p["metadata"].get("deletionTimestamp")]


def nodes_answering(c) -> list[str]:
    """The node of the pod behind each of 8 new connections to the Service."""
    vip = c.api().get("Service", "default", "web")["spec"]["clusterIP"]
    p = c.exec("client", "curl", "-sS", "--max-time", "3", "-H", "Connection: close", f"http://{vip}/?[1-8]",
               check=None)
    return re.findall(r"^Node: (\S+)", p.stdout, re.M)


def test_a_stopped_node_goes_not_ready_its_pods_are_replaced_and_it_comes_back(nf):
    c = nf
    assert node_row(c, "node1")[1] == "Ready" and node_row(c, "node2")[1] == "Ready"
    leases = c.kubectl("get", "leases", "-n", "kube-node-lease").stdout.splitlines()
    assert [line.split()[:2] for line in leases] == [["NAME", "HOLDER"], ["node1", "node1"], ["node2", "node2"]]
    assert re.search(r"Lease:\s+HolderIdentity:\s+node2", c.kubectl("describe", "node", "node2").stdout)
    doomed = sorted(p["metadata"]["name"] for p in web_pods(c) if p["spec"]["nodeName"] == "node2")
    assert doomed, "the scheduler put no web pod on node2"
    assert web_pods(c)[0]["spec"]["tolerations"][-1] == {
        "key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": TOLERATION}
    stopped = time.time()
    out = c.ok("node", "stop", "node2")
    assert f"after {GRACE} s without a heartbeat" in out and f"{TOLERATION} s later" in out

    # the grace period: then NotReady, Ready Unknown, tainted; the lease no longer renewed
    renewed = c.api().get("Lease", "kube-node-lease", "node2")["spec"]["renewTime"]
    poll(lambda: node_row(c, "node2")[1] == "NotReady", timeout=GRACE + 10, interval=0.5, what="node2 NotReady")
    assert time.time() - stopped >= GRACE - 1
    node2 = json.loads(c.kubectl("get", "node", "node2", "-o", "json").stdout)
    ready = next(x for x in node2["status"]["conditions"] if x["type"] == "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.")
    assert sorted((t["key"], t["effect"]) for t in node2["spec"]["taints"]) == [
        (UNREACHABLE, "NoExecute"), (UNREACHABLE, "NoSchedule")]
    assert node_row(c, "node1")[1] == "Ready"
    assert c.api().get("Lease", "kube-node-lease", "node2")["spec"]["renewTime"] == renewed

    # its pods NotReady, out of the endpoints: the Service answers from node1 alone
    def endpoints():
        ep = json.loads(c.kubectl("get", "endpoints", "web", "-o", "json").stdout)
        subset = (ep.get("subsets") or [{}])[0]
        return subset.get("addresses", []), subset.get("notReadyAddresses", [])
    poll(lambda: sorted(a["targetRef"]["name"] for a in endpoints()[1]) == doomed, timeout=5,
         what="node2's pods in notReadyAddresses")
    assert all(a["nodeName"] == "node1" for a in endpoints()[0])
    answers = nodes_answering(c)
    assert answers and set(answers) == {"node1"}, answers
    events = c.kubectl("get", "events", "-A").stdout
    assert "NodeNotReady" in events and "Node node2 status is now: NodeNotReady" in events

    # after the toleration: evicted, replaced on node1
    poll(lambda: len(web_pods(c)) == 4 and all(p["spec"].get("nodeName") == "node1" for p in web_pods(c)),
         timeout=TOLERATION + 10, interval=0.5, what="the web pods replaced on node1")
    c.wait_running(selector="app=web", count=4, timeout=30)
    assert {p["metadata"]["name"] for p in web_pods(c, live=False)} >= set(doomed)   # Terminating: kubelet away
    events = c.kubectl("get", "events").stdout
    assert all(f"Marking for deletion Pod default/{name}" in events for name in doomed), events
    answers = nodes_answering(c)
    assert len(answers) == 8 and set(answers) == {"node1"}, answers

    # back: Ready, untainted, the evicted pods stopped and gone
    c.ok("node", "start", "node2")
    poll(lambda: node_row(c, "node2")[1] == "Ready", timeout=10, interval=0.5, what="node2 Ready again")
    node2 = json.loads(c.kubectl("get", "node", "node2", "-o", "json").stdout)
    assert not node2["spec"].get("taints")
    poll(lambda: not set(doomed) & {p["metadata"]["name"] for p in web_pods(c, live=False)}, timeout=15,
         what="the evicted pods deleted by node2's kubelet")
    assert len(web_pods(c)) == 4
