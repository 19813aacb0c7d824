"""Bad input gets a clear error naming the file, the object and the field, exit status 2, and nothing
changed (DESIGN.md rule 6; issue 2, "Bad input")."""
import json
import shutil
import subprocess

import pytest

from conftest import TOYCLUSTER, Cluster, cluster_processes, leftovers, new_name, new_ranges, poll, run, sh

GOOD_POD = """apiVersion: v1
kind: Pod
metadata:
  name: good-one
spec:
  nodeSelector: {kubernetes.io/hostname: node3}
  containers:
  - name: web
    image: nginx
"""

GOOD_NS = """apiVersion: v1
kind: Namespace
metadata:
  name: good-ns
"""


def deployment(name="dep", replicas="2", selector="{app: web}", labels="{app: web}", image="nginx", api="apps/v1"):
    return f"""apiVersion: {api}
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {selector}
  template:
    metadata:
      labels: {labels}
    spec:
      nodeSelector: {{kubernetes.io/hostname: node3}}
      containers:
      - name: web
        image: {image}
"""


# (file name, content, what the message must also name: object, field, and a word of the reason)
CASES = {
    "unknown-kind": ("kind.yaml", "apiVersion: v1\nkind: Frobnicator\nmetadata:\n  name: frob\n",
                     ["frob", "kind", "Frobnicator"]),
    "unknown-apiversion": ("api.yaml", deployment(api="apps/v9"), ["Deployment", "dep", "apiVersion", "apps/v9"]),
    "missing-containers": ("missing.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: empty\n"
                           "spec:\n  restartPolicy: Always\n", ["Pod", "empty", "spec.containers", "Required"]),
    "missing-name": ("noname.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  labels: {a: b}\n"
                     "spec:\n  containers: [{name: c, image: nginx}]\n", ["Pod", "metadata.name", "Required"]),
    "wrong-type": ("typed.yaml", deployment(replicas='"three"'), ["Deployment", "dep", "spec.replicas", "integer"]),
    "wrong-type-containers": ("typed2.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: typed\n"
                              "spec:\n  containers: nginx\n", ["Pod", "typed", "spec.containers"]),
    "bad-dns-name": ("dns.yaml", GOOD_POD.replace("good-one", "Bad_Name"), ["Pod", "Bad_Name", "metadata.name"]),
    "bad-dns-container-name": ("cdns.yaml", GOOD_POD.replace("name: web", "name: Web.1"),
                               ["Pod", "good-one", "spec.containers[0].name"]),
    "duplicate-names": ("dup.yaml", GOOD_POD + "---\n" + GOOD_POD, ["Pod", "good-one", "metadata.name", "Duplicate"]),
    "selector-mismatch": ("sel.yaml", deployment(labels="{app: other}"),
                          ["Deployment", "dep", "spec.template.metadata.labels", "selector"]),
    "negative-replicas": ("neg.yaml", deployment(replicas="-1"), ["Deployment", "dep", "spec.replicas", "-1"]),
    "one-bad-among-good": ("mixed.yaml", GOOD_NS + "---\n" + GOOD_POD + "---\n"
                           + GOOD_POD.replace("good-one", "bad-one").replace("image: nginx", "image: nginx\n"
                                                                              "    ports: [{containerPort: 99999}]"),
                           ["Pod", "bad-one", "spec.containers[0].ports[0].containerPort", "99999"]),
    "unknown-image": ("image.yaml", GOOD_POD.replace("image: nginx", "image: example.com/mystery:1.0"),
                      ["Pod", "good-one", "spec.containers[0].image", "mystery", "known images", "nginx"]),
    "unknown-field": ("field.yaml", deployment().replace("replicas:", "replicsa: 3\n  replicas:"),
                      ["Deployment", "dep", "spec.replicsa", "unknown field"]),
    "not-yaml": ("broken.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: x\n", ["line"]),
}


