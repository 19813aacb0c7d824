"""Lab 12a-c: breaks outside the lab's namespace — a hand-made rule in node1's nat table (kube-proxy's resync
puts back only its own), node2 stopped behind the load balancer, the DNS pod gone.

Each start breaks something the whole cluster shares and says what the learner sees, not why; each clean
repairs it (the rule deleted, node2 started, CoreDNS scaled back to one), so the labs sharing the cluster find
it whole again. The checks send real traffic (curl from `client` or from the user on the internet, dig) and
then look for the repair itself, from what `iptables-save`, `toycluster lb` and kubectl show.
"""
from __future__ import annotations

import shlex
import time

from toycluster.labs import lab12_common as c
from toycluster.labs.kit import PASS, Ctx, Lab, Verdict, fail

HAND_COMMENT = "web: quick fix"
BUILTIN = ("-A PREROUTING ", "-A INPUT ", "-A OUTPUT ", "-A POSTROUTING ")


# ------------------------------------------------------------------ 12a: a rule kube-proxy does not own
def _hand_target(ctx: Ctx) -> str:
    """Where the hand-made rule sends web's ClusterIP: a web pod's address, on the Service's port (80) rather
    than the pod's (8080), as written in a hurry (a TCP reset comes back at once, every time)."""
    pods = sorted((p["metadata"]["name"], p["status"].get("podIP")) for p in ctx.list("Pod", c.NS)
                  if (p["metadata"].get("labels") or {}).get("app") == "web" and p.get("status", {}).get("podIP"))
    return f"{pods[0][1]}:80"


def _hand_rules(ctx: Ctx) -> list[str]:
    out = ctx.exec("node1", "iptables", "-t", "nat", "-S", "PREROUTING").stdout
    return [line for line in out.splitlines() if HAND_COMMENT in line]


def start_a(ctx: Ctx) -> str:
    c.apply_app(ctx, c.example("lab12a-web.yaml"), "web")
    if not _hand_rules(ctx):
        ip = c.service(ctx, "web")["spec"]["clusterIP"]
        ctx.exec("node1", "iptables", "-t", "nat", "-I", "PREROUTING", "1", "-d", f"{ip}/32", "-p", "tcp",
                 "--dport", "80", "-m", "comment", "--comment", HAND_COMMENT, "-j", "DNAT",
                 "--to-destination", _hand_target(ctx), check=True)
    return f"""\
Namespace {c.NS}: the Service `web` in front of two echo pods, and the pod `client` on node1.
The symptom: from client, `curl http://web/` fails at once, though kubectl sees nothing wrong (the Service, its
endpoints and pods look fine). Find out why and repair it (docs/labs/12-break-it.md, 12a);
`toycluster lab check 12a` checks."""


def _extra_nat_rules(ctx: Ctx) -> list[str]:
    """Rules of node1's nat table that kube-proxy would not write (in the built-in chains, or about web)."""
    ip = c.service(ctx, "web").get("spec", {}).get("clusterIP") or "-"
    rendered = ctx.toycluster("proxy-rules", "node1").split("*nat", 1)[-1]
    ours = {" ".join(line.split()) for line in rendered.splitlines() if line.startswith("-A ")}
    have = ctx.exec("node1", "iptables-save", "-t", "nat").stdout.splitlines()
    return [line for line in have if line.startswith(BUILTIN) or (line.startswith("-A ") and ip in line)
            if " ".join(line.split()) not in ours]


def check_a(ctx: Ctx) -> Verdict:
    ok, said = c.answered_by(ctx, "http://web/", "web")
    if not ok:
        return fail(f"from client (on node1), `curl http://web/` still fails: {said}",
                    "Compare what node1's kernel does with what kube-proxy wrote: `toycluster trace -n lab12 "
                    "--from client http://web/` shows where the packet went; `toycluster exec node1 -- "
                    "iptables-save -t nat` shows every nat rule, not only kube-proxy's.",
                    "The first rule of node1's nat PREROUTING is not kube-proxy's: it DNATs web's ClusterIP to a "
                    "pod's port 80, where nothing listens. Flush node1's nat table (kube-proxy's resync writes its "
                    "own rules back within 10 s) or delete that rule: `toycluster exec node1 -- iptables -t nat -D "
                    "PREROUTING 1`.")
    extra = _extra_nat_rules(ctx)
    if extra:
        return fail(f"web answers now, but node1's nat table still has a rule kube-proxy did not write: {extra[0]}",
                    "A rule kube-proxy does not own stays where it is: its resync only rewrites its own chains "
                    "and jumps. Diff `toycluster proxy-rules node1` with node1's iptables-save.",
                    "Delete it: `toycluster exec node1 -- iptables -t nat -D PREROUTING N` (N its position in "
                    "`iptables -t nat -S PREROUTING`, counting from 1 after the -P line).")
    return PASS


