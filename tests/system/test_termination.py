"""Terminating pods as upstream (issue 14, item 2), on a real 2-node cluster of the test's own: a deleted pod
keeps running its preStop hook while its endpoint turns terminating (ready=false, serving=true) in the
EndpointSlice and leaves the Endpoints' addresses; kube-proxy sends no new connection to it, so a client
looping on the ClusterIP sees no failed request; then SIGTERM ends it long before its grace period would
have, and only then is the pod object removed. The kubelet's events tell the story.

Traffic goes only to this cluster's ClusterIP, from a pod of its own. Times are checked as lower bounds only
(the hook's sleep), or against the 60 s grace period the pod did not need.
"""
import json
import os
import subprocess
import time

import pytest

from conftest import STATE_ROOT, TOYCLUSTER, cluster_up, container_pid, poll

HOOK_SECONDS = 4
GRACE = 60

CLIENT = r"""
import json, os, sys, time, urllib.request
url, stop, limit = sys.argv[1], sys.argv[2], time.time() + float(sys.argv[3])
ok, failed, served, log = 0, 0, {}, []
while not os.path.exists(stop) and time.time() < limit:
    t0 = time.time()
    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            body = r.read().decode(errors="replace")
        host = next((l.split(": ", 1)[1] for l in body.splitlines() if l.startswith("Hostname: ")), "?")
        served[host] = served.get(host, 0) + 1
        ok += 1
    except Exception as e:
        failed += 1
        log.append(f"{t0:.3f} {type(e).__name__}: {e}")
    if ok % 20 == 0:
        print(ok, flush=True)
    time.sleep(0.02)
print(json.dumps({"ok": ok, "failed": failed, "served": served, "log": log}), flush=True)
"""


def drain_pod(name: str, node: int, marker_dir: str) -> dict:
    hook = f'date +%s.%N > {marker_dir}/prestop-$HOSTNAME; sleep {HOOK_SECONDS}'
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "drain"}},
            "spec": {"nodeSelector": {"kubernetes.io/hostname": f"node{node}"},
                     "terminationGracePeriodSeconds": GRACE,
                     "containers": [{"name": "web", "image": "toycluster/echo",
                                     "ports": [{"containerPort": 8080, "name": "http"}],
                                     "lifecycle": {"preStop": {"exec": {"command": ["sh", "-c", hook]}}}}]}}


def manifest(c) -> str:
    marker_dir = f"{STATE_ROOT}/{c.name}"         # removed by `down` with the rest of the cluster's state
    docs = [drain_pod("drain-a", 1, marker_dir), drain_pod("drain-b", 2, marker_dir),
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "client", "labels": {"app": "client"}},
             "spec": {"nodeSelector": {"kubernetes.io/hostname": "node1"},
                      "containers": [{"name": "main", "image": "nicolaka/netshoot"}]}},
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "drain"},
             "spec": {"selector": {"app": "drain"}, "ports": [{"port": 80, "targetPort": "http"}]}}]
    return "".join("---\n" + json.dumps(d) + "\n" for d in docs)


def endpoint_of(c, ip: str) -> dict | None:
    for sl in c.api().list("EndpointSlice", "default"):
        if sl["metadata"].get("labels", {}).get("kubernetes.io/service-name") == "drain":
            for ep in sl.get("endpoints") or []:
                if ep["addresses"][0] == ip:
                    return ep
    return None


def endpoints_addresses(c) -> list[str]:
    ep = c.api().get("Endpoints", "default", "drain") or {}
    return sorted(a["ip"] for s in ep.get("subsets", []) for a in s.get("addresses", []))


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture(scope="module")
def term():
    with cluster_up() as c:
        yield c


def kubelet_events(c, pod: str) -> list[dict]:
    return [e for e in c.api().list("Event", "default")
            if e["involvedObject"]["name"] == pod and e["source"].get("component") == "kubelet"]


