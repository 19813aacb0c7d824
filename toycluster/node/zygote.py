"""Container runtime's fork server: containers are forked from this small, pre-imported process.

A fresh interpreter per container costs ~20 MB and 0.1 s; a fork of the control plane copies the page
tables of its large heap and, page by page, the heap itself. This process imports only what a container
needs (asyncio, the built-in workloads' entry points but CoreDNS's and the ingress's, which their pods import),
freezes its objects, and forks on request, so its children share its few pages (it does nothing else: every
page it wrote after a fork would be copied). The kubelet sends requests over jsonpipe and gets each child's pid
back; exit codes of its children come on a third pipe as "PID CODE" lines. It goes away when the control plane does; the containers stay.
"""
import contextlib
import gc
import os
import select
import signal
import sys
import time

import setproctitle

from toycluster.node import cri
from toycluster.kernel import nsfs
from toycluster.node import entrypoint, stdio
from toycluster.node import standins, webserver  # noqa: F401 - pre-imported: every pod shares their pages


CONTAINER_NICE = 0          # containers run at the usual priority (the servers are favoured: see jsonpipe)


def start_container(req: dict) -> None:
    """In the forked child: become the container. Never returns."""
    spec = req["spec"]
    try:
        os.setsid()
        os.setpriority(os.PRIO_PROCESS, 0, CONTAINER_NICE)     # the fork server's priority is not the pod's
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        out = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.dup2(os.open("/dev/null", os.O_RDONLY), 0)
        os.closerange(3, 1 << 16)    # no inherited pipe, socket or epoll handle
        if req.get("stdio"):         # an exec session's stdio, handed over by the kubelet's streaming server
            stdio.receive(req["stdio"], bool(req.get("tty")))
        setproctitle.setproctitle(f"toycluster pod {req['netns']} container {spec['name']}")
        enter = nsfs.enter_pod_netns if req["kind"] == "exec" else nsfs.enter_netns_only
        enter(req["netns"], req["info"]["hostname"])
        os.chdir("/")
        os.environ.clear()
        os.environ.update(req["env"])
        if spec.get("stdin") and not req.get("stdio"):      # attachable: this process stays as the shim
            stdio.shim(spec["name"], bool(spec.get("tty")), bool(spec.get("stdinOnce")))
        if req["kind"] == "exec":
            os.execvpe(req["what"][0], req["what"], req["env"])
        entrypoint.run_builtin(req["what"], spec, req["info"])
    except BaseException as e:       # noqa: BLE001 - the child must never return into the server's loop
        with contextlib.suppress(Exception):
            os.write(2, f"toycluster: cannot start container {spec['name']}: {e}\n".encode())
        os._exit(127 if isinstance(e, FileNotFoundError) else 128)
    os._exit(0)


def fork(req: dict) -> dict:
    """One request: fork a container; answer its pid."""
    try:
        pid = os.fork()
    except OSError as e:
        return {"error": f"fork for {req['netns']}: {e}"}
    if pid == 0:
        start_container(req)
    return {"pid": pid}


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
    cri.serve(fork)


class Zygote(cri.Client):
    """The control plane's handle on its fork server: request("fork", ...) answers {"pid"}; exit codes of
    the children it forked are read from a pipe of their own."""
    module = "node.zygote"

    def __init__(self, cluster: str):
        super().__init__(cluster)
        self.codes, self.exits_r = {}, None

    def start(self, extra_args=(), pass_fds=()) -> None:
        exits_r, exits_w = os.pipe()
        super().start([str(exits_w)], (exits_w,))
        os.close(exits_w)
        os.set_blocking(exits_r, False)
        self.exits_r = os.fdopen(exits_r, "r")

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
