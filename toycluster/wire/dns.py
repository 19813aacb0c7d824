"""DNS messages, as both DNS servers speak them (CoreDNS and the cloud's public DNS): queries read strictly,
answers rendered, the log line's fields, and DNS over TCP's framing.

parse_query() reads a query strictly (RFC 1035 names: labels of at most 63 bytes, at most 255 bytes in all,
compression pointers only backwards and never in a loop; every section present as counted) and says what
to answer: nothing at all (fewer than 12 bytes, or a response), an error code, or a question for the zone.
Codes, as miekg/dns (CoreDNS's server) decides them:
  NOTIMP   opcode other than QUERY, or qtype MAILA/MAILB
  FORMERR  QDCOUNT != 1, answer or authority records in a query, more than 2 additional records, a name or
           section that does not parse, qtype 0 or OPT, two OPT records (header only: nothing was understood)
  REFUSED  class other than IN (the server holds class IN data only and refuses other classes by policy,
           RFC 1035 4.1.1; NOTIMP would claim the *kind* of query is unknown), and zone transfers
  BADVERS  EDNS version above 0 (RFC 6891)

render() turns an Answer into the response (the question as asked, EDNS echoed, TC when too big for UDP);
describe() gives CoreDNS's log fields for the exchange; serve_tcp() reads and writes length-prefixed
messages, several per connection (RFC 7766).
"""
from __future__ import annotations

import asyncio
import struct
import threading
from dataclasses import dataclass, field

from dnslib import DNSHeader, DNSLabel, DNSQuestion, DNSRecord, QTYPE

NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED, BADVERS = 0, 1, 2, 3, 4, 5, 16
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED", 16: "BADVERS"}
T_A, T_NS, T_CNAME, T_SOA, T_PTR, T_TXT, T_AAAA, T_SRV, T_ANY = 1, 2, 5, 6, 12, 16, 28, 33, 255
UDP_LIMIT = 512                  # without EDNS (RFC 1035)
EDNS_SIZE = 1232                 # what we advertise (DNS flag day 2020)
TCP_IDLE = 10.0                  # seconds a TCP client may stay silent between queries
_FLAG_BITS = (("qr", 0x8000), ("aa", 0x0400), ("tc", 0x0200), ("rd", 0x0100), ("ra", 0x0080), ("z", 0x0040),
              ("ad", 0x0020), ("cd", 0x0010))
_HEADER = struct.Struct("!6H")
_PRINTABLE = [chr(b) if 0x21 <= b < 0x7F and b not in b'."\\;()$@' else f"\\{b:03d}" for b in range(256)]
_RR_FIXED = struct.Struct("!HHIH")
_LENGTH = struct.Struct("!H")


@dataclass
class Answer:
    """What a zone says to one question. `forward`: an upstream resolver, if there is one, should answer
    instead (names outside the zone; reverse names we do not know). `chase`: a CNAME target outside the zone
    whose records an upstream could add. `deps`: the names read to make it (an answer whose names did not
    change, and that carries no SOA, is still right in the next version of the zone)."""
    rcode: int
    answer: list = field(default_factory=list)
    authority: list = field(default_factory=list)
    additional: list = field(default_factory=list)
    authoritative: bool = True
    forward: bool = False
    chase: str | None = None
    deps: set = field(default_factory=set)      # the names whose records this answer was made from


class Drop(Exception):
    """Not answered at all: too short to carry an ID, or a response (answering those makes loops)."""


class _Malformed(Exception):
    pass


@dataclass(slots=True)
class Query:
    id: int
    flags: int
    size: int
    error: int = 0                      # answer with this code instead of looking the name up
    labels: tuple = ()                  # the name as asked
    qtype: int = 0
    qclass: int = 0
    question: bytes = b""               # the question section as sent
    edns: tuple | None = None           # (udp size, version, DO bit)
    plain: bool = False                 # template-able: see the module's docstring

    @property
    def name(self) -> str:
        """The name in presentation form, odd bytes escaped as \\DDD (as dig shows them: no log injection)."""
        return "".join("".join(_PRINTABLE[b] for b in label) + "." for label in self.labels) or "."


def read_name(data: bytes, off: int) -> tuple[list[bytes], int]:
    """The labels of the name at OFF and the offset after it (after the first pointer, if any)."""
    labels, total, end, size = [], 1, None, len(data)
    while True:
        if off >= size:
            raise _Malformed("name runs past the end")
        n = data[off]
        if n >= 0xC0:
            if off + 1 >= size:
                raise _Malformed("truncated pointer")
            ptr = ((n & 0x3F) << 8) | data[off + 1]
            if ptr >= off:
                raise _Malformed("pointer forwards or to itself")
            if end is None:
                end = off + 2
            off = ptr                   # only backwards, and every lap adds labels: the 255 limit ends loops
            continue
        if n & 0xC0:
            raise _Malformed("extended label type")
        if n == 0:
            return labels, (off + 1 if end is None else end)
        total += n + 1
        if total > 255:
            raise _Malformed("name longer than 255 bytes")
        if off + 1 + n > size:
            raise _Malformed("label runs past the end")
        labels.append(data[off + 1:off + 1 + n])
        off += 1 + n


