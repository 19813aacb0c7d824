"""The node agents' sync loop (kube-proxy's and the network policy agent's, kernel side): rules rendered
per node as data, then applied inside every node's network namespace at once.

``NodeSync`` follows kube-proxy's loop: when its inputs change, it renders every node's rules and applies
those that changed inside the node's namespace, every node at once as each node's own agent would
(``apply_nodes``: one job on the loop's kernel thread, which applies the first node itself and the others
on helper threads).  Every RESYNC_SECONDS a resync renders everything again and checks each table against
the kernel (upstream: --iptables-sync-period, 30 s by default).  A subclass says what it reads, how it
renders and how it applies: kube-proxy's (proxy/sync.py) and the policy agent's (netpol/sync.py).

A loop may read its tables ahead (``prefetch``, see ``open_tables``): right after a sync it starts reading
the tables it just wrote, so that the next change is written into a copy already in memory instead of
waiting for the kernel to copy 11,000 rules out first; without such a copy (at start, after a failure) it
starts the read before it renders, so the two overlap.  The kernel refuses a commit based on a copy whose
rule count is no longer the table's (someone changed the table meanwhile): then that node's table is read
again and the sync redone.
"""
import asyncio
import concurrent.futures
import sys
import threading
import time

from toycluster.kernel import iptables_apply
from toycluster.kernel import nsfs

RESYNC_SECONDS = 10.0
ENTER_WAIT = 0.005    # seconds open_tables waits for its readers to start (the kernel thread may be busy)


class NodeSync:
    """The loop; a subclass says what it reads (inputs), how it renders and how it applies."""
    label = "node agent"
    resync_by_age = True          # a sync RESYNC_SECONDS after the last resync is one (else kick(full=True))
    prefetch: tuple = ()          # tables read in every node while the rules render (see open_tables)

    def __init__(self, cfg, store, executor):
        self.cfg, self.store, self.executor = cfg, store, executor
        self.previous = {n: None for n in range(1, cfg.nodes + 1)}
        self.seen, self.last_full, self.busy, self.again, self.full_due = None, 0.0, False, False, True
        self.read_ahead: dict = {}    # {n: future of the tables read after the last sync} (see open_tables)
        self.info = {n: {} for n in self.previous}   # {n: {table: its header as our last write left it}}
        self.timings: dict = {}       # last sync: render and apply milliseconds, for logs and the benchmark
        self.helpers = concurrent.futures.ThreadPoolExecutor(max(1, cfg.nodes - 1),
                                                             thread_name_prefix=f"{self.label}-node")

    def kick(self, full: bool = False) -> None:
        """Sync now (or right after the sync under way); FULL: a resync (see the module's docstring)."""
        self.full_due |= full
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
                full = self.full_due or (self.resync_by_age and time.monotonic() - self.last_full > RESYNC_SECONDS)
                self.full_due = False
                if seen != self.seen or full:
                    self.seen = seen
                    if full:
                        self.last_full = time.monotonic()
                        self.forget()
                    await self._sync_nodes(inputs, full)
                if not self.again:
                    return
        finally:
            self.busy = False

    async def _sync_nodes(self, inputs, full: bool) -> None:
        nodes = [(n, self.cfg.node_ns(n)) for n in self.previous]
        opening, self.read_ahead = self.read_ahead, {}
        opening.update(open_tables([(n, ns) for n, ns in nodes if n not in opening], self.prefetch,
                                   self.executor, self.helpers))
        try:
            t0 = time.perf_counter()
            states = self.render(inputs)
            self.timings = {"render_ms": (time.perf_counter() - t0) * 1e3, "apply_ms": {}}
            jobs = [(n, netns, states[n], self.previous[n], self.extra(n, inputs), self.info[n] if full else None)
                    for n, netns in nodes]
            jobs = [job for job in jobs if full or job[3] != job[2] or job[4]]
            if not jobs:
                self.read_ahead, opening = opening, {}      # still good for the next change
                return
            done = await asyncio.get_running_loop().run_in_executor(
                self.executor, apply_nodes, jobs, self.apply, self.helpers,
                {job[0]: opening.pop(job[0]) for job in jobs if job[0] in opening})
        finally:
            _close_all(opening)                     # read for nodes that turned out to need nothing
        for n, (result, ms, tables) in done.items():
            self.timings["apply_ms"][f"node{n}"] = ms
            if isinstance(result, Exception):
                self.previous[n], self.seen, self.info[n] = None, None, {}   # retried at the next reconcile
                print(f"{self.label} on node{n}: {result}", file=sys.stderr, flush=True)
            else:
                self.previous[n] = result
                self.info[n].update({t: v["info"] for t, v in tables.items() if "info" in v})
                self.applied(n, inputs)
        commits = [f"node{n} {t} {v['commit_ms']:.1f}" for n, (result, _, tables) in done.items()
                   if not isinstance(result, Exception) for t, v in tables.items()]
        if commits:                 # as upstream's "SyncProxyRules complete" (at -v=2), with the commits' times
            print(f"{self.label}: rules written in {max(ms for _, ms, _ in done.values()):.0f} ms (render "
                  f"{self.timings['render_ms']:.1f} ms; commit ms: {', '.join(commits)})",
                  file=sys.stderr, flush=True)
        self.read_ahead = open_tables([(n, ns) for n, ns in nodes if self.previous[n] is not None],
                                      self.prefetch, self.executor, self.helpers, wait=False)

    def forget(self) -> None:             # a full resync: drop what render() keeps between syncs
        pass

    def extra(self, n: int, inputs):      # work to do in the node beside the rules (none by default)
        return None

    def applied(self, n: int, inputs) -> None:
        pass



