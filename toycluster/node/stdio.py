"""Container runtime: a container's stdio, as containerd's shim keeps it: the descriptors an exec session hands to
its process, and the attach shim of a container with `stdin: true`.

Runs in children of the fork server (zygote.py). receive(): an exec's process gets its stdin, stdout and stderr
(or one pty) from the kubelet's streaming server over a Unix socket (SCM_RIGHTS), before it enters the pod.
shim(): a container with `stdin: true` gets a pty (`tty: true`) or pipes; the fork server's child stays as the
shim (the process the kubelet watches, titled as the container), forks the container, copies its output to the
container log and to attached clients, and exits with the container's exit code. Clients connect to the
abstract Unix socket ATTACH_PREFIX + container name in the pod's network namespace and speak short frames:
one channel byte, a 4-byte length, data; the channels are kubectl's (0 stdin, 1 stdout, 2 stderr, 4 resize
as JSON, 255 close stdin) plus HELLO (the client attaches stdin) and EXIT (the container's exit code).
"""
import contextlib
import fcntl
import json
import os
import select
import signal
import socket
import struct
import termios
import time

ATTACH_PREFIX = "\0toycluster-attach-"
STDIN, STDOUT, STDERR, RESIZE, HELLO, EXIT, CLOSE = 0, 1, 2, 4, 253, 254, 255
_HEAD = struct.Struct("!BI")


def pack(channel: int, data: bytes = b"") -> bytes:
    return _HEAD.pack(channel, len(data)) + data


def unpack(buf: bytearray) -> list[tuple[int, bytes]]:
    """The whole frames at the start of BUF (removed from it)."""
    out = []
    while len(buf) >= _HEAD.size:
        channel, n = _HEAD.unpack_from(buf)
        if len(buf) < _HEAD.size + n:
            break
        out.append((channel, bytes(buf[_HEAD.size:_HEAD.size + n])))
        del buf[:_HEAD.size + n]
    return out


def set_size(fd: int, width: int, height: int) -> None:
    """TIOCSWINSZ: the terminal's size (the foreground process gets SIGWINCH)."""
    with contextlib.suppress(OSError):
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", max(0, height), max(0, width), 0, 0))


def resize(fd: int, data: bytes) -> None:
    """A resize message, {"Width": W, "Height": H}, applied to the pty whose master is FD."""
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        size = json.loads(data)
        set_size(fd, int(size.get("Width", 0)), int(size.get("Height", 0)))


def receive(path: str, tty: bool) -> None:
    """In an exec's forked child: take stdin, stdout and stderr (one pty slave if TTY) from the streaming
    server listening at PATH, as fds 0, 1 and 2; with a tty, it becomes the controlling terminal."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(path)
        _, fds, _, _ = socket.recv_fds(s, 16, 3)
    fds = fds * 3 if len(fds) == 1 else fds
    for target, fd in enumerate(fds[:3]):
        os.dup2(fd, target)
    for fd in set(fds):
        if fd > 2:
            os.close(fd)
    if tty:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def shim(name: str, tty: bool, stdin_once: bool) -> None:
    """In the fork server's child of a container with `stdin: true`, inside the pod, output already going to the
    log: fork the container (this returns in it, with its stdio set) and stay as its shim (never returns)."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(ATTACH_PREFIX + name)
    listener.listen(8)
    log = os.dup(1)
    if tty:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)      # this process leads the session: the container inherits it
        set_size(slave, 80, 24)
        theirs, ours = (slave, slave, slave), {"in": master, STDOUT: master}
    else:
        pipes = [os.pipe() for _ in range(3)]
        theirs, ours = (pipes[0][0], pipes[1][1], pipes[2][1]), {"in": pipes[0][1], STDOUT: pipes[1][0],
                                                                   STDERR: pipes[2][0]}
    pid = os.fork()
    if pid == 0:
        for target, fd in enumerate(theirs):
            os.dup2(fd, target)
        for fd in {*theirs, *ours.values(), log}:
            if fd > 2:
                os.close(fd)
        listener.close()
        return
    for fd in set(theirs):
        os.close(fd)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGTSTP, signal.SIGTTIN,
                signal.SIGTTOU, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)           # the container's signals: the shim waits for its exit
    code = Shim(listener, log, ours, tty, stdin_once).run(pid)
    os._exit(code)


class Shim:
    """The select loop of a container's attach shim."""

    def __init__(self, listener, log: int, fds: dict, tty: bool, stdin_once: bool):
        self.listener, self.log, self.fds, self.tty, self.once = listener, log, fds, tty, stdin_once
        self.outputs = {fd: ch for ch, fd in fds.items() if ch != "in"}
        self.clients: dict[socket.socket, bytearray] = {}
        self.stdin_client, self.stdin_done = None, False

    def broadcast(self, channel: int, data: bytes) -> None:
        for c in list(self.clients):
            try:
                c.sendall(pack(channel, data))
            except OSError:
                self.drop(c)

    def close_stdin(self) -> None:
        if self.stdin_done:
            return
        self.stdin_done = True
        if self.tty:
            with contextlib.suppress(OSError):
                os.write(self.fds["in"], b"\x04")    # the terminal's end of file
        else:
            with contextlib.suppress(OSError):
                os.close(self.fds["in"])

    def drop(self, c) -> None:
        self.clients.pop(c, None)
        c.close()
        if c is self.stdin_client and self.once:
            self.close_stdin()

    def from_client(self, c) -> None:
        try:
            data = c.recv(1 << 16)
        except OSError:
            data = b""
        if not data:
            self.drop(c)
            return
        buf = self.clients[c]
        buf += data
        for channel, payload in unpack(buf):
            if channel == HELLO and self.stdin_client is None:
                self.stdin_client = c
            elif channel == STDIN and not self.stdin_done:
                with contextlib.suppress(OSError):
                    os.write(self.fds["in"], payload)
            elif channel == RESIZE and self.tty:
                resize(self.fds["in"], payload)
            elif channel == CLOSE and payload[:1] == b"\0" and c is self.stdin_client:
                self.close_stdin()

    def pump(self, fd: int) -> None:
        try:
            data = os.read(fd, 1 << 16)
        except OSError:                               # EIO: the pty's last slave is closed
            data = b""
        if not data:
            del self.outputs[fd]
            return
        with contextlib.suppress(OSError):
            os.write(self.log, data)
        self.broadcast(self.outputs[fd], data)

    def run(self, pid: int) -> int:
        pidfd, code, drain_until = os.pidfd_open(pid), None, None
        while self.outputs and (drain_until is None or time.monotonic() < drain_until):
            waiting = [self.listener, *self.clients, *self.outputs] + ([pidfd] if code is None else [])
            timeout = None if drain_until is None else max(0.0, drain_until - time.monotonic())
            for r in select.select(waiting, [], [], timeout)[0]:
                if r is self.listener:
                    c, _ = self.listener.accept()
                    self.clients[c] = bytearray()
                elif r == pidfd:
                    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
                    code = 128 - code if code < 0 else code
                    drain_until = time.monotonic() + 0.5     # what is still in the pipes, not what a child keeps
                elif r in self.clients:
                    self.from_client(r)
                elif r in self.outputs:
                    self.pump(r)
        if code is None:
            code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
            code = 128 - code if code < 0 else code
        self.broadcast(EXIT, str(code).encode())
        for c in list(self.clients):
            c.close()
        return code
