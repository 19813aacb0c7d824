"""kubelet's container termination (kuberuntime's killContainer): the grace period, the preStop hook, SIGTERM,
then SIGKILL.

As upstream: a pod being deleted has `metadata.deletionGracePeriodSeconds` (the API server sets it from the
DeleteOptions, else from `spec.terminationGracePeriodSeconds`, default 30). Every container is stopped at
the same time: the Killing event, then its preStop hook (exec inside the container, httpGet from the node,
or sleep) for at most the grace period, then SIGTERM and what is left of the grace period (whole seconds
the hook took are taken off, and a container always gets at least MIN_GRACE seconds: upstream's
minimumGracePeriodInSeconds), then SIGKILL. A container killed for failing its liveness probe goes the same
way, with the probe's or the pod's terminationGracePeriodSeconds. While it terminates a pod keeps running
its readiness probe, so its Ready condition (the EndpointSlice's `serving`) says whether it still serves.
"""
import asyncio
import contextlib
import os
import signal
import time

from toycluster.kernel import nsfs, procs
from toycluster.node import prober

MIN_GRACE = 2           # seconds: minimumGracePeriodInSeconds
DEFAULT_GRACE = 30      # seconds: the API's default for spec.terminationGracePeriodSeconds
POLL = 0.02             # seconds between looks at whether a process has gone


def grace_period(pod: dict, probe: dict | None = None) -> int:
    """The seconds POD's containers get to stop: the deletion's grace period while it is being deleted, else
    (a liveness kill) PROBE's terminationGracePeriodSeconds, else the pod's, else 30."""
    meta, spec = pod["metadata"], pod["spec"]
    if meta.get("deletionTimestamp") and meta.get("deletionGracePeriodSeconds") is not None:
        return int(meta["deletionGracePeriodSeconds"])
    if probe and probe.get("terminationGracePeriodSeconds") is not None:
        return int(probe["terminationGracePeriodSeconds"])
    value = spec.get("terminationGracePeriodSeconds")
    return DEFAULT_GRACE if value is None else int(value)


def after_hook(grace: int, hook_seconds: float) -> int:
    """The seconds between SIGTERM and SIGKILL once a preStop hook has taken HOOK_SECONDS (upstream subtracts
    the whole seconds it took, then gives at least MIN_GRACE)."""
    return max(grace - int(hook_seconds), MIN_GRACE)


def hook_port(container: dict, port, host: str) -> int:
    resolved = prober.probe_port(container, port)
    if resolved is None:
        raise ValueError(f"invalid port {port!r} for {host}")
    return resolved


async def run_hook(handler: dict, container: dict, pod_ip: str, node_ns: str, run_exec, grace: int) -> bool:
    """Run a preStop HANDLER, waiting for it at most GRACE seconds: False if it failed (the kubelet's
    FailedPreStopHook). RUN_EXEC(command, timeout) runs a command in the container and answers
    (exit code or None if it timed out, output). A hook still running when the grace period ends is not a
    failure: the kubelet stops waiting for it (and it goes with the container)."""
    try:
        if "exec" in handler:
            code, _ = await run_exec(handler["exec"].get("command") or [], grace)
            return code is None or code == 0
        if "httpGet" in handler:             # any answer will do: the handler's status code is not checked
            h = handler["httpGet"]
            host = h.get("host") or pod_ip
            await asyncio.wait_for(prober.http_get(node_ns, host, hook_port(container, h.get("port"), host),
                                                   h.get("path") or "/", h.get("httpHeaders") or [], grace), grace)
            return True
        if "sleep" in handler:
            await asyncio.sleep(min(max(int(handler["sleep"].get("seconds", 0)), 0), grace))
            return True
    except (asyncio.TimeoutError, TimeoutError):
        return True
    except (OSError, ValueError, RuntimeError):
        return False
    return False                             # tcpSocket and anything else: not a lifecycle handler upstream runs


def signal_group(pid: int, sig: int) -> None:
    """SIG to PID's process group if it leads one (a container), else to PID alone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig) if os.getpgid(pid) == pid else os.kill(pid, sig)


async def wait_for(done, seconds: float) -> bool:
    """Poll done() for up to SECONDS: whether it came true."""
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(POLL)
    return True


async def terminate(pid: int, grace: float, exited) -> bool:
    """SIGTERM container PID (its process group), wait up to GRACE seconds for exited(), then SIGKILL and wait
    for it: whether SIGKILL was needed."""
    if exited():
        return False
    signal_group(pid, signal.SIGTERM)
    if await wait_for(exited, grace):
        return False
    signal_group(pid, signal.SIGKILL)
    await wait_for(exited, 5.0)
    return True


async def kill_strays(netns: str) -> None:
    """SIGKILL what is left in pod NETNS once its containers have gone (exec sessions, a hook that ran
    over): they go with the pod, as they would with its cgroup."""
    strays = nsfs.pids_in_netns([netns])
    for pid in strays:
        signal_group(pid, signal.SIGKILL)
    await wait_for(lambda: not any(procs.alive(p) for p in strays), 1.0)


async def kill(kubelet, rt, c, message: str, grace: int) -> None:
    """killContainer for container C (a kubelet.Container) of RT's pod: the Killing event (MESSAGE, or
    "Stopping container NAME"), the preStop hook within GRACE seconds, SIGTERM, the rest of GRACE (at least
    MIN_GRACE), SIGKILL."""
    pid = c.pid
    if not pid:
        return
    kubelet.event(rt, c, "Killing", message or f"Stopping container {c.name}")
    hook, took = (c.spec.get("lifecycle") or {}).get("preStop"), 0.0
    if hook and grace > 0:
        started = time.monotonic()
        if not await run_hook(hook, c.spec, rt.ip, kubelet.node_ns, kubelet.exec_in(rt, c, "prestop"), grace):
            kubelet.event(rt, c, "FailedPreStopHook", "PreStopHook failed", "Warning")
        took = time.monotonic() - started
    await terminate(pid, after_hook(grace, took), lambda: c.pid != pid or not procs.alive(pid))
