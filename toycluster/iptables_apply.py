"""Apply rendered iptables tables with python-iptables (legacy x_tables): one libiptc commit per table.

``apply(state, previous)`` works on the network namespace of the calling thread, through libiptc handles
of its own: python-iptables' ``Table(name)`` is one object per table name for the whole process, so each
sync opens a private ``Table`` instead (see ``_open``), in the namespace the caller has switched to, and
frees it after the commit.  So threads may apply at the same time in different namespaces (kube-proxy's
nodes are synced in parallel); python-iptables' calls into libiptc release the GIL.  Two writers of the
same namespace's table must not run at once (the control plane runs them one after the other).

Speed: python-iptables builds a rule by parsing every option through the xtables extension and then,
in ``Rule.final_check()``, prints each match back through a pipe and parses it again (about 0.5 ms a
rule; 11,000 rules for 1,000 services take 6 s).  So rule blobs are assembled here: the ``ipt_entry``
header, the comment match, DNAT --to-destination and jumps to chains are packed with ``struct``; every
other match or target (tcp, udp, statistic, recent, mark, addrtype, conntrack, MARK, REJECT, MASQUERADE
--random-fully) is built once per distinct option set by python-iptables' own ``Match``/``Target``
parser and cached.  The comment and DNAT packers are checked byte for byte against python-iptables'
output before first use (and not used if they differ).  Writing goes through python-iptables' ``Table``
(libiptc: create/flush/append/insert/delete, then ``commit()``).

Comparing with the kernel (``previous=None``) uses the same blobs: a rule read back through libiptc is
reduced to its ipt_ip part, each match's name, revision and user-visible data, and the target (the
resolved name for standard targets and jumps); a chain whose rules differ is rewritten.
"""

from __future__ import annotations

import ctypes as ct
import socket
import struct
import threading
import time

from .kube_proxy import BUILTINS, SERVICE_CHAIN_PREFIXES

__all__ = ["apply", "ApplyError", "LAST_SYNC", "LOCK", "last_sync", "rule_blob"]

_ENTRY_SIZE = 112          # sizeof(struct ipt_entry) on Linux: ipt_ip (84) + 28
_HDR = 32                  # xt_entry_match / xt_entry_target header: u16 size, name[29], u8 revision
_STD_SIZE = 40             # XT_ALIGN(header + int verdict)
_PROTOS = {"tcp": 6, "udp": 17, "sctp": 132, "icmp": 1, "all": 0}
_INV = {"-s": 0x08, "-d": 0x10, "-p": 0x40}
_STANDARD = {"", "ACCEPT", "DROP", "RETURN", "QUEUE"}
_MODULE_TARGETS = {"DNAT", "SNAT", "MARK", "MASQUERADE", "REJECT", "LOG", "CT", "CONNMARK"}


# Timings and counts of the last apply() to finish in any thread, per table (for logs and the
# benchmark); last_sync() gives the calling thread's.
LAST_SYNC: dict[str, dict] = {}
_local = threading.local()
# Held for what is not thread-safe: python-iptables' extension parsers (xtables keeps global state) and
# libiptc's create-chain call (TC_CREATE_CHAIN keeps the new chain in a static variable).  A process
# forked while another thread holds it must replace it (cloud_lb does).
LOCK = threading.RLock()


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
    elif target in _MODULE_TARGETS:
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


def _read_chain(table, chain: str) -> list[bytes]:
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


def _call(what: str, tname: str, chain: str | None, fn, *args):
    from iptc import IPTCError
    try:
        return fn(*args)
    except IPTCError as e:
        where = f"{tname} table" + (f", chain {chain}" if chain else "")
        raise ApplyError(f"{where}: {what}: {e}") from e


