"""apply changes what changed, and nothing else (issue 14, item 1): `toycluster apply` and `kubectl apply`
on a live cluster, as a learner re-applies a lab's file.

One cluster for the module. Each test checks what a user sees: the apply's words, the pod's process, IP and
conditions, the endpoints, a NetworkPolicy's effect, and upstream's 422 for immutable fields.
"""
import json
import re

import pytest

from conftest import cluster_up, poll

FILE = """
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
kind: Pod
metadata: {name: client, labels: {app: client}}
spec:
  containers: [{name: c, image: nicolaka/netshoot}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
"""
POLICY = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: only-trusted}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{podSelector: {matchLabels: {trusted: "yes"}}}]}]
"""


@pytest.fixture(scope="module")
def c():
    with cluster_up() as cl:
        cl.apply(FILE)
        cl.wait_running(count=3)
        yield cl


def state(c, name):
    p = c.api_pod(name)
    return (p["status"]["podIP"], p["status"]["containerStatuses"][0]["containerID"],
            {x["type"]: x["status"] for x in p["status"]["conditions"]}, p["metadata"]["resourceVersion"])


def test_an_identical_apply_is_unchanged_and_writes_nothing(c):
    before = {n: c.api().get(k, "default", n)["metadata"]["resourceVersion"]
              for k, n in (("Deployment", "web"), ("Pod", "client"), ("Service", "web"))}
    out = c.apply(FILE)
    assert out.split("\n")[:3] == ["deployment.apps/web unchanged", "pod/client unchanged", "service/web unchanged"]
    after = {n: c.api().get(k, "default", n)["metadata"]["resourceVersion"]
             for k, n in (("Deployment", "web"), ("Pod", "client"), ("Service", "web"))}
    assert before == after
    out = c.kubectl("apply", "-f", "-", input=FILE).stdout
    assert "pod/client unchanged" in out and "service/web unchanged" in out
    ip, cid, conds, _ = state(c, "client")
    assert conds == {"Initialized": "True", "Ready": "True", "ContainersReady": "True", "PodScheduled": "True"}
    assert c.exec("client", "true").returncode == 0


def test_a_label_change_keeps_the_process_and_policies_follow(c):
    c.apply(POLICY)
    web_ip = c.api_pods("app=web")[0]["status"]["podIP"]
    poll(lambda: c.exec("client", "curl", "-s", "-m", "1", f"http://{web_ip}:8080/", check=None).returncode != 0,
         timeout=10, what="the policy to block the untrusted client")
    ip, cid, _, rv = state(c, "client")
    out = c.apply(FILE.replace("labels: {app: client}", 'labels: {app: client, trusted: "yes"}'))
    assert "pod/client configured" in out
    ip2, cid2, conds, rv2 = state(c, "client")
    assert (ip2, cid2) == (ip, cid) and rv2 != rv and conds["Ready"] == "True"
    poll(lambda: "Hostname:" in c.curl("client", f"http://{web_ip}:8080/"), timeout=10,
         what="the relabelled client to be let in by the policy")
    c.run("delete", "networkpolicy", "only-trusted")


@pytest.mark.parametrize("change, field", [
    (lambda f: f.replace("containers: [{name: c, image: nicolaka/netshoot}]",
                         "containers: [{name: c, image: nicolaka/netshoot, ports: [{containerPort: 9}]}]"),
     "spec: Forbidden: pod updates may not change fields other than"),
    (lambda f: f.replace("selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}",
                         "selector: {matchLabels: {app: web, v: '2'}}\n  template:\n    metadata: "
                         "{labels: {app: web, v: '2'}}"),
     "spec.selector: Invalid value"),
])
def test_immutable_fields_get_upstreams_422_and_nothing_changes(c, change, field):
    def written():      # what an apply could change (the kubelet writes the pod's status meanwhile)
        objs = [c.api().get(k, "default", n) for k, n in (("Deployment", "web"), ("Pod", "client"))]
        return [(o["spec"], o["metadata"].get("labels"), o["metadata"].get("generation")) for o in objs]
    c.apply(FILE)                           # the live objects as FILE has them: only the change differs
    before = written()
    p = c.run("apply", "-f", "-", input=change(FILE))
    assert p.returncode == 2 and field in p.stderr, p.stderr
    k = c.kubectl("apply", "-f", "-", input=change(FILE), check=1)
    assert field in k.stderr and re.search(r'The (Pod|Deployment) "\w+" is invalid', k.stderr), k.stderr
    assert written() == before


def test_a_services_cluster_ip_is_immutable(c):
    svc = c.api().get("Service", "default", "web")
    other = svc["spec"]["clusterIP"].rsplit(".", 1)[0] + ".77"
    p = c.kubectl("patch", "svc", "web", "-p", json.dumps({"spec": {"clusterIP": other}}), check=1)
    assert 'The Service "web" is invalid: spec.clusterIP: Invalid value: "' + other + '": field is immutable' \
        in p.stderr, p.stderr
    assert c.api().get("Service", "default", "web")["spec"]["clusterIP"] == svc["spec"]["clusterIP"]
