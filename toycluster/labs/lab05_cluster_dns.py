"""Lab 5: cluster DNS — A, SRV and PTR records, a headless Service's pod addresses, search paths and ndots:5.

The starting state (examples/labs/lab05-dns.yaml, namespace lab05): the Service `web` in front of two echo pods,
and a pod `client` to ask from. The learner reads the records with dig, counts in CoreDNS's query log what
`ndots:5` costs, then makes a headless Service `web-headless` and a pod `lean` whose own dnsConfig sets ndots 1.
The check asks cluster DNS itself (dig from `client`) and reads the pod's resolv.conf, as the learner would.
"""
from __future__ import annotations

import os

from toycluster.labs.kit import PASS, Ctx, Lab, Verdict, fail

NS = "lab05"
EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                        "examples", "labs")
START = os.path.join(EXAMPLES, "lab05-dns.yaml")
SOLUTION = [os.path.join(EXAMPLES, "lab05-headless.yaml"), os.path.join(EXAMPLES, "lab05-lean.yaml")]
HEADLESS = f"web-headless.{NS}.svc.cluster.local"
FQDN = f"web.{NS}.svc.cluster.local"

FIRST_STEP = f"""\
Namespace {NS}: the Service `web` in front of two echo pods, and a pod `client` to ask questions from.
Step 1: ask cluster DNS for web's A record, and compare it with the Service's ClusterIP:
  kubectl exec -n {NS} client -- dig +short {FQDN}
  kubectl get svc -n {NS} web
Then SRV, PTR, the search path and ndots:5 (docs/labs/05-cluster-dns.md). Your work, checked by
`toycluster lab check 5`: a headless Service `web-headless` in {NS} (selecting app=web, port 80 to the pods'
port `http`), and a pod `lean` in {NS} whose dnsConfig sets the option ndots to 1."""


def start(ctx: Ctx) -> str:
    ctx.kubectl("apply", "-f", START)
    ctx.kubectl("rollout", "status", "-n", NS, "deploy/web", "--timeout=60s", timeout=70)
    ctx.kubectl("wait", "-n", NS, "--for=condition=Ready", "pod/client", "--timeout=60s", timeout=70)
    return FIRST_STEP


def _ready_ips(ctx: Ctx, app: str) -> set[str]:
    """The IPs of the Ready pods labelled app=APP in the lab's namespace (as `kubectl get pods -o wide`)."""
    ips = set()
    for pod in ctx.list("Pod", NS):
        status = pod.get("status") or {}
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
        if (pod["metadata"].get("labels") or {}).get("app") == app and ready and status.get("podIP"):
            ips.add(status["podIP"])
    return ips


def _check_headless(ctx: Ctx) -> Verdict:
    answer = ctx.kubectl("exec", "-n", NS, "client", "--", "dig", "+short", "+time=2", "+tries=1", HEADLESS,
                         check=False).split()
    want = _ready_ips(ctx, "web")
    if set(answer) == want:
        return PASS
    said = ", ".join(answer) if answer else "nothing (NXDOMAIN: no such Service)"
    svc = ctx.get("Service", "web-headless", NS)
    if svc is not None and (svc.get("spec") or {}).get("clusterIP") != "None":
        return fail(f"web-headless has the ClusterIP {svc['spec'].get('clusterIP')}: its name resolves to that "
                    f"one address, not to the pods' ({', '.join(sorted(want))})",
                    "A headless Service is one without a ClusterIP: `clusterIP: None` in its spec.",
                    "The ClusterIP cannot be changed on an existing Service: `kubectl delete svc -n lab05 "
                    "web-headless`, then apply it again with `clusterIP: None` (examples/labs/lab05-headless.yaml).")
    return fail(f"{HEADLESS} resolves to {said}, not to the web pods' own IPs ({', '.join(sorted(want))})",
                "Make a Service named web-headless in lab05 that selects app=web and has no ClusterIP; "
                "then `kubectl exec -n lab05 client -- dig +short " + HEADLESS + "`.",
                "Copy web's Service (`kubectl get svc -n lab05 web -o yaml`), rename it web-headless, set "
                "`clusterIP: None` and apply it (examples/labs/lab05-headless.yaml is one).")


def _check_lean(ctx: Ctx) -> Verdict:
    if ctx.get("Pod", "lean", NS) is None:
        return fail("there is no pod `lean` in lab05",
                    "A pod's spec.dnsConfig adds to the resolv.conf the kubelet writes: nameservers, searches "
                    "and options. Make a pod `lean` (image nicolaka/netshoot) with the option ndots set to 1.",
                    'spec.dnsConfig.options: [{name: ndots, value: "1"}] (examples/labs/lab05-lean.yaml).')
    conf = ctx.kubectl("exec", "-n", NS, "lean", "--", "cat", "/etc/resolv.conf", check=False)
    options = [w for line in conf.splitlines() if line.startswith("options") for w in line.split()[1:]]
    if "ndots:1" not in options:
        return fail(f"lean's /etc/resolv.conf says options {' '.join(options) or '(none)'}, not ndots:1",
                    "The option goes in the pod's spec.dnsConfig.options, a list of {name, value} (value a "
                    "string); a pod's spec cannot change once made, so delete lean and make it again.",
                    'dnsConfig: {options: [{name: ndots, value: "1"}]}; `kubectl exec -n lab05 lean -- cat '
                    '/etc/resolv.conf` shows the result.')
    if f"{NS}.svc.cluster.local" not in conf.split():
        return fail("lean's resolv.conf lost the cluster's search path (is its dnsPolicy still ClusterFirst?)",
                    "Keep dnsPolicy ClusterFirst (the default) and only add the option with dnsConfig.",
                    "Remove dnsPolicy: None (or its own nameservers and searches) from lean's spec.")
    return PASS


def check(ctx: Ctx) -> Verdict:
    for part in (_check_headless, _check_lean):
        verdict = part(ctx)
        if not verdict.ok:
            return verdict
    return PASS


def solve(ctx: Ctx) -> None:
    for path in SOLUTION:
        ctx.kubectl("apply", "-f", path)
    ctx.kubectl("wait", "-n", NS, "--for=condition=Ready", "pod/lean", "--timeout=60s", timeout=70)


LAB = Lab(key="5", title="Cluster DNS: records, search paths and ndots", doc="docs/labs/05-cluster-dns.md",
          article="03-networking-without-getting-lost.txt: \"DNS resolves the name to the Service IP automatically\"",
          start=start, check=check, solve=solve, namespace=NS)
