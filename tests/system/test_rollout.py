"""A rolling update in a real cluster, driven as a user drives it: a 3-replica Deployment's image changed with
`toycluster apply`. Upstream's defaults (maxSurge 25% rounds up to 1, maxUnavailable 25% rounds down to 0) mean the
ReplicaSets move one pod at a time and the ready pods never drop below 3; the Deployment ends at revision 2."""
import json
import time

from conftest import poll

REVISION = "deployment.kubernetes.io/revision"


def web(image: str) -> str:
    container = {"name": "web", "image": image, "ports": [{"containerPort": 8080}],
                 "readinessProbe": {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1}}
    return json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [container]}}}}) + "\n"


def ready(pod: dict) -> bool:
    return not pod["metadata"].get("deletionTimestamp") and any(
        c["type"] == "Ready" and c["status"] == "True" for c in (pod.get("status") or {}).get("conditions") or [])


def rollout_done(api) -> bool:
    d = api.get("Deployment", "default", "web")
    status = d.get("status") or {}
    return (status.get("updatedReplicas") == status.get("availableReplicas") == status.get("replicas") == 3
            and status.get("observedGeneration") == d["metadata"]["generation"])


def test_a_new_image_rolls_out_one_pod_at_a_time(fresh_cluster):
    """Every change to the pods and ReplicaSets is replayed from the API's watch, and the rules are checked after
    each one: at least 3 ready pods not being deleted, at most 4 pods wanted in all."""
    c = fresh_cluster
    assert "deployment.apps/web created" in c.apply(web("toycluster/echo"))
    c.wait_running(selector="app=web", count=3, timeout=30)
    api = c.api()
    poll(lambda: rollout_done(api) and len(api.list("Pod", "default")) == 3, timeout=30, what="the first rollout")
    state = {}
    rv = None
    for kind in ("Pod", "ReplicaSet"):
        answer = api.request("GET", f"/api/{kind}", namespace="default")
        rv = min(rv or 1 << 62, int(answer["metadata"]["resourceVersion"]))
        state.update({(kind, o["metadata"]["name"]): o for o in answer["items"]})
    first = next(name for kind, name in state if kind == "ReplicaSet")

    assert "deployment.apps/web configured" in c.apply(web("kicbase/echo-server"))
    sizes: dict[str, list[int]] = {}      # each ReplicaSet's spec.replicas, as they changed
    deadline = time.time() + 60
    while not (rollout_done(api) and sum(ready(o) for (k, _), o in state.items() if k == "Pod") == 3
               and len([k for k, _ in state if k == "Pod"]) == 3):
        assert time.time() < deadline, f"the rollout did not finish in 60 s: {sizes}"
        answer = api.watch(rv, timeout=1, kinds=["Pod", "ReplicaSet"])
        assert answer["complete"], "the watch log moved on"
        for event in answer["events"]:
            obj = event["object"]
            if obj["metadata"].get("namespace") != "default":
                continue
            key = (obj["kind"], obj["metadata"]["name"])
            if event["type"] == "DELETED":
                state.pop(key, None)
            else:
                state[key] = obj
            check(state, sizes)
        rv = int(answer["resourceVersion"])

    second = next(n for n in sizes if n != first)
    assert sizes[first] == [3, 2, 1, 0], sizes             # one pod at a time, each step after a new pod was ready
    assert sizes[second] == [1, 2, 3], sizes
    assert poll(lambda: api.get("Deployment", "default", "web")["metadata"].get("annotations", {}).get(REVISION)
                == "2", what="revision 2")
    rs = api.get("ReplicaSet", "default", second)
    assert rs["metadata"]["annotations"][REVISION] == "2"
    assert rs["metadata"]["labels"]["pod-template-hash"] == second.rsplit("-", 1)[1]
    images = {p["spec"]["containers"][0]["image"] for p in api.list("Pod", "default") if ready(p)}
    assert images == {"kicbase/echo-server"}
    said = {e["message"] for e in api.list("Event", "default") if e["reason"] == "ScalingReplicaSet"}
    assert {f"Scaled up replica set {second} from 0 to 1", f"Scaled down replica set {first} from 1 to 0"} <= said


def check(state: dict, sizes: dict) -> None:
    """The rules a rollout of 3 replicas with maxSurge 1 and maxUnavailable 0 keeps at every moment."""
    live_ready = sorted(name for (kind, name), o in state.items() if kind == "Pod" and ready(o))
    wanted = {name: o["spec"]["replicas"] for (kind, name), o in state.items() if kind == "ReplicaSet"}
    assert len(live_ready) >= 3, f"maxUnavailable is 0: only {live_ready} ready; sizes so far {sizes}"
    assert sum(wanted.values()) <= 4, f"maxSurge is 1: {wanted}"
    for name, n in wanted.items():
        seen = sizes.setdefault(name, [])
        if not seen or seen[-1] != n:
            seen.append(n)
