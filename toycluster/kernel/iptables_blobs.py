"""libiptc's rule format for iptables_apply: rendered rules packed as ``struct ipt_entry`` blobs, and
rules read back from a libiptc handle as keys to compare them with.

python-iptables builds a rule by parsing every option through the xtables extension and then, in
``Rule.final_check()``, prints each match back through a pipe and parses it again (about 0.5 ms a rule;
11,000 rules for 1,000 services take 6 s).  So rule blobs are assembled here: the ``ipt_entry`` header,
the comment match, DNAT --to-destination and jumps to chains are packed with ``struct``; every other
match or target (tcp, udp, statistic, recent, mark, addrtype, conntrack, MARK, REJECT, MASQUERADE
--random-fully) is built once per distinct option set by python-iptables' own ``Match``/``Target``
parser and cached.  The comment and DNAT packers are checked byte for byte against python-iptables'
output before first use (and not used if they differ).

Comparing with the kernel uses the same blobs: a rule read back through libiptc is reduced to its ipt_ip
part, each match's name, revision and user-visible data, and the target (the resolved name for standard
targets and jumps).  The readers call libiptc through a ``ctypes.PyDLL`` view (see ``_quick``).
"""

from __future__ import annotations

import ctypes as ct
import os
import socket
import struct
import threading

_ENTRY_SIZE = 112          # sizeof(struct ipt_entry) on Linux: ipt_ip (84) + 28
_HDR = 32                  # xt_entry_match / xt_entry_target header: u16 size, name[29], u8 revision
_STD_SIZE = 40             # XT_ALIGN(header + int verdict)
_PROTOS = {"tcp": 6, "udp": 17, "sctp": 132, "icmp": 1, "all": 0}
_INV = {"-s": 0x08, "-d": 0x10, "-p": 0x40}
STANDARD_TARGETS = {"", "ACCEPT", "DROP", "RETURN", "QUEUE"}
MODULE_TARGETS = {"DNAT", "SNAT", "MARK", "MASQUERADE", "REJECT", "LOG", "CT", "CONNMARK"}


# Held for what is not thread-safe: python-iptables' extension parsers (xtables keeps global state) and
# libiptc's create-chain call (TC_CREATE_CHAIN keeps the new chain in a static variable, iptables_apply
# takes it there).  A child forked while another thread held it gets a new one.
LOCK = threading.RLock()


def _new_lock() -> None:
    global LOCK
    LOCK = threading.RLock()


os.register_at_fork(after_in_child=_new_lock)


class ApplyError(RuntimeError):
    """A libiptc operation failed; the message names the table and the chain."""


_ext_cache: dict[tuple, tuple[bytes, int]] = {}  # (kind, proto, name, opts) -> (blob, user size)
_usersize: dict[tuple, int] = {}                 # (kind, name, revision) -> user size
_blob_cache: dict[tuple, tuple[bytes, bytes]] = {}  # rule tokens -> (blob, comparison key)
_fast_comment_rev: int | None = None  # verified comment revision, or -1: use python-iptables


def _group(opts):
    """["!", "--mark", "0x4000/0x4000", "--set"] -> [("mark", "!0x4000/0x4000"), ("set", "")]."""
    params, inv = [], False
    for o in opts:
        if o == "!":
            inv = True
        elif o.startswith("--"):
            params.append([o[2:], inv, []])
            inv = False
        else:
            params[-1][2].append(o)
    out = []
    for name, neg, vals in params:
        value = vals[0] if len(vals) == 1 else ("" if not vals else list(vals))
        if neg:
            value = "!" + value if isinstance(value, str) else ["!"] + value
        out.append((name, value))
    return out


def _extension(kind: str, name: str, opts: tuple, proto: str) -> tuple[bytes, int]:
    """Blob of one match ("m") or target ("t") built by python-iptables' parser, cached."""
    key = (kind, proto, name, opts)
    hit = _ext_cache.get(key)
    if hit is not None:
        return hit
    with LOCK:
        return _parse_extension(key, kind, name, opts, proto)


def _parse_extension(key, kind, name, opts, proto):
    from iptc.ip4tc import Match, Rule, Target
    rule = Rule()
    if proto:
        rule.protocol = proto
    try:
        if kind == "m":
            ext = Match(rule, name)
        else:
            ext = Target(rule, name)
        for param, value in _group(opts):
            ext.parse(param, value)
        if kind == "m":
            ext._xt.final_check_match(ext._module)
            blob = bytes(ext.match_buf)
        else:
            ext._xt.final_check_target(ext._module)
            blob = ct.string_at(ext._target_buf, ext.size)
        user = ext.usersize
    except Exception as e:  # noqa: BLE001 - python-iptables raises several kinds
        raise ApplyError(f"cannot build {'match' if kind == 'm' else 'target'} {name} "
                         f"{' '.join(opts)}: {e}") from e
    _usersize[(kind, blob[2:31].split(b"\0", 1)[0], blob[31])] = user
    _ext_cache[key] = (blob, user)
    return blob, user


