"""kube-controller-manager's Deployment controller (pkg/controller/deployment: deployment_controller.go, sync.go,
progress.go): each Deployment's ReplicaSets found or made, scaled (proportionally when the Deployment is scaled
mid-rollout), old ones pruned to revisionHistoryLimit, the Deployment's revision and status kept as upstream does.

A sync: a Deployment being deleted gets its status only; a paused one, or one whose size changed, is scaled
(sync()); otherwise its strategy rolls it out (deployment_rolling.py: RollingUpdate and Recreate).
Events: ScalingReplicaSet ("Scaled up replica set web-7d9c5b8f6d from 0 to 3"), component deployment-controller.
"""
import copy
import time

from toycluster.api import events
from toycluster.controllers import deployment_rolling as rolling
from toycluster.controllers import deployment_util as util
from toycluster.controllers.controller_utils import owned_by, owner_ref, replicas, terminating

COMPONENT = "deployment-controller"


class DeploymentController:
    def __init__(self, store, pods):
        self.store, self.pods = store, pods

    def reconcile(self) -> None:
        for d in self.store.list("Deployment"):
            self.sync(d)

    def sync(self, stored: dict) -> None:
        """syncDeployment: D's ReplicaSets (by controller reference), then the path its state calls for."""
        d = copy.deepcopy(stored)
        d.setdefault("status", {})
        if terminating(d):
            new, olds = self.get_all(d, self.replicasets(d), False)
            self.sync_status(d, olds + [new], new)
        else:
            self.check_paused(d)
            if d["spec"].get("paused") or self.is_scaling_event(d, self.replicasets(d)):
                self.sync_scale(d, self.replicasets(d))
            elif util.is_rolling(d):
                rolling.rollout_rolling(self, d, self.replicasets(d))
            else:
                rolling.rollout_recreate(self, d, self.replicasets(d))
        self._write(d)

    def replicasets(self, d: dict) -> list[dict]:
        """D's ReplicaSets, as stored now (found by their controller reference)."""
        return [rs for rs in self.store.list("ReplicaSet", d["metadata"]["namespace"])
                if owned_by(rs, d) and not terminating(rs)]

    def _write(self, d: dict) -> None:
        """One write of what the sync changed: the revision annotation and the status (never the spec)."""
        current = self.store.get("Deployment", d["metadata"]["namespace"], d["metadata"]["name"])
        if current is None or current["metadata"]["uid"] != d["metadata"]["uid"]:
            return
        new = {**current, "metadata": dict(current["metadata"]), "status": d["status"]}
        if d["metadata"].get("annotations") is not None:
            new["metadata"]["annotations"] = d["metadata"]["annotations"]
        if new["status"] != current.get("status") or new["metadata"].get("annotations") != \
                current["metadata"].get("annotations"):
            self.store.put(new)

    # -- sync.go --
    def get_all(self, d: dict, rss: list, create: bool) -> tuple[dict | None, list]:
        """getAllReplicaSetsAndSyncRevision: the new ReplicaSet (made if CREATE) and the old ones."""
        found = util.find_new_rs(d, rss)
        olds = [rs for rs in rss if rs is not found]
        return self.new_replicaset(d, found, olds, create), olds

    def new_replicaset(self, d: dict, existing: dict | None, olds: list, create: bool) -> dict | None:
        """getNewReplicaSet: an existing new ReplicaSet gets the next revision (a rollback reuses the old one),
        the Deployment gets its revision; without one, and if CREATE, one is made (size: NewRSNewReplicas)."""
        new_revision = str(util.max_revision(olds) + 1)
        if existing is not None:
            rs = copy.deepcopy(existing)
            changed = util.set_new_rs_annotations(d, rs, new_revision, True)
            if changed or rs["spec"].get("minReadySeconds", 0) != d["spec"].get("minReadySeconds", 0):
                _set_min_ready(rs, d)
                return self.store.put(rs)
            util.set_deployment_revision(d, rs["metadata"]["annotations"][util.REVISION])
            if util.progress_deadline(d) is not None and util.get_condition(d["status"], "Progressing") is None:
                util.set_condition(d["status"], util.new_condition(
                    "Progressing", "True", util.FOUND_NEW_RS, f'Found new replica set "{rs["metadata"]["name"]}"'))
            return existing
        if not create:
            return None
        return self.create_replicaset(d, olds, new_revision)

    def create_replicaset(self, d: dict, olds: list, new_revision: str) -> dict | None:
        ns, collisions = d["metadata"]["namespace"], d["status"].get("collisionCount")
        h = util.template_hash(d["spec"]["template"], collisions)
        template = copy.deepcopy(d["spec"]["template"])
        template.setdefault("metadata", {})["labels"] = {**template["metadata"].get("labels", {}), util.HASH_LABEL: h}
        selector = copy.deepcopy(d["spec"]["selector"])
        selector["matchLabels"] = {**selector.get("matchLabels", {}), util.HASH_LABEL: h}
        name = f"{d['metadata']['name']}-{h}"
        rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
              "metadata": {"name": name, "namespace": ns, "labels": dict(template["metadata"]["labels"]),
                           "ownerReferences": [owner_ref(d)]},
              "spec": {"replicas": 0, "selector": selector, "template": template}}
        _set_min_ready(rs, d)
        rs["spec"]["replicas"] = util.new_rs_new_replicas(d, olds + [rs], rs)
        util.set_new_rs_annotations(d, rs, new_revision, False)
        if self.store.get("ReplicaSet", ns, name) is not None:    # a hash collision: try again with another hash
            d["status"]["collisionCount"] = (collisions or 0) + 1
            return None
        created = self.store.put(rs)
        if rs["spec"]["replicas"] > 0:
            self.event(d, f"Scaled up replica set {name} from 0 to {rs['spec']['replicas']}")
        util.set_deployment_revision(d, new_revision)
        if util.progress_deadline(d) is not None:
            util.set_condition(d["status"], util.new_condition(
                "Progressing", "True", util.NEW_RS_CREATED, f'Created new replica set "{name}"'))
        return created

    def event(self, d: dict, message: str) -> None:
        events.record(self.store, d, "ScalingReplicaSet", message, component=COMPONENT)

    def scale_rs_and_event(self, rs: dict, new_scale: int, d: dict) -> tuple[bool, dict]:
        if replicas(rs) == new_scale:
            return False, rs
        return self.scale_rs(rs, new_scale, d, "up" if replicas(rs) < new_scale else "down")

    def scale_rs(self, rs: dict, new_scale: int, d: dict, operation: str) -> tuple[bool, dict]:
        """scaleReplicaSet: the size and the replica annotations written; an event if the size changed."""
        old, surge = replicas(rs), replicas(d) + util.max_surge(d)
        if old == new_scale and not util.replicas_annotations_need_update(rs, replicas(d), surge):
            return False, rs
        rs = copy.deepcopy(rs)
        rs["spec"]["replicas"] = new_scale
        util.set_replicas_annotations(rs, replicas(d), surge)
        rs = self.store.put(rs)
        if old != new_scale:
            self.event(d, f"Scaled {operation} replica set {rs['metadata']['name']} from {old} to {new_scale}")
        return old != new_scale, rs

    def is_scaling_event(self, d: dict, rss: list) -> bool:
        """The Deployment's size differs from what an active ReplicaSet's desired-replicas annotation says."""
        new, olds = self.get_all(d, rss, False)
        for rs in util.filter_active(olds + [new]):
            desired = (rs["metadata"].get("annotations") or {}).get(util.DESIRED_REPLICAS)
            if desired is not None and desired.isdigit() and int(desired) != replicas(d):
                return True
        return False

    def sync_scale(self, d: dict, rss: list) -> None:
        """sync(): scale (paused or resized), prune a paused Deployment's history, write the status."""
        new, olds = self.get_all(d, rss, False)
        self.scale(d, new, olds)
        if d["spec"].get("paused"):
            self.cleanup(olds, d)
        self.sync_status(d, olds + [new], new)

    def scale(self, d: dict, new: dict | None, olds: list) -> None:
        """scale(): the one active ReplicaSet follows the Deployment; a saturated new one has the old ones
        emptied; otherwise (RollingUpdate) the difference is shared out in proportion to their sizes."""
        active = util.filter_active(olds + [new])
        if len(active) <= 1:
            target = active[0] if active else (new or max(olds, key=util.by_creation, default=None))
            if target is not None:
                self.scale_rs_and_event(target, replicas(d), d)
            return
        if _saturated(d, new):
            for rs in util.filter_active(olds):
                self.scale_rs_and_event(rs, 0, d)
            return
        if util.is_rolling(d):
            rolling.scale_proportionally(self, d, active)

    def cleanup(self, olds: list, d: dict) -> None:
        """cleanupDeployment: the oldest empty ReplicaSets beyond revisionHistoryLimit are deleted."""
        limit = util.revision_history_limit(d)
        if limit is None:
            return
        alive = [rs for rs in olds if not terminating(rs)]
        for rs in sorted(alive, key=lambda r: (util.revision(r), util.by_creation(r)))[:max(0, len(alive) - limit)]:
            status = rs.get("status") or {}
            if status.get("replicas", 0) or replicas(rs) or \
                    rs["metadata"].get("generation", 1) > status.get("observedGeneration", 0):
                continue
            self.store.delete("ReplicaSet", rs["metadata"]["namespace"], rs["metadata"]["name"])

    # -- progress.go --
    def check_paused(self, d: dict) -> None:
        """checkPausedConditions: Progressing Unknown while paused (so the pause does not count against the
        progress deadline), DeploymentResumed once resumed."""
        if util.progress_deadline(d) is None:
            return
        cond = util.get_condition(d["status"], "Progressing")
        if cond is not None and cond["reason"] == util.TIMED_OUT:
            return
        paused_cond = cond is not None and cond["reason"] == util.PAUSED
        if d["spec"].get("paused") and not paused_cond:
            util.set_condition(d["status"], util.new_condition("Progressing", "Unknown", util.PAUSED,
                                                               "Deployment is paused"))
        elif not d["spec"].get("paused") and paused_cond:
            util.set_condition(d["status"], util.new_condition("Progressing", "Unknown", util.RESUMED,
                                                               "Deployment is resumed"))

    def sync_status(self, d: dict, all_rss: list, new: dict | None) -> None:
        """syncDeploymentStatus: the counts and Available, with no word on progress."""
        d["status"] = util.calculate_status(d, all_rss, new)

    def sync_rollout_status(self, d: dict, all_rss: list, new: dict | None) -> None:
        """syncRolloutStatus: the status, and the Progressing condition: NewReplicaSetAvailable once complete,
        ReplicaSetUpdated while pods move, ProgressDeadlineExceeded after progressDeadlineSeconds without."""
        status = util.calculate_status(d, all_rss, new)
        current = util.get_condition(d["status"], "Progressing")
        what = f'ReplicaSet "{new["metadata"]["name"]}"' if new else f'Deployment "{d["metadata"]["name"]}"'
        if util.progress_deadline(d) is None:
            util.remove_condition(status, "Progressing")
        elif not (status.get("replicas", 0) == status.get("updatedReplicas", 0) and current is not None
                  and current["reason"] == util.NEW_RS_AVAILABLE):
            if util.complete(d, status):
                util.set_condition(status, util.new_condition("Progressing", "True", util.NEW_RS_AVAILABLE,
                                                              f"{what} has successfully progressed."))
            elif util.progressing(d, status):
                cond = util.new_condition("Progressing", "True", util.RS_UPDATED, f"{what} is progressing.")
                if current is not None and current["status"] == "True":
                    cond["lastTransitionTime"] = current["lastTransitionTime"]
                util.remove_condition(status, "Progressing")
                util.set_condition(status, cond)
            elif util.timed_out(d, status, time.time()):
                util.set_condition(status, util.new_condition("Progressing", "False", util.TIMED_OUT,
                                                              f"{what} has timed out progressing."))
        d["status"] = status


def _set_min_ready(rs: dict, d: dict) -> None:
    if d["spec"].get("minReadySeconds"):
        rs["spec"]["minReadySeconds"] = d["spec"]["minReadySeconds"]
    else:
        rs["spec"].pop("minReadySeconds", None)


def _saturated(d: dict, rs: dict | None) -> bool:
    """IsSaturated: the new ReplicaSet is at the Deployment's size and every pod of it is available."""
    if rs is None:
        return False
    desired = (rs["metadata"].get("annotations") or {}).get(util.DESIRED_REPLICAS)
    return (desired == str(replicas(d)) and replicas(rs) == replicas(d)
            and (rs.get("status") or {}).get("availableReplicas", 0) == replicas(d))
