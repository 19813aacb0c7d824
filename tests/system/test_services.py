"""Services and kube-proxy on a real 2-node cluster (issue 3): ClusterIP and NodePort allocation, endpoints
that hold only Ready pods, kube-proxy's iptables rules on every node, and the traffic through them.

One cluster for the whole module (`svc`); every test names what it adds after itself. Traffic goes only to
addresses of this cluster: pod IPs and ClusterIPs from inside its pods and nodes, node IPs from the
machine's shell. No test asserts that something happened quickly: changes are polled for with generous
timeouts (the only time checks are lower bounds: initialDelaySeconds and failureThreshold must hold a
pod back at least that long, which a slow machine cannot break).
"""
import base64
import hashlib
import ipaddress
import json
import os
import random
import re
import signal
import subprocess
import time

import pytest

from conftest import cluster_up, container_pid, poll

# ---------------------------------------------------------------- helpers


def doc(kind: str, name: str, spec: dict, labels: dict | None = None, api: str = "v1") -> dict:
    meta = {"name": name}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": api, "kind": kind, "metadata": meta, "spec": spec}


def manifest(*docs) -> str:
    return "".join("---\n" + json.dumps(d) + "\n" for d in docs)


def service(name: str, selector: dict | None, ports: list[dict], **spec) -> dict:
    s = {"ports": ports, **spec}
    if selector is not None:
        s["selector"] = selector
    return doc("Service", name, s)


def pod(name: str, node: int | None = None, image: str = "toycluster/echo", ports: list | None = None,
        labels: dict | None = None, readiness: dict | None = None, command: list | None = None,
        containers: list | None = None) -> dict:
    if containers is None:
        c = {"name": "main", "image": image}
        if ports is not None:
            c["ports"] = ports
        if readiness:
            c["readinessProbe"] = readiness
        if command:
            c["command"] = command
        containers = [c]
    spec = {"containers": containers}
    if node:
        spec["nodeSelector"] = {"kubernetes.io/hostname": f"node{node}"}
    return doc("Pod", name, spec, labels or {"app": name})


def deployment(name: str, replicas: int, port: int = 8080, port_name: str = "http") -> dict:
    return doc("Deployment", name, {
        "replicas": replicas, "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}},
                     "spec": {"containers": [{"name": "web", "image": "toycluster/echo",
                                              "ports": [{"containerPort": port, "name": port_name}]}]}}},
        api="apps/v1")


def answers(text: str) -> list[dict]:
    """The echo server's answers in TEXT (one per response): {"Hostname": ..., "RemoteAddr": ...}."""
    out = []
    for chunk in text.split("Hostname: ")[1:]:
        fields = {"Hostname": chunk.splitlines()[0].strip()}
        for line in chunk.splitlines()[1:]:
            key, sep, value = line.partition(": ")
            if sep and key not in fields:
                fields[key] = value.strip()
        out.append(fields)
    return out


def remote_ip(answer: dict) -> str:
    return answer.get("RemoteAddr", "").rpartition(":")[0]


def curl(c, client: str, url: str, *extra, max_time: int = 5):
    """curl from pod or node CLIENT; returns the CompletedProcess (exit status not checked)."""
    return c.exec(client, "curl", "-sS", "--max-time", str(max_time), *extra, url, check=None)


def curl_new_connections(c, client: str, url: str, n: int) -> list[dict]:
    """N requests from CLIENT, each on a new connection (Connection: close), one curl process."""
    p = c.exec(client, "curl", "-sS", "--max-time", "60", "-H", "Connection: close", f"{url}?[1-{n}]", check=None)
    got = answers(p.stdout)
    assert p.returncode == 0 and len(got) == n, f"curl exited {p.returncode}, {len(got)} answers of {n}: {p.stderr}"
    return got


def host_curl(url: str, max_time: int = 5):
    """curl from the machine's own shell (only ever to this cluster's node IPs)."""
    return subprocess.run(["curl", "-sS", "--max-time", str(max_time), url], capture_output=True, text=True,
                          timeout=max_time + 10)


def get_json(c, *what) -> dict:
    return json.loads(c.ok("get", *what, "-o", "json"))


def svc_obj(c, name: str) -> dict:
    return get_json(c, "svc", name)


def node_port(c, name: str, i: int = 0) -> int:
    return svc_obj(c, name)["spec"]["ports"][i]["nodePort"]


def endpoints(c, name: str) -> set[str]:
    """Ready "ip:port" pairs of Service NAME's Endpoints object."""
    ep = get_json(c, "endpoints", name)
    return {f"{a['ip']}:{p['port']}" for s in ep.get("subsets") or [] for a in s.get("addresses") or []
            for p in s.get("ports") or []}


def endpoint_ips(c, name: str) -> set[str]:
    return {e.rpartition(":")[0] for e in endpoints(c, name)}


def iptables_save(c, node: str, table: str | None = None) -> str:
    args = ["iptables-legacy-save"] + (["-t", table] if table else [])
    return c.exec(node, *args).stdout


def dnat_targets(c, node: str) -> set[str]:
    return set(re.findall(r"--to-destination (\S+)", iptables_save(c, node, "nat")))


def wait_rules(c, name: str, eps, nodes=("node1", "node2"), extra: str = "") -> str:
    """Poll until every node's nat table has Service NAME's rules leading to each of EPS ("ip:port"),
    and EXTRA if given; return the last node's nat table."""
    def ready(node):
        text = iptables_save(c, node, "nat")
        return re.search(rf'"default/{re.escape(name)}[: ]', text) and extra in text and \
            all(f"--to-destination {e}" in text for e in eps) and text
    text = ""
    for node in nodes:
        text = poll(lambda: ready(node), what=f"{name}'s rules on {node}")
    return text


def pods_running(c, names: list[str], timeout: float = 20.0) -> dict[str, dict]:
    """Poll until the pods NAMES are Running with an IP (ready or not); {name: pod}."""
    def check():
        pods = {p["metadata"]["name"]: p for p in c.pods() if p["metadata"]["name"] in names}
        if len(pods) == len(names) and all(p.get("status", {}).get("phase") == "Running"
                                           and p["status"].get("podIP") for p in pods.values()):
            return pods
        return None
    return poll(check, timeout=timeout, what=f"pods {names} to be Running")


def ready_pods(c, selector: str) -> list[dict]:
    return [p for p in c.pods("-l", selector) if any(
        x["type"] == "Ready" and x["status"] == "True" for x in p.get("status", {}).get("conditions", []))]


def hash16(text: str) -> str:
    """Upstream kube-proxy's chain-name hash, computed here independently of toycluster."""
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:16]


