"""SPDY/3.1 framing as kubectl's port-forward uses it: the header dictionary, header blocks in one compression
context per direction, data frames with FIN, pings, frames split anywhere, refusals."""
import struct
import zlib

import pytest

from toycluster.wire import spdy


def test_the_dictionary_is_spdy3s():
    assert len(spdy.DICTIONARY) == 1423 and zlib.adler32(spdy.DICTIONARY) == 0xE3C6A7C2
    assert spdy.DICTIONARY.startswith(b"\0\0\0\x07options\0\0\0\x04head") and spdy.DICTIONARY.endswith(b",*,enq=0.")


def test_syn_streams_headers_survive_a_shared_compression_context():
    client, server = spdy.Codec(), spdy.Codec()
    wire = b"".join(client.syn_stream(i, {"streamType": kind, "port": "80", "requestID": "0"})
                    for i, kind in ((1, "error"), (3, "data")))
    frames = server.feed(wire)
    assert [(f.type, f.stream) for f in frames] == [(spdy.SYN_STREAM, 1), (spdy.SYN_STREAM, 3)]
    assert frames[1].headers == {"streamtype": ["data"], "port": ["80"], "requestid": ["0"]}
    reply = client.feed(server.syn_reply(3))[0]
    assert (reply.type, reply.stream, reply.headers) == (spdy.SYN_REPLY, 3, {})


def test_data_frames_split_anywhere_and_fin():
    client, server = spdy.Codec(), spdy.Codec()
    wire = client.data(3, b"hello") + client.data(3, b"", fin=True) + client.ping(7)
    frames = []
    for i in range(len(wire)):
        frames += server.feed(wire[i:i + 1])
    assert [(f.type, f.stream, f.data, f.fin) for f in frames[:2]] == [(spdy.DATA, 3, b"hello", False),
                                                                       (spdy.DATA, 3, b"", True)]
    assert frames[2].type == spdy.PING and frames[2].ping_id == 7


def test_rst_goaway_and_window_update_are_read():
    c = spdy.Codec()
    frames = c.feed(c.rst(5, spdy.CANCEL) + c.goaway(9, 0) + c.control(spdy.WINDOW_UPDATE, struct.pack("!II", 3, 1000)))
    assert [(f.type, f.stream, f.status, f.delta) for f in frames] == [
        (spdy.RST_STREAM, 5, spdy.CANCEL, 0), (spdy.GOAWAY, 9, 0, 0), (spdy.WINDOW_UPDATE, 3, 0, 1000)]


def test_other_versions_and_huge_frames_are_refused():
    with pytest.raises(spdy.ProtocolError):
        spdy.Codec().feed(struct.pack("!HHI", 0x8002, spdy.PING, 4) + b"\0\0\0\1")
    with pytest.raises(spdy.ProtocolError):
        spdy.Codec().feed(struct.pack("!II", 1, 0xFFFFFF))
