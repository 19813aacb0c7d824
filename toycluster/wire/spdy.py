"""SPDY/3.1 (draft-mbelshe-httpbis-spdy-00, as moby/spdystream speaks it), the framing under kubectl's
port-forward: control and data frames, header blocks compressed with zlib and SPDY/3's dictionary (one
compression context per direction for the whole connection).

Codec.feed(bytes) -> the whole frames received so far; the other methods render the frames a server sends
(SYN_REPLY, DATA, RST_STREAM, PING, GOAWAY). Flow control is not kept: spdystream neither sends WINDOW_UPDATE nor
waits for one.
"""
from __future__ import annotations

import struct
import zlib

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
DATA = 0                                      # not a control type: what Frame.type says for a data frame
FLAG_FIN = 0x01
PROTOCOL_ERROR, INVALID_STREAM, REFUSED_STREAM, CANCEL, INTERNAL_ERROR = 1, 2, 3, 5, 6
MAX_FRAME = 8 << 20            # a larger frame ends the connection (kubectl writes 32 KiB at a time)

_WORDS = ("options head post put delete trace accept accept-charset accept-encoding accept-language accept-ranges "
          "age allow authorization cache-control connection content-base content-encoding content-language "
          "content-length content-location content-md5 content-range content-type date etag expect expires from "
          "host if-match if-modified-since if-none-match if-range if-unmodified-since last-modified location "
          "max-forwards pragma proxy-authenticate proxy-authorization range referer retry-after server te trailer "
          "transfer-encoding upgrade user-agent vary via warning www-authenticate method get status").split()
_WORDS += ["200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin"]
_TAIL = ("100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
         "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
         "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
         "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
         "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
         "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.")
# SPDY/3's header compression dictionary (section 2.6.10.1): 1423 bytes, Adler-32 0xe3c6a7c2
DICTIONARY = b"".join(struct.pack("!I", len(w)) + w.encode() for w in _WORDS) + _TAIL.encode()


class ProtocolError(Exception):
    """The peer broke SPDY: the connection ends (after a GOAWAY)."""


class Frame:
    """TYPE (DATA for a data frame), FLAGS, STREAM id, HEADERS (SYN_STREAM, SYN_REPLY, HEADERS: name -> values,
    names lowercase), DATA (a data frame's payload), and for the others their numbers: STATUS (RST_STREAM,
    GOAWAY), PING_ID, DELTA (WINDOW_UPDATE)."""
    __slots__ = ("type", "flags", "stream", "headers", "data", "status", "ping_id", "delta")

    def __init__(self, type_: int, flags: int, stream: int = 0):
        self.type, self.flags, self.stream = type_, flags, stream
        self.headers, self.data, self.status, self.ping_id, self.delta = {}, b"", 0, 0, 0

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)

    def __repr__(self):
        return f"Frame(type={self.type}, flags={self.flags}, stream={self.stream}, headers={self.headers})"


class Codec:
    """One end of a SPDY connection: frames in (feed) and out (the renderers)."""

    def __init__(self):
        self.buf = bytearray()
        self.inflate = zlib.decompressobj(zdict=DICTIONARY)
        self.deflate = zlib.compressobj(zdict=DICTIONARY)

    def feed(self, data: bytes) -> list[Frame]:
        self.buf += data
        frames = []
        while len(self.buf) >= 8:
            first, word2 = struct.unpack_from("!II", self.buf)
            flags, length = word2 >> 24, word2 & 0xFFFFFF
            if length > MAX_FRAME:
                raise ProtocolError(f"a frame of {length} bytes")
            if len(self.buf) < 8 + length:
                break
            payload = bytes(self.buf[8:8 + length])
            del self.buf[:8 + length]
            if first & 0x80000000:
                if (first >> 16) & 0x7FFF != VERSION:
                    raise ProtocolError(f"SPDY version {(first >> 16) & 0x7FFF}")
                frames.append(self._control(first & 0xFFFF, flags, payload))
            else:
                frame = Frame(DATA, flags, first & 0x7FFFFFFF)
                frame.data = payload
                frames.append(frame)
        return frames

    def _control(self, type_: int, flags: int, p: bytes) -> Frame:
        f = Frame(type_, flags)
        try:
            if type_ in (SYN_STREAM, SYN_REPLY, HEADERS, RST_STREAM, WINDOW_UPDATE):
                f.stream = struct.unpack_from("!I", p)[0] & 0x7FFFFFFF
            if type_ == SYN_STREAM:
                f.headers = self.headers(p[10:])
            elif type_ in (SYN_REPLY, HEADERS):
                f.headers = self.headers(p[4:])
            elif type_ == RST_STREAM:
                f.status = struct.unpack_from("!I", p, 4)[0]
            elif type_ == WINDOW_UPDATE:
                f.delta = struct.unpack_from("!I", p, 4)[0] & 0x7FFFFFFF
            elif type_ == PING:
                f.ping_id = struct.unpack_from("!I", p)[0]
            elif type_ == GOAWAY:
                f.stream, f.status = struct.unpack_from("!II", p)
        except (struct.error, zlib.error) as e:
            raise ProtocolError(f"control frame {type_}: {e}") from None
        return f

    def headers(self, block: bytes) -> dict[str, list[str]]:
        """A compressed header block (the connection's compression context goes on)."""
        raw, out = self.inflate.decompress(block), {}
        (count,), i = struct.unpack_from("!I", raw), 4
        for _ in range(count):
            (n,) = struct.unpack_from("!I", raw, i)
            name = raw[i + 4:i + 4 + n].decode("latin-1").lower()
            i += 4 + n
            (n,) = struct.unpack_from("!I", raw, i)
            out.setdefault(name, []).extend(raw[i + 4:i + 4 + n].decode("latin-1").split("\0"))
            i += 4 + n
        return out

    def header_block(self, headers: dict[str, str]) -> bytes:
        raw = struct.pack("!I", len(headers)) + b"".join(
            struct.pack("!I", len(k)) + k.lower().encode() + struct.pack("!I", len(v)) + v.encode()
            for k, v in headers.items())
        return self.deflate.compress(raw) + self.deflate.flush(zlib.Z_SYNC_FLUSH)

    @staticmethod
    def control(type_: int, payload: bytes, flags: int = 0) -> bytes:
        return struct.pack("!HHI", 0x8000 | VERSION, type_, flags << 24 | len(payload)) + payload

    def syn_reply(self, stream: int, headers: dict[str, str] | None = None, fin: bool = False) -> bytes:
        return self.control(SYN_REPLY, struct.pack("!I", stream) + self.header_block(headers or {}),
                            FLAG_FIN if fin else 0)

    def syn_stream(self, stream: int, headers: dict[str, str], fin: bool = False) -> bytes:
        """A client's SYN_STREAM (the tests play kubectl with it)."""
        return self.control(SYN_STREAM, struct.pack("!IIH", stream, 0, 0) + self.header_block(headers),
                            FLAG_FIN if fin else 0)

    @staticmethod
    def data(stream: int, payload: bytes, fin: bool = False) -> bytes:
        return struct.pack("!II", stream & 0x7FFFFFFF, (FLAG_FIN if fin else 0) << 24 | len(payload)) + payload

    def rst(self, stream: int, status: int = CANCEL) -> bytes:
        return self.control(RST_STREAM, struct.pack("!II", stream, status))

    def ping(self, ping_id: int) -> bytes:
        return self.control(PING, struct.pack("!I", ping_id))

    def goaway(self, last_stream: int, status: int = 0) -> bytes:
        return self.control(GOAWAY, struct.pack("!II", last_stream, status))
