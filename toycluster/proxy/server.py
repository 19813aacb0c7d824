"""kube-proxy's process (cmd/kube-proxy's ProxyServer): an informer on Services and EndpointSlices feeding the
sync loop that writes every node's rules (sync.ProxySync), apart from the control plane.

On a real cluster kube-proxy is a DaemonSet: a process on each node, an API client like any other. Here one
process plays it for every node ("toycluster kube-proxy CLUSTER"): it lists and watches the API (informer.py)
and, when a Service or an EndpointSlice changes, renders and commits the nodes' tables.  In a process of its
own, its commits never wait for the control plane's interpreter (the API server, the controllers and the
kubelets' probes all run there), nor does the control plane wait for them.

The control plane forks it as it starts (it shares the interpreter's pages) and starts it again with
`python -m toycluster.proxy.server CLUSTER` if it dies; it exits with the control plane
(PR_SET_PDEATHSIG), as it would have no API to watch.
"""
import asyncio
import concurrent.futures
import ctypes
import gc
import os
import signal
import subprocess
import sys

import setproctitle

from toycluster import config

from toycluster.api import client
from toycluster.api import informer
from toycluster.proxy import changes
from toycluster.kernel.node_sync import RESYNC_SECONDS
from toycluster.proxy.sync import ProxySync

KINDS = ("Service", "EndpointSlice")
API_WAIT = 0.01        # seconds between looks for the API socket while the control plane starts
PR_SET_PDEATHSIG = 1
NICE = -10


class Cache:
    """ProxySync's inputs (changes.Inputs), kept from the informer's cache: take() brings them up
    to date with the objects changed since the last take (the informer's event handlers, upstream)."""

    def __init__(self, inf: informer.Informer):
        self.inf, self.inputs = inf, changes.Inputs()

    def take(self) -> changes.Inputs:
        with self.inf.lock:
            dirty, self.inf.dirty, objs = self.inf.dirty, set(), self.inf.objects
            if dirty is None:                       # listed: start again from everything
                self.inputs = changes.Inputs(objs["Service"].values(), objs["EndpointSlice"].values())
            for kind, key in dirty or ():
                update = self.inputs.service if kind == "Service" else self.inputs.endpoint_slice
                update(key, objs[kind].get(key))
        return self.inputs


async def serve(cfg: config.ClusterConfig) -> None:
    loop = asyncio.get_running_loop()
    inf = informer.Informer(client.socket_path(cfg.name), KINDS, lambda: loop.call_soon_threadsafe(proxy.kick),
                            name="kube-proxy")
    proxy = ProxySync(cfg, Cache(inf), concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="kernel"))
    while not os.path.exists(inf.client.path):      # the control plane forks us before its API listens
        await asyncio.sleep(API_WAIT)
    inf.start()                                     # its first list kicks the first (full) sync
    while True:
        await asyncio.sleep(RESYNC_SECONDS)         # the periodic full resync (a flushed table comes back)
        if inf.synced.is_set():
            proxy.kick(full=True)


def main(name: str, parent: int) -> None:
    """Run kube-proxy for cluster NAME until process PARENT (the control plane) exits."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:                      # the control plane went before we could ask
        return
    setproctitle.setproctitle(f"toycluster kube-proxy {name}")
    os.setpriority(os.PRIO_PROCESS, 0, NICE)        # before any thread: they inherit it
    gc.freeze()                                     # the parent's objects are never scanned: their pages stay shared
    asyncio.run(serve(config.ClusterConfig.load(name)))


def fork(name: str) -> int:
    """Start kube-proxy as a fork of the calling process (the control plane before its event loop and threads
    exist); returns its pid."""
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        try:
            os.closerange(3, 1 << 16)               # 0-2 stay: stderr is the control plane's log
            main(name, parent)
        finally:
            os._exit(0)
    return pid


def start(name: str) -> int:
    """Start kube-proxy again, in a fresh interpreter (its fork has gone); returns its pid."""
    return subprocess.Popen([sys.executable, "-P", "-m", "toycluster.proxy.server", name,
                             str(os.getpid())], stdin=subprocess.DEVNULL).pid


def alive(pid: int) -> bool:
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == 0
    except ChildProcessError:
        return False


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
