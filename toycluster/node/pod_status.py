"""kubelet's status manager: a pod's status as the API shows it, from what the kubelet knows of its containers.

The phase (Pending while every container is still being created, Running, Succeeded or Failed), the
conditions (Ready and ContainersReady only while every container runs and passes its readiness probe),
and one containerStatuses entry per container: running, waiting (ContainerCreating, CrashLoopBackOff, …)
or terminated, with its restart count and, after a restart, the last termination.
"""


def status(rt, host_ip: str) -> dict:
    """The `status` of pod RT (a kubelet.PodRuntime) on the node whose address is HOST_IP."""
    statuses, all_running, all_done, all_ok = [], True, True, True
    for c in rt.containers.values():
        if c.pid:
            state, all_done = {"running": {"startedAt": c.started_at}}, False
        elif c.waiting:
            state, all_done = {"waiting": {"reason": c.waiting.split(":")[0], "message": c.waiting}}, False
        else:
            state = {"terminated": {"exitCode": c.last[0], "reason": c.last[1], "finishedAt": c.last[2]}}
            all_ok &= c.last[0] == 0
        all_running &= bool(c.pid) and c.ready
        entry = {"name": c.name, "image": c.spec["image"], "ready": bool(c.pid) and c.ready,
                 "started": bool(c.pid),
                 "restartCount": c.restarts, "state": state,
                 "containerID": f"toycluster://{c.pid or 0}"}
        if c.last and c.restarts:
            entry["lastState"] = {"terminated": {"exitCode": c.last[0], "reason": c.last[1],
                                                 "finishedAt": c.last[2]}}
        statuses.append(entry)
    phase = "Running" if not all_done else ("Succeeded" if all_ok else "Failed")
    if all(c.waiting == "ContainerCreating" and not c.restarts for c in rt.containers.values()):
        phase = "Pending"
    ready = "True" if all_running else "False"
    conditions = [{"type": t, "status": s} for t, s in
                  (("Initialized", "True"), ("Ready", ready), ("ContainersReady", ready), ("PodScheduled", "True"))]
    result = {"phase": phase, "conditions": conditions, "hostIP": host_ip,
              "hostIPs": [{"ip": host_ip}], "startTime": rt.started, "containerStatuses": statuses}
    if rt.ip:
        result.update(podIP=rt.ip, podIPs=[{"ip": rt.ip}])
    return result