def test_a_deleted_pod_drains_without_a_failed_request_then_goes_after_sigterm(term, tmp_path):
    c = term
    c.apply(manifest(c))
    pods = {p["metadata"]["name"]: p for p in c.wait_running(names=["drain-a", "drain-b", "client"])}
    ip_a, pid_a = pods["drain-a"]["status"]["podIP"], container_pid(pods["drain-a"])
    poll(lambda: endpoints_addresses(c) == sorted([ip_a, pods["drain-b"]["status"]["podIP"]]),
         what="both pods in the Endpoints")
    cluster_ip = c.api().get("Service", "default", "drain")["spec"]["clusterIP"]

    script, stop = tmp_path / "client.py", tmp_path / "stop"
    script.write_text(CLIENT)
    client = subprocess.Popen([TOYCLUSTER, "--cluster", c.name, "exec", "client", "--", "python3", str(script),
                               f"http://{cluster_ip}/", str(stop), "120"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert client.stdout.readline().strip() == "20", "the client got no answers"
        deleted = time.monotonic()
        c.api().delete("Pod", "default", "drain-a")

        # terminating: still in the slice, not ready, still serving, its process still running its hook
        ep = poll(lambda: (e := endpoint_of(c, ip_a)) and e["conditions"].get("terminating") and e,
                  timeout=10, what="drain-a's endpoint to turn terminating")
        assert ep["conditions"] == {"ready": False, "serving": True, "terminating": True}, ep
        assert alive(pid_a), "the container was stopped before its preStop hook had run"
        assert ip_a not in poll(lambda: (a := endpoints_addresses(c)) and ip_a not in a and a,
                                what="drain-a to leave the Endpoints' addresses")
        pod = c.api_pod("drain-a")
        assert pod["metadata"]["deletionGracePeriodSeconds"] == GRACE, pod["metadata"]
        assert poll(lambda: os.path.exists(f"{STATE_ROOT}/{c.name}/prestop-drain-a"), timeout=10,
                    what="the preStop hook's file")

        # then SIGTERM: gone well within the grace period, never before the hook had finished
        poll(lambda: c.api_pod("drain-a") is None, timeout=GRACE / 2, interval=0.2,
             what="drain-a to be gone after SIGTERM")
        assert time.monotonic() - deleted >= HOOK_SECONDS
        assert not alive(pid_a)
        time.sleep(1)                           # the client keeps going against the pod that is left
    finally:
        stop.touch()
        out, err = client.communicate(timeout=30)
    result = json.loads(out.strip().splitlines()[-1])
    assert result["failed"] == 0, result
    assert set(result["served"]) == {"drain-a", "drain-b"} and result["ok"] >= 40, result

    events = kubelet_events(c, "drain-a")
    said = {(e["reason"], e["message"]) for e in events}
    for expected in [("Pulled", 'Container image "toycluster/echo" already present on machine and can be '
                                "accessed by the pod"),
                     ("Created", "Container created"), ("Started", "Container started"),
                     ("Killing", "Stopping container web")]:
        assert expected in said, (expected, sorted(said))
    assert all(e["source"]["host"] == "node1" for e in events), events
    assert all(e["involvedObject"].get("fieldPath") == "spec.containers{web}" for e in events), events


def test_sigkill_after_the_grace_period_and_the_probe_failures_in_events(term):
    """A process that ignores SIGTERM is killed when the grace period is over; a failing exec readiness
    probe is recorded (Unhealthy, with the command's output) and keeps the pod out of the ready endpoints."""
    c = term
    c.apply(json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "stubborn"},
                        "spec": {"terminationGracePeriodSeconds": 3, "containers": [{
                            "name": "main", "image": "busybox", "command": ["sh", "-c", "trap '' TERM; sleep 3600"],
                            "readinessProbe": {"exec": {"command": ["cat", "/nonexistent/ready"]},
                                               "periodSeconds": 1, "failureThreshold": 1}}]}}) + "\n")
    pod = poll(lambda: (p := c.api_pod("stubborn")) and p.get("status", {}).get("phase") == "Running" and p,
               timeout=15, what="stubborn to run")
    unhealthy = poll(lambda: [e for e in kubelet_events(c, "stubborn") if e["reason"] == "Unhealthy"],
                     timeout=15, what="an Unhealthy event")
    assert unhealthy[0]["type"] == "Warning"
    assert unhealthy[0]["message"].startswith("Readiness probe failed: cat: "), unhealthy[0]
    assert "No such file or directory" in unhealthy[0]["message"], unhealthy[0]
    pid = container_pid(pod)
    deleted = time.monotonic()
    c.api().delete("Pod", "default", "stubborn")
    assert c.api_pod("stubborn")["metadata"]["deletionGracePeriodSeconds"] == 3
    time.sleep(1.5)
    assert alive(pid), "SIGTERM ended a process that ignores it"
    poll(lambda: c.api_pod("stubborn") is None, timeout=20, interval=0.2, what="stubborn to be gone")
    assert time.monotonic() - deleted >= 3 and not alive(pid)
    assert ("Killing", "Stopping container main") in {(e["reason"], e["message"])
                                                      for e in kubelet_events(c, "stubborn")}