def _comment_blob(text: str) -> tuple[bytes, int]:
    """-m comment --comment TEXT (struct xt_comment_info: char comment[256])."""
    global _fast_comment_rev
    data = text.encode()
    if len(data) > 255:
        raise ApplyError(f"comment longer than 255 bytes: {text!r}")
    if _fast_comment_rev is None:
        sample = "ns/svc:p -> 10.0.0.1:80"
        ref = _extension("m", "comment", ("--comment", sample), "")
        fast = struct.pack("<H29sB256s", 288, b"comment", ref[0][31], sample.encode())
        _fast_comment_rev = ref[0][31] if (ref[0] == fast and ref[1] == 288) else -1
    if _fast_comment_rev < 0:
        return _extension("m", "comment", ("--comment", text), "")
    return struct.pack("<H29sB256s", 288, b"comment", _fast_comment_rev, data), 288


_fast_dnat_rev: dict[str, int] = {}  # protocol -> verified DNAT revision, or -1: use python-iptables


def _dnat_pack(dest: str, revision: int) -> bytes:
    # struct nf_nat_range2: flags (MAP_IPS | PROTO_SPECIFIED), min/max addr, min/max/base proto
    ip, _, port = dest.rpartition(":")
    addr = socket.inet_aton(ip).ljust(16, b"\0")
    return struct.pack("<H29sBI16s16s2s2s2s6x", 80, b"DNAT", revision, 3, addr, addr,
                       struct.pack("!H", int(port)), struct.pack("!H", int(port)), b"\0\0")


def _dnat_blob(dest: str, proto: str) -> tuple[bytes, int]:
    """DNAT --to-destination ip:port, packed here once checked against python-iptables' own blob."""
    rev = _fast_dnat_rev.get(proto)
    if rev is None:
        ref = _extension("t", "DNAT", ("--to-destination", "10.1.2.3:4567"), proto)
        rev = ref[0][31] if ref == (_dnat_pack("10.1.2.3:4567", ref[0][31]), 80) else -1
        _fast_dnat_rev[proto] = rev
    if rev < 0 or ":" not in dest:
        return _extension("t", "DNAT", ("--to-destination", dest), proto)
    return _dnat_pack(dest, rev), 80


def _std_target(name: str) -> bytes:
    return struct.pack("<H29sBi4x", _STD_SIZE, name.encode(), 0, 0)


