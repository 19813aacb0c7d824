"""kube-apiserver's JSON Patch (RFC 6902, application/json-patch+json), as its library evanphx/json-patch v4 does it.

json_patch() applies a list of operations (add, remove, replace, move, copy, test) to a copy of a document. The
library's behaviour is kept where it differs from the RFC, since that is what a real API server does:
- a path with no leading "/" ignores its first segment; "" (the whole document) only works for replace and test;
- replace of a missing member adds it (only a missing array index or parent is an error);
- negative array indices count from the end (-1 is the last element, or the end for add);
- copy from a missing member copies null; a test of a missing member passes against null;
- errors are the library's text ("testing value /a failed: test failed"); the API server hides them behind
  "the server rejected our request due to an error in our request" (422), see patch.py.
"""
import copy
import re

_MISSING = "missing value"
_INVALID_INDEX = "invalid index referenced"
_ABSENT = object()                              # an operation with no "value" member


class JSONPatchError(ValueError):
    """An operation that does not apply; str() is evanphx/json-patch's message."""


def _unescape(token: str) -> str:
    """RFC 6901: ~1 is "/", ~0 is "~", read left to right in one pass (so "~01" is "~1")."""
    return re.sub(r"~[01]", lambda m: "/" if m.group() == "~1" else "~", token)


def _atoi(key: str) -> int:
    """Go's strconv.Atoi: an optional sign and decimal digits, nothing else."""
    if not re.fullmatch(r"[+-]?[0-9]+", key):
        raise JSONPatchError(f'strconv.Atoi: parsing "{key}": invalid syntax')
    return int(key)


def _bad_index(idx: int) -> JSONPatchError:
    return JSONPatchError(f"Unable to access invalid index: {idx}: {_INVALID_INDEX}")


def _index(ary: list, key: str, size: int) -> int:
    """KEY as an index into a list of SIZE places, negative ones counted from the end."""
    idx = _atoi(key)
    if idx >= size:
        raise _bad_index(idx)
    if idx < 0:
        if idx < -size:
            raise _bad_index(idx)
        idx += size
    return idx


def _get(con, key: str):
    """The value at KEY (None when an object lacks it: the library does not tell missing from null)."""
    if isinstance(con, dict):
        return con.get(key)
    return con[_index(con, key, len(con))]


def _add(con, key: str, value) -> None:
    if isinstance(con, dict):
        con[key] = value
    elif key == "-":
        con.append(value)
    else:
        try:
            idx = _index(con, key, len(con) + 1)
        except JSONPatchError as err:
            if str(err).startswith("strconv"):
                raise JSONPatchError(f"value was not a proper array index: '{key}': {err}") from None
            raise
        con.insert(idx, value)


def _remove(con, key: str) -> None:
    if isinstance(con, dict):
        if key not in con:
            raise JSONPatchError(f"Unable to remove nonexistent key: {key}: {_MISSING}")
        del con[key]
    else:
        del con[_index(con, key, len(con))]


def _find(doc, path: str):
    """(container, key) for PATH, or (None, "") when a parent is missing or not a container."""
    parts = path.split("/")
    if len(parts) < 2:
        return None, ""
    con = doc
    for part in parts[1:-1]:
        try:
            con = _get(con, _unescape(part))
        except JSONPatchError:
            return None, ""
        if not isinstance(con, (dict, list)):
            return None, ""
    return con, _unescape(parts[-1])


def _member(op: dict, name: str) -> str:
    """OP's "path" or "from" as a string; the error says which and why."""
    value = op.get(name)
    if value is None:
        raise JSONPatchError(f"operation{',' if name == 'from' else ''} missing {name} field: {_MISSING}")
    if not isinstance(value, str):
        kind = {dict: "object", list: "array", bool: "bool"}.get(type(value), "number")
        raise JSONPatchError(f"json: cannot unmarshal {kind} into Go value of type string")
    return value


def _path(op: dict, name: str, context: str, keep_cause: bool) -> str:
    try:
        return _member(op, name)
    except JSONPatchError as err:
        raise JSONPatchError(f"{context}: {err if keep_cause else _MISSING}") from None


def _op_add(doc, op):
    path = _path(op, "path", "add operation failed to decode path", False)
    con, key = _find(doc, path)
    if con is None:
        raise JSONPatchError(f'add operation does not apply: doc is missing path: "{path}": {_MISSING}')
    value = op.get("value")
    try:
        _add(con, key, copy.deepcopy(value))
    except JSONPatchError as err:
        raise JSONPatchError(f"error in add for path: '{path}': {err}") from None
    return doc