def _chain_blobs(tname, chain, rules, desired, existing):
    """Blobs of one chain's rules; a bad rule or a jump to a chain that will not exist is refused here,
    before anything is written, with the table, chain and rule named."""
    out = []
    for n, rule in enumerate(rules, 1):
        target = rule[rule.index("-j") + 1] if "-j" in rule else ""
        if target and target not in _STANDARD and target not in _MODULE_TARGETS \
                and target not in desired and target not in existing:
            raise ApplyError(f"{tname} table, chain {chain}, rule {n}: jump to {target}, "
                             f"which is not a chain: {' '.join(rule)}")
        try:
            out.append(rule_blob(rule))
        except ApplyError as e:
            raise ApplyError(f"{tname} table, chain {chain}, rule {n}: {e}") from e
    return out


def _chain_names(table) -> set[str]:
    """The table's chain names (table.chains would make a Chain object per chain: 20 ms for 4,000)."""
    names, lib, handle = set(), _quick(), ct.cast(table._handle, ct.c_void_p)
    name = lib.iptc_first_chain(handle)
    while name:
        names.add(name.decode())
        name = lib.iptc_next_chain(handle)
    return names


def _open(tname: str):
    """A python-iptables Table of our own, opened (iptc_init) in the calling thread's namespace, with
    autocommit off: not the process-wide object ``iptc.Table(tname)`` returns, so that threads working
    in different namespaces never share a handle.  close() frees it; nothing uncommitted is written."""
    import iptc
    table = object.__new__(iptc.Table)
    table._init(tname, False)
    return table


def _apply_table(tname: str, desired: dict, prev: dict | None, owned=SERVICE_CHAIN_PREFIXES,
                 pin_first=False) -> dict:
    """Sync one table in one libiptc commit through a handle of our own; if we fail, the handle is
    freed uncommitted, so nothing is written."""
    if tname not in BUILTINS:
        raise ApplyError(f"{tname} table: not one kube-proxy writes (only {', '.join(BUILTINS)})")
    started = time.perf_counter()
    table = _call("open", tname, None, _open, tname)
    try:
        result = _sync_table(table, tname, desired, prev, owned, pin_first)
    finally:
        table.close()
    result["refresh_ms"] = (result.pop("opened") - started) * 1e3     # the re-read of the table (iptc_init)
    return result


def _sync_table(table, tname: str, desired: dict, prev: dict | None, owned=SERVICE_CHAIN_PREFIXES,
                pin_first=False) -> dict:
    opened = time.perf_counter()
    builtins = set(BUILTINS[tname])
    existing = _chain_names(table)
    if prev is not None and any(c in prev and c not in existing for c in desired if c not in builtins):
        prev = None  # chains we wrote are gone (iptables -X?): read the table instead of trusting prev
    blobs = {c: _chain_blobs(tname, c, rules, desired, existing) for c, rules in desired.items()
             if c not in builtins and (prev is None or c not in prev or prev[c] != rules or c not in existing)}
    if prev is None:
        ours = [c for c in existing if c.startswith(owned) or c in desired]
        current = {c: _read_chain(table, c) for c in ours if c not in builtins}
        changed = [c for c in desired if c not in builtins
                   and current.get(c) != [k for _, k in blobs[c]]]
    else:
        changed = [c for c in desired if c not in builtins and c in blobs]
    stale = {c for c in existing if c not in desired and c.startswith(owned)}
    if prev is not None:
        stale |= {c for c in prev if c not in desired and c not in builtins and c in existing}

    for chain in desired:
        if chain not in builtins and chain not in existing:
            with LOCK:
                _call("create chain", tname, chain, table.create_chain, chain)
    for chain in changed:
        if chain in existing:
            _call("flush", tname, chain, table.flush_entries, chain)
        for blob, _ in blobs[chain]:
            buf = (ct.c_ubyte * len(blob)).from_buffer_copy(blob)
            _call("append rule", tname, chain, table.append_entry, chain, buf)
    for chain in BUILTINS[tname]:
        want = desired.get(chain, [])
        if prev is not None and prev.get(chain) == want:
            continue
        _sync_builtin(table, tname, chain, _chain_blobs(tname, chain, want, desired, existing),
                      [rule_blob(r)[1] for r in (prev or {}).get(chain, []) if r not in want], stale, pin_first)
    for chain in stale:
        _call("flush", tname, chain, table.flush_entries, chain)
    for chain in stale:
        _call("delete chain", tname, chain, table.delete_chain, chain)
    written = time.perf_counter()
    _call("commit", tname, None, table.commit)
    done = time.perf_counter()
    return {"read": prev is None, "opened": opened,
            "write_ms": (written - opened) * 1e3, "commit_ms": (done - written) * 1e3,
            "chains_rewritten": len(changed), "chains_deleted": len(stale)}