def open_tables(nodes, tables, first, helpers, wait=True) -> dict:
    """Start reading TABLES (iptables_apply.open_tables) inside each node's namespace for NODES [(n,
    netns)], the first node on executor FIRST, the others on HELPERS, so that the kernel copies each
    node's table out while the rules are rendered; apply_nodes then writes into what was read.
    Returns {n: future of {table: handle}} ({} without tables) once each reader is inside libiptc (or
    after ENTER_WAIT): a reader that still needed the GIL would wait for the render to end (the
    interpreter hands the GIL to a waiting thread only every switch interval, 5 ms).  With WAIT false
    it returns at once (a read ahead, with nothing to overlap)."""
    if not tables or not nodes:
        return {}
    started = {n: threading.Event() for n, _ in nodes}
    opening = {n: (first if k == 0 else helpers).submit(_open_node, netns, tables, started[n])
               for k, (n, netns) in enumerate(nodes)}
    deadline = time.monotonic() + (ENTER_WAIT if wait else 0)
    for event in started.values():
        event.wait(max(0.0, deadline - time.monotonic()))
    return opening


def _open_node(netns, tables, started):
    with nsfs.in_netns(netns):
        started.set()
        return iptables_apply.open_tables(tables)


def _close_all(opening: dict) -> None:
    for future in opening.values():
        future.add_done_callback(close_opened)


def close_opened(future) -> None:
    """Free the tables a future of open_tables() read (once it is done; nothing if it failed)."""
    if not future.exception():
        iptables_apply.close_tables(future.result())


def apply_nodes(jobs, apply, helpers, opening=None) -> dict:
    """Run ``apply(state, previous, extra, opened, verify)`` inside each node's namespace for JOBS [(n,
    netns, state, previous, extra, verify)], all nodes at once: the first on the calling thread, the others on HELPERS'
    threads (iptables_apply opens a libiptc handle per call, and its table reads and commits release
    the GIL).  ``opened`` is what open_tables read for the node (from OPENING), or None.
    Returns {n: (result or the exception raised, milliseconds, iptables_apply.last_sync())}."""
    opening = opening or {}
    futures = [(job[0], helpers.submit(_apply_node, job, apply, opening.get(job[0]))) for job in jobs[1:]]
    done = {jobs[0][0]: _apply_node(jobs[0], apply, opening.get(jobs[0][0]))} if jobs else {}
    for n, future in futures:
        done[n] = future.result()
    return done


def _apply_node(job, apply, reading):
    n, netns, state, previous, extra, verify = job
    t = time.perf_counter()
    opened = None
    try:
        opened = reading.result() if reading is not None else None
    except Exception:  # noqa: BLE001 - not read beforehand: apply reads the table itself
        pass
    try:
        with nsfs.in_netns(netns):
            result = apply(state, previous, extra, opened, verify)
    except Exception as e:  # noqa: BLE001 - one node's failure must not stop the others
        result = e
    finally:
        iptables_apply.close_tables(opened)
    return result, (time.perf_counter() - t) * 1e3, iptables_apply.last_sync()
