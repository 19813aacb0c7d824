"""API machinery for NetworkPolicy (networking.k8s.io/v1): the API server's validation, in its words.

Called from objects.validate() (this module leans on its field helpers), as upstream's
ValidateNetworkPolicySpec: policyTypes are Ingress and/or Egress; a peer is a podSelector and/or a
namespaceSelector, or an ipBlock alone; an ipBlock's cidr is a CIDR and each `except` a strict subset of it;
a port has protocol TCP, UDP or SCTP (TCP by default), a number or an IANA service name (at most 15
characters), and an endPort only after a numeric port and not below it.  Unknown fields are refused.
"""
import difflib
import ipaddress

from toycluster.api.objects import _PROTOCOLS, _FieldError, _bad, _enum, _get, _iana, _port, _selector, _show, _typed

_FIELDS = {"netpol": {"podSelector", "policyTypes", "ingress", "egress"}, "npingress": {"from", "ports"},
           "npegress": {"to", "ports"}, "peer": {"podSelector", "namespaceSelector", "ipBlock"},
           "ipBlock": {"cidr", "except"}, "npport": {"protocol", "port", "endPort"}}


def _unknown(d, known, path):
    for k in d:
        if k not in _FIELDS[known]:
            near = difflib.get_close_matches(str(k), sorted(_FIELDS[known]), 1)
            raise _FieldError(f"{path}.{k}", "unknown field" + (f' (did you mean "{near[0]}"?)' if near else ""))


def _cidr(v, path):
    try:
        if "/" not in _typed(v, str, path):
            raise ValueError
        return ipaddress.ip_network(v, strict=False)
    except ValueError:
        raise _bad(path, v, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)") from None


def check_networkpolicy(doc):
    _unknown(spec := _get(doc, "", "spec", dict, default={}), "netpol", "spec")
    _selector(_get(spec, "spec", "podSelector", dict, default={}), "spec.podSelector")
    types = _get(spec, "spec", "policyTypes", list) or []
    for i, t in enumerate(types):
        if t not in ("Ingress", "Egress"):
            raise _FieldError(f"spec.policyTypes[{i}]", f'Unsupported value: {_show(t)}: supported values: "Ingress", '
                                                       '"Egress"')
    if len(types) > 2 or len(set(types)) != len(types):
        raise _bad("spec.policyTypes", types, "may not specify more than two policyTypes, nor one twice")
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(_get(spec, "spec", direction, list) or []):
            q = f"spec.{direction}[{i}]"
            _unknown(_typed(rule, dict, q), "np" + direction, q)
            for j, port in enumerate(_get(rule, q, "ports", list) or []):
                pq = f"{q}.ports[{j}]"
                _unknown(_typed(port, dict, pq), "npport", pq)
                _enum(port, pq, "protocol", _PROTOCOLS, "TCP")
                number, end = port.get("port"), _port(port, pq, "endPort") if "endPort" in port else None
                if isinstance(number, str):
                    _iana(number, f"{pq}.port")
                elif number is not None:
                    if type(number) is not int:
                        raise _bad(f"{pq}.port", number, "must be an integer or a port name")
                    _port(port, pq, "port")
                if end is not None and number is None:
                    raise _FieldError(f"{pq}.endPort", "Forbidden: may not be specified when `port` is not specified")
                if end is not None and isinstance(number, str):
                    raise _FieldError(f"{pq}.endPort", "Forbidden: may not be specified when `port` is non-numeric")
                if end is not None and end < number:
                    raise _bad(f"{pq}.endPort", end, "must be greater than or equal to `port`")
            for j, peer in enumerate(_get(rule, q, peers_key, list) or []):
                pq = f"{q}.{peers_key}[{j}]"
                _unknown(_typed(peer, dict, pq), "peer", pq)
                given = [k for k in ("podSelector", "namespaceSelector", "ipBlock") if peer.get(k) is not None]
                if not given:
                    raise _FieldError(pq, "Required value: must specify a peer")
                if "ipBlock" in given and len(given) > 1:
                    raise _FieldError(pq, "Forbidden: may not specify both ipBlock and another peer")
                for key in ("podSelector", "namespaceSelector"):
                    if peer.get(key) is not None:
                        _selector(peer[key], f"{pq}.{key}")
                if "ipBlock" in given:
                    bq = f"{pq}.ipBlock"
                    _unknown(_typed(block := peer["ipBlock"], dict, bq), "ipBlock", bq)
                    cidr = _cidr(_get(block, bq, "cidr", str, required=True), f"{bq}.cidr")
                    for k, ex in enumerate(_get(block, bq, "except", list) or []):
                        net = _cidr(ex, f"{bq}.except[{k}]")
                        if net.version != cidr.version or not net.subnet_of(cidr) or net.prefixlen <= cidr.prefixlen:
                            raise _bad(f"{bq}.except[{k}]", ex, f"must be a strict subset of `cidr` ({block['cidr']})")