def svc_get_row(c, name: str) -> list[str]:
    lines = c.ok("get", "svc", name).splitlines()
    assert len(lines) == 2, lines
    return re.split(r"\s{2,}", lines[1].strip())


TCP_BANNER = ("import socket,sys\n"
              "s=socket.create_connection((sys.argv[1],int(sys.argv[2])),timeout=5)\n"
              "print(s.recv(300).decode().strip())\n")
UDP_ASK = ("import socket,sys\n"
           "for _ in range(5):\n"
           " s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.settimeout(1)\n"
           " s.sendto(b'ping',(sys.argv[1],int(sys.argv[2])))\n"
           " try:\n  print(s.recv(300).decode());break\n"
           " except socket.timeout:\n  pass\n")
UDP_ECHO = ("import os,socket\n"
            "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
            "s.bind(('',5353))\n"
            "while True:\n"
            " d,a=s.recvfrom(4096)\n"
            " s.sendto(('%s %s:%d '%(os.uname().nodename,a[0],a[1])).encode()+d,a)\n")


# ---------------------------------------------------------------- the module's cluster

@pytest.fixture(scope="module")
def svc():
    """A 2-node cluster with client pods on each node, a 3-replica echo Deployment `web` behind the
    ClusterIP Service `web` (port 80, name http, targetPort 8080), the NodePort Service `np` in front of
    the same pods, and `nobody`, whose selector matches nothing."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    with cluster_up() as c:
        c.apply(manifest(
            pod("client", node=1, image="nicolaka/netshoot"),
            pod("client2", node=2, image="nicolaka/netshoot"),
            deployment("web", 3),
            service("web", {"app": "web"}, [{"name": "http", "port": 80, "targetPort": 8080}]),
            service("np", {"app": "web"}, [{"name": "http", "port": 80, "targetPort": "http"}], type="NodePort"),
            service("nobody", {"app": "nothing-has-this-label"}, [{"port": 80, "targetPort": 8080}])))
        running = c.wait_running(names=["client", "client2"])
        c.ip = {p["metadata"]["name"]: p["status"]["podIP"] for p in running}
        web = c.wait_running(selector="app=web", count=3)
        c.web = {p["metadata"]["name"]: p for p in web}
        c.ip.update({n: p["status"]["podIP"] for n, p in c.web.items()})
        assert {p["spec"]["nodeName"] for p in web} == {"node1", "node2"}, "web pods should be on both nodes"
        c.vip = svc_obj(c, "web")["spec"]["clusterIP"]
        poll(lambda: endpoint_ips(c, "web") == {p["status"]["podIP"] for p in web}, what="web's endpoints")
        yield c


# ---------------------------------------------------------------- ClusterIP, ports, protocols

def test_cluster_ip_is_allocated_from_the_service_range_unless_given(svc):
    net = ipaddress.ip_network(svc.service_cidr)
    used = {s["spec"].get("clusterIP") for s in get_json(svc, "svc", "-A")["items"]}
    given = next(str(ip) for ip in net.hosts() if str(ip) not in used and ip > net[4242])
    svc.apply(manifest(service("fixed-ip", {"app": "web"}, [{"port": 80, "targetPort": 8080}], clusterIP=given)))
    ips = {}
    specs = {s["metadata"]["name"]: s["spec"] for s in get_json(svc, "svc")["items"]}
    for name in ("web", "np", "nobody", "fixed-ip"):
        spec = specs[name]
        ips[name] = spec["clusterIP"]
        assert spec["clusterIPs"] == [spec["clusterIP"]]
        ip = ipaddress.ip_address(spec["clusterIP"])
        assert ip in net and ip not in (net.network_address, net.broadcast_address, net[1], net[10]), spec
    assert ips["fixed-ip"] == given
    assert len(set(ips.values())) == len(ips), ips
    # the given address works as a VIP
    wait_rules(svc, "fixed-ip", [], nodes=["node1"], extra=f"-d {given}/32")
    got = answers(curl(svc, "client", f"http://{given}/").stdout)
    assert got and got[0]["Hostname"] in svc.web, got
    # re-applying a Service without clusterIP keeps its address (it is immutable, never re-allocated)
    svc.apply(manifest(service("fixed-ip", {"app": "web"}, [{"port": 80, "targetPort": 8080}])))
    assert svc_obj(svc, "fixed-ip")["spec"]["clusterIP"] == given


def test_named_target_port_is_resolved_per_pod(svc):
    """targetPort "web" is 8080 in one pod and 9090 in another; a pod that does not declare the name gets
    no endpoint (not an error). Pods with different resolved ports get different EndpointSlices."""
    svc.apply(manifest(
        pod("named-a", node=1, ports=[{"containerPort": 8080, "name": "web"}], labels={"app": "named"}),
        pod("named-b", node=2, ports=[{"containerPort": 9090, "name": "web"}], labels={"app": "named"}),
        pod("named-c", node=2, ports=[{"containerPort": 8080}], labels={"app": "named"}),
        service("named", {"app": "named"}, [{"name": "http", "port": 80, "targetPort": "web"}])))
    pods = svc.wait_running(names=["named-a", "named-b", "named-c"])
    ip = {p["metadata"]["name"]: p["status"]["podIP"] for p in pods}
    want = {f"{ip['named-a']}:8080", f"{ip['named-b']}:9090"}
    poll(lambda: endpoints(svc, "named") == want, what=f"endpoints {want}")
    assert ip["named-c"] not in svc.ok("get", "endpoints", "named")
    slices = [s for s in get_json(svc, "endpointslices")["items"]
              if s["metadata"]["labels"].get("kubernetes.io/service-name") == "named"]
    by_port = {s["ports"][0]["port"]: [e["addresses"][0] for e in s["endpoints"]] for s in slices}
    assert by_port == {8080: [ip["named-a"]], 9090: [ip["named-b"]]}, by_port
    wait_rules(svc, "named", want)
    vip = svc_obj(svc, "named")["spec"]["clusterIP"]
    seen = {a["Hostname"] for a in curl_new_connections(svc, "client", f"http://{vip}/", 30)}
    assert seen == {"named-a", "named-b"}, seen


def test_several_ports_tcp_and_udp(svc):
    """One Service with three ports: HTTP, a second TCP port (a redis stand-in that names its port in its
    banner) and UDP (a small Python echo). Each reaches its own container port."""
    svc.apply(manifest(
        pod("multi", node=2, containers=[
            {"name": "web", "image": "toycluster/echo", "ports": [{"containerPort": 8080, "name": "http"}]},
            {"name": "db", "image": "redis", "ports": [{"containerPort": 6379, "name": "redis"}]},
            {"name": "udp", "image": "python:3.12", "command": ["python3", "-c", UDP_ECHO],
             "ports": [{"containerPort": 5353, "name": "dns", "protocol": "UDP"}]}]),
        service("multi", {"app": "multi"}, [
            {"name": "http", "port": 80, "targetPort": "http"},
            {"name": "redis", "port": 6380, "targetPort": "redis"},
            {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": "dns"}])))
    ip = svc.wait_running(names=["multi"])[0]["status"]["podIP"]
    poll(lambda: endpoints(svc, "multi") == {f"{ip}:8080", f"{ip}:6379", f"{ip}:5353"}, what="multi's endpoints")
    vip = svc_obj(svc, "multi")["spec"]["clusterIP"]
    row = svc_get_row(svc, "multi")
    assert row[4] == "80/TCP,6380/TCP,53/UDP", row
    poll(lambda: {f"{ip}:8080", f"{ip}:6379", f"{ip}:5353"} <= dnat_targets(svc, "node1"), what="multi's rules")
    nat = iptables_save(svc, "node1", "nat")
    assert re.search(rf"-d {re.escape(vip)}/32 -p udp -m comment --comment \"default/multi:dns cluster IP\" "
                     rf"-m udp --dport 53 -j KUBE-SVC-{hash16('default/multi:dnsudp')}", nat), nat

    got = answers(curl(svc, "client", f"http://{vip}/").stdout)
    assert got and got[0]["Hostname"] == "multi", got
    banner = svc.exec("client", "python3", "-c", TCP_BANNER, vip, "6380").stdout.strip()
    assert banner == f"redis stand-in on default/multi ({ip}:6379)", banner
    reply = svc.exec("client", "python3", "-c", UDP_ASK, vip, "53").stdout.split()
    # the UDP echo names itself and the client it saw: the client pod's own address (no SNAT)
    assert reply[:1] == ["multi"] and reply[1].rpartition(":")[0] == svc.ip["client"] and reply[2] == "ping", reply


# ---------------------------------------------------------------- endpoints hold only Ready pods

def probe_file(svc, pod_name: str) -> str:
    """A readiness file for an exec probe: /tmp is the machine's own here, so it carries the cluster's name."""
    return f"/tmp/{svc.name}-{pod_name}-ready"


def test_readiness_probes_decide_who_is_an_endpoint(svc):
    """httpGet, tcpSocket and exec probes; a pod whose probe fails is not an endpoint; an exec-probed pod
    becomes one when its file appears, and leaves the endpoints and every node's rules when it goes, while
    traffic keeps flowing to the others."""
    flag = probe_file(svc, "ready-exec")
    if os.path.exists(flag):
        os.remove(flag)
    http = [{"containerPort": 8080, "name": "http"}]
    svc.apply(manifest(
        pod("ready-exec", node=1, ports=http, labels={"app": "ready"},
            readiness={"exec": {"command": ["test", "-f", flag]}, "periodSeconds": 1, "failureThreshold": 1}),
        pod("ready-http", node=2, ports=http, labels={"app": "ready"},
            readiness={"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 1}),
        pod("ready-tcp", node=1, ports=http, labels={"app": "ready"},
            readiness={"tcpSocket": {"port": "http"}, "periodSeconds": 1}),
        pod("ready-never", node=2, ports=http, labels={"app": "ready"},
            readiness={"httpGet": {"path": "/", "port": 9999}, "periodSeconds": 1}),
        service("ready", {"app": "ready"}, [{"name": "http", "port": 80, "targetPort": "http"}])))
    try:
        pods = pods_running(svc, ["ready-exec", "ready-http", "ready-tcp", "ready-never"])
        ip = {n: p["status"]["podIP"] for n, p in pods.items()}
        poll(lambda: endpoint_ips(svc, "ready") == {ip["ready-http"], ip["ready-tcp"]},
             what="the http- and tcp-probed pods (only) to be endpoints")
        not_ready = {p["metadata"]["name"] for p in svc.pods("-l", "app=ready")} - \
            {p["metadata"]["name"] for p in ready_pods(svc, "app=ready")}
        assert not_ready == {"ready-exec", "ready-never"}, not_ready
        rows = {line.split()[0]: line.split() for line in svc.ok("get", "pods", "-l", "app=ready").splitlines()[1:]}
        assert rows["ready-exec"][1:3] == ["0/1", "Running"] and rows["ready-http"][1] == "1/1", rows
        ep = get_json(svc, "endpoints", "ready")
        unready = {a["ip"] for s in ep["subsets"] for a in s.get("notReadyAddresses", [])}
        assert unready == {ip["ready-exec"], ip["ready-never"]}, ep

        open(flag, "w").close()                       # the exec probe now succeeds
        poll(lambda: ip["ready-exec"] in endpoint_ips(svc, "ready"), what="ready-exec to become an endpoint")
        for node in ("node1", "node2"):
            poll(lambda: f"{ip['ready-exec']}:8080" in dnat_targets(svc, node), what=f"ready-exec's DNAT on {node}")
        vip = svc_obj(svc, "ready")["spec"]["clusterIP"]
        seen = {a["Hostname"] for a in curl_new_connections(svc, "client", f"http://{vip}/", 30)}
        assert seen == {"ready-exec", "ready-http", "ready-tcp"}, seen

        os.remove(flag)                               # ... and now fails: unready within a probe period
        gone = f"{ip['ready-exec']}:8080"
        poll(lambda: ip["ready-exec"] not in endpoint_ips(svc, "ready"), timeout=10,
             what="ready-exec to leave `get endpoints`")
        for node in ("node1", "node2"):
            poll(lambda: gone not in dnat_targets(svc, node), timeout=10, what=f"ready-exec's DNAT to leave {node}")
        assert ip["ready-exec"] not in svc.ok("get", "endpoints", "ready")
        got = curl_new_connections(svc, "client", f"http://{vip}/", 30)
        assert {a["Hostname"] for a in got} == {"ready-http", "ready-tcp"}, got
    finally:
        if os.path.exists(flag):
            os.remove(flag)


def test_initial_delay_and_failure_threshold(svc):
    """initialDelaySeconds holds the first probe back; failureThreshold failures in a row are needed
    before a pod turns unready (lower bounds only: a slow machine cannot make these fail)."""
    flag = probe_file(svc, "thresh")
    open(flag, "w").close()
    try:
        applied = time.monotonic()
        svc.apply(manifest(
            pod("delayed", node=1, labels={"app": "delayed"},
                readiness={"exec": {"command": ["true"]}, "initialDelaySeconds": 2, "periodSeconds": 1}),
            pod("thresh", node=2, labels={"app": "thresh"},
                readiness={"exec": {"command": ["test", "-f", flag]}, "periodSeconds": 1, "failureThreshold": 3}),
            service("delayed", {"app": "delayed"}, [{"port": 80, "targetPort": 8080}]),
            service("thresh", {"app": "thresh"}, [{"port": 80, "targetPort": 8080}])))
        poll(lambda: ready_pods(svc, "app=delayed"), what="the delayed pod to be Ready")
        assert time.monotonic() - applied >= 2.0, "Ready before initialDelaySeconds had passed"
        poll(lambda: endpoint_ips(svc, "delayed"), what="the delayed pod's endpoint")

        poll(lambda: endpoint_ips(svc, "thresh"), what="the thresh pod's endpoint")
        os.remove(flag)
        removed = time.monotonic()
        poll(lambda: not endpoint_ips(svc, "thresh"), timeout=15, what="thresh to leave its endpoints")
        # three failed probes a period apart: at least two periods after the file went
        assert time.monotonic() - removed >= 1.5, "unready before failureThreshold probes had failed"
    finally:
        if os.path.exists(flag):
            os.remove(flag)


def test_exec_probes_run_inside_the_container_and_time_out(svc):
    """An exec probe's command runs inside the container, as `kubectl exec` does: the pod's hostname, the
    container's environment (a value and a fieldRef) and the pod's network (its IP on eth0).  One that runs
    past timeoutSeconds fails, and is killed: its processes do not pile up."""
    inside = ('test "$(hostname)" = probe-inside && test "$GREETING" = hello && '
              'ip -4 -o addr show dev eth0 | grep -q "inet $MY_IP/"')
    svc.apply(manifest(
        pod("probe-inside", node=1, containers=[{
            "name": "main", "image": "toycluster/echo",
            "env": [{"name": "GREETING", "value": "hello"},
                    {"name": "MY_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
            "readinessProbe": {"exec": {"command": ["sh", "-c", inside]}, "periodSeconds": 1}}]),
        pod("probe-slow", node=2, readiness={"exec": {"command": ["sleep", "7.31"]}, "periodSeconds": 1,
                                             "timeoutSeconds": 1}),
        service("probe-inside", {"app": "probe-inside"}, [{"port": 80, "targetPort": 8080}])))
    try:
        pods = pods_running(svc, ["probe-inside", "probe-slow"])
        poll(lambda: endpoint_ips(svc, "probe-inside") == {pods["probe-inside"]["status"]["podIP"]},
             what="probe-inside to pass its exec probe and be an endpoint")
        time.sleep(4)                                 # four more probes of probe-slow, each cut at 1 s
        assert not ready_pods(svc, "app=probe-slow")
        sleeps = [d for d in os.listdir("/proc") if d.isdigit() and _cmdline(d) == b"sleep\x007.31\x00"]
        assert len(sleeps) <= 1, f"{len(sleeps)} timed-out probe processes still alive"
    finally:
        for kind, name in (("pod", "probe-inside"), ("pod", "probe-slow"), ("svc", "probe-inside")):
            svc.ok("delete", kind, name, "--wait", "false")


def _cmdline(pid: str) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def test_deleted_and_crashed_pods_leave_the_endpoints(svc):
    """A pod being deleted and a pod whose container crashed (and is now in back-off) leave the endpoints
    and every node's rules; the remaining pod keeps serving."""
    crash = probe_file(svc, "gone-crash")
    if os.path.exists(crash):
        os.remove(crash)
    http = [{"containerPort": 8080, "name": "http"}]
    svc.apply(manifest(
        pod("gone-del", node=1, ports=http, labels={"app": "gone"}),
        pod("gone-keep", node=2, ports=http, labels={"app": "gone"}),
        # a container that serves until it is killed, then fails at once while the crash file exists
        pod("gone-crash", node=2, ports=http, labels={"app": "gone"},
            command=["sh", "-c", f"test -f {crash} && exit 3; exec python3 -m http.server 8080"]),
        service("gone", {"app": "gone"}, [{"name": "http", "port": 80, "targetPort": "http"}])))
    try:
        pods = {p["metadata"]["name"]: p for p in svc.wait_running(names=["gone-del", "gone-keep", "gone-crash"])}
        ip = {n: p["status"]["podIP"] for n, p in pods.items()}
        poll(lambda: endpoint_ips(svc, "gone") == set(ip.values()), what="three endpoints")
        vip = svc_obj(svc, "gone")["spec"]["clusterIP"]
        # the crash-to-be pod serves (python's http.server), so the rules really lead there
        poll(lambda: "Directory listing" in curl(svc, "client", f"http://{ip['gone-crash']}:8080/").stdout,
             what="gone-crash to serve")

        svc.ok("delete", "pod", "gone-del", "--wait", "false")
        poll(lambda: ip["gone-del"] not in endpoint_ips(svc, "gone"), timeout=10, what="the deleted pod to leave")
        for node in ("node1", "node2"):
            poll(lambda: f"{ip['gone-del']}:8080" not in dnat_targets(svc, node), timeout=10,
                 what=f"the deleted pod's DNAT to leave {node}")

        open(crash, "w").close()
        os.kill(container_pid(pods["gone-crash"]), signal.SIGKILL)
        poll(lambda: ip["gone-crash"] not in endpoint_ips(svc, "gone"), timeout=10, what="the crashed pod to leave")
        for node in ("node1", "node2"):
            poll(lambda: f"{ip['gone-crash']}:8080" not in dnat_targets(svc, node), timeout=10,
                 what=f"the crashed pod's DNAT to leave {node}")
        st = svc.pod("gone-crash")["status"]["containerStatuses"][0]
        assert st["restartCount"] >= 1 and not st["ready"], st

        got = curl_new_connections(svc, "client", f"http://{vip}/", 20)
        assert {a["Hostname"] for a in got} == {"gone-keep"}, got
    finally:
        if os.path.exists(crash):
            os.remove(crash)
        svc.run("delete", "pod", "gone-crash", "gone-keep", "--wait", "false")


