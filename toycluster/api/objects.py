"""API machinery: manifests in Kubernetes YAML, validated whole before anything is applied.

load() reads files, folders and stdin like `kubectl apply -f`; validate() checks one object as the API
server would and fills in its defaults; validate_all() refuses the whole input if any object is bad.
Messages name file, object and field in the API server's words: "Invalid value", "Required value", ...
"""
import copy
import difflib
import ipaddress
import json
import os
import re
import sys

import yaml

IMAGE_CHECK = None  # set by workloads.py: fn(container: dict) -> None, raises ValueError if unusable


class ManifestError(Exception):
    """str() is "source: object: field: reason"; .errors lists all errors when validate_all found several."""

    def __init__(self, source: str, obj: str, field: str, reason: str):
        self.source, self.obj, self.field, self.reason, self.errors = source, obj, field, reason, [self]
        super().__init__(": ".join(p for p in (source, obj, field, reason) if p))


class _FieldError(Exception):
    """(field path, reason); validate() adds the source and the object."""


def _k(namespaced, resource, *short):
    return {"namespaced": namespaced, "resource": resource, "short": list(short)}


KINDS = {
    ("v1", "Namespace"): _k(False, "namespaces", "ns"),
    ("v1", "Node"): _k(False, "nodes", "no"),
    ("v1", "Pod"): _k(True, "pods", "po"),
    ("apps/v1", "Deployment"): _k(True, "deployments", "deploy"),
    ("apps/v1", "ReplicaSet"): _k(True, "replicasets", "rs"),
    ("v1", "Service"): _k(True, "services", "svc"),
    ("v1", "Endpoints"): _k(True, "endpoints", "ep"),
    ("discovery.k8s.io/v1", "EndpointSlice"): _k(True, "endpointslices"),
    ("networking.k8s.io/v1", "Ingress"): _k(True, "ingresses", "ing"),
    ("networking.k8s.io/v1", "NetworkPolicy"): _k(True, "networkpolicies", "netpol"),
    ("v1", "Secret"): _k(True, "secrets"),
    ("v1", "ConfigMap"): _k(True, "configmaps", "cm"),
}
KINDS_BY_KIND = {kind: {**info, "apiVersion": api} for (api, kind), info in KINDS.items()}  # kinds are unique
_NOT_APPLIED = {("v1", "Node"): "nodes are made by `toycluster up`, not applied"}
_LABEL_NAMED = {"Namespace", "Service"}  # names must be DNS-1123 labels; other kinds' are subdomains
_PROTOCOLS = ("TCP", "UDP", "SCTP")
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
_FIELDS = {k: set(v.split()) for k, v in {  # known fields, so that a typo is an error, not silently ignored
    "top": "apiVersion kind metadata spec status",
    "metadata": "name generateName namespace selfLink uid resourceVersion generation creationTimestamp labels"
                " deletionTimestamp deletionGracePeriodSeconds annotations ownerReferences finalizers managedFields",
    "container": "name image command args workingDir ports envFrom env resources resizePolicy restartPolicy tty"
                 " volumeMounts volumeDevices livenessProbe readinessProbe startupProbe lifecycle stdin stdinOnce"
                 " terminationMessagePath terminationMessagePolicy imagePullPolicy securityContext",
    "cport": "name hostPort containerPort protocol hostIP",
    "podspec": "activeDeadlineSeconds affinity automountServiceAccountToken containers dnsConfig dnsPolicy"
               " enableServiceLinks ephemeralContainers hostAliases hostIPC hostNetwork hostPID hostUsers hostname"
               " imagePullSecrets initContainers nodeName nodeSelector os overhead preemptionPolicy priority"
               " priorityClassName readinessGates resourceClaims resources restartPolicy runtimeClassName"
               " schedulerName schedulingGates securityContext serviceAccount serviceAccountName"
               " setHostnameAsFQDN shareProcessNamespace subdomain terminationGracePeriodSeconds tolerations"
               " topologySpreadConstraints volumes",
    "env": "name value valueFrom",
    "Deployment": "replicas selector template strategy minReadySeconds revisionHistoryLimit paused"
                  " progressDeadlineSeconds",
    "ReplicaSet": "replicas minReadySeconds selector template",
    "service": "type selector ports clusterIP clusterIPs externalName sessionAffinity sessionAffinityConfig"
               " externalTrafficPolicy internalTrafficPolicy externalIPs loadBalancerIP loadBalancerSourceRanges"
               " loadBalancerClass publishNotReadyAddresses ipFamilies ipFamilyPolicy healthCheckNodePort"
               " allocateLoadBalancerNodePorts trafficDistribution",
    "sport": "name protocol appProtocol port targetPort nodePort",
    "template": "metadata spec",
    "selector": "matchLabels matchExpressions",
    "expression": "key operator values",
}.items()}
_TYPES = {str: "a string", int: "an integer", list: "a list", dict: "a mapping", bool: "true or false"}


