"""kubelet's pods/portforward, as kubectl 1.37 speaks it: SPDY/3.1 tunnelled in WebSocket binary messages
(subprotocol "SPDY/3.1+portforward.k8s.io"), or SPDY straight after an `Upgrade: SPDY/3.1` (kubectl's fallback).

Per forwarded connection kubectl opens two streams with the same requestID header: "error" and "data", each
naming the pod's port. Once both are there the kubelet connects to 127.0.0.1:PORT inside the pod's network
namespace and copies bytes both ways; the data stream's FIN half-closes the pod connection, the pod's end of
file is the data stream's FIN; a failure to connect is written on the error stream (upstream's words), which
kubectl prints. Pings are answered.
"""
import asyncio
import contextlib
import os
import socket

from toycluster.kernel import nsfs
from toycluster.wire import spdy, websocket

WS_PROTOCOL = "SPDY/3.1+portforward.k8s.io"
SPDY_UPGRADE = (b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
                b"X-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n")


async def connect_in(netns: str | None, port: int):
    """A TCP connection to 127.0.0.1:PORT inside network namespace NETNS (None: this one)."""
    with nsfs.in_netns(netns) if netns else contextlib.nullcontext():
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port)), 5)
    except BaseException:
        sock.close()
        raise
    return await asyncio.open_connection(sock=sock)


class Forwarder:
    """One port-forward connection: SPDY frames in from RECV(), out through SEND(bytes)."""

    def __init__(self, pod: dict, netns: str | None, send):
        self.pod, self.netns, self.send = pod, netns, send
        self.codec = spdy.Codec()
        self.pairs: dict[str, dict] = {}          # requestID -> {"error": id, "data": id, "port": n}
        self.streams: dict[int, dict] = {}        # data stream id -> {"writer", "early": [bytes], "fin"}
        self.tasks: set[asyncio.Task] = set()
        self.lock = asyncio.Lock()

    async def out(self, data: bytes) -> None:
        async with self.lock:
            await self.send(data)

    async def run(self, recv) -> None:
        """Until RECV() answers None (the connection's end) or the peer's GOAWAY."""
        try:
            while True:
                data = await recv()
                if data is None:
                    break
                for frame in self.codec.feed(data):
                    if not await self.on_frame(frame):
                        return
        except spdy.ProtocolError:
            with contextlib.suppress(Exception):
                await self.out(self.codec.goaway(0, spdy.PROTOCOL_ERROR))
        finally:
            for task in self.tasks:
                task.cancel()
            for s in self.streams.values():
                if s["writer"] is not None:
                    s["writer"].close()

    async def on_frame(self, f: spdy.Frame) -> bool:
        """Handle one frame; False once the peer says GOAWAY."""
        if f.type == spdy.SYN_STREAM:
            await self.out(self.codec.syn_reply(f.stream))
            kind, port, rid = (f.headers.get(k, [""])[0] for k in ("streamtype", "port", "requestid"))
            pair = self.pairs.setdefault(rid, {})
            pair[kind] = f.stream
            pair.setdefault("port", port)
            if kind == "data":
                self.streams[f.stream] = {"writer": None, "early": [], "fin": False}
            if "data" in pair and "error" in pair and "task" not in pair:
                pair["task"] = task = asyncio.create_task(self.forward(rid, pair))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
        elif f.type == spdy.DATA and f.stream in self.streams:
            s = self.streams[f.stream]
            if s["writer"] is None:
                s["early"].append(f.data)
            elif f.data:
                s["writer"].write(f.data)
                with contextlib.suppress(ConnectionError):
                    await s["writer"].drain()
            if f.fin:
                s["fin"] = True
                if s["writer"] is not None and s["writer"].can_write_eof():
                    with contextlib.suppress(OSError):
                        s["writer"].write_eof()
        elif f.type == spdy.RST_STREAM and f.stream in self.streams:
            s = self.streams.pop(f.stream)
            if s["writer"] is not None:
                s["writer"].close()
        elif f.type == spdy.PING:
            await self.out(self.codec.ping(f.ping_id))
        elif f.type == spdy.GOAWAY:
            return False
        return True

    async def forward(self, rid: str, pair: dict) -> None:
        """Connect to the pod's port and copy the pod's bytes into the data stream."""
        data_id, error_id = pair["data"], pair["error"]
        s = self.streams.get(data_id)
        try:
            port = int(pair["port"])
            reader, writer = await connect_in(self.netns, port)
        except (ValueError, OSError, asyncio.TimeoutError) as e:
            meta = self.pod["metadata"]
            why = os.strerror(e.errno).lower() if isinstance(e, OSError) and e.errno else str(e) or "i/o timeout"
            message = (f"error forwarding port {pair['port']} to pod {meta['name']}, uid {meta.get('uid', '')}: "
                       f"failed to connect to localhost:{pair['port']} inside namespace \"{self.netns}\": "
                       f"dial tcp4 127.0.0.1:{pair['port']}: connect: {why}")
            await self.out(self.codec.data(error_id, message.encode(), fin=True))
            await self.out(self.codec.data(data_id, b"", fin=True))
            return
        if s is None:                        # reset while we connected
            writer.close()
            return
        s["writer"] = writer
        for chunk in s.pop("early"):
            writer.write(chunk)
        if s["fin"] and writer.can_write_eof():
            writer.write_eof()
        try:
            while True:
                data = await reader.read(1 << 16)
                if not data or data_id not in self.streams:
                    break
                await self.out(self.codec.data(data_id, data))
            if data_id in self.streams:
                await self.out(self.codec.data(data_id, b"", fin=True))
                await self.out(self.codec.data(error_id, b"", fin=True))
        except (ConnectionError, websocket.Closed):
            pass
        finally:
            writer.close()
            self.pairs.pop(rid, None)


async def serve(pod: dict, netns: str | None, head, reader, writer) -> bool:
    """Serve a port-forward request whose head is HEAD; False if it is neither of kubectl's upgrades."""
    upgrade = head.header(b"upgrade").strip().lower()
    if websocket.is_upgrade(upgrade, head.header(b"connection")):
        if WS_PROTOCOL not in websocket.offered_protocols(head.header(b"sec-websocket-protocol")):
            return False
        writer.write(websocket.handshake(head.header(b"sec-websocket-key"), WS_PROTOCOL))
        ws = websocket.WebSocket(reader, writer, protocol=WS_PROTOCOL)

        async def recv() -> bytes | None:
            try:
                return (await ws.recv())[1]
            except websocket.Closed:
                return None
        await Forwarder(pod, netns, ws.send).run(recv)
        await ws.close()
    elif upgrade == b"spdy/3.1":
        writer.write(SPDY_UPGRADE)

        async def send(data: bytes) -> None:
            writer.write(data)
            await writer.drain()

        async def recv() -> bytes | None:
            return await reader.read(1 << 16) or None
        with contextlib.suppress(ConnectionError):
            await Forwarder(pod, netns, send).run(recv)
    else:
        return False
    writer.close()
    return True
