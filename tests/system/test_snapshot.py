"""The machine stays as it was (DESIGN.md rule 4): links, addresses, routes, rules, network namespaces,
iptables of both backends, sysctls, mounts and processes are the same before `up` and after `down`.

Other clusters may be up on the machine while this runs (a person's, another test's): lines that name
them are left out of both snapshots, so the comparison is about this test's cluster alone."""
import contextlib
import difflib
import glob
import os
import re
import shutil
import signal
import time


from conftest import STATE_ROOT, cluster_processes, container_pid, mentions, pod_yaml, poll, sh


def _cluster_names() -> set[str]:
    names = set(os.listdir(STATE_ROOT)) if os.path.isdir(STATE_ROOT) else set()
    if os.path.isdir("/run/netns"):
        names |= {n.split(".")[0] for n in os.listdir("/run/netns") if "." in n}
    return names


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError as e:
        return f"<{e.strerror}>"


def snapshot(cluster: str) -> dict[str, list[str]]:
    """The machine's state as text, one list of lines per part, in a stable order."""
    snap = {
        "links": sh("ip -o link show").stdout.splitlines(),
        "addresses": [re.sub(r"\s+(valid_lft|preferred_lft) \S+", "", line)
                      for line in sh("ip -o addr show").stdout.splitlines()],
        "routes4": sh("ip -4 route show table all").stdout.splitlines(),
        "routes6": [re.sub(r" expires \S+", "", line) for line in sh("ip -6 route show table all").stdout.splitlines()],
        "rules4": sh("ip -4 rule show").stdout.splitlines(),
        "rules6": sh("ip -6 rule show").stdout.splitlines(),
        "netns": sh("ip netns list").stdout.splitlines(),
        "run-netns": sorted(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else ["<none>"],
        "etc-netns": sorted(os.listdir("/etc/netns")) if os.path.isdir("/etc/netns") else ["<none>"],
        "state-dirs": sorted(os.listdir(STATE_ROOT)) if os.path.isdir(STATE_ROOT) else ["<none>"],
        "mounts": [line.strip() for line in open("/proc/self/mountinfo")],
        "processes": [p.split(" ", 1)[1] for p in cluster_processes(cluster)],
    }
    for tool in ("iptables-legacy-save", "iptables-nft-save", "ip6tables-legacy-save", "ip6tables-nft-save"):
        if shutil.which(tool):
            p = sh(tool)
            snap[tool] = [re.sub(r"\[\d+:\d+\]", "", line) for line in (p.stdout + p.stderr).splitlines()
                          if line.strip() and not line.startswith("#")]
    sysctls = ["/proc/sys/net/ipv4/ip_forward"]
    for pattern in ("/proc/sys/net/ipv4/conf/all/*", "/proc/sys/net/ipv4/conf/default/*",
                    "/proc/sys/net/ipv6/conf/all/*", "/proc/sys/net/ipv6/conf/default/*",
                    "/proc/sys/net/bridge/bridge-nf-call-*"):
        sysctls += sorted(glob.glob(pattern))
    snap["sysctls"] = [f"{path} = {_read(path)}" for path in sysctls
                       if not path.endswith("stable_secret")]   # unreadable by design
    return snap


def without_others(snap: dict, others: set[str]) -> dict:
    """SNAP without the lines that name another cluster."""
    def keep(line):
        return not any(mentions(o, line) for o in others)
    return {part: [line for line in lines if keep(line)] for part, lines in snap.items()}


def differences(a: dict, b: dict) -> str:
    out = []
    for part in sorted(set(a) | set(b)):
        if a.get(part) != b.get(part):
            out.append(f"--- {part} changed:")
            out += list(difflib.unified_diff(a.get(part, []), b.get(part, []), "before up", "after down", lineterm=""))
    return "\n".join(out)


def test_machine_is_the_same_after_down(cluster_factory):
    c = cluster_factory(start=False)
    others_before = _cluster_names() - {c.name}
    before = snapshot(c.name)

    c.up()
    # use the cluster the way a learner would, so that there is something to clean up
    c.apply("---\n".join([pod_yaml("client", "nicolaka/netshoot", node=1),
                          pod_yaml("web", "toycluster/echo", node=2, port=8080),
                          pod_yaml("looper", "busybox", node=1, command=["sh", "-c", "while :; do sleep 1; done",
                                                                          c.name])]))
    pods = {p["metadata"]["name"]: p for p in c.wait_running(names=["client", "web", "looper"])}
    assert "Pod: default/web" in c.curl("client", f"http://{pods['web']['status']['podIP']}:8080/")
    assert sh(f"ping -c 1 -W 2 {c.node_ip(1)}").returncode == 0
    os.kill(container_pid(pods["web"]), signal.SIGKILL)     # a restart on the way
    poll(lambda: c.api_pod("web")["status"]["containerStatuses"][0]["restartCount"] == 1, what="a restart")
    c.ok("delete", "pod", "looper")

    during = without_others(snapshot(c.name), others_before | _cluster_names() - {c.name})
    # the snapshot sees the cluster: it would notice anything left of it
    assert any(f"{c.name}-host" in line for line in during["links"])
    assert any(line.startswith(f"{c.name}.node1") for line in during["netns"])
    assert any(f"/run/netns/{c.name}." in line for line in during["mounts"])
    assert any("toycluster.cluster.controlplane" in p for p in during["processes"])
    assert c.name in during["state-dirs"]

    c.ok("down")
    after = snapshot(c.name)
    others = others_before | _cluster_names() - {c.name}
    diff = differences(without_others(before, others), without_others(after, others))
    assert not diff, f"`toycluster down` did not leave the machine as it was:\n{diff}"


def _pods(n: int) -> str:
    return "---\n".join(pod_yaml(f"p{i}", "busybox", node=1 + i % 2) for i in range(n))


def test_down_while_pods_start_leaves_no_process(cluster_factory):
    """`down` right after an apply, while the control plane is still forking containers: none may survive.
    (Before nodes.teardown killed the control plane first and then scanned, 6 rounds in 10 left a pod
    process orphaned in an unpinned namespace, or one the control plane restarted while being torn down.)"""
    c = cluster_factory(start=False)
    left = []
    try:
        for _ in range(2):
            c.up()
            c.apply(_pods(10))
            time.sleep(0.05)
            c.ok("down")
            time.sleep(0.3)
            left = cluster_processes(c.name)
            assert left == [], f"`down` while pods were starting left: {left}"
    finally:
        for line in cluster_processes(c.name):     # so that the fixture can check the rest
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(line.split()[0]), signal.SIGKILL)
