"""kube-apiserver's validation of Ingress (networking.k8s.io/v1) and of Secrets, in its words.

Called from validation.validate(). As upstream's ValidateIngressSpec:
hosts are DNS-1123 subdomains, not IP addresses, with a wildcard only as the whole first label (`*.example.com`);
Exact and Prefix paths are absolute and free of `//`, `/./`, `/../`, `%2f` and a trailing `/..` or `/.`;
pathType is required; a backend is a Service (name, and port number or name) or a resource; TLS hosts and
secret names are checked too. An Ingress naming a Service that does not exist is accepted (as upstream).

Secrets: data keys and base64 values are checked, stringData is merged into data (as the API server does);
a kubernetes.io/tls Secret must hold tls.crt and tls.key, and here, stricter than upstream, they must be a
PEM certificate and the PEM private key that belongs to it (parsed with the `cryptography` package).
"""
import base64
import binascii
import ipaddress
import re

from toycluster.api.fields import FieldError, bad, check_dns, check_iana, enum, get, get_port, typed, unknown

_WILD_RE = r"\*\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_WILD_MSG = ("a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must "
             "consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character "
             f"(e.g. '*.example.com', regex used for validation is '{_WILD_RE}')")
_DNS1035_RE = "[a-z]([-a-z0-9]*[a-z0-9])?"
_DNS1035_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
                "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
                f"regex used for validation is '{_DNS1035_RE}')")
_FIELDS = {
    "spec": {"ingressClassName", "defaultBackend", "tls", "rules"},
    "rule": {"host", "http"}, "http": {"paths"}, "path": {"path", "pathType", "backend"},
    "backend": {"service", "resource"}, "service": {"name", "port"}, "port": {"name", "number"},
    "resource": {"apiGroup", "kind", "name"}, "tls": {"hosts", "secretName"},
    "secret": {"apiVersion", "kind", "metadata", "data", "stringData", "type", "immutable"},
}
_BAD_SEQUENCES = ("//", "/./", "/../", "%2f", "%2F")
_BAD_SUFFIXES = ("/..", "/.")
_MAX_SECRET = 1024 * 1024


def _host(v, path: str) -> None:
    typed(v, str, path)
    try:
        ipaddress.ip_address(v)
    except ValueError:
        pass
    else:
        raise bad(path, v, "must be a DNS name, not an IP address")
    if "*" in v:
        if len(v) > 253 or not re.fullmatch(_WILD_RE, v):
            raise bad(path, v, "must be no more than 253 characters" if len(v) > 253 else _WILD_MSG)
    else:
        check_dns(v, path, "subdomain")


def _backend(b, path: str) -> None:
    unknown(b, _FIELDS["backend"], path)
    svc, res = b.get("service"), b.get("resource")
    if svc is not None and res is not None:
        raise bad(path, "resource", "cannot set both resource and service backends")
    if svc is None and res is None:
        raise bad(path, "", "resource or service backend is required")
    if res is not None:
        unknown(res, _FIELDS["resource"], f"{path}.resource")
        get(res, f"{path}.resource", "kind", str, required=True)
        get(res, f"{path}.resource", "name", str, required=True)
        return
    q = f"{path}.service"
    unknown(svc, _FIELDS["service"], q)
    name = get(svc, q, "name", str, required=True)
    if len(name) > 63 or not re.fullmatch(_DNS1035_RE, name):
        raise bad(f"{q}.name", name, "must be no more than 63 characters" if len(name) > 63 else _DNS1035_MSG)
    port = get(svc, q, "port", dict, default={})
    unknown(port, _FIELDS["port"], f"{q}.port")
    pname, number = get(port, f"{q}.port", "name", str), get_port(port, f"{q}.port", "number")
    if pname and number:
        raise bad(f"{q}.port", port, "cannot set both port name & port number")
    if pname:
        check_iana(pname, f"{q}.port.name")
    elif number is None:
        raise FieldError(f"{q}.port", "Required value: port name or number is required")


