"""kubelet's streaming server: pods/exec, pods/attach, pods/log and pods/portforward, as the API server's
subresources hand them over (the router authenticates and finds the pod; api.streams[VERB] gets the connection).

exec and attach speak kubectl's channel protocol over WebSocket (v5.channel.k8s.io down to channel.k8s.io): one
channel byte per binary message, 0 stdin, 1 stdout, 2 stderr, 3 the error channel (a Status: Success, or
NonZeroExitCode with the exit code as its cause), 4 resize ({"Width", "Height"}), and in v5 255 to close a
stream (stdin's end of file); or over SPDY/3.1, a stream per channel (stream_channels.py). An exec's process is
forked by the fork server (zygote.py) into the pod's namespaces, as `toycluster exec` enters them, with a pty
(tty=true) or pipes handed over a Unix socket (stdio.receive); attach relays a `stdin: true` container's shim
(stdio.shim), or follows the output of others.
pods/log is logs.py's, pods/portforward portforward.py's.
"""
import asyncio
import contextlib
import itertools
import os
import shutil
import signal
import socket
import sys

from toycluster.node import logs, portforward
from toycluster.node.stream_channels import SPDY_PROTOCOLS, WS_PROTOCOLS, Channels, SpdyChannels
from toycluster.node.stream_io import Ends, Process, connect_shim, relay_shim
from toycluster.node.stream_request import StreamError, container_of, flag, refuse, running
from toycluster.wire import websocket

# The bin folder of the Python the kubelet runs on comes first, as `toycluster exec` puts it (lab/packets.exec_path):
# a pod's `python3` is then one that has scapy, whichever python3 the machine has.
PATH = os.path.dirname(sys.executable) + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
FIRST_RESIZE_WAIT = 0.3       # a tty exec waits this long for kubectl's first size before starting its command
NOT_FOUND = ("error executing command in container: failed to exec in container: OCI runtime exec failed: exec failed: "
             'unable to start container process: exec: "{0}": {1}: unknown')
DRAIN = 1.0                   # output still read after the process exits (not what a background child keeps)


def container_env(pod: dict, container: dict, tty: bool) -> dict:
    """What the container's process sees: PATH, HOSTNAME, its env (field references resolved), TERM with a tty."""
    meta, spec, st = pod["metadata"], pod["spec"], pod.get("status", {})
    refs = {"metadata.name": meta["name"], "metadata.namespace": meta["namespace"], "status.podIP": st.get("podIP"),
            "spec.nodeName": spec.get("nodeName"), "status.hostIP": st.get("hostIP")}
    env = {"PATH": PATH, "HOSTNAME": hostname(pod)}
    for e in container.get("env") or []:
        ref = (e.get("valueFrom") or {}).get("fieldRef", {}).get("fieldPath")
        env[e["name"]] = str(refs.get(ref) or "") if ref else str(e.get("value", ""))
    if tty:
        env["TERM"] = "xterm"
    return env


def findable(command: str, path: str) -> bool:
    """COMMAND can be executed (a path, or a name found on PATH): pods here see the machine's files."""
    if "/" in command:
        return os.access(command, os.X_OK) and not os.path.isdir(command)
    return shutil.which(command, path=path) is not None


async def drain(session) -> None:
    """Read (and drop) what the client sends until it goes."""
    with contextlib.suppress(websocket.Closed, ConnectionError):
        while True:
            await session.recv()


def wanted(query: dict) -> tuple[bool, dict]:
    """A session's tty flag, and which of stdin (0), stdout (1) and stderr (2) it asks for (no stderr with a tty)."""
    tty = flag(query, "tty")
    return tty, {0: flag(query, "stdin"), 1: flag(query, "stdout", True), 2: flag(query, "stderr", True) and not tty}


def hostname(pod: dict) -> str:
    return pod["spec"].get("hostname", pod["metadata"]["name"])[:63]