# ---- field checks: each raises _FieldError(field path, reason) ----

def _show(v):
    return json.dumps(v, default=str)


def _bad(path, v, why):
    return _FieldError(path, f"Invalid value: {_show(v)}: {why}")


def _typed(v, t, path):
    if not isinstance(v, t) or (t is not bool and isinstance(v, bool)):
        hint = " (quote it)" if t is str and isinstance(v, (int, float, bool)) else ""
        raise _bad(path, v, f"must be {_TYPES[t]}{hint}")
    return v


def _get(d, path, key, t, required=False, default=None):
    """d[key] checked against type t, default filled in; an explicit null counts as absent."""
    p, v = f"{path}.{key}" if path else key, d.get(key)
    if v is None or (required and v in ("", [], {})):
        if required:
            raise _FieldError(p, "Required value")
        if default is None:
            d.pop(key, None)
            return None
        v = d[key] = default
    return _typed(v, t, p)


def _enum(d, path, key, allowed, default=None, required=False):
    v = _get(d, path, key, str, required, default)
    if v is not None and v not in allowed:
        raise _FieldError(f"{path}.{key}", f"Unsupported value: {_show(v)}: supported values: "
                          + ", ".join(map(_show, allowed)))
    return v


def _unknown(d, known, path):
    for k in d:
        if k not in _FIELDS[known]:
            near = difflib.get_close_matches(str(k), sorted(_FIELDS[known]), 1)
            raise _FieldError(f"{path}.{k}" if path else str(k),
                              "unknown field" + (f' (did you mean "{near[0]}"?)' if near else ""))


def _dns(v, path, rule="label"):
    limit = 63 if rule == "label" else 253
    if len(_typed(v, str, path)) > limit:
        raise _bad(path, v, f"must be no more than {limit} characters")
    if not re.fullmatch(_LABEL_RE if rule == "label" else _SUB_RE, v):
        raise _bad(path, v, _MSG[rule])


def _iana(v, path):  # IANA_SVC_NAME, as container port names and named targetPorts must be
    why = ("must be no more than 15 characters" if len(v) > 15 else
           "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"
           if not re.fullmatch("[-a-z0-9]+", v) else
           "must contain at least one letter (a-z)" if not re.search("[a-z]", v) else
           "must not contain consecutive hyphens" if "--" in v else
           "must not begin or end with a hyphen" if v[0] == "-" or v[-1] == "-" else None)
    if why:
        raise _bad(path, v, why)


def _port(d, path, key, required=False):
    v = _get(d, path, key, int, required)
    if v is not None and not 1 <= v <= 65535:
        raise _bad(f"{path}.{key}", v, "must be between 1 and 65535, inclusive")
    return v


def _qname(k, path):  # a label or annotation key: [prefix/]name
    prefix, slash, name = _typed(k, str, path).rpartition("/")
    if slash and (len(prefix) > 253 or not re.fullmatch(_SUB_RE, prefix)):
        raise _bad(path, k, "prefix part " + _MSG["subdomain"])
    if len(name) > 63 or not re.fullmatch(_QN_RE, name):
        raise _bad(path, k, "name part must be no more than 63 characters" if len(name) > 63 else _MSG["qname"])


def _label_value(v, path):
    if len(_typed(v, str, path)) > 63 or not re.fullmatch(f"({_QN_RE})?", v):
        raise _bad(path, v, "must be no more than 63 characters" if len(v) > 63 else _MSG["value"])


def _labels(m, path, values=True):
    for k, v in _typed(m, dict, path).items():
        _qname(k, path)
        if values:
            _label_value(v, f"{path}.{k}")
        else:
            _typed(v, str, f"{path}.{k}")


def label_error(labels: dict, path: str = "metadata.labels") -> str | None:
    """Why LABELS are not valid labels ("field: reason"), or None (for `toycluster label`)."""
    try:
        _labels(labels, path)
    except _FieldError as e:
        return ": ".join(e.args)
    return None


