"""Reads the kernel's rules back for iptables_apply: the comparison keys of a chain's rules and the
table's chain names, from a python-iptables ``Table``'s libiptc handle (no rule object made), in the
shape of ``iptables_blobs.rule_blob``'s keys so a chain whose rules already match is left alone.

A rule read back is reduced to its ipt_ip part, each match's name, revision and user-visible data (as
many bytes as python-iptables' ``usersize``: the kernel keeps private data after it), and the target (the
resolved name for standard targets and jumps).  The readers call libiptc through a ``ctypes.PyDLL``
view (see ``_quick``).
"""

from __future__ import annotations

import ctypes as ct
import struct

from toycluster.kernel.iptables_blobs import ENTRY_SIZE, EXT_HEADER, key_head, user_size


def entry_key(lib, handle, entry: int) -> bytes:
    """Comparison key of a rule read back through libiptc (same shape as rule_blob's key); ENTRY is the
    address of its struct ipt_entry (target_offset and next_offset at bytes 88 and 90); standard targets
    and jumps are named by LIB.iptc_get_target(ENTRY, HANDLE)."""
    toff, size = struct.unpack("<HH", ct.string_at(entry + 88, 4))
    raw = ct.string_at(entry, size)
    key, off = [raw[:84]], ENTRY_SIZE
    while off < toff:
        size = struct.unpack_from("<H", raw, off)[0]
        name = raw[off + 2:off + 31].split(b"\0", 1)[0]  # the kernel leaves bytes after the NUL
        user = user_size("m", name, raw[off + 31], size)
        key.append(key_head(name, raw[off + 31]) + raw[off + EXT_HEADER:off + user])
        off += size
    tname = raw[toff + 2:toff + 31].split(b"\0", 1)[0]
    if tname in (b"", b"standard"):
        key.append(b"J" + (lib.iptc_get_target(entry, handle) or b""))
    else:
        user = user_size("t", tname, raw[toff + 31], len(raw) - toff)
        key.append(b"T" + key_head(tname, raw[toff + 31]) + raw[toff + EXT_HEADER:toff + user])
    return b"|".join(key)


def read_chain(table, chain: str) -> list[bytes]:
    """The comparison keys of CHAIN's rules in a python-iptables Table's libiptc handle."""
    lib, handle = _quick(), ct.cast(table._handle, ct.c_void_p)
    keys, entry = [], lib.iptc_first_rule(chain.encode(), handle)
    while entry:
        keys.append(entry_key(lib, handle, entry))
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
