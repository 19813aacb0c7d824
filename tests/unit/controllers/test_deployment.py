"""The Deployment controller against an in-memory store (no root): maxSurge/maxUnavailable arithmetic with upstream's
rounding, a rolling update step by step as pods turn ready, Recreate, rollback reusing an old ReplicaSet, revision
history pruning, minReadySeconds, the progress deadline, pausing, proportional scaling, and the status."""
import copy
import time

import pytest

from toycluster.api import server, validation_core
from toycluster.api.store import Store, now_rfc3339
from toycluster.controllers import deployment as deployment_controller
from toycluster.controllers import deployment_util as util
from toycluster.controllers import manager
from toycluster.node import workloads

validation_core.IMAGE_CHECK = workloads.check_image
REV = util.REVISION


def deployment(replicas=3, image="toycluster/echo", strategy=None, **spec):
    d = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
         "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                  "template": {"metadata": {"labels": {"app": "web"}},
                               "spec": {"containers": [{"name": "c", "image": image}]}}, **spec}}
    if strategy is not None:
        d["spec"]["strategy"] = strategy
    return d


@pytest.fixture
def cp():
    store = Store(None)
    ctl = manager.Controllers(store, ["node1", "node2"])
    ctl.reconcile()
    return store, server.API(store), ctl


def kubelet(store, ready=lambda pod: True, ready_for=3600.0):
    """What the kubelets do between passes: scheduled pods run (Ready, unless READY says no, since READY_FOR
    seconds), pods being deleted go."""
    for pod in store.list("Pod"):
        if pod["metadata"].get("deletionTimestamp"):
            store.delete("Pod", pod["metadata"]["namespace"], pod["metadata"]["name"])
        elif pod["spec"].get("nodeName"):
            status = {"phase": "Running", "podIP": "10.244.1.2", "conditions": [
                {"type": "Ready", "status": "True" if ready(pod) else "False",
                 "lastTransitionTime": now_rfc3339(time.time() - ready_for)}]}
            if pod.get("status", {}).get("conditions") != status["conditions"]:
                store.put({**copy.deepcopy(pod), "status": status})


def rollout(store, ctl, rounds=10, **kw):
    for _ in range(rounds):
        ctl.reconcile()
        kubelet(store, **kw)
    ctl.reconcile()


def sets(store):
    """The ReplicaSets as (revision, spec.replicas), by revision."""
    return sorted((util.revision(rs), rs["spec"]["replicas"]) for rs in store.list("ReplicaSet"))


def live_ready(store):
    return sum(1 for p in store.list("Pod") if not p["metadata"].get("deletionTimestamp")
               and any(c["type"] == "Ready" and c["status"] == "True" for c in p.get("status", {}).get("conditions", [])))