def test_a_crashing_container_gets_backoff_events(term):
    c = term
    c.apply(json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "crash"},
                        "spec": {"containers": [{"name": "main", "image": "busybox",
                                                 "command": ["sh", "-c", "exit 1"]}]}}) + "\n")
    backoff = poll(lambda: [e for e in kubelet_events(c, "crash") if e["reason"] == "BackOff"], timeout=15,
                   what="a BackOff event")
    uid = c.api_pod("crash")["metadata"]["uid"]
    assert backoff[0]["type"] == "Warning"
    assert backoff[0]["message"] == f"Back-off restarting failed container main in pod crash_default({uid})"
    started = [e for e in kubelet_events(c, "crash") if e["reason"] == "Started"]
    assert started and started[0]["count"] >= 2, started        # one event, counted again on each start
    c.api().delete("Pod", "default", "crash")
    poll(lambda: c.api_pod("crash") is None, timeout=15, what="crash to be gone")


def test_kubectl_grace_period_and_force_delete(term):
    """kubectl's --grace-period reaches the pod (deletionGracePeriodSeconds); with --force the object goes at
    once and the kubelet still stops what ran (the process and the pod's network namespace)."""
    c = term
    c.apply("".join("---\n" + json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": n},
                                          "spec": {"containers": [{"name": "main", "image": "busybox",
                                                                   "command": ["sleep", "3600"]}]}}) + "\n"
                    for n in ("graceful", "forced")))
    pods = {p["metadata"]["name"]: p for p in c.wait_running(names=["graceful", "forced"])}
    c.kubectl("delete", "pod", "graceful", "--grace-period=7", "--wait=false")
    assert c.api_pod("graceful")["metadata"]["deletionGracePeriodSeconds"] == 7
    pid = container_pid(pods["forced"])
    c.kubectl("delete", "pod", "forced", "--grace-period=0", "--force")
    assert c.api_pod("forced") is None
    poll(lambda: not alive(pid) and not os.path.exists(f"/run/netns/{c.name}.pod.default.forced"), timeout=15,
         what="the force-deleted pod's process and namespace to go")
    poll(lambda: c.api_pod("graceful") is None, timeout=15, what="graceful to be gone after SIGTERM")


def test_http_and_sleep_prestop_hooks(term):
    """An httpGet hook is sent from the node (nothing listens on its port here: FailedPreStopHook, and the pod
    goes on terminating); a sleep hook holds SIGTERM back for its seconds."""
    c = term

    def hooked(name, handler):
        return "---\n" + json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {
            "containers": [{"name": "web", "image": "toycluster/echo", "lifecycle": {"preStop": handler}}]}}) + "\n"
    c.apply(hooked("hook-http", {"httpGet": {"port": 9999, "path": "/bye"}})
            + hooked("hook-sleep", {"sleep": {"seconds": 2}}))
    pods = {p["metadata"]["name"]: p for p in c.wait_running(names=["hook-http", "hook-sleep"])}
    deleted = time.monotonic()
    for name in pods:
        c.api().delete("Pod", "default", name)
    poll(lambda: c.api_pod("hook-http") is None and c.api_pod("hook-sleep") is None, timeout=20,
         what="both pods to be gone")
    assert time.monotonic() - deleted >= 2
    failed = [e for e in kubelet_events(c, "hook-http") if e["reason"] == "FailedPreStopHook"]
    assert failed and failed[0]["message"] == "PreStopHook failed" and failed[0]["type"] == "Warning", failed
    assert not [e for e in kubelet_events(c, "hook-sleep") if e["reason"] == "FailedPreStopHook"]
