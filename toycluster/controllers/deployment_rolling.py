"""The Deployment controller's strategies (pkg/controller/deployment: rolling.go, recreate.go, and sync.go's
proportional scaling): one step per sync, as upstream takes it.

RollingUpdate: the new ReplicaSet grows while all ReplicaSets together stay within replicas + maxSurge; old ones
shrink while the available pods stay at least replicas - maxUnavailable (old unhealthy pods go first). Recreate:
every old ReplicaSet to 0, then wait until no old pod runs, then the new one at full size.
"""
from toycluster.controllers import deployment_util as util
from toycluster.controllers.controller_utils import replicas


# -- rolling.go --
def rollout_rolling(dc, d: dict, rss: list) -> None:
    new, olds = dc.get_all(d, rss, True)
    all_rss = olds + [new]
    if new is None:                                   # a hash collision: the next sync makes it under another name
        return dc.sync_rollout_status(d, all_rss, new)
    if reconcile_new(dc, all_rss, new, d) or reconcile_old(dc, all_rss, util.filter_active(olds), new, d):
        return dc.sync_rollout_status(d, all_rss, new)
    if util.complete(d, d["status"]):
        dc.cleanup(olds, d)
    dc.sync_rollout_status(d, all_rss, new)


def reconcile_new(dc, all_rss: list, new: dict, d: dict) -> bool:
    """Scale the new ReplicaSet up as far as maxSurge allows (or down, if the Deployment shrank)."""
    if replicas(new) == replicas(d):
        return False
    if replicas(new) > replicas(d):
        return dc.scale_rs_and_event(new, replicas(d), d)[0]
    return dc.scale_rs_and_event(new, util.new_rs_new_replicas(d, all_rss, new), d)[0]


def reconcile_old(dc, all_rss: list, olds: list, new: dict, d: dict) -> bool:
    """Scale old ReplicaSets down as far as maxUnavailable allows, counting the new ReplicaSet's unavailable pods
    against it (so a broken new template cannot take the old pods away)."""
    if util.spec_sum(olds) == 0:
        return False
    min_available = replicas(d) - util.max_unavailable(d)
    new_unavailable = replicas(new) - (new.get("status") or {}).get("availableReplicas", 0)
    max_scaled_down = util.spec_sum(all_rss) - min_available - new_unavailable
    if max_scaled_down <= 0:
        return False
    olds, cleaned = cleanup_unhealthy(dc, olds, d, max_scaled_down)
    scaled = scale_down_old_for_rolling(dc, olds + [new], olds, d)
    return cleaned + scaled > 0


def cleanup_unhealthy(dc, olds: list, d: dict, most: int) -> tuple[list, int]:
    """Old ReplicaSets lose their unavailable pods first (oldest ReplicaSet first), at most MOST of them."""
    olds, total = sorted(olds, key=util.by_creation), 0
    for i, rs in enumerate(olds):
        if total >= most:
            break
        available = (rs.get("status") or {}).get("availableReplicas", 0)
        if replicas(rs) == 0 or replicas(rs) == available:
            continue
        count = min(most - total, replicas(rs) - available)
        olds[i] = dc.scale_rs_and_event(rs, replicas(rs) - count, d)[1]
        total += count
    return olds, total


def scale_down_old_for_rolling(dc, all_rss: list, olds: list, d: dict) -> int:
    """Old ReplicaSets shrink (oldest first) by as many pods as are available beyond replicas - maxUnavailable."""
    min_available = replicas(d) - util.max_unavailable(d)
    available = util.status_sum(all_rss, "availableReplicas")
    if available <= min_available:
        return 0
    total, goal = 0, available - min_available
    for rs in sorted(olds, key=util.by_creation):
        if total >= goal:
            break
        if replicas(rs) == 0:
            continue
        count = min(replicas(rs), goal - total)
        dc.scale_rs_and_event(rs, replicas(rs) - count, d)
        total += count
    return total


# -- recreate.go --
def rollout_recreate(dc, d: dict, rss: list) -> None:
    new, olds = dc.get_all(d, rss, False)
    all_rss = olds + [new]
    scaled_down = False
    for rs in util.filter_active(olds):
        scaled_down |= dc.scale_rs_and_event(rs, 0, d)[0]
    if scaled_down or old_pods_running(dc, new, olds):
        return dc.sync_rollout_status(d, all_rss, new)
    if new is None:
        new, olds = dc.get_all(d, dc.replicasets(d), True)
        all_rss = olds + [new]
        if new is None:
            return dc.sync_rollout_status(d, all_rss, new)
    dc.scale_rs_and_event(new, replicas(d), d)
    if util.complete(d, d["status"]):
        dc.cleanup(olds, d)
    dc.sync_rollout_status(d, all_rss, new)


def old_pods_running(dc, new: dict | None, olds: list) -> bool:
    """Any pod of an old ReplicaSet that has not finished, terminating ones included."""
    if util.status_sum(olds, "replicas") > 0:
        return True
    for rs in olds:
        if new is not None and rs["metadata"]["uid"] == new["metadata"]["uid"]:
            continue
        if any((p.get("status") or {}).get("phase") not in ("Failed", "Succeeded")
               for p in dc.pods.all(rs["metadata"]["uid"])):
            return True
    return False


# -- sync.go: proportional scaling --
def scale_proportionally(dc, d: dict, active: list) -> None:
    """A Deployment resized mid-rollout: the pods to add (or take away) are shared among its active ReplicaSets
    in proportion to their sizes (largest first; the leftover goes to the largest)."""
    allowed = replicas(d) + util.max_surge(d) if replicas(d) > 0 else 0
    to_add = allowed - util.spec_sum(active)
    operation = "up" if to_add > 0 else "down"
    if to_add:            # larger first, then newer (adding: ReplicaSetsBySizeNewer) or older (taking away)
        active = sorted(sorted(active, key=util.by_creation, reverse=to_add > 0), key=lambda rs: -replicas(rs))
    added, sizes = 0, {}
    for rs in active:
        share = proportion(d, rs, to_add, added)
        sizes[rs["metadata"]["name"]] = replicas(rs) + share
        added += share
    for i, rs in enumerate(active):
        size = sizes[rs["metadata"]["name"]]
        if i == 0 and to_add != 0:
            size = max(0, size + to_add - added)
        dc.scale_rs(rs, size, d, operation)


def proportion(d: dict, rs: dict, to_add: int, added: int) -> int:
    """GetReplicaSetProportion: RS's share of TO_ADD, within what is left of it."""
    if replicas(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    fraction, left = fraction_of(d, rs), to_add - added
    return min(fraction, left) if to_add > 0 else max(fraction, left)


def fraction_of(d: dict, rs: dict) -> int:
    """getReplicaSetFraction: RS's size scaled from the Deployment's old size (its max-replicas annotation) to the
    new one, less its size now."""
    if replicas(d) == 0:
        return -replicas(rs)
    target = replicas(d) + util.max_surge(d)
    annotated = (rs["metadata"].get("annotations") or {}).get(util.MAX_REPLICAS, "")
    old = int(annotated) if annotated.isdigit() else (d.get("status") or {}).get("replicas", 0)
    if old == 0:
        return 0
    return _round_half_away(replicas(rs) * target / old) - replicas(rs)


def _round_half_away(x: float) -> int:
    """Go's math.Round: halves away from zero (Python's round() rounds halves to even)."""
    return int(x + 0.5) if x >= 0 else -int(-x + 0.5)
