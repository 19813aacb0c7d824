"""kubelet's streaming server, the process side: an exec's stdio (one pty, or a pipe per stream asked for) and
the bytes between it and kubectl's channels; the process's exit code; the relay to a container's attach shim.
"""
from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
import subprocess

from toycluster.kernel import nsfs
from toycluster.node import stdio
from toycluster.wire import websocket


class Process:
    """A spawned process: PID, and wait() -> its exit code (128+N for signal N)."""

    def __init__(self, pid: int, reap):
        self.pid, self.reap = pid, reap

    async def wait(self) -> int:
        loop = asyncio.get_running_loop()
        try:
            pidfd = os.pidfd_open(self.pid)
        except ProcessLookupError:
            return _code(self.reap(self.pid))
        exited = loop.create_future()
        loop.add_reader(pidfd, lambda: exited.done() or exited.set_result(None))
        try:
            await exited
        finally:
            loop.remove_reader(pidfd)
            os.close(pidfd)
        return _code(self.reap(self.pid))


def _code(code: int | None) -> int:
    return 137 if code is None else (128 - code if code < 0 else code)


async def local_spawner(pod, container, argv, fds, tty, env) -> Process:
    """Run ARGV in this machine's namespaces (the unit tests' spawner): no pod, the same stdio handling."""
    def child():
        if tty:
            import fcntl, termios                       # noqa: E401 - in the child, after fork
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    fds = fds * 3 if len(fds) == 1 else fds
    proc = subprocess.Popen(argv, stdin=fds[0], stdout=fds[1], stderr=fds[2], env=env, start_new_session=True,
                            preexec_fn=child, close_fds=True)
    return Process(proc.pid, lambda pid: proc.wait())


class Ends:
    """Our ends and the process's ends of an exec's stdio: one pty, or a pipe per stream asked for."""

    def __init__(self, tty: bool, want: dict):
        self.tty, self.sized = tty, asyncio.get_running_loop().create_future()
        self.stdin_fd, self.outputs, mine, theirs = None, {}, [], []
        if tty:
            master, slave = os.openpty()
            stdio.set_size(master, 80, 24)
            self.stdin_fd, self.outputs, mine, theirs = master, {master: 1}, [master], [slave]
        else:
            for ch in (0, 1, 2):
                if not want[ch]:
                    theirs.append(os.open(os.devnull, os.O_RDWR))
                    continue
                r, w = os.pipe()
                mine.append(w if ch == 0 else r)
                theirs.append(r if ch == 0 else w)
                if ch == 0:
                    self.stdin_fd = w
                else:
                    self.outputs[r] = ch
        for fd in mine:
            os.set_blocking(fd, False)
        self.mine, self.theirs = mine, theirs

    def close_theirs(self) -> None:
        for fd in self.theirs:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.theirs = []

    def close(self) -> None:
        self.close_theirs()
        for fd in self.mine:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.mine = []

    def close_stdin(self) -> None:
        if self.stdin_fd is not None and not self.tty:
            os.close(self.stdin_fd)
            self.mine.remove(self.stdin_fd)
            self.stdin_fd = None

    async def from_client(self, session) -> None:
        """kubectl's messages: stdin bytes to the process, sizes to the pty, stdin's close."""
        with contextlib.suppress(websocket.Closed, ConnectionError):
            while True:
                msg = await session.recv()
                if not msg:
                    continue
                if msg[0] == 0 and self.stdin_fd is not None:
                    await write_all(self.stdin_fd, msg[1:])
                elif msg[0] == 4 and self.tty:
                    stdio.resize(self.stdin_fd, msg[1:])
                    self.sized.done() or self.sized.set_result(None)
                elif msg[0] == 255 and msg[1:2] == b"\0":
                    self.close_stdin()
        if not self.tty and self.stdin_fd is not None:
            self.close_stdin()                  # kubectl went away: the process sees end of file

    async def pump(self, fd: int, channel: int, session) -> None:
        while True:
            try:
                data = os.read(fd, 1 << 16)
            except BlockingIOError:
                await readable(fd)
                continue
            except OSError:                     # EIO: the pty's last slave is closed
                return
            if not data:
                return
            await session.send(channel, data)


async def readable(fd: int) -> None:
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    loop.add_reader(fd, lambda: ready.done() or ready.set_result(None))
    try:
        await ready
    finally:
        loop.remove_reader(fd)


async def write_all(fd: int, data: bytes) -> None:
    loop = asyncio.get_running_loop()
    while data:
        try:
            data = data[os.write(fd, data):]
        except BlockingIOError:
            ready = loop.create_future()
            loop.add_writer(fd, lambda: ready.done() or ready.set_result(None))
            try:
                await ready
            finally:
                loop.remove_writer(fd)
        except OSError:                         # the process closed its stdin
            return


async def connect_shim(netns: str, name: str, timeout: float = 2.0):
    """A connection to the attach shim of container NAME (its socket is in the pod's network namespace)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        with nsfs.in_netns(netns):            # an abstract Unix socket's name lives in a network namespace
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, stdio.ATTACH_PREFIX + name)
            return await asyncio.open_unix_connection(sock=sock)
        except OSError as e:
            sock.close()
            if e.errno not in (errno.ECONNREFUSED, errno.ENOENT) or loop.time() > deadline:
                raise
            await asyncio.sleep(0.05)


async def relay_shim(session, shim_reader, shim_writer, stdin: bool) -> None:
    """kubectl <-> the shim until the container exits (the shim's EXIT) or kubectl goes."""
    if stdin:
        shim_writer.write(stdio.pack(stdio.HELLO))

    async def to_shim():
        with contextlib.suppress(websocket.Closed, ConnectionError):
            while True:
                msg = await session.recv()
                if msg and (msg[0] != stdio.STDIN or stdin):
                    shim_writer.write(stdio.pack(msg[0], msg[1:]))
                    await shim_writer.drain()

    upstream = asyncio.create_task(to_shim())
    code, buf = None, bytearray()
    try:
        while code is None and not upstream.done():
            data = await shim_reader.read(1 << 16)
            if not data:
                break
            buf += data
            for channel, payload in stdio.unpack(buf):
                if channel == stdio.EXIT:
                    code = int(payload or 0)
                elif channel in (stdio.STDOUT, stdio.STDERR):
                    await session.send(channel, payload)
    finally:
        upstream.cancel()
        shim_writer.close()
    await session.finish(0)