def _selector(sel, path):
    _unknown(_typed(sel, dict, path), "selector", path)
    if sel.get("matchLabels") is not None:
        _labels(sel["matchLabels"], f"{path}.matchLabels")
    for i, ex in enumerate(_get(sel, path, "matchExpressions", list) or []):
        q = f"{path}.matchExpressions[{i}]"
        _unknown(_typed(ex, dict, q), "expression", q)
        _qname(_get(ex, q, "key", str, required=True), f"{q}.key")
        op = _enum(ex, q, "operator", ("In", "NotIn", "Exists", "DoesNotExist"), required=True)
        for n, v in enumerate(_get(ex, q, "values", list) or []):
            _label_value(v, f"{q}.values[{n}]")
        if op in ("In", "NotIn") and not ex.get("values"):
            raise _FieldError(f"{q}.values", "Required value: must be specified when `operator` is 'In' or 'NotIn'")
        if op in ("Exists", "DoesNotExist") and ex.get("values"):
            raise _FieldError(f"{q}.values", "Forbidden: may not be specified when `operator` is 'Exists' or "
                                             "'DoesNotExist'")


# ---- kinds ----

def _container(c, p, port_names):
    _unknown(c, "container", p)
    _dns(_get(c, p, "name", str, required=True), f"{p}.name")
    image = _get(c, p, "image", str, required=True)
    for key in ("command", "args"):
        for i, a in enumerate(_get(c, p, key, list) or []):
            _typed(a, str, f"{p}.{key}[{i}]")
    for i, e in enumerate(_get(c, p, "env", list) or []):
        q = f"{p}.env[{i}]"
        _unknown(_typed(e, dict, q), "env", q)
        if "=" in _get(e, q, "name", str, required=True):
            raise _bad(f"{q}.name", e["name"], "must not contain '='")
        if _get(e, q, "value", str) and _get(e, q, "valueFrom", dict) is not None:
            raise _bad(f"{q}.valueFrom", e["valueFrom"], "may not be specified when `value` is not empty")
    for i, port in enumerate(_get(c, p, "ports", list) or []):
        q = f"{p}.ports[{i}]"
        _unknown(_typed(port, dict, q), "cport", q)
        _port(port, q, "containerPort", required=True)
        _port(port, q, "hostPort")
        _enum(port, q, "protocol", _PROTOCOLS, "TCP")
        if _get(port, q, "name", str):
            _iana(port["name"], f"{q}.name")
            if port["name"] in port_names:  # stricter than Kubernetes, which checks per container
                raise _FieldError(f"{q}.name", f"Duplicate value: {_show(port['name'])}")
            port_names.add(port["name"])
    if IMAGE_CHECK is not None:
        try:
            IMAGE_CHECK(c)
        except ValueError as e:
            raise _bad(f"{p}.image", image, str(e)) from None


