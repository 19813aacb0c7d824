"""kubelet's streaming server: the channels of an exec or attach session, over WebSocket (what kubectl 1.37 uses)
or over SPDY/3.1 (client-go's SPDY executor: older kubectl, tools built on client-go, kubectl's fallback).

Both sides look the same to the session: recv() -> one message, its first byte the channel (0 stdin, 4 resize,
255 + channel: that stream's end), raising websocket.Closed at the end; send(channel, bytes) for 1 stdout and
2 stderr; finish(exit code or None, message) writes the error channel's last word (v4 and later: a Status) and
closes. Over SPDY each channel is a stream the client opens with a `streamType` header (error, stdin, stdout,
stderr, resize); the resize stream carries JSON objects one after the other.
"""
import asyncio
import json

from toycluster.wire import spdy, websocket

WS_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io")
SPDY_PROTOCOLS = WS_PROTOCOLS[1:]
STREAM_TYPES = {"stdin": 0, "stdout": 1, "stderr": 2, "error": 3, "resize": 4}


def version_of(protocol: str | None) -> int:
    p = protocol or ""
    return int(p[1]) if p[:1] == "v" and p[1:2].isdigit() else 1


def status_of(code: int | None, message: str = "") -> dict:
    """The error channel's Status: Success, NonZeroExitCode with the exit code as its cause, or InternalError."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    if code is not None:
        return {"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
                "message": f"command terminated with non-zero exit code: exit status {code}",
                "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}
    return {"metadata": {}, "status": "Failure", "reason": "InternalError", "code": 500,
            "message": f"Internal error occurred: {message}", "details": {"causes": [{"message": message}]}}


def error_word(version: int, code: int | None, message: str) -> bytes:
    """What the error channel carries at the end: a Status from v4 on, before it only a failure's text."""
    st = status_of(code, message)
    if version >= 4:
        return json.dumps(st).encode()
    return b"" if code == 0 else (message or st["message"]).encode()


class Channels:
    """A channel-protocol session over a WebSocket: one channel byte before each binary message."""

    def __init__(self, ws: websocket.WebSocket):
        self.ws, self.version, self.alive = ws, version_of(ws.protocol), True

    async def recv(self) -> bytes:
        return (await self.ws.recv())[1]

    async def send(self, channel: int, data: bytes) -> None:
        if self.alive:
            try:
                await self.ws.send(bytes([channel]) + data)
            except websocket.Closed:
                self.alive = False

    async def finish(self, code: int | None, message: str = "") -> None:
        word = error_word(self.version, code, message)
        if word:
            await self.send(3, word)
        await self.ws.close()
        self.ws.writer.close()


class SpdyChannels:
    """A channel-protocol session over SPDY/3.1: one stream per channel, opened by the client."""

    def __init__(self, reader, writer, protocol: str):
        self.reader, self.writer, self.version = reader, writer, version_of(protocol)
        self.codec, self.ids, self.names = spdy.Codec(), {}, {}      # channel -> stream id, and back
        self.pending: list[bytes] = []
        self.resize_buf, self.alive = b"", True

    async def out(self, data: bytes) -> None:
        try:
            self.writer.write(data)
            await self.writer.drain()
        except (ConnectionError, RuntimeError):
            self.alive = False

    async def open(self, expected: set[int], timeout: float = 10.0) -> None:
        """Wait for the client's streams (error plus those the request asked for), answering each."""
        async def until_open():
            while not expected <= set(self.ids):
                await self._read()
        await asyncio.wait_for(until_open(), timeout)

    async def _read(self) -> None:
        data = await self.reader.read(1 << 16)
        if not data:
            raise websocket.Closed(1006)
        try:
            frames = self.codec.feed(data)
        except spdy.ProtocolError as e:
            raise websocket.Closed(websocket.PROTOCOL_ERROR, str(e)) from None
        for f in frames:
            if f.type == spdy.SYN_STREAM:
                await self.out(self.codec.syn_reply(f.stream))
                channel = STREAM_TYPES.get((f.headers.get("streamtype") or [""])[0])
                if channel is not None:
                    self.ids[channel], self.names[f.stream] = f.stream, channel
            elif f.type == spdy.DATA and f.stream in self.names:
                self._data(self.names[f.stream], f.data, f.fin)
            elif f.type == spdy.PING:
                await self.out(self.codec.ping(f.ping_id))
            elif f.type == spdy.GOAWAY:
                raise websocket.Closed(websocket.NORMAL)

    def _data(self, channel: int, data: bytes, fin: bool) -> None:
        if channel == 4:                            # resize: {"Width":..,"Height":..}{"Width":..}...
            self.resize_buf += data
            decoder, text = json.JSONDecoder(), self.resize_buf.decode("utf-8", "replace").lstrip()
            while text:
                try:
                    obj, end = decoder.raw_decode(text)
                except ValueError:
                    break
                self.pending.append(b"\x04" + json.dumps(obj).encode())
                text = text[end:].lstrip()
            self.resize_buf = text.encode()
        elif data:
            self.pending.append(bytes([channel]) + data)
        if fin:
            self.pending.append(bytes([255, channel]))

    async def recv(self) -> bytes:
        while not self.pending:
            await self._read()
        return self.pending.pop(0)

    async def send(self, channel: int, data: bytes) -> None:
        if self.alive and channel in self.ids and data:
            await self.out(self.codec.data(self.ids[channel], data))

    async def finish(self, code: int | None, message: str = "") -> None:
        word = error_word(self.version, code, message)
        for channel in (1, 2, 3):
            if channel in self.ids:
                await self.out(self.codec.data(self.ids[channel], word if channel == 3 else b"", fin=True))
        await self.out(self.codec.goaway(max(self.names, default=0)))
        self.writer.close()
