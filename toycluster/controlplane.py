"""The control plane process of one cluster: API server, store, controllers, scheduler and the kubelets.

Started by `toycluster up` as `python -m toycluster.controlplane NAME`. It serves the API on
/var/lib/toycluster/NAME/api.sock, and on a restart adopts the pods and processes that exist.
"""
import asyncio
import concurrent.futures
import os
import platform
import signal
import sys
import time

from . import allocators, apiclient, apiserver, conntrack, controllers, endpoints, kernel, kube_proxy, kubelet, nodes, objects, workloads
from . import network_policy
from .store import Store, now_rfc3339

RESYNC_SECONDS = 2.0
PROXY_RESYNC_SECONDS = 10.0   # kube-proxy's full resync (re-reads the kernel; upstream --iptables-sync-period 30s)


def node_object(cfg, n: int) -> dict:
    name = f"node{n}"
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                                  "kubernetes.io/arch": "amd64",
                                                  **({"node-role.kubernetes.io/control-plane": ""} if n == 1 else {})}},
            "spec": {"podCIDR": str(cfg.pod_subnet(n)), "podCIDRs": [str(cfg.pod_subnet(n))]},
            "status": {"addresses": [{"type": "InternalIP", "address": cfg.node_ip(n)},
                                     {"type": "Hostname", "address": name}],
                       "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                       "message": "kubelet is posting ready status",
                                       "lastHeartbeatTime": now_rfc3339()}],
                       "nodeInfo": {"kubeletVersion": "v1.31.0-toycluster", "osImage": "toycluster netns",
                                    "kernelVersion": platform.release(), "operatingSystem": "linux",
                                    "architecture": "amd64", "containerRuntimeVersion": "toycluster://0.1"}}}


class ProxySync:
    """kube-proxy's sync loop for every node: when Services or EndpointSlices change, render each node's
    rules and apply them inside that node's namespace (on the kernel thread); every PROXY_RESYNC_SECONDS
    re-read the kernel too, so a flushed table comes back."""

    def __init__(self, cfg, store, executor):
        self.cfg, self.store, self.executor = cfg, store, executor
        self.previous = {n: None for n in range(1, cfg.nodes + 1)}
        self.udp = {n: {} for n in range(1, cfg.nodes + 1)}     # UDP endpoints last applied, per node
        self.seen, self.last_full, self.busy, self.again = None, 0.0, False, False

    def kick(self) -> None:
        if self.busy:
            self.again = True
        else:
            asyncio.get_running_loop().create_task(self.sync())

    async def sync(self) -> None:
        self.busy = True
        try:
            while True:
                self.again = False
                services, slices = self.store.list("Service"), self.store.list("EndpointSlice")
                udp = conntrack.udp_endpoints(services, slices)
                seen = [(o["metadata"]["namespace"], o["metadata"]["name"], o["metadata"]["resourceVersion"])
                        for o in services + slices]
                full = time.monotonic() - self.last_full > PROXY_RESYNC_SECONDS
                if seen != self.seen or full:
                    self.seen = seen
                    if full:
                        self.last_full = time.monotonic()
                    for n in self.previous:
                        state = kube_proxy.render(services, slices, node_name=f"node{n}",
                                                  node_ip=self.cfg.node_ip(n), cluster_cidr=self.cfg.pod_cidr)
                        prev = None if full else self.previous[n]
                        flows = conntrack.stale_flows(self.udp[n], udp)
                        try:
                            self.previous[n] = await asyncio.get_running_loop().run_in_executor(
                                self.executor, self._apply, self.cfg.node_ns(n), state, prev, flows)
                            self.udp[n] = udp
                        except Exception as e:
                            self.previous[n] = None
                            print(f"kube-proxy on node{n}: {e}", file=sys.stderr, flush=True)
                if not self.again:
                    return
        finally:
            self.busy = False

    @staticmethod
    def _apply(node_ns: str, state: dict, previous, stale_flows):
        with kernel.in_netns(node_ns):
            applied = kube_proxy.apply(state, previous)
            conntrack.delete(stale_flows)
            return applied


