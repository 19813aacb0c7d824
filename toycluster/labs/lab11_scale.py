"""Lab 11: scale — thousands of Services, a new connection's latency growing with the rules, large cluster mode.

The learner grows namespace lab11 to 2,000 Services (examples/labs/lab11-scale.py: each Service selects the echo
pod, so each gets its KUBE-SERVICES rule, its KUBE-SVC and KUBE-SEP chains), times new connections from pod client
at each size (a connection that no Service rule matches walks all of KUBE-SERVICES: iptables is a list), keeps the
medians in ConfigMap lab11/latency and plots them, and reads what kube-proxy's large cluster mode (more than
proxier.LARGE_CLUSTER_ENDPOINTS endpoints) changed in the rules. The check reads what a learner can: the Services
(kubectl), every node's nat table (iptables-save) and the ConfigMap.
"""
from __future__ import annotations

import re
from pathlib import Path

from toycluster.labs.kit import PASS, Ctx, Lab, Verdict, fail
from toycluster.proxy.proxier import LARGE_CLUSTER_ENDPOINTS

NAMESPACE = "lab11"
SERVICES = 2000                          # the replayed size (docs/labs/11-scale.md says why not 5,000)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "labs"
START = EXAMPLES / "lab11-start.yaml"
SCALE = EXAMPLES / "lab11-scale.py"
MINE = re.compile(r'^-A KUBE-SERVICES .*"lab11/s\d{4} cluster IP"', re.M)
BARE_DNAT = re.compile(r"^-A KUBE-SEP-\S+ (?:(?!--comment).)*-j DNAT ", re.M)    # a DNAT rule without a comment
SWEEP = f"python3 examples/labs/lab11-scale.py 0 500 {SERVICES} --svg /tmp/lab11.svg"

FIRST_STEP = f"""\
Lab 11: scale. Namespace {NAMESPACE} has one echo pod and a client pod, both on node1, and Service echo.

Time new connections from client, then grow the namespace to {SERVICES:,} Services and time them again at each size
(iptables walks KUBE-SERVICES rule by rule); the numbers go into ConfigMap {NAMESPACE}/latency:

  {SWEEP}
  toycluster exec node1 -- iptables-save -t nat | grep -c -- '-A KUBE-SERVICES'
  toycluster lab check 11"""


def start(ctx: Ctx) -> str:
    ctx.kubectl("apply", "-f", str(START))
    ctx.kubectl("wait", "-n", NAMESPACE, "--for=condition=Ready", "pod", "--all", "--timeout=60s", timeout=70)
    return FIRST_STEP


def solve(ctx: Ctx) -> None:
    ctx.run(["python3", str(SCALE), "0", str(SERVICES)], timeout=240)


def node_rules(ctx: Ctx) -> dict[str, str]:
    """Every node's nat table, as `iptables-save -t nat` prints it there."""
    return {f"node{n}": ctx.exec(f"node{n}", "iptables-save", "-t", "nat").stdout
            for n in range(1, ctx.cfg.nodes + 1)}


def measured(ctx: Ctx) -> dict[int, str]:
    """ConfigMap lab11/latency: {Services: median µs}, the keys that are numbers."""
    data = (ctx.get("ConfigMap", "latency", NAMESPACE) or {}).get("data") or {}
    return {int(k): v for k, v in data.items() if k.isdigit()}


def check(ctx: Ctx) -> Verdict:
    scale = [s for s in ctx.list("Service", NAMESPACE) if re.fullmatch(r"s\d{4}", s["metadata"]["name"])]
    if len(scale) < SERVICES:
        return fail(f"{NAMESPACE} has {len(scale)} Services s0000.., not {SERVICES:,}",
                    f"Grow it and time it at each size: {SWEEP}",
                    "lab11-scale.py makes the Services with `toycluster apply -f -` (one YAML document each), then "
                    "waits for node1's rules and times connections from the client pod.")
    tables = node_rules(ctx)
    short = {node: len(MINE.findall(nat)) for node, nat in tables.items()}
    short = {node: n for node, n in short.items() if n < SERVICES}
    if short:
        return fail(f"not every node has a KUBE-SERVICES rule for each Service yet ({short})",
                    "kube-proxy writes every node's rules within a second or two; look again.",
                    "`toycluster exec node1 -- iptables-save -t nat | grep -c -- '-A KUBE-SERVICES'`")
    if not all(BARE_DNAT.search(nat) for nat in tables.values()):
        return fail(f"no node is in large cluster mode (over {LARGE_CLUSTER_ENDPOINTS:,} endpoints: KUBE-SEP "
                    "rules without comments)", "Does every Service s* have an endpoint? `kubectl get endpointslices "
                    f"-n {NAMESPACE} | head`.", "The Services must select the echo pod (app: echo), each one "
                    "endpoint, so that the cluster has more than 1,000.")
    times = measured(ctx)
    if len(times) < 2 or max(times) < SERVICES:
        return fail(f"ConfigMap {NAMESPACE}/latency has no measurements at two sizes up to {SERVICES:,} Services "
                    f"({times or 'none'})", f"lab11-scale.py keeps its medians there: {SWEEP}",
                    f"Or by hand: kubectl create configmap latency -n {NAMESPACE} --from-literal=0=MICROSECONDS "
                    f"--from-literal={SERVICES}=MICROSECONDS (the medians lab11-connect.py printed)")
    return PASS


LAB = Lab(key="11", title="Scale: thousands of Services, latency against rules, large cluster mode",
          doc="docs/labs/11-scale.md",
          article='05-container-to-api-gateway.txt, "6. kube-proxy (Traffic Routing)": "It uses technologies like: '
                  'iptables, IPVS ... Example routing rule: Service IP → Pod1"',
          start=start, check=check, solve=solve, namespace=NAMESPACE)
