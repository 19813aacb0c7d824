"""kube-apiserver's PATCH: the three patch types it accepts, chosen by Content-Type, with its statuses and messages.

apply_patch() is what the PATCH handler does to the stored object: it picks the patch type by Content-Type (415
for any other), decodes the body (400 with Go's encoding/json message if it is not JSON), applies it, and
answers as upstream does when it does not apply:
- application/json-patch+json (RFC 6902, patch_json.py): a failing operation is 422 Invalid with the message
  "the server rejected our request due to an error in our request" (upstream drops the library's text; it is
  kept here in PatchError.detail); more than 10000 operations is 413;
- application/merge-patch+json (RFC 7386, merge_patch() below, as evanphx/json-patch's MergePatch): a body that
  is not a JSON object or array is 400 "Invalid JSON Patch";
- application/strategic-merge-patch+json (patch_strategic.py): malformed directives are 400, a list of lists
  422, other failures 500 with apimachinery's message.
The result is then what decoding it into the Go type leaves: null members dropped (and, after a strategic merge,
directive keys such as $patch left in added list items). A result that is not an object is 422, as upstream's
decode error. Nothing here checks the name, namespace, uid or resourceVersion: the caller does, as upstream's
handler and registry do after the patch.
"""
import copy
import json
import re

from toycluster.api.patch_json import JSONPatchError
from toycluster.api.patch_json import json_patch as _apply_json_patch
from toycluster.api.patch_lists import StrategicMergeError
from toycluster.api.patch_strategic import strategic_merge as _apply_strategic

CONTENT_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
}
MAX_JSON_PATCH_OPERATIONS = 10000
REJECTED = "the server rejected our request due to an error in our request"
BAD_MERGE_PATCH = "Invalid JSON Patch"                      # evanphx/json-patch's errBadJSONPatch


class PatchError(Exception):
    """A patch kube-apiserver refuses: STATUS is the HTTP code, str() the metav1.Status message, REASON the
    Status reason (BadRequest, Invalid, UnsupportedMediaType, RequestEntityTooLarge, or "" for 500s), DETAIL
    the library's own text where upstream does not show it (a JSON patch's failing operation)."""

    def __init__(self, status: int, message: str, reason: str = "", detail: str = ""):
        super().__init__(message)
        self.status, self.message, self.detail = status, message, detail
        self.reason = reason or {400: "BadRequest", 413: "RequestEntityTooLarge", 415: "UnsupportedMediaType",
                                 422: "Invalid"}.get(status, "")


def _go_char(text: str, pos: int) -> str:
    """Go's quoteChar of the byte at POS: 'x', '\\n', '\\x01', '\\''."""
    if pos >= len(text):
        return "''"
    char = text[pos]
    if ord(char) > 0x7F:
        char = chr(char.encode()[0])                        # Go reads bytes: the first byte of the UTF-8 sequence
    named = {"'": "\\'", "\\": "\\\\", "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
             "\t": "\\t", "\v": "\\v"}
    if char in named:
        return f"'{named[char]}'"
    if ord(char) < 0x20 or ord(char) == 0x7F:
        return f"'\\x{ord(char):02x}'"
    return f"'\\u{ord(char):04x}'" if 0x80 <= ord(char) < 0xA0 else f"'{char}'"


def _open_container(text: str, pos: int) -> str:
    """The innermost "{" or "[" still open at POS (strings skipped), to tell Go's two ',' messages apart."""
    stack, in_string, escaped = [], False, False
    for char in text[:pos]:
        if in_string:
            in_string, escaped = (not (char == '"' and not escaped)), (char == "\\" and not escaped)
        elif char == '"':
            in_string = True
        elif char in "{[":
            stack.append(char)
        elif char in "}]" and stack:
            stack.pop()
    return stack[-1] if stack else ""