def state(c) -> dict:
    """What a user can see of the cluster's objects."""
    out, text, decoder = {}, c.ok("get", "pods,deployments,namespaces", "-A", "-o", "json"), json.JSONDecoder()
    pos = 0
    for resource in ("pods", "deployments", "namespaces"):
        doc, pos = decoder.raw_decode(text, pos)
        while pos < len(text) and text[pos].isspace():
            pos += 1
        out[resource] = sorted((o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"],
                                o["metadata"]["uid"]) for o in doc["items"])
    assert pos == len(text), text[pos:]
    out["netns"] = sorted(n for n in sh("ip netns list").stdout.split() if n.startswith(f"{c.name}."))
    return out


@pytest.mark.parametrize("case,verb", [(case, "apply") for case in CASES]
                         + [(case, "delete") for case in ("unknown-kind", "duplicate-names", "one-bad-among-good")])
def test_bad_manifest_changes_nothing(shared, tmp_path, case, verb):
    filename, text, must_name = CASES[case]
    path = tmp_path / filename
    path.write_text(text)
    before = state(shared)
    p = shared.run(verb, "-f", path)
    assert p.returncode == 2, f"exit {p.returncode}\n{p.stdout}\n{p.stderr}"
    assert p.stdout == "", p.stdout
    msg = p.stderr
    assert msg.startswith("error: "), msg
    assert filename in msg, f"the error does not name the file {filename}: {msg}"
    for word in must_name:
        assert word in msg, f"the error does not name {word!r}: {msg}"
    assert state(shared) == before


@pytest.mark.parametrize("kind", ["Pod", "Deployment"])
def test_unknown_pod_spec_field_is_refused(shared, tmp_path, kind):
    text = (GOOD_POD.replace("spec:\n", "spec:\n  nodeNmae: node1\n") if kind == "Pod"
            else deployment().replace("    spec:\n", "    spec:\n      nodeNmae: node1\n"))
    path = tmp_path / "typo.yaml"
    path.write_text(text)
    before = state(shared)
    p = shared.run("apply", "-f", path)
    if p.returncode == 0:
        shared.run("delete", "-f", path)
    assert p.returncode == 2 and "nodeNmae" in p.stderr and "typo.yaml" in p.stderr, p
    assert state(shared) == before


def test_bad_manifest_on_stdin_changes_nothing(shared):
    before = state(shared)
    p = shared.run("apply", "-f", "-", input=CASES["one-bad-among-good"][1])
    assert p.returncode == 2 and "<stdin>" in p.stderr and "bad-one" in p.stderr, p.stderr
    assert state(shared) == before


def test_bad_file_in_a_folder_changes_nothing(shared, tmp_path):
    (tmp_path / "a-good.yaml").write_text(GOOD_NS)
    (tmp_path / "b-good.yaml").write_text(GOOD_POD)
    (tmp_path / "c-bad.yaml").write_text(deployment(replicas="-3"))
    before = state(shared)
    p = shared.run("apply", "-f", tmp_path)
    assert p.returncode == 2 and "c-bad.yaml" in p.stderr and "spec.replicas" in p.stderr, p.stderr
    assert state(shared) == before


def test_missing_file(shared, tmp_path):
    p = shared.run("apply", "-f", tmp_path / "nothere.yaml")
    assert p.returncode == 2 and "nothere.yaml" in p.stderr and "does not exist" in p.stderr, p.stderr


def test_good_manifest_applies_whole(shared, tmp_path):
    """The counterpart of the cases above: the good objects alone are applied, and delete -f removes them."""
    path = tmp_path / "good.yaml"
    path.write_text(GOOD_NS + "---\n" + GOOD_POD)
    out = shared.ok("apply", "-f", path)
    assert "namespace/good-ns created" in out and "pod/good-one created" in out, out
    try:
        shared.wait_running(names=["good-one"])
        assert "good-ns" in shared.ok("get", "namespaces")
    finally:
        shared.ok("delete", "-f", path)
    assert "good-one" not in shared.ok("get", "pods", "-o", "name")


