"""A working cluster, as a user sees it: pods reach each other on the same node and across nodes, exec and
logs show the pod's own view, kubectl's output shapes, Deployments scale and replace pods, crashed containers
restart. All on one shared 2-node cluster (conftest.shared)."""
import ipaddress
import json
import os
import re
import signal
import subprocess
import threading

import pytest
import yaml

from conftest import CHURN_NODE, TOYCLUSTER, container_pid, deployment_yaml, pod_yaml, poll, sh


def echo_fields(answer: str) -> dict:
    """The echo server's 'Key: value' lines (first one wins; IP may repeat)."""
    fields = {}
    for line in answer.splitlines():
        key, sep, value = line.partition(": ")
        if sep and key not in fields:
            fields[key] = value
    return fields


# ---------------------------------------------------------------- pod to pod
@pytest.mark.parametrize("target", ["echo-a", "echo-b"], ids=["same-node", "cross-node"])
def test_ping_pod_to_pod(shared, target):
    p = shared.exec("client", "ping", "-c", "2", "-i", "0.2", "-W", "2", shared.ip[target], check=None)
    assert p.returncode == 0, p.stdout + p.stderr
    assert " 0% packet loss" in p.stdout, p.stdout


@pytest.mark.parametrize("target,node", [("echo-a", "node1"), ("echo-b", "node2")], ids=["same-node", "cross-node"])
def test_http_pod_to_pod(shared, target, node):
    answer = shared.curl("client", f"http://{shared.ip[target]}:8080/hello")
    f = echo_fields(answer)
    assert f.get("Hostname") == target, answer
    assert f.get("Pod") == f"default/{target}", answer
    assert f.get("Node") == node, answer
    assert f"IP: {shared.ip[target]}" in answer, answer
    # the server saw the client pod's own address: no NAT between pods
    assert f.get("RemoteAddr", "").rpartition(":")[0] == shared.ip["client"], answer
    assert "GET /hello HTTP/1.1" in answer, answer


def test_http_node2_to_node1(shared):
    """The other direction: from a pod on node2 to a pod on node1."""
    f = echo_fields(shared.curl("echo-b", f"http://{shared.ip['echo-a']}:8080/"))
    assert (f.get("Pod"), f.get("Node")) == ("default/echo-a", "node1"), f
    assert f.get("RemoteAddr", "").rpartition(":")[0] == shared.ip["echo-b"], f


def test_pod_addresses_come_from_their_nodes_cidr(shared):
    pods = {p["metadata"]["name"]: p for p in shared.pods()}
    for name, n in (("client", 1), ("echo-a", 1), ("echo-b", 2)):
        assert ipaddress.ip_address(shared.ip[name]) in shared.pod_subnet(n), (name, shared.ip[name])
        assert pods[name]["spec"]["nodeName"] == f"node{n}"
        assert pods[name]["status"]["hostIP"] == shared.node_ip(n)


def test_two_containers_talk_on_localhost(shared):
    name = "duo"
    shared.apply(json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"nodeSelector": {"kubernetes.io/hostname": f"node{CHURN_NODE}"}, "containers": [
            {"name": "web", "image": "toycluster/echo", "ports": [{"containerPort": 8080}]},
            {"name": "poller", "image": "busybox",
             "command": ["sh", "-c", "while true; do curl -s localhost:8080/ > /dev/null && echo ok; sleep 0.2; done",
                         shared.name]}]}}))
    try:
        pod = shared.wait_running(names=[name])[0]
        assert [c["name"] for c in pod["status"]["containerStatuses"]] == ["web", "poller"]
        assert shared.ok("get", "pod", name).splitlines()[1].split()[1] == "2/2"
        poll(lambda: "ok" in shared.ok("logs", name, "-c", "poller").split(), what="the poller to log ok")
        # a pod with two containers needs -c for logs, as kubectl
        p = shared.run("logs", name)
        assert p.returncode == 2 and "container name must be specified" in p.stderr, p.stderr
        # both containers share one network namespace
        f = echo_fields(shared.curl(name, "http://localhost:8080/"))
        assert f.get("Pod") == f"default/{name}", f
        out = shared.exec(name, "ip", "-o", "-4", "addr", "show", "eth0", opts=["-c", "poller"]).stdout
        assert pod["status"]["podIP"] in out, out
    finally:
        shared.ok("delete", "pod", name)


