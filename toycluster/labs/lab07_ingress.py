"""Lab 7: Ingress — routing by host and path, Exact against Prefix, the default backend, TLS with the cluster CA.

The starting state (examples/labs/lab07-ingress.yaml, namespace lab07): three echo apps (frontend, api, fallback)
behind ClusterIP Services, and an Ingress `shop` sending every path of www.lab07.example.com to frontend. The
learner makes `shop` send /api (Prefix) to api, exactly /v1/orders of api.lab07.example.com to api, what no rule
matches to fallback, and lists www in `tls` (so plain HTTP is redirected). The check asks as the user on the
internet does (curl through public DNS, the load balancer and the ingress controller) and reads which pod answered.
"""
from __future__ import annotations

import os
import time

from toycluster.api import pki
from toycluster.labs.kit import PASS, Ctx, Lab, Verdict, fail

NS = "lab07"
WWW, API = "www.lab07.example.com", "api.lab07.example.com"
EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                        "examples", "labs")
START = os.path.join(EXAMPLES, "lab07-ingress.yaml")
SOLUTION = os.path.join(EXAMPLES, "lab07-shop.yaml")

FIRST_STEP = f"""\
Namespace {NS}: frontend, api and fallback (echo pods, each behind a ClusterIP Service), and an Ingress `shop`
that sends every path of {WWW} to frontend. From the internet:
  toycluster exec user -- curl -s http://{WWW}/api/orders | grep ^Pod:
Your work (docs/labs/07-ingress.md), checked by `toycluster lab check 7`: make `shop` send
  {WWW}/api and below (Prefix) to api, the rest of {WWW} to frontend as now,
  {API}/v1/orders, exactly (Exact), to api,
  whatever no rule matches to fallback (defaultBackend),
and list {WWW} under tls: the cluster CA signs its certificate (`toycluster ca`), plain HTTP gets a redirect."""


def start(ctx: Ctx) -> str:
    ctx.kubectl("apply", "-f", START)
    ctx.kubectl("rollout", "status", "-n", NS, "deploy/frontend", "deploy/api", "deploy/fallback",
                "--timeout=60s", timeout=70)
    return FIRST_STEP


def ask(ctx: Ctx, urls: list[str]) -> dict[str, tuple[int, str, str]]:
    """Each URL as the user asks it (curl, trusting the cluster CA): {url: (HTTP status or 0 with curl's exit
    status negated, Location, the answering pod "ns/name" or "")}, in one exec."""
    ca = pki.ca_paths(ctx.cfg.state_dir)[0]                      # what `toycluster ca` prints
    script = "".join(f'echo "@@@ {u}"; curl -s -i -m 3 --cacert {ca} "{u}"; echo; echo "@@@ rc=$?"\n'
                     for u in urls)
    out = ctx.exec("user", "bash", "-c", script, timeout=30).stdout
    answers, url, code, location, pod = {}, None, 0, "", ""
    for line in out.splitlines():
        line = line.rstrip("\r")
        if line.startswith("@@@ rc="):
            rc = int(line[7:] or 0)
            answers[url] = (code if rc == 0 else -rc, location, pod)
        elif line.startswith("@@@ "):
            url, code, location, pod = line[4:], 0, "", ""
        elif line.startswith("HTTP/") and len(line.split()) > 1:
            code = int(line.split()[1])
        elif line.lower().startswith("location:"):
            location = line.split(":", 1)[1].strip()
        elif line.startswith("Pod: "):
            pod = line[5:].strip()
    return answers


def _who(answer: tuple[int, str, str]) -> str:
    code, location, pod = answer
    if code < 0:
        return "nothing: " + ("the name does not resolve (no Ingress names that host)" if code == -6
                              else f"curl failed (exit {-code})")
    if pod:
        return f"HTTP {code} from {pod.split('/')[-1].rsplit('-', 2)[0]} ({pod})"
    return f"HTTP {code}" + (f" to {location}" if location else " from the ingress controller itself")


def _is(answer: tuple[int, str, str], app: str) -> bool:
    return answer[0] == 200 and answer[2].startswith(f"{NS}/{app}-")


PATHS = [   # (url, the app that must answer, what is missing, hint, stronger hint)
    (f"https://{WWW}/api/orders", "api", f"{WWW}/api/orders should reach api",
     "An Ingress rule's paths are tried longest first: add a path /api with pathType Prefix to www's rule.",
     "Under rules[0].http.paths add {path: /api, pathType: Prefix, backend: {service: {name: api, port: "
     "{name: http}}}} (`kubectl edit ingress -n lab07 shop`, or see examples/labs/lab07-shop.yaml)."),
    (f"https://{WWW}/", "frontend", f"{WWW}/ should still reach frontend",
     "Keep the path / (Prefix) to frontend in www's rule: it catches every path nothing longer matches.",
     "rules[0].http.paths needs both / -> frontend and /api -> api, each pathType Prefix."),
    (f"https://{API}/v1/orders", "api", f"{API}/v1/orders should reach api",
     f"A second rule with host {API}: the ingress controller picks the rule by the request's Host header, and "
     "the user's DNS knows every host an Ingress names.",
     f"Add to rules: {{host: {API}, http: {{paths: [{{path: /v1/orders, pathType: Exact, backend: {{service: "
     "{name: api, port: {name: http}}}}]}}."),
    (f"https://{API}/v1/orders/42", "fallback", f"{API}/v1/orders/42 should reach fallback (the default backend)",
     "An Exact path matches that path only, not what is below it (Prefix would); a request no path matches "
     "goes to the Ingress's defaultBackend.",
     "pathType: Exact for /v1/orders, and spec.defaultBackend: {service: {name: fallback, port: {name: http}}}."),
]


def check(ctx: Ctx) -> Verdict:
    redirect = f"http://{WWW}/login"
    answers = ask(ctx, [p[0] for p in PATHS] + [redirect])
    for url, app, missing, hint, stronger in PATHS:
        if not _is(answers[url], app):
            return fail(f"{missing}; it got {_who(answers[url])}", hint, stronger)
    code, location, _ = answers[redirect]
    if code != 308 or not location.startswith(f"https://{WWW}/"):
        return fail(f"{redirect} should be redirected to https (308) now that {WWW} has TLS; it got "
                    f"{_who(answers[redirect])}",
                    f"List {WWW} in the Ingress's spec.tls: ingress-nginx then redirects its plain HTTP to HTTPS.",
                    f"spec.tls: [{{hosts: [{WWW}]}}] (no secretName: the controller's certificate, signed by "
                    "the cluster CA, is served; `toycluster ca` is that CA's path).")
    return PASS


def solve(ctx: Ctx) -> None:
    """Apply the reference Ingress, then wait (10 s at most) until the controller routes by it."""
    ctx.kubectl("apply", "-f", SOLUTION)
    deadline = time.monotonic() + 10
    while not check(ctx).ok and time.monotonic() < deadline:
        time.sleep(0.2)


LAB = Lab(key="7", title="Ingress: hosts, paths, the default backend and TLS", doc="docs/labs/07-ingress.md",
          article="02-services-ingress-alb-networkpolicy.txt: \"the receptionist reads the visitor's request and "
                  "routes them to the right department\"",
          start=start, check=check, solve=solve, namespace=NS)
