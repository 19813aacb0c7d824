"""Tests (no root) of the kubelet's container termination: upstream's grace period arithmetic, the preStop
hook kinds, SIGTERM then SIGKILL on real processes, the order of a kill, and the probe messages its
Unhealthy events carry."""
import asyncio
import signal
import subprocess
import time

import pytest

from toycluster.kernel import procs
from toycluster.node import prober, termination


def pod(grace=None, deletion=None, deleting=False):
    meta = {"name": "web", "namespace": "default", "uid": "u1"}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:30Z"
        if deletion is not None:
            meta["deletionGracePeriodSeconds"] = deletion
    spec = {"containers": [{"name": "web", "image": "nginx"}]}
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    return {"metadata": meta, "spec": spec}


# ---------------------------------------------------------------- the grace period
def test_grace_period_comes_from_the_deletion_then_the_probe_then_the_pod_then_30():
    assert termination.grace_period(pod()) == 30
    assert termination.grace_period(pod(grace=45)) == 45
    assert termination.grace_period(pod(grace=45, deletion=5, deleting=True)) == 5
    assert termination.grace_period(pod(grace=0)) == 0
    assert termination.grace_period(pod(grace=45, deleting=True)) == 45      # deleted by a controller
    assert termination.grace_period(pod(grace=45), {"terminationGracePeriodSeconds": 7}) == 7
    assert termination.grace_period(pod(grace=45, deletion=3, deleting=True),
                                    {"terminationGracePeriodSeconds": 7}) == 3


@pytest.mark.parametrize("grace, took, left", [
    (30, 0, 30), (30, 4.9, 26), (30, 5.0, 25),      # whole seconds the hook took are taken off
    (30, 29.5, 2), (30, 31, 2), (1, 0, 2), (0, 0, 2),  # and a container always gets minimumGracePeriodInSeconds
])
def test_time_left_after_the_prestop_hook(grace, took, left):
    assert termination.after_hook(grace, took) == left


# ---------------------------------------------------------------- preStop hooks
def hook(handler, grace=5, code=0, container=None):
    ran = []

    async def run_exec(command, timeout):
        ran.append((command, timeout))
        return code, "out"
    ok = asyncio.run(termination.run_hook(handler, container or {"name": "web"}, "10.244.1.2", "x.node1",
                                          run_exec, grace))
    return ok, ran


def test_exec_hook_runs_in_the_container_with_the_grace_period_as_its_limit():
    assert hook({"exec": {"command": ["sh", "-c", "echo bye"]}}, grace=9) == (True, [(["sh", "-c", "echo bye"], 9)])
    assert hook({"exec": {"command": ["false"]}}, code=1)[0] is False
    assert hook({"exec": {"command": ["sleep", "99"]}}, code=None)[0] is True   # ran over: not a failure


def test_sleep_hook_waits_at_most_the_grace_period():
    started = time.monotonic()
    assert hook({"sleep": {"seconds": 30}}, grace=0.2)[0] is True      # min(seconds, grace)
    assert time.monotonic() - started < 2


def test_http_hook_succeeds_on_any_answer_and_fails_when_nobody_answers(monkeypatch):
    asked = []

    async def answer(node_ns, host, port, path, headers, timeout):
        asked.append((node_ns, host, port, path))
        return 500

    monkeypatch.setattr(prober, "http_get", answer)
    handler = {"httpGet": {"port": "http", "path": "/quit"}}
    container = {"name": "web", "ports": [{"name": "http", "containerPort": 8080}]}
    assert hook(handler, container=container)[0] is True
    assert asked == [("x.node1", "10.244.1.2", 8080, "/quit")]

    async def refused(*_):
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(prober, "http_get", refused)
    assert hook(handler, container=container)[0] is False
    assert hook({"httpGet": {"port": "nope"}})[0] is False
    assert hook({"tcpSocket": {"port": 80}})[0] is False            # not a handler the kubelet runs


# ---------------------------------------------------------------- SIGTERM, the grace period, SIGKILL
def start(script: str) -> subprocess.Popen:
    p = subprocess.Popen(["sh", "-c", script], start_new_session=True)
    time.sleep(0.1)            # the shell has set its traps
    return p


def test_sigterm_ends_a_container_that_listens():
    p = start("exec sleep 30")
    try:
        started = time.monotonic()
        killed = asyncio.run(termination.terminate(p.pid, 5, lambda: not procs.alive(p.pid)))
        assert killed is False and time.monotonic() - started < 2
        assert p.wait(5) == -signal.SIGTERM
    finally:
        p.kill()


