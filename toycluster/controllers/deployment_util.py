"""The Deployment controller's arithmetic (pkg/controller/deployment/util/deployment_util.go): maxSurge and
maxUnavailable from the strategy, the pod-template-hash, revisions and the annotations upstream puts on
ReplicaSets, the new and old ReplicaSets, the Deployment's status and its conditions.

Upstream's rounding: a percentage of maxSurge rounds up, of maxUnavailable rounds down; if both come to 0,
maxUnavailable is 1 (validation refuses both being 0; this keeps a rollout from never moving).
"""
import copy
import math

from toycluster.api.store import now_rfc3339
from toycluster.controllers.controller_utils import POD_NAME_CHARS, parse_time, replicas

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
SKIPPED_ANNOTATIONS = {"kubectl.kubernetes.io/last-applied-configuration", REVISION, REVISION_HISTORY,
                       DESIRED_REPLICAS, MAX_REPLICAS, "deprecated.deployment.rollback.to"}
MAX_REV_HISTORY_CHARS = 2000          # the controller's maxRevHistoryLengthInChars
DEFAULT_PROGRESS_DEADLINE = 600       # apps/v1 defaults
DEFAULT_REVISION_HISTORY = 10
# condition reasons
NEW_RS_CREATED, FOUND_NEW_RS, RS_UPDATED = "NewReplicaSetCreated", "FoundNewReplicaSet", "ReplicaSetUpdated"
NEW_RS_AVAILABLE, TIMED_OUT = "NewReplicaSetAvailable", "ProgressDeadlineExceeded"
PAUSED, RESUMED = "DeploymentPaused", "DeploymentResumed"
MIN_AVAILABLE, MIN_UNAVAILABLE = "MinimumReplicasAvailable", "MinimumReplicasUnavailable"


