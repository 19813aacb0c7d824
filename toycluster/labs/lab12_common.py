"""Lab 12's shared parts: namespace lab12, the pod `client` on node1, each exercise's app, and the probes
the checks send (curl and dig from a pod, the load balancer's health view), as a learner would run them.

Every exercise applies examples/labs/lab12-base.yaml (the namespace and `client`) and a file of its own
(lab12X-NAME.yaml: a Deployment and Service named NAME, and whatever it breaks), so the exercises can be
started in any order and side by side; an exercise's clean deletes its own objects, and the namespace once
no exercise's app is left in it.
"""
from __future__ import annotations

import os
import time

from toycluster.labs.kit import Ctx

NS = "lab12"
DOC = "docs/labs/12-break-it.md"
EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                        "examples", "labs")
BASE = os.path.join(EXAMPLES, "lab12-base.yaml")
APPS = ("web", "shop", "menu", "api", "cart", "ledger")     # 12a..12f's Deployments and Services
WAIT = "--timeout=60s"


def example(name: str) -> str:
    return os.path.join(EXAMPLES, name)


def apply_app(ctx: Ctx, path: str, app: str, wait: bool = True) -> None:
    """Apply the base and PATH (the exercise's app APP), then (WAIT) wait until its pods and `client` are ready."""
    ctx.kubectl("apply", "-f", BASE)
    ctx.kubectl("apply", "-f", path)
    if not wait:
        return
    ctx.kubectl("rollout", "status", "-n", NS, f"deploy/{app}", WAIT, timeout=70)
    ctx.kubectl("wait", "-n", NS, "--for=condition=Ready", "pod/client", WAIT, timeout=70)


def delete_app(ctx: Ctx, *objects: str) -> None:
    """Delete OBJECTS (kind/name in lab12); then the namespace too if no exercise's app is left in it."""
    ctx.kubectl("delete", "-n", NS, "--ignore-not-found", "--wait=true", *objects, timeout=70)
    left = {d["metadata"]["name"] for d in ctx.list("Deployment", NS)} & set(APPS)
    if left or ctx.get("Namespace", NS, namespace=None) is None:
        return
    ctx.kubectl("delete", "namespace", NS, "--ignore-not-found", "--wait=true", WAIT, timeout=70)
    deadline = time.monotonic() + 60
    while ctx.get("Namespace", NS, namespace=None) is not None and time.monotonic() < deadline:
        time.sleep(0.2)


def curl(ctx: Ctx, url: str, pod: str = "client", seconds: float = 2) -> tuple[bool, str]:
    """`curl URL` from POD in lab12: (answered, the first line of the answer or curl's error)."""
    p = ctx.exec(pod, "curl", "-sS", "-m", str(seconds), url, namespace=NS, timeout=seconds + 10)
    text = (p.stdout if p.returncode == 0 else p.stderr).strip()
    return p.returncode == 0, (text.splitlines() or [f"curl exited {p.returncode}"])[0]


def answered_by(ctx: Ctx, url: str, app: str, pod: str = "client") -> tuple[bool, str]:
    """Did a pod of APP answer `curl URL` from POD? (yes or no, and what came back)."""
    ok, first = curl(ctx, url, pod)
    return ok and first.startswith(f"Hostname: {app}-"), first


def dig(ctx: Ctx, name: str, pod: str = "client") -> list[str]:
    """`dig +short NAME` from POD in lab12 (one try, 1 s): the addresses it printed (none on failure)."""
    p = ctx.exec(pod, "dig", "+short", "+time=1", "+tries=1", name, namespace=NS, timeout=10)
    return [w for w in p.stdout.split() if w[:1].isdigit()] if p.returncode == 0 else []


def ready(obj: dict | None, kind: str = "Ready") -> bool:
    """Is condition KIND of OBJ (a pod or a node, as `kubectl get -o json` shows it) True?"""
    conditions = ((obj or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions)


def service(ctx: Ctx, name: str) -> dict:
    return ctx.get("Service", name, NS) or {}


def template_labels(ctx: Ctx, app: str) -> dict:
    d = ctx.get("Deployment", app, NS) or {}
    return (((d.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