class PolicySync:
    """The network policy agent on every node (as kube-router's): when NetworkPolicies, Namespaces or Pods
    change in what the rules depend on (labels, IPs, nodes, named ports), render every node's filter rules
    once and apply those that changed inside the node's namespace (on the kernel thread, as kube-proxy);
    every PROXY_RESYNC_SECONDS re-read the kernel too, so flushed rules come back and the FORWARD jump is
    put back on top if something was inserted above it."""

    def __init__(self, cfg, store, executor):
        self.cfg, self.store, self.executor = cfg, store, executor
        self.previous = {n: None for n in range(1, cfg.nodes + 1)}
        self.seen, self.last_full, self.busy, self.again = None, 0.0, False, False
        self.timings: dict = {}       # last sync: render and apply milliseconds, for logs and the benchmark

    def kick(self) -> None:
        if self.busy:
            self.again = True
        else:
            asyncio.get_running_loop().create_task(self.sync())

    async def sync(self) -> None:
        self.busy = True
        try:
            while True:
                self.again = False
                policies, pods = self.store.list("NetworkPolicy"), self.store.list("Pod")
                namespaces = self.store.list("Namespace")
                seen = network_policy.fingerprint(policies, pods, namespaces)
                full = time.monotonic() - self.last_full > PROXY_RESYNC_SECONDS
                if seen != self.seen or full:
                    self.seen = seen
                    if full:
                        self.last_full = time.monotonic()
                    t0 = time.perf_counter()
                    states = network_policy.render_all(policies, pods, namespaces,
                                                       [f"node{n}" for n in self.previous])
                    self.timings = {"render_ms": (time.perf_counter() - t0) * 1e3, "apply_ms": {}}
                    jobs = [(n, self.cfg.node_ns(n), states[f"node{n}"], None if full else self.previous[n])
                            for n in self.previous]
                    jobs = [job for job in jobs if job[3] != job[2]]
                    if jobs:   # all nodes in one job: a busy event loop cannot hold up the second node
                        done = await asyncio.get_running_loop().run_in_executor(self.executor, self._apply_all, jobs)
                        for n, (result, ms) in done.items():
                            self.timings["apply_ms"][f"node{n}"] = ms
                            if isinstance(result, Exception):
                                self.previous[n], self.seen = None, None     # retried at the next reconcile
                                print(f"network policy agent on node{n}: {result}", file=sys.stderr, flush=True)
                            else:
                                self.previous[n] = result
                if not self.again:
                    return
        finally:
            self.busy = False

    @staticmethod
    def _apply_all(jobs) -> dict:
        done = {}
        for n, node_ns, state, previous in jobs:
            t = time.perf_counter()
            try:
                with kernel.in_netns(node_ns):
                    done[n] = (network_policy.apply(state, previous), (time.perf_counter() - t) * 1e3)
            except Exception as e:  # noqa: BLE001 - one node's failure must not stop the others
                done[n] = (e, (time.perf_counter() - t) * 1e3)
        return done


class ControlPlane:
    def __init__(self, cfg):
        self.cfg = cfg
        self.store = Store(f"{cfg.state_dir}/state.json")
        self.api = apiserver.API(self.store, admit=[allocators.ServiceRegistry(cfg.service_cidr).admit])
        self.controllers = controllers.Controllers(self.store, [f"node{n}" for n in range(1, cfg.nodes + 1)])
        self.endpoints = endpoints.EndpointsController(self.store)
        self.kubelets = []
        self._pending = False

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for n in range(1, self.cfg.nodes + 1):
            if self.store.get("Node", "", f"node{n}") is None:
                self.store.put(node_object(self.cfg, n))
        kernel_thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="kernel")
        self.proxy = ProxySync(self.cfg, self.store, kernel_thread)
        self.policy = PolicySync(self.cfg, self.store, kernel_thread)
        self.kubelets = [kubelet.Kubelet(self.cfg, self.store, n, kernel_thread) for n in range(1, self.cfg.nodes + 1)]
        for k in self.kubelets:                # a restarted control plane adopts what is running
            for pod in self.store.list("Pod"):
                if pod["spec"].get("nodeName") == k.node and not pod["metadata"].get("deletionTimestamp"):
                    k.start(pod, adopt=True)
        self.store.on_change = self.wake
        sock = apiclient.socket_path(self.cfg.name)
        if os.path.exists(sock):
            os.unlink(sock)
        server = await apiserver.serve(self.api, sock)
        stop = loop.create_future()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set_result, None)
        self.reconcile()
        print(f"control plane of cluster {self.cfg.name} serving on {sock}", flush=True)
        while not stop.done():
            await asyncio.wait([stop], timeout=RESYNC_SECONDS)
            self.reconcile()
        server.close()
        self.store.save()

    def wake(self) -> None:
        if not self._pending:
            self._pending = True
            self.policy.kick()     # before the reconcile pass, so a policy change does not wait for it
            asyncio.get_running_loop().call_soon(self.reconcile)

    def reconcile(self) -> None:
        self._pending = False
        try:
            self.controllers.reconcile()
            self.endpoints.reconcile()
            for k in self.kubelets:
                k.sync()
            self.proxy.kick()
            self.policy.kick()
        except Exception as e:   # a controller bug must not take the data plane down: log and go on
            print(f"reconcile failed: {type(e).__name__}: {e}", file=sys.stderr, flush=True)


def main() -> None:
    cfg = nodes.ClusterConfig.load(sys.argv[1])
    objects.IMAGE_CHECK = workloads.check_image
    asyncio.run(ControlPlane(cfg).run())


if __name__ == "__main__":
    main()
