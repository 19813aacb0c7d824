"""lab/packets.py: names read as `toycluster exec` reads them, the exec PATH, and sniff_hops on the machine's loopback.

The sniffing tests need root (packet sockets, setns) and touch nothing but `lo` in the machine's own namespace;
the system test (tests/system/test_scapy.py) does the same through a cluster's pods and nodes.
"""
import ctypes
import os
import socket
import sys
import threading
import time

import pytest

import toycluster.lab.packets as tl
from toycluster import config
from toycluster.cluster.lifecycle import UsageError

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="packet sockets and setns need root")


# ---------------------------------------------------------------- names
@pytest.fixture
def cluster(monkeypatch):
    """A cluster `lab1` with two nodes whose namespaces are those in the returned set (nothing is made)."""
    cfg = config.ClusterConfig(name="lab1", nodes=2)
    existing = {"lab1.node1", "lab1.node2", "lab1.user", "lab1.pod.default.client", "lab1.pod.kube-system.coredns-1",
                "lab1.pod.default.node1"}
    monkeypatch.setattr(tl.lifecycle, "exists", lambda name: name == "lab1")
    monkeypatch.setattr(tl.config.ClusterConfig, "load", staticmethod(lambda name: cfg))
    monkeypatch.setattr(tl.nsfs, "netns_exists", lambda ns: ns in existing)
    monkeypatch.setenv("TOYCLUSTER", "lab1")
    return existing


def test_a_pod_node_cloud_part_or_namespace_name_resolves_as_exec_reads_it(cluster):
    assert tl.resolve("client").netns == "lab1.pod.default.client"
    assert tl.resolve("node2").netns == "lab1.node2"
    assert tl.resolve("user").path == "/run/netns/lab1.user"
    assert tl.resolve("lab1.node1").netns == "lab1.node1"
    assert tl.resolve("kube-system/coredns-1").netns == "lab1.pod.kube-system.coredns-1"
    assert tl.resolve("coredns-1", namespace="kube-system").netns == "lab1.pod.kube-system.coredns-1"
    assert tl.resolve("node1").netns == "lab1.pod.default.node1"      # a pod first, as pod_or_node
    assert tl.resolve("host") == tl.Target("host", "", tl.HOST_PATH)


@pytest.mark.parametrize("name", ["nosuch", "node3", "lb", "other.node1", "kube-system/client"])
def test_an_unknown_name_is_an_error_naming_it(cluster, name):
    with pytest.raises(UsageError, match=name.split("/")[-1]):
        tl.resolve(name)


def test_the_cluster_is_the_argument_then_toycluster_then_toy(monkeypatch):
    monkeypatch.delenv("TOYCLUSTER", raising=False)
    assert tl.cluster_of() == "toy" and tl.cluster_of("x") == "x"
    monkeypatch.setenv("TOYCLUSTER", "lab2")
    assert tl.cluster_of() == "lab2" and tl.cluster_of("x") == "x"


def test_a_missing_cluster_is_an_error(monkeypatch):
    monkeypatch.setattr(tl.lifecycle, "exists", lambda name: False)
    with pytest.raises(UsageError, match="cluster gone does not exist"):
        tl.resolve("client", cluster="gone")


def test_only_pods_have_a_veth(cluster):
    with pytest.raises(UsageError, match="not a pod"):
        tl.veth_of("node2")


def test_exec_path_puts_the_running_pythons_bin_first_once():
    here = os.path.dirname(sys.executable)
    assert tl.exec_path("/usr/bin:/bin").split(":") == [here, "/usr/bin", "/bin"]
    assert tl.exec_path(f"/bin:{here}:/usr/bin").split(":") == [here, "/bin", "/usr/bin"]
    assert tl.exec_path(None) == here and tl.exec_path("") == here
    assert os.access(os.path.join(here, "python3"), os.X_OK)      # what a pod's `python3` then is


def test_sniff_hops_needs_a_count_or_a_timeout():
    with pytest.raises(UsageError, match="never end"):
        tl.sniff_hops([("host", "lo")], count=0, timeout=None)


# ---------------------------------------------------------------- the thread's namespace, and sniffing lo
def _fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def _settled(before_threads: int) -> bool:
    deadline = time.monotonic() + 2
    while threading.active_count() > before_threads and time.monotonic() < deadline:
        time.sleep(0.01)
    return threading.active_count() == before_threads


@needs_root
def test_netns_comes_back_to_the_threads_own_namespace():
    home = os.stat("/proc/thread-self/ns/net").st_ino
    seen = []

    def elsewhere():                   # a thread of its own, moved into a fresh namespace, asks for the host's
        assert ctypes.CDLL(None, use_errno=True).unshare(0x40000000) == 0    # CLONE_NEWNET, gone with the thread
        seen.append(os.stat("/proc/thread-self/ns/net").st_ino)
        with tl.netns("host") as name:
            seen.append((name, os.stat("/proc/thread-self/ns/net").st_ino))
        seen.append(os.stat("/proc/thread-self/ns/net").st_ino)

    t = threading.Thread(target=elsewhere)
    t.start()
    t.join()
    assert seen[0] != home and seen[1] == ("", home) and seen[2] == seen[0]
    assert os.stat("/proc/thread-self/ns/net").st_ino == home


def _udp_to(port: int, payload: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(payload, ("127.0.0.1", port))


@needs_root
def test_sniff_hops_merges_every_hop_in_kernel_time_order_and_leaves_nothing():
    import scapy.all  # noqa: F401  (its import opens what it keeps for good; only sniff_hops' own must go)
    threads, fds = threading.active_count(), _fds()
    port = 40000 + os.getpid() % 20000
    packets = tl.sniff_hops([("host", "lo"), ("host", "lo")], filter=f"udp port {port}", count=2, timeout=5,
                            started_callback=lambda: _udp_to(port, b"hop"))
    assert len(packets) == 4                                    # lo shows it going out and coming in, on both
    assert [p.sniffed_on for p in packets].count("host:lo") == 4
    assert all(bytes(p["UDP"].payload) == b"hop" for p in packets)
    times = [float(p.time) for p in packets]
    assert times == sorted(times) and times[-1] - times[0] < 1
    assert _settled(threads) and _fds() == fds


@needs_root
def test_sniff_hops_times_out_and_cleans_up_when_nothing_comes():
    threads, fds = threading.active_count(), _fds()
    t = time.monotonic()
    packets = tl.sniff_hops([("host", "lo")], filter="udp port 9 and host 127.0.0.9", count=1, timeout=0.3)
    assert len(packets) == 0 and 0.25 < time.monotonic() - t < 2
    assert _settled(threads) and _fds() == fds


@needs_root
def test_a_failing_callback_or_interface_still_closes_every_socket():
    import scapy.all  # noqa: F401
    threads, fds = threading.active_count(), _fds()
    with pytest.raises(RuntimeError, match="boom"):
        tl.sniff_hops([("host", "lo")], count=1, timeout=5, started_callback=lambda: (_ for _ in ()).throw(
            RuntimeError("boom")))
    with pytest.raises(UsageError, match="no interface nosuch0 in host"):
        tl.sniff_hops([("host", "lo"), ("host", "nosuch0")], count=1, timeout=1)
    assert _settled(threads) and _fds() == fds