class Streams:
    """The streaming handlers of one cluster's kubelets: exec, attach, log, portforward (api.streams)."""

    def __init__(self, cfg, zygote=None, spawner=None, store=None):
        self.cfg, self.zygote, self.store = cfg, zygote, store
        self.spawner = spawner or self.zygote_spawn
        self.ids = itertools.count(1)

    def handlers(self) -> dict:
        return {"exec": self.exec, "attach": self.attach, "log": self.log, "portforward": self.portforward}

    def pod_now(self, pod: dict) -> dict | None:
        """The pod as the store has it now (POD itself without a store)."""
        if self.store is None:
            return pod
        return self.store.get("Pod", pod["metadata"]["namespace"], pod["metadata"]["name"])

    async def zygote_spawn(self, pod, container, argv, fds, tty, env) -> Process:
        """Fork ARGV into the pod's namespaces through the fork server, handing it FDS over a Unix socket."""
        path = f"{self.cfg.state_dir}/exec-{os.getpid()}-{next(self.ids)}.sock"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(path)
            listener.listen(1)
            listener.setblocking(False)
            netns = self.cfg.pod_ns(pod["metadata"]["namespace"], pod["metadata"]["name"])
            info = {"name": pod["metadata"]["name"], "namespace": pod["metadata"]["namespace"],
                    "hostname": hostname(pod), "ip": pod.get("status", {}).get("podIP")}
            answer = await self.zygote.request("fork", netns=netns, kind="exec", what=argv, spec={"name": "exec"},
                                               info=info, env=env, log=os.devnull, stdio=path, tty=tty)
            conn, _ = await asyncio.wait_for(asyncio.get_running_loop().sock_accept(listener), 5)
            with conn:
                conn.setblocking(True)
                socket.send_fds(conn, [b"x"], fds)
        finally:
            listener.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        return Process(answer["pid"], lambda pid: self.zygote.exit_code(pid, wait=1.0))

    async def upgrade(self, head, reader, writer, query: dict):
        """Switch to WebSocket, or SPDY/3.1, with the best channel protocol offered: Channels or SpdyChannels; None
        (refused, connection closed) for anything else."""
        upgrade = head.header(b"upgrade").strip().lower()
        spdy_ = upgrade == b"spdy/3.1"
        if not spdy_ and not websocket.is_upgrade(upgrade, head.header(b"connection")):
            await refuse(writer, 400, "Upgrade request required (WebSocket or SPDY/3.1)")
            return None
        supported = SPDY_PROTOCOLS if spdy_ else WS_PROTOCOLS
        offered = websocket.offered_protocols(head.header(b"x-stream-protocol-version" if spdy_ else
                                                          b"sec-websocket-protocol"))
        chosen = next((p for p in offered if p in supported), None)
        if offered and chosen is None:
            await refuse(writer, 403, f"unable to upgrade: unable to negotiate protocol: client supports {offered}, "
                                      f"server supports {list(supported)}")
            return None
        if not spdy_:
            writer.write(websocket.handshake(head.header(b"sec-websocket-key"), chosen))
            return Channels(websocket.WebSocket(reader, writer, protocol=chosen))
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n" +
                     (f"X-Stream-Protocol-Version: {chosen}\r\n" if chosen else "").encode() + b"\r\n")
        session = SpdyChannels(reader, writer, chosen)
        tty, want = wanted(query)
        try:
            await session.open({3} | {c for c, on in want.items() if on} | ({4} if tty and session.version >= 3
                                                                            else set()))
        except (websocket.Closed, asyncio.TimeoutError):
            writer.close()
            return None
        return session

    # -- exec ------------------------------------------------------------------------------------------
    async def exec(self, pod, query, head, reader, writer) -> None:
        try:
            container = container_of(pod, query)
            running(pod, container)
            argv = query.get("command") or []
            if not argv:
                raise StreamError(400, "you must specify at least one command for the container")
        except StreamError as e:
            await refuse(writer, e.code, str(e))
            return
        tty, want = wanted(query)
        session = await self.upgrade(head, reader, writer, query)
        if session is None:
            return
        env = container_env(pod, container, tty)
        if not findable(argv[0], env["PATH"]):
            why = (f"stat {argv[0]}: no such file or directory" if "/" in argv[0]
                   else "executable file not found in $PATH")
            await session.finish(None, NOT_FOUND.format(argv[0], why))
            return
        ends = Ends(tty, want)
        reading = asyncio.create_task(ends.from_client(session))
        try:
            if tty:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.shield(ends.sized), FIRST_RESIZE_WAIT)
            try:
                proc = await self.spawner(pod, container, argv, ends.theirs, tty, env)
            finally:
                ends.close_theirs()
            pumps = [asyncio.create_task(ends.pump(fd, ch, session)) for fd, ch in ends.outputs.items()]
            exited = asyncio.create_task(proc.wait())
            await asyncio.wait([exited, reading], return_when=asyncio.FIRST_COMPLETED)
            if tty and not exited.done():       # kubectl went: the terminal hangs up, as a closed pty master does
                with contextlib.suppress(OSError):
                    os.killpg(proc.pid, signal.SIGHUP)
            code = await exited
            await asyncio.wait(pumps, timeout=DRAIN)
            for p in pumps:
                p.cancel()
            await session.finish(code)
        except (OSError, RuntimeError, asyncio.TimeoutError) as e:
            await session.finish(None, f"error executing command {argv}: {e}")
        finally:
            reading.cancel()
            ends.close()

    # -- attach ----------------------------------------------------------------------------------------
    async def attach(self, pod, query, head, reader, writer) -> None:
        try:
            container = container_of(pod, query)
            running(pod, container)
        except StreamError as e:
            await refuse(writer, e.code, str(e))
            return
        session = await self.upgrade(head, reader, writer, query)
        if session is None:
            return
        if not container.get("stdin"):            # nothing to type into: the output, as it comes
            path = logs.log_path(self.cfg, pod, container["name"], False)
            listening = asyncio.create_task(drain(session))      # pings answered; kubectl's going noticed
            await logs.follow_output(path, lambda data: session.send(1, data),
                                     lambda: logs.still_running(self.pod_now(pod), container["name"]),
                                     until=listening.done)
            listening.cancel()
            await session.finish(0)
            return
        netns = self.cfg.pod_ns(pod["metadata"]["namespace"], pod["metadata"]["name"])
        try:
            shim_reader, shim_writer = await connect_shim(netns, container["name"])
        except OSError as e:
            await session.finish(None, f"unable to attach to container {container['name']}: {e}")
            return
        await relay_shim(session, shim_reader, shim_writer, flag(query, "stdin"))

    async def log(self, pod, query, head, reader, writer) -> None:
        await logs.serve(self.cfg, pod, query, writer, self.pod_now)

    async def portforward(self, pod, query, head, reader, writer) -> None:
        if pod.get("status", {}).get("phase") != "Running" or not pod["status"].get("podIP"):
            await refuse(writer, 400, f'pod {pod["metadata"]["name"]} is not running')
            return
        netns = self.cfg.pod_ns(pod["metadata"]["namespace"], pod["metadata"]["name"])
        if not await portforward.serve(pod, netns, head, reader, writer):
            await refuse(writer, 400, "Upgrade request required (WebSocket with subprotocol "
                                      f"{portforward.WS_PROTOCOL}, or SPDY/3.1)")
