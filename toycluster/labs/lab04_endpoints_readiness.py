"""Lab 4: endpoints follow readiness — a failing readiness probe, a deleted pod and a rolled Deployment each
change Service lab04/web's EndpointSlice and every node's rules, and not one request of a steady load fails.

Deployment web (three echo pods) has an exec readiness probe that fails while /tmp/lab04-unready-<pod> exists
(toycluster's containers see the machine's own /tmp, hence the pod's name in the file's) and a preStop sleep, so a
terminating pod keeps serving while kube-proxy takes it out of the rules. Pod `load` curls http://web/ in a shell
loop, each request on a new connection, and prints `ok=N failed=M` every 10 requests and a line for each failure.
The check reads what kubectl shows: the load's log (no failure, some requests), the events (a Readiness probe failed,
a pod stopped that no ReplicaSet deleted: the learner's delete) and the Deployment (rolled: revision 2 or more,
every replica updated and ready).
"""
from __future__ import annotations

import os
import re
import time

from toycluster.labs.kit import PASS, Ctx, Lab, Verdict, fail

NS = "lab04"
REPLICAS = 3
MIN_REQUESTS = 20
UNREADY_FILE = "/tmp/lab04-unready-{pod}"

WEB = f"""\
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
  replicas: {REPLICAS}
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
          readinessProbe:              # ready unless /tmp/lab04-unready-<this pod's name> exists
            exec:
              command: [sh, -c, 'test ! -e /tmp/lab04-unready-$(hostname)']
            periodSeconds: 1
            failureThreshold: 1
          lifecycle:
            preStop:                   # keep serving 2 s after deletion, while the endpoints and rules catch up
              sleep:
                seconds: 2
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
"""

LOAD = f"""\
apiVersion: v1
kind: Pod
metadata:
  name: load
  namespace: {NS}
spec:
  containers:
    - name: loop
      image: nicolaka/netshoot
      command:
        - sh
        - -c
        - |
          until curl -sf -o /dev/null http://web/; do sleep 0.2; done
          ok=0 failed=0
          while true; do
            if curl -sf -o /dev/null --max-time 2 http://web/; then ok=$((ok+1))
            else failed=$((failed+1)); echo "$(date +%T) a request failed"; fi
            if [ $(((ok+failed) % 10)) = 0 ]; then echo "ok=$ok failed=$failed"; fi
            sleep 0.05
          done
"""

FIRST_STEP = f"""\
Deployment web in namespace {NS} has three ready echo pods behind Service web; pod `load` sends it about ten
requests a second and logs its count (`kubectl logs -n {NS} load --tail 1`).
1. Make one pod unready: its readiness probe fails while /tmp/lab04-unready-<its name> exists
     POD=$(kubectl get pods -n {NS} -l app=web -o jsonpath='{{.items[0].metadata.name}}'); kubectl exec -n {NS} $POD -- touch /tmp/lab04-unready-$POD
   and watch its endpoint turn ready=false (kubectl get endpointslices -n {NS} -o yaml) and leave the rules
   (toycluster exec node1 -- iptables-save -t nat | grep {NS}/web). Remove the file: it comes back.
2. Delete a pod (kubectl delete pod), then roll the Deployment (kubectl rollout restart deployment/web).
3. Read the load's log: not one request may fail. `toycluster lab check 4` reads the log, the events and the
   Deployment."""

COUNT = re.compile(r"^ok=(\d+) failed=(\d+)$")


def start(ctx: Ctx) -> str:
    ctx.kubectl("apply", "-f", "-", input=WEB)
    ctx.kubectl("rollout", "status", "-n", NS, "deployment/web", "--timeout=60s", timeout=70)
    ctx.kubectl("apply", "-f", "-", input=LOAD)
    ctx.kubectl("wait", "-n", NS, "--for=condition=Ready", "pod/load", "--timeout=60s", timeout=70)
    return FIRST_STEP


def _load_verdict(ctx: Ctx) -> Verdict | None:
    """What the load's own log says: None when it sent MIN_REQUESTS or more and none failed."""
    pod = ctx.get("Pod", "load", NS)
    if pod is None:
        return fail(f"pod {NS}/load is gone, and its count with it",
                    "`toycluster lab reset 4` starts again with a new load pod.",
                    "toycluster lab reset 4, then do the three changes again while it runs")
    restarts = sum(s.get("restartCount", 0) for s in (pod.get("status") or {}).get("containerStatuses") or [])
    log = ctx.kubectl("logs", "-n", NS, "load", check=False)
    failures = [line for line in log.splitlines() if "request failed" in line]
    counts = [COUNT.match(line) for line in log.splitlines()]
    ok = max([int(m.group(1)) for m in counts if m] or [0])
    if failures:
        return fail(f"the load counted {len(failures)} failed requests (the first: {failures[0]})",
                    "Which change dropped them? A pod must leave the endpoints before it stops serving.",
                    f"kubectl get deployment web -n {NS} -o yaml: is the preStop sleep still there? "
                    f"`toycluster lab reset 4` starts a new count")
    if restarts:
        return fail(f"the load's container restarted {restarts} times, so its count started again",
                    "`toycluster lab reset 4` starts again with a new load pod.",
                    "toycluster lab reset 4, then do the three changes again while it runs")
    if ok < MIN_REQUESTS:
        return fail(f"the load has reported {ok} successful requests so far, fewer than {MIN_REQUESTS}",
                    f"Wait a few seconds: it logs its count every 10 requests (kubectl logs -n {NS} load).",
                    f"kubectl logs -n {NS} load --tail 1")
    return None


