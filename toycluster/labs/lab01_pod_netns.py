"""Lab 1: a pod is a network namespace — its containers share one IP, one localhost and one port space.

The starting state (examples/labs/lab01-start.yaml, namespace lab01): pod `duo` (an echo server `web` and a
toolbox `shell`) to explore with `kubectl exec`, `ip netns` and `nsenter`, and pod `pair`, whose two web servers
both want port 8080 in the one network namespace they share: `admin` cannot bind and crash-loops. The learner
gives admin a port of its own (examples/labs/lab01-pair.yaml). The check reads the pod's status, lists the
listening sockets inside the pod's namespace (`ss`), and asks each port over localhost and over the pod's IP
from `duo`, as the learner would.
"""
from __future__ import annotations

import os
import time

from toycluster.labs.kit import PASS, Ctx, Lab, Verdict, fail

NS = "lab01"
EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                        "examples", "labs")
START = os.path.join(EXAMPLES, "lab01-start.yaml")
SOLUTION = os.path.join(EXAMPLES, "lab01-pair.yaml")

FIRST_STEP = f"""\
Namespace {NS}: pod duo (containers web and shell) and pod pair (containers web and admin).
Step 1: from duo's shell container, ask duo's web container over localhost:
  kubectl exec -n {NS} duo -c shell -- curl -s localhost:8080
Then find the pod's network namespace with `ip netns`, enter it with `nsenter`, and see why pod pair is 1/2
ready (docs/labs/01-pod-is-a-netns.md). Your work, checked by `toycluster lab check 1`: both of pair's
containers running, each web server answering on a port of its own over localhost and the pod's IP."""


def start(ctx: Ctx) -> str:
    ctx.kubectl("apply", "-f", START)
    ctx.kubectl("wait", "-n", NS, "--for=condition=Ready", "pod/duo", "--timeout=60s", timeout=70)
    _wait_crashed(ctx)
    return FIRST_STEP


def _wait_crashed(ctx: Ctx, timeout: float = 20) -> None:
    """Until pair's admin container has failed at least once (what the learner is meant to find)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pod = ctx.get("Pod", "pair", NS) or {}
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        if any(s.get("restartCount", 0) > 0 or (s.get("lastState") or {}).get("terminated") for s in statuses):
            return
        time.sleep(0.2)


CURL = "curl -s -o /dev/null -m 2 -w \"$p %{http_code}\\n\""
# In pair: each TCP port something listens on (`ss -ltnH`), and whether HTTP answers there over localhost.
LOCAL = ("for p in $(ss -ltnH | awk '{print $4}' | sed 's/.*://' | sort -un); do " + CURL +
         " http://localhost:$p/; done")


def _codes(out: str) -> dict[int, bool]:
    """{port: answered} from lines "PORT HTTP-CODE" (000: no answer)."""
    codes = {}
    for line in out.splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[0].isdigit():
            codes[int(fields[0])] = fields[1] not in ("000", "")
    return codes


def _answers_from(ctx: Ctx, pod: str, host: str, ports) -> dict[int, bool]:
    """Whether HTTP answers on HOST:PORT for each of PORTS, asked with curl from POD (one exec)."""
    script = f"for p in {' '.join(map(str, ports))}; do {CURL} http://{host}:$p/; done"
    return _codes(ctx.exec(pod, "sh", "-c", script, namespace=NS, timeout=15).stdout)


def _check_status(pod: dict | None) -> Verdict:
    if pod is None:
        return fail(f"there is no pod pair in namespace {NS}",
                    "Apply pair again, with its two containers web and admin (`toycluster lab reset 1` starts over).",
                    f"`kubectl apply -f examples/labs/lab01-pair.yaml` makes it with admin on a port of its own.")
    containers = (pod.get("spec") or {}).get("containers") or []
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    if len(containers) < 2:
        return fail(f"pod pair has {len(containers)} container: the lab is two containers sharing one pod",
                    "Keep both web and admin in pair; the fix is a port, not a container less.",
                    "In pair's manifest, give admin `args: [\"--port\", \"9090\"]` and keep web as it is.")
    down = [s["name"] for s in statuses if not s.get("ready")] + \
        [c["name"] for c in containers if c["name"] not in {s.get("name") for s in statuses}]
    if down:
        return fail(f"pod pair: container {', '.join(down)} is not running and ready "
                    f"(`kubectl get pod pair -n {NS}`)",
                    f"Read why it stops: `kubectl logs -n {NS} pair -c {down[0]}`. The containers of a pod share "
                    f"one network namespace, so one set of ports.",
                    "web already has port 8080 in the pod's namespace: start admin with `--port 9090` (a pod's "
                    "containers cannot be changed in place: delete pair, then apply it again).")
    return PASS


def check(ctx: Ctx) -> Verdict:
    pod = ctx.get("Pod", "pair", NS)
    verdict = _check_status(pod)
    if not verdict.ok:
        return verdict
    here = _codes(ctx.exec("pair", "sh", "-c", LOCAL, namespace=NS, timeout=15).stdout)
    ports = sorted(here)
    if len(ports) < 2:
        return fail(f"only {len(ports)} port is listening in pair's network namespace "
                    f"({', '.join(map(str, ports)) or 'none'}): two web servers should each have one",
                    f"Look inside the pod: `nsenter --net=/run/netns/{ctx.cluster}.pod.{NS}.pair ss -ltnp`.",
                    "Give admin a port other than web's 8080, e.g. `args: [\"--port\", \"9090\"]`.")
    ip = pod["status"].get("podIP", "")
    there = _answers_from(ctx, "duo", ip, ports)
    silent = [str(p) for p in ports if not here[p]] + [f"{ip}:{p} from duo" for p in ports if not there.get(p)]
    if silent:
        return fail(f"no HTTP answer on {', '.join(silent)} (asked with curl)",
                    "Both servers should answer over localhost inside pair, and on pair's one IP from duo.",
                    f"Try `kubectl exec -n {NS} pair -c web -- curl -s localhost:PORT` for each listening port.")
    return PASS


def solve(ctx: Ctx) -> None:
    ctx.kubectl("delete", "pod", "pair", "-n", NS, "--ignore-not-found", "--wait=true", "--timeout=60s", timeout=70)
    ctx.kubectl("apply", "-f", SOLUTION)
    ctx.kubectl("wait", "-n", NS, "--for=condition=Ready", "pod/pair", "--timeout=60s", timeout=70)


LAB = Lab(key="1", title="A pod is a network namespace", doc="docs/labs/01-pod-is-a-netns.md",
          article="05-container-to-api-gateway.txt, 1. Container Networking: \"All containers inside the same Pod "
                  "share the same network namespace\" (the same IP address, interface and port space)",
          start=start, check=check, solve=solve, namespace=NS)