def test_sigkill_after_the_grace_period_for_a_container_that_ignores_sigterm():
    p = start("trap '' TERM; exec sleep 30")
    try:
        started = time.monotonic()
        killed = asyncio.run(termination.terminate(p.pid, 0.5, lambda: not procs.alive(p.pid)))
        assert killed is True and time.monotonic() - started >= 0.5
        assert p.wait(5) == -signal.SIGKILL
    finally:
        p.kill()


class FakeKubelet:
    node_ns = "x.node1"

    def __init__(self):
        self.log = []

    def event(self, rt, c, reason, message, type_="Normal"):
        self.log.append((reason, message, type_))

    def exec_in(self, rt, c, kind):
        async def run(command, timeout):
            self.log.append(("exec", kind, command, timeout))
            return 1, ""
        return run


class Obj:
    def __init__(self, **kw):
        self.__dict__.update(kw)


def test_kill_records_killing_runs_the_hook_then_sends_sigterm():
    p = start("exec sleep 30")
    try:
        k = FakeKubelet()
        c = Obj(name="web", pid=p.pid, spec={"name": "web", "lifecycle": {"preStop": {"exec": {"command": ["x"]}}}})
        asyncio.run(termination.kill(k, Obj(ip="10.244.1.2"), c, "", 20))
        assert k.log == [("Killing", "Stopping container web", "Normal"), ("exec", "prestop", ["x"], 20),
                         ("FailedPreStopHook", "PreStopHook failed", "Warning")]
        assert p.wait(5) == -signal.SIGTERM
    finally:
        p.kill()


def test_no_hook_when_the_grace_period_is_zero():
    p = start("exec sleep 30")
    try:
        k = FakeKubelet()
        c = Obj(name="web", pid=p.pid, spec={"name": "web", "lifecycle": {"preStop": {"exec": {"command": ["x"]}}}})
        asyncio.run(termination.kill(k, Obj(ip="10.244.1.2"), c, "Container web failed liveness probe, will be "
                                     "restarted", 0))
        assert k.log == [("Killing", "Container web failed liveness probe, will be restarted", "Normal")]
    finally:
        p.kill()


# ---------------------------------------------------------------- what Unhealthy events say
def test_probe_messages_as_the_kubelet_words_them(monkeypatch):
    async def exec_fails(command, timeout):
        return 1, "cat: /tmp/ready: No such file or directory"

    async def exec_hangs(command, timeout):
        return None, ""

    async def status(code):
        async def get(*_):
            return code
        return get

    def once(probe, run_exec=exec_fails):
        return asyncio.run(prober.probe_once(probe, {"name": "web"}, "10.244.1.2", "x.node1", run_exec))

    assert once({"exec": {"command": ["cat", "/tmp/ready"]}}) == (False, "cat: /tmp/ready: No such file or directory")
    assert once({"exec": {"command": ["sleep", "9"]}}, exec_hangs) == (False, 'command "sleep 9" timed out')
    monkeypatch.setattr(prober, "http_get", asyncio.run(status(503)))
    assert once({"httpGet": {"port": 8080, "path": "/healthz"}}) == (False, "HTTP probe failed with statuscode: 503")
    monkeypatch.setattr(prober, "http_get", asyncio.run(status(302)))
    assert once({"httpGet": {"port": 8080}}) == (True, "")

    async def refused(*_):
        raise ConnectionRefusedError(111, "Connection refused")
    monkeypatch.setattr(prober, "http_get", refused)
    assert once({"httpGet": {"port": 8080, "path": "/healthz"}}) == (
        False, 'Get "http://10.244.1.2:8080/healthz": dial tcp 10.244.1.2:8080: connect: connection refused')
    assert prober.dial_error("10.244.1.2", 5432, asyncio.TimeoutError()) == "dial tcp 10.244.1.2:5432: i/o timeout"


def test_every_failed_probe_is_reported_and_the_verdict_changes_at_the_threshold():
    results = iter([(False, "a"), (False, "b"), (True, ""), (False, "c"), (False, "after the container went")])
    verdicts, failures, left = [], [], [5]

    def alive():
        return left[0] > 0

    async def once():
        left[0] -= 1
        return next(results)

    probe = {"periodSeconds": 0, "failureThreshold": 2}
    asyncio.run(prober.probe_loop("readiness", probe, alive, once, verdicts.append, failures.append))
    assert failures == ["a", "b", "c"]          # upstream records Unhealthy on every failure (while it runs)
    assert verdicts == [False, True]            # not ready after 2 in a row, ready again after 1 success
