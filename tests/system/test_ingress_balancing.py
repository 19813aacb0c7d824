"""The ingress balances per request (issue 14, item 3), on a real cluster: user -> public DNS -> cloud load balancer ->
NodePort -> ingress controller -> the Service's ready endpoints, one picked per request. 30 requests on one kept-alive
connection reach all 3 pods; with `service-upstream: "true"` they stay on the one pod kube-proxy chose for the
connection; rewrite-target; the headers ingress-nginx writes (no Server header of its own nor the pod's).

One 2-node cluster of this module's own (the ingress controller on node2), removed afterwards.
"""
import json

import pytest

from conftest import cluster_up

APP = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: toycluster/echo, ports: [{name: http, containerPort: 8080}]}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: spread}
spec:
  ingressClassName: nginx
  rules:
  - host: spread.example.com
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {name: http}}}}]}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: via-service
  annotations: {nginx.ingress.kubernetes.io/service-upstream: "true"}
spec:
  ingressClassName: nginx
  rules:
  - host: service.example.com
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: rewrite
  annotations:
    nginx.ingress.kubernetes.io/use-regex: "true"
    nginx.ingress.kubernetes.io/rewrite-target: /$2
spec:
  ingressClassName: nginx
  rules:
  - host: rewrite.example.com
    http:
      paths:
      - {path: /something(/|$)(.*), pathType: ImplementationSpecific, backend: {service: {name: web, port: {number: 80}}}}
"""

# One kept-alive connection, N requests: each answer's pod, the first answer's headers, and how many connections.
CLIENT = r"""
import http.client, json, sys
host, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
headers = {"Host": sys.argv[4]} if len(sys.argv) > 4 else {}
conn = http.client.HTTPConnection(host, 80, timeout=5)
pods, first, socks = [], None, set()
for _ in range(n):
    conn.request("GET", path, headers=headers)
    r = conn.getresponse()
    body = r.read().decode()
    socks.add(id(conn.sock))
    first = first or {"status": r.status, "headers": r.getheaders(), "body": body}
    pods += [line.split(": ", 1)[1] for line in body.splitlines() if line.startswith("Pod: ")]
print(json.dumps({"pods": pods, "first": first, "connections": len(socks)}))
"""


@pytest.fixture(scope="module")
def spread():
    with cluster_up(nodes=2) as c:
        c.apply(APP)
        c.wait_running(selector="app=web", count=3, timeout=30)
        yield c


def one_connection(c, host, path, n, *host_header):
    out = c.exec("user", "python3", "-c", CLIENT, host, path, str(n), *host_header, timeout=60).stdout
    return json.loads(out)


def test_30_requests_on_one_kept_alive_connection_reach_all_3_pods(spread):
    c = spread
    pods = {p["metadata"]["name"] for p in c.api_pods("app=web")}
    got = one_connection(c, "spread.example.com", "/", 30)
    assert got["connections"] == 1 and len(got["pods"]) == 30, got
    assert {p.split("/", 1)[1] for p in got["pods"]} == pods, got["pods"]
    assert got["pods"][:3] * 10 == got["pods"], "round robin: each request the next pod, in turn"
    log = c.ok("logs", "-n", "ingress", c.api_pods(namespace="ingress")[0]["metadata"]["name"])
    lines = [line for line in log.splitlines() if line.endswith(" spread.example.com")]
    assert lines and all(line.split()[-6].endswith(":8080") for line in lines[-30:]), lines[-3:]   # pod IP:port


def test_service_upstream_leaves_the_choice_to_kube_proxy_per_connection(spread):
    got = one_connection(spread, "service.example.com", "/", 12)
    assert len(got["pods"]) == 12 and len(set(got["pods"])) == 1, got["pods"]


def test_rewrite_target_and_the_headers_ingress_nginx_writes(spread):
    c = spread
    for path, sent in (("/something", "/"), ("/something/", "/"), ("/something/new?x=1", "/new?x=1")):
        got = one_connection(c, "rewrite.example.com", path, 1)
        assert f"GET {sent} HTTP/1.1" in got["first"]["body"], (path, got["first"]["body"])
    got = one_connection(c, "spread.example.com", "/", 1)
    names = [name.lower() for name, _ in got["first"]["headers"]]
    assert "server" not in names, got["first"]["headers"]      # server-tokens false: no Server, not even the pod's
    assert names[:4] == ["date", "content-type", "content-length", "connection"], names
    missing = one_connection(c, "spread.example.com", "/", 1, "nowhere.example.com")["first"]
    assert missing["status"] == 404 and "<hr><center>nginx</center>" in missing["body"]
    assert "server" not in [name.lower() for name, _ in missing["headers"]]
