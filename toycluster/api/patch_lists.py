"""kube-apiserver's strategic merge of lists (apimachinery's strategicpatch mergeSlice), and the errors it answers with.

A list whose field has the `merge` strategy is merged with the patch's: lists of maps by their merge key (the
patch's item merged into the live one with the same key, or added), `$patch: delete` items removing every item
with their key, a `$patch: replace` item making the patch's items the whole list; lists of scalars as a set
(`$deleteFromPrimitiveList/<list>` takes items out). The result keeps the patch's order for the patch's items
and the live order for the others, interleaved as upstream's normalizeElementOrder does.
"""
from decimal import Decimal

DIRECTIVE = "$patch"


class StrategicMergeError(Exception):
    """STATUS is what kube-apiserver answers (400, 422 or 500); str() is apimachinery's message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def bad_request(message: str) -> StrategicMergeError:
    return StrategicMergeError(400, message)


def internal(message: str) -> StrategicMergeError:
    return StrategicMergeError(500, message)


def go_format(v) -> str:
    """Go's %v of a decoded JSON value: map[a:1 b:[x y]], <nil>, true."""
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{go_format(v[k])}" for k in sorted(v)) + "]"
    if isinstance(v, list):
        return "[" + " ".join(go_format(x) for x in v) + "]"
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return _go_float(v)
    return str(v)


def _go_float(v: float) -> str:
    """Go's %v of a float64: the shortest digits, in e-notation when the exponent is < -4 or >= 6."""
    if v != v or v in (float("inf"), float("-inf")):
        return {"nan": "NaN", "inf": "+Inf", "-inf": "-Inf"}[repr(v)]
    if v == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(v)).normalize().as_tuple()
    text, exp = "".join(map(str, digits)), len(digits) + exponent - 1
    if -4 <= exp < 6:
        return ("-" if sign else "") + format(Decimal(repr(abs(v))).normalize(), "f")
    mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
    return f"{'-' if sign else ''}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"


def _go_type(v) -> str:
    return {dict: "map[string]interface {}", list: "[]interface {}", str: "string", bool: "bool",
            int: "int64", float: "float64"}.get(type(v), "%!s(<nil>)")


def bad_arg_type(expected: str, actual) -> StrategicMergeError:
    return internal(f"expected a {expected}, but received a {_go_type(actual)}")


def no_merge_key(item, key: str) -> StrategicMergeError:
    return internal(f"map: {go_format(item)} does not contain declared merge key: {key}")


def same(a, b) -> bool:
    """Go's == on two interface{} values: same dynamic type and equal."""
    return type(a) is type(b) and a == b


def _key_of(item, merge_key: str):
    """The value index() compares: the merge key's value for maps, the item itself for scalars."""
    if merge_key:
        return item.get(merge_key) if isinstance(item, dict) else None
    return item


def _index(items: list, value, merge_key: str) -> int:
    wanted = _key_of(value, merge_key)
    return next((i for i, v in enumerate(items) if same(_key_of(v, merge_key), wanted)), -1)


def remove_directives(value):
    """(value without directive maps, whether to keep it): a map holding $patch is dropped whole."""
    if isinstance(value, dict):
        if DIRECTIVE in value:
            return None, False
        kept = {k: remove_directives(v) for k, v in value.items()}
        return {k: v for k, (v, keep) in kept.items() if keep}, True
    if isinstance(value, list):
        kept = [remove_directives(v) for v in value]
        return [v for v, keep in kept if keep], True
    return value, True


def discard_nulls(value) -> None:
    if isinstance(value, dict):
        for k in [k for k, v in value.items() if v is None]:
            del value[k]
        for v in value.values():
            discard_nulls(v)
    elif isinstance(value, list):
        for v in value:
            discard_nulls(v)


def element_type(*lists) -> type:
    """The one type of every item of LISTS (upstream's sliceElementType)."""
    found = None
    for item in (v for items in lists for v in items):
        if found is None:
            found = type(item)
            if found is list:
                raise StrategicMergeError(422, "lists of lists are not supported")
        elif type(item) is not found:
            raise internal(f"list element types are not identical: {go_format(list(lists))}")
    if found is None:
        raise internal("no elements in any of the given slices")
    return found


