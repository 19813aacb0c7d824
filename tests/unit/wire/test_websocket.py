"""WebSocket (RFC 6455): the accept key, frames (lengths, masking), fragmented messages, ping/pong and close."""
import asyncio
import struct

import pytest

from toycluster.wire import websocket as ws


def test_accept_key_is_the_rfcs_example():
    # RFC 6455 section 1.3
    assert ws.accept_key(b"dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_handshake_names_the_chosen_subprotocol():
    answer = ws.handshake(b"dGhlIHNhbXBsZSBub25jZQ==", "v5.channel.k8s.io").decode()
    assert answer.startswith("HTTP/1.1 101 Switching Protocols\r\n")
    assert "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" in answer
    assert "Sec-WebSocket-Protocol: v5.channel.k8s.io\r\n" in answer and answer.endswith("\r\n\r\n")
    assert "Sec-WebSocket-Protocol" not in ws.handshake(b"x", None).decode()


def test_offered_protocols_and_upgrade_check():
    assert ws.offered_protocols(b"v5.channel.k8s.io, v4.channel.k8s.io,") == ["v5.channel.k8s.io",
                                                                               "v4.channel.k8s.io"]
    assert ws.is_upgrade(b"WebSocket", b"keep-alive, Upgrade")
    assert not ws.is_upgrade(b"SPDY/3.1", b"Upgrade")
    assert not ws.is_upgrade(b"websocket", b"keep-alive")


def test_masking_is_its_own_inverse():
    data, key = bytes(range(256)) * 3, b"\x01\x02\x03\x04"
    assert ws.mask(ws.mask(data, key), key) == data
    assert ws.mask(b"\x00\x00\x00\x00\x00", key) == b"\x01\x02\x03\x04\x01"
    assert ws.mask(b"", key) == b""


def reader_of(data: bytes) -> asyncio.StreamReader:
    r = asyncio.StreamReader()
    r.feed_data(data)
    r.feed_eof()
    return r


@pytest.mark.parametrize("n", [0, 125, 126, 65535, 65536, 70000])
def test_frame_lengths_round_trip(n):
    payload = bytes(i % 251 for i in range(n))

    async def go():
        raw = ws.frame(ws.BINARY, payload, masked=True)
        assert raw[1] & 0x80
        return await ws.read_frame(reader_of(raw), want_mask=True)
    assert asyncio.run(go()) == (True, ws.BINARY, payload)
    head = ws.frame(ws.BINARY, payload)[:2]
    assert head[1] == (n if n < 126 else 126 if n < 65536 else 127)


def test_server_refuses_unmasked_client_frames_and_reserved_bits():
    async def go(raw):
        with pytest.raises(ws.Closed) as e:
            await ws.read_frame(reader_of(raw), want_mask=True)
        return e.value.code
    assert asyncio.run(go(ws.frame(ws.BINARY, b"x"))) == ws.PROTOCOL_ERROR
    assert asyncio.run(go(b"\xc2\x80abcd")) == ws.PROTOCOL_ERROR       # RSV1 set
    assert asyncio.run(go(b"\x82\x85ab")) == 1006                       # the connection ends mid-frame


class Wire:
    """A writer that records what is written (what the server sends)."""

    def __init__(self):
        self.data = bytearray()

    def write(self, b):
        self.data += b

    async def drain(self):
        pass

    def close(self):
        pass


async def frames_of(data: bytes) -> list:
    r, out = reader_of(bytes(data)), []
    while True:
        try:
            out.append(await ws.read_frame(r, want_mask=False))
        except ws.Closed:
            return out


def test_fragments_are_joined_and_pings_answered_between_them():
    incoming = (ws.frame(ws.BINARY, b"\x01hel", masked=True, fin=False) + ws.frame(ws.PING, b"p1", masked=True)
                + ws.frame(ws.CONT, b"lo ", masked=True, fin=False) + ws.frame(ws.CONT, b"world", masked=True)
                + ws.frame(ws.TEXT, b"second", masked=True))

    async def go():
        wire = Wire()
        sock = ws.WebSocket(reader_of(incoming), wire)
        first, second = await sock.recv(), await sock.recv()
        return first, second, await frames_of(wire.data)
    first, second, sent = asyncio.run(go())
    assert first == (ws.BINARY, b"\x01hello world") and second == (ws.TEXT, b"second")
    assert sent == [(True, ws.PONG, b"p1")]


def test_a_close_is_answered_with_the_same_code_and_raised():
    incoming = ws.frame(ws.CLOSE, struct.pack("!H", 1001) + b"bye", masked=True)

    async def go():
        wire = Wire()
        sock = ws.WebSocket(reader_of(incoming), wire)
        with pytest.raises(ws.Closed) as e:
            await sock.recv()
        with pytest.raises(ws.Closed):
            await sock.send(b"late")
        return e.value, await frames_of(wire.data)
    err, sent = asyncio.run(go())
    assert (err.code, err.reason) == (1001, "bye")
    assert sent == [(True, ws.CLOSE, struct.pack("!H", 1001))]


def test_a_continuation_without_a_start_is_a_protocol_error():
    async def go():
        wire = Wire()
        with pytest.raises(ws.Closed) as e:
            await ws.WebSocket(reader_of(ws.frame(ws.CONT, b"x", masked=True)), wire).recv()
        return e.value.code, await frames_of(wire.data)
    code, sent = asyncio.run(go())
    assert code == ws.PROTOCOL_ERROR and sent[0][1] == ws.CLOSE


def test_the_client_side_masks_what_it_sends():
    async def go():
        wire = Wire()
        await ws.WebSocket(reader_of(b""), wire, client=True).send(b"\x00abc")
        return await ws.read_frame(reader_of(bytes(wire.data)), want_mask=True)
    assert asyncio.run(go()) == (True, ws.BINARY, b"\x00abc")
