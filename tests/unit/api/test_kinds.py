"""Unit tests for toycluster.api.kinds: the kinds table and the resource words kubectl accepts (no root)."""
import pytest

from toycluster.api.kinds import KINDS, KINDS_BY_KIND, resource_for


def test_kinds_table():
    for key, namespaced, resource in [(("v1", "Pod"), True, "pods"), (("v1", "Namespace"), False, "namespaces"),
                                      (("apps/v1", "Deployment"), True, "deployments"),
                                      (("networking.k8s.io/v1", "NetworkPolicy"), True, "networkpolicies"),
                                      (("discovery.k8s.io/v1", "EndpointSlice"), True, "endpointslices")]:
        assert KINDS[key]["namespaced"] is namespaced and KINDS[key]["resource"] == resource
        assert isinstance(KINDS[key]["short"], list)
    assert KINDS_BY_KIND["Ingress"] == {**KINDS[("networking.k8s.io/v1", "Ingress")],
                                        "apiVersion": "networking.k8s.io/v1"}
    assert len(KINDS_BY_KIND) == len(KINDS)


@pytest.mark.parametrize("words,expected", [
    ("pods pod po Pods", ("v1", "Pod")), ("deployments deployment deploy deployments.apps", ("apps/v1", "Deployment")),
    ("replicasets rs", ("apps/v1", "ReplicaSet")), ("services svc service", ("v1", "Service")),
    ("namespaces ns", ("v1", "Namespace")), ("nodes no node", ("v1", "Node")), ("endpoints ep", ("v1", "Endpoints")),
    ("endpointslices", ("discovery.k8s.io/v1", "EndpointSlice")), ("ingresses ing", ("networking.k8s.io/v1", "Ingress")),
    ("networkpolicies netpol", ("networking.k8s.io/v1", "NetworkPolicy")), ("secrets secret", ("v1", "Secret")),
    ("configmaps cm", ("v1", "ConfigMap")),
])
def test_resource_for(words, expected):
    for word in words.split():
        assert resource_for(word) == expected


def test_resource_for_unknown():
    with pytest.raises(ValueError, match='doesn\'t have a resource type "widgets".*pods po'):
        resource_for("widgets")