def _event_verdict(ctx: Ctx) -> Verdict | None:
    """What `kubectl get events` says: a readiness probe failed, and a pod was deleted by hand."""
    events = ctx.list("Event", NS)
    unhealthy = [e for e in events if e.get("reason") == "Unhealthy" and
                 "Readiness probe failed" in (e.get("message") or "")]
    if not unhealthy:
        return fail("no pod of web has failed its readiness probe",
                    f"Make one pod unready: its probe fails while /tmp/lab04-unready-<its name> exists.",
                    f"POD=$(kubectl get pods -n {NS} -l app=web -o jsonpath='{{.items[0].metadata.name}}'); "
                    f"kubectl exec -n {NS} $POD -- touch /tmp/lab04-unready-$POD")
    stopped = {e["involvedObject"]["name"] for e in events if e.get("reason") == "Killing"}
    by_rs = {(e.get("message") or "").removeprefix("Deleted pod: ") for e in events
             if e.get("reason") == "SuccessfulDelete"}
    if not stopped - by_rs:
        return fail("no pod of web was deleted by hand (every pod stopped so far was the ReplicaSet's doing)",
                    "Delete one of web's pods and watch its replacement join the endpoints.",
                    f"kubectl delete pod -n {NS} $(kubectl get pods -n {NS} -l app=web "
                    f"-o jsonpath='{{.items[1].metadata.name}}')")
    return None


def _rollout_verdict(ctx: Ctx) -> Verdict | None:
    d = ctx.get("Deployment", "web", NS) or {}
    revision = int((d.get("metadata", {}).get("annotations") or {}).get("deployment.kubernetes.io/revision", "0"))
    st = d.get("status") or {}
    done = all(st.get(k, 0) == REPLICAS for k in ("replicas", "updatedReplicas", "readyReplicas"))
    if revision < 2 or not done:
        return fail(f"Deployment web has not rolled to a new revision (revision {revision}, "
                    f"{st.get('updatedReplicas', 0)} of {REPLICAS} updated and "
                    f"{st.get('readyReplicas', 0)} ready)",
                    "Roll the Deployment: every pod is replaced, one at a time.",
                    f"kubectl rollout restart -n {NS} deployment/web; kubectl rollout status -n {NS} deployment/web")
    return None


def check(ctx: Ctx) -> Verdict:
    return _event_verdict(ctx) or _rollout_verdict(ctx) or _load_verdict(ctx) or PASS


def _wait_ready(ctx: Ctx, pod: str, ready: bool) -> None:
    ctx.kubectl("wait", "-n", NS, f"--for=condition=Ready={str(ready).lower()}", f"pod/{pod}", "--timeout=30s",
                timeout=40)


def solve(ctx: Ctx) -> None:
    pods = ctx.kubectl("get", "pods", "-n", NS, "-l", "app=web", "-o",
                       "jsonpath={.items[*].metadata.name}").split()
    ctx.kubectl("exec", "-n", NS, pods[0], "--", "touch", UNREADY_FILE.format(pod=pods[0]))
    _wait_ready(ctx, pods[0], False)
    ctx.kubectl("exec", "-n", NS, pods[0], "--", "rm", "-f", UNREADY_FILE.format(pod=pods[0]))
    _wait_ready(ctx, pods[0], True)
    ctx.kubectl("delete", "pod", "-n", NS, pods[1], timeout=60)
    ctx.kubectl("rollout", "status", "-n", NS, "deployment/web", "--timeout=60s", timeout=70)
    ctx.kubectl("rollout", "restart", "-n", NS, "deployment/web")
    ctx.kubectl("rollout", "status", "-n", NS, "deployment/web", "--timeout=60s", timeout=70)
    deadline = time.monotonic() + 15               # until the load has reported enough requests
    while _load_verdict(ctx) is not None and time.monotonic() < deadline:
        time.sleep(0.5)


def clean(ctx: Ctx) -> None:
    """Delete the namespace, and the unready marks of its pods (the machine's /tmp is every pod's)."""
    for pod in ctx.list("Pod", NS):
        path = UNREADY_FILE.format(pod=pod["metadata"]["name"])
        if os.path.exists(path):
            os.remove(path)
    ctx.kubectl("delete", "namespace", NS, "--ignore-not-found", "--wait=true", "--timeout=60s", timeout=70)


LAB = Lab(key="4", title="Endpoints follow readiness", doc="docs/labs/04-endpoints-follow-readiness.md",
          article="03-networking-without-getting-lost.txt, Service endpoints: \"Whenever Pods are added or "
                  "removed, Kubernetes updates the Service endpoints automatically\" and \"Traffic continues "
                  "flowing without interruption\"",
          start=start, check=check, solve=solve, clean=clean, namespace=NS)
