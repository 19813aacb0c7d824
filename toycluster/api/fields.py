"""kube-apiserver's field validation: the checks every kind's validator is built from, in the API server's words.

Each check raises FieldError(field path, reason), the reason worded as the API server words it ("Invalid value",
"Required value", "Unsupported value", "unknown field"); validation.validate() turns it into a ManifestError
naming the source and the object as well. get() also fills in a field's default, as the API server does.
"""
import difflib
import json
import re

PROTOCOLS = ("TCP", "UDP", "SCTP")
METADATA = set("name generateName namespace selfLink uid resourceVersion generation creationTimestamp labels"
               " deletionTimestamp deletionGracePeriodSeconds annotations ownerReferences finalizers managedFields"
               .split())                                             # ObjectMeta: the known fields of `metadata`
_SELECTOR, _EXPRESSION = {"matchLabels", "matchExpressions"}, {"key", "operator", "values"}
_TYPES = {str: "a string", int: "an integer", list: "a list", dict: "a mapping", bool: "true or false"}
_LABEL_RE = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUB_RE = _LABEL_RE + r"(\." + _LABEL_RE + ")*"
_QN_RE = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_ALNUM = "and must start and end with an alphanumeric character (e.g. "
_MSG = {
    "label": "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
             f"{_ALNUM}'my-name',  or '123-abc', regex used for validation is '{_LABEL_RE}')",
    "subdomain": "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                 f"{_ALNUM}'example.com', regex used for validation is '{_SUB_RE}')",
    "qname": "name part must consist of alphanumeric characters, '-', '_' or '.', "
             f"{_ALNUM}'MyName',  or 'my.name',  or '123-abc', regex used for validation is '{_QN_RE}')",
    "value": "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
             f"{_ALNUM}'MyValue',  or 'my_value',  or '12345', regex used for validation is '({_QN_RE})?')",
}


class ManifestError(Exception):
    """str() is "source: object: field: reason"; .errors lists all errors when validate_all found several."""

    def __init__(self, source: str, obj: str, field: str, reason: str):
        self.source, self.obj, self.field, self.reason, self.errors = source, obj, field, reason, [self]
        super().__init__(": ".join(p for p in (source, obj, field, reason) if p))


class FieldError(Exception):
    """(field path, reason); validation.validate() adds the source and the object."""


def show(v) -> str:
    """A value as the API server quotes it in a message: JSON."""
    return json.dumps(v, default=str)


def bad(path, v, why) -> FieldError:
    return FieldError(path, f"Invalid value: {show(v)}: {why}")


def type_name(v) -> str:
    """'a list', 'a mapping', ... or the Python type's name."""
    return _TYPES.get(type(v), type(v).__name__)


def typed(v, t, path):
    """V itself if it is of type T (a bool is not an int here), else a FieldError."""
    if not isinstance(v, t) or (t is not bool and isinstance(v, bool)):
        hint = " (quote it)" if t is str and isinstance(v, (int, float, bool)) else ""
        raise bad(path, v, f"must be {_TYPES[t]}{hint}")
    return v


def get(d, path, key, t, required=False, default=None):
    """d[key] checked against type t, default filled in; an explicit null counts as absent."""
    p, v = f"{path}.{key}" if path else key, d.get(key)
    if v is None or (required and v in ("", [], {})):
        if required:
            raise FieldError(p, "Required value")
        if default is None:
            d.pop(key, None)
            return None
        v = d[key] = default
    return typed(v, t, p)


def enum(d, path, key, allowed, default=None, required=False):
    v = get(d, path, key, str, required, default)
    if v is not None and v not in allowed:
        raise FieldError(f"{path}.{key}", f"Unsupported value: {show(v)}: supported values: "
                         + ", ".join(map(show, allowed)))
    return v


