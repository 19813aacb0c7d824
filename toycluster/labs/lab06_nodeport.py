"""Lab 6: NodePort and the client's address — every node answers on a NodePort, the pod sees a node's address
instead of the client's, and `externalTrafficPolicy: Local` keeps the client's address at the price of nodes
without a local pod dropping the traffic.

Deployment web (one echo pod, pinned to node2) behind Service web of type NodePort (port 30606). The learner curls
every node's address from this machine's shell (the echo pod answers with the RemoteAddr it saw), reads the
KUBE-NODEPORTS/KUBE-EXT rules and the masquerade, then sets externalTrafficPolicy: Local. The check sends its own
requests from this machine to every node's NodePort: a node with a ready local endpoint must answer with this
machine's address as RemoteAddr, a node without one must not answer at all.
"""
from __future__ import annotations

import re
import time

from toycluster.labs.kit import PASS, Ctx, Lab, Verdict, fail

NS = "lab06"
NODE_PORT = 30606

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
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      nodeSelector:
        kubernetes.io/hostname: node2      # one pod, on node2 only: node1 has none
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
  type: NodePort
  externalTrafficPolicy: Cluster         # the default, written out: `lab start 6` sets it back
  selector:
    app: web
  ports:
    - name: http
      port: 80
      targetPort: http
      nodePort: {NODE_PORT}
"""

FIRST_STEP = f"""\
Service web in namespace {NS} is a NodePort ({NODE_PORT}) in front of one echo pod, on node2.
1. From this machine's shell, curl port {NODE_PORT} of every node (kubectl get nodes -o wide: INTERNAL-IP):
     curl -s http://NODE-IP:{NODE_PORT}/ | grep -E 'Node|RemoteAddr'
   Every node answers, and the pod never sees this machine's address (ip route get NODE-IP: src).
2. Read node1's rules: toycluster exec node1 -- iptables-save -t nat | grep -E '{NS}/web|KUBE-POSTROUTING'
3. Make the pod see the client's own address. What happens on node1 then?
`toycluster lab check 6` sends its own requests to every node."""

REMOTE = re.compile(r"^RemoteAddr: ([\d.]+):\d+$", re.M)


def start(ctx: Ctx) -> str:
    ctx.kubectl("apply", "-f", "-", input=MANIFEST)
    ctx.kubectl("rollout", "status", "-n", NS, "deployment/web", "--timeout=60s", timeout=70)
    return FIRST_STEP


def node_addresses(ctx: Ctx) -> dict[str, str]:
    """Each node's InternalIP, as `kubectl get nodes -o wide` shows it."""
    out = {}
    for node in ctx.list("Node", None):
        for a in (node.get("status") or {}).get("addresses") or []:
            if a.get("type") == "InternalIP":
                out[node["metadata"]["name"]] = a["address"]
    return out


def local_endpoint_nodes(ctx: Ctx) -> set[str]:
    """The nodes with a ready endpoint of web (the EndpointSlice's nodeName)."""
    nodes = set()
    for sl in ctx.list("EndpointSlice", NS):
        if (sl.get("metadata", {}).get("labels") or {}).get("kubernetes.io/service-name") == "web":
            nodes |= {ep.get("nodeName") for ep in sl.get("endpoints") or []
                      if (ep.get("conditions") or {}).get("ready") is not False}
    return nodes - {None}


def ask(ctx: Ctx, ip: str) -> str | None:
    """The RemoteAddr the echo pod saw for a request from this machine to IP:NODE_PORT; None without an answer."""
    p = ctx.run(["curl", "-s", "--max-time", "1", f"http://{ip}:{NODE_PORT}/"], check=False, timeout=5)
    m = REMOTE.search(p.stdout) if p.returncode == 0 else None
    return m.group(1) if m else None


def check(ctx: Ctx) -> Verdict:
    svc = ctx.get("Service", "web", NS)
    if svc is None or (svc.get("spec") or {}).get("type") not in ("NodePort", "LoadBalancer"):
        return fail(f"Service {NS}/web is gone or no longer a NodePort",
                    "`toycluster lab reset 6` brings it back.", "toycluster lab reset 6")
    policy = (svc.get("spec") or {}).get("externalTrafficPolicy") or "Cluster"
    if policy != "Local":
        return fail(f"Service {NS}/web has externalTrafficPolicy {policy}: the pod sees a node's address, "
                    f"not the client's",
                    "A Service field decides whether external traffic may go to another node (and be "
                    "masqueraded) or only to pods on the node it arrived at.",
                    f"kubectl patch svc web -n {NS} -p '{{\"spec\":{{\"externalTrafficPolicy\":\"Local\"}}}}'")
    here, local = ctx.cfg.host_ip, local_endpoint_nodes(ctx)
    if not local:
        return fail(f"Service {NS}/web has no ready endpoint", f"Is Deployment web in {NS} running?",
                    "toycluster lab reset 6")
    for node, ip in sorted(node_addresses(ctx).items()):
        seen = ask(ctx, ip)
        if node in local and seen != here:
            return fail(f"{node} ({ip}:{NODE_PORT}) has web's pod, but the pod saw "
                        f"{seen or 'no request'} instead of this machine's {here}",
                        "kube-proxy changes the rules within a second of the Service: try again.",
                        f"toycluster exec {node} -- iptables-save -t nat | grep {NS}/web")
        if node not in local and seen is not None:
            return fail(f"{node} ({ip}:{NODE_PORT}) has no pod of web but answered (the pod saw {seen})",
                        "With Local, a node without a local endpoint drops the traffic.",
                        f"toycluster exec {node} -- iptables-save | grep '{NS}/web.*no local endpoints'")
    return PASS


def solve(ctx: Ctx) -> None:
    ctx.kubectl("patch", "svc", "web", "-n", NS, "-p", '{"spec":{"externalTrafficPolicy":"Local"}}')
    deadline = time.monotonic() + 10               # until every node's rules follow
    while not check(ctx).ok and time.monotonic() < deadline:
        time.sleep(0.2)


LAB = Lab(key="6", title="NodePort and the client's address", doc="docs/labs/06-nodeport-and-client-address.md",
          article="01-user-to-pod-on-eks.txt, Step 3: \"NodePort exists ONLY to expose the Ingress Controller — "
                  "not your apps\"; 02-services-ingress-alb-networkpolicy.txt: \"opens a port on EVERY node\"",
          start=start, check=check, solve=solve, namespace=NS)
