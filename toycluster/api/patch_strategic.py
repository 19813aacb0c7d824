"""kube-apiserver's strategic merge patch (application/strategic-merge-patch+json), as apimachinery's strategicpatch.

A JSON merge patch (maps merged, null deletes) where a list whose field has the `merge` strategy is merged too
(patch_lists.py): lists of maps by their merge key (containers by name, ports by containerPort...), lists of
scalars as a set (finalizers). The directives: `$patch: replace|delete` in a map or as a list item,
`$retainKeys: [...]` (keys not listed are cleared), `$setElementOrder/<list>: [...]` (the order wanted) and
`$deleteFromPrimitiveList/<list>: [...]` (scalars to take out of a set). Errors carry upstream's text and the
status kube-apiserver answers with (400 for a malformed directive, 422 for a list of lists, 500 otherwise).

The strategies and merge keys are upstream's patchStrategy and patchMergeKey struct tags (k8s.io/api core/v1 and
apps/v1, apimachinery's ObjectMeta), read there by reflection and kept here as a table (TYPES) for the kinds
served. A field not in the table has no strategy: its maps are merged key by key and its lists replaced whole.
"""
import copy

from toycluster.api.patch_lists import (DIRECTIVE, bad_arg_type, bad_request, discard_nulls, element_type, go_format,
                                        internal, merge_list, no_merge_key, normalize, partition, remove_directives,
                                        same)

RETAIN_KEYS, ORDER_PREFIX, DELETE_PREFIX = "$retainKeys", "$setElementOrder", "$deleteFromPrimitiveList"
MERGE = "merge"
# only the types a strategic merge can reach: a list without the merge strategy is replaced, so the types of
# its items never matter. type -> {json field: (field's type or None, the patchStrategy tag, the patchMergeKey tag)}
TYPES: dict[str, dict[str, tuple]] = {
    "ObjectMeta": {
        "ownerReferences": (None, MERGE, "uid"),
        "finalizers": (None, MERGE, ""),                     # a list of strings merged as a set
    },
    "PodTemplateSpec": {"metadata": ("ObjectMeta", "", ""), "spec": ("PodSpec", "", "")},
    "PodSpec": {
        "volumes": (None, "merge,retainKeys", "name"),
        "initContainers": ("Container", MERGE, "name"),
        "containers": ("Container", MERGE, "name"),
        "ephemeralContainers": ("Container", MERGE, "name"),  # EphemeralContainerCommon has Container's tags
        "imagePullSecrets": (None, MERGE, "name"),
        "hostAliases": (None, MERGE, "ip"),
        "topologySpreadConstraints": (None, MERGE, "topologyKey"),
        "schedulingGates": (None, MERGE, "name"),
        "resourceClaims": (None, "merge,retainKeys", "name"),
    },
    "Container": {
        "ports": (None, MERGE, "containerPort"),
        "env": (None, MERGE, "name"),
        "volumeMounts": (None, MERGE, "mountPath"),
        "volumeDevices": (None, MERGE, "devicePath"),
    },
    "PodStatus": {
        "conditions": (None, MERGE, "type"),
        "hostIPs": (None, MERGE, "ip"),
        "podIPs": (None, MERGE, "ip"),
        "resourceClaimStatuses": (None, "merge,retainKeys", "name"),
    },
    "WorkloadSpec": {                                        # DeploymentSpec and ReplicaSetSpec
        "template": ("PodTemplateSpec", "", ""),
        "strategy": (None, "retainKeys", ""),                # DeploymentSpec only
    },
    "ConditionsStatus": {"conditions": (None, MERGE, "type")},  # Deployment, ReplicaSet, Service, Namespace
    "ServiceSpec": {"ports": (None, MERGE, "port")},
    "NodeSpec": {"podCIDRs": (None, MERGE, "")},
    "NodeStatus": {
        "conditions": (None, MERGE, "type"),
        "addresses": (None, MERGE, "type"),
    },
}

# kind -> (its spec's type, its status's type)
KINDS: dict[str, tuple] = {
    "Pod": ("PodSpec", "PodStatus"),
    "Deployment": ("WorkloadSpec", "ConditionsStatus"),
    "ReplicaSet": ("WorkloadSpec", "ConditionsStatus"),
    "Service": ("ServiceSpec", "ConditionsStatus"),
    "Namespace": (None, "ConditionsStatus"),
    "Node": ("NodeSpec", "NodeStatus"),
}


def root_type(kind: str) -> dict:
    """The fields of KIND's top level: metadata is an ObjectMeta, spec and status the kind's own types. Kinds
    whose spec and status carry no tags (Endpoints, EndpointSlice, Ingress, IngressClass, NetworkPolicy, Secret,
    ConfigMap, Event) have only metadata's."""
    spec, status = KINDS.get(kind, (None, None))
    return {"metadata": ("ObjectMeta", "", ""), "spec": (spec, "", ""), "status": (status, "", "")}


def lookup(fields: dict, key: str) -> tuple:
    """(the field's own fields, its strategy without retainKeys, its merge key) for KEY in a type's FIELDS."""
    type_name, tag, merge_key = fields.get(key, (None, "", ""))
    strategies = [s for s in tag.split(",") if s and s != "retainKeys"]
    return TYPES.get(type_name, {}), (strategies[0] if strategies else ""), merge_key


def merge_field_list(original: list, patch: list, fields: dict, key: str, delete_list: bool = False) -> list:
    """The list at KEY (a field of a type whose tags are FIELDS): merged if its strategy is merge (or it is a
    $deleteFromPrimitiveList list), else the patch's list as it is."""
    sub, strategy, merge_key = lookup(fields, key)
    if strategy == "merge" or delete_list:
        return merge_list(original, patch, sub, merge_key, delete_list, merge_maps)
    return patch