def _go_literal_error(text: str, pos: int) -> str:
    """Go's error in a misspelt null, true or false starting at POS ("" if none starts there)."""
    for word in ("null", "true", "false"):
        if text.startswith(word[0], pos):
            for i, want in enumerate(word[1:], 1):
                if pos + i >= len(text):
                    return "unexpected end of JSON input"
                if text[pos + i] != want:
                    return f"invalid character {_go_char(text, pos + i)} in literal {word} (expecting '{want}')"
    return ""


def _go_syntax_error(err: json.JSONDecodeError) -> str:
    """Python's JSON syntax error in Go's encoding/json words."""
    text, pos, msg = err.doc, err.pos, err.msg
    if msg.startswith("Invalid control character"):
        return f"invalid character {_go_char(text, pos)} in string literal"
    if msg.startswith("Invalid \\u"):
        digits = re.match(r"[0-9a-fA-F]*", text[pos + 2:])[0]
        return f"invalid character {_go_char(text, pos + 2 + len(digits))} in \\u hexadecimal character escape"
    if msg.startswith("Invalid \\escape"):
        return f"invalid character {_go_char(text, pos + 1)} in string escape code"
    if msg.startswith("Unterminated string") or not text[pos:].strip():
        return "unexpected end of JSON input"
    if msg == "Expecting value" and _go_literal_error(text, pos):
        return _go_literal_error(text, pos)
    where = {"Expecting ':' delimiter": "after object key",
             "Expecting property name enclosed in double quotes": "looking for beginning of object key string",
             "Extra data": "after top-level value"}.get(msg, "looking for beginning of value")
    if msg == "Expecting ',' delimiter":
        where = "after object key:value pair" if _open_container(text, pos) == "{" else "after array element"
    return f"invalid character {_go_char(text, pos)} {where}"


def _no_constants(name: str):
    raise ValueError(name)


def decode(body: bytes):
    """BODY as JSON; ValueError with Go's message (NaN and Infinity are not JSON to Go either)."""
    text = body.decode("utf-8", "replace") if isinstance(body, (bytes, bytearray)) else body
    try:
        return json.loads(text, parse_constant=_no_constants)
    except json.JSONDecodeError as err:
        raise ValueError(_go_syntax_error(err)) from None
    except ValueError as err:
        pos = text.find(str(err))
        raise ValueError(f"invalid character {_go_char(text, pos)} looking for beginning of value") from None


def _json_kind(value) -> str:
    return {dict: "object", list: "array", str: "string", bool: "bool"}.get(type(value), "number")


def _cannot_unmarshal(value, go_type: str) -> PatchError:
    return PatchError(400, f"json: cannot unmarshal {_json_kind(value)} into Go value of type {go_type}")


