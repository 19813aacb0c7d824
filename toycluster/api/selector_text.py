"""apimachinery's selector strings: `-l` / `labelSelector=` and `--field-selector` / `fieldSelector=` parsed as
upstream's grammar, turned into a LabelSelector the rest of the API understands.

Label selectors: `key`, `!key`, `key=v`, `key==v`, `key!=v`, `key in (a,b)`, `key notin (a,b)`, `key>1`, `key<1`,
joined by commas. Field selectors: `path=v`, `path==v`, `path!=v`, joined by commas, on the fields the API
supports for the kind (metadata.name and metadata.namespace for every kind, a few more per kind).
"""
import re

_KEY = re.compile(r"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                  r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
_TOKEN = re.compile(r"\s*(!=|==|=|!|\(|\)|,|>|<|[^\s!=(),<>]+)")
FIELDS = {"Pod": {"spec.nodeName", "status.phase", "status.podIP", "spec.restartPolicy", "spec.schedulerName",
                  "spec.serviceAccountName", "status.nominatedNodeName"},
          "Event": {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
                    "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
                    "reason", "reportingComponent", "source", "type"},
          "Secret": {"type"}, "Namespace": {"status.phase"}, "Node": {"spec.unschedulable"},
          "ReplicaSet": {"status.replicas"}}


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or not m.group(1):
            break
        out.append(m.group(1))
        pos = m.end()
    return out


def _check(key: str, values: list[str], text: str) -> None:
    if not _KEY.fullmatch(key) or len(key.rpartition("/")[2]) > 63:
        raise ValueError(f'unable to parse requirement: <nil>: Invalid value: "{key}": name part must consist of '
                         "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
                         "character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
                         "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
    for v in values:
        if not _VALUE.fullmatch(v) or len(v) > 63:
            raise ValueError(f'unable to parse requirement: values[0][{key}]: Invalid value: "{v}": a valid label '
                             "must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and "
                             "must start and end with an alphanumeric character")


def _set(toks: list[str], i: int, text: str) -> tuple[list[str], int]:
    if i >= len(toks) or toks[i] != "(":
        raise ValueError(f"found '{toks[i] if i < len(toks) else ''}', expected: '('")
    values, i = [], i + 1
    while i < len(toks) and toks[i] != ")":
        if toks[i] != ",":
            values.append(toks[i])
        i += 1
    if i >= len(toks):
        raise ValueError("found '', expected: ')'")
    return values, i + 1


def parse_labels(text: str) -> dict:
    """A selector string -> a LabelSelector {"matchExpressions": [...]}; ValueError with upstream's message."""
    toks, exprs, i = _tokens(text), [], 0
    while i < len(toks):
        if toks[i] == "!":
            if i + 1 >= len(toks):
                raise ValueError("found '', expected: identifier after '!'")
            key, op, values, i = toks[i + 1], "DoesNotExist", [], i + 2
        else:
            key, i = toks[i], i + 1
            nxt = toks[i] if i < len(toks) else ","
            if nxt == ",":
                op, values = "Exists", []
            elif nxt in ("=", "==", "!="):
                if i + 1 >= len(toks) or toks[i + 1] == ",":
                    values, i = [""], i + 1
                else:
                    values, i = [toks[i + 1]], i + 2
                op = "NotIn" if nxt == "!=" else "In"
            elif nxt in ("in", "notin"):
                values, i = _set(toks, i + 1, text)
                op = "In" if nxt == "in" else "NotIn"
            elif nxt in (">", "<"):
                if i + 1 >= len(toks) or not re.fullmatch(r"-?\d+", toks[i + 1]):
                    raise ValueError(f"unable to parse requirement: for 'Gt', 'Lt' operators, the value must be "
                                     f"an integer")
                values, op, i = [toks[i + 1]], "Gt" if nxt == ">" else "Lt", i + 2
            else:
                raise ValueError(f"found '{nxt}', expected: '=', '!=', '==', 'in', notin'")
        _check(key, values if op not in ("Gt", "Lt") else [], text)
        exprs.append({"key": key, "operator": op, "values": values})
        if i < len(toks):
            if toks[i] != ",":
                raise ValueError(f"found '{toks[i]}', expected: ',' or 'end of string'")
            i += 1
            if i >= len(toks):
                raise ValueError("found '', expected: identifier")
    return {"matchExpressions": exprs}


def parse_fields(text: str, kind: str) -> list[tuple[str, str, str]]:
    """A field selector -> [(path, "=" or "!=", value)]; ValueError with upstream's message for unknown fields."""
    out = []
    for term in filter(None, (t.strip() for t in text.split(","))):
        m = re.fullmatch(r"([^=!]+?)\s*(==|=|!=)\s*(.*)", term)
        if not m:
            raise ValueError(f'invalid selector: \'{text}\'; can\'t understand \'{term}\'')
        path, op, value = m.group(1), "!=" if m.group(2) == "!=" else "=", m.group(3)
        if path not in {"metadata.name", "metadata.namespace"} | FIELDS.get(kind, set()):
            raise ValueError(f'field label not supported: {path}')
        out.append((path, op, value))
    return out


def _field(obj: dict, path: str) -> str:
    cur = obj
    for part in path.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    if path == "source" and isinstance(cur, dict):
        cur = cur.get("component")
    return "" if cur is None else str(cur).lower() if isinstance(cur, bool) else str(cur)


def fields_match(terms: list[tuple[str, str, str]], obj: dict) -> bool:
    return all((_field(obj, path) == value) == (op == "=") for path, op, value in terms)