def _stable_sort(items: list, order: list, merge_key: str) -> list:
    """Go's sort.SliceStable (an insertion sort) with upstream's less: by place in ORDER, true if either is absent."""
    items = list(items)

    def less(a, b) -> bool:
        ia, ib = _index(order, a, merge_key), _index(order, b, merge_key)
        return ia < ib if ia >= 0 and ib >= 0 else True

    for i in range(1, len(items)):
        j = i
        while j > 0 and less(items[j], items[j - 1]):
            items[j], items[j - 1] = items[j - 1], items[j]
            j -= 1
    return items


def normalize(patch_items, server_only, patch_order, server_order, merge_key, maps: bool) -> list:
    """The patch's items in the patch's order, the server's in the live order, interleaved where the live
    order relates them (upstream's normalizeElementOrder and mergeSortedSlice)."""
    sorted_lists = []
    for items, order in ((patch_items, patch_order), (server_only, server_order)):
        to_delete = []
        if maps:
            for item in [*items, *order]:
                if not isinstance(item, dict):
                    raise bad_arg_type("map[string]interface {}", item)
                if merge_key not in item:
                    raise no_merge_key(item, merge_key)
            to_delete = [v for v in items if v.get(DIRECTIVE) == "delete"]
            items = [v for v in items if v.get(DIRECTIVE) != "delete"]
        sorted_lists.append(_stable_sort(items, order, merge_key) + to_delete)
    right, left = sorted_lists
    out, i, j = [], 0, 0
    while i < len(left) or j < len(right):
        if j < len(right) and i < len(left):
            li, ri = _index(server_order, left[i], merge_key), _index(server_order, right[j], merge_key)
            take_left = li >= 0 and ri >= 0 and li < ri
        else:
            take_left = i < len(left)
        out.append(left[i] if take_left else right[j])
        i, j = (i + 1, j) if take_left else (i, j + 1)
    return out


def partition(merged: list, by: list, merge_key: str) -> tuple:
    """(items of MERGED also in BY, the others), each in MERGED's order."""
    inside, outside = [], []
    for v in merged:
        if merge_key:
            if not isinstance(v, dict):
                raise bad_arg_type("map[string]interface {}", v)
            if merge_key not in v:
                raise no_merge_key(v, merge_key)
            found = any(same(b.get(merge_key), v[merge_key]) for b in by if isinstance(b, dict))
        else:
            found = any(same(b, v) for b in by)
        (inside if found else outside).append(v)
    return inside, outside


def _special_items(original: list, patch: list, merge_key: str) -> tuple:
    """Apply the $patch items of a list of maps: delete removes every item with that merge key value, replace
    makes the patch's other items the whole list."""
    plain, replace = [], False
    for item in patch:
        if DIRECTIVE not in item:
            plain.append(item)
        elif item[DIRECTIVE] == "delete":
            if merge_key not in item:
                raise no_merge_key(item, merge_key)
            original = [o for o in original if not (merge_key in o and same(o[merge_key], item[merge_key]))]
        elif item[DIRECTIVE] == "replace":
            replace = True
        elif item[DIRECTIVE] == "merge":
            raise internal("merging lists cannot yet be specified in the patch")
        else:
            raise internal(f"unknown patch type: {go_format(item[DIRECTIVE])} in map: {go_format(item)}")
    return (plain, []) if replace else (original, plain)


def merge_list(original: list, patch: list, fields: dict, merge_key: str, delete_list: bool, merge_maps) -> list:
    """Two lists of a field with the merge strategy (or a $deleteFromPrimitiveList list) merged; MERGE_MAPS
    merges two items with the same key (the strategic merge of maps, passed in: it calls back into lists)."""
    if not original and not patch:
        return original
    maps = element_type(original, patch) is dict
    if not maps:
        if delete_list:
            return [v for v in original if not any(same(v, d) for d in patch)]
        merged = []
        for v in original + patch:
            if not any(same(v, m) for m in merged):
                merged.append(v)
    else:
        original, patch = _special_items(original, patch, merge_key)
        merged = list(original)
        for item in patch:
            if merge_key not in item:
                raise no_merge_key(item, merge_key)
            at = next((i for i, o in enumerate(merged)
                       if merge_key in o and same(o[merge_key], item[merge_key])), -1)
            if at >= 0:
                merged[at] = merge_maps(merged[at], item, fields)
            else:
                merged.append(item)
    inside, outside = partition(merged, patch, merge_key if maps else "")
    return normalize(inside, outside, patch, original, merge_key if maps else "", maps)
