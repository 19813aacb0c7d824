"""The x/y/z x a/b/c model of upstream's e2e netpol tests (test/e2e/network/netpol), as data: three namespaces,
three pods each (label pod=<name>), serving TCP 80 and 81 (ports named serve-80-tcp, serve-81-tcp) and
UDP 80 and 81 (serve-80-udp, serve-81-udp).  Each scenario is a list of steps (apply policies, delete them,
change labels) with the reachability matrix expected after each, written the way upstream writes it
(start from "everything reaches everything", then override).  Traffic from a pod to itself is not judged,
as upstream (ignoreLoopback).  Used by tests/unit/test_network_policy_rules.py (against the explainer) and by
tests/system/test_network_policy.py (against probes in a real cluster).
"""
import ipaddress

NAMESPACES = ("x", "y", "z")
POD_NAMES = ("a", "b", "c")
ALL = [f"{n}/{p}" for n in NAMESPACES for p in POD_NAMES]
TCP80, TCP81, UDP80, UDP81 = (80, "TCP"), (81, "TCP"), (80, "UDP"), (81, "UDP")


def netpol(name, ns, spec):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


def sel(**labels):
    return {"matchLabels": dict(labels)}


def ns_sel(name):
    return {"matchLabels": {"kubernetes.io/metadata.name": name}}


def expr(key, op, *values):
    return {"matchExpressions": [{"key": key, "operator": op, "values": list(values)}]}


def _matches(pattern, pod):
    ns, _, name = pod.partition("/")
    pns, _, pname = pattern.partition("/") if pattern != "*" else ("*", "", "*")
    return pns in ("*", ns) and pname in ("*", name)


class Reach:
    """Expected reachability of one (port, protocol): {(src, dst): bool}, upstream's Reachability."""

    def __init__(self, default=True):
        self.m = {(s, d): default for s in ALL for d in ALL}

    def expect(self, src, dst, ok):
        for s, d in self.m:
            if _matches(src, s) and _matches(dst, d):
                self.m[(s, d)] = ok
        return self

    def ingress(self, pod, ok):
        return self.expect("*", pod, ok)

    def egress(self, pod, ok):
        return self.expect(pod, "*", ok)


def R(*ops):
    r = Reach()
    for src, dst, ok in ops:
        r.expect(src, dst, ok)
    return r


ALLOW = R()


def large_cidr(ip):
    """A big block around IP (upstream's makeLargeCIDRForIP uses a /4; /16 stays inside our pod range)."""
    return str(ipaddress.ip_network(f"{ip}/16", strict=False))


