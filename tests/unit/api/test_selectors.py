"""Unit tests for toycluster.api.selectors: LabelSelector semantics and the IngressClass check (no root)."""
import pytest

from toycluster.api.selectors import INGRESS_CLASS, ingress_class_matches, label_selector_matches


@pytest.mark.parametrize("selector,labels,expected", [
    ({}, {"app": "web"}, True),
    ({}, {}, True),
    (None, {"app": "web"}, False),
    ({"matchLabels": {"app": "web"}}, {"app": "web", "tier": "front"}, True),
    ({"matchLabels": {"app": "web"}}, {"app": "api"}, False),
    ({"matchLabels": {"app": "web"}}, {}, False),
    ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["front", "edge"]}]}, {"tier": "edge"}, True),
    ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}]}, {"tier": "back"}, False),
    ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}]}, {}, False),
    ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["back"]}]}, {"tier": "front"}, True),
    ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["back"]}]}, {"tier": "back"}, False),
    ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["back"]}]}, {}, True),
    ({"matchExpressions": [{"key": "canary", "operator": "Exists"}]}, {"canary": ""}, True),
    ({"matchExpressions": [{"key": "canary", "operator": "Exists"}]}, {}, False),
    ({"matchExpressions": [{"key": "canary", "operator": "DoesNotExist"}]}, {}, True),
    ({"matchExpressions": [{"key": "canary", "operator": "DoesNotExist"}]}, {"canary": "1"}, False),
    ({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "canary", "operator": "DoesNotExist"}]},
     {"app": "web", "canary": "1"}, False),
])
def test_label_selector_matches(selector, labels, expected):
    assert label_selector_matches(selector, labels) is expected


def test_label_selector_unknown_operator():
    with pytest.raises(ValueError, match="Equals"):
        label_selector_matches({"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["b"]}]}, {"a": "b"})


def ingress(class_name=None, annotation=None):
    annotations = {"kubernetes.io/ingress.class": annotation} if annotation else {}
    return {"metadata": {"name": "web", "annotations": annotations}, "spec": {"ingressClassName": class_name}}


def test_ingress_class():
    assert INGRESS_CLASS == "nginx"
    assert ingress_class_matches(ingress()) and ingress_class_matches(ingress(""))
    assert ingress_class_matches(ingress("nginx")) and ingress_class_matches(ingress(annotation="nginx"))
    assert not ingress_class_matches(ingress("traefik")) and not ingress_class_matches(ingress(annotation="traefik"))
    assert ingress_class_matches(ingress("traefik"), "traefik") and ingress_class_matches(ingress(), "traefik")
    assert ingress_class_matches({"metadata": {"name": "bare"}})
