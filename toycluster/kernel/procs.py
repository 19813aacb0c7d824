"""Processes as the kernel shows them in /proc: the one scan that finds a cluster's processes.

What `ps`, `pgrep -f` and `ip netns pids` read: each process's command line, its network namespace and
its state. `toycluster down` finds everything a cluster started through these, with no state file.
"""
import contextlib
import os


def all_pids() -> list[int]:
    """Every process but this one."""
    me = os.getpid()
    return [int(e) for e in os.listdir("/proc") if e.isdigit() and int(e) != me]


def cmdline(pid: int) -> str | None:
    """PID's command line, its arguments joined by spaces (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None


def pids_matching(wants: list[str]) -> list[int]:
    """Processes whose command line (arguments joined by spaces, one after the last) holds one of WANTS."""
    return [pid for pid in all_pids() if any(w in f"{cmdline(pid)} " for w in wants)]


def net_inode(pid: int) -> int | None:
    """The inode of PID's network namespace (what /run/netns pins are compared by)."""
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return None


def pids_in(inodes: set[int]) -> list[int]:
    """Every process whose network namespace is one of INODES (what `ip netns pids` does)."""
    return [pid for pid in all_pids() if net_inode(pid) in inodes]


def alive(pid: int) -> bool:
    """True while PID runs (a zombie, dead but not yet reaped, counts as gone)."""
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    return False