def _path(p, q: str) -> None:
    unknown(p, _FIELDS["path"], q)
    kind = p.get("pathType")
    if kind is None:
        raise FieldError(f"{q}.pathType", "Required value: pathType must be specified")
    enum(p, q, "pathType", ("Exact", "ImplementationSpecific", "Prefix"))
    path = get(p, q, "path", str)
    if kind in ("Exact", "Prefix"):
        if not path or not path.startswith("/"):
            raise bad(f"{q}.path", path or "", "must be an absolute path")
        for seq in _BAD_SEQUENCES:
            if seq in path:
                raise bad(f"{q}.path", path, f"must not contain '{seq}'")
        for suffix in _BAD_SUFFIXES:
            if path.endswith(suffix):
                raise bad(f"{q}.path", path, f"cannot end with '{suffix}'")
    elif path and not path.startswith("/"):
        raise bad(f"{q}.path", path, "must be an absolute path")
    _backend(get(p, q, "backend", dict, required=True), f"{q}.backend")


def check_ingress(doc: dict) -> None:
    spec = get(doc, "", "spec", dict, default={})
    unknown(spec, _FIELDS["spec"], "spec")
    if get(spec, "spec", "ingressClassName", str) is not None:
        check_dns(spec["ingressClassName"], "spec.ingressClassName", "subdomain")
    rules = get(spec, "spec", "rules", list) or []
    if spec.get("defaultBackend") is None and not rules:
        raise bad("spec", spec, "either `defaultBackend` or `rules` must be specified")
    if spec.get("defaultBackend") is not None:
        _backend(typed(spec["defaultBackend"], dict, "spec.defaultBackend"), "spec.defaultBackend")
    for i, rule in enumerate(rules):
        q = f"spec.rules[{i}]"
        unknown(rule, _FIELDS["rule"], q)
        if get(rule, q, "host", str):
            _host(rule["host"], f"{q}.host")
        http = get(rule, q, "http", dict)
        if http is not None:
            unknown(http, _FIELDS["http"], f"{q}.http")
            paths = get(http, f"{q}.http", "paths", list, required=True)
            for j, p in enumerate(paths):
                _path(typed(p, dict, f"{q}.http.paths[{j}]"), f"{q}.http.paths[{j}]")
    for i, tls in enumerate(get(spec, "spec", "tls", list) or []):
        q = f"spec.tls[{i}]"
        unknown(tls, _FIELDS["tls"], q)
        for j, host in enumerate(get(tls, q, "hosts", list) or []):
            _host(host, f"{q}.hosts[{j}]")
        if get(tls, q, "secretName", str):
            check_dns(tls["secretName"], f"{q}.secretName", "subdomain")


def check_secret(doc: dict) -> None:
    unknown(doc, _FIELDS["secret"], "")
    data = get(doc, "", "data", dict, default={})
    decoded = {}
    for key, value in data.items():
        _key(key, "data")
        try:
            decoded[key] = base64.b64decode(typed(value, str, f"data[{key}]"), validate=True)
        except (binascii.Error, ValueError) as e:
            raise bad(f"data[{key}]", value if len(value) < 40 else value[:37] + "...",
                       f"must be base64-encoded ({e})") from None
    for key, value in (get(doc, "", "stringData", dict) or {}).items():   # stringData wins, as upstream
        _key(key, "stringData")
        decoded[key] = typed(value, str, f"stringData[{key}]").encode()
        data[key] = base64.b64encode(decoded[key]).decode()
    doc.pop("stringData", None)
    if sum(len(v) for v in decoded.values()) > _MAX_SECRET:
        raise FieldError("data", f"Too long: must have at most {_MAX_SECRET} bytes")
    kind = get(doc, "", "type", str, default="Opaque")
    get(doc, "", "immutable", bool)
    if kind != "kubernetes.io/tls":
        return
    for key in ("tls.crt", "tls.key"):
        if key not in decoded:
            raise FieldError(f"data[{key}]", "Required value")
    from toycluster.api import pki
    problem = pki.check_tls_pair(decoded["tls.crt"], decoded["tls.key"])
    if problem is not None:
        field, reason = problem
        if field is None:
            raise FieldError("data", f"Invalid value: tls.crt and tls.key: {reason}")
        raise bad(f"data[{field}]", f"<{len(decoded[field])} bytes>", reason)


def _key(key, where: str) -> None:
    if not isinstance(key, str) or not key or len(key) > 253 or not re.fullmatch(r"[-._a-zA-Z0-9]+", key):
        raise bad(f"{where}[{key}]", key, "a valid config key must consist of alphanumeric characters, '-', '_' "
                                           "or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for "
                                           "validation is '[-._a-zA-Z0-9]+')")

