"""kube-apiserver's protobuf serializer: request bodies in application/vnd.kubernetes.protobuf, decoded to JSON's dict.

A body is the 4-byte magic b"k8s\\x00" and a runtime.Unknown: typeMeta {apiVersion, kind}, raw (the object's own
message), contentEncoding, contentType. decode() reads it with a small proto2 wire-format reader (varints,
length-delimited fields, fixed32/64) driven by the field tables of protobuf_types.py, and gives the dict the JSON
path would have parsed: what Go's JSON would print for the same object (zero values dropped where its struct
tags say omitempty, an empty Time dropped, empty structs kept as {}). Unknown fields are skipped; anything
malformed is a ProtobufError naming what was wrong (the REST layer answers 400 BadRequest).
"""
import base64
import datetime

from toycluster.api.protobuf_types import MESSAGES, OBJECTS

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"
_VARINT, _FIXED64, _LEN, _FIXED32 = 0, 1, 2, 5
_SCALAR_WIRE = {"int32": _VARINT, "int64": _VARINT, "bool": _VARINT}


class ProtobufError(ValueError):
    """The body is not a protobuf object this server can read."""


def decode(body: bytes) -> dict:
    """A protobuf request body -> the object as a JSON-shaped dict (apiVersion, kind, then its fields)."""
    if not body.startswith(MAGIC):
        raise ProtobufError(f"provided data does not appear to be a protobuf message, expected prefix "
                            f"{list(MAGIC)}")
    unknown = _unknown(memoryview(body)[len(MAGIC):])
    api_version, kind = unknown.get("apiVersion", ""), unknown.get("kind", "")
    if unknown.get("contentEncoding"):
        raise ProtobufError(f"unsupported content encoding {unknown['contentEncoding']!r} of the embedded object")
    message = OBJECTS.get((api_version, kind))
    if message is None:
        raise ProtobufError(f"no protobuf decoding here for apiVersion {api_version!r} kind {kind!r}; "
                            f"send it as application/json")
    raw = unknown.get("raw", memoryview(b""))
    return {"apiVersion": api_version, "kind": kind, **_message(raw, MESSAGES[message], message)}


def _unknown(buf) -> dict:
    """runtime.Unknown: 1 typeMeta {1 apiVersion, 2 kind}, 2 raw, 3 contentEncoding, 4 contentType."""
    out = {}
    for number, wire, value in _fields(buf, "Unknown"):
        if number == 1:
            for n, w, v in _fields(_need(wire, _LEN, "Unknown.typeMeta", value), "Unknown.typeMeta"):
                if n in (1, 2):
                    out["apiVersion" if n == 1 else "kind"] = _value("string", w, v, "Unknown.typeMeta")
        elif number == 2:
            out["raw"] = _need(wire, _LEN, "Unknown.raw", value)
        elif number in (3, 4):
            out["contentEncoding" if number == 3 else "contentType"] = _value("string", wire, value, "Unknown")
    return out


def _varint(buf, pos: int, where: str) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise ProtobufError(f"{where}: truncated varint")
        if shift > 63:
            raise ProtobufError(f"{where}: varint longer than 10 bytes")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value & 0xFFFFFFFFFFFFFFFF, pos


