"""kubelet (one per node): creates and deletes pods — network namespace, CNI, container processes — and
reports their status; restarts crashed containers as the pod's restartPolicy says.

The kernel work is the container runtime's (runtime.py, a process of its own, as containerd does it for a
real kubelet): the kubelet asks for the pod's sandbox (network namespace, CNI ADD, /etc files) and gets
the pod's IP back, then asks the fork server for each container.
A container is a process forked by the fork server (zygote.py) and moved into the pod's namespaces
(network, plus its own UTS namespace for the hostname and, for commands, a mount namespace for
/etc/resolv.conf and /etc/hosts). Exits are noticed through a pidfd, which also works for processes
adopted after a control-plane restart.
"""
import asyncio
import contextlib
import copy
import functools
import os
import signal
import sys

from toycluster.node import pod_status, prober, termination
from toycluster.node import dns_config
from toycluster.node import nodestatus
from toycluster.node import runtime
from toycluster.node import workloads
from toycluster.api import events
from toycluster.api.store import now_rfc3339

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
FIELD_REFS = {"metadata.name": "name", "metadata.namespace": "namespace", "status.podIP": "ip",
              "spec.nodeName": "node", "status.hostIP": "host_ip"}


def backoff(restarts: int) -> float:
    """Delay before restart N: at once the first time, then 10 s doubling up to 5 min, as upstream."""
    return 0 if restarts <= 1 else min(10 * 2 ** (restarts - 2), 300)


class Container:
    def __init__(self, spec: dict):
        self.spec, self.name = spec, spec["name"]
        self.pid = self.pidfd = None
        self.restarts, self.started_at, self.last = 0, None, None    # last: (exit code, reason, time)
        self.waiting = "ContainerCreating"
        self.ready = False            # the readiness probe's verdict (True at once without a probe)


class PodRuntime:
    def __init__(self, pod: dict, netns: str):
        self.uid, self.netns = pod["metadata"]["uid"], netns
        self.namespace, self.name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        self.containers = {c["name"]: Container(c) for c in pod["spec"]["containers"]}
        self.hostname = dns_config.uts_hostname(pod)      # the kernel's: the FQDN with setHostnameAsFQDN
        self.ip, self.stopping, self.started = None, False, now_rfc3339()
        self.pod = pod                # as first seen: what stops it should it vanish from the API


