"""Lab 9: NetworkPolicy — default deny, then allow frontend → backend, a namespace selector, egress to DNS.

The starting state (examples/labs/lab09-apps.yaml): in namespace lab09 the pods backend (behind the Service
`backend`), frontend and other; in lab09-monitor a prober and a debug pod; no policy, so every pod reaches every
pod. The learner locks lab09 down (ingress and egress), lets every pod of it ask cluster DNS, lets frontend reach
backend on 8080, and lets lab09-monitor's prober in as well (namespace and pod selector in one entry);
`toycluster policy why` says which policy and rule decide. The check connects from the pods themselves (curl,
dig): what must pass passes, what must be refused is.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

from toycluster.labs.kit import KUBECTL, PASS, Ctx, Lab, Verdict, fail

NS, MONITOR = "lab09", "lab09-monitor"
EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                        "examples", "labs")
START = os.path.join(EXAMPLES, "lab09-apps.yaml")
SOLUTION = [os.path.join(EXAMPLES, f"lab09-{name}.yaml")
            for name in ("deny-all", "allow-dns", "frontend-to-backend", "monitoring")]

FIRST_STEP = f"""\
Namespace {NS}: pods backend (Service `backend`, port 80 to the pod's 8080), frontend and other; namespace
{MONITOR}: pods prober and debug. No NetworkPolicy yet: every pod reaches every pod, e.g.
  kubectl exec -n {NS} other -- curl -s http://backend/ | grep ^Pod:
  toycluster policy why -n {NS} other backend:8080
Your work (docs/labs/09-network-policy.md), checked by `toycluster lab check 9`: in {NS}, deny all ingress and
egress by default; let every pod of {NS} ask cluster DNS; let frontend (and only it, of {NS}) reach backend on
8080; let the prober of the namespace {MONITOR} (not its other pods) reach backend on 8080 too. Nothing else:
frontend may not reach prober, other and {MONITOR}'s debug may not reach backend."""


def start(ctx: Ctx) -> str:
    ctx.kubectl("apply", "-f", START)
    ctx.kubectl("wait", "-n", NS, "--for=condition=Ready", "pod/backend", "pod/frontend", "pod/other",
                "--timeout=60s", timeout=70)
    ctx.kubectl("wait", "-n", MONITOR, "--for=condition=Ready", "pod/prober", "pod/debug", "--timeout=60s",
                timeout=70)
    return FIRST_STEP


def clean(ctx: Ctx) -> None:
    """Delete both of the lab's namespaces and wait until they are gone."""
    ctx.kubectl("delete", "namespace", NS, MONITOR, "--ignore-not-found", "--wait=true", "--timeout=60s",
                timeout=70)
    deadline = time.monotonic() + 60
    while any(ctx.get("Namespace", n, namespace=None) is not None for n in (NS, MONITOR)):
        if time.monotonic() > deadline:
            raise RuntimeError(f"namespaces {NS} and {MONITOR} were still there after 60 s")
        time.sleep(0.2)


def _ip(ctx: Ctx, namespace: str, pod: str) -> str:
    return ((ctx.get("Pod", pod, namespace) or {}).get("status") or {}).get("podIP", "")


def _probe(ctx: Ctx, namespace: str, pod: str, commands: dict[str, str]) -> dict[str, tuple[int, str]]:
    """Run COMMANDS ({key: shell command}) in POD, in one exec: {key: (exit status, output)}."""
    script = "".join(f'{cmd}; echo "@@@ {key} $?"\n' for key, cmd in commands.items())
    out = ctx.run([KUBECTL, "exec", "-n", namespace, pod, "--", "bash", "-c", script], timeout=15, check=False).stdout
    results, lines = {}, []
    for line in out.splitlines():
        if line.startswith("@@@ "):
            _, key, rc = line.split()
            results[key], lines = (int(rc), "\n".join(lines)), []
        else:
            lines.append(line)
    return results


def _curl(url: str) -> str:
    """A shell command: curl URL (1.5 s at most), print the answering pod's `Pod:` line, keep curl's status."""
    return f'out=$(curl -s -m 1.5 {url}); rc=$?; echo "$out" | grep ^Pod: ; (exit $rc)'


def _dig(name: str) -> str:
    return f"dig +short +time=1 +tries=1 {name} | grep -q ."


def _outcome(rc: int) -> str:
    return {0: "it connected", 6: "the name did not resolve (DNS blocked?)", 7: "it was refused",
            28: "it timed out"}.get(rc, f"curl failed (exit {rc})")


def _refused(src: str, dst: str, result: tuple[int, str], hints: tuple[str, str]) -> Verdict:
    if result[0] == 0:
        return fail(f"{src} reaches {dst} on 8080 ({result[1].strip()}); it should be refused "
                    f"(`toycluster policy why {src} {dst}:8080`)", *hints)
    return PASS


def _reached(src: str, url: str, result: tuple[int, str], hints: tuple[str, str]) -> Verdict:
    if result[0] == 0 and result[1].strip() == f"Pod: {NS}/backend":
        return PASS
    return fail(f"{src} should reach backend at {url}, but {_outcome(result[0])} "
                f"(`toycluster policy why {src} {NS}/backend:8080`)", *hints)


DENY_ALL = ("Start with a default deny: a NetworkPolicy in lab09 with `podSelector: {}` and both policyTypes, "
            "Ingress and Egress, and no rules.",
            "examples/labs/lab09-deny-all.yaml; `kubectl get networkpolicy -n lab09` lists what you have.")
DNS = ("Every pod of lab09 needs egress to cluster DNS: UDP and TCP port 53 to the kube-dns pods of kube-system "
       "(a namespaceSelector and a podSelector in one `to` entry).",
       "namespaceSelector {kubernetes.io/metadata.name: kube-system} with podSelector {k8s-app: kube-dns}, ports "
       "53/UDP and 53/TCP, for podSelector: {} (examples/labs/lab09-allow-dns.yaml).")
FRONTEND = ("A connection needs both halves: egress from frontend to backend, and ingress to backend from frontend, "
            "on the pod's port 8080 (policies see the packet after the Service's DNAT: not port 80).",
            "Two policies: podSelector app=backend with ingress from podSelector app=frontend port 8080; podSelector "
            "app=frontend with egress to podSelector app=backend port 8080 "
            "(examples/labs/lab09-frontend-to-backend.yaml).")
MONITORING = ("Let backend in from another namespace: an ingress `from` entry with a namespaceSelector (every "
              "namespace has the label kubernetes.io/metadata.name) and, in the same entry, a podSelector.",
              "podSelector app=backend, ingress from ONE entry {namespaceSelector: {matchLabels: "
              "{kubernetes.io/metadata.name: lab09-monitor}}, podSelector: {matchLabels: {app: prober}}}, port 8080 "
              "(examples/labs/lab09-monitoring.yaml); two entries (`- namespaceSelector`, `- podSelector`) mean "
              "either, not both.")


def _probe_all(ctx: Ctx) -> dict[str, tuple[int, str]]:
    """Every probe of the check, from other, frontend and prober at once (one exec each, in parallel)."""
    backend, prober = _ip(ctx, NS, "backend"), _ip(ctx, MONITOR, "prober")
    plans = [(NS, "other", {"other-backend": _curl(f"http://{backend}:8080/"),
                            "other-dns": _dig(f"backend.{NS}.svc.cluster.local")}),
             (NS, "frontend", {"frontend-prober": _curl(f"http://{prober}:8080/"),
                               "frontend-dns": _dig(f"backend.{NS}.svc.cluster.local"),
                               "frontend-backend": _curl("http://backend/")}),
             (MONITOR, "prober", {"prober-backend": _curl(f"http://backend.{NS}/")}),
             (MONITOR, "debug", {"debug-backend": _curl(f"http://{backend}:8080/")})]
    with ThreadPoolExecutor(len(plans)) as pool:
        parts = pool.map(lambda plan: _probe(ctx, *plan), plans)
    return {k: v for part in parts for k, v in part.items()}


def check(ctx: Ctx) -> Verdict:
    r = _probe_all(ctx)
    for verdict in (
            _refused(f"{NS}/other", f"{NS}/backend", r["other-backend"], DENY_ALL),
            _refused(f"{NS}/frontend", f"{MONITOR}/prober", r["frontend-prober"], DENY_ALL),
            _reached(f"{NS}/frontend", "http://backend/", r["frontend-backend"],
                     FRONTEND if r["frontend-dns"][0] == 0 else DNS),
            _reached(f"{MONITOR}/prober", f"http://backend.{NS}/", r["prober-backend"], MONITORING),
            _refused(f"{MONITOR}/debug", f"{NS}/backend", r["debug-backend"], MONITORING)):
        if not verdict.ok:
            return verdict
    if r["other-dns"][0] != 0:
        return fail(f"{NS}/other cannot resolve names: every pod of {NS} should reach cluster DNS", *DNS)
    return PASS


def solve(ctx: Ctx) -> None:
    for path in SOLUTION:
        ctx.kubectl("apply", "-f", path)
    deadline = time.monotonic() + 10            # the policy agent renders within a second
    while not check(ctx).ok and time.monotonic() < deadline:
        time.sleep(0.2)


LAB = Lab(key="9", title="NetworkPolicy: default deny, then allow", doc="docs/labs/09-network-policy.md",
          article="02-services-ingress-alb-networkpolicy.txt: \"Default deny all ingress (lock down first, then "
                  "whitelist)\"",
          start=start, check=check, solve=solve, clean=clean, namespace=NS)