# ---------------------------------------------------------------- exec: the pod's and node's own view
def test_exec_sees_pod_hostname_resolv_conf_and_hosts(shared):
    assert shared.exec("client", "hostname").stdout.strip() == "client"
    resolv = shared.exec("client", "cat", "/etc/resolv.conf").stdout
    lines = [line.split() for line in resolv.splitlines() if line.strip() and not line.startswith("#")]
    assert ["nameserver", shared.dns_ip] in lines, resolv
    assert ["search", "default.svc.cluster.local", "svc.cluster.local", "cluster.local"] in lines, resolv
    assert ["options", "ndots:5"] in lines, resolv
    assert [line for line in lines if line[0] == "nameserver"] == [["nameserver", shared.dns_ip]], resolv
    hosts = shared.exec("client", "cat", "/etc/hosts").stdout
    assert re.search(rf"^{re.escape(shared.ip['client'])}\s+client$", hosts, re.M), hosts
    assert re.search(r"^127\.0\.0\.1\s+localhost", hosts, re.M), hosts
    # the pod's interfaces, not the machine's
    addrs = shared.exec("client", "ip", "-o", "-4", "addr").stdout
    assert shared.ip["client"] in addrs and "eth0" in addrs, addrs
    assert shared.host_ip not in addrs
    route = shared.exec("client", "ip", "route").stdout
    assert f"default via {shared.pod_subnet(1)[1]} dev eth0" in route, route


def test_exec_does_not_change_the_machines_view(shared):
    """exec mounts over /etc only inside its own mount namespace: the machine keeps its files and hostname."""
    before = (open("/etc/resolv.conf").read() if os.path.exists("/etc/resolv.conf") else None,
              open("/etc/hosts").read(), os.uname().nodename)
    shared.exec("client", "true")
    after = (open("/etc/resolv.conf").read() if os.path.exists("/etc/resolv.conf") else None,
             open("/etc/hosts").read(), os.uname().nodename)
    assert before == after


def test_exec_passes_output_and_exit_status(shared):
    p = shared.exec("client", "sh", "-c", "echo out; echo err >&2; exit 7", check=None)
    assert p.returncode == 7 and p.stdout == "out\n" and "err" in p.stderr, p


def test_exec_node_shows_host_gw_routes(shared):
    for n in (1, 2, 3):
        routes = shared.exec(f"node{n}", "ip", "route").stdout
        for m in {1, 2, 3} - {n}:
            assert re.search(rf"^{re.escape(str(shared.pod_subnet(m)))} via {re.escape(shared.node_ip(m))} dev eth0",
                             routes, re.M), routes
        assert re.search(rf"^{re.escape(str(shared.pod_subnet(n)))} dev cni0", routes, re.M), routes
        addrs = shared.exec(f"node{n}", "ip", "-o", "-4", "addr").stdout
        assert f"{shared.node_ip(n)}/24" in addrs, addrs
    assert shared.exec("node1", "sysctl", "-n", "net.ipv4.ip_forward").stdout.strip() == "1"


def test_machine_shell_reaches_the_nodes(shared):
    for n in (1, 2, 3):
        route = sh(f"ip -o route get {shared.node_ip(n)}").stdout
        assert f"dev {shared.name}-host" in route, route
        p = sh(f"ping -c 2 -i 0.2 -W 2 {shared.node_ip(n)}")
        assert p.returncode == 0 and " 0% packet loss" in p.stdout, p.stdout + p.stderr
    link = sh(f"ip -o -4 addr show dev {shared.name}-host").stdout
    assert f"{shared.host_ip}/24" in link, link