def _pod_spec(spec, path, restart=("Always", "OnFailure", "Never")):
    _unknown(spec, "podspec", path)
    _enum(spec, path, "restartPolicy", restart, "Always")
    _enum(spec, path, "dnsPolicy", ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"), "ClusterFirst")
    names, port_names = set(), set()
    for group in ("initContainers", "containers"):
        for i, c in enumerate(_get(spec, path, group, list, required=group == "containers") or []):
            p = f"{path}.{group}[{i}]"
            _container(_typed(c, dict, p), p, port_names)
            if c["name"] in names:
                raise _FieldError(f"{p}.name", f"Duplicate value: {_show(c['name'])}")
            names.add(c["name"])


def _check_pod(doc):
    _pod_spec(_get(doc, "", "spec", dict, required=True), "spec")


def _check_workload(doc):  # Deployment and ReplicaSet
    kind, spec = doc["kind"], _get(doc, "", "spec", dict, required=True)
    _unknown(spec, kind, "spec")
    replicas = _get(spec, "spec", "replicas", int, default=1)
    if replicas < 0:
        raise _bad("spec.replicas", replicas, "must be greater than or equal to 0")
    _selector(sel := _get(spec, "spec", "selector", dict, required=True), "spec.selector")
    if not sel.get("matchLabels") and not sel.get("matchExpressions"):
        raise _bad("spec.selector", sel, f"empty selector is invalid for {kind.lower()}")
    _unknown(tpl := _get(spec, "spec", "template", dict, required=True), "template", "spec.template")
    tmd = _get(tpl, "spec.template", "metadata", dict) or {}
    _unknown(tmd, "metadata", "spec.template.metadata")
    _labels(labels := _get(tmd, "spec.template.metadata", "labels", dict) or {}, "spec.template.metadata.labels")
    _pod_spec(_get(tpl, "spec.template", "spec", dict, required=True), "spec.template.spec", ("Always",))
    if not label_selector_matches(sel, labels):
        raise _bad("spec.template.metadata.labels", labels, "`selector` does not match template `labels`")
    if kind == "Deployment":
        strategy = _get(spec, "spec", "strategy", dict, default={})
        if _enum(strategy, "spec.strategy", "type", ("Recreate", "RollingUpdate"), "RollingUpdate") == "RollingUpdate":
            rolling = _get(strategy, "spec.strategy", "rollingUpdate", dict, default={})
            rolling.setdefault("maxUnavailable", "25%")
            rolling.setdefault("maxSurge", "25%")


def _check_service(doc):
    _unknown(spec := _get(doc, "", "spec", dict, default={}), "service", "spec")
    typ = _enum(spec, "spec", "type", ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"), "ClusterIP")
    ip = _get(spec, "spec", "clusterIP", str)
    if ip not in (None, "", "None"):
        try:
            ipaddress.IPv4Address(ip)
        except ValueError:
            raise _bad("spec.clusterIP", ip, 'must be a valid IPv4 address, "None" or empty') from None
    if typ == "ExternalName":
        if ip:
            raise _bad("spec.clusterIP", ip, "may not be set for ExternalName services")
        name = _get(spec, "spec", "externalName", str, required=True)
        _dns(name[:-1] if name.endswith(".") else name, "spec.externalName", "subdomain")
    elif ip == "None" and typ != "ClusterIP":
        raise _bad("spec.clusterIP", ip, f"may not be set to 'None' for {typ} services")
    ports = _get(spec, "spec", "ports", list, required=typ != "ExternalName" and ip != "None") or []
    names, pairs = set(), set()
    for i, port in enumerate(ports):
        q = f"spec.ports[{i}]"
        _unknown(_typed(port, dict, q), "sport", q)
        pair = (_port(port, q, "port", required=True), _enum(port, q, "protocol", _PROTOCOLS, "TCP"))
        if not _get(port, q, "name", str) and len(ports) > 1:
            raise _FieldError(f"{q}.name", "Required value: each port needs a name when a Service has several")
        if port.get("name"):
            _dns(port["name"], f"{q}.name")
            if port["name"] in names:
                raise _FieldError(f"{q}.name", f"Duplicate value: {_show(port['name'])}")
            names.add(port["name"])
        if pair in pairs:
            raise _FieldError(q, f"Duplicate value: {_show({'port': pair[0], 'protocol': pair[1]})}")
        pairs.add(pair)
        target = port["targetPort"] = pair[0] if port.get("targetPort") is None else port["targetPort"]
        if isinstance(target, str):
            _iana(target, f"{q}.targetPort")
        elif type(target) is int:
            _port(port, q, "targetPort")
        else:
            raise _bad(f"{q}.targetPort", target, "must be an integer or a port name")
        if _get(port, q, "nodePort", int) is not None and typ == "ClusterIP":
            raise _FieldError(f"{q}.nodePort", "Forbidden: may not be used when `type` is 'ClusterIP'")
    if spec.get("selector") is not None:
        _labels(spec["selector"], "spec.selector")
    if _enum(spec, "spec", "sessionAffinity", ("None", "ClientIP"), "None") == "ClientIP":
        config = _get(spec, "spec", "sessionAffinityConfig", dict, default={})
        client = _get(config, "spec.sessionAffinityConfig", "clientIP", dict, default={})
        _get(client, "spec.sessionAffinityConfig.clientIP", "timeoutSeconds", int, default=10800)
    if typ in ("NodePort", "LoadBalancer"):
        _enum(spec, "spec", "externalTrafficPolicy", ("Cluster", "Local"), "Cluster")
    elif spec.get("externalTrafficPolicy") is not None:
        raise _bad("spec.externalTrafficPolicy", spec["externalTrafficPolicy"],
                   "may only be set when `type` is 'NodePort' or 'LoadBalancer'")
    if typ != "ExternalName":
        _enum(spec, "spec", "internalTrafficPolicy", ("Cluster", "Local"), "Cluster")


def _check_networkpolicy(doc):  # in objects_netpol, as Ingress's in objects_networking
    from toycluster.api import objects_netpol
    objects_netpol.check_networkpolicy(doc)


def _check_ingress(doc):  # Ingress and Secret checks live in objects_networking (this module is long enough)
    from toycluster.api import objects_networking
    objects_networking.check_ingress(doc)


def _check_secret(doc):
    from toycluster.api import objects_networking
    objects_networking.check_secret(doc)


_CHECKS = {"Pod": _check_pod, "Deployment": _check_workload, "ReplicaSet": _check_workload,
           "Ingress": _check_ingress, "Secret": _check_secret,
           "Service": _check_service, "NetworkPolicy": _check_networkpolicy}


# ---- public API ----

def _ident(doc, source):
    """'Deployment default/web', 'Namespace web', 'Pod (document 2)' or 'document 3'."""
    label = "document " + (source.rpartition("#")[2] if "#" in source else "1")
    kind = doc.get("kind") if isinstance(doc, dict) else None
    md = doc.get("metadata") if isinstance(doc, dict) else None
    name = md.get("name") if isinstance(md, dict) else None
    if not kind or not isinstance(kind, str):
        return label
    if not name or not isinstance(name, str):
        return f"{kind} ({label})"
    if not KINDS.get((doc.get("apiVersion"), kind), {"namespaced": True})["namespaced"]:
        return f"{kind} {name}"
    return f"{kind} {md.get('namespace') or 'default'}/{name}"


def validate(doc: dict, source: str) -> dict:
    """A normalised deep copy of doc with the API server's defaults filled in; raises ManifestError."""
    try:
        return _validate(copy.deepcopy(doc))
    except _FieldError as e:
        raise ManifestError(source, _ident(doc, source), *e.args) from None


def _validate(doc):
    if not isinstance(doc, dict):
        got = _TYPES.get(type(doc), type(doc).__name__)
        raise _FieldError("", f"must be a mapping with apiVersion, kind and metadata (got {got})")
    api, kind = _get(doc, "", "apiVersion", str, True), _get(doc, "", "kind", str, True)
    if (api, kind) in _NOT_APPLIED:
        raise _bad("kind", kind, _NOT_APPLIED[(api, kind)])
    if (api, kind) not in KINDS:
        if versions := [a for a, k in KINDS if k == kind]:
            raise _FieldError("apiVersion", f'no matches for kind "{kind}" in version "{api}": use "{versions[0]}"')
        supported = ", ".join(f"{a} {k}" for a, k in KINDS if (a, k) not in _NOT_APPLIED)
        raise _FieldError("kind", f'no matches for kind "{kind}" in version "{api}"; supported: {supported}')
    if (kind in _CHECKS and kind != "Secret") or kind == "Namespace":   # a Secret's own fields: its check
        _unknown(doc, "top", "")
    _unknown(md := _get(doc, "", "metadata", dict, required=True), "metadata", "metadata")
    _dns(_get(md, "metadata", "name", str, True), "metadata.name", "label" if kind in _LABEL_NAMED else "subdomain")
    if KINDS[(api, kind)]["namespaced"]:
        md["namespace"] = md.get("namespace") or "default"
        _dns(md["namespace"], "metadata.namespace")
    else:
        md.pop("namespace", None)
    if md.get("labels") is not None:
        _labels(md["labels"], "metadata.labels")
    if md.get("annotations") is not None:
        _labels(md["annotations"], "metadata.annotations", values=False)
    doc.pop("status", None)  # the API server ignores status on create
    if kind in _CHECKS:
        _CHECKS[kind](doc)
    return doc


def validate_all(pairs: list[tuple[str, dict]]) -> list[dict]:
    """Every object validated, or one ManifestError listing every bad object (a line each)."""
    out, errors, seen = [], [], {}
    for source, doc in pairs:
        try:
            out.append(obj := validate(doc, source))
        except ManifestError as e:
            errors.append(e)
            continue
        md = obj["metadata"]
        if (key := (obj["kind"], md.get("namespace"), md["name"])) in seen:
            errors.append(ManifestError(source, _ident(obj, source), "metadata.name",
                                        f"Duplicate value: {_show(md['name'])}: also defined in {seen[key]}"))
        seen.setdefault(key, source)
    if len(errors) > 1:
        combined = ManifestError(errors[0].source, errors[0].obj, errors[0].field, errors[0].reason)
        combined.errors, combined.args = errors, ("\n".join(map(str, errors)),)
        raise combined
    if errors:
        raise errors[0]
    return out


class _Loader(yaml.SafeLoader):
    """Refuses duplicate keys (as kubectl does) and keeps dates as strings, so objects stay JSON."""

    def construct_mapping(self, node, deep=False):
        seen = []
        for key_node, _ in node.value:
            if key_node.tag != "tag:yaml.org,2002:merge":
                if (key := self.construct_object(key_node, deep=True)) in seen:
                    raise yaml.constructor.ConstructorError(None, None, f"key {_show(key)} already set in map",
                                                            key_node.start_mark)
                seen.append(key)
        return super().construct_mapping(node, deep)


_Loader.yaml_implicit_resolvers = {c: [(tag, rx) for tag, rx in r if tag != "tag:yaml.org,2002:timestamp"]
                                   for c, r in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def _parse(text, name, is_json=False):
    try:
        docs = [json.loads(text)] if is_json else list(yaml.load_all(text, Loader=_Loader))
    except json.JSONDecodeError as e:
        raise ManifestError(name, "", f"line {e.lineno}, column {e.colno}", f"invalid JSON: {e.msg}") from None
    except yaml.MarkedYAMLError as e:
        m, ctx = e.problem_mark or e.context_mark, ""
        if e.context and e.context_mark:
            ctx = f" ({e.context} at line {e.context_mark.line + 1})"
        if "'\\t'" in str(e.problem):
            ctx += " (indent with spaces: YAML does not allow tabs there)"
        raise ManifestError(name, "", f"line {m.line + 1}, column {m.column + 1}",
                            f"invalid YAML: {e.problem}{ctx}") from None
    except yaml.YAMLError as e:
        raise ManifestError(name, "", "", f"invalid YAML: {e}") from None
    docs, out = [d for d in docs if d is not None], []
    for n, doc in enumerate(docs, 1):
        src = f"{name}#{n}" if len(docs) > 1 else name
        if isinstance(doc, dict) and doc.get("kind") == "List":
            if not isinstance(doc.get("items"), list):
                raise ManifestError(src, f"List (document {n})", "items", "Required value: must be a list")
            out += [(f"{name}#{n}.items[{i}]", item) for i, item in enumerate(doc["items"])]
        else:
            out.append((src, doc))
    return out


def _read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return _parse(f.read(), path, path.endswith(".json"))
    except FileNotFoundError:
        raise ManifestError(path, "", "", f'the path "{path}" does not exist') from None
    except (OSError, UnicodeDecodeError) as e:
        raise ManifestError(path, "", "", f"cannot read: {e}") from None


def load(paths: list[str], stdin=None) -> list[tuple[str, dict]]:
    """(source, doc) pairs from files, folders (*.yaml, *.yml, *.json, sorted, not recursive) and "-"."""
    out = []
    for path in paths:
        if path == "-":
            out += _parse((sys.stdin if stdin is None else stdin).read(), "<stdin>")
        elif os.path.isdir(path):
            for name in sorted(os.listdir(path)):
                if name.endswith((".yaml", ".yml", ".json")) and os.path.isfile(os.path.join(path, name)):
                    out += _read(os.path.join(path, name))
        else:
            out += _read(path)
    return out


def resource_for(name: str) -> tuple[str, str]:
    """CLI resource word ("pods", "po", "deploy", "deployments.apps", ...) -> (apiVersion, kind)."""
    word = name.strip().lower()
    for (api, kind), info in KINDS.items():
        words = {info["resource"], kind.lower(), *info["short"]}
        if word in words or ("/" in api and word in {f"{w}.{api.rpartition('/')[0]}" for w in words}):
            return api, kind
    known = ", ".join(" ".join([i["resource"], *i["short"]]) for i in KINDS.values())
    raise ValueError(f'the server doesn\'t have a resource type "{name}" (known: {known})')


def label_selector_matches(selector: dict, labels: dict) -> bool:
    """LabelSelector semantics: {} matches everything, None nothing. For a Service's plain selector
    map, pass {"matchLabels": selector}."""
    if selector is None:
        return False
    labels = labels or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for ex in selector.get("matchExpressions") or []:
        key, op, values = ex["key"], ex["operator"], ex.get("values") or []
        ok = {"In": key in labels and labels[key] in values, "NotIn": key not in labels or labels[key] not in values,
              "Exists": key in labels, "DoesNotExist": key not in labels}.get(op)
        if ok is None:
            raise ValueError(f"unknown label selector operator {op!r}")
        if not ok:
            return False
    return True
