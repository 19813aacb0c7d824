"""Ingress controller (nginx's master and worker processes): the listening sockets and the fork into workers.

As nginx with `worker_processes auto` and `listen ... reuseport`: every worker has listening sockets of its own
(SO_REUSEPORT), so the kernel spreads new connections over the workers, where one shared socket would let the
first worker to wake take a whole burst. Each worker then runs its own event loop, informer, pools and balancer
(a connection's requests all go through one worker, as in nginx). A worker dies with the container's first process
(PR_SET_PDEATHSIG): no orphan keeps a socket that a restarted container would share.
"""
from __future__ import annotations

import os
import signal
import socket


def listen(port: int) -> socket.socket:
    """One worker's listening socket on PORT (all addresses)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("0.0.0.0", port))
    sock.listen(4096)
    return sock


def spawn(count: int, ports: tuple) -> list[socket.socket]:
    """Listen on PORTS COUNT times, then fork COUNT - 1 workers: this process's own sockets, one per port."""
    groups = [[listen(port) for port in ports] for _ in range(count)]
    index, leader = 0, os.getpid()
    for i in range(1, count):
        if os.fork() == 0:
            index = i
            _die_with(leader)
            _retitle(i)
            break
    for sock in [sock for n, group in enumerate(groups) if n != index for sock in group]:
        sock.close()
    return groups[index]


def _retitle(i: int) -> None:
    """A worker says what it is, as nginx's "nginx: worker process": the container's own title stays its master's,
    so the kubelet and `ps` see one container process and its workers."""
    try:
        import setproctitle
        setproctitle.setproctitle(f"{setproctitle.getproctitle()} worker {i}")
    except ImportError:
        pass


def _die_with(leader: int) -> None:
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)     # PR_SET_PDEATHSIG
    if os.getppid() != leader:                                    # the leader is already gone
        os._exit(0)
