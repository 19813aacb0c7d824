"""Container runtime: how a container of a built-in image starts, in a child of the fork server (zygote.py).

run_builtin() drops what it inherited (signal handlers, file descriptors, log handlers), then imports the image's
entry point by its name (workloads.ENTRYPOINTS: "module:function") and calls it; it never returns. SIGTERM and
SIGINT exit 0; an error (a port in use, say) exits 1 after writing the reason to stderr. serve() is the listening
loop the built-in servers share.
"""
import asyncio
import importlib
import os
import signal
import socket
import sys

from toycluster.node.workloads import ENTRYPOINTS

BIND_HOST = "0.0.0.0"           # the unit tests set 127.0.0.1 in their server subprocess


def _exit(code: int) -> "NoReturn":
    """Flush the log and leave at once (the kernel closes the sockets)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(code)


def _reset_signals() -> None:
    """Our signals must not wake the parent's event loop or run its handlers: SIGTERM and SIGINT exit 0."""
    signal.set_wakeup_fd(-1)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    for signum in signal.valid_signals():
        try:
            if callable(signal.getsignal(signum)):
                signal.signal(signum, signal.SIG_DFL)
        except (OSError, ValueError, TypeError):
            pass
    signal.signal(signal.SIGTERM, lambda *_: _exit(0))
    signal.signal(signal.SIGINT, lambda *_: _exit(0))


def _detach_from_parent() -> None:
    """Drop what the forked-from process set up: signal handlers, wakeup fd, open fds, log handlers."""
    import gc                                   # built in: costs nothing
    gc.freeze()                                 # the parent's objects are never scanned: their pages stay shared
    _reset_signals()
    keep = {0, 1, 2}
    for stream in (sys.stdout, sys.stderr):
        try:
            keep.add(stream.fileno())
        except Exception:
            pass
    low = 3                                     # close every inherited fd but stdin/stdout/stderr
    for fd in sorted(keep | {os.sysconf("SC_OPEN_MAX")}):
        if fd >= low:
            os.closerange(low, fd)
            low = fd + 1
    logging = sys.modules.get("logging")        # asyncio's errors go to the container log, not the parent's
    if logging is not None:
        for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
            if isinstance(logger, logging.Logger):
                logger.handlers.clear()
        logging.getLogger().addHandler(logging.StreamHandler(sys.stderr))


def serve(servers: list) -> None:
    """Listen on every (port, protocol factory) of SERVERS and serve them forever (never returns)."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    for port, factory in servers:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((BIND_HOST, port))
        loop.run_until_complete(loop.create_server(factory, sock=sock, backlog=1024))
    print("Starting up on port " + ", ".join(str(port) for port, _ in servers), flush=True)
    loop.run_forever()


def run_builtin(workload: str, container: dict, pod: dict) -> "NoReturn":
    """Run a built-in workload in this (forked) process until SIGTERM; never returns.

    pod = {"name", "namespace", "ip", "node", "hostname"}. Exits 0 on SIGTERM or SIGINT, 1 on an error
    (a port in use, say), after writing the reason to stderr.
    """
    code = 1
    try:
        _detach_from_parent()
        if workload not in ENTRYPOINTS:
            raise ValueError(f"unknown built-in workload {workload!r}")
        module, _, function = ENTRYPOINTS[workload].partition(":")
        getattr(importlib.import_module(module), function)(container, pod)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException as e:
        print(f"{container.get('name') or workload}: {type(e).__name__}: {e}", file=sys.stderr)
    _exit(code)