UDP_FROM_PORT = ("import socket,sys\n"
                 "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.settimeout(1)\n"
                 "s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(('',int(sys.argv[3])))\n"
                 "s.sendto(b'ping',(sys.argv[1],int(sys.argv[2])))\n"
                 "try:\n print(s.recv(300).decode())\nexcept socket.timeout:\n print('TIMEOUT')\n")


def test_udp_client_follows_a_replaced_endpoint(svc):
    """A UDP client that keeps its source port (a resolver, a statsd client) must reach the new pod once
    the old one is gone. kube-proxy deletes the conntrack entries of removed UDP endpoints for this;
    without that the client's packets follow the stale entry to the dead address for as long as it sends."""
    udp = lambda name: pod(name, node=2, labels={"app": "udpswap"}, command=["python3", "-c", UDP_ECHO],  # noqa: E731
                           ports=[{"containerPort": 5353, "name": "dns", "protocol": "UDP"}])
    svc.apply(manifest(udp("udp-old"), service("udpswap", {"app": "udpswap"},
                                               [{"port": 53, "protocol": "UDP", "targetPort": "dns"}])))
    old = svc.wait_running(names=["udp-old"])[0]["status"]["podIP"]
    poll(lambda: f"{old}:5353" in dnat_targets(svc, "node1"), what="udp-old's rules on node1")
    vip = svc_obj(svc, "udpswap")["spec"]["clusterIP"]
    sport = str(random.randrange(40000, 45000))
    ask = lambda: svc.exec("client", "python3", "-c", UDP_FROM_PORT, vip, "53", sport).stdout.split()  # noqa: E731
    first = poll(lambda: (r := ask()) and r[0] == "udp-old" and r, what="udp-old to answer")
    assert first[1] == f"{svc.ip['client']}:{sport}", first

    svc.ok("delete", "pod", "udp-old")
    svc.apply(manifest(udp("udp-new")))
    new = svc.wait_running(names=["udp-new"])[0]["status"]["podIP"]
    poll(lambda: endpoints(svc, "udpswap") == {f"{new}:5353"}, what="udp-new as the only endpoint")
    poll(lambda: (t := dnat_targets(svc, "node1")) and f"{new}:5353" in t and f"{old}:5353" not in t,
         what="node1's rules to lead to udp-new only")
    reply = ask()          # kube-proxy deleted the flow to udp-old, so the same client port reaches udp-new
    assert reply[0] == "udp-new", reply


