"""Lab 8: the whole journey — user → DNS → LB → NodePort → ingress controller → Service → pod, and back.

The learner publishes the `orders` microservice (namespace lab08) at http://api.lab08.example.com/orders with an
Ingress whose controller goes through the Service's ClusterIP (as the article draws it: "Ingress forwards request
to order-service (ClusterIP)"), then follows one request with `toycluster trace`. The check traces a request of
its own (`toycluster trace -o json`, as the learner would) and reads the hops: the public name answered, the
balancer's DNAT to a NodePort, the Ingress rule, kube-proxy's DNAT of Service lab08/orders, an orders pod's answer.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from toycluster.labs.kit import PASS, TOYCLUSTER, Ctx, Lab, Verdict, fail

NAMESPACE = "lab08"
HOST = "api.lab08.example.com"
URL = f"http://{HOST}/orders"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "labs"
START = EXAMPLES / "lab08-start.yaml"
SOLUTION = EXAMPLES / "lab08-ingress.yaml"
CREATE = (f"kubectl create ingress api -n {NAMESPACE} --class nginx --rule '{HOST}/orders*=orders:http' "
          f"--annotation nginx.ingress.kubernetes.io/service-upstream=true")

FIRST_STEP = f"""\
Lab 8: the whole journey. Namespace {NAMESPACE} has the `orders` microservice: two pods behind the ClusterIP
Service `orders`, and no way in from the internet yet.

Publish it at {URL} with an Ingress `api` (class nginx) whose controller sends the request to the Service's
ClusterIP (annotation nginx.ingress.kubernetes.io/service-upstream: "true"), then follow one request:

  toycluster exec user -- curl -s {URL}
  toycluster trace {URL}
  toycluster lab check 8"""


def start(ctx: Ctx) -> str:
    ctx.kubectl("apply", "-f", str(START))
    ctx.kubectl("rollout", "status", "-n", NAMESPACE, "deployment/orders", "--timeout=60s", timeout=70)
    return FIRST_STEP


def solve(ctx: Ctx) -> None:
    """Apply the Ingress, then wait (up to 10 s) until the user's request gets through it."""
    ctx.kubectl("apply", "-f", str(SOLUTION))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if ctx.exec("user", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", URL).stdout == "200":
            return
        time.sleep(0.2)


def trace(ctx: Ctx) -> tuple[dict | None, str]:
    """A request of the check's own, traced as the learner would: `toycluster trace -o json URL`; its JSON (None
    when it printed none, e.g. for a name the DNS does not know) and its error text."""
    p = ctx.run([TOYCLUSTER, "--cluster", ctx.cluster, "trace", "-o", "json", URL], check=False, timeout=20)
    try:
        return json.loads(p.stdout), p.stderr.strip()
    except ValueError:
        return None, p.stderr.strip() or p.stdout.strip()


def changes(t: dict) -> list[tuple[int, str, str]]:
    """(connection, what, object) of every rewrite on the request's way (the replies' reversals left out)."""
    out = []
    for hop in t.get("hops", []):
        for change in [hop.get("change"), *(hop.get("also") or [])]:
            if change and hop.get("leg") == "request":
                out.append((hop.get("connection"), change.get("what", ""), change.get("object") or ""))
    return out


def check(ctx: Ctx) -> Verdict:
    t, error = trace(ctx)
    if t is None and "NXDOMAIN" not in error:
        return fail(f"`toycluster trace {URL}` failed: {error.removeprefix('error: ')}",
                    "Is the cluster up? `toycluster status`.", f"Run `toycluster trace {URL}` and read its error.")
    if t is None or not any(d.get("rcode") == "NOERROR" and d.get("answers") for d in t.get("dns", [])):
        return fail(f"the public DNS does not know {HOST}: no Ingress names that host",
                    "The user finds the load balancer by name: an Ingress's host is what the public DNS answers.",
                    f"Create it: {CREATE}")
    rewrites = changes(t)
    result = t.get("result") or {}
    if not any(what == "PROXY" and obj.startswith(f"Ingress {NAMESPACE}/") for _, what, obj in rewrites):
        return fail(f"the request stopped at the ingress controller: no Ingress rule of {NAMESPACE} sent it on "
                    f"(`toycluster exec user -- curl -si {URL}` shows its answer: 404 no rule, 503 no endpoints)",
                    f"`kubectl describe ingress -n {NAMESPACE}`: a rule for host {HOST}, path /orders, and a backend "
                    "with endpoints?",
                    f"The backend is Service `orders`, port `http` (80). Made at once: {CREATE}")
    if not (result.get("ok") and f"pod {NAMESPACE}/orders-" in (result.get("summary") or "")):
        return fail(f"the request did not end at an orders pod: {result.get('summary') or result.get('why')}",
                    "Which Service does the Ingress rule name? `kubectl describe ingress -n lab08`.",
                    "The backend is Service `orders`, port `http` (80): `kubectl get svc,endpoints -n lab08`.")
    if not any(conn and conn > 1 and what == "DNAT" and obj.startswith(f"Service {NAMESPACE}/orders ")
               for conn, what, obj in rewrites):
        return fail("the ingress controller went straight to a pod: no Service hop (no kube-proxy DNAT) in the trace",
                    "ingress-nginx reads the Service's endpoints and connects to a pod itself, unless told to use "
                    "the Service's ClusterIP.",
                    "Annotate the Ingress: kubectl annotate ingress api -n lab08 "
                    "nginx.ingress.kubernetes.io/service-upstream=true")
    return PASS


LAB = Lab(key="8", title="The whole journey: user → DNS → LB → NodePort → ingress → Service → pod",
          doc="docs/labs/08-the-whole-journey.md",
          article='01-user-to-pod-on-eks.txt, "Step 5: The Complete Request Flow (End to End)": '
                  '"DNS resolves api.myapp.com → ALB ... Service load-balances to an order-service pod ... '
                  'Response flows back the same path"',
          start=start, check=check, solve=solve, namespace=NAMESPACE)
