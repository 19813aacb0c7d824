"""Packs kube-proxy's, the policy agent's and the load balancer's rendered rules as libiptc ``struct
ipt_entry`` blobs for iptables_apply, with each rule's comparison key (``iptables_readback`` reads the
kernel's rules back as the same keys).

python-iptables builds a rule by parsing every option through the xtables extension and then, in
``Rule.final_check()``, prints each match back through a pipe and parses it again (about 0.5 ms a rule;
11,000 rules for 1,000 services take 6 s).  So rule blobs are assembled here: the ``ipt_entry`` header,
the comment match, DNAT --to-destination and jumps to chains are packed with ``struct``; every other
match or target (tcp, udp, statistic, recent, mark, addrtype, conntrack, MARK, REJECT, MASQUERADE
--random-fully) is built once per distinct option set by python-iptables' own ``Match``/``Target``
parser (its internals: ``_xt``, ``_module``, ``_target_buf``) and cached.  The comment and DNAT packers
are checked byte for byte against python-iptables' output before first use (and not used if they
differ); tests/unit/kernel/test_iptables_blobs.py checks every rule shape the renderers produce against
python-iptables' public ``Rule`` API, without root.

A rule's comparison key is its ipt_ip part, each match's name, revision and user-visible data, and the
target (the resolved name for standard targets and jumps).
"""
from __future__ import annotations

import ctypes as ct
import os
import socket
import struct
import threading

ENTRY_SIZE = 112      # sizeof(struct ipt_entry) on Linux: ipt_ip (84) + 28
EXT_HEADER = 32       # xt_entry_match / xt_entry_target header: u16 size, name[29], u8 revision
_STD_SIZE = 40        # XT_ALIGN(header + int verdict)
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
    from iptc.ip4tc import Match, Target
    rule = _rule_class()()
    if proto:
        rule.protocol = proto
    params = _group(opts)
    if name == "recent" and "--mask" not in opts:
        # python-iptables' Rule.final_check() prints the match and parses it again: that turns recent's
        # default mask (16 bytes of 0xff) into --mask 255.255.255.255 (4 of 0xff, 12 of 0); do the same
        params.append(("mask", "255.255.255.255"))
    try:
        if kind == "m":
            ext = Match(rule, name)
        else:
            ext = Target(rule, name)
        for param, value in params:
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


_rule_cls = None


def _rule_class():
    """python-iptables' Rule, except that it knows no chain: ``Target(rule, "CT")`` (a target python-iptables
    does not list as standard) would otherwise open every table through libiptc to ask whether CT is a chain
    (root, a table read each time); a target this module builds with python-iptables is never a chain."""
    global _rule_cls
    if _rule_cls is None:
        from iptc.ip4tc import Rule

        class ChainlessRule(Rule):
            tables = ()

        _rule_cls = ChainlessRule
    return _rule_cls


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
        key.append(key_head(blob[2:31].split(b"\0", 1)[0], blob[31]) + blob[EXT_HEADER:user])
    if target == "DNAT" and len(topts) == 2 and topts[0] == "--to-destination" and proto:
        tblob, user = _dnat_blob(topts[1], proto)
        key.append(b"T" + key_head(b"DNAT", tblob[31]) + tblob[EXT_HEADER:user])
    elif target in MODULE_TARGETS:
        tblob, user = _extension("t", target, topts, proto)
        key.append(b"T" + key_head(tblob[2:31].split(b"\0", 1)[0], tblob[31]) + tblob[EXT_HEADER:user])
    else:
        if topts:
            raise ApplyError(f"options after -j {target} in {' '.join(tokens)}")
        tblob = _std_target(target)
        key.append(b"J" + target.encode())
    ip = struct.pack("<4s4s4s4s16s16s16s16sHBB", src[0], dst[0], src[1], dst[1],
                     b"", b"", b"", b"", _PROTOS[proto or "all"], 0, invflags)
    toff = ENTRY_SIZE + sum(len(p) for p in parts)
    entry = ip + struct.pack("<IHHIQQ", 0, toff, toff + len(tblob), 0, 0, 0)
    return b"".join([entry] + parts + [tblob]), b"|".join([ip] + key)


def key_head(name: bytes, revision: int) -> bytes:
    """How a match or target starts in a comparison key: name/revision:."""
    return name + b"/" + bytes([revision]) + b":"


def user_size(kind: str, name: bytes, revision: int, default: int) -> int:
    """How many bytes of match ("m") or target ("t") NAME at REVISION userspace compares (python-iptables'
    ``usersize``: the kernel keeps private data after it); DEFAULT for an extension not built here."""
    return _usersize.get((kind, name, revision), default)


def fast_path_revisions() -> dict[str, int]:
    """The revisions the struct packers were verified for, e.g. {"comment": 0, "DNAT/tcp": 2}; -1 where
    python-iptables' blob differed and its slower parser is used instead (filled as rules are packed)."""
    out = {} if _fast_comment_rev is None else {"comment": _fast_comment_rev}
    return out | {f"DNAT/{proto}": rev for proto, rev in _fast_dnat_rev.items()}