# ---------------------------------------------------------------- spreading and stickiness

def test_300_connections_spread_over_3_endpoints(svc):
    got = curl_new_connections(svc, "client", f"http://{svc.vip}/", 300)
    counts = {n: 0 for n in svc.web}
    for a in got:
        counts[a["Hostname"]] += 1
    assert all(60 <= n <= 140 for n in counts.values()), counts


def test_one_keep_alive_connection_stays_on_one_pod(svc):
    for _ in range(3):
        p = curl(svc, "client", f"http://{svc.vip}/one", f"http://{svc.vip}/two", f"http://{svc.vip}/three",
                 f"http://{svc.vip}/four", f"http://{svc.vip}/five")
        got = answers(p.stdout)
        assert len(got) == 5, p.stdout + p.stderr
        assert len({a["Hostname"] for a in got}) == 1, got
        assert len({a["RemoteAddr"] for a in got}) == 1, got      # one connection: one client port


def test_session_affinity_client_ip_pins_a_client_to_one_pod(svc):
    svc.apply(manifest(service("sticky", {"app": "web"}, [{"name": "http", "port": 80, "targetPort": 8080}],
                               sessionAffinity="ClientIP",
                               sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}})))
    vip = svc_obj(svc, "sticky")["spec"]["clusterIP"]
    nat = wait_rules(svc, "sticky", [], extra="--rcheck")
    assert re.search(r"-m recent --rcheck --seconds 60 --reap --name KUBE-SEP-\w+ --mask 255.255.255.255 --rsource",
                     nat), nat
    for client in ("client", "client2"):
        got = curl_new_connections(svc, client, f"http://{vip}/", 30)
        assert len({a["Hostname"] for a in got}) == 1, got
        assert len({a["RemoteAddr"] for a in got}) == 30, "expected 30 separate connections"


