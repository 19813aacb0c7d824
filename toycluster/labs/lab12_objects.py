"""Lab 12d-f: breaks in the lab's own objects — a Service whose targetPort is not the pods' port, a selector that
matches no pod, an egress policy that forgot DNS.

Each start applies the broken object as someone wrote it (examples/labs/lab12X-NAME.yaml). Each check sends the
request that failed (curl or dig from a pod) and then checks the repair is one: the Service's targetPort is
the container's port (the pods were not changed to fit), the selector picks the Deployment's pods (not pods
relabelled by hand), the egress policy still holds (DNS was allowed, egress was not opened to everything).
"""
from __future__ import annotations

from toycluster.labs import lab12_common as c
from toycluster.labs.kit import PASS, Ctx, Lab, Verdict, fail


# ------------------------------------------------------------------ 12d: a wrong targetPort
def start_d(ctx: Ctx) -> str:
    c.apply_app(ctx, c.example("lab12d-api.yaml"), "api")
    return f"""\
Namespace {c.NS}: the Service `api` in front of two echo pods, and the pod `client`.
The symptom: from client, `curl http://api/` is refused at once, though both api pods are Running and Ready.
Find out why and repair the Service (docs/labs/12-break-it.md, 12d); `toycluster lab check 12d` checks."""