def parse_query(data: bytes) -> Query:
    """What DATA asks; raises Drop for what gets no answer. Never raises anything else."""
    data = bytes(data)
    if len(data) < 12:
        raise Drop("shorter than a header")
    qid, flags, qd, an, ns, ar = _HEADER.unpack_from(data)
    if flags & 0x8000:
        raise Drop("a response")
    q = Query(qid, flags, len(data))
    if (flags >> 11) & 0xF:
        q.error = NOTIMP
        return q
    if qd != 1 or an or ns or ar > 2:
        q.error = FORMERR
        return q
    try:
        labels, off = read_name(data, 12)
        if off + 4 > len(data):
            raise _Malformed("truncated question")
        q.qtype, q.qclass = struct.unpack_from("!HH", data, off)
        off += 4
        q.labels, q.question = tuple(labels), data[12:off]
        for _ in range(ar):
            name, off = read_name(data, off)
            if off + 10 > len(data):
                raise _Malformed("truncated record")
            rtype, rclass, ttl, rdlen = _RR_FIXED.unpack_from(data, off)
            off += 10 + rdlen
            if off > len(data):
                raise _Malformed("rdata runs past the end")
            if rtype == 41:
                if q.edns is not None or name:
                    raise _Malformed("second OPT, or OPT not at the root")
                q.edns = (rclass, (ttl >> 16) & 0xFF, bool(ttl & 0x8000))
    except _Malformed:
        q.error, q.labels, q.question = FORMERR, (), b""
        return q
    if q.qtype in (0, 41):
        q.error = FORMERR
    elif q.edns and q.edns[1] > 0:
        q.error = BADVERS
    elif q.qtype in (253, 254):
        q.error = NOTIMP
    elif q.qclass != 1 or q.qtype in (251, 252):
        q.error = REFUSED
    q.plain = (not q.error and not ar and flags in (0, 0x0100) and off == len(data)
               and len(q.question) == sum(len(x) + 1 for x in labels) + 5)
    return q


def flags_text(flags: int) -> str:
    return ",".join(name for name, bit in _FLAG_BITS if flags & bit)


def _opt(q: Query, ext_rcode: int = 0) -> bytes:
    """Our OPT record: our UDP size, the client's DO bit echoed (RFC 3225), version 0."""
    return b"\x00" + _RR_FIXED.pack(41, EDNS_SIZE, (ext_rcode << 24) | (0x8000 if q.edns[2] else 0), 0)


def render(q: Query, answer: Answer | None, rcode: int, proto: str = "udp") -> bytes:
    """The response to Q: ANSWER's records (none for errors), the question as asked, TC if too big for UDP."""
    flags = 0x8000 | (q.flags & 0x7900) | (q.flags & 0x0010) | (rcode & 0xF)     # qr, opcode, rd, cd, rcode
    if answer is not None and answer.authoritative and rcode != SERVFAIL:
        flags |= 0x0400
    with_question = bool(q.question) and rcode != FORMERR
    edns = q.edns is not None and rcode != FORMERR
    sections = ([], [], []) if answer is None else (answer.answer, answer.authority, answer.additional)
    for truncated in (False, True):
        record = DNSRecord(DNSHeader(id=q.id, bitmap=flags | (0x0200 if truncated else 0)),
                           questions=[DNSQuestion(DNSLabel([x.lower() for x in q.labels]), q.qtype, q.qclass)]
                           if with_question else [],
                           rr=[] if truncated else list(sections[0]), auth=[] if truncated else list(sections[1]),
                           ar=[] if truncated else list(sections[2]))
        wire = bytes(record.pack())
        if with_question:
            qlen = 12 + len(q.question)
            if wire[12:qlen].lower() == q.question.lower():
                wire = wire[:12] + q.question + wire[qlen:]          # the name's case as it was asked
        if edns:
            wire = wire[:10] + struct.pack("!H", len(record.ar) + 1) + wire[12:] + _opt(q, rcode >> 4)
        limit = 65535 if proto == "tcp" else max(UDP_LIMIT, q.edns[0] if q.edns else 0)
        if len(wire) <= limit or truncated:
            return wire
    return wire


def describe(q: Query, proto: str, response: bytes, rcode: int) -> str:
    """CoreDNS's log fields for this exchange, from the type to the response size."""
    qtype = QTYPE.get(q.qtype, f"TYPE{q.qtype}") if q.question else "-"
    qclass = {1: "IN", 3: "CH", 4: "HS", 254: "NONE", 255: "ANY"}.get(q.qclass, f"CLASS{q.qclass}") if q.question \
        else "-"
    flags = struct.unpack_from("!H", response, 2)[0] if len(response) >= 4 else 0
    return (f'"{qtype} {qclass} {q.name.lower() if q.question else "-"} {proto} {q.size} '
            f'{"true" if q.edns and q.edns[2] else "false"} {q.edns[0] if q.edns else 512}" '
            f"{RCODES.get(rcode, str(rcode))} {flags_text(flags)} {len(response)}")


def frame(message: bytes) -> bytes:
    """MESSAGE as DNS over TCP sends it: after its length in two bytes."""
    return _LENGTH.pack(len(message)) + message


async def serve_tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, handle, idle: float = TCP_IDLE):
    """One DNS-over-TCP connection: length-prefixed messages, several per connection, each given to
    handle(data, addr, send). It answers with send(response), from any thread, and returns False for a
    message that is no query: the connection ends, as it does after IDLE seconds of silence."""
    loop, owner = asyncio.get_running_loop(), threading.get_ident()
    addr = writer.get_extra_info("peername") or ("-", 0)

    def send(wire: bytes) -> None:
        if threading.get_ident() == owner:
            writer.write(frame(wire))
        else:                                       # an upstream's answer, from the forwarder's thread
            loop.call_soon_threadsafe(lambda: writer.is_closing() or writer.write(frame(wire)))
    try:
        while True:
            size = _LENGTH.unpack(await asyncio.wait_for(reader.readexactly(2), idle))[0]
            data = await asyncio.wait_for(reader.readexactly(size), idle)
            if not handle(data, addr, send):
                break
            await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.TimeoutError, OSError):
        pass
    finally:
        writer.close()
