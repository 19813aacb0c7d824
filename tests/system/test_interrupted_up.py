"""`up` killed half-way (SIGKILL, no chance to clean up) is followed by a `down` that removes what was made
and an `up` that succeeds (issue 2, "Reliability")."""
import os
import signal
import subprocess
import time

import pytest

from conftest import STATE_ROOT, TOYCLUSTER, control_plane_pids, leftovers, pod_yaml


def _made_statedir(c):
    return os.path.isdir(f"{STATE_ROOT}/{c.name}")


def _made_node2(c):
    return os.path.exists(f"/run/netns/{c.name}.node2")


def _started_control_plane(c):
    return bool(control_plane_pids(c.name))


# when to kill: after a fixed delay, or as soon as `up` has made a given thing
POINTS = {"after-0.1s": 0.1, "state-dir": _made_statedir, "node2-netns": _made_node2,
          "control-plane-started": _started_control_plane}


@pytest.mark.parametrize("point", list(POINTS))
def test_killed_up_then_down_then_up(cluster_factory, point):
    c = cluster_factory(start=False)
    when = POINTS[point]
    proc = subprocess.Popen([TOYCLUSTER, "--cluster", c.name, *c.up_args()], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        if isinstance(when, float):
            time.sleep(when)
        else:
            deadline = time.time() + 20
            while not when(c) and proc.poll() is None and time.time() < deadline:
                time.sleep(0.001)
            assert when(c), f"`up` never reached {point} (exit {proc.poll()}): {proc.communicate()}"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()

    made_something = bool(leftovers(c.name))
    p = c.down()
    if made_something:
        assert p.returncode == 0 and f"cluster {c.name} removed" in p.stdout, p
    else:    # killed before it made anything: nothing to remove, and down says so
        assert p.returncode == 2 and "does not exist" in p.stderr, p
    assert leftovers(c.name) == []

    c.up()
    c.apply(pod_yaml("probe", "toycluster/echo", node=2, port=8080) + "---\n"
            + pod_yaml("client", "busybox", node=1))
    c.wait_running(names=["probe", "client"])
    ip = c.pod("probe")["status"]["podIP"]
    assert "Pod: default/probe" in c.curl("client", f"http://{ip}:8080/")


def test_up_again_after_kill_without_down_says_what_to_do(cluster_factory):
    """Killed while making the nodes: a second `up` either finishes the job or says to run down first."""
    c = cluster_factory(start=False)
    proc = subprocess.Popen([TOYCLUSTER, "--cluster", c.name, *c.up_args()], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 20
    while not os.path.exists(f"/run/netns/{c.name}.node1") and proc.poll() is None and time.time() < deadline:
        time.sleep(0.001)
    proc.kill()
    proc.wait()
    p = c.up(check=None)
    assert p.returncode in (0, 2), p
    if p.returncode == 2:
        assert "down" in p.stderr, p.stderr
        c.ok("down")
        c.up()
    assert "The control plane is running" in c.ok("status")
    assert [line.split()[0] for line in c.ok("get", "nodes").splitlines()[1:]] == ["node1", "node2"]
    c.apply(pod_yaml("probe", "toycluster/echo", node=2, port=8080) + "---\n" + pod_yaml("client", "busybox", node=1))
    c.wait_running(names=["probe", "client"], timeout=6)
    ip = c.pod("probe")["status"]["podIP"]
    assert "Pod: default/probe" in c.curl("client", f"http://{ip}:8080/")