def solve_a(ctx: Ctx) -> None:
    for line in _hand_rules(ctx):
        ctx.exec("node1", "iptables", "-t", "nat", "-D", *shlex.split(line)[1:], check=True)


def clean_a(ctx: Ctx) -> None:
    solve_a(ctx)
    c.delete_app(ctx, "deploy/web", "svc/web")


# ------------------------------------------------------------------ 12b: a node stopped behind the LB
SHOP_URL = "http://shop.lab12.lb.example/"


def _node_ready(ctx: Ctx, node: str) -> bool:
    return c.ready(ctx.get("Node", node, namespace=None))


def _wait(what, seconds: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + seconds
    while not what():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


def _lb_targets(ctx: Ctx) -> str:
    """The TARGETS of the LB's frontend for lab12/shop, as `toycluster lb` prints them ("" if none)."""
    for line in ctx.toycluster("lb").splitlines():
        if " lab12/shop:http " in line:
            return line.split(None, 3)[-1]
    return ""


def start_b(ctx: Ctx) -> str:
    up = _node_ready(ctx, "node2")        # else already stopped (a second start): the shop's pods cannot be ready
    c.apply_app(ctx, c.example("lab12b-shop.yaml"), "shop", wait=up)
    ctx.toycluster("node", "stop", "node2")
    if not _wait(lambda: not _node_ready(ctx, "node2"), 30, 0.5):
        raise RuntimeError("node2 was stopped but is still Ready after 30 s")
    return f"""\
Namespace {c.NS}: the shop, a LoadBalancer Service (public name shop.lab12.lb.example) in front of two echo pods
that must run on node2. The symptom: from the internet, the shop does not answer:
  toycluster exec user -- curl -sS -m 3 {SHOP_URL}
Find out why from what the load balancer, the nodes and the Service say, and bring the shop back without
moving it off node2 (docs/labs/12-break-it.md, 12b); `toycluster lab check 12b` checks."""


def check_b(ctx: Ctx) -> Verdict:
    p = ctx.exec("user", "curl", "-sS", "-m", "2", SHOP_URL, timeout=12)
    said = (p.stdout if p.returncode == 0 else p.stderr).strip().splitlines() or [""]
    if p.returncode != 0 or not said[0].startswith("Hostname: shop-"):
        return fail(f"the user's `curl {SHOP_URL}` still fails: {said[0]}",
                    "Start from the outside in: `toycluster lb` (which nodes the load balancer still sends "
                    "to), then `kubectl get nodes` and `kubectl get endpoints -n lab12 shop`.",
                    "node2 is off the network (NotReady, out of the load balancer), and the shop's pods only "
                    "run there: `toycluster node start node2`.")
    targets = _lb_targets(ctx)
    if not _node_ready(ctx, "node2") or "node2=healthy" not in targets:
        return fail(f"the shop answers, but not from node2: the load balancer says {targets or 'nothing'}",
                    "The shop must run on node2: is node2 Ready again (`kubectl get nodes`)?",
                    "`toycluster node start node2`, then wait for `toycluster lb` to say node2=healthy.")
    return PASS


def solve_b(ctx: Ctx) -> None:
    ctx.toycluster("node", "start", "node2")
    if not _wait(lambda: _node_ready(ctx, "node2"), 30):
        raise RuntimeError("node2 is not Ready 30 s after `toycluster node start node2`")
    # pods evicted meanwhile (30 s after NotReady) come back: the shop's, the ingress controller's, CoreDNS's
    for ns, deploy in ((c.NS, "shop"), ("ingress", "ingress-nginx-controller"), ("kube-system", "coredns")):
        if ctx.get("Deployment", deploy, ns):
            ctx.kubectl("rollout", "status", "-n", ns, f"deploy/{deploy}", c.WAIT, timeout=70)
    if ctx.get("Deployment", "shop", c.NS):
        if not _wait(lambda: "node1=healthy node2=healthy" in _lb_targets(ctx), 20):
            raise RuntimeError(f"the load balancer still says {_lb_targets(ctx)} 20 s after node2 came back")


def clean_b(ctx: Ctx) -> None:
    solve_b(ctx)
    c.delete_app(ctx, "deploy/shop", "svc/shop")


# ------------------------------------------------------------------ 12c: the DNS pod gone
def _coredns_replicas(ctx: Ctx) -> int:
    d = ctx.get("Deployment", "coredns", "kube-system") or {}
    return int((d.get("spec") or {}).get("replicas") or 0)


def start_c(ctx: Ctx) -> str:
    c.apply_app(ctx, c.example("lab12c-menu.yaml"), "menu")
    ctx.kubectl("scale", "-n", "kube-system", "deploy/coredns", "--replicas=0")
    ctx.kubectl("wait", "-n", "kube-system", "--for=delete", "pod", "-l", "k8s-app=kube-dns", c.WAIT, timeout=70)
    return f"""\
Namespace {c.NS}: the Service `menu` in front of an echo pod, and the pod `client`.
The symptom: from client, `curl http://menu/` fails (so does every name, in every namespace). Find out why and
repair it (docs/labs/12-break-it.md, 12c); `toycluster lab check 12c` checks."""


def check_c(ctx: Ctx) -> Verdict:
    ip = c.service(ctx, "menu").get("spec", {}).get("clusterIP")
    got = c.dig(ctx, f"menu.{c.NS}.svc.cluster.local")
    if got != [ip]:
        return fail(f"from client, `dig menu.{c.NS}.svc.cluster.local` gets {', '.join(got) or 'no answer'}, "
                    f"not menu's ClusterIP {ip}",
                    "Who answers DNS for the pods? `kubectl exec -n lab12 client -- cat /etc/resolv.conf`, then "
                    "`kubectl get svc,endpoints -n kube-system kube-dns`.",
                    "kube-dns has no endpoints because CoreDNS has no pod: `kubectl get deploy -n kube-system "
                    "coredns` says 0/0. Scale it back: `kubectl scale -n kube-system deploy/coredns --replicas=1`.")
    ok, said = c.answered_by(ctx, "http://menu/", "menu")
    if not ok:
        return fail(f"menu resolves, but `curl http://menu/` from client fails: {said}",
                    "Is menu's pod ready? `kubectl get pods,endpoints -n lab12 -l app=menu`.",
                    "Apply examples/labs/lab12c-menu.yaml again.")
    if _coredns_replicas(ctx) < 1:
        return fail("names resolve, but not by CoreDNS: kube-system/coredns still has 0 replicas",
                    "Cluster DNS is CoreDNS's job: `kubectl get deploy -n kube-system coredns`.",
                    "`kubectl scale -n kube-system deploy/coredns --replicas=1`.")
    return PASS


def solve_c(ctx: Ctx) -> None:
    if _coredns_replicas(ctx) < 1:
        ctx.kubectl("scale", "-n", "kube-system", "deploy/coredns", "--replicas=1")
    ctx.kubectl("rollout", "status", "-n", "kube-system", "deploy/coredns", c.WAIT, timeout=70)


def clean_c(ctx: Ctx) -> None:
    solve_c(ctx)
    c.delete_app(ctx, "deploy/menu", "svc/menu")


def _lab(key, title, anchor, article, start, check, solve, clean) -> Lab:
    return Lab(key, title, f"{c.DOC}#{anchor}", article, start, check, solve, clean, namespace=c.NS, breaks=True)


LABS = [
    _lab("12a", "Break it: a flushed nat table and a rule by hand", "12a-a-flushed-nat-table-and-a-rule-by-hand",
         '05-container-to-api-gateway.txt: "kube-proxy runs on every Kubernetes node"', start_a, check_a, solve_a,
         clean_a),
    _lab("12b", "Break it: a node stopped behind the load balancer", "12b-a-node-stopped-behind-the-load-balancer",
         '01-user-to-pod-on-eks.txt: the load balancer "Performs health checks", "Chooses a healthy target"',
         start_b, check_b, solve_b, clean_b),
    _lab("12c", "Break it: the DNS pod is gone", "12c-the-dns-pod-is-gone",
         '03-networking-without-getting-lost.txt: "DNS Problems ... Verify DNS resolution inside the cluster"',
         start_c, check_c, solve_c, clean_c),
]