@pytest.mark.parametrize("replicas, surge, unavailable, expected", [
    (3, "25%", "25%", (1, 0)),          # 0.75 rounds up to 1 surge, down to 0 unavailable
    (10, "25%", "25%", (3, 2)),         # 2.5: up to 3, down to 2
    (4, "25%", "25%", (1, 1)),
    (1, "25%", "25%", (1, 0)),
    (10, 3, 2, (3, 2)),                 # absolute numbers as they are
    (5, "0%", "0%", (0, 1)),            # both 0: maxUnavailable becomes 1, or the rollout could never move
    (10, 0, "50%", (0, 5)),
])
def test_max_surge_rounds_up_and_max_unavailable_rounds_down(replicas, surge, unavailable, expected):
    d = deployment(replicas, strategy={"type": "RollingUpdate",
                                       "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}})
    assert util.resolve_fenceposts(d) == expected
    assert (util.max_surge(d), util.max_unavailable(d)) == expected


def test_recreate_and_empty_deployments_have_no_surge_nor_unavailability():
    assert (util.max_surge(deployment(strategy={"type": "Recreate"})),
            util.max_unavailable(deployment(strategy={"type": "Recreate"}))) == (0, 0)
    assert util.max_unavailable(deployment(0)) == 0
    assert util.max_unavailable(deployment(2, strategy={"rollingUpdate": {"maxUnavailable": 5, "maxSurge": 0}})) == 2
    with pytest.raises(ValueError, match="not a percentage"):
        util.scaled_value("3", 10, True)


def test_a_rolling_update_goes_step_by_step_as_new_pods_turn_ready(cp):
    store, api, ctl = cp
    api.apply([deployment()])
    rollout(store, ctl)
    assert sets(store) == [(1, 3)] and live_ready(store) == 3
    api.apply([deployment(image="traefik/whoami")])
    seen = []
    for _ in range(12):
        ctl.reconcile()
        if not seen or seen[-1] != sets(store):
            seen.append(sets(store))
        assert live_ready(store) >= 3, f"maxUnavailable is 0 for 3 replicas: {seen}"
        assert sum(n for _, n in sets(store)) <= 4, "maxSurge is 1 for 3 replicas"
        kubelet(store)
    assert seen == [[(1, old), (2, new)] for old, new in ((3, 1), (2, 1), (2, 2), (1, 2), (1, 3), (0, 3))]
    d = store.get("Deployment", "default", "web")
    assert d["metadata"]["annotations"][REV] == "2"
    new = [rs for rs in store.list("ReplicaSet") if util.revision(rs) == 2][0]
    assert d["status"] == {
        "observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3,
        "conditions": d["status"]["conditions"]}
    conditions = {c["type"]: (c["status"], c["reason"], c["message"]) for c in d["status"]["conditions"]}
    assert conditions == {
        "Available": ("True", "MinimumReplicasAvailable", "Deployment has minimum availability."),
        "Progressing": ("True", "NewReplicaSetAvailable",
                        f'ReplicaSet "{new["metadata"]["name"]}" has successfully progressed.')}
    assert new["metadata"]["annotations"] == {REV: "2", util.DESIRED_REPLICAS: "3", util.MAX_REPLICAS: "4"}
    h = new["metadata"]["labels"][util.HASH_LABEL]
    assert new["metadata"]["name"] == f"web-{h}" and new["spec"]["selector"]["matchLabels"][util.HASH_LABEL] == h
    assert all(p["metadata"]["labels"][util.HASH_LABEL] == h for p in store.list("Pod"))
    assert new["status"] == {"replicas": 3, "fullyLabeledReplicas": 3, "readyReplicas": 3, "availableReplicas": 3,
                             "observedGeneration": new["metadata"]["generation"]}


def test_status_mid_rollout_counts_unavailable_pods_and_says_it_progresses(cp):
    store, api, ctl = cp
    api.apply([deployment()])
    rollout(store, ctl)
    api.apply([deployment(image="traefik/whoami")])
    rollout(store, ctl, ready=lambda p: "whoami" not in p["spec"]["containers"][0]["image"])
    d = store.get("Deployment", "default", "web")
    assert sets(store) == [(1, 3), (2, 1)], "a new pod that never gets ready stops the rollout at maxSurge"
    assert {k: v for k, v in d["status"].items() if k != "conditions"} == {
        "observedGeneration": 2, "replicas": 4, "updatedReplicas": 1, "readyReplicas": 3, "availableReplicas": 3,
        "unavailableReplicas": 1}
    progressing = util.get_condition(d["status"], "Progressing")
    assert progressing["reason"] in ("NewReplicaSetCreated", "ReplicaSetUpdated") and progressing["status"] == "True"


def test_recreate_empties_the_old_replicaset_and_waits_for_its_pods_to_go(cp):
    store, api, ctl = cp
    api.apply([deployment(strategy={"type": "Recreate"})])
    rollout(store, ctl)
    api.apply([deployment(image="traefik/whoami", strategy={"type": "Recreate"})])
    for _ in range(3):
        ctl.reconcile()
    assert sets(store) == [(1, 0)], "no new ReplicaSet while old pods are still terminating"
    assert len(store.list("Pod")) == 3 and all(p["metadata"].get("deletionTimestamp") for p in store.list("Pod"))
    kubelet(store)                                          # the old pods are gone
    ctl.reconcile()
    assert sets(store) == [(1, 0), (2, 3)]
    rollout(store, ctl)
    assert util.complete(store.get("Deployment", "default", "web"), store.get("Deployment", "default", "web")["status"])


def test_undo_reuses_the_old_replicaset_with_the_next_revision(cp):
    """kubectl rollout undo patches the Deployment's template with the old ReplicaSet's (as kubectl's Go types
    serialise it: with `resources: {}`): the controller finds that ReplicaSet again (no new one), gives it revision 3
    and keeps 1 in its revision-history."""
    store, api, ctl = cp
    api.apply([deployment()])
    rollout(store, ctl)
    first = store.list("ReplicaSet")[0]["metadata"]["name"]
    api.apply([deployment(image="traefik/whoami")])
    rollout(store, ctl)
    undo = deployment()
    undo["spec"]["template"]["spec"]["containers"][0]["resources"] = {}
    api.apply([undo])
    rollout(store, ctl)
    assert len(store.list("ReplicaSet")) == 2
    rs = store.get("ReplicaSet", "default", first)
    assert rs["spec"]["replicas"] == 3
    assert rs["metadata"]["annotations"][REV] == "3" and rs["metadata"]["annotations"][util.REVISION_HISTORY] == "1"
    assert store.get("Deployment", "default", "web")["metadata"]["annotations"][REV] == "3"
    assert sets(store) == [(2, 0), (3, 3)]


def test_old_replicasets_beyond_the_revision_history_limit_are_deleted(cp):
    store, api, ctl = cp
    images = ["toycluster/echo", "traefik/whoami", "nginx", "busybox", "redis"]
    for image in images:
        api.apply([deployment(image=image, revisionHistoryLimit=2)])
        rollout(store, ctl)
    assert sets(store) == [(3, 0), (4, 0), (5, 3)]


def test_min_ready_seconds_holds_availability_back(cp):
    store, api, ctl = cp
    api.apply([deployment(minReadySeconds=30)])
    rollout(store, ctl, ready_for=5)
    rs = store.list("ReplicaSet")[0]
    assert rs["spec"]["minReadySeconds"] == 30
    assert rs["status"]["readyReplicas"] == 3 and "availableReplicas" not in rs["status"]
    d = store.get("Deployment", "default", "web")
    assert util.get_condition(d["status"], "Available")["reason"] == "MinimumReplicasUnavailable"
    rollout(store, ctl, ready_for=31)
    assert store.list("ReplicaSet")[0]["status"]["availableReplicas"] == 3


def test_no_progress_within_the_deadline_is_reported(cp, monkeypatch):
    store, api, ctl = cp
    api.apply([deployment(progressDeadlineSeconds=60)])
    rollout(store, ctl, ready=lambda p: False)
    d = store.get("Deployment", "default", "web")
    assert util.get_condition(d["status"], "Progressing")["status"] == "True"
    later = time.time() + 61
    monkeypatch.setattr(deployment_controller, "time", type("T", (), {"time": staticmethod(lambda: later)}))
    ctl.reconcile()
    cond = util.get_condition(store.get("Deployment", "default", "web")["status"], "Progressing")
    name = store.list("ReplicaSet")[0]["metadata"]["name"]
    assert (cond["status"], cond["reason"], cond["message"]) == (
        "False", "ProgressDeadlineExceeded", f'ReplicaSet "{name}" has timed out progressing.')


def test_a_paused_deployment_does_not_roll_out_until_resumed(cp):
    store, api, ctl = cp
    api.apply([deployment()])
    rollout(store, ctl)
    api.apply([deployment(image="traefik/whoami", paused=True)])
    rollout(store, ctl)
    assert sets(store) == [(1, 3)]
    cond = util.get_condition(store.get("Deployment", "default", "web")["status"], "Progressing")
    assert (cond["status"], cond["reason"], cond["message"]) == ("Unknown", "DeploymentPaused", "Deployment is paused")
    api.apply([deployment(image="traefik/whoami")])
    rollout(store, ctl)
    assert sets(store) == [(1, 0), (2, 3)]


def test_scaling_mid_rollout_shares_the_new_replicas_in_proportion(cp):
    """Upstream's documented example: 10 replicas, maxSurge 3, maxUnavailable 2, a new template whose pods never
    get ready (old 8, new 5), then scaled to 15: 3 more for the old ReplicaSet, 2 for the new one."""
    store, api, ctl = cp
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 3, "maxUnavailable": 2}}
    api.apply([deployment(10, strategy=strategy)])
    rollout(store, ctl)
    broken = lambda p: "whoami" not in p["spec"]["containers"][0]["image"]     # noqa: E731
    api.apply([deployment(10, image="traefik/whoami", strategy=strategy)])
    rollout(store, ctl, ready=broken)
    assert sets(store) == [(1, 8), (2, 5)]
    api.scale("Deployment", "default", "web", 15)
    rollout(store, ctl, ready=broken)
    assert sets(store) == [(1, 11), (2, 7)]
    assert [rs["metadata"]["annotations"][util.DESIRED_REPLICAS] for rs in store.list("ReplicaSet")] == ["15", "15"]