def _op_remove(doc, op):
    path = _path(op, "path", "remove operation failed to decode path", False)
    con, key = _find(doc, path)
    if con is None:
        raise JSONPatchError(f'remove operation does not apply: doc is missing path: "{path}": {_MISSING}')
    try:
        _remove(con, key)
    except JSONPatchError as err:
        raise JSONPatchError(f"error in remove for path: '{path}': {err}") from None
    return doc


def _op_replace(doc, op):
    path = _path(op, "path", "replace operation failed to decode path", True)
    value = copy.deepcopy(op.get("value", _ABSENT))
    if path == "":
        # the library wraps a nil error here, so a scalar value is silently ignored
        return value if isinstance(value, (dict, list)) else doc
    con, key = _find(doc, path)
    if con is None:
        raise JSONPatchError(f"replace operation does not apply: doc is missing path: {path}: {_MISSING}")
    try:
        _get(con, key)
    except JSONPatchError:
        raise JSONPatchError(f"replace operation does not apply: doc is missing key: {path}: {_MISSING}") from None
    con[key if isinstance(con, dict) else _index(con, key, len(con))] = None if value is _ABSENT else value
    return doc


def _op_move(doc, op):
    source = _path(op, "from", "move operation failed to decode from", True)
    con, key = _find(doc, source)
    if con is None:
        raise JSONPatchError(f"move operation does not apply: doc is missing from path: {source}: {_MISSING}")
    try:
        value = _get(con, key)
        _remove(con, key)
    except JSONPatchError as err:
        raise JSONPatchError(f"error in move for path: '{key}': {err}") from None
    path = _path(op, "path", "move operation failed to decode path", True)
    con, key = _find(doc, path)
    if con is None:
        raise JSONPatchError(f"move operation does not apply: doc is missing destination path: {path}: {_MISSING}")
    try:
        _add(con, key, value)
    except JSONPatchError as err:
        raise JSONPatchError(f"error in move for path: '{path}': {err}") from None
    return doc


def _op_copy(doc, op):
    source = _path(op, "from", "copy operation failed to decode from", True)
    con, key = _find(doc, source)
    if con is None:
        raise JSONPatchError(f"copy operation does not apply: doc is missing from path: {source}: {_MISSING}")
    try:
        value = _get(con, key)
    except JSONPatchError as err:
        raise JSONPatchError(f"error in copy for from: '{source}': {err}") from None
    path = _path(op, "path", "copy operation failed to decode path", False)
    con, key = _find(doc, path)
    if con is None:
        raise JSONPatchError(f"copy operation does not apply: doc is missing destination path: {path}: {_MISSING}")
    try:
        _add(con, key, copy.deepcopy(value))
    except JSONPatchError as err:
        raise JSONPatchError(f"error while adding value during copy: {err}") from None
    return doc


def json_equal(a, b) -> bool:
    """JSON equality as the library tests it: types must match (1 is not 1.0 nor true), objects and arrays deeply."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    return a == b


def _op_test(doc, op):
    path = _path(op, "path", "test operation failed to decode path", True)
    value = op.get("value", _ABSENT)
    failed = JSONPatchError(f"testing value {path} failed: test failed")
    if path == "":
        if not json_equal(doc, value):
            raise failed
        return doc
    con, key = _find(doc, path)
    if con is None:
        raise JSONPatchError(f"test operation does not apply: is missing path: {path}: {_MISSING}")
    try:
        current = _get(con, key)
    except JSONPatchError as err:
        raise JSONPatchError(f"error in test for path: '{path}': {err}") from None
    if current is None and value is None:
        return doc
    if value is _ABSENT or not json_equal(current, value):
        raise failed
    return doc


_OPS = {"add": _op_add, "remove": _op_remove, "replace": _op_replace, "move": _op_move, "copy": _op_copy,
        "test": _op_test}


def json_patch(original, ops: list):
    """ORIGINAL with the operations OPS applied, in order (ORIGINAL itself is not changed); JSONPatchError on the
    first one that does not apply, and then nothing is applied."""
    doc = copy.deepcopy(original)
    for op in ops:
        op = op or {}
        kind = op.get("op") if isinstance(op.get("op"), str) else "unknown"
        if kind not in _OPS:
            raise JSONPatchError(f"Unexpected kind: {kind}")
        doc = _OPS[kind](doc, op)
    return doc