# -- the strategy's numbers --
def scaled_value(value, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent: an int as it is, "N%" of TOTAL rounded up or down."""
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.endswith("%") and value[:-1].isdigit():
        exact = int(value[:-1]) * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    raise ValueError(f"invalid value for IntOrString: invalid type: string is not a percentage: {value!r}")


def is_rolling(d: dict) -> bool:
    return ((d["spec"].get("strategy") or {}).get("type") or "RollingUpdate") == "RollingUpdate"


def resolve_fenceposts(d: dict) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) as numbers of pods for the Deployment's replicas."""
    rolling = (d["spec"].get("strategy") or {}).get("rollingUpdate") or {}
    want = replicas(d)
    surge = scaled_value(rolling.get("maxSurge", "25%"), want, True)
    unavailable = scaled_value(rolling.get("maxUnavailable", "25%"), want, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def max_surge(d: dict) -> int:
    return resolve_fenceposts(d)[0] if is_rolling(d) else 0


def max_unavailable(d: dict) -> int:
    if not is_rolling(d) or replicas(d) == 0:
        return 0
    return min(resolve_fenceposts(d)[1], replicas(d))


def progress_deadline(d: dict) -> int | None:
    """spec.progressDeadlineSeconds (default 600); None when unset to MaxInt32 (no deadline)."""
    value = d["spec"].get("progressDeadlineSeconds", DEFAULT_PROGRESS_DEADLINE)
    return None if value is None or value >= 2**31 - 1 else value


def revision_history_limit(d: dict) -> int | None:
    value = d["spec"].get("revisionHistoryLimit", DEFAULT_REVISION_HISTORY)
    return None if value is None or value >= 2**31 - 1 else value


# -- ReplicaSets: counts, the new one, revisions --
def spec_sum(rss) -> int:
    return sum(replicas(rs) for rs in rss if rs is not None)


def status_sum(rss, field: str) -> int:
    return sum((rs.get("status") or {}).get(field, 0) for rs in rss if rs is not None)


def filter_active(rss) -> list:
    return [rs for rs in rss if rs is not None and replicas(rs) > 0]


def by_creation(rs: dict) -> tuple:
    return rs["metadata"].get("creationTimestamp", ""), rs["metadata"]["name"]


def new_rs_new_replicas(d: dict, all_rss: list, new_rs: dict) -> int:
    """NewRSNewReplicas: how far the new ReplicaSet may grow now."""
    if not is_rolling(d):
        return replicas(d)
    current, allowed = spec_sum(all_rss), replicas(d) + max_surge(d)
    if current >= allowed:
        return replicas(new_rs)
    return replicas(new_rs) + min(allowed - current, replicas(d) - replicas(new_rs))


def template_hash(template: dict, collision_count: int | None = None) -> str:
    """controller.ComputeHash: FNV-1a (32 bits) of the pod template (and the collision count), its decimal digits
    written in rand.SafeEncodeString's alphabet (hence names like web-7d9c5b8f6d)."""
    h = 0x811C9DC5
    data = repr(_canonical(semantic(template))).encode()
    if collision_count is not None:
        data += collision_count.to_bytes(4, "little")
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return "".join(POD_NAME_CHARS[ord(c) % len(POD_NAME_CHARS)] for c in str(h))


def _canonical(value):
    if isinstance(value, dict):
        return tuple(sorted((k, _canonical(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_canonical(v) for v in value)
    return value


def semantic(value):
    """VALUE without its empty fields (None, {}, []): the API's Go structs do not tell `resources: {}` (which
    kubectl sends back in a rollback) from no resources, and apimachinery's Semantic.DeepEqual treats empty and
    nil maps and slices as equal."""
    if isinstance(value, dict):
        kept = {k: semantic(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v is not None and v != {} and v != []}
    if isinstance(value, list):
        return [semantic(v) for v in value]
    return value


def without_hash(template: dict) -> dict:
    t = semantic(template)
    labels = (t.get("metadata") or {}).get("labels")
    if labels is not None:
        labels.pop(HASH_LABEL, None)
    return t


def equal_ignore_hash(a: dict, b: dict) -> bool:
    """EqualIgnoreHash: the two pod templates are the same but for the pod-template-hash label (and empty fields)."""
    return semantic(without_hash(a)) == semantic(without_hash(b))


def find_new_rs(d: dict, rss: list) -> dict | None:
    """The oldest ReplicaSet whose template is the Deployment's (so an undo finds the old one again)."""
    return next((rs for rs in sorted(rss, key=by_creation)
                 if equal_ignore_hash(rs["spec"]["template"], d["spec"]["template"])), None)


def revision(rs: dict | None) -> int:
    try:
        return int(((rs or {}).get("metadata", {}).get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def max_revision(rss) -> int:
    return max((revision(rs) for rs in rss), default=0)


# -- annotations --
def _annotations(obj: dict) -> dict:
    return obj["metadata"].setdefault("annotations", {})


def replicas_annotations_need_update(rs: dict, desired: int, most: int) -> bool:
    ann = rs["metadata"].get("annotations") or {}
    return ann.get(DESIRED_REPLICAS) != str(desired) or ann.get(MAX_REPLICAS) != str(most)


def set_replicas_annotations(rs: dict, desired: int, most: int) -> bool:
    """desired-replicas and max-replicas: the Deployment's size when RS was last scaled (proportional scaling)."""
    if not replicas_annotations_need_update(rs, desired, most):
        return False
    _annotations(rs).update({DESIRED_REPLICAS: str(desired), MAX_REPLICAS: str(most)})
    return True


def set_new_rs_annotations(d: dict, rs: dict, new_revision: str, exists: bool) -> bool:
    """SetNewReplicaSetAnnotations: the Deployment's own annotations copied (but the skipped ones), the revision
    raised to NEW_REVISION, the revision it had kept in revision-history (a rollback to RS), and for a new
    ReplicaSet the replica annotations. True if RS changed."""
    ann, changed = _annotations(rs), False
    for key, value in (d["metadata"].get("annotations") or {}).items():
        if key not in SKIPPED_ANNOTATIONS and ann.get(key) != value:
            ann[key], changed = value, True
    old = ann.get(REVISION, "")
    try:
        old_int = int(old) if old else 0
    except ValueError:
        return changed
    if old_int < int(new_revision):
        ann[REVISION], changed = new_revision, True
        if old:
            history = [r for r in ann.get(REVISION_HISTORY, "").split(",") if r]
            while history and len(",".join(history + [old])) > MAX_REV_HISTORY_CHARS:
                history.pop(0)
            ann[REVISION_HISTORY] = ",".join(history + [old])
    if not exists and set_replicas_annotations(rs, replicas(d), replicas(d) + max_surge(d)):
        changed = True
    return changed


def set_deployment_revision(d: dict, rev: str) -> bool:
    ann = _annotations(d)
    if ann.get(REVISION) == rev:
        return False
    ann[REVISION] = rev
    return True


# -- conditions and status --
def get_condition(status: dict, kind: str) -> dict | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == kind), None)


def new_condition(kind: str, status: str, reason: str, message: str) -> dict:
    now = now_rfc3339()
    return {"type": kind, "status": status, "lastUpdateTime": now, "lastTransitionTime": now,
            "reason": reason, "message": message}


def set_condition(status: dict, cond: dict) -> None:
    """SetDeploymentCondition: same status and reason: nothing changes; same status: the transition time is kept;
    the condition goes to the end of the list."""
    current = get_condition(status, cond["type"])
    if current and current["status"] == cond["status"] and current["reason"] == cond["reason"]:
        return
    if current and current["status"] == cond["status"]:
        cond = {**cond, "lastTransitionTime": current["lastTransitionTime"]}
    remove_condition(status, cond["type"])
    status["conditions"] = (status.get("conditions") or []) + [cond]


def remove_condition(status: dict, kind: str) -> None:
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != kind]
    if conditions:
        status["conditions"] = conditions
    else:
        status.pop("conditions", None)


def calculate_status(d: dict, all_rss: list, new_rs: dict | None) -> dict:
    """The Deployment's status from its ReplicaSets' (fields that are 0 are left out, as the API's JSON does)."""
    available = status_sum(all_rss, "availableReplicas")
    counts = {"observedGeneration": d["metadata"].get("generation", 1),
              "replicas": status_sum(all_rss, "replicas"),
              "updatedReplicas": status_sum([new_rs], "replicas"),
              "readyReplicas": status_sum(all_rss, "readyReplicas"),
              "availableReplicas": available,
              "unavailableReplicas": max(0, spec_sum(all_rss) - available),
              "collisionCount": (d.get("status") or {}).get("collisionCount")}
    status = {k: v for k, v in counts.items() if v}
    if (d.get("status") or {}).get("conditions"):
        status["conditions"] = copy.deepcopy(d["status"]["conditions"])
    if available >= replicas(d) - max_unavailable(d):
        set_condition(status, new_condition("Available", "True", MIN_AVAILABLE, "Deployment has minimum availability."))
    else:
        set_condition(status, new_condition("Available", "False", MIN_UNAVAILABLE,
                                            "Deployment does not have minimum availability."))
    return status


def complete(d: dict, status: dict) -> bool:
    """DeploymentComplete: every replica updated and available, the latest generation observed."""
    want = replicas(d)
    return (status.get("updatedReplicas", 0) == want and status.get("replicas", 0) == want
            and status.get("availableReplicas", 0) == want
            and status.get("observedGeneration", 0) >= d["metadata"].get("generation", 1))


def progressing(d: dict, status: dict) -> bool:
    """DeploymentProgressing: more updated, fewer old, more ready or more available pods than before."""
    old = d.get("status") or {}
    old_olds = old.get("replicas", 0) - old.get("updatedReplicas", 0)
    new_olds = status.get("replicas", 0) - status.get("updatedReplicas", 0)
    return (status.get("updatedReplicas", 0) > old.get("updatedReplicas", 0) or new_olds < old_olds
            or status.get("readyReplicas", 0) > old.get("readyReplicas", 0)
            or status.get("availableReplicas", 0) > old.get("availableReplicas", 0))


def timed_out(d: dict, status: dict, now: float) -> bool:
    """DeploymentTimedOut: no progress for progressDeadlineSeconds since the Progressing condition last moved."""
    deadline = progress_deadline(d)
    cond = get_condition(status, "Progressing")
    if deadline is None or cond is None or cond["reason"] == NEW_RS_AVAILABLE:
        return False
    if cond["reason"] == TIMED_OUT:
        return True
    since = parse_time(cond.get("lastUpdateTime"))
    return since is not None and since + deadline < now