def _extract_key(key: str, prefix: str) -> str:
    head, sep, rest = key.partition("/")
    if not sep or head != prefix:
        raise bad_request("invalid patch format of primitive list" if prefix == DELETE_PREFIX
                          else "invalid patch format of setElementOrder list")
    return rest


def _retain_keys(original: dict, patch: dict) -> None:
    """$retainKeys: every key the patch sets must be listed; keys of ORIGINAL not listed are cleared."""
    if RETAIN_KEYS not in patch:
        return
    keep = patch.pop(RETAIN_KEYS)
    if not isinstance(keep, list):
        raise bad_request("invalid patch format of retainKeys")
    listed = {k for k in keep if isinstance(k, str)}
    for k, v in patch.items():
        if v is not None and not k.startswith((DELETE_PREFIX, ORDER_PREFIX)) and k not in listed:
            raise bad_request("invalid patch format of retainKeys")
    for k in [k for k in original if k not in listed]:
        del original[k]


def _check_order(patch_list: list, order: list, merge_key: str) -> None:
    """The patch's items must come in $setElementOrder's relative order, and be among its items."""
    if not order or not patch_list:
        return
    items = patch_list
    if merge_key:
        for v in patch_list:
            if not isinstance(v, dict):
                raise bad_arg_type("map[string]interface {}", v)
        items = [v for v in patch_list if v.get(DIRECTIVE) != "delete"]
    i = j = 0
    while i < len(items) and j < len(order):
        if isinstance(items[i], dict) and DIRECTIVE in items[i]:
            i += 1
            continue
        if merge_key:
            for v in (items[i], order[j]):
                if not isinstance(v, dict):
                    raise bad_arg_type("map[string]interface {}", v)
                if merge_key not in v:
                    raise no_merge_key(v, merge_key)
            equal = same(items[i][merge_key], order[j][merge_key])
        else:
            equal = same(items[i], order[j])
        i, j = (i + 1 if equal else i), j + 1
    if i < len(items) and j >= len(order):
        raise internal(f"The order in patch list:\n{go_format(patch_list)}\n doesn't match {ORDER_PREFIX} "
                        f"list:\n{go_format(order)}\n")


def _list_at(m: dict, key: str):
    """(M[KEY] as a list, whether M has KEY)."""
    if key not in m:
        return [], False
    if not isinstance(m[key], list):
        raise bad_arg_type("[]interface {}", m[key])
    return m[key], True


def _ordered_lists(original: dict, patch: dict, fields: dict) -> None:
    """Each $setElementOrder/<list>: the list merged (if the patch has it too), then put in the order given."""
    for directive in [k for k in patch if k.startswith(ORDER_PREFIX)]:
        order = patch.pop(directive)
        if not isinstance(order, list):
            raise bad_arg_type("[]interface {}", order)
        key = _extract_key(directive, ORDER_PREFIX)
        live, in_original = _list_at(original, key)
        wanted, in_patch = _list_at(patch, key)
        _, _, merge_key = lookup(fields, key)
        _check_order(wanted, order, merge_key)
        if not in_original and not in_patch:
            continue
        if not in_patch:
            merged = live
        elif not in_original:
            merged = remove_directives(wanted)[0]
        else:
            merged = merge_field_list(live, wanted, fields, key)
        maps = element_type(live, wanted) is dict
        inside, outside = partition(merged, order, merge_key)
        original[key] = normalize(inside, outside, order, live, merge_key, maps)
        patch.pop(key, None)


def _map_directive(patch: dict) -> dict:
    if patch[DIRECTIVE] == "replace":
        return {k: v for k, v in patch.items() if k != DIRECTIVE}
    if patch[DIRECTIVE] == "delete":
        return {}
    raise internal(f"unknown patch type: {go_format(patch[DIRECTIVE])} in map: {go_format(patch)}")


def _take_patch(original: dict, key: str, value) -> None:
    """KEY set to the patch's VALUE as it is, less nulls and directives (upstream, when there is nothing to merge)."""
    discard_nulls(value)
    value, keep = remove_directives(value)
    if keep:
        original[key] = value
    else:
        original.pop(key, None)


def merge_maps(original, patch: dict, fields: dict) -> dict:
    """PATCH merged into ORIGINAL (both may be changed), FIELDS the tags of their type (upstream's mergeMap)."""
    if DIRECTIVE in patch:
        return _map_directive(patch)
    original = {} if original is None else original
    _retain_keys(original, patch)
    _ordered_lists(original, patch, fields)
    for key, value in list(patch.items()):
        delete_list = key.startswith(DELETE_PREFIX)
        if delete_list:
            key = _extract_key(key, DELETE_PREFIX) or key
        if value is None:
            original.pop(key, None)
        elif key not in original or type(original[key]) is not type(value):
            if not delete_list:
                _take_patch(original, key, value)
        elif isinstance(value, dict):
            sub, strategy, _ = lookup(fields, key)
            original[key] = value if strategy == "replace" else merge_maps(original[key], value, sub)
        elif isinstance(value, list):
            original[key] = merge_field_list(original[key], value, fields, key, delete_list)
        else:
            original[key] = value
    return original


def strategic_merge(original: dict, patch: dict, kind: str) -> dict:
    """PATCH applied to a copy of ORIGINAL, an object of KIND; StrategicMergeError if the patch is malformed."""
    if patch is None:
        return copy.deepcopy(original)
    return merge_maps(copy.deepcopy(original), copy.deepcopy(patch), root_type(kind))
