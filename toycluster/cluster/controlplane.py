"""The control plane process of one cluster: API server, store, controllers, scheduler and the kubelets.

Started by `toycluster up` as `python -m toycluster.cluster.controlplane NAME`. It serves the API on
/var/lib/toycluster/NAME/api.sock, and on a restart adopts the pods and processes that exist.  It forks the
container runtime (runtime.py) and kube-proxy (kube_proxy_server.py) as it starts, and starts either again
if it dies.
"""
import asyncio
import concurrent.futures
import gc
import os
import platform
import signal
import sys
import time

from toycluster import config

from toycluster.api import allocators
from toycluster.api import bootstrap
from toycluster.api import client
from toycluster.api import https, pki, registry
from toycluster.api.rest import REST
from toycluster.cluster import kubeconfig
from toycluster.kernel import nsfs
from toycluster.node import streaming
from toycluster.api import server as apiserver
from toycluster.cloud import controller
from toycluster.controllers import manager
from toycluster.controllers import endpointslice
from toycluster.proxy import server as kube_proxy_server
from toycluster.node import kubelet
from toycluster.api import validation_core
from toycluster.node import runtime
from toycluster.node import workloads
from toycluster.node import zygote
from toycluster.netpol.sync import PolicySync
from toycluster.api.store import Store, now_rfc3339

RESYNC_SECONDS = 2.0
COALESCE_SECONDS = 0.01   # a change after a quiet moment is reconciled at once; changes arriving while passes
                          # run (a burst of pod statuses, the pass's own writes) share the next pass, which starts
                          # this long after the last one ended, or as long as that one took: reconciling never
                          # takes more than half of the process while a burst goes on, and the watchers of what a
                          # pass wrote (kube-proxy) get their answers before the next pass starts


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
                       "nodeInfo": {"kubeletVersion": "v1.37.1-toycluster", "osImage": "toycluster netns",
                                    "kernelVersion": platform.release(), "operatingSystem": "linux",
                                    "architecture": "amd64", "containerRuntimeVersion": "toycluster://0.1"}}}


class ControlPlane:
    def __init__(self, cfg, sandboxes: runtime.Runtime, kube_proxy: int):
        self.cfg, self.sandboxes, self.kube_proxy = cfg, sandboxes, kube_proxy
        self.store = Store(f"{cfg.state_dir}/state.json")
        self.api = registry.API(self.store, admit=[allocators.ServiceRegistry(cfg.service_cidr).admit])
        self.controllers = manager.Controllers(self.store, [f"node{n}" for n in range(1, cfg.nodes + 1)],
                                               cfg.node_monitor_grace_period)
        self.endpoints = endpointslice.EndpointsController(self.store)
        self.cloud = controller.CloudController(cfg, self.store)   # LoadBalancer IPs, the LB and public DNS
        self.kubelets = []
        self._pending, self._in_pass, self._last_pass, self._last_end = False, False, 0.0, 0.0

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for n in range(1, self.cfg.nodes + 1):
            if self.store.get("Node", "", f"node{n}") is None:
                self.store.put(node_object(self.cfg, n))
        bootstrap.ensure_kubernetes_service(self.store, self.cfg)   # default/kubernetes, kept by the API server
        kernel_thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="kernel")
        self.policy = PolicySync(self.cfg, self.store, kernel_thread)
        forks = zygote.Zygote(self.cfg.name)
        forks.start()
        self.kubelets = [kubelet.Kubelet(self.cfg, self.store, n, self.sandboxes, forks)
                         for n in range(1, self.cfg.nodes + 1)]
        for k in self.kubelets:                # a restarted control plane adopts what is running
            for pod in self.store.list("Pod"):
                if pod["spec"].get("nodeName") == k.node and not pod["metadata"].get("deletionTimestamp"):
                    k.start(pod, adopt=True)
        self.store.on_change = self.wake
        sock = client.socket_path(self.cfg.name)
        if os.path.exists(sock):
            os.unlink(sock)
        server = await apiserver.serve(self.api, sock)
        self.https_task = asyncio.ensure_future(self.serve_https())
        self.cloud.start()                     # after the API is up: the load balancer and the DNS watch it
        stop = loop.create_future()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set_result, None)
        self.reconcile()
        # What start-up made (modules, the loaded store) is never scanned by the collector again: a full
        # collection walks only what came later, so its pause stays short (one landing inside a
        # kube-proxy sync delays the rules on every node).
        gc.collect()
        gc.freeze()
        print(f"control plane of cluster {self.cfg.name} serving on {sock}", flush=True)
        while not stop.done():
            await asyncio.wait([stop], timeout=RESYNC_SECONDS)
            self.reconcile()
        server.close()
        self.store.save()

    async def serve_https(self) -> None:
        """The Kubernetes REST API on node1's address, port 6443, once `up` has made its certificate (the key is
        written first); the control plane itself never loads the cryptography package."""
        ca = pki.ca_paths(self.cfg.state_dir)[0]
        crt, key = kubeconfig.paths(self.cfg)["server"]
        while not os.path.exists(crt):
            await asyncio.sleep(0.01)
        streams = streaming.Streams(self.cfg, self.kubelets[0].zygote, store=self.store)   # exec: the fork server
        rest = REST(self.api, f"{self.cfg.node_ip(1)}:{kubeconfig.API_PORT}", streams.handlers())
        try:
            sock = https.listen_in(nsfs.in_netns(self.cfg.node_ns(1)), self.cfg.node_ip(1), kubeconfig.API_PORT)
            self.https = await https.serve(rest, sock, https.tls_context(crt, key, ca))
        except OSError as e:
            print(f"the Kubernetes API could not listen on {self.cfg.node_ip(1)}:{kubeconfig.API_PORT}: {e}",
                  file=sys.stderr, flush=True)

    def wake(self) -> None:
        if not self._pending:
            self._pending = True
            self.policy.kick()     # before the reconcile pass, so a policy change does not wait for it
            if not self._in_pass:  # (else the pass under way schedules the next one as it ends)
                self._next_pass()

    def _next_pass(self) -> None:
        loop = asyncio.get_running_loop()
        loop.call_at(max(loop.time(), self._last_end + max(COALESCE_SECONDS, self._last_pass)), self.reconcile)

    def reconcile(self) -> None:
        self._pending, self._in_pass, started = False, True, time.perf_counter()
        try:
            self.controllers.reconcile()
            self.endpoints.reconcile()
            self.cloud.reconcile()
            for k in self.kubelets:
                k.sync()
            self.policy.kick()
            if not kube_proxy_server.alive(self.kube_proxy):
                print("kube-proxy has gone: starting it again", file=sys.stderr, flush=True)
                self.kube_proxy = kube_proxy_server.start(self.cfg.name)
        except Exception as e:   # a controller bug must not take the data plane down: log and go on
            print(f"reconcile failed: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        self._in_pass, self._last_pass = False, time.perf_counter() - started
        self._last_end = asyncio.get_running_loop().time()
        if self._pending:          # changes came during the pass (its own writes among them)
            self._next_pass()


def main() -> None:
    cfg = config.ClusterConfig.load(sys.argv[1])
    validation_core.IMAGE_CHECK = workloads.check_image
    validation_core.DEFAULT_TOLERATION_SECONDS = cfg.default_unreachable_toleration_seconds   # DefaultTolerationSeconds
    sandboxes = runtime.Runtime(cfg.name)
    sandboxes.fork()                   # first: no thread, event loop or loaded store to carry into the forks
    proxy = kube_proxy_server.fork(cfg.name)
    asyncio.run(ControlPlane(cfg, sandboxes, proxy).run())


if __name__ == "__main__":
    main()
