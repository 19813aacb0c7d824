"""kube-apiserver's validation of NetworkPolicy (networking.k8s.io/v1), in its words.

Called from validation.validate(), as upstream's ValidateNetworkPolicySpec: policyTypes are Ingress and/or
Egress; a peer is a podSelector and/or a namespaceSelector, or an ipBlock alone; an ipBlock's cidr is a CIDR and
each `except` a strict subset of it; a port has protocol TCP, UDP or SCTP (TCP by default), a number or an IANA
service name (at most 15 characters), and an endPort only after a numeric port and not below it.
Unknown fields are refused.
"""
import ipaddress

from toycluster.api.fields import (PROTOCOLS, FieldError, bad, check_iana, check_label_selector, enum, get, get_port,
                                   show, typed, unknown)

_FIELDS = {"netpol": {"podSelector", "policyTypes", "ingress", "egress"}, "npingress": {"from", "ports"},
           "npegress": {"to", "ports"}, "peer": {"podSelector", "namespaceSelector", "ipBlock"},
           "ipBlock": {"cidr", "except"}, "npport": {"protocol", "port", "endPort"}}


def _cidr(v, path):
    try:
        if "/" not in typed(v, str, path):
            raise ValueError
        return ipaddress.ip_network(v, strict=False)
    except ValueError:
        raise bad(path, v, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)") from None


def check_networkpolicy(doc):
    unknown(spec := get(doc, "", "spec", dict, default={}), _FIELDS["netpol"], "spec")
    check_label_selector(get(spec, "spec", "podSelector", dict, default={}), "spec.podSelector")
    types = get(spec, "spec", "policyTypes", list) or []
    for i, t in enumerate(types):
        if t not in ("Ingress", "Egress"):
            raise FieldError(f"spec.policyTypes[{i}]", f'Unsupported value: {show(t)}: supported values: "Ingress", '
                                                      '"Egress"')
    if len(types) > 2 or len(set(types)) != len(types):
        raise bad("spec.policyTypes", types, "may not specify more than two policyTypes, nor one twice")
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(get(spec, "spec", direction, list) or []):
            q = f"spec.{direction}[{i}]"
            unknown(rule, _FIELDS["np" + direction], q)
            for j, port in enumerate(get(rule, q, "ports", list) or []):
                pq = f"{q}.ports[{j}]"
                unknown(port, _FIELDS["npport"], pq)
                enum(port, pq, "protocol", PROTOCOLS, "TCP")
                number, end = port.get("port"), get_port(port, pq, "endPort") if "endPort" in port else None
                if isinstance(number, str):
                    check_iana(number, f"{pq}.port")
                elif number is not None:
                    if type(number) is not int:
                        raise bad(f"{pq}.port", number, "must be an integer or a port name")
                    get_port(port, pq, "port")
                if end is not None and number is None:
                    raise FieldError(f"{pq}.endPort", "Forbidden: may not be specified when `port` is not specified")
                if end is not None and isinstance(number, str):
                    raise FieldError(f"{pq}.endPort", "Forbidden: may not be specified when `port` is non-numeric")
                if end is not None and end < number:
                    raise bad(f"{pq}.endPort", end, "must be greater than or equal to `port`")
            for j, peer in enumerate(get(rule, q, peers_key, list) or []):
                pq = f"{q}.{peers_key}[{j}]"
                unknown(peer, _FIELDS["peer"], pq)
                given = [k for k in ("podSelector", "namespaceSelector", "ipBlock") if peer.get(k) is not None]
                if not given:
                    raise FieldError(pq, "Required value: must specify a peer")
                if "ipBlock" in given and len(given) > 1:
                    raise FieldError(pq, "Forbidden: may not specify both ipBlock and another peer")
                for key in ("podSelector", "namespaceSelector"):
                    if peer.get(key) is not None:
                        check_label_selector(peer[key], f"{pq}.{key}")
                if "ipBlock" in given:
                    bq = f"{pq}.ipBlock"
                    unknown(block := peer["ipBlock"], _FIELDS["ipBlock"], bq)
                    cidr = _cidr(get(block, bq, "cidr", str, required=True), f"{bq}.cidr")
                    for k, ex in enumerate(get(block, bq, "except", list) or []):
                        net = _cidr(ex, f"{bq}.except[{k}]")
                        if net.version != cidr.version or not net.subnet_of(cidr) or net.prefixlen <= cidr.prefixlen:
                            raise bad(f"{bq}.except[{k}]", ex, f"must be a strict subset of `cidr` ({block['cidr']})")