# ---------------------------------------------------------------- source addresses, hairpin, same node

def test_pod_to_cluster_ip_keeps_the_client_pod_ip(svc):
    got = curl_new_connections(svc, "client", f"http://{svc.vip}/", 30)
    nodes = {svc.web[a["Hostname"]]["spec"]["nodeName"] for a in got}
    assert nodes == {"node1", "node2"}, "expected answers from both nodes' pods"
    assert {remote_ip(a) for a in got} == {svc.ip["client"]}, got


def test_traffic_from_outside_the_pod_cidr_is_masqueraded(svc):
    """The machine's shell (192.168.x.1, outside the pod CIDR) to a NodePort: the pod sees a node-side
    address, never the shell's."""
    port = node_port(svc, "np")
    node_side = {svc.node_ip(1), svc.node_ip(2), str(svc.pod_subnet(1)[1]), str(svc.pod_subnet(2)[1])}
    for n in (1, 2):
        for _ in range(3):
            p = host_curl(f"http://{svc.node_ip(n)}:{port}/")
            got = answers(p.stdout)
            assert got, p.stderr
            assert remote_ip(got[0]) in node_side and remote_ip(got[0]) != svc.host_ip, got


def test_hairpin_a_pod_reaches_itself_through_its_service(svc):
    svc.apply(manifest(deployment("hairpin", 1),
                       service("hairpin", {"app": "hairpin"}, [{"name": "http", "port": 80, "targetPort": "http"}])))
    me = svc.wait_running(selector="app=hairpin", count=1)[0]
    name, node = me["metadata"]["name"], int(me["spec"]["nodeName"][4:])
    poll(lambda: endpoint_ips(svc, "hairpin") == {me["status"]["podIP"]}, what="hairpin's endpoint")
    wait_rules(svc, "hairpin", [f"{me['status']['podIP']}:8080"], nodes=[f"node{node}"])
    vip = svc_obj(svc, "hairpin")["spec"]["clusterIP"]
    for _ in range(3):
        p = curl(svc, name, f"http://{vip}/")
        got = answers(p.stdout)
        assert got and got[0]["Hostname"] == name, p.stdout + p.stderr
        # hairpin traffic is masqueraded (KUBE-SEP's "-s <endpoint> -j KUBE-MARK-MASQ"): the node's gateway
        assert remote_ip(got[0]) == str(svc.pod_subnet(node)[1]), got


def test_same_node_pod_to_cluster_ip_to_a_pod_on_the_same_bridge(svc):
    svc.apply(manifest(pod("samenode", node=1, ports=[{"containerPort": 8080}]),
                       service("samenode", {"app": "samenode"}, [{"port": 80, "targetPort": 8080}])))
    ip = svc.wait_running(names=["samenode"])[0]["status"]["podIP"]
    poll(lambda: endpoint_ips(svc, "samenode") == {ip}, what="samenode's endpoint")
    wait_rules(svc, "samenode", [f"{ip}:8080"], nodes=["node1"])
    vip = svc_obj(svc, "samenode")["spec"]["clusterIP"]
    for _ in range(3):
        got = answers(curl(svc, "client", f"http://{vip}/").stdout)
        assert got and got[0]["Hostname"] == "samenode", got
        assert remote_ip(got[0]) == svc.ip["client"], got     # replies un-DNATed on the bridge: no SNAT needed