def test_scale_to_negative_replicas(shared):
    shared.apply(deployment(name="negscale", image="toycluster/echo"))
    try:
        before = state(shared)
        p = shared.run("scale", "deployment", "negscale", "--replicas", "-1")
        assert p.returncode == 2 and "replicas" in p.stderr, p.stderr
        assert json.loads(shared.ok("get", "deployment", "negscale", "-o", "json"))["spec"]["replicas"] == 2
        assert state(shared) == before
    finally:
        shared.run("delete", "deployment", "negscale")


def test_unknown_resource_type(shared):
    p = shared.run("get", "frobnicators")
    assert p.returncode == 2 and "frobnicators" in p.stderr, p.stderr


# ---------------------------------------------------------------- exec
def test_exec_into_missing_pod(shared):
    p = shared.run("exec", "no-such-pod", "--", "true")
    assert p.returncode == 2 and "no-such-pod" in p.stderr and "not found" in p.stderr, p.stderr


@pytest.mark.parametrize("command,phase", [("false", "Failed"), ("true", "Succeeded")])
def test_exec_into_pod_that_is_not_running(shared, command, phase):
    name = f"quit-{command}"
    shared.apply(json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                             "spec": {"restartPolicy": "Never", "nodeSelector": {"kubernetes.io/hostname": "node3"},
                                      "containers": [{"name": "c", "image": "busybox", "command": [command]}]}}))
    try:
        poll(lambda: shared.api_pod(name).get("status", {}).get("phase") == phase, what=f"the pod to be {phase}")
        p = shared.run("exec", name, "--", "echo", "inside")
        assert p.returncode == 2, p
        assert "inside" not in p.stdout
        assert name in p.stderr and "not Running" in p.stderr and phase in p.stderr, p.stderr
    finally:
        shared.run("delete", "pod", name)


def test_exec_unknown_container(shared):
    p = shared.run("exec", "client", "-c", "nope", "--", "true")
    assert p.returncode == 2 and "nope" in p.stderr, p.stderr


def test_exec_without_a_command(shared):
    p = shared.run("exec", "client")
    assert p.returncode == 2 and "command" in p.stderr, p.stderr


# ---------------------------------------------------------------- clusters that do or do not exist
def test_up_for_a_cluster_that_exists(shared):
    before = state(shared)
    cps = [p for p in cluster_processes(shared.name) if "toycluster.cluster.controlplane" in p]
    assert len(cps) == 1, cps
    p = shared.up(check=None)
    assert p.returncode == 2, p
    assert "already exists" in p.stderr and shared.name in p.stderr, p.stderr
    assert state(shared) == before
    assert [p for p in cluster_processes(shared.name) if "toycluster.cluster.controlplane" in p] == cps
    assert "The control plane is running" in shared.ok("status")
    # with other ranges too: still refused, and still left as it is
    other = Cluster(shared.name, new_ranges())
    p = other.up(check=None)
    assert p.returncode == 2 and "already exists" in p.stderr, p.stderr
    assert state(shared) == before


@pytest.mark.parametrize("verb", [["down"], ["exec", "client", "--", "true"], ["get", "pods"], ["status"],
                                  ["apply", "-f", "-"]])
def test_verbs_on_a_cluster_that_does_not_exist(verb):
    name = new_name()
    p = run(*verb, cluster=name, input="")
    expected = 1 if verb == ["status"] else 2   # status answers "not up" (exit 1), as a query
    assert p.returncode == expected, p
    assert name in (p.stderr + p.stdout)
    assert "does not exist" in p.stderr or "is not up" in p.stdout, p
    assert leftovers(name) == []


@pytest.mark.parametrize("which", ["node_cidr", "pod_cidr", "service_cidr"])
def test_up_with_ranges_overlapping_another_cluster(shared, which):
    ranges = new_ranges()
    ranges[which] = getattr(shared, which)
    c = Cluster(new_name(), ranges)
    before = state(shared)
    p = c.up(check=None)
    try:
        assert p.returncode == 2, p
        assert "overlaps" in p.stderr and shared.name in p.stderr and getattr(shared, which) in p.stderr, p.stderr
        assert leftovers(c.name) == []
        assert state(shared) == before
        shared.curl("client", f"http://{shared.ip['echo-b']}:8080/")
    finally:
        c.teardown()


