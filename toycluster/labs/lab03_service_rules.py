"""Lab 3: a Service is only rules — KUBE-SERVICES → KUBE-SVC → KUBE-SEP, the 1/n probabilities, and 300
requests counted per endpoint by the rules' own counters.

The learner reads the nat rules kube-proxy wrote for Service lab03/web (two echo pods), scales the Deployment to
three and sees the probabilities rewritten (1/3, then 1/2 of the rest, then the rest), then sends 300 requests, each
on a new connection, from pod `client`. The check reads what `iptables-save -c` shows on every node: the packet
counters of the KUBE-SEP DNAT rules of the three ready endpoints (a connection's first packet is the only one the
nat table sees), which must add up to 300 or more with every endpoint chosen at least 50 times.
"""
from __future__ import annotations

import re
import time

from toycluster.labs.kit import PASS, Ctx, Lab, Verdict, fail

NS = "lab03"
REPLICAS = 3           # what the learner scales to
REQUESTS = 300         # new connections the counters must show in all
AT_LEAST = 50          # per endpoint: 100 expected; fewer than 50 in 300 tries at 1/3 is a 1-in-10^9 event

MANIFEST = f"""\
apiVersion: v1
kind: Namespace
metadata:
  name: {NS}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: {NS}
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: echo
          image: toycluster/echo
          ports:
            - name: http
              containerPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: {NS}
spec:
  selector:
    app: web
  ports:
    - name: http
      port: 80
      targetPort: http
---
apiVersion: v1
kind: Pod
metadata:
  name: client
  namespace: {NS}
spec:
  nodeName: node1
  containers:
    - name: shell
      image: nicolaka/netshoot
"""

FIRST_STEP = f"""\
Service web in namespace {NS} has two echo pods behind it, and pod `client` (on node1) has curl.
1. Read the rules kube-proxy wrote for it on node1:
     toycluster exec node1 -- iptables-save -t nat | grep {NS}/web
   Follow KUBE-SERVICES -> KUBE-SVC-... -> KUBE-SEP-...: what does `--probability 0.5` mean?
2. Scale web to {REPLICAS} replicas and read the rules again.
3. Send {REQUESTS} requests, each on a new connection, from client to http://web/ and count the answers per pod:
     kubectl exec -n {NS} client -- curl -s -H 'Connection: close' "http://web/?[1-{REQUESTS}]" | grep ^Hostname | sort | uniq -c
`toycluster lab check 3` reads the KUBE-SEP rules' counters."""

SEP_DNAT = re.compile(r"^\[(\d+):\d+\] -A KUBE-SEP-\S+ .*--comment \"?" + NS +
                      r"/web:http\"? .*-j DNAT --to-destination ([\d.]+):\d+")


def start(ctx: Ctx) -> str:
    ctx.kubectl("apply", "-f", "-", input=MANIFEST)
    ctx.kubectl("rollout", "status", "-n", NS, "deployment/web", "--timeout=60s", timeout=70)
    ctx.kubectl("wait", "-n", NS, "--for=condition=Ready", "pod/client", "--timeout=60s", timeout=70)
    deadline = time.monotonic() + 30               # started again after a scale-up: until the extra pods are gone
    while time.monotonic() < deadline and \
            sum(p["metadata"].get("labels", {}).get("app") == "web" for p in ctx.list("Pod", NS)) > 2:
        time.sleep(0.2)
    return FIRST_STEP


def ready_endpoints(ctx: Ctx, service: str = "web") -> list[str]:
    """The ready endpoints' addresses of SERVICE in NS, as `kubectl get endpointslices -o json` shows them."""
    ips = []
    for sl in ctx.list("EndpointSlice", NS):
        if (sl.get("metadata", {}).get("labels") or {}).get("kubernetes.io/service-name") != service:
            continue
        for ep in sl.get("endpoints") or []:
            if (ep.get("conditions") or {}).get("ready") is not False:
                ips += ep.get("addresses") or []
    return sorted(ips)


def dnat_hits(ctx: Ctx) -> dict[str, int]:
    """Packets through each KUBE-SEP DNAT rule of lab03/web, by endpoint address, summed over the nodes."""
    hits: dict[str, int] = {}
    for node in [f"node{n}" for n in range(1, ctx.cfg.nodes + 1)]:
        out = ctx.exec(node, "iptables-save", "-c", "-t", "nat", timeout=5).stdout
        for line in out.splitlines():
            m = SEP_DNAT.match(line)
            if m:
                hits[m.group(2)] = hits.get(m.group(2), 0) + int(m.group(1))
    return hits


def check(ctx: Ctx) -> Verdict:
    eps = ready_endpoints(ctx)
    if len(eps) != REPLICAS:
        return fail(f"Service {NS}/web has {len(eps)} ready endpoints, not {REPLICAS}",
                    f"Scale the Deployment web in namespace {NS} to {REPLICAS} replicas.",
                    f"kubectl scale -n {NS} deployment/web --replicas {REPLICAS}; "
                    f"kubectl rollout status -n {NS} deployment/web")
    hits = dnat_hits(ctx)
    counts = {ip: hits.get(ip, 0) for ip in eps}
    seen = ", ".join(f"{ip}: {n}" for ip, n in counts.items())
    if sum(counts.values()) < REQUESTS or min(counts.values()) < AT_LEAST:
        return fail(f"the KUBE-SEP rules of {NS}/web counted {sum(counts.values())} new connections ({seen}); "
                    f"{REQUESTS} or more, spread over all {REPLICAS} endpoints, are missing",
                    f"Send {REQUESTS} requests from pod client to http://web/, each on a new connection (a rule "
                    f"counts from when it was written: send them after scaling).",
                    f"kubectl exec -n {NS} client -- curl -s -o /dev/null -H 'Connection: close' "
                    f"\"http://web/?[1-{REQUESTS}]\"")
    return PASS


def solve(ctx: Ctx) -> None:
    ctx.kubectl("scale", "-n", NS, "deployment/web", "--replicas", str(REPLICAS))
    ctx.kubectl("rollout", "status", "-n", NS, "deployment/web", "--timeout=60s", timeout=70)
    deadline = time.monotonic() + 10               # the rules follow the endpoints within milliseconds
    while time.monotonic() < deadline and (len(ready_endpoints(ctx)) < REPLICAS or
                                           not set(ready_endpoints(ctx)) <= set(dnat_hits(ctx))):
        time.sleep(0.1)
    ctx.kubectl("exec", "-n", NS, "client", "--", "curl", "-s", "-o", "/dev/null", "-H", "Connection: close",
                f"http://web/?[1-{REQUESTS}]", timeout=60)


LAB = Lab(key="3", title="A Service is only rules", doc="docs/labs/03-service-is-rules.md",
          article="05-container-to-api-gateway.txt, 6. kube-proxy: \"kube-proxy ensures traffic is distributed "
                  "across available Pods\"",
          start=start, check=check, solve=solve, namespace=NS)