# A step: {"apply": [policy or fn(ctx) -> policy], "delete": [(ns, name)], "label": [(kind, ns, name, {k: v|None})],
#          "expect": {(port, proto): Reach}}.  ctx: {"ip": {"x/a": ...}}.
SCENARIOS = {
    "default-deny-ingress": [{"apply": [netpol("deny-ingress", "x", {"podSelector": {}, "policyTypes": ["Ingress"]})],
                              "expect": {TCP80: R(("*", "x/*", False)), UDP80: R(("*", "x/*", False))}}],
    "default-deny-all": [{"apply": [netpol("deny-all", "x", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})],
                          "expect": {TCP80: R(("*", "x/*", False), ("x/*", "*", False))}}],
    "allow-x-a-from-x-b": [{"apply": [netpol("x-a-allows-x-b", "x", {"podSelector": sel(pod="a"), "ingress": [
        {"from": [{"podSelector": sel(pod="b")}]}]})],
        "expect": {TCP80: R(("*", "x/a", False), ("x/b", "x/a", True))}}],
    "allow-ingress-to-target": [{"apply": [
        netpol("deny-all", "x", {"podSelector": {}, "ingress": []}),
        netpol("allow-all-to-a", "x", {"podSelector": sel(pod="a"), "ingress": [
            {"from": [{"podSelector": {}, "namespaceSelector": {}}]}]})],
        "expect": {TCP80: R(("*", "x/*", False), ("*", "x/a", True))}}],
    "allow-from-all-namespaces": [{"apply": [netpol("allow-from-another-ns", "x", {
        "podSelector": sel(pod="a"), "ingress": [{"from": [{"namespaceSelector": {}}]}]})], "expect": {TCP80: ALLOW}}],
    "namespace-selector": [{"apply": [netpol("allow-client-a-via-ns-selector", "x", {
        "podSelector": sel(pod="a"), "ingress": [{"from": [{"namespaceSelector": ns_sel("y")}]}]})],
        "expect": {TCP80: R(("x/*", "x/a", False), ("z/*", "x/a", False))}}],
    "pod-selector-match-expressions": [{"apply": [netpol("x-a-allows-x-b", "x", {
        "podSelector": sel(pod="a"), "ingress": [{"from": [{"podSelector": expr("pod", "In", "b")}]}]})],
        "expect": {TCP80: R(("*", "x/a", False), ("x/b", "x/a", True))}}],
    "namespace-selector-match-expressions": [{"apply": [netpol("allow-ns-y-match-selector", "x", {
        "podSelector": sel(pod="a"), "ingress": [{"from": [{"namespaceSelector": expr(
            "kubernetes.io/metadata.name", "In", "y")}]}]})],
        "expect": {TCP80: R(("x/*", "x/a", False), ("z/*", "x/a", False))}}],
    "pod-selector-or-namespace-selector": [{"apply": [netpol("allow-ns-y-match-selector", "x", {
        "podSelector": sel(pod="a"), "ingress": [{"from": [
            {"namespaceSelector": expr("kubernetes.io/metadata.name", "NotIn", "x")},
            {"podSelector": sel(pod="b")}]}]})],
        "expect": {TCP80: R(("x/c", "x/a", False))}}],
    "pod-selector-and-namespace-selector": [{"apply": [netpol("allow-ns-y-podselector-and-nsselector", "x", {
        "podSelector": sel(pod="a"), "ingress": [{"from": [
            {"namespaceSelector": expr("kubernetes.io/metadata.name", "NotIn", "x"), "podSelector": sel(pod="b")}]}]})],
        "expect": {TCP80: R(("*", "x/a", False), ("y/b", "x/a", True), ("z/b", "x/a", True))}}],
    "multiple-pod-and-namespace-selectors": [{"apply": [netpol("allow-ns-y-z-pod-b-c", "x", {
        "podSelector": sel(pod="a"), "ingress": [{"from": [
            {"namespaceSelector": expr("kubernetes.io/metadata.name", "NotIn", "x"),
             "podSelector": expr("pod", "In", "b", "c")}]}]})],
        "expect": {TCP80: R(("x/*", "x/a", False), ("y/a", "x/a", False), ("z/a", "x/a", False))}}],
    "any-pod-selectors": [{"apply": [netpol("allow-ns-x-pod-b-c", "x", {
        "podSelector": sel(pod="a"), "ingress": [{"from": [{"podSelector": sel(pod="b")}, {"podSelector": sel(pod="c")}]}]})],
        "expect": {TCP80: R(("*", "x/a", False), ("x/b", "x/a", True), ("x/c", "x/a", True))}}],
    "pod-in-other-namespace-by-both-selectors": [{"apply": [netpol("allow-ns-y-pod-a", "x", {
        "podSelector": sel(pod="a"), "ingress": [{"from": [{"namespaceSelector": ns_sel("y"), "podSelector": sel(pod="a")}]}]})],
        "expect": {TCP80: R(("*", "x/a", False), ("y/a", "x/a", True)),
                   UDP80: R(("*", "x/a", False), ("y/a", "x/a", True))}}],
    "ports": [{"apply": [netpol("allow-port-81-from-y", "x", {
        "podSelector": sel(pod="a"), "ingress": [{"from": [{"namespaceSelector": ns_sel("y")}],
                                                  "ports": [{"port": 81, "protocol": "TCP"}]}]})],
        "expect": {TCP81: R(("x/*", "x/a", False), ("z/*", "x/a", False)), TCP80: R(("*", "x/a", False))}}],
    "stacked-policies-overlapping-selectors": [
        {"apply": [netpol("allow-81-from-y", "x", {"podSelector": sel(pod="a"), "ingress": [
            {"from": [{"namespaceSelector": ns_sel("y")}], "ports": [{"port": 81, "protocol": "TCP"}]}]})],
         "expect": {TCP81: R(("x/*", "x/a", False), ("z/*", "x/a", False)), TCP80: R(("*", "x/a", False))}},
        {"apply": [netpol("allow-80-from-y", "x", {"podSelector": sel(pod="a"), "ingress": [
            {"from": [{"namespaceSelector": ns_sel("y")}], "ports": [{"port": 80, "protocol": "TCP"}]}]})],
         "expect": {TCP80: R(("x/*", "x/a", False), ("z/*", "x/a", False))}}],
    "allow-all": [{"apply": [netpol("allow-all", "x", {"podSelector": {}, "ingress": [{}]})],
                   "expect": {TCP80: ALLOW, TCP81: ALLOW}}],
    "named-port-ingress": [{"apply": [netpol("allow-81-named", "x", {
        "podSelector": {}, "ingress": [{"ports": [{"port": "serve-81-tcp"}]}]})],
        "expect": {TCP81: ALLOW, TCP80: R(("*", "x/*", False))}}],
    "named-port-ingress-from-namespace": [{"apply": [netpol("allow-80-named-from-y", "x", {
        "podSelector": sel(pod="a"), "ingress": [{"from": [{"namespaceSelector": ns_sel("y")}],
                                                  "ports": [{"port": "serve-80-tcp", "protocol": "TCP"}]}]})],
        "expect": {TCP80: R(("x/*", "x/a", False), ("z/*", "x/a", False)), TCP81: R(("*", "x/a", False))}}],
    "named-port-egress": [{"apply": [netpol("allow-egress-80-named", "x", {
        "podSelector": {}, "policyTypes": ["Egress"], "egress": [{"ports": [{"port": "serve-80-tcp"}]}]})],
        "expect": {TCP80: ALLOW, TCP81: R(("x/*", "*", False))}}],
    "updated-policy": [
        {"apply": [netpol("allow-all-mutate-to-deny-all", "x", {"podSelector": {}, "ingress": [{}]})],
         "expect": {TCP81: ALLOW}},
        {"apply": [netpol("allow-all-mutate-to-deny-all", "x", {"podSelector": {}, "ingress": [],
                                                                 "policyTypes": ["Ingress"]})],
         "expect": {TCP81: R(("*", "x/*", False))}}],
    "updated-namespace-labels": [
        {"apply": [netpol("allow-from-ns2-updated", "x", {"podSelector": sel(pod="a"), "ingress": [
            {"from": [{"namespaceSelector": sel(ns2="updated")}]}]})],
         "expect": {TCP80: R(("*", "x/a", False))}},
        {"label": [("Namespace", "", "y", {"ns2": "updated"})],
         "expect": {TCP80: R(("*", "x/a", False), ("y/*", "x/a", True))}}],
    "updated-pod-labels": [
        {"apply": [netpol("allow-from-pod2-updated", "x", {"podSelector": sel(pod="a"), "ingress": [
            {"from": [{"podSelector": sel(pod="b", pod2="updated")}]}]})],
         "expect": {TCP80: R(("*", "x/a", False))}},
        {"label": [("Pod", "x", "b", {"pod2": "updated"})],
         "expect": {TCP80: R(("*", "x/a", False), ("x/b", "x/a", True))}}],
    "deny-ingress-from-other-namespaces": [{"apply": [netpol("deny-empty-policy", "x", {
        "podSelector": {}, "ingress": [{"from": [{"podSelector": {}}]}]})],
        "expect": {TCP80: R(("y/*", "x/*", False), ("z/*", "x/*", False))}}],
    "deny-ingress-to-updated-pod": [
        {"apply": [netpol("deny-ingress-via-label", "x", {"podSelector": sel(target="isolated"), "policyTypes": ["Ingress"]})],
         "expect": {TCP80: ALLOW}},
        {"label": [("Pod", "x", "a", {"target": "isolated"})], "expect": {TCP80: R(("*", "x/a", False))}}],
    "deny-egress-by-pod-selector": [{"apply": [netpol("deny-egress-pod-a", "x", {
        "podSelector": sel(pod="a"), "policyTypes": ["Egress"]})], "expect": {TCP80: R(("x/a", "*", False))}}],
    "deny-egress-all-in-namespace": [{"apply": [netpol("deny-egress-ns-x", "x", {
        "podSelector": {}, "policyTypes": ["Egress"]})], "expect": {TCP80: R(("x/*", "*", False))}}],
    "ingress-and-egress-together": [{"apply": [netpol("allow-b-and-egress-80", "x", {
        "podSelector": sel(pod="a"), "policyTypes": ["Egress", "Ingress"],
        "ingress": [{"from": [{"podSelector": sel(pod="b")}]}], "egress": [{"ports": [{"port": 80}]}]})],
        "expect": {TCP80: R(("*", "x/a", False), ("x/b", "x/a", True)),
                   TCP81: R(("*", "x/a", False), ("x/a", "*", False), ("x/b", "x/a", True))}}],
    "egress-denied-client-side": [{"apply": [
        netpol("allow-to-ns-y-pod-a", "x", {"podSelector": sel(pod="a"), "policyTypes": ["Egress"], "egress": [
            {"to": [{"namespaceSelector": ns_sel("y"), "podSelector": sel(pod="a")}]}]}),
        netpol("allow-from-xa-on-ya", "y", {"podSelector": sel(pod="a"), "ingress": [
            {"from": [{"namespaceSelector": ns_sel("x"), "podSelector": sel(pod="a")}]}]}),
        netpol("allow-from-xa-on-yb", "y", {"podSelector": sel(pod="b"), "ingress": [
            {"from": [{"namespaceSelector": ns_sel("x"), "podSelector": sel(pod="a")}]}]})],
        "expect": {TCP80: R(("x/a", "*", False), ("*", "y/a", False), ("x/a", "y/a", True), ("*", "y/b", False))}}],
    "egress-to-other-namespace-by-both-selectors": [{"apply": [netpol("allow-to-ns-y-pod-a", "x", {
        "podSelector": sel(pod="a"), "policyTypes": ["Egress"],
        "egress": [{"to": [{"namespaceSelector": ns_sel("y"), "podSelector": sel(pod="a")}]}]})],
        "expect": {TCP80: R(("x/a", "*", False), ("x/a", "y/a", True))}}],
    "ingress-any-port-one-protocol": [{"apply": [netpol("allow-ingress-by-proto", "x", {
        "podSelector": sel(pod="a"), "ingress": [{"ports": [{"protocol": "TCP"}]}]})],
        "expect": {TCP80: ALLOW, UDP80: R(("*", "x/a", False))}}],
    "ingress-allow-all-takes-precedence": [
        {"apply": [netpol("allow-ingress-port-80", "x", {"podSelector": {}, "ingress": [{"ports": [{"port": 80}]}]})],
         "expect": {TCP81: R(("*", "x/*", False))}},
        {"apply": [netpol("allow-ingress", "x", {"podSelector": {}, "ingress": [{}]})], "expect": {TCP81: ALLOW}}],
    "egress-allow-all-takes-precedence": [
        {"apply": [netpol("allow-egress-port-80", "x", {"podSelector": {}, "policyTypes": ["Egress"],
                                                           "egress": [{"ports": [{"port": 80}]}]})],
         "expect": {TCP81: R(("x/*", "*", False))}},
        {"apply": [netpol("allow-egress", "x", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{}]})], "expect": {TCP81: ALLOW}}],
    "stop-enforcing-after-delete": [
        {"apply": [netpol("deny-all", "x", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})],
         "expect": {TCP80: R(("x/*", "*", False), ("*", "x/*", False))}},
        {"delete": [("x", "deny-all")], "expect": {TCP80: ALLOW}}],
    "egress-to-cidr": [{"apply": [lambda ctx: netpol("allow-client-a-via-cidr", "x", {
        "podSelector": sel(pod="a"), "policyTypes": ["Egress"],
        "egress": [{"to": [{"ipBlock": {"cidr": ctx["ip"]["y/b"] + "/32"}}]}]})],
        "expect": {TCP80: R(("x/a", "*", False), ("x/a", "y/b", True))}}],
    "egress-cidr-except": [{"apply": [lambda ctx: netpol("allow-client-a-via-cidr", "x", {
        "podSelector": sel(pod="a"), "policyTypes": ["Egress"], "egress": [{"to": [{"ipBlock": {
            "cidr": large_cidr(ctx["ip"]["x/b"]), "except": [ctx["ip"]["x/b"] + "/32"]}}]}]})],
        "expect": {TCP80: R(("x/a", "x/b", False))}}],
    "cidr-and-except-overlap-allowed-by-second-policy": [
        {"apply": [lambda ctx: netpol("allow-client-a-via-cidr", "x", {"podSelector": sel(pod="a"), "policyTypes": ["Egress"], "egress": [
            {"to": [{"ipBlock": {"cidr": large_cidr(ctx["ip"]["x/b"]), "except": [ctx["ip"]["x/b"] + "/32"]}}]}]})],
         "expect": {TCP80: R(("x/a", "x/b", False))}},
        {"apply": [lambda ctx: netpol("allow-client-a-via-cidr", "x", {"podSelector": sel(pod="a"), "policyTypes": ["Egress"], "egress": [
            {"to": [{"ipBlock": {"cidr": ctx["ip"]["x/b"] + "/32"}}]}]})],
         "expect": {TCP80: R(("x/a", "*", False), ("x/a", "x/b", True))}}],
    "ingress-and-egress-independent": [
        {"apply": [netpol("allow-egress-for-target", "x", {"podSelector": sel(pod="a"), "policyTypes": ["Egress"],
                                                                  "egress": [{}]})],
         "expect": {TCP80: ALLOW}},
        {"apply": [netpol("deny-ingress-for-target", "x", {"podSelector": sel(pod="a"), "policyTypes": ["Ingress"]})],
         "expect": {TCP80: R(("*", "x/a", False))}}],
    "sctp-is-not-tcp": [{"apply": [
        netpol("deny-ingress", "x", {"podSelector": {}, "policyTypes": ["Ingress"]}),
        netpol("allow-only-sctp-81", "x", {"podSelector": sel(pod="a"), "ingress": [
            {"ports": [{"port": 81, "protocol": "SCTP"}]}]})],
        "expect": {TCP81: R(("*", "x/*", False))}}],
    "sctp-only-policy-isolates": [{"apply": [netpol("allow-only-sctp-80", "x", {
        "podSelector": sel(pod="a"), "ingress": [{"ports": [{"port": 80, "protocol": "SCTP"}]}]})],
        "expect": {TCP81: R(("*", "x/a", False))}}],
    "udp-only-does-not-open-tcp": [{"apply": [netpol("allow-only-udp-81", "x", {
        "podSelector": sel(pod="a"), "ingress": [{"ports": [{"port": 81, "protocol": "UDP"}]}]})],
        "expect": {TCP81: R(("*", "x/a", False)), UDP81: ALLOW}}],
    "udp-ports": [{"apply": [netpol("allow-udp-81-from-y", "x", {
        "podSelector": sel(pod="a"), "ingress": [{"from": [{"namespaceSelector": ns_sel("y")}],
                                                  "ports": [{"port": 81, "protocol": "UDP"}]}]})],
        "expect": {UDP81: R(("x/*", "x/a", False), ("z/*", "x/a", False)), TCP81: R(("*", "x/a", False))}}],
    "egress-namespace-not-in": [{"apply": [netpol("allow-ns-not-y", "x", {
        "podSelector": sel(pod="a"), "policyTypes": ["Egress"], "egress": [{"to": [{"namespaceSelector": expr(
            "kubernetes.io/metadata.name", "NotIn", "y")}]}]})],
        "expect": {TCP80: R(("x/a", "y/*", False))}}],
    "policy-types-default-with-egress-rules": [{"apply": [netpol("egress-80-no-types", "x", {
        "podSelector": sel(pod="a"), "egress": [{"ports": [{"port": 80}]}]})],
        "expect": {TCP80: R(("*", "x/a", False)), TCP81: R(("*", "x/a", False), ("x/a", "*", False))}}],
    "end-port-range": [{"apply": [netpol("allow-80-to-81", "x", {
        "podSelector": {}, "ingress": [{"ports": [{"port": 79, "endPort": 80}]}]})],
        "expect": {TCP80: ALLOW, TCP81: R(("*", "x/*", False))}}],
}


def resolve(policy, ctx):
    return policy(ctx) if callable(policy) else policy