def _prune(value):
    """MergePatch's pruneNulls: null members (and null array items) removed, at any depth."""
    if isinstance(value, dict):
        return {k: _prune(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_prune(v) for v in value if v is not None]
    return value


def _merge_value(current, patch):
    """evanphx/json-patch's merge(): objects merged, anything else taken from the patch."""
    if not isinstance(current, dict):
        return _prune(patch)
    if not isinstance(patch, dict):
        return patch
    for key, value in patch.items():
        if value is None:
            current.pop(key, None)
        elif current.get(key) is None:
            current[key] = _prune(value)
        else:
            current[key] = _merge_value(current[key], value)
    return current


def merge_patch(original, patch):
    """RFC 7386 JSON Merge Patch: PATCH applied to a copy of ORIGINAL (null members delete, objects merge,
    anything else replaces). As evanphx/json-patch does, nulls inside an added value are dropped, arrays' too."""
    return _merge_value(copy.deepcopy(original), copy.deepcopy(patch))


def json_patch(original, ops: list):
    """RFC 6902 JSON Patch OPS applied to a copy of ORIGINAL; PatchError(422) if an operation does not apply."""
    try:
        return _apply_json_patch(original, ops)
    except JSONPatchError as err:
        raise PatchError(422, REJECTED, detail=str(err)) from None


def strategic_merge(original: dict, patch: dict, kind: str) -> dict:
    """Strategic merge PATCH applied to a copy of ORIGINAL, an object of KIND; PatchError as upstream answers."""
    try:
        return _apply_strategic(original, patch, kind)
    except StrategicMergeError as err:
        if err.status == 422:
            raise PatchError(422, REJECTED, detail=str(err)) from None
        raise PatchError(err.status, str(err)) from None


def _not_an_object(result) -> PatchError:
    """Upstream decodes the patched JSON into the kind's Go type; an array does not decode."""
    text = json.dumps(result, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    go_struct = ('struct { APIVersion string "json:\\"apiVersion,omitempty\\""; '
                 'Kind string "json:\\"kind,omitempty\\"" }')
    detail = f"couldn't get version/kind; json parse error: json: cannot unmarshal {_json_kind(result)} " \
             f"into Go value of type {go_struct}"
    return PatchError(422, f' "" is invalid: patch: Invalid value: {json.dumps(text)}: {detail}')


def _decoded(result, drop_directives: bool):
    """What decoding RESULT into the Go type leaves of it: no null members (nor, after a strategic merge, the
    $-directives left in added list items, unknown fields to the Go type)."""
    if isinstance(result, dict):
        return {k: _decoded(v, drop_directives) for k, v in result.items()
                if v is not None and not (drop_directives and k.startswith("$"))}
    if isinstance(result, list):
        return [_decoded(v, drop_directives) for v in result]
    return result


def _apply_json(obj: dict, ops) -> dict:
    if ops is None:
        ops = []
    if not isinstance(ops, list):
        raise _cannot_unmarshal(ops, "jsonpatch.Patch")
    for op in ops:
        if op is not None and not isinstance(op, dict):
            raise _cannot_unmarshal(op, "jsonpatch.Operation")
    if len(ops) > MAX_JSON_PATCH_OPERATIONS:
        raise PatchError(413, "Request entity too large: The allowed maximum operations in a JSON patch is "
                              f"{MAX_JSON_PATCH_OPERATIONS}, got {len(ops)}")
    return json_patch(obj, ops)


def _apply_merge(obj: dict, patch):
    if isinstance(patch, list):
        return _prune(patch)
    if not isinstance(patch, dict):
        raise PatchError(400, BAD_MERGE_PATCH)
    return merge_patch(obj, patch)


def _apply_strategic_body(obj: dict, patch, kind: str) -> dict:
    if patch is not None and not isinstance(patch, dict):
        raise _cannot_unmarshal(patch, "map[string]interface {}")
    return strategic_merge(obj, patch, kind)


def media_type(content_type: str) -> str:
    """The Content-Type without its parameters, cut as upstream cuts it (at the first ';', nothing trimmed)."""
    cut = content_type.find(";")
    return content_type[:cut] if cut > 0 else content_type


def apply_patch(obj: dict, body: bytes, content_type: str, kind: str = "") -> dict:
    """OBJ with the PATCH request's BODY applied, as a new object (OBJ is not changed); CONTENT_TYPE picks the
    patch type, KIND (default: OBJ's kind) the strategic merge's field tags. PatchError as upstream answers."""
    patch_type = CONTENT_TYPES.get(media_type(content_type or ""))
    if patch_type is None:
        raise PatchError(415, "the body of the request was in an unknown format - accepted media types include: "
                              + ", ".join(CONTENT_TYPES))
    try:
        patch = decode(body)
    except ValueError as err:
        raise PatchError(400, BAD_MERGE_PATCH if patch_type == "merge" else str(err)) from None
    if patch_type == "json":
        result = _apply_json(obj, patch)
    elif patch_type == "merge":
        result = _apply_merge(obj, patch)
    else:
        result = _apply_strategic_body(obj, patch, kind or obj.get("kind", ""))
    if not isinstance(result, dict):
        raise _not_an_object(result)
    return _decoded(result, patch_type == "strategic")