def _fields(buf, where: str):
    """The wire records of one message: (field number, wire type, int or memoryview)."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos, where)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ProtobufError(f"{where}: field number 0 is illegal")
        if wire == _VARINT:
            value, pos = _varint(buf, pos, f"{where} field {number}")
        elif wire in (_FIXED64, _FIXED32):
            size = 8 if wire == _FIXED64 else 4
            if pos + size > len(buf):
                raise ProtobufError(f"{where} field {number}: truncated fixed{size * 8}")
            value, pos = int.from_bytes(buf[pos:pos + size], "little"), pos + size
        elif wire == _LEN:
            size, pos = _varint(buf, pos, f"{where} field {number}")
            if pos + size > len(buf):
                raise ProtobufError(f"{where} field {number}: length {size} runs past the end of the message")
            value, pos = buf[pos:pos + size], pos + size
        else:
            raise ProtobufError(f"{where} field {number}: unsupported wire type {wire} (groups are not used here)")
        yield number, wire, value


def _message(buf, table: dict, where: str) -> dict:
    """One message -> its JSON dict, fields in the table's (Go's struct) order."""
    seen: dict[int, list] = {}
    for number, wire, value in _fields(buf, where):
        if number in table:
            seen.setdefault(number, []).append((wire, value))
    out = {}
    for number, (name, typ, keep) in table.items():
        if number not in seen:
            continue
        at = f"{where}.{name}"
        if typ.startswith("["):
            items = [v for wire, value in seen[number] for v in _repeated(typ[1:-1], wire, value, at)]
            if items:
                out[name] = items
        elif typ.startswith("map"):
            entries = dict(_entry(typ, wire, value, at) for wire, value in seen[number])
            if entries:
                out[name] = entries
        elif typ[0].isupper() and typ not in _SPECIAL:
            merged = b"".join(bytes(_need(wire, _LEN, at, value)) for wire, value in seen[number])
            sub = _message(memoryview(merged), MESSAGES[typ], typ)
            if name == "(inline)":
                out.update(sub)
            else:
                out[name] = sub
        else:
            wire, value = seen[number][-1]  # proto: the last one wins
            converted = _value(typ, wire, value, at)
            if converted is not None and (typ in _SPECIAL or keep or converted not in ("", 0, False)):
                out[name] = converted
    return out


def _need(wire: int, expected: int, at: str, value):
    if wire != expected:
        raise ProtobufError(f"{at}: wire type {wire}, expected {expected}")
    return value


def _repeated(typ: str, wire: int, value, at: str) -> list:
    if typ in _SCALAR_WIRE and wire == _LEN:  # packed
        items, pos = [], 0
        while pos < len(value):
            item, pos = _varint(value, pos, at)
            items.append(_value(typ, _VARINT, item, at))
        return items
    if typ[0].isupper() and typ not in _SPECIAL:
        return [_message(_need(wire, _LEN, at, value), MESSAGES[typ], typ)]
    return [_value(typ, wire, value, at)]


def _entry(typ: str, wire: int, value, at: str) -> tuple[str, object]:
    """A map entry (key = 1, value = 2); map.bytes and map.Quantity name the value's type."""
    value_type = typ.partition(".")[2] or "string"
    entry = {1: "", 2: None}
    for number, w, v in _fields(_need(wire, _LEN, at, value), at):
        if number in entry:
            entry[number] = _value("string" if number == 1 else value_type, w, v, at)
    default = {"bytes": "", "Quantity": "0"}.get(value_type, "")
    return entry[1], default if entry[2] is None else entry[2]


def _value(typ: str, wire: int, value, at: str):
    if typ in _SCALAR_WIRE:
        _need(wire, _VARINT, at, value)
        if typ == "bool":
            return value != 0
        value = value - (1 << 64) if value >= 1 << 63 else value
        if typ == "int32":
            value = (value + (1 << 31)) % (1 << 32) - (1 << 31)
        return value
    if typ in _SPECIAL:
        return _SPECIAL[typ](_need(wire, _LEN, at, value), at)
    data = bytes(_need(wire, _LEN, at, value))
    if typ == "bytes":
        return base64.b64encode(data).decode()
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise ProtobufError(f"{at}: string is not valid UTF-8") from None


def _time(buf, at: str):
    """metav1.Time {seconds, nanos} -> RFC 3339 at second precision; the zero time is omitted (JSON's null)."""
    seconds = nanos = 0
    for number, wire, value in _fields(buf, at):
        if number == 1:
            seconds = _value("int64", wire, value, at)
        elif number == 2:
            nanos = _value("int32", wire, value, at)
    if not seconds and not nanos:
        return None
    when = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _quantity(buf, at: str) -> str:
    """resource.Quantity {string} -> its canonical string."""
    text = "0"
    for number, wire, value in _fields(buf, at):
        if number == 1:
            text = _value("string", wire, value, at)
    return text


def _int_or_string(buf, at: str):
    """intstr.IntOrString {type (0 int, 1 string), intVal, strVal} -> an int or a string."""
    got = {1: 0, 2: 0, 3: ""}
    for number, wire, value in _fields(buf, at):
        if number in got:
            got[number] = _value("string" if number == 3 else "int32", wire, value, at)
    return got[3] if got[1] == 1 else got[2]


_SPECIAL = {"Time": _time, "Quantity": _quantity, "IntOrString": _int_or_string}
