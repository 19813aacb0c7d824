"""apimachinery's selector strings: `-l` / `labelSelector=` and `--field-selector` / `fieldSelector=` parsed as
upstream's grammar (pkg/labels' lexer and parser, pkg/fields), turned into a LabelSelector the rest of the API
understands.

Label selectors: `key`, `!key`, `key=v`, `key==v`, `key!=v`, `key in (a,b)`, `key notin (a,b)`, `key>1`, `key<1`,
joined by commas; keys and values checked as NewRequirement checks them, errors in upstream's words. Field
selectors: `path=v`, `path==v`, `path!=v`, joined by commas, on the fields the API supports for the kind
(metadata.name and metadata.namespace for every kind, a few more per kind).
"""
import re

from toycluster.api.fields import FieldError, check_label_key, check_label_value

FIELDS = {"Pod": {"spec.nodeName", "status.phase", "status.podIP", "spec.restartPolicy", "spec.schedulerName",
                  "spec.serviceAccountName", "status.nominatedNodeName"},
          "Event": {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
                    "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
                    "reason", "reportingComponent", "source", "type"},
          "Secret": {"type"}, "Namespace": {"status.phase"}, "Node": {"spec.unschedulable"},
          "ReplicaSet": {"status.replicas"}}


_SPECIAL, _SPACE = set("=!(),><"), set(" \t\r\n")
_TOKENS = {")": "CLOSE", ",": "COMMA", "!": "NOT", "==": "EQEQ", "=": "EQ", ">": "GT", "in": "IN", "<": "LT",
           "!=": "NE", "notin": "NOTIN", "(": "OPEN"}
_OPERATORS = {"IN": "In", "NOTIN": "NotIn", "EQ": "In", "EQEQ": "In", "NE": "NotIn", "GT": "Gt", "LT": "Lt"}
_BINARY = "in, notin, =, ==, !=, gt, lt"          # upstream's binaryOperators, as its message lists them


def _lex(text: str) -> list[tuple[str, str]]:
    """(token, literal) pairs as pkg/labels' Lexer makes them, ending with ("END", "")."""
    out, pos, n = [], 0, len(text)
    while True:
        while pos < n and text[pos] in _SPACE:
            pos += 1
        if pos >= n:
            return out + [("END", "")]
        if text[pos] in _SPECIAL:                   # the longest run of symbols that is still an operator
            tok, lit, end = None, "", pos
            while end < n and text[end] in _SPECIAL and text[pos:end + 1] in _TOKENS:
                end += 1
                tok, lit = _TOKENS[text[pos:end]], text[pos:end]
            out.append((tok, lit) if tok else ("ERROR", f"error expected: keyword found '{text[pos]}'"))
            pos = max(end, pos + 1)
        else:
            end = pos
            while end < n and text[end] not in _SPECIAL and text[end] not in _SPACE:
                end += 1
            lit, pos = text[pos:end], end
            out.append((_TOKENS.get(lit, "IDENT"), lit))


