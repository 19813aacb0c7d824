"""Pure tests (no root): kube-proxy ignores Services labelled service.kubernetes.io/service-proxy-name (another
proxy owns them) or service.kubernetes.io/headless, whatever the value, as upstream's informers' label selector
does; adding the label takes the Service's rules away and removing it brings them back, in a full render and in
the change tracker's patched render alike."""
import copy

import pytest
from test_kube_proxy import NODE1, SERVICES, SLICES
from test_kube_proxy_cache import full, new_cache, versioned

from toycluster.kernel.iptables_save import to_iptables_save
from toycluster.proxy.changes import Inputs
from toycluster.proxy.proxier import render
from toycluster.proxy.service_ports import IGNORED_LABELS, proxied, service_ports

WEB_VIP, EMPTY_VIP = "10.96.0.12", "10.96.0.20"


def labelled(services, name, label, value="", rv=None):
    out = copy.deepcopy(services)
    svc = next(s for s in out if s["metadata"]["name"] == name)
    svc["metadata"].setdefault("labels", {})[label] = value
    if rv:
        svc["metadata"]["resourceVersion"] = rv
    return out, svc


@pytest.mark.parametrize("label", IGNORED_LABELS)
@pytest.mark.parametrize("value", ["", "some-other-proxy"])
def test_a_labelled_service_has_no_rules(label, value):
    services, svc = labelled(SERVICES, "web", label, value)
    assert not proxied(svc)
    assert not [sp for sp in service_ports(services) if sp["key"][1] == "web"]
    text = to_iptables_save(render(services, SLICES, **NODE1))
    assert WEB_VIP not in text and "default/web" not in text
    assert "10.96.0.40" in text, "the other Services keep their rules"


def test_a_labelled_service_without_endpoints_is_not_rejected_either():
    """Its REJECT rule (filter KUBE-SERVICES) belongs to kube-proxy too: another proxy owns the Service."""
    assert EMPTY_VIP in to_iptables_save(render(SERVICES, SLICES, **NODE1))
    services, _ = labelled(SERVICES, "empty", IGNORED_LABELS[0], "other")
    assert EMPTY_VIP not in to_iptables_save(render(services, SLICES, **NODE1))


def test_other_labels_change_nothing():
    services, _ = labelled(SERVICES, "web", "service.kubernetes.io/topology-mode", "Auto")
    assert render(services, SLICES, **NODE1) == render(SERVICES, SLICES, **NODE1)


@pytest.mark.parametrize("label", IGNORED_LABELS)
def test_adding_then_removing_the_label_through_the_change_tracker(label):
    services, slices = versioned()
    inputs = Inputs(services, slices)
    cache = new_cache()
    cache.render_changed(inputs, inputs.take_changed())
    hidden, svc = labelled(services, "web", label, rv="200")
    inputs.service(("default", "web"), svc)
    after = cache.render_changed(inputs, inputs.take_changed())
    assert after == full(hidden, slices)
    assert all(WEB_VIP not in to_iptables_save(state) for state in after.values())
    back = copy.deepcopy(svc)
    del back["metadata"]["labels"][label]
    back["metadata"]["resourceVersion"] = "201"
    inputs.service(("default", "web"), back)
    again = cache.render_changed(inputs, inputs.take_changed())
    shown = [back if s["metadata"]["name"] == "web" else s for s in services]
    assert again == full(shown, slices)
    assert all(f"-A KUBE-SERVICES -d {WEB_VIP}/32" in to_iptables_save(state) for state in again.values())