@pytest.mark.parametrize("name", ["nobody", "unready-only"])
def test_a_service_without_ready_endpoints_refuses_at_once(svc, name):
    """`nobody` selects no pod; `unready-only` selects one whose readiness probe never succeeds."""
    if name == "unready-only":
        svc.apply(manifest(pod("unready-only", node=2, ports=[{"containerPort": 8080}],
                               readiness={"tcpSocket": {"port": 9999}, "periodSeconds": 1}),
                           service("unready-only", {"app": "unready-only"}, [{"port": 80, "targetPort": 8080}])))
        pods_running(svc, ["unready-only"])
        poll(lambda: get_json(svc, "endpoints", name).get("subsets"), what="unready-only's endpoints object")
        assert not ready_pods(svc, "app=unready-only")
    cells = svc.ok("get", "endpoints", name).splitlines()[1].split()
    # kubectl prints <none> for an Endpoints object without subsets, and an empty cell for subsets that
    # hold only notReadyAddresses (printers.go formatEndpoints)
    assert cells[1] == "<none>" if name == "nobody" else len(cells) == 2, cells
    vip = svc_obj(svc, name)["spec"]["clusterIP"]
    rule = re.compile(rf"-A KUBE-SERVICES -d {re.escape(vip)}/32 -p tcp -m comment --comment "
                      rf"\"default/{name} has no endpoints\" -m tcp --dport 80 -j REJECT")
    poll(lambda: rule.search(iptables_save(svc, "node1", "filter")), what=f"{name}'s REJECT rule on node1")
    p = curl(svc, "client", f"http://{vip}/", max_time=5)
    assert p.returncode == 7, (p.returncode, p.stderr)    # 7: could not connect (refused); 28 would be a timeout
    assert "Connection refused" in p.stderr or "Couldn't connect" in p.stderr, p.stderr


# ---------------------------------------------------------------- NodePort

def test_node_port_is_allocated_from_the_range_unless_given(svc):
    auto = node_port(svc, "np")
    assert 30000 <= auto <= 32767
    taken = {auto}
    given = random.choice([p for p in range(30000, 32768) if p not in taken])
    svc.apply(manifest(service("np-given", {"app": "web"}, [{"port": 80, "targetPort": 8080, "nodePort": given}],
                               type="NodePort")))
    assert node_port(svc, "np-given") == given
    assert svc_get_row(svc, "np-given")[4] == f"80:{given}/TCP"
    wait_rules(svc, "np-given", [], nodes=["node2"], extra=f"--dport {given} ")
    got = answers(host_curl(f"http://{svc.node_ip(2)}:{given}/").stdout)
    assert got and got[0]["Hostname"] in svc.web, got


def test_node_port_is_answered_on_every_node_from_everywhere(svc):
    port = node_port(svc, "np")
    checks = []
    for n in (1, 2):
        url = f"http://{svc.node_ip(n)}:{port}/"
        checks += [("pod client", lambda u=url: curl(svc, "client", u)),
                   (f"node{3 - n}", lambda u=url, n=n: curl(svc, f"node{3 - n}", u)),
                   ("the machine's shell", lambda u=url: host_curl(u)),
                   (f"node{n} on 127.0.0.1", lambda n=n: curl(svc, f"node{n}", f"http://127.0.0.1:{port}/"))]
    for who, fn in checks:
        p = fn()
        got = answers(p.stdout)
        assert got and got[0]["Hostname"] in svc.web, f"{who}: {p.returncode} {p.stdout} {p.stderr}"


def test_external_traffic_policy_local_and_cluster(svc):
    """One pod, on node2. Local: node2 answers and the pod sees the real client; node1 does not answer.
    Cluster (the default): both nodes answer."""
    svc.apply(manifest(
        pod("etp", node=2, ports=[{"containerPort": 8080}]),
        service("etp-local", {"app": "etp"}, [{"port": 80, "targetPort": 8080}], type="NodePort",
                externalTrafficPolicy="Local"),
        service("etp-cluster", {"app": "etp"}, [{"port": 80, "targetPort": 8080}], type="NodePort")))
    ip = svc.wait_running(names=["etp"])[0]["status"]["podIP"]
    for name in ("etp-local", "etp-cluster"):
        poll(lambda: endpoint_ips(svc, name) == {ip}, what=f"{name}'s endpoint")
    local, cluster = node_port(svc, "etp-local"), node_port(svc, "etp-cluster")
    for node in ("node1", "node2"):
        poll(lambda: f"{ip}:8080" in dnat_targets(svc, node), what=f"etp's rules on {node}")

    for _ in range(3):
        got = answers(host_curl(f"http://{svc.node_ip(2)}:{local}/").stdout)
        assert got and got[0]["Hostname"] == "etp", got
        assert remote_ip(got[0]) == svc.host_ip, got            # Local keeps the client's address
    p = host_curl(f"http://{svc.node_ip(1)}:{local}/", max_time=2)
    assert p.returncode != 0 and not answers(p.stdout), (p.returncode, p.stdout)
    nat1 = iptables_save(svc, "node1")
    assert "default/etp-local has no local endpoints" in nat1, nat1

    for n in (1, 2):
        got = answers(host_curl(f"http://{svc.node_ip(n)}:{cluster}/").stdout)
        assert got and got[0]["Hostname"] == "etp", (n, got)
        assert remote_ip(got[0]) != svc.host_ip, got            # Cluster masquerades


def test_load_balancer_is_a_node_port_with_an_external_address(svc):
    svc.apply(manifest(service("lb", {"app": "web"}, [{"name": "http", "port": 80, "targetPort": 8080}],
                               type="LoadBalancer")))
    spec = svc_obj(svc, "lb")["spec"]
    port = spec["ports"][0]["nodePort"]
    assert 30000 <= port <= 32767
    row = svc_get_row(svc, "lb")
    assert row[1:3] == ["LoadBalancer", spec["clusterIP"]] and row[4] == f"80:{port}/TCP", row
    # the cloud load balancer gives it an address on the "internet" segment (until then: <pending>)
    assert row[3] == "<pending>" or row[3].startswith("203.0.113."), row
    wait_rules(svc, "lb", [], extra=f"--dport {port} ")
    for n in (1, 2):
        got = answers(host_curl(f"http://{svc.node_ip(n)}:{port}/").stdout)
        assert got and got[0]["Hostname"] in svc.web, got


