"""pods/portforward on loopback, kubectl's side played with wire.spdy: the WebSocket tunnel and the plain SPDY
upgrade, bytes both ways with half-close, and the error stream's message for a closed port."""
import asyncio
import base64
import contextlib
import os

import pytest

from toycluster.node import portforward, stream_io, streaming
from toycluster.wire import http1, spdy
from toycluster.wire import websocket as ws
from test_streaming import Cfg, pod, run


@pytest.fixture
def streams(tmp_path, monkeypatch):
    monkeypatch.setattr(portforward.nsfs, "in_netns", lambda netns: contextlib.nullcontext())
    return streaming.Streams(Cfg(tmp_path), spawner=stream_io.local_spawner)


async def echo_server():
    async def echo(reader, writer):
        writer.write(b"banner\n")
        while data := await reader.read(1 << 16):
            writer.write(data)
        writer.close()
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def tunnel(streams, the_pod, websocket_=True):
    """The connection kubectl makes: answer (send(bytes), recv() -> bytes or None)."""
    async def handle(reader, writer):
        raw = await reader.readuntil(b"\r\n\r\n")
        await streams.portforward(the_pod, {}, http1.parse_head(raw[:-4]), reader, writer)
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
    key = base64.b64encode(os.urandom(16)).decode()
    upgrade = (f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {portforward.WS_PROTOCOL}\r\n" if websocket_ else
               "Upgrade: SPDY/3.1\r\nConnection: Upgrade\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\n")
    writer.write(f"POST /api/v1/namespaces/default/pods/p/portforward HTTP/1.1\r\nHost: x\r\n{upgrade}\r\n".encode())
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    assert " 101 " in head.split("\r\n")[0], head
    if not websocket_:
        async def raw_send(data):
            writer.write(data)
        return raw_send, lambda: reader.read(1 << 16)
    sock = ws.WebSocket(reader, writer, client=True)

    async def recv():
        with contextlib.suppress(ws.Closed):
            return (await sock.recv())[1]
        return b""
    return sock.send, recv


async def forward_once(streams, port, payload, websocket_=True):
    """One forwarded connection: PAYLOAD sent then FIN; answer {stream id: bytes} and the streams that ended."""
    send, recv = await tunnel(streams, pod(), websocket_)
    c = spdy.Codec()
    await send(c.syn_stream(1, {"streamType": "error", "port": str(port), "requestID": "0"}) +
               c.syn_stream(3, {"streamType": "data", "port": str(port), "requestID": "0"}) +
               c.data(1, b"", fin=True) + c.data(3, payload) + c.data(3, b"", fin=True) + c.ping(9))
    got, ended, replies, pong = {}, set(), set(), False
    while ended != {1, 3}:
        data = await recv()
        assert data, (got, ended)
        for f in c.feed(data):
            if f.type == spdy.SYN_REPLY:
                replies.add(f.stream)
            elif f.type == spdy.PING:
                pong = f.ping_id == 9
            elif f.type == spdy.DATA:
                got[f.stream] = got.get(f.stream, b"") + f.data
                if f.fin:
                    ended.add(f.stream)
    assert replies == {1, 3}
    return got, pong


@pytest.mark.parametrize("websocket_", [True, False])
def test_bytes_go_both_ways_and_the_pods_end_of_file_ends_the_stream(streams, websocket_):
    async def go():
        server, port = await echo_server()
        try:
            return await forward_once(streams, port, b"x" * 200_000, websocket_)
        finally:
            server.close()
    got, pong = run(go())
    assert got[3] == b"banner\n" + b"x" * 200_000 and not got.get(1) and pong


def test_a_closed_port_is_reported_on_the_error_stream(streams):
    async def go():
        server, port = await echo_server()
        server.close()
        await server.wait_closed()
        return await forward_once(streams, port, b"")
    got, _ = run(go())
    assert b"error forwarding port" in got[1] and b"connect: connection refused" in got[1]