def test_up_with_a_range_overlapping_the_machines_routes():
    taken = None
    for line in sh("ip -4 -o route show table main").stdout.splitlines():
        dst, _, rest = line.partition(" ")
        dev = rest.split("dev ")[1].split()[0] if "dev " in rest else ""
        if dst != "default" and "/" in dst and not dev.endswith("-host") and not dst.startswith("127."):
            taken = dst
            break
    if taken is None:
        pytest.skip("this machine has no route of its own to overlap")
    ranges = new_ranges()
    ranges["node_cidr"] = taken
    c = Cluster(new_name(), ranges)
    try:
        p = c.up(check=None)
        assert p.returncode == 2, p
        assert "overlaps this machine's route" in p.stderr and taken in p.stderr, p.stderr
        assert leftovers(c.name) == []
    finally:
        c.teardown()


@pytest.mark.parametrize("args,word", [
    (["--nodes", "0"], "--nodes"),
    (["--nodes", "51"], "--nodes"),
    (["--overlay", "gre"], "--overlay"),
    (["--service-cidr", "10.1.2.0/33"], "--service-cidr"),
    (["--pod-cidr", "10.1.2.3/33"], "--pod-cidr"),
    (["--pod-cidr", "10.250.0.1/16"], "--pod-cidr"),      # host bits set
    (["--pod-cidr", "10.250.0.0/24"], "--pod-cidr"),      # no /24 per node
    (["--node-cidr", "192.168.250.0/30"], "--node-cidr"), # no room for nodes
])
def test_up_with_bad_settings(args, word):
    c = Cluster(new_name(), new_ranges())
    argv = c.up_args()
    for flag, value in zip(args[::2], args[1::2]):
        if flag in argv:
            argv[argv.index(flag) + 1] = value
        else:
            argv += [flag, value]
    try:
        p = c.run(*argv)
        assert p.returncode == 2 and word in p.stderr, p
        assert leftovers(c.name) == []
    finally:
        c.teardown()


@pytest.mark.parametrize("name", ["Upper", "much-too-long-name", "1digit", "dot.ted"])
def test_bad_cluster_names(name):
    p = run("up", "--node-cidr", "192.168.250.0/24", cluster=name)
    assert p.returncode == 2 and "cluster name" in p.stderr, p
    assert not any(n.startswith(name) for n in sh("ip netns list").stdout.split())


def test_dry_run_prints_the_plan_and_makes_nothing():
    c = Cluster(new_name(), new_ranges())
    out = c.ok(*c.up_args(), "--dry-run")
    assert f"ip netns add {c.name}.node1" in out and f"ip netns add {c.name}.node2" in out, out
    assert f"ip -n {c.name}.node1 route add {c.pod_subnet(2)} via {c.node_ip(2)}" in out, out
    assert f"{c.node_ip(1)}/24" in out
    assert leftovers(c.name) == []


# ---------------------------------------------------------------- not root
def _as_nobody():
    if shutil.which("setpriv"):
        return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    if shutil.which("runuser"):
        return ["runuser", "-u", "nobody", "--"]
    pytest.skip("neither setpriv nor runuser is available")


@pytest.mark.parametrize("verb", ["up", "down", "exec"])
def test_without_root(shared, verb):
    user = _as_nobody()
    probe = subprocess.run(user + [TOYCLUSTER, "--help"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"user nobody cannot run {TOYCLUSTER}: {probe.stderr.strip()}")
    before = state(shared)
    if verb == "up":
        c = Cluster(new_name(), new_ranges())
        p = run(*c.up_args(), cluster=c.name, user=user)
        assert leftovers(c.name) == []
    elif verb == "down":
        p = run("down", cluster=shared.name, user=user)
    else:
        p = run("exec", "client", "--", "true", cluster=shared.name, user=user)
    assert p.returncode == 2, p
    assert "root" in p.stderr, p.stderr
    assert state(shared) == before
    assert "The control plane is running" in shared.ok("status")