# ---------------------------------------------------------------- no rules for headless and ExternalName

def test_headless_and_external_name_services_get_no_rules(svc):
    svc.apply(manifest(
        service("headless", {"app": "web"}, [{"name": "http", "port": 80, "targetPort": 8080}], clusterIP="None"),
        doc("Service", "extname", {"type": "ExternalName", "externalName": "example.com"})))
    # the headless Service still has endpoints (DNS serves them), only no VIP and no rules
    poll(lambda: endpoint_ips(svc, "headless") == set(p["status"]["podIP"] for p in svc.web.values()),
         what="headless's endpoints")
    assert svc_get_row(svc, "headless")[1:5] == ["ClusterIP", "None", "<none>", "80/TCP"]
    assert svc_get_row(svc, "extname")[1:5] == ["ExternalName", "<none>", "example.com", "<none>"]
    svc.apply(manifest(service("after-headless", {"app": "web"}, [{"name": "http", "port": 80, "targetPort": 8080}])))
    for node in ("node1", "node2"):      # a later Service's rules are there: the sync ran after both
        text = poll(lambda: (t := iptables_save(svc, node)) and "default/after-headless:http" in t and t,
                    what=f"the rules on {node}")
        assert "default/headless" not in text and "default/extname" not in text, text


# ---------------------------------------------------------------- what kubectl and iptables-save show

def test_get_svc_endpoints_and_endpointslices_columns(svc):
    lines = svc.ok("get", "svc").splitlines()
    assert re.split(r"\s{2,}", lines[0].strip()) == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    np_port = node_port(svc, "np")
    assert svc_get_row(svc, "web")[:5] == ["web", "ClusterIP", svc.vip, "<none>", "80/TCP"]
    assert svc_get_row(svc, "np")[:5] == ["np", "NodePort", svc_obj(svc, "np")["spec"]["clusterIP"], "<none>",
                                          f"80:{np_port}/TCP"]
    wide = svc.ok("get", "svc", "web", "-o", "wide").splitlines()
    assert wide[0].split()[-1] == "SELECTOR" and wide[1].split()[-1] == "app=web", wide

    ep_lines = svc.ok("get", "endpoints").splitlines()
    assert ep_lines[0].split() == ["NAME", "ENDPOINTS", "AGE"]
    rows = {line.split()[0]: line.split() for line in ep_lines[1:]}
    assert rows["nobody"][1] == "<none>", rows
    web_eps = sorted(f"{ip}:8080" for ip in (p["status"]["podIP"] for p in svc.web.values()))
    assert sorted(rows["web"][1].split(",")) == web_eps, rows

    sl_lines = svc.ok("get", "endpointslices").splitlines()
    assert sl_lines[0].split() == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    slices = {line.split()[0]: line.split() for line in sl_lines[1:]}
    web_rows = [r for n, r in slices.items() if n.startswith("web-")]
    assert len(web_rows) == 1 and web_rows[0][1:3] == ["IPv4", "8080"], web_rows
    assert sorted(web_rows[0][3].split(",")) == sorted(e.rpartition(":")[0] for e in web_eps)
    nobody = [r for n, r in slices.items() if n.startswith("nobody-")]
    assert len(nobody) == 1 and nobody[0][1:4] == ["IPv4", "<unset>", "<unset>"], nobody


def test_iptables_save_shows_kube_proxy_chains(svc):
    np_port = node_port(svc, "np")
    web_eps = sorted(f"{p['status']['podIP']}:8080" for p in svc.web.values())   # upstream sorts "ip:port" text
    for node in ("node1", "node2"):
        nat = iptables_save(svc, node, "nat")
        filt = iptables_save(svc, node, "filter")
        for chain in ("KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-MARK-MASQ", "KUBE-POSTROUTING"):
            assert f":{chain} - " in nat, chain
        rules = [line for line in (nat + filt).splitlines() if line.startswith("-A ")
                 and not re.search(r"\bKUBE-(NWPLCY|POD-FW)-", line)]    # the network policy agent's
        assert rules and all(" -m comment --comment " in line for line in rules), \
            [line for line in rules if "-m comment" not in line]
        assert "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES" in nat
        assert "-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING" in nat
        assert re.search(r"-A KUBE-POSTROUTING .* -j MASQUERADE", nat)
        assert "-A KUBE-MARK-MASQ -m comment --comment \"kubernetes: mark for masquerade in KUBE-POSTROUTING\" " \
               "-j MARK --set-xmark 0x4000/0x4000" in nat

        svc_chain = "KUBE-SVC-" + hash16("default/web:httptcp")
        assert (f"-A KUBE-SERVICES -d {svc.vip}/32 -p tcp -m comment --comment \"default/web:http cluster IP\" "
                f"-m tcp --dport 80 -j {svc_chain}") in nat, nat
        jumps = [line for line in nat.splitlines() if line.startswith(f"-A {svc_chain} ") and "KUBE-SEP-" in line]
        assert len(jumps) == 3, jumps
        for line, ep, prob in zip(jumps, web_eps, ("0.33333333349", "0.50000000000", None)):
            sep = "KUBE-SEP-" + hash16("default/web:httptcp" + ep)
            assert f"--comment \"default/web:http -> {ep}\"" in line and line.endswith(f"-j {sep}"), line
            if prob:
                assert f"-m statistic --mode random --probability {prob} " in line, line
            else:
                assert "statistic" not in line, line
            ip = ep.rpartition(":")[0]
            assert f"-A {sep} -s {ip}/32 -m comment --comment \"default/web:http\" -j KUBE-MARK-MASQ" in nat
            assert f"-A {sep} -p tcp -m comment --comment \"default/web:http\" -m tcp -j DNAT " \
                   f"--to-destination {ep}" in nat
        ext = "KUBE-EXT-" + hash16("default/np:httptcp")
        assert f"-A KUBE-NODEPORTS -p tcp -m comment --comment \"default/np:http\" -m tcp --dport {np_port} " \
               f"-j {ext}" in nat, nat
        last = [line for line in nat.splitlines() if line.startswith("-A KUBE-SERVICES ")][-1]
        assert last.endswith("-m addrtype --dst-type LOCAL -j KUBE-NODEPORTS"), last


# chains of the network policy agent, which shares the filter table with kube-proxy (network_policy.py)
POLICY_CHAINS = re.compile(r"\bKUBE-(NWPLCY|POD-FW)-")