class _Parser:
    """pkg/labels' Parser: one requirement after another; "in" and "notin" are identifiers where values are."""

    def __init__(self, text: str):
        self.items, self.pos = _lex(text), 0

    def peek(self, values=True):
        tok, lit = self.items[self.pos]
        return ("IDENT" if values and tok in ("IN", "NOTIN") else tok), lit

    def take(self, values=True):
        item = self.peek(values)
        self.pos += 1
        return item

    def parse(self) -> list[dict]:
        reqs = []
        while True:
            tok, lit = self.peek()
            if tok == "END":
                return reqs
            if tok not in ("IDENT", "NOT"):
                raise ValueError(f"found '{lit}', expected: !, identifier, or 'end of string'")
            try:
                reqs.append(self.requirement())
            except ValueError as e:
                raise ValueError(f"unable to parse requirement: {e}") from None
            tok, lit = self.take()
            if tok == "END":
                return reqs
            if tok != "COMMA":
                raise ValueError(f"found '{lit}', expected: ',' or 'end of string'")
            if self.peek()[0] not in ("IDENT", "NOT"):
                raise ValueError(f"found '{self.peek()[1]}', expected: identifier after ','")

    def requirement(self) -> dict:
        tok, key = self.take()
        op = "DoesNotExist" if tok == "NOT" else None
        if tok == "NOT":
            tok, key = self.take()
        if tok != "IDENT":
            raise ValueError(f"found '{key}', expected: identifier")
        _check_key(key, "<nil>")
        if op or self.peek()[0] in ("END", "COMMA"):    # `!x` takes nothing after it: `!x=a` fails next
            return {"key": key, "operator": op or "Exists", "values": []}
        tok, lit = self.take(values=False)
        if tok not in _OPERATORS:
            raise ValueError(f"found '{lit}', expected: {_BINARY}")
        values = self.set_values() if tok in ("IN", "NOTIN") else self.exact_value()
        _check_values(key, _OPERATORS[tok], values)
        return {"key": key, "operator": _OPERATORS[tok], "values": values}

    def set_values(self) -> list[str]:
        tok, lit = self.take()
        if tok != "OPEN":
            raise ValueError(f"found '{lit}' expected: '('")
        tok, lit = self.peek()
        if tok == "CLOSE":                          # "()"
            self.take()
            return [""]
        if tok not in ("IDENT", "COMMA"):
            raise ValueError(f"found '{lit}', expected: ',', ')' or identifier")
        values = self.identifiers()
        if self.take()[0] != "CLOSE":
            raise ValueError(f"found '{lit}', expected: ')'")
        return sorted(values)

    def identifiers(self) -> set[str]:
        """A possibly empty list of possibly empty identifiers, comma-separated: "(a,,b)", "(,)"."""
        values = set()
        while True:
            tok, lit = self.take()
            if tok == "IDENT":
                values.add(lit)
                nxt, nlit = self.peek()
                if nxt == "CLOSE":
                    return values
                if nxt != "COMMA":
                    raise ValueError(f"found '{nlit}', expected: ',' or ')'")
            elif tok == "COMMA":
                if not values:                      # "(,"
                    values.add("")
                nxt = self.peek()[0]
                if nxt == "CLOSE":
                    values.add("")
                    return values
                if nxt == "COMMA":
                    self.take()
                    values.add("")
            else:
                raise ValueError(f"found '{lit}', expected: ',', or identifier")

    def exact_value(self) -> list[str]:
        if self.peek()[0] in ("END", "COMMA"):
            return [""]
        tok, lit = self.take()
        if tok != "IDENT":
            raise ValueError(f"found '{lit}', expected: identifier")
        return [lit]


def _check_key(key: str, path: str) -> None:
    try:
        check_label_key(key, path)
    except FieldError as e:
        raise ValueError(": ".join(e.args)) from None


def _check_values(key: str, op: str, values: list[str]) -> None:
    """NewRequirement's checks on the values; several errors are listed as upstream's aggregate lists them."""
    errors = []
    if op in ("Gt", "Lt"):
        errors += [f'values[{i}]: Invalid value: "{v}": for \'Gt\', \'Lt\' operators, the value must be an integer'
                   for i, v in enumerate(values) if not is_int64(v)]
    for i, v in enumerate(values):
        try:
            check_label_value(v, f"values[{i}][{key}]")
        except FieldError as e:
            errors.append(": ".join(e.args))
    if errors:
        raise ValueError(errors[0] if len(errors) == 1 else f"[{', '.join(errors)}]")


def is_int64(text: str) -> bool:
    """Does Go's strconv.ParseInt(text, 10, 64) accept TEXT?"""
    return bool(re.fullmatch(r"[+-]?[0-9]+", text)) and -2 ** 63 <= int(text) < 2 ** 63


def parse_labels(text: str) -> dict:
    """A selector string -> a LabelSelector {"matchExpressions": [...]}, sorted by key as upstream sorts them
    (=, == become In and != NotIn, which match alike); ValueError with upstream's message."""
    return {"matchExpressions": sorted(_Parser(text).parse(), key=lambda r: r["key"])}


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