# ---------------------------------------------------------------- kubectl's shapes
def test_get_pods_json(shared):
    doc = json.loads(shared.ok("get", "pods", "-A", "-o", "json"))
    assert doc["kind"] == "List" and doc["apiVersion"] == "v1" and isinstance(doc["items"], list)
    pods = {p["metadata"]["name"]: p for p in doc["items"]}
    assert set(shared.ip) <= set(pods)
    for name, ip in shared.ip.items():
        p = pods[name]
        assert p["kind"] == "Pod" and p["metadata"]["namespace"] == "default"
        assert p["status"]["phase"] == "Running"
        assert p["status"]["podIP"] == ip
        assert p["spec"]["nodeName"] in ("node1", "node2", "node3")
        assert [c["restartCount"] for c in p["status"]["containerStatuses"]] == [0]
        assert any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"]["conditions"])


def test_get_nodes_json_and_columns(shared):
    doc = json.loads(shared.ok("get", "nodes", "-o", "json"))
    assert doc["kind"] == "List"
    nodes = {n["metadata"]["name"]: n for n in doc["items"]}
    assert sorted(nodes) == ["node1", "node2", "node3"]
    for n in (1, 2, 3):
        addrs = nodes[f"node{n}"]["status"]["addresses"]
        assert {"type": "InternalIP", "address": shared.node_ip(n)} in addrs, addrs
        assert nodes[f"node{n}"]["spec"]["podCIDR"] == str(shared.pod_subnet(n))
    table = shared.ok("get", "nodes").splitlines()
    assert table[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"], table
    assert [line.split()[:2] for line in table[1:]] == [["node1", "Ready"], ["node2", "Ready"], ["node3", "Ready"]]


def test_get_pods_yaml_parses(shared):
    doc = yaml.safe_load(shared.ok("get", "pods", "-o", "yaml"))
    assert doc["kind"] == "List"
    by_name = {p["metadata"]["name"]: p for p in doc["items"]}
    assert by_name["echo-b"]["status"]["podIP"] == shared.ip["echo-b"]
    one = yaml.safe_load(shared.ok("get", "pod", "echo-a", "-o", "yaml"))
    assert one["kind"] == "Pod" and one["metadata"]["name"] == "echo-a"


def test_get_pods_columns(shared):
    wide = shared.ok("get", "pods", "-A", "-o", "wide").splitlines()
    assert re.split(r"\s{2,}", wide[0].strip()) == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP",
                                                    "NODE", "NOMINATED NODE", "READINESS GATES"], wide[0]
    rows = {line.split()[1]: line.split() for line in wide[1:]}
    assert rows["echo-b"][:5] == ["default", "echo-b", "1/1", "Running", "0"], rows["echo-b"]
    assert rows["echo-b"][6:8] == [shared.ip["echo-b"], "node2"], rows["echo-b"]
    plain = shared.ok("get", "pods").splitlines()
    assert plain[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"], plain[0]
    names = shared.ok("get", "pods", "-o", "name").split()
    assert {f"pod/{n}" for n in shared.ip} <= set(names), names


def test_get_missing_pod_is_not_found(shared):
    p = shared.run("get", "pod", "no-such-pod")
    assert p.returncode == 1 and 'pods "no-such-pod" not found' in p.stderr, p


# ---------------------------------------------------------------- Deployments
def test_deployment_scales_up_and_down(shared):
    name = "scaler"
    assert "deployment.apps/scaler created" in shared.apply(deployment_yaml(name, 2, node=CHURN_NODE))
    try:
        shared.wait_running(selector=f"app={name}", count=2)
        shared.ok("scale", "deployment", name, "--replicas", "5")
        pods = shared.wait_running(selector=f"app={name}", count=5)
        assert {p["spec"]["nodeName"] for p in pods} == {f"node{CHURN_NODE}"}, "the nodeSelector holds"
        assert len({p["status"]["podIP"] for p in pods}) == 5
        for p in pods[:2]:     # new pods answer
            f = echo_fields(shared.curl("client", f"http://{p['status']['podIP']}:8080/"))
            assert f.get("Pod") == f"default/{p['metadata']['name']}", f
        shared.ok("scale", "deployment", name, "--replicas", "1")
        poll(lambda: len(shared.api_pods(f"app={name}")) == 1, timeout=15,
             what="scale down to 1 to remove the other pods")
        left = shared.wait_running(selector=f"app={name}", count=1)
        assert left[0]["metadata"]["name"] in {p["metadata"]["name"] for p in pods}
        shared.ok("scale", "deployment", name, "--replicas", "0")
        poll(lambda: shared.api_pods(f"app={name}") == [], timeout=15, what="scale to 0")
        dep = json.loads(shared.ok("get", "deployment", name, "-o", "json"))
        assert dep["spec"]["replicas"] == 0
    finally:
        shared.run("delete", "deployment", name)
    poll(lambda: shared.api_pods(f"app={name}") == [], what="the deployment's pods to go")


def test_deleted_pod_is_replaced(shared):
    name = "keeper"
    shared.apply(deployment_yaml(name, 2, node=CHURN_NODE))
    try:
        before = shared.wait_running(selector=f"app={name}", count=2)
        victim = before[0]["metadata"]["name"]
        assert f'pod "{victim}" deleted' in shared.ok("delete", "pod", victim)
        after = shared.wait_running(selector=f"app={name}", count=2)
        names = {p["metadata"]["name"] for p in after}
        assert victim not in names
        assert before[1]["metadata"]["name"] in names
        new = next(p for p in after if p["metadata"]["name"] != before[1]["metadata"]["name"])
        f = echo_fields(shared.curl("client", f"http://{new['status']['podIP']}:8080/"))
        assert f.get("Pod") == f"default/{new['metadata']['name']}", f
        # the deleted pod's namespace is gone from the machine
        assert f"{shared.name}.pod.default.{victim}" not in sh("ip netns list").stdout
    finally:
        shared.run("delete", "deployment", name)


# ---------------------------------------------------------------- restarts and logs
def test_killed_container_restarts_and_serves_again(shared):
    name = "crashy"
    shared.apply(pod_yaml(name, "toycluster/echo", node=CHURN_NODE, port=8080))
    try:
        pod = shared.wait_running(names=[name])[0]
        old_pid = container_pid(pod)
        os.kill(old_pid, signal.SIGKILL)

        def restarted():
            p = shared.api_pod(name)
            st = p["status"]["containerStatuses"][0]
            return p if (st["restartCount"] == 1 and st.get("ready") and p["status"]["phase"] == "Running"
                         and container_pid(p) != old_pid) else None
        pod = poll(restarted, what="the killed container to restart")
        st = pod["status"]["containerStatuses"][0]
        assert st["lastState"]["terminated"]["exitCode"] == 137, st
        row = shared.ok("get", "pod", name).splitlines()[1]
        assert re.match(rf"{name}\s+1/1\s+Running\s+1 \(\d+s ago\)\s", row), row
        assert pod["status"]["podIP"] == shared.pod(name)["status"]["podIP"]
        f = echo_fields(shared.curl("client", f"http://{pod['status']['podIP']}:8080/"))
        assert f.get("Pod") == f"default/{name}", f
    finally:
        shared.ok("delete", "pod", name)


def test_logs_show_output_and_previous_after_restart(shared):
    name = "talker"
    shared.apply(pod_yaml(name, "busybox", node=CHURN_NODE, command=[
        "sh", "-c", 'echo "hello from $(hostname) pid $$"; echo "to stderr" >&2; while :; do sleep 1; done',
        shared.name]))
    try:
        pod = shared.wait_running(names=[name])[0]
        pid = container_pid(pod)
        logs = poll(lambda: (lambda out: out if "to stderr" in out else None)(shared.ok("logs", name)),
                    what="the pod's output in its logs")
        assert f"hello from {name} pid {pid}\n" in logs, logs
        p = shared.run("logs", name, "-p")
        assert p.returncode == 2 and "previous" in p.stderr, p
        os.kill(pid, signal.SIGKILL)
        pod = poll(lambda: (lambda p: p if p["status"]["containerStatuses"][0]["restartCount"] == 1
                            and container_pid(p) not in (pid, 0) else None)(shared.api_pod(name)),
                   what="the container to restart")
        new_pid = container_pid(pod)
        poll(lambda: f"pid {new_pid}" in shared.ok("logs", name), what="the new container's output")
        current = shared.ok("logs", name)
        assert f"pid {pid}" not in current, current
        previous = shared.ok("logs", name, "-p")
        assert f"hello from {name} pid {pid}\n" in previous and f"pid {new_pid}" not in previous, previous
        assert shared.ok("logs", name, "--tail", "1").count("\n") == 1
    finally:
        shared.ok("delete", "pod", name)


def test_logs_follow_streams_new_lines(shared):
    name = "ticker"
    shared.apply(pod_yaml(name, "busybox", node=CHURN_NODE, command=[
        "sh", "-c", 'i=0; while :; do i=$((i+1)); echo "tick $i"; sleep 0.2; done', shared.name]))
    try:
        shared.wait_running(names=[name])
        proc = subprocess.Popen([*shared_cli(shared), "logs", name, "-f"], stdout=subprocess.PIPE, text=True)
        watchdog = threading.Timer(20, proc.kill)     # a hung follow fails the test instead of hanging it
        watchdog.start()
        try:
            seen = []
            for line in proc.stdout:
                seen.append(line.strip())
                if len(seen) >= 8:
                    break
            nums = [int(s.split()[1]) for s in seen]
            assert nums == list(range(nums[0], nums[0] + 8)), seen
        finally:
            watchdog.cancel()
            proc.kill()
            proc.wait()
    finally:
        shared.ok("delete", "pod", name)


def shared_cli(c):
    return [TOYCLUSTER, "--cluster", c.name]


def test_status_in_plain_words(shared):
    out = shared.ok("status")
    assert "The control plane is running" in out, out
    assert f"node1: {shared.node_ip(1)}, pod CIDR {shared.pod_subnet(1)}" in out, out
    assert f"node2: {shared.node_ip(2)}, pod CIDR {shared.pod_subnet(2)}" in out, out
    assert f"node3: {shared.node_ip(3)}, pod CIDR {shared.pod_subnet(3)}" in out, out


# ---------------------------------------------------------------- a pod's gateway must not move under it
def test_gateway_mac_is_stable(fresh_cluster):
    c = fresh_cluster
    c.apply(pod_yaml("client", "nicolaka/netshoot", node=1) + "---\n"
            + pod_yaml("echo", "toycluster/echo", node=2, port=8080))
    c.wait_running(names=["client", "echo"])
    echo_ip = c.pod("echo")["status"]["podIP"]
    assert "Pod: default/echo" in c.curl("client", f"http://{echo_ip}:8080/")     # the client learns its gateway
    gateway_mac = c.exec("node1", "cat", "/sys/class/net/cni0/address").stdout.strip()

    def port_macs():
        out = c.exec("node1", "ip", "-o", "link", "show", "master", "cni0").stdout
        return re.findall(r"link/ether (\S+)", out)

    # add pods on node1 until one of their veths has a lower MAC than the bridge: with the bug, the bridge
    # takes that MAC; with a fixed address it keeps its own
    for round_ in range(8):
        names = [f"churn-{round_}-{i}" for i in range(4)]
        c.apply("---\n".join(pod_yaml(n, "busybox", node=1) for n in names))
        c.wait_running(names=names)
        if any(int(m.replace(":", ""), 16) < int(gateway_mac.replace(":", ""), 16) for m in port_macs()):
            break
    else:
        pytest.skip("no pod's veth got a MAC below the bridge's in 32 pods")
    now = c.exec("node1", "cat", "/sys/class/net/cni0/address").stdout.strip()
    p = c.exec("client", "curl", "-s", "--max-time", "3", f"http://{echo_ip}:8080/", check=None)
    assert now == gateway_mac and p.returncode == 0, (
        f"node1's cni0 (the pods' gateway) changed MAC from {gateway_mac} to {now} as pods were added; "
        f"the client pod's cross-node curl then exited {p.returncode}; the client's neighbours: "
        + c.exec("client", "ip", "neigh", check=None).stdout)