def _addr(value: str) -> tuple[bytes, bytes]:
    ip, _, plen = value.partition("/")
    bits = int(plen) if plen else 32
    mask = (0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF
    addr = struct.unpack("!I", socket.inet_aton(ip))[0] & mask
    return struct.pack("!I", addr), struct.pack("!I", mask)


def rule_blob(tokens: list[str]) -> tuple[bytes, bytes]:
    """(ipt_entry blob for libiptc, comparison key) for one rendered rule."""
    cache_key = tuple(tokens)
    hit = _blob_cache.get(cache_key)
    if hit is not None:
        return hit
    try:
        result = _rule_blob(tokens)
    except (OSError, ValueError, KeyError, IndexError) as e:
        raise ApplyError(f"cannot read rule {' '.join(tokens)}: {e}") from e
    if len(_blob_cache) > 500_000:
        _blob_cache.clear()
    _blob_cache[cache_key] = result
    return result


def _rule_blob(tokens):
    src = dst = (b"\0" * 4, b"\0" * 4)
    proto, invflags, matches, target, topts = "", 0, [], "", ()
    i, inv, n = 0, False, len(tokens)
    while i < n:
        tok = tokens[i]
        if tok == "!":
            inv = True
            i += 1
        elif tok in ("-s", "-d", "-p"):
            value = tokens[i + 1]
            if inv:
                invflags |= _INV[tok]
            if tok == "-s":
                src = _addr(value)
            elif tok == "-d":
                dst = _addr(value)
            else:
                proto = value
            inv = False
            i += 2
        elif tok == "-m":
            name, j = tokens[i + 1], i + 2
            while j < n and tokens[j] not in ("-m", "-j"):
                j += 1
            matches.append((name, tuple(tokens[i + 2:j])))
            i = j
        elif tok == "-j":
            target, topts = tokens[i + 1], tuple(tokens[i + 2:])
            i = n
        else:
            raise ApplyError(f"cannot read rule token {tok!r} in {' '.join(tokens)}")
    parts, key = [], []
    for name, opts in matches:
        if name == "comment" and len(opts) == 2 and opts[0] == "--comment":
            blob, user = _comment_blob(opts[1])
        else:
            blob, user = _extension("m", name, opts, proto)
        parts.append(blob)
        key.append(_head(blob[2:31].split(b"\0", 1)[0], blob[31]) + blob[_HDR:user])
    if target == "DNAT" and len(topts) == 2 and topts[0] == "--to-destination" and proto:
        tblob, user = _dnat_blob(topts[1], proto)
        key.append(b"T" + _head(b"DNAT", tblob[31]) + tblob[_HDR:user])
    elif target in MODULE_TARGETS:
        tblob, user = _extension("t", target, topts, proto)
        key.append(b"T" + _head(tblob[2:31].split(b"\0", 1)[0], tblob[31]) + tblob[_HDR:user])
    else:
        if topts:
            raise ApplyError(f"options after -j {target} in {' '.join(tokens)}")
        tblob = _std_target(target)
        key.append(b"J" + target.encode())
    ip = struct.pack("<4s4s4s4s16s16s16s16sHBB", src[0], dst[0], src[1], dst[1],
                     b"", b"", b"", b"", _PROTOS[proto or "all"], 0, invflags)
    toff = _ENTRY_SIZE + sum(len(p) for p in parts)
    entry = ip + struct.pack("<IHHIQQ", 0, toff, toff + len(tblob), 0, 0, 0)
    return b"".join([entry] + parts + [tblob]), b"|".join([ip] + key)


def _head(name: bytes, revision: int) -> bytes:
    return name + b"/" + bytes([revision]) + b":"


def _kernel_key(lib, handle, entry: int) -> bytes:
    """Comparison key of a rule read back through libiptc (same shape as rule_blob's key); ENTRY is the
    address of its struct ipt_entry (target_offset and next_offset at bytes 88 and 90)."""
    toff, size = struct.unpack("<HH", ct.string_at(entry + 88, 4))
    raw = ct.string_at(entry, size)
    key, off = [raw[:84]], _ENTRY_SIZE
    while off < toff:
        size = struct.unpack_from("<H", raw, off)[0]
        name = raw[off + 2:off + 31].split(b"\0", 1)[0]  # the kernel leaves bytes after the NUL
        user = _usersize.get(("m", name, raw[off + 31]), size)
        key.append(_head(name, raw[off + 31]) + raw[off + _HDR:off + user])
        off += size
    tname = raw[toff + 2:toff + 31].split(b"\0", 1)[0]
    if tname in (b"", b"standard"):
        key.append(b"J" + (lib.iptc_get_target(entry, handle) or b""))
    else:
        user = _usersize.get(("t", tname, raw[toff + 31]), len(raw) - toff)
        key.append(b"T" + _head(tname, raw[toff + 31]) + raw[toff + _HDR:toff + user])
    return b"|".join(key)


def read_chain(table, chain: str) -> list[bytes]:
    """The comparison keys of CHAIN's rules in a python-iptables Table's libiptc handle."""
    lib, handle = _quick(), ct.cast(table._handle, ct.c_void_p)
    keys, entry = [], lib.iptc_first_rule(chain.encode(), handle)
    while entry:
        keys.append(_kernel_key(lib, handle, entry))
        entry = lib.iptc_next_rule(entry, handle)
    return keys


_pylib = None


def _quick():
    """libiptc's in-memory readers through ctypes.PyDLL, which keeps the GIL during the call.
    python-iptables' own calls (CDLL) release it and take it back each time: for thousands of calls of
    a microsecond that costs more than the calls, and while another thread runs Python (another node's
    apply) each call can wait for that thread's switch interval (5 ms).  Table reads and commits stay
    on python-iptables' calls, which let the other nodes' threads run."""
    global _pylib
    if _pylib is None:
        from iptc import ip4tc
        lib = ct.PyDLL(ip4tc._libiptc._name)
        sig = {"iptc_first_chain": (ct.c_char_p, [ct.c_void_p]),
               "iptc_next_chain": (ct.c_char_p, [ct.c_void_p]),
               "iptc_first_rule": (ct.c_void_p, [ct.c_char_p, ct.c_void_p]),
               "iptc_next_rule": (ct.c_void_p, [ct.c_void_p, ct.c_void_p]),
               "iptc_get_target": (ct.c_char_p, [ct.c_void_p, ct.c_void_p])}
        for name, (restype, argtypes) in sig.items():
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = restype, argtypes
        _pylib = lib
    return _pylib


def chain_names(table) -> set[str]:
    """The table's chain names (table.chains would make a Chain object per chain: 20 ms for 4,000)."""
    names, lib, handle = set(), _quick(), ct.cast(table._handle, ct.c_void_p)
    name = lib.iptc_first_chain(handle)
    while name:
        names.add(name.decode())
        name = lib.iptc_next_chain(handle)
    return names