def unknown(d, known: set, path):
    """D must be a mapping of KNOWN fields only, so that a typo is an error, not silently ignored."""
    for k in typed(d, dict, path):
        if k not in known:
            near = difflib.get_close_matches(str(k), sorted(known), 1)
            raise FieldError(f"{path}.{k}" if path else str(k),
                             "unknown field" + (f' (did you mean "{near[0]}"?)' if near else ""))


def check_dns(v, path, rule="label"):
    """V is a DNS-1123 label (names of Services, Namespaces, ports) or, with rule="subdomain", a subdomain."""
    limit = 63 if rule == "label" else 253
    if len(typed(v, str, path)) > limit:
        raise bad(path, v, f"must be no more than {limit} characters")
    if not re.fullmatch(_LABEL_RE if rule == "label" else _SUB_RE, v):
        raise bad(path, v, _MSG[rule])


def check_iana(v, path):
    """IANA_SVC_NAME, as container port names and named target ports must be."""
    why = ("must be no more than 15 characters" if len(v) > 15 else
           "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"
           if not re.fullmatch("[-a-z0-9]+", v) else
           "must contain at least one letter (a-z)" if not re.search("[a-z]", v) else
           "must not contain consecutive hyphens" if "--" in v else
           "must not begin or end with a hyphen" if v[0] == "-" or v[-1] == "-" else None)
    if why:
        raise bad(path, v, why)


def get_port(d, path, key, required=False):
    v = get(d, path, key, int, required)
    if v is not None and not 1 <= v <= 65535:
        raise bad(f"{path}.{key}", v, "must be between 1 and 65535, inclusive")
    return v


def _qname(k, path):  # a label or annotation key: [prefix/]name
    prefix, slash, name = typed(k, str, path).rpartition("/")
    if slash and (len(prefix) > 253 or not re.fullmatch(_SUB_RE, prefix)):
        raise bad(path, k, "prefix part " + _MSG["subdomain"])
    if len(name) > 63 or not re.fullmatch(_QN_RE, name):
        raise bad(path, k, "name part must be no more than 63 characters" if len(name) > 63 else _MSG["qname"])


def _label_value(v, path):
    if len(typed(v, str, path)) > 63 or not re.fullmatch(f"({_QN_RE})?", v):
        raise bad(path, v, "must be no more than 63 characters" if len(v) > 63 else _MSG["value"])


def check_label_key(k, path):
    """A label key ([prefix/]name), as IsQualifiedName checks it (label selectors use it too)."""
    _qname(k, path)


def check_label_value(v, path):
    """A label value, as IsValidLabelValue checks it."""
    _label_value(v, path)


def check_labels(m, path, values=True):
    """M is a map of labels (or, with values=False, of annotations: any string value)."""
    for k, v in typed(m, dict, path).items():
        _qname(k, path)
        if values:
            _label_value(v, f"{path}.{k}")
        else:
            typed(v, str, f"{path}.{k}")


def check_label_selector(sel, path):
    """SEL is a LabelSelector: matchLabels and matchExpressions (In, NotIn, Exists, DoesNotExist)."""
    unknown(sel, _SELECTOR, path)
    if sel.get("matchLabels") is not None:
        check_labels(sel["matchLabels"], f"{path}.matchLabels")
    for i, ex in enumerate(get(sel, path, "matchExpressions", list) or []):
        q = f"{path}.matchExpressions[{i}]"
        unknown(ex, _EXPRESSION, q)
        _qname(get(ex, q, "key", str, required=True), f"{q}.key")
        op = enum(ex, q, "operator", ("In", "NotIn", "Exists", "DoesNotExist"), required=True)
        for n, v in enumerate(get(ex, q, "values", list) or []):
            _label_value(v, f"{q}.values[{n}]")
        if op in ("In", "NotIn") and not ex.get("values"):
            raise FieldError(f"{q}.values", "Required value: must be specified when `operator` is 'In' or 'NotIn'")
        if op in ("Exists", "DoesNotExist") and ex.get("values"):
            raise FieldError(f"{q}.values", "Forbidden: may not be specified when `operator` is 'Exists' or "
                                            "'DoesNotExist'")
