"""The real kubectl's typed `create` subcommands against a cluster: they send their objects as Kubernetes protobuf
(application/vnd.kubernetes.protobuf, no JSON fallback), which the API server decodes (api/protobuf.py). The
objects come back through `kubectl get -o json` as created; the deployment's pods run, the Service answers a
pod's curl and the Ingress routes the cloud load balancer's traffic to it."""
import base64
import ipaddress
import json
import os

import pytest

from conftest import VENV_BIN, cluster_up, poll

pytestmark = pytest.mark.skipif(not os.path.exists(VENV_BIN / "kubectl"), reason="the pinned kubectl is not installed")


@pytest.fixture(scope="module")
def c():
    with cluster_up() as cluster:
        yield cluster


def _get(c, *args) -> dict:
    return json.loads(c.kubectl("get", *args, "-o", "json").stdout)


def test_create_deployment_runs_its_pods(c):
    assert c.kubectl("create", "deployment", "web", "--image=nginx", "--replicas=2").stdout == \
        "deployment.apps/web created\n"
    spec = _get(c, "deployment", "web")["spec"]
    assert spec["replicas"] == 2 and spec["selector"] == {"matchLabels": {"app": "web"}}
    assert spec["template"]["metadata"]["labels"] == {"app": "web"}
    assert [(x["name"], x["image"]) for x in spec["template"]["spec"]["containers"]] == [("nginx", "nginx")]
    assert spec["strategy"]["type"] == "RollingUpdate"
    c.wait_running(selector="app=web", count=2, timeout=30)


def test_create_service_clusterip_answers_a_pod(c):
    assert c.kubectl("create", "service", "clusterip", "web", "--tcp=80:80").stdout == "service/web created\n"
    spec = _get(c, "service", "web")["spec"]
    assert spec["type"] == "ClusterIP" and spec["selector"] == {"app": "web"}
    assert spec["ports"] == [{"name": "80-80", "port": 80, "protocol": "TCP", "targetPort": 80}]
    assert ipaddress.ip_address(spec["clusterIP"]) in ipaddress.ip_network(c.service_cidr)
    c.kubectl("run", "client", "--image=nicolaka/netshoot", "--", "sleep", "3600")
    c.wait_running(names=["client"], timeout=30)
    c.wait_running(selector="app=web", count=2, timeout=30)
    for url in (f"http://{spec['clusterIP']}/", "http://web.default.svc.cluster.local/"):
        assert "Welcome to nginx" in poll(lambda u=url: c.curl("client", u), timeout=15, what=f"{url} to answer")


def test_create_namespace_configmap_secret_serviceaccount(c):
    assert c.kubectl("create", "ns", "x").stdout == "namespace/x created\n"
    assert _get(c, "namespace", "x")["status"] == {"phase": "Active"}
    c.kubectl("create", "configmap", "cfg", "-n", "x", "--from-literal=greeting=hello", "--from-literal=n=1")
    cm = _get(c, "configmap", "cfg", "-n", "x")
    assert cm["data"] == {"greeting": "hello", "n": "1"} and cm["metadata"]["namespace"] == "x"
    c.kubectl("create", "secret", "generic", "creds", "-n", "x", "--from-literal=user=admin",
              "--from-literal=password=s3cr3t")
    secret = _get(c, "secret", "creds", "-n", "x")
    assert secret["type"] == "Opaque"
    assert {k: base64.b64decode(v).decode() for k, v in secret["data"].items()} == {"user": "admin",
                                                                                   "password": "s3cr3t"}
    c.kubectl("create", "serviceaccount", "robot", "-n", "x")
    assert _get(c, "serviceaccount", "robot", "-n", "x")["metadata"]["name"] == "robot"


def test_create_service_nodeport_and_externalname(c):
    c.kubectl("create", "service", "nodeport", "np", "--tcp=8080:80", "--node-port=30081")
    spec = _get(c, "service", "np")["spec"]
    assert spec["type"] == "NodePort" and spec["ports"][0]["nodePort"] == 30081
    c.kubectl("create", "service", "externalname", "ext", "--external-name=example.com")
    spec = _get(c, "service", "ext")["spec"]
    assert (spec["type"], spec["externalName"]) == ("ExternalName", "example.com")


def test_create_ingress_routes_the_load_balancers_traffic(c):
    assert c.kubectl("create", "ingress", "web", "--rule=shop.example/*=web:80").stdout == \
        "ingress.networking.k8s.io/web created\n"
    ing = _get(c, "ingress", "web")
    assert ing["spec"]["rules"] == [{"host": "shop.example", "http": {"paths": [
        {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]
    lb = poll(lambda: _get(c, "ingress", "web").get("status", {}).get("loadBalancer", {}).get("ingress"),
              timeout=15, what="the ingress's load balancer address")[0]["ip"]
    c.wait_running(selector="app=web", count=2, timeout=30)
    page = poll(lambda: c.exec("user", "curl", "-s", "--max-time", "5", "-H", "Host: shop.example",
                               f"http://{lb}/").stdout, timeout=20, what="the ingress to answer")
    assert "Welcome to nginx" in page

