"""kube-proxy's and the network policy agent's sync loops: node rules rendered as data, applied per node.

Both follow kube-proxy's loop: when their inputs change, render every node's rules and apply those that
changed inside the node's namespace, every node at once as each node's own agent would (``apply_nodes``:
one job on the control plane's kernel thread, which applies the first node itself and the others on
helper threads, so a busy event loop cannot hold up any node); every RESYNC_SECONDS re-read the kernel as
well, so a flushed table comes back (upstream: --iptables-sync-period, 30 s by default).
"""
import asyncio
import concurrent.futures
import sys
import time

from . import conntrack, iptables_apply, kernel, kube_proxy, kube_proxy_cache, network_policy

RESYNC_SECONDS = 10.0


class NodeSync:
    """The loop; a subclass says what it reads (inputs), how it renders and how it applies."""
    label = "node agent"

    def __init__(self, cfg, store, executor):
        self.cfg, self.store, self.executor = cfg, store, executor
        self.previous = {n: None for n in range(1, cfg.nodes + 1)}
        self.seen, self.last_full, self.busy, self.again = None, 0.0, False, False
        self.timings: dict = {}       # last sync: render and apply milliseconds, for logs and the benchmark
        self.helpers = concurrent.futures.ThreadPoolExecutor(max(1, cfg.nodes - 1),
                                                             thread_name_prefix=f"{self.label}-node")

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
                inputs = self.inputs()
                seen = self.fingerprint(inputs)
                full = time.monotonic() - self.last_full > RESYNC_SECONDS
                if seen != self.seen or full:
                    self.seen = seen
                    if full:
                        self.last_full = time.monotonic()
                        self.forget()
                    t0 = time.perf_counter()
                    states = self.render(inputs)
                    self.timings = {"render_ms": (time.perf_counter() - t0) * 1e3, "apply_ms": {}}
                    jobs = [(n, states[n], None if full else self.previous[n], self.extra(n, inputs))
                            for n in self.previous]
                    jobs = [job for job in jobs if job[2] != job[1] or job[3]]
                    if jobs:
                        done = await asyncio.get_running_loop().run_in_executor(self.executor, self._apply_all, jobs)
                        for n, (result, ms, _) in done.items():
                            self.timings["apply_ms"][f"node{n}"] = ms
                            if isinstance(result, Exception):
                                self.previous[n], self.seen = None, None     # retried at the next reconcile
                                print(f"{self.label} on node{n}: {result}", file=sys.stderr, flush=True)
                            else:
                                self.previous[n] = result
                                self.applied(n, inputs)
                if not self.again:
                    return
        finally:
            self.busy = False

    def _apply_all(self, jobs) -> dict:
        return apply_nodes([(n, self.cfg.node_ns(n), *job) for n, *job in jobs], self.apply, self.helpers)

    def forget(self) -> None:             # a full resync: drop what render() keeps between syncs
        pass

    def extra(self, n: int, inputs):      # work to do in the node beside the rules (none by default)
        return None

    def applied(self, n: int, inputs) -> None:
        pass


def apply_nodes(jobs, apply, helpers) -> dict:
    """Run ``apply(state, previous, extra)`` inside each node's namespace for JOBS [(n, netns, state,
    previous, extra)], all nodes at once: the first on the calling thread, the others on HELPERS' threads
    (iptables_apply opens a libiptc handle per call, and its table reads and commits release the GIL).
    Returns {n: (result or the exception raised, milliseconds, iptables_apply.last_sync())}."""
    futures = [(job[0], helpers.submit(_apply_node, job, apply)) for job in jobs[1:]]
    done = {jobs[0][0]: _apply_node(jobs[0], apply)} if jobs else {}
    for n, future in futures:
        done[n] = future.result()
    return done


def _apply_node(job, apply):
    n, netns, state, previous, extra = job
    t = time.perf_counter()
    try:
        with kernel.in_netns(netns):
            result = apply(state, previous, extra)
    except Exception as e:  # noqa: BLE001 - one node's failure must not stop the others
        result = e
    return result, (time.perf_counter() - t) * 1e3, iptables_apply.last_sync()


class ProxySync(NodeSync):
    """kube-proxy on every node: Services and EndpointSlices → nat and filter rules, and stale UDP flows
    deleted from conntrack when their endpoint goes (pkg/proxy/conntrack).  Each node's rules are
    rendered through its kube_proxy_cache.NodeRender: only changed Services are rendered again, except
    at a full resync, which renders everything."""
    label = "kube-proxy"

    def __init__(self, cfg, store, executor):
        super().__init__(cfg, store, executor)
        self.udp = {n: {} for n in self.previous}     # UDP endpoints last applied, per node
        self.forget()

    def forget(self) -> None:
        self.renders = {n: kube_proxy_cache.NodeRender(node_name=f"node{n}", node_ip=self.cfg.node_ip(n),
                                                       cluster_cidr=self.cfg.pod_cidr) for n in self.previous}

    def inputs(self):
        services, slices = self.store.list("Service"), self.store.list("EndpointSlice")
        return services, slices, conntrack.udp_endpoints(services, slices)

    def fingerprint(self, inputs):
        return [(o["metadata"]["namespace"], o["metadata"]["name"], o["metadata"]["resourceVersion"])
                for o in inputs[0] + inputs[1]]

    def render(self, inputs) -> dict:
        return {n: self.renders[n].render(inputs[0], inputs[1]) for n in self.previous}

    def extra(self, n: int, inputs):
        return conntrack.stale_flows(self.udp[n], inputs[2])

    def applied(self, n: int, inputs) -> None:
        self.udp[n] = inputs[2]

    @staticmethod
    def apply(state, previous, stale_flows):
        applied = kube_proxy.apply(state, previous)
        conntrack.delete(stale_flows)
        return applied


class PolicySync(NodeSync):
    """The network policy agent on every node (as kube-router's): NetworkPolicies, Pods and Namespaces →
    filter rules; its FORWARD jump is put back on top if something was inserted above it."""
    label = "network policy agent"

    def inputs(self):
        return self.store.list("NetworkPolicy"), self.store.list("Pod"), self.store.list("Namespace")

    def fingerprint(self, inputs):
        return network_policy.fingerprint(*inputs)

    def render(self, inputs) -> dict:
        states = network_policy.render_all(*inputs, [f"node{n}" for n in self.previous])
        return {n: states[f"node{n}"] for n in self.previous}

    @staticmethod
    def apply(state, previous, _extra):
        return network_policy.apply(state, previous)
