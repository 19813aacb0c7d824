"""Container runtime's fork server: containers are forked from this small, pre-imported process.

A fresh interpreter per container costs ~20 MB and 0.1 s; a fork of the control plane copies the page
tables of its large heap and, page by page, the heap itself. This process imports only what a container
needs (the built-in workloads, asyncio), freezes its objects, and forks on request, so its children share
its few pages. The kubelet writes one JSON request per line on its stdin and reads the children's pids back,
in the same order, on its stdout; exit codes of its children come on a third pipe as "PID CODE" lines. It goes away when the
control plane does (end of file on stdin); the containers stay.
"""
import asyncio
import collections
import contextlib
import gc
import json
import os
import select
import signal
import subprocess
import sys
import time

import setproctitle

from . import kernel, workloads


def start_container(req: dict) -> None:
    """In the forked child: become the container. Never returns."""
    spec = req["spec"]
    try:
        os.setsid()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        out = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.dup2(os.open("/dev/null", os.O_RDONLY), 0)
        os.closerange(3, 1 << 16)    # no inherited pipe, socket or epoll handle
        setproctitle.setproctitle(f"toycluster pod {req['netns']} container {spec['name']}")
        enter = kernel.enter_pod_netns if req["kind"] == "exec" else kernel.enter_netns_only
        enter(req["netns"], req["info"]["hostname"])
        os.chdir("/")
        os.environ.clear()
        os.environ.update(req["env"])
        if req["kind"] == "exec":
            os.execvpe(req["what"][0], req["what"], req["env"])
        workloads.run_builtin(req["what"], spec, req["info"])
    except BaseException as e:       # noqa: BLE001 - the child must never return into the server's loop
        with contextlib.suppress(Exception):
            os.write(2, f"toycluster: cannot start container {spec['name']}: {e}\n".encode())
        os._exit(127 if isinstance(e, FileNotFoundError) else 128)
    os._exit(0)


def main() -> None:
    exits = int(sys.argv[2])

    def reap(*_):
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            os.write(exits, f"{pid} {os.waitstatus_to_exitcode(status)}\n".encode())

    signal.signal(signal.SIGCHLD, reap)
    gc.freeze()
    for line in sys.stdin:
        req = json.loads(line)
        pid = os.fork()
        if pid == 0:
            start_container(req)
        sys.stdout.write(f"{pid}\n")
        sys.stdout.flush()


class Zygote:
    """The control plane's handle on its fork server. fork() returns at once with a future for the pid:
    requests are written one after the other and the pids come back in the same order, so the event loop
    goes on while the fork server forks."""

    def __init__(self, cluster: str):
        self.cluster, self.proc, self.codes = cluster, None, {}
        self.exits_r = None
        self.pending: collections.deque = collections.deque()     # futures waiting for a pid, in order
        self.replies = b""

    def start(self) -> None:
        exits_r, exits_w = os.pipe()
        self.proc = subprocess.Popen([sys.executable, "-P", "-m", "toycluster.zygote", self.cluster, str(exits_w)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, pass_fds=(exits_w,),
                                     text=True, bufsize=1)
        os.close(exits_w)
        os.set_blocking(exits_r, False)
        self.exits_r = os.fdopen(exits_r, "r")
        asyncio.get_running_loop().add_reader(self.proc.stdout.fileno(), self._read_pids, self.proc)

    def fork(self, req: dict) -> asyncio.Future:
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        fut = asyncio.get_running_loop().create_future()
        self.pending.append(fut)
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        return fut

    def _read_pids(self, proc) -> None:
        data = os.read(proc.stdout.fileno(), 1 << 16)
        if not data:        # the fork server is gone: what it did not answer fails, the next fork restarts it
            asyncio.get_running_loop().remove_reader(proc.stdout.fileno())
            while self.pending:
                self.pending.popleft().set_exception(RuntimeError("the container fork server exited"))
            self.replies = b""
            return
        self.replies += data
        while b"\n" in self.replies:
            line, self.replies = self.replies.split(b"\n", 1)
            fut = self.pending.popleft()
            if line.strip().isdigit():
                fut.set_result(int(line))
            else:
                fut.set_exception(RuntimeError(f"the container fork server did not answer ({line!r})"))

    def exit_code(self, pid: int, wait: float = 0.2) -> int | None:
        """PID's exit code if the fork server reaped it (waiting up to WAIT for its report), else None."""
        if self.exits_r is None:
            return None
        deadline = None
        while pid not in self.codes:
            line = self.exits_r.readline()
            if line:
                child, code = line.split()
                self.codes[int(child)] = int(code)
                continue
            deadline = deadline or time.monotonic() + wait
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.exits_r], [], [], left)[0]:
                return None
        return self.codes.pop(pid)


if __name__ == "__main__":
    main()