def tables(text: str) -> dict[str, list[str]]:
    """iptables-save text -> {table: its lines}, without "#" lines, with counters zeroed and without the
    network policy agent's chains and jumps."""
    out, table = {}, None
    for line in text.splitlines():
        if line.startswith("*"):
            table = out.setdefault(line[1:], [])
        elif table is not None and line and not line.startswith("#") and not POLICY_CHAINS.search(line):
            table.append(re.sub(r" \[\d+:\d+\]$", " [0:0]", line))
    return out


def test_the_kernel_holds_exactly_the_rules_proxy_rules_prints(svc):
    """`toycluster proxy-rules NODE` (rendered from the API, never read from the kernel) and the node's
    own iptables-legacy-save agree line for line, on every node."""
    for node in ("node1", "node2"):
        def same():
            want, have = tables(svc.ok("proxy-rules", node)), tables(iptables_save(svc, node))
            assert set(want) == {"nat", "filter"}, want.keys()
            assert have == want, [(t, sorted(set(have.get(t, [])) ^ set(want[t]))) for t in want]
            return True
        poll(same, what=f"{node}'s kernel rules to match proxy-rules")


def test_a_flushed_nat_table_is_restored_at_the_next_resync(svc):
    before = sorted(line for line in iptables_save(svc, "node1", "nat").splitlines() if line.startswith("-A "))
    assert any("DNAT" in line for line in before)
    p = svc.exec("node1", "sh", "-c", "iptables-legacy -t nat -F && iptables-legacy-save -t nat")
    assert "-A " not in p.stdout, p.stdout
    restored = poll(lambda: (now := sorted(line for line in iptables_save(svc, "node1", "nat").splitlines()
                                           if line.startswith("-A "))) == before and now,
                    timeout=25, interval=0.5, what="the nat table of node1 to be restored")
    assert restored == before
    got = curl_new_connections(svc, "client", f"http://{svc.vip}/", 10)
    assert {remote_ip(a) for a in got} == {svc.ip["client"]}


# ---------------------------------------------------------------- bad input: exit 2, nothing changed

def _bad(name, **spec):
    base = {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}
    base.update(spec)
    return doc("Service", name, base)


BAD = {
    "port 0": (lambda c: _bad("bad", ports=[{"port": 0}]), r"spec\.ports\[0\]\.port"),
    "port 65536": (lambda c: _bad("bad", ports=[{"port": 65536}]), r"spec\.ports\[0\]\.port"),
    "targetPort 70000": (lambda c: _bad("bad", ports=[{"port": 80, "targetPort": 70000}]),
                         r"spec\.ports\[0\]\.targetPort"),
    "nodePort below the range": (lambda c: _bad("bad", type="NodePort",
                                                ports=[{"port": 80, "nodePort": 29999}]), r"nodePort.*29999"),
    "nodePort above the range": (lambda c: _bad("bad", type="NodePort",
                                                ports=[{"port": 80, "nodePort": 32768}]), r"nodePort.*32768"),
    "nodePort taken": (lambda c: _bad("bad", type="NodePort",
                                      ports=[{"port": 80, "nodePort": node_port(c, "np")}]), r"already allocated"),
    "clusterIP outside the range": (lambda c: _bad("bad", clusterIP="192.0.2.10"),
                                    r"spec\.clusterIP.*not in the valid range"),
    "clusterIP taken": (lambda c: _bad("bad", clusterIP=c.vip), r"spec\.clusterIP.*already allocated"),
    "clusterIP changed": (lambda c: doc("Service", "web", {
        "selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
        "clusterIP": str(ipaddress.ip_network(c.service_cidr)[4343])}), r"spec\.clusterIP.*immutable"),
    "duplicate port names": (lambda c: _bad("bad", ports=[{"name": "a", "port": 80}, {"name": "a", "port": 81}]),
                             r"spec\.ports\[1\]\.name.*Duplicate"),
    "protocol HTTP": (lambda c: _bad("bad", ports=[{"port": 80, "protocol": "HTTP"}]),
                      r"spec\.ports\[0\]\.protocol.*Unsupported value"),
    "unknown type": (lambda c: _bad("bad", type="Ingress"), r"spec\.type.*Unsupported value"),
}


@pytest.fixture(scope="module")
def services_before(svc):
    """`get svc -A -o json` before the first bad input: every bad input must leave it exactly so."""
    return svc.ok("get", "svc", "-A", "-o", "json")


@pytest.mark.parametrize("case", list(BAD))
def test_bad_service_input_is_refused_and_changes_nothing(svc, services_before, case):
    make, message = BAD[case]
    ok = service("would-be-created", {"app": "web"}, [{"port": 80, "targetPort": 8080}])   # all or nothing
    p = svc.run("apply", "-f", "-", input=manifest(ok, make(svc)))
    if p.returncode == 0:         # wrongly accepted: remove what it made, so that the next cases start clean
        svc.run("delete", "svc", "would-be-created", "bad")
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert re.search(message, p.stderr), p.stderr
    assert "Service default/" in p.stderr, p.stderr                       # names the object
    assert svc.ok("get", "svc", "-A", "-o", "json") == services_before    # would-be-created is not there either


# ---------------------------------------------------------------- kube-proxy's process

def _kube_proxy_pids(name: str) -> list[int]:
    from toycluster.cluster import network as nodes
    found = []
    for pid in nodes.control_plane_pids(name):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if b"kube-proxy" in cmdline or b"kube_proxy_server" in cmdline:
            found.append(pid)
    return found


def test_kube_proxy_runs_apart_and_comes_back_when_killed(svc):
    """kube-proxy is a process of its own ("toycluster kube-proxy NAME"); killed, it is started again and
    catches up: a Service made while it was gone gets its rules on every node and answers."""
    before = _kube_proxy_pids(svc.name)
    assert len(before) == 1, before
    os.kill(before[0], signal.SIGKILL)
    try:
        svc.apply(manifest(service("late", {"app": "web"}, [{"port": 81, "targetPort": 8080}])))
        late = svc_obj(svc, "late")["spec"]["clusterIP"]
        poll(lambda: len(_kube_proxy_pids(svc.name)) == 1 and _kube_proxy_pids(svc.name) != before, timeout=20,
             what="a new kube-proxy process")
        for node in ("node1", "node2"):
            poll(lambda: f"-d {late}/32" in iptables_save(svc, node, "nat"), timeout=20,
                 what=f"the rules of Service late on {node}")
        got = curl_new_connections(svc, "client", f"http://{late}:81/", 5)
        assert len(got) == 5
    finally:
        svc.ok("delete", "svc", "late")