def _container_port(ctx: Ctx, app: str) -> dict:
    d = ctx.get("Deployment", app, c.NS) or {}
    containers = (((d.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or [{}]
    return (containers[0].get("ports") or [{}])[0]


def check_d(ctx: Ctx) -> Verdict:
    ok, said = c.answered_by(ctx, "http://api/", "api")
    if not ok:
        return fail(f"from client, `curl http://api/` still fails: {said}",
                    "Where do the Service's packets go? `kubectl get endpoints -n lab12 api` shows the pod "
                    "addresses and the port kube-proxy DNATs to; compare it with the port the pods declare.",
                    "The pods listen on 8080 (their port `http`); the Service sends to 80. `kubectl patch svc -n "
                    "lab12 api --type=json -p '[{\"op\":\"replace\",\"path\":\"/spec/ports/0/targetPort\","
                    "\"value\":\"http\"}]'`.")
    port = _container_port(ctx, "api")
    target = ((c.service(ctx, "api").get("spec") or {}).get("ports") or [{}])[0].get("targetPort")
    if port.get("containerPort") != 8080 or target not in (8080, "8080", port.get("name")):
        return fail(f"api answers, but the Service's targetPort is {target} and the pods' port "
                    f"{port.get('name')}={port.get('containerPort')}: the pods were changed, not the Service",
                    "The Service was wrong, not the app: put the Deployment back as it was "
                    "(examples/labs/lab12d-api.yaml) and fix the Service's targetPort.",
                    "targetPort must be the container's port: 8080, or better its name `http`.")
    return PASS


def solve_d(ctx: Ctx) -> None:
    ctx.kubectl("patch", "svc", "-n", c.NS, "api", "--type=json",
                "-p", '[{"op":"replace","path":"/spec/ports/0/targetPort","value":"http"}]')


# ------------------------------------------------------------------ 12e: a selector that matches nothing
def start_e(ctx: Ctx) -> str:
    c.apply_app(ctx, c.example("lab12e-cart.yaml"), "cart")
    return f"""\
Namespace {c.NS}: the Service `cart` in front of two echo pods, and the pod `client`.
The symptom: from client, `curl http://cart/` is refused at once, though both cart pods are Running and Ready.
Find out why and repair the Service (docs/labs/12-break-it.md, 12e); `toycluster lab check 12e` checks."""


def check_e(ctx: Ctx) -> Verdict:
    ok, said = c.answered_by(ctx, "http://cart/", "cart")
    if not ok:
        return fail(f"from client, `curl http://cart/` still fails: {said}",
                    "Does the Service have endpoints? `kubectl get endpoints -n lab12 cart`, then compare its "
                    "selector (`kubectl describe svc -n lab12 cart`) with the pods' labels (`--show-labels`).",
                    "The selector says app=carts, the pods are app=cart: `kubectl patch svc -n lab12 cart -p "
                    "'{\"spec\":{\"selector\":{\"app\":\"cart\"}}}'`.")
    selector = (c.service(ctx, "cart").get("spec") or {}).get("selector") or {}
    labels = c.template_labels(ctx, "cart")
    if not selector or any(labels.get(k) != v for k, v in selector.items()):
        return fail(f"cart answers, but the Service's selector {selector} does not pick the Deployment's pods "
                    f"({labels}): pods relabelled by hand leave their ReplicaSet, which makes new ones",
                    "Fix the Service's selector, not the pods' labels.",
                    "`kubectl patch svc -n lab12 cart -p '{\"spec\":{\"selector\":{\"app\":\"cart\"}}}'`.")
    return PASS


def solve_e(ctx: Ctx) -> None:
    ctx.kubectl("patch", "svc", "-n", c.NS, "cart", "-p", '{"spec":{"selector":{"app":"cart"}}}')


# ------------------------------------------------------------------ 12f: a policy that blocks DNS
def start_f(ctx: Ctx) -> str:
    c.apply_app(ctx, c.example("lab12f-ledger.yaml"), "ledger")
    others = [f"networkpolicy/{p['metadata']['name']}" for p in ctx.list("NetworkPolicy", c.NS)
              if p["metadata"]["name"] != "reports-egress"]     # a fix left from before: broken again
    if others:
        ctx.kubectl("delete", "-n", c.NS, *others)
    ctx.kubectl("wait", "-n", c.NS, "--for=condition=Ready", "pod/reports", "pod/vault", c.WAIT, timeout=70)
    return f"""\
Namespace {c.NS}: the Services `ledger` and `vault`, each in front of an echo pod, and the pod `reports`, which
may talk to ledger and to nothing else. The symptom: from reports, `curl http://ledger/` fails (from client it works).
Find out why and repair it without opening reports to everything (docs/labs/12-break-it.md, 12f);
`toycluster lab check 12f` checks."""


def _vault_open(ctx: Ctx) -> bool:
    """Can reports open a connection to the pod vault (which no rule of reports-egress allows)? (No vault: yes.)"""
    ip = ((ctx.get("Pod", "vault", c.NS) or {}).get("status") or {}).get("podIP")
    return not ip or ctx.exec("reports", "nc", "-z", "-w", "1", ip, "8080", namespace=c.NS, timeout=10).returncode == 0


def check_f(ctx: Ctx) -> Verdict:
    ok, said = c.answered_by(ctx, "http://ledger/", "ledger", pod="reports")
    ip = c.service(ctx, "ledger").get("spec", {}).get("clusterIP")
    got = [ip] if ok else c.dig(ctx, f"ledger.{c.NS}.svc.cluster.local", pod="reports")
    if got != [ip]:
        return fail(f"from reports, `dig ledger.{c.NS}.svc.cluster.local` gets {', '.join(got) or 'no answer'}, "
                    f"not ledger's ClusterIP {ip}",
                    "Does reports reach ledger by its ClusterIP? Then the name is the trouble: who answers DNS, "
                    "and may reports talk to it? `kubectl get networkpolicy -n lab12`, `toycluster policy why`.",
                    "reports-egress allows only ledger:8080, not the DNS pods in kube-system on port 53. Add an "
                    "egress rule for them (UDP and TCP 53): examples/labs/lab12f-allow-dns.yaml is one.")
    if not ok:
        return fail(f"ledger resolves, but `curl http://ledger/` from reports fails: {said}",
                    "Is egress to ledger:8080 still allowed? `toycluster policy why lab12/reports lab12/POD:8080`.",
                    "Keep reports-egress's rule for app=ledger on TCP 8080 (examples/labs/lab12f-ledger.yaml).")
    if _vault_open(ctx):
        return fail("reports resolves and reaches ledger, but it also reaches vault (or vault is gone): its egress "
                    "is no longer limited to ledger and DNS (a policy deleted, or one allowing everything)",
                    "Allow DNS only: egress to the kube-dns pods in kube-system on port 53, nothing wider.",
                    "Put back reports-egress and vault (examples/labs/lab12f-ledger.yaml) and add "
                    "examples/labs/lab12f-allow-dns.yaml beside it.")
    return PASS


def solve_f(ctx: Ctx) -> None:
    ctx.kubectl("apply", "-f", c.example("lab12f-allow-dns.yaml"))


def _clean(*objects):
    return lambda ctx: c.delete_app(ctx, *objects)


def _lab(key, title, anchor, article, start, check, solve, clean) -> Lab:
    return Lab(key, title, f"{c.DOC}#{anchor}", article, start, check, solve, clean, namespace=c.NS, breaks=True)


LABS = [
    _lab("12d", "Break it: a wrong targetPort", "12d-a-wrong-targetport",
         '02-services-ingress-alb-networkpolicy.txt: "targetPort: 8080 # Port the pod listens on"',
         start_d, check_d, solve_d, _clean("deploy/api", "svc/api")),
    _lab("12e", "Break it: a selector that matches nothing", "12e-a-selector-that-matches-nothing",
         '03-networking-without-getting-lost.txt: "No endpoints usually means the Service selector doesn’t match '
         'any Pods"', start_e, check_e, solve_e, _clean("deploy/cart", "svc/cart")),
    _lab("12f", "Break it: a policy that blocks DNS", "12f-a-policy-that-blocks-dns",
         '03-networking-without-getting-lost.txt: "A restrictive policy may be preventing communication"',
         start_f, check_f, solve_f,
         _clean("deploy/ledger", "svc/ledger", "pod/reports", "pod/vault", "svc/vault",
                "networkpolicy/reports-egress", "networkpolicy/reports-allow-dns")),
]
