"""Apply rendered iptables tables with python-iptables (legacy x_tables): one libiptc commit per table.

``apply(state, previous)`` works on the network namespace of the calling thread, through libiptc handles
of its own: python-iptables' ``Table(name)`` is one object per table name for the whole process, so each
sync opens a private ``Table`` instead (see ``_open``), in the namespace the caller has switched to, and
frees it after the commit.  So threads may apply at the same time in different namespaces (kube-proxy's
nodes are synced in parallel); python-iptables' calls into libiptc release the GIL.  Two writers of the
same namespace's table must not run at once (the control plane runs them one after the other).

Rules are written as blobs packed by ``iptables_blobs`` (python-iptables' own rule building is far too
slow for 11,000 rules), through python-iptables' ``Table`` (libiptc: create/flush/append/insert/delete,
then ``commit()``).  With ``previous`` only the chains whose rules differ from it are rewritten; without
it, each chain is read back (``iptables_blobs.read_chain``) and compared with the blobs.
"""

from __future__ import annotations

import contextlib
import ctypes as ct
import os
import socket
import threading
import time

from toycluster.kernel import iptables_blobs
from toycluster.kernel.iptables_blobs import MODULE_TARGETS, STANDARD_TARGETS, ApplyError, rule_blob
from toycluster.kernel.iptables_readback import chain_names, read_chain
from toycluster.kernel.iptables_chains import BUILTINS

__all__ = ["apply", "ApplyError", "LAST_SYNC", "close_tables", "last_sync", "open_tables", "rule_blob"]

# Timings and counts of the last apply() to finish in any thread, per table (for logs and the
# benchmark); last_sync() gives the calling thread's.
LAST_SYNC: dict[str, dict] = {}
_local = threading.local()


class _GetInfo(ct.Structure):     # struct ipt_getinfo (linux/netfilter_ipv4/ip_tables.h)
    _fields_ = [("name", ct.c_char * 32), ("valid_hooks", ct.c_uint), ("hook_entry", ct.c_uint * 5),
                ("underflow", ct.c_uint * 5), ("num_entries", ct.c_uint), ("size", ct.c_uint)]


_IPT_SO_GET_INFO = 64
_libc = ct.CDLL(None, use_errno=True)


def table_info(tname: str, sock: socket.socket | None = None) -> tuple[int, int]:
    """(entries, bytes) of table TNAME in the calling thread's namespace (or in that of SOCK, a raw socket
    made there), as the kernel has it now: the header libiptc reads first (IPT_SO_GET_INFO), no rule
    copied.  Any commit that adds, removes or resizes a rule changes it."""
    info, size = _GetInfo(name=tname.encode()), ct.c_uint(ct.sizeof(_GetInfo))
    with contextlib.nullcontext(sock) if sock else socket.socket(socket.AF_INET, socket.SOCK_RAW,
                                                                  socket.IPPROTO_RAW) as s:
        if _libc.getsockopt(s.fileno(), socket.IPPROTO_IP, _IPT_SO_GET_INFO, ct.byref(info), ct.byref(size)):
            raise ApplyError(f"{tname} table: cannot read its header: {os.strerror(ct.get_errno())}")
    return info.num_entries, info.size


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
        if target and target not in STANDARD_TARGETS and target not in MODULE_TARGETS \
                and target not in desired and target not in existing:
            raise ApplyError(f"{tname} table, chain {chain}, rule {n}: jump to {target}, "
                             f"which is not a chain: {' '.join(rule)}")
        try:
            out.append(rule_blob(rule))
        except ApplyError as e:
            raise ApplyError(f"{tname} table, chain {chain}, rule {n}: {e}") from e
    return out


def _open(tname: str):
    """A python-iptables Table of our own, opened (iptc_init) in the calling thread's namespace, with
    autocommit off: not the process-wide object ``iptc.Table(tname)`` returns, so that threads working
    in different namespaces never share a handle.  close() frees it; nothing uncommitted is written."""
    import iptc
    table = object.__new__(iptc.Table)
    table._init(tname, False)
    return table


def open_tables(tables) -> dict:
    """TABLES read now (opened) in the calling thread's namespace, for an apply() there a moment later
    (``opened=``): kube-proxy reads its nat table while it renders.  Only for a table nobody else
    writes in between: the commit writes back what was read plus our changes, and the kernel refuses
    it (then apply reads again) only if the table's rule count changed meanwhile."""
    opened = {}
    try:
        for tname in tables:
            opened[tname] = _call("open", tname, None, _open, tname)
    except BaseException:
        close_tables(opened)
        raise
    return opened


def close_tables(opened: dict | None) -> None:
    """Free the handles of open_tables() (those apply() used are already freed; freeing twice is safe)."""
    for table in (opened or {}).values():
        table.close()


def _apply_table(tname: str, desired: dict, prev: dict | None, owned: tuple, pin_first=False,
                 table=None) -> dict:
    """Sync one table in one libiptc commit through a handle of our own (TABLE if already opened); if we
    fail, the handle is freed uncommitted, so nothing is written."""
    if tname not in BUILTINS:
        raise ApplyError(f"{tname} table: not one kube-proxy writes (only {', '.join(BUILTINS)})")
    started = time.perf_counter()
    early = table is not None
    if not early:
        table = _call("open", tname, None, _open, tname)
    try:
        result = _sync_table(table, tname, desired, prev, owned, pin_first)
    finally:
        table.close()
    result["refresh_ms"] = (result.pop("begun") - started) * 1e3     # the re-read of the table (iptc_init)
    result["read_early"] = early                                     # by open_tables(): not in refresh_ms
    return result