def _sync_builtin(table, tname, chain, want, unwanted_keys, stale, pin_first=False):
    """Our jumps in a built-in chain: insert missing ones at the top (in order), delete ours that are
    no longer wanted and any jump into a chain being deleted; leave every other rule alone.  With
    pin_first, our jumps must be the chain's first rules: if another writer put rules above them, ours
    are taken out and put back on top."""
    have = _read_chain(table, chain)
    want_keys = [k for _, k in want]
    repin = pin_first and bool(want_keys) and have[:len(want_keys)] != want_keys
    stale_jumps = {b"J" + c.encode() for c in stale}
    for pos in range(len(have) - 1, -1, -1):
        k = have[pos]
        if (repin and k in want_keys) or \
                (k not in want_keys and (k in unwanted_keys or k.rsplit(b"|", 1)[-1] in stale_jumps)):
            _call("delete rule", tname, chain, _delete_num, table, chain, pos)
            del have[pos]
    for blob, key in reversed(want):
        if key not in have:
            buf = (ct.c_ubyte * len(blob)).from_buffer_copy(blob)
            _call("insert rule", tname, chain, table.insert_entry, chain, buf, 0)


def _delete_num(table, chain, pos):
    from iptc import IPTCError
    if table._iptc.iptc_delete_num_entry(chain.encode(), pos, table._handle) != 1:
        raise IPTCError(f"can't delete rule {pos + 1}: {table.strerror()}")


def apply(state: dict, previous: dict | None = None, *, owned_prefixes: tuple = SERVICE_CHAIN_PREFIXES,
          pin_first: bool = False) -> dict:
    """Make the current namespace's tables hold ``state``; return it (the ``previous`` of next time).

    ``owned_prefixes``: chains with these prefixes that ``state`` lacks are the caller's stale chains and
    are deleted (kube-proxy's service chains by default; the network policy agent passes its own, so the
    two writers of the filter table never delete each other's chains).  ``pin_first``: the caller's jumps
    in built-in chains are kept above everyone else's (checked whenever the built-in chain is synced).

    With ``previous`` only the chains whose rules differ from it are rewritten; without it the tables
    are read and compared rule by rule (so a flushed or edited table is restored).  If the kernel turns
    out not to match ``previous`` (a chain vanished), the table is read and the sync is redone.
    Timings: ``last_sync()`` in the same thread, or ``LAST_SYNC``.
    """
    global LAST_SYNC
    _local.last = sync = {}
    try:
        return _apply(state, previous, owned_prefixes, pin_first, sync)
    finally:
        LAST_SYNC = sync


def last_sync() -> dict[str, dict]:
    """Timings and counts of the calling thread's last apply(), per table."""
    return getattr(_local, "last", {})


def _apply(state: dict, previous: dict | None, owned, pin_first, sync: dict) -> dict:
    done = {}
    for tname, chains in state.items():  # refuse a bad rule before any table is committed
        for chain, rules in chains.items():
            if previous is None or (previous.get(tname) or {}).get(chain) != rules:
                for n, rule in enumerate(rules, 1):
                    try:
                        rule_blob(rule)
                    except ApplyError as e:
                        raise ApplyError(f"{tname} table, chain {chain}, rule {n}: {e}") from e
    for tname in [t for t in ("filter", "nat") if t in state] + \
                 sorted(t for t in state if t not in ("filter", "nat")):
        prev = previous.get(tname) if previous is not None else None
        try:
            sync[tname] = _apply_table(tname, state[tname], prev, owned, pin_first)
        except ApplyError:
            if prev is None:
                raise
            sync[tname] = _apply_table(tname, state[tname], None, owned, pin_first)
        done[tname] = dict(state[tname])  # the rule lists are shared with `state`: do not mutate them
    return done
