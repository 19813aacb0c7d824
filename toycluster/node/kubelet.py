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
import os
import signal
import sys
import time

from toycluster.kernel import nsfs, procs
from toycluster.node import pod_status, prober
from toycluster.node import runtime
from toycluster.node import workloads
from toycluster.api.store import now_rfc3339

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
GRACE_CAP = 2.0        # seconds a container gets between SIGTERM and SIGKILL here (upstream: 30)
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
        self.hostname = pod["spec"].get("hostname", self.name)[:63]
        self.ip, self.stopping, self.started = None, False, now_rfc3339()


class Kubelet:
    def __init__(self, cfg, store, n: int, runtime_, zygote):
        self.cfg, self.store, self.n, self.runtime, self.zygote = cfg, store, n, runtime_, zygote
        self.node, self.node_ns, self.host_ip = f"node{n}", cfg.node_ns(n), cfg.node_ip(n)
        self.ipam = {"ipam_dir": f"{cfg.state_dir}/ipam/{self.node}", "subnet": str(cfg.pod_subnet(n))}
        self.pods: dict[str, PodRuntime] = {}
        self.loop = asyncio.get_running_loop()

    def log_dir(self, rt: PodRuntime) -> str:
        return f"{self.cfg.state_dir}/logs/{rt.namespace}_{rt.name}"

    # -- reconcile: start what is new on this node, stop what is being deleted --
    def sync(self) -> None:
        for pod in self.store.list("Pod"):
            if pod["spec"].get("nodeName") != self.node:
                continue
            uid = pod["metadata"]["uid"]
            rt = self.pods.get(uid)
            if pod["metadata"].get("deletionTimestamp"):
                if rt is None:
                    self.loop.create_task(self.stop(pod, PodRuntime(pod, self._netns(pod))))
                elif not rt.stopping:
                    self.loop.create_task(self.stop(pod, rt))
            elif rt is None:
                self.start(pod)

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
            found = self._processes_of(rt) if adopt and not fresh else {}
            for c in rt.containers.values():
                if rt.stopping:
                    return
                status = old.get(c.name, {})
                c.restarts = status.get("restartCount", 0)
                pid = int(status.get("containerID", "x://0").split("://")[1])
                if adopt and not fresh and not (pid and self._alive_in(pid, rt.netns)):
                    pid = found.pop(c.name, 0)     # the store was saved before this container's pid was
                if adopt and not fresh and pid and self._alive_in(pid, rt.netns):
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
                c.waiting = f"CreateContainerError: {e}"
        self.report(rt)

    def _processes_of(self, rt: PodRuntime) -> dict:
        """Container processes found in the pod's namespace: {container name: pid}, and None: [others].
        Containers are session leaders titled "... container NAME"; a one-container pod's leader is its own."""
        found, others = {}, []
        for pid in nsfs.pids_in_netns([rt.netns]):
            with contextlib.suppress(OSError):
                if os.getsid(pid) != pid:
                    continue
                title = procs.cmdline(pid)
                if title is None:
                    continue
                name = next((n for n in rt.containers if f" container {n}" in title), None)
                if name is None and len(rt.containers) == 1 and not found:
                    name = next(iter(rt.containers))
                if name and name not in found:
                    found[name] = pid
                else:
                    others.append(pid)
        found[None] = others
        return found

    def _sandbox_request(self, pod: dict, rt: PodRuntime) -> dict:
        """What the runtime needs for RunPodSandbox and RemovePodSandbox: names, the node's IPAM, and the
        /etc files' contents the kubelet decides (hostname, FQDN, DNS config)."""
        spec = pod["spec"]
        fqdn = f"{rt.hostname}.{spec['subdomain']}.{rt.namespace}.svc.cluster.local" if spec.get("subdomain") else None
        dns = spec.get("dnsPolicy", "ClusterFirst") != "Default"       # Default: the node's own resolv.conf
        return {"netns": rt.netns, "node_netns": self.node_ns, "owner": f"{rt.namespace}/{rt.name}",
                "gateway": self.cfg.gateway(self.n), **self.ipam, "log_dir": self.log_dir(rt),
                "hostname": rt.hostname, "fqdn": fqdn,
                "resolv_conf": runtime.resolv_conf(rt.namespace, self.cfg.dns_ip()) if dns else None}

    def _alive_in(self, pid: int, netns: str) -> bool:
        try:
            return procs.net_inode(pid) == nsfs.netns_inode(netns)
        except OSError:
            return False

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
        pid = (await self.zygote.request("fork", netns=rt.netns, kind=kind, what=what, spec=c.spec, info=info,
                                         env=env, log=log))["pid"]
        c.pid, c.started_at, c.waiting = pid, now_rfc3339(), None
        if rt.stopping:        # the pod was deleted while its container was being forked
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        c.ready = "readinessProbe" not in c.spec
        self._watch(rt, c)
        self._start_probes(rt, c)

    def _start_probes(self, rt: PodRuntime, c: Container) -> None:
        pid = c.pid
        alive = lambda: c.pid == pid and not rt.stopping          # noqa: E731 - one container instance

        def run_exec(command, timeout):             # CRI's ExecSync
            return prober.exec_sync(self.zygote, rt.netns, *self._info_env(rt, c), command, timeout)

        def once(probe):
            return lambda: prober.run_once(probe, c.spec, rt.ip, self.node_ns, run_exec)

        def readiness(ok: bool) -> None:
            if alive():
                c.ready = ok
                self.report(rt)

        def liveness(ok: bool) -> None:
            if not ok and alive():
                print(f"{rt.namespace}/{rt.name}: container {c.name} failed its liveness probe, "
                      "will be restarted", flush=True)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)

        for kind, field, on_result in (("readiness", "readinessProbe", readiness),
                                       ("liveness", "livenessProbe", liveness)):
            if field in c.spec:
                self.loop.create_task(prober.probe_loop(kind, c.spec[field], alive, once(c.spec[field]), on_result))

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
            return
        policy = self.store.get("Pod", rt.namespace, rt.name)
        policy = policy["spec"].get("restartPolicy", "Always") if policy else "Never"
        if policy == "Always" or (policy == "OnFailure" and code != 0):
            c.restarts += 1
            delay = backoff(c.restarts)
            c.waiting = "CrashLoopBackOff" if delay else "ContainerCreating"
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
        self.report(rt)

    # -- deletion: SIGTERM, a grace period, SIGKILL, then CNI DEL and the namespace --
    async def stop(self, pod: dict, rt: PodRuntime) -> None:
        rt.stopping = True
        pids = [c.pid for c in rt.containers.values() if c.pid]
        pids += [p for p in nsfs.pids_in_netns([rt.netns]) if p not in pids]
        grace = min(pod["spec"].get("terminationGracePeriodSeconds", 30), GRACE_CAP)
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 1.0)):
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, sig) if os.getpgid(pid) == pid else os.kill(pid, sig)
            deadline = time.time() + wait
            while time.time() < deadline and any(procs.alive(p) for p in pids):
                await asyncio.sleep(0.01)
        for c in rt.containers.values():
            if c.pidfd is not None:
                self._exited(rt, c)
        try:
            await self.runtime.request("remove", **self._sandbox_request(pod, rt))
        except RuntimeError as e:
            print(f"{rt.namespace}/{rt.name}: removing its sandbox: {e}", file=sys.stderr, flush=True)
        self.pods.pop(rt.uid, None)
        current = self.store.get("Pod", rt.namespace, rt.name)
        if current and current["metadata"]["uid"] == rt.uid:
            self.store.delete("Pod", rt.namespace, rt.name)

    # -- status, shaped as the API has it --
    def report(self, rt: PodRuntime) -> None:
        pod = self.store.get("Pod", rt.namespace, rt.name)
        if pod is None or pod["metadata"]["uid"] != rt.uid:
            return
        status = pod_status.status(rt, self.host_ip)
        old = {k: v for k, v in pod.get("status", {}).items()}
        if old != status:
            pod = copy.deepcopy(pod)
            pod["status"] = status
            self.store.put(pod)