def _sync_table(table, tname: str, desired: dict, prev: dict | None, owned: tuple, pin_first=False) -> dict:
    begun = time.perf_counter()
    builtins = set(BUILTINS[tname])
    # Trusting prev, the table is taken to hold prev's chains (listing 4,000 chains would cost more than the
    # write itself).  Where it does not (iptables -X?), libiptc or the kernel refuses the write (a flush or a
    # delete of a chain that is not there, a chain made twice, a jump to nothing, a rule count that changed
    # since the read) and apply() reads the table and syncs again.
    existing = chain_names(table) if prev is None else prev.keys() | builtins
    todo = [c for c in (desired if prev is None else _differ(prev, desired)) if c not in builtins]
    blobs = {c: _chain_blobs(tname, c, desired[c], desired, existing) for c in todo}
    if prev is None:
        ours = [c for c in existing if c.startswith(owned) or c in desired]
        current = {c: read_chain(table, c) for c in ours if c not in builtins}
        changed = [c for c in todo if current.get(c) != [k for _, k in blobs[c]]]
    else:
        changed = todo    # a chain not in the kernel is not in prev either (else prev was dropped above)
    stale = {c for c in existing - desired.keys() if c.startswith(owned)}
    if prev is not None:
        stale |= (prev.keys() - desired.keys() - builtins) & existing

    for chain in sorted(desired.keys() - existing - builtins):
        with iptables_blobs.LOCK:
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
    return {"read": prev is None, "begun": begun, "info": table_info(tname),
            "write_ms": (written - begun) * 1e3, "commit_ms": (done - written) * 1e3,
            "chains_rewritten": len(changed), "chains_deleted": len(stale)}


def _differ(prev: dict, desired: dict) -> list[str]:
    """DESIRED's chains, in order, whose rules are not PREV's (the same list object, as kube-proxy's
    changes.ClusterRender hands out for an unchanged Service, is the quick answer)."""
    get = prev.get
    return [c for c, rules in desired.items() if (was := get(c)) is not rules and was != rules]


def _sync_builtin(table, tname, chain, want, unwanted_keys, stale, pin_first=False):
    """Our jumps in a built-in chain: insert missing ones at the top (in order), delete ours that are
    no longer wanted and any jump into a chain being deleted; leave every other rule alone.  With
    pin_first, our jumps must be the chain's first rules: if another writer put rules above them, ours
    are taken out and put back on top."""
    have = read_chain(table, chain)
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


def apply(state: dict, previous: dict | None = None, *, owned_prefixes: tuple, pin_first: bool = False,
          opened: dict | None = None, verify: dict | None = None) -> dict:
    """Make the current namespace's tables hold ``state``; return it (the ``previous`` of next time).

    ``owned_prefixes``: chains with these prefixes that ``state`` lacks are the caller's stale chains and
    are deleted (kube-proxy passes its service chains' prefixes, the network policy agent its own, so the
    two writers of the filter table never delete each other's chains).  ``pin_first``: the caller's jumps
    in built-in chains are kept above everyone else's (checked whenever the built-in chain is synced).

    With ``previous`` only the chains whose rules differ from it are rewritten (a table equal to it is
    not even read); without it the tables
    are read and compared rule by rule (so a flushed or edited table is restored).  If the kernel turns
    out not to match ``previous`` (a chain vanished), the table is read and the sync is redone.
    ``opened``: tables read a moment ago by open_tables() in this namespace, used instead of reading
    them again, and freed (used or not).  Timings: ``last_sync()`` in the same thread, or ``LAST_SYNC``;
    each table's entry there has its ``info`` (table_info()) as this apply left it.

    ``verify`` (a periodic resync): {table: info} as the last apply left it.  ``previous`` is trusted only
    for the tables whose header still says so; any other (flushed, edited: someone else wrote it) is read
    and compared rule by rule.  (A rule replaced by another of the very same size goes unnoticed.)
    """
    global LAST_SYNC
    _local.last = sync = {}
    try:
        return _apply(state, previous, owned_prefixes, pin_first, sync, dict(opened or {}), verify)
    finally:
        close_tables(opened)
        LAST_SYNC = sync


def last_sync() -> dict[str, dict]:
    """Timings and counts of the calling thread's last apply(), per table."""
    return getattr(_local, "last", {})


def _apply(state: dict, previous: dict | None, owned, pin_first, sync: dict, opened: dict, verify) -> dict:
    done = {}
    for tname, chains in state.items():  # refuse a bad rule before any table is committed
        for chain in (chains if previous is None else _differ(previous.get(tname) or {}, chains)):
            for n, rule in enumerate(chains[chain], 1):
                try:
                    rule_blob(rule)
                except ApplyError as e:
                    raise ApplyError(f"{tname} table, chain {chain}, rule {n}: {e}") from e
    for tname in [t for t in ("filter", "nat") if t in state] + \
                 sorted(t for t in state if t not in ("filter", "nat")):
        prev = previous.get(tname) if previous is not None else None
        early = opened.pop(tname, None)
        if prev is not None and verify is not None and verify.get(tname) != table_info(tname):
            prev = early = None     # changed by someone else since: read it now, compare every rule
        if prev is not None and prev.keys() == state[tname].keys() and not _differ(prev, state[tname]):
            done[tname] = dict(state[tname])   # nothing to write: not even read (no wait for the kernel)
            continue
        try:
            sync[tname] = _apply_table(tname, state[tname], prev, owned, pin_first, early)
        except ApplyError:
            if prev is None and early is None:
                raise
            sync[tname] = _apply_table(tname, state[tname], None, owned, pin_first)   # read it now
        done[tname] = dict(state[tname])  # the rule lists are shared with `state`: do not mutate them
    return done
