"""The data plane outlives the control plane: after kill -9 of the control plane the pods keep serving,
`up` again adopts what exists (same pods, same addresses, no second copy of anything), and `down`
removes everything even then, or with the cluster's state directory deleted as well."""
import os
import re
import shutil
import signal
import time

import pytest

from conftest import STATE_ROOT, cluster_processes, container_pid, control_plane_pids, leftovers, pod_yaml, poll, sh


def kill_control_plane(name: str) -> None:
    pids = control_plane_pids(name)
    assert len(pids) == 1, f"expected one control plane of {name}, found {pids}"
    os.kill(pids[0], signal.SIGKILL)
    poll(lambda: not os.path.exists(f"/proc/{pids[0]}") or open(f"/proc/{pids[0]}/stat").read().split(") ")[1][0]
         == "Z", what="the control plane to die")


def populate(c):
    c.apply("---\n".join([pod_yaml("client", "nicolaka/netshoot", node=1),
                          pod_yaml("echo-1", "toycluster/echo", node=1, port=8080),
                          pod_yaml("echo-2", "toycluster/echo", node=2, port=8080),
                          pod_yaml("looper", "busybox", node=2, command=[
                              "sh", "-c", "while :; do sleep 1; done", c.name])]))
    return {p["metadata"]["name"]: p for p in c.wait_running(names=["client", "echo-1", "echo-2", "looper"])}


def identity(pods: dict) -> dict:
    return {n: (p["metadata"]["uid"], p["status"]["podIP"], p["spec"]["nodeName"],
                [s["containerID"] for s in p["status"]["containerStatuses"]]) for n, p in pods.items()}


def pod_processes(name: str) -> dict[int, str]:
    """{pid: command line} of the cluster's pod processes (by pid: a container may exec between two looks)."""
    out = {}
    for line in cluster_processes(name):
        pid, cmd = line.split(" ", 1)
        if "toycluster pod" in cmd or "while :" in cmd:
            out[int(pid)] = cmd
    return out


def test_pods_keep_serving_and_up_adopts(fresh_cluster):
    c = fresh_cluster
    pods = populate(c)
    time.sleep(1)    # the store is written to disk debounced: see test_kill_just_after_pods_start below
    before = identity(pods)
    procs_before = sorted(pod_processes(c.name))
    assert len(procs_before) >= 4, pod_processes(c.name)
    ip2 = pods["echo-2"]["status"]["podIP"]

    kill_control_plane(c.name)

    # the data plane keeps working, and exec goes into the namespace directly
    p = c.exec("client", "curl", "-s", "--max-time", "5", f"http://{ip2}:8080/")
    assert "Pod: default/echo-2" in p.stdout, p
    assert "control plane is not answering" in p.stderr, p.stderr
    assert c.exec("client", "hostname").stdout.strip() == "client"
    assert c.exec("node1", "ip", "route").returncode == 0
    # the CLI says what is wrong instead of hanging
    st = c.run("status")
    assert st.returncode == 1 and "NOT running" in st.stdout, st
    g = c.run("get", "pods")
    assert g.returncode == 1 and "not answering" in g.stderr and "toycluster up" in g.stderr, g

    # up again: adopts
    out = c.ok(*c.up_args())
    assert "adopted" in out, out
    assert len(control_plane_pids(c.name)) == 1
    after = {p["metadata"]["name"]: p for p in c.wait_running(names=list(before))}
    assert identity(after) == before, "the same pods, addresses and processes after the restart"
    assert sorted(pod_processes(c.name)) == procs_before, f"pod processes started again: {pod_processes(c.name)}"
    assert all(s["restartCount"] == 0 for p in after.values() for s in p["status"]["containerStatuses"])
    st = c.run("status")
    assert st.returncode == 0 and "The control plane is running" in st.stdout, st.stdout
    counts = re.search(r"(\d+) pods, (\d+) of them Running", st.stdout)
    assert counts and counts[1] == counts[2] and int(counts[1]) >= 4, st.stdout
    assert "Pod: default/echo-2" in c.curl("client", f"http://{ip2}:8080/")

    # the adopted control plane still supervises: a killed adopted container restarts
    old = container_pid(after["echo-2"])
    os.kill(old, signal.SIGKILL)
    def restarted():
        p = c.api_pod("echo-2")
        return p if (p["status"]["containerStatuses"][0]["restartCount"] == 1 and p["status"]["phase"] == "Running"
                     and container_pid(p) != old) else None
    pod = poll(restarted, what="the adopted container to restart")
    assert pod["status"]["podIP"] == ip2
    poll(lambda: "Pod: default/echo-2" in c.curl("client", f"http://{ip2}:8080/"), what="echo-2 to answer again")

    # and new pods get new addresses, not an adopted pod's
    c.apply(pod_yaml("late", "toycluster/echo", node=2, port=8080))
    late = c.wait_running(names=["late"])[0]
    assert late["status"]["podIP"] not in {v[1] for v in before.values()}
    # deleting an adopted pod removes its processes and namespace
    c.ok("delete", "pod", "looper")
    assert f"{c.name}.pod.default.looper" not in sh("ip netns list").stdout
    assert not any("while :" in cmd or ".looper " in cmd for cmd in pod_processes(c.name).values())


