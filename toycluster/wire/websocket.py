"""WebSocket (RFC 6455), the transport of kubectl's exec, attach and port-forward: the opening handshake's
accept key and subprotocol choice, frames read and written (masking, fragmented messages, ping/pong, close),
on asyncio streams.

The server side is what the kubelet's streaming server needs: WebSocket(reader, writer) after the 101 answer;
recv() returns whole data messages (answering pings and the peer's close on its own), send() writes one. A client
side (client=True: its frames are masked, as a browser's or kubectl's are) serves the tests.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import struct

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
NORMAL, GOING_AWAY, PROTOCOL_ERROR, TOO_BIG = 1000, 1001, 1002, 1009
MAX_MESSAGE = 16 << 20          # a data message larger than this is refused (close 1009)


class Closed(Exception):
    """The connection is closed: CODE is the close code the peer sent (or 1006 if it just went away)."""

    def __init__(self, code: int = 1006, reason: str = ""):
        super().__init__(f"websocket closed ({code}{': ' + reason if reason else ''})")
        self.code, self.reason = code, reason


def accept_key(key: bytes) -> str:
    """Sec-WebSocket-Accept for a client's Sec-WebSocket-Key."""
    return base64.b64encode(hashlib.sha1(key.strip() + GUID).digest()).decode()


def offered_protocols(value: bytes) -> list[str]:
    """The subprotocols a Sec-WebSocket-Protocol header offers, in the client's order."""
    return [p.strip() for p in value.decode("latin-1").split(",") if p.strip()]


def is_upgrade(upgrade: bytes, connection: bytes) -> bool:
    """An `Upgrade: websocket` request (with `Connection: Upgrade`)."""
    return upgrade.strip().lower() == b"websocket" and b"upgrade" in connection.lower()


def handshake(key: bytes, protocol: str | None) -> bytes:
    """The server's 101 Switching Protocols answer."""
    lines = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Accept: {accept_key(key)}"]
    if protocol:
        lines.append(f"Sec-WebSocket-Protocol: {protocol}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def mask(data: bytes, key: bytes) -> bytes:
    """DATA XORed with the 4-byte masking KEY (masking and unmasking are the same operation)."""
    n = len(data)
    if not n:
        return b""
    keys = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(keys, "big")).to_bytes(n, "big")


def frame(opcode: int, payload: bytes, masked: bool = False, fin: bool = True) -> bytes:
    """One frame on the wire."""
    n = len(payload)
    first = (0x80 if fin else 0) | opcode
    bit = 0x80 if masked else 0
    if n < 126:
        head = struct.pack("!BB", first, bit | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", first, bit | 126, n)
    else:
        head = struct.pack("!BBQ", first, bit | 127, n)
    if masked:
        key = os.urandom(4)
        return head + key + mask(payload, key)
    return head + payload


async def read_frame(reader: asyncio.StreamReader, want_mask: bool | None = True) -> tuple[bool, int, bytes]:
    """(fin, opcode, unmasked payload) of the next frame. WANT_MASK: frames must be masked (a server reading a
    client), must not be (True/False), or either (None). Raises Closed(1002) on a protocol error, Closed(1006)
    when the connection ends."""
    try:
        b1, b2 = await reader.readexactly(2)
        n = b2 & 0x7F
        if n == 126:
            n = struct.unpack("!H", await reader.readexactly(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", await reader.readexactly(8))[0]
        masked = bool(b2 & 0x80)
        if b1 & 0x70 or (want_mask is not None and masked != want_mask):
            raise Closed(PROTOCOL_ERROR, "reserved bits set" if b1 & 0x70 else "wrong masking")
        opcode = b1 & 0x0F
        if opcode >= 0x8 and (n > 125 or not b1 & 0x80):
            raise Closed(PROTOCOL_ERROR, "bad control frame")
        if n > MAX_MESSAGE:
            raise Closed(TOO_BIG, "frame too big")
        key = await reader.readexactly(4) if masked else b""
        payload = await reader.readexactly(n)
    except (asyncio.IncompleteReadError, ConnectionError):
        raise Closed(1006) from None
    return bool(b1 & 0x80), opcode, mask(payload, key) if masked else payload


class WebSocket:
    """One open WebSocket connection. recv() -> (opcode, message) for TEXT and BINARY messages, fragments joined;
    pings are answered, and a close from the peer is answered and raised as Closed. send() writes one message."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, client: bool = False,
                 protocol: str | None = None):
        self.reader, self.writer, self.client, self.protocol = reader, writer, client, protocol
        self.closed = False          # we sent our close frame
        self.lock = asyncio.Lock()

    async def _write(self, data: bytes) -> None:
        async with self.lock:
            self.writer.write(data)
            await self.writer.drain()

    async def send(self, payload: bytes, opcode: int = BINARY) -> None:
        if self.closed:
            raise Closed(1006, "closing")
        try:
            await self._write(frame(opcode, payload, masked=self.client))
        except (ConnectionError, RuntimeError) as e:
            raise Closed(1006, str(e)) from None

    async def ping(self, payload: bytes = b"") -> None:
        await self.send(payload, PING)

    async def recv(self) -> tuple[int, bytes]:
        parts, opcode = [], None
        while True:
            try:
                fin, op, payload = await read_frame(self.reader, want_mask=None if self.client else True)
            except Closed as e:
                if e.code != 1006:
                    await self.close(e.code, e.reason)
                raise
            if op == PING:
                await self._write(frame(PONG, payload, masked=self.client))
                continue
            if op == PONG:
                continue
            if op == CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                await self.close(NORMAL if code == 1005 else code)
                raise Closed(code, payload[2:].decode("utf-8", "replace"))
            if (op == CONT) == (opcode is None) or op not in (CONT, TEXT, BINARY):
                await self.close(PROTOCOL_ERROR)
                raise Closed(PROTOCOL_ERROR, "bad fragment sequence")
            opcode = op if opcode is None else opcode
            parts.append(payload)
            if sum(map(len, parts)) > MAX_MESSAGE:
                await self.close(TOO_BIG)
                raise Closed(TOO_BIG, "message too big")
            if fin:
                return opcode, b"".join(parts)

    async def close(self, code: int = NORMAL, reason: str = "") -> None:
        """Send our close frame (once); the caller closes the transport."""
        if self.closed:
            return
        self.closed = True
        try:
            await self._write(frame(CLOSE, struct.pack("!H", code) + reason.encode()[:123], masked=self.client))
        except (ConnectionError, RuntimeError):
            pass