class Kubelet:
    def __init__(self, cfg, store, n: int, runtime_, zygote):
        self.cfg, self.store, self.n, self.runtime, self.zygote = cfg, store, n, runtime_, zygote
        self.node, self.node_ns, self.host_ip = f"node{n}", cfg.node_ns(n), cfg.node_ip(n)
        self.ipam = {"ipam_dir": f"{cfg.state_dir}/ipam/{self.node}", "subnet": str(cfg.pod_subnet(n))}
        self.pods: dict[str, PodRuntime] = {}
        self.loop = asyncio.get_running_loop()
        self.status = nodestatus.NodeStatus(store, self.node, cfg.node_monitor_grace_period,
                                            nodestatus.CableCheck(cfg, n))     # heartbeats; is the API reachable
        self.loop.create_task(self.status.run(self._reconnected))

    def log_dir(self, rt: PodRuntime) -> str:
        return f"{self.cfg.state_dir}/logs/{rt.namespace}_{rt.name}"

    # -- reconcile: start what is new on this node, stop what is being deleted --
    def sync(self) -> None:
        if not self.status.connected:       # cut off from the API server: sees no new pod, no deletion
            return
        seen = set()
        for pod in self.store.list("Pod"):
            if pod["spec"].get("nodeName") != self.node:
                continue
            uid = pod["metadata"]["uid"]
            rt = self.pods.get(uid)
            seen.add(uid)
            if pod["metadata"].get("deletionTimestamp"):
                if rt is None:     # deleted before this kubelet ran it (or before a restart): what runs in its netns
                    rt = self.pods[uid] = PodRuntime(pod, self._netns(pod))
                    rt.ip = pod.get("status", {}).get("podIP")
                    found = runtime.list_containers(rt.netns, list(rt.containers))
                    for c in rt.containers.values():
                        c.pid = found.get(c.name)
                self._stop(pod, rt)
            elif rt is None:
                self.start(pod)
        for uid in self.pods.keys() - seen:   # gone from the API at once (--grace-period=0 --force): stop it now
            pod = self.pods[uid].pod
            self._stop({**pod, "metadata": {**pod["metadata"], "deletionTimestamp": now_rfc3339(),
                                            "deletionGracePeriodSeconds": 0}}, self.pods[uid])

    def _reconnected(self) -> None:
        """Back in touch with the API server: the pods' statuses as they are (the node controller marked them
        NotReady meanwhile), then what was decided about them while it was away."""
        for rt in list(self.pods.values()):
            self.report(rt)
        self.sync()

    def _stop(self, pod: dict, rt: PodRuntime) -> None:
        if not rt.stopping:
            rt.stopping = True
            self.loop.create_task(self.stop(pod, rt))

    def _netns(self, pod: dict) -> str:
        return self.cfg.pod_ns(pod["metadata"]["namespace"], pod["metadata"]["name"])

    def start(self, pod: dict, adopt: bool = False) -> None:
        rt = PodRuntime(pod, self._netns(pod))
        self.pods[rt.uid] = rt
        self.loop.create_task(self._start(pod, rt, adopt))

    async def _start(self, pod: dict, rt: PodRuntime, adopt: bool) -> None:
        old = {c["name"]: c for c in pod.get("status", {}).get("containerStatuses", [])}
        try:
            sandbox = await self.runtime.request("sandbox", **self._sandbox_request(pod, rt))
            rt.ip, fresh = sandbox["ip"], sandbox["fresh"]
            found = runtime.list_containers(rt.netns, list(rt.containers)) if adopt and not fresh else {}
            for c in rt.containers.values():
                if rt.stopping:
                    return
                status = old.get(c.name, {})
                c.restarts = status.get("restartCount", 0)
                pid = int(status.get("containerID", "x://0").split("://")[1])
                if adopt and not fresh and not (pid and runtime.runs_in(pid, rt.netns)):
                    pid = found.pop(c.name, 0)     # the store was saved before this container's pid was
                if adopt and not fresh and pid and runtime.runs_in(pid, rt.netns):
                    c.pid, c.started_at, c.waiting = pid, status.get("state", {}).get("running", {}).get(
                        "startedAt", now_rfc3339()), None
                    last = status.get("lastState", {}).get("terminated")
                    c.last = (last["exitCode"], last["reason"], last["finishedAt"]) if last else None
                    c.ready = status.get("ready", False) or "readinessProbe" not in c.spec
                    self._watch(rt, c)
                    self._start_probes(rt, c)
                else:
                    for stray in found.pop(None, []):     # a container we cannot tell apart: start afresh
                        with contextlib.suppress(ProcessLookupError):
                            os.killpg(stray, signal.SIGKILL)
                    await self.run(pod, rt, c)
        except Exception as e:
            for c in rt.containers.values():
                if c.waiting == "ContainerCreating":
                    c.waiting = f"CreateContainerError: {e}"
                    self.event(rt, c, "Failed", f"Error: {e}", events.WARNING)
        self.report(rt)

    def _sandbox_request(self, pod: dict, rt: PodRuntime) -> dict:
        """What the runtime needs for RunPodSandbox and RemovePodSandbox: names, the node's IPAM, and the
        /etc files' contents the kubelet decides (hostname, FQDN, resolv.conf: dns_config.py)."""
        return {"netns": rt.netns, "node_netns": self.node_ns, "owner": f"{rt.namespace}/{rt.name}",
                "gateway": self.cfg.gateway(self.n), **self.ipam, "log_dir": self.log_dir(rt),
                **dns_config.sandbox_files(pod, self.cfg.dns_ip())}

    # -- containers: fork, move into the pod, become the workload --
    def _info_env(self, rt: PodRuntime, c: Container) -> tuple[dict, dict]:
        """What the fork server needs to know of the pod, and the container's environment."""
        info = {"name": rt.name, "namespace": rt.namespace, "ip": rt.ip, "node": self.node,
                "host_ip": self.host_ip, "hostname": rt.hostname}
        env = {"PATH": PATH, "HOSTNAME": info["hostname"]}
        for e in c.spec.get("env", []):
            ref = e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
            env[e["name"]] = info.get(FIELD_REFS.get(ref), "") if ref else str(e.get("value", ""))
        return info, env

    async def run(self, pod: dict, rt: PodRuntime, c: Container) -> None:
        kind, what = workloads.resolve(c.spec)
        info, env = self._info_env(rt, c)
        log = f"{self.log_dir(rt)}/{c.name}.log"
        if os.path.exists(log) and c.restarts:
            os.replace(log, log + ".previous")        # what `logs --previous` shows
        self.event(rt, c, "Pulled", f'Container image "{c.spec["image"]}" already present on machine and can be '
                   "accessed by the pod")             # built-in images: never a pull (texts: upstream 1.35+)
        pid = (await self.zygote.request("fork", netns=rt.netns, kind=kind, what=what, spec=c.spec, info=info,
                                         env=env, log=log))["pid"]
        c.pid, c.started_at, c.waiting = pid, now_rfc3339(), None
        self.event(rt, c, "Created", "Container created")
        self.event(rt, c, "Started", "Container started")
        if rt.stopping:        # the pod was deleted while its container was being forked
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        c.ready = "readinessProbe" not in c.spec
        self._watch(rt, c)
        self._start_probes(rt, c)

    def exec_in(self, rt: PodRuntime, c: Container, kind: str):
        """CRI's ExecSync for container C: run(command, timeout) -> (exit code or None, its output)."""
        return prober.exec_runner(self.zygote, rt.netns, *self._info_env(rt, c), f"{self.log_dir(rt)}/.{c.name}.{kind}")

    def _start_probes(self, rt: PodRuntime, c: Container) -> None:
        """Readiness runs as long as the container does, through termination too (the pod's Ready condition,
        the endpoints' `serving`, says whether it still serves); liveness stops when the pod is deleted."""
        pid = c.pid
        running = lambda: c.pid == pid and self.pods.get(rt.uid) is rt       # noqa: E731 - this instance
        alive = lambda: running() and not rt.stopping                         # noqa: E731

        def readiness(ok: bool) -> None:
            if running():
                c.ready = ok
                self.report(rt)

        def liveness(ok: bool) -> None:
            if not ok and alive():
                print(f"{rt.namespace}/{rt.name}: container {c.name} failed its liveness probe, "
                      "will be restarted", flush=True)
                pod = self.store.get("Pod", rt.namespace, rt.name)
                grace = termination.grace_period(pod, c.spec["livenessProbe"]) if pod else termination.DEFAULT_GRACE
                self.loop.create_task(termination.kill(self, rt, c, f"Container {c.name} failed liveness probe, "
                                                       "will be restarted", grace))

        for kind, on_result, still in (("readiness", readiness, running), ("liveness", liveness, alive)):
            if probe := c.spec.get(f"{kind}Probe"):
                once = functools.partial(prober.probe_once, probe, c.spec, rt.ip, self.node_ns,
                                         self.exec_in(rt, c, kind))
                failed = functools.partial(self.event, rt, c, "Unhealthy", type_=events.WARNING,
                                           prefix=f"{kind.capitalize()} probe failed: ")
                self.loop.create_task(prober.probe_loop(kind, probe, still, once, on_result, failed))

    def _watch(self, rt: PodRuntime, c: Container) -> None:
        try:
            c.pidfd = os.pidfd_open(c.pid)
        except ProcessLookupError:
            self.loop.call_soon(self._exited, rt, c)
            return
        self.loop.add_reader(c.pidfd, self._exited, rt, c)

    def _exited(self, rt: PodRuntime, c: Container) -> None:
        if c.pidfd is not None:
            self.loop.remove_reader(c.pidfd)
            os.close(c.pidfd)
            c.pidfd = None
        code = self.zygote.exit_code(c.pid)      # None for a process adopted from an earlier control plane
        code = 137 if code is None else (128 - code if code < 0 else code)
        c.pid, c.last = None, (code, "Completed" if code == 0 else "Error", now_rfc3339())
        if rt.stopping:
            self.report(rt)
            return
        policy = self.store.get("Pod", rt.namespace, rt.name)
        policy = policy["spec"].get("restartPolicy", "Always") if policy else "Never"
        if policy == "Always" or (policy == "OnFailure" and code != 0):
            c.restarts += 1
            delay = backoff(c.restarts)
            c.waiting = "CrashLoopBackOff" if delay else "ContainerCreating"
            if delay:
                self.event(rt, c, "BackOff", f"Back-off restarting failed container {c.name} in pod "
                           f"{rt.name}_{rt.namespace}({rt.uid})", events.WARNING)
            self.loop.call_later(delay, lambda: self.loop.create_task(self._restart(rt, c)))
        self.report(rt)

    async def _restart(self, rt: PodRuntime, c: Container) -> None:
        pod = self.store.get("Pod", rt.namespace, rt.name)
        if rt.stopping or pod is None or self.pods.get(rt.uid) is not rt:
            return
        try:
            await self.run(pod, rt, c)
        except Exception as e:
            c.waiting = f"RunContainerError: {e}"
            self.event(rt, c, "Failed", f"Error: {e}", events.WARNING)
        self.report(rt)

    # -- deletion: every container stopped at once (termination.py), then CNI DEL and the namespace --
    async def stop(self, pod: dict, rt: PodRuntime) -> None:
        grace = termination.grace_period(pod)
        await asyncio.gather(*(termination.kill(self, rt, c, "", grace) for c in rt.containers.values() if c.pid))
        await termination.kill_strays(rt.netns)
        for c in rt.containers.values():
            if c.pidfd is not None:
                self._exited(rt, c)
        try:
            await self.runtime.request("remove", **self._sandbox_request(pod, rt))
        except Exception as e:        # noqa: BLE001 - the pod goes all the same
            print(f"{rt.namespace}/{rt.name}: removing its sandbox: {e}", file=sys.stderr, flush=True)
        self.pods.pop(rt.uid, None)
        current = self.store.get("Pod", rt.namespace, rt.name)
        if current and current["metadata"]["uid"] == rt.uid and self.status.connected:   # else: when it is back
            self.store.delete("Pod", rt.namespace, rt.name)

    def event(self, rt: PodRuntime, c: Container, reason: str, message: str, type_: str = events.NORMAL,
              prefix: str = "") -> None:
        """An event about container C of RT's pod, as the kubelet records it (api/events.py counts repeats)."""
        pod = self.store.get("Pod", rt.namespace, rt.name) if self.status.connected else None
        if pod is not None and pod["metadata"]["uid"] == rt.uid:
            events.record(self.store, pod, reason, prefix + message, type_, component="kubelet", host=self.node,
                          field_path=f"spec.containers{{{c.name}}}")

    # -- status, shaped as the API has it --
    def report(self, rt: PodRuntime) -> None:
        pod = self.store.get("Pod", rt.namespace, rt.name) if self.status.connected else None
        if pod is None or pod["metadata"]["uid"] != rt.uid:
            return
        status = pod_status.status(rt, self.host_ip)
        if pod.get("status", {}) != status:
            pod = copy.deepcopy(pod)
            pod["status"] = status
            self.store.put(pod)