def test_up_twice_after_kill_starts_one_control_plane(fresh_cluster):
    c = fresh_cluster
    populate(c)
    kill_control_plane(c.name)
    c.ok(*c.up_args())
    p = c.up(check=None)
    assert p.returncode == 2 and "already exists" in p.stderr, p
    assert len(control_plane_pids(c.name)) == 1


@pytest.mark.parametrize("lose_state", [False, True], ids=["state-kept", "state-deleted"])
def test_down_after_kill_removes_everything(fresh_cluster, lose_state):
    c = fresh_cluster
    populate(c)
    assert leftovers(c.name), "the probe finds a live cluster"
    kill_control_plane(c.name)
    if lose_state:
        shutil.rmtree(f"{STATE_ROOT}/{c.name}")
        st = c.run("status")
        assert st.returncode == 1, st
    out = c.ok("down")
    assert f"cluster {c.name} removed" in out, out
    assert leftovers(c.name) == []
    # and the name is free again: a new cluster of that name comes up and works
    c.up()
    c.apply(pod_yaml("again", "toycluster/echo", port=8080))
    ip = c.wait_running(names=["again"])[0]["status"]["podIP"]
    assert c.exec("again", "curl", "-s", "--max-time", "5", f"http://{ip}:8080/").stdout.startswith("Hostname: again")


def test_kill_just_after_pods_start_then_up_adopts_without_duplicates(fresh_cluster):
    c = fresh_cluster
    names = [f"quick{i}" for i in range(12)]
    c.apply("---\n".join(pod_yaml(n, "toycluster/echo", port=8080) for n in names))
    api = c.api()

    def all_running():
        pods = [p for p in api.list("Pod", "default") if p["metadata"]["name"] in names]
        return pods if len(pods) == len(names) and all(p.get("status", {}).get("phase") == "Running"
                                                       for p in pods) else None
    pods = poll(all_running, interval=0.002, what="the pods to be Running")
    kill_control_plane(c.name)        # at once: within the store's write-behind delay
    before = {p["metadata"]["name"]: p["status"]["podIP"] for p in pods}
    c.ok(*c.up_args())
    time.sleep(2)        # a duplicate container would have failed and been restarted by now
    pods = {p["metadata"]["name"]: p for p in c.pods()}
    restarted = {n: [s["restartCount"] for s in pods[n]["status"]["containerStatuses"]] for n in names
                 if any(s["restartCount"] for s in pods[n]["status"].get("containerStatuses", []))}
    assert restarted == {}, f"pods restarted after the control plane was restarted: {restarted}"
    assert {n: pods[n]["status"]["podIP"] for n in names} == before
    per_pod = {}
    for cmd in pod_processes(c.name).values():
        per_pod[cmd] = per_pod.get(cmd, 0) + 1
    assert all(v == 1 for v in per_pod.values()), per_pod
