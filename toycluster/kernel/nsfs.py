"""Container runtime plumbing: network namespaces, pod processes' namespaces, sysctls and netlink handles.

Everything here is a thin wrapper over system calls (through ctypes, so no helper process is forked):
a network namespace is a file under /run/netns bind-mounted from a thread's namespace, exactly as
`ip netns add` makes one, so `ip netns list` and `ip netns exec` see ours.
"""
import contextlib
import ctypes
import os
import socket

from toycluster.kernel import procs

NETNS_DIR = "/run/netns"
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWNET = 0x00020000, 0x04000000, 0x40000000
MS_RDONLY, MS_BIND, MS_REC, MS_SLAVE = 1, 4096, 16384, 1 << 19
MNT_DETACH = 2

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(src, dst, fstype, flags) -> None:
    enc = lambda s: s.encode() if isinstance(s, str) else s
    _check(_libc.mount(enc(src), enc(dst), enc(fstype), flags, None), f"mount {dst}")


def netns_path(name: str) -> str:
    return f"{NETNS_DIR}/{name}"


def create_netns(name: str) -> None:
    """A new network namespace pinned at /run/netns/NAME (what `ip netns add NAME` does). The calling
    thread unshares into it, pins it, and goes back where it was: no helper process, no helper thread."""
    os.makedirs(NETNS_DIR, exist_ok=True)
    path = netns_path(name)
    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDONLY, 0o444))
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        _check(_libc.unshare(CLONE_NEWNET), f"unshare for netns {name}")
        try:
            _mount("/proc/thread-self/ns/net", path, None, MS_BIND)
        finally:
            setns(home)
    except OSError:
        os.unlink(path)
        raise
    finally:
        os.close(home)


def delete_netns(name: str) -> None:
    """Unpin a namespace; the kernel frees it (and its interfaces) once no process is left in it."""
    path = netns_path(name)
    _libc.umount2(path.encode(), MNT_DETACH)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def list_netns(prefix: str = "") -> list[str]:
    try:
        return sorted(n for n in os.listdir(NETNS_DIR) if n.startswith(prefix))
    except FileNotFoundError:
        return []


def netns_exists(name: str) -> bool:
    return os.path.exists(netns_path(name))


def netns_dir_mounted() -> bool:
    """True if NETNS_DIR is a mount point, as `ip netns add` leaves it (a bind mount onto itself, which
    os.path.ismount cannot tell).  toycluster never makes it one; the benchmarks' reference rows do."""
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == NETNS_DIR for line in f)


def unmount_netns_dir_if_empty() -> None:
    """Undo the mount point `ip netns add` left at NETNS_DIR once it holds no namespace again (callers
    that found it mounted before they ran leave it alone)."""
    if netns_dir_mounted() and not list_netns():
        _libc.umount2(NETNS_DIR.encode(), 0)


def setns(fd: int, nstype: int = CLONE_NEWNET) -> None:
    _check(_libc.setns(fd, nstype), "setns")


@contextlib.contextmanager
def in_netns(name: str):
    """Run the calling thread inside network namespace NAME for the duration of the block."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(netns_path(name), os.O_RDONLY)
    try:
        setns(target)
        yield
    finally:
        setns(home)
        os.close(home)
        os.close(target)


def iproute(netns: str | None = None):
    """A pyroute2 IPRoute bound to NETNS (opened there, it stays there), without forking a helper."""
    from pyroute2 import IPRoute          # imported on first use: the CLI's other verbs do without it
    if netns is None:
        return IPRoute()
    with in_netns(netns):
        return IPRoute()


def sysctl(netns: str, key: str, value) -> None:
    """Write a sysctl inside NETNS (/proc/sys/net follows the namespace of the thread that opens it)."""
    with in_netns(netns), open("/proc/sys/" + key.replace(".", "/"), "w") as f:
        f.write(str(value))


def netns_inode(name: str) -> int | None:
    try:
        return os.stat(netns_path(name)).st_ino
    except FileNotFoundError:
        return None


def pids_in_netns(names) -> list[int]:
    """Every process whose network namespace is one of NAMES (what `ip netns pids` does)."""
    return procs.pids_in({netns_inode(n) for n in names} - {None})


def etc_dir(netns: str) -> str:
    """Where `ip netns exec` looks for a namespace's own resolv.conf and hosts."""
    return f"/etc/netns/{netns}"


def enter_pod(netns: str, hostname: str | None) -> None:
    """Move the calling (single-threaded, usually just forked) process into a pod or node:
    its network namespace, a UTS namespace with the pod's hostname, and a mount namespace where
    /etc/netns/NETNS/* is bound over /etc/* and /sys shows the pod's interfaces (as `ip netns exec`)."""
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWUTS), f"unshare for {netns}")
    _mount(None, "/", None, MS_REC | MS_SLAVE)
    # Our copy of the other namespaces' pins would keep them alive after they are deleted: drop them, in one
    # call where /run/netns is a mount point (after any `ip netns add`), else one by one.
    if _libc.umount2(NETNS_DIR.encode(), MNT_DETACH) != 0:
        with open("/proc/self/mountinfo") as f:
            pins = [line.split()[4] for line in f if line.split()[4].startswith(NETNS_DIR + "/")]
        for pin in pins:
            _libc.umount2(pin.encode(), MNT_DETACH)
    etc = etc_dir(netns)
    if os.path.isdir(etc):
        for entry in os.listdir(etc):
            if os.path.exists(f"/etc/{entry}"):
                _mount(f"{etc}/{entry}", f"/etc/{entry}", None, MS_BIND)
    if hostname:
        socket.sethostname(hostname)


def enter_netns_only(netns: str, hostname: str | None) -> None:
    """The light way in, for built-in workloads that read no /etc files: a UTS namespace with the pod's
    hostname and the pod's network namespace, but no mount namespace (so no copies of other pods' pins)."""
    fd = os.open(netns_path(netns), os.O_RDONLY)
    _check(_libc.unshare(CLONE_NEWUTS), f"unshare for {netns}")
    if hostname:
        socket.sethostname(hostname)
    setns(fd)
    os.close(fd)


def enter_pod_netns(netns: str, hostname: str | None) -> None:
    """enter_pod(), then join the pod's network namespace and remount /sys for it."""
    fd = os.open(netns_path(netns), os.O_RDONLY)
    enter_pod(netns, hostname)
    setns(fd)
    os.close(fd)
    if _libc.umount2(b"/sys", MNT_DETACH) == 0:
        with contextlib.suppress(OSError):
            _mount(netns, "/sys", "sysfs", 0)
