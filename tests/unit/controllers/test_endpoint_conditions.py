"""Pure tests of the EndpointSlice and Endpoints controllers' endpoint conditions for pods that are being
deleted, against upstream's podToEndpoint (ready = publishNotReadyAddresses || (serving && !terminating),
serving = the pod's Ready condition, terminating = deletionTimestamp set) and the Endpoints controller
(terminating pods left out unless the Service publishes not-ready addresses)."""
from toycluster.controllers.endpointslice import desired, endpoints_object


def svc(publish=False):
    spec = {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}
    if publish:
        spec["publishNotReadyAddresses"] = True
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": "default", "name": "web", "uid": "s1"},
            "spec": spec}


def pod(name, ip, ready=True, deleting=False):
    meta = {"namespace": "default", "name": name, "uid": f"u-{name}", "labels": {"app": "web"}}
    if deleting:
        meta.update(deletionTimestamp="2026-01-01T00:00:30Z", deletionGracePeriodSeconds=30)
    return {"kind": "Pod", "metadata": meta,
            "spec": {"nodeName": "node1", "containers": [{"name": "web", "ports": [{"containerPort": 8080}]}]},
            "status": {"phase": "Running", "podIP": ip,
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def conditions(service, pods):
    return {e["addresses"][0]: e["conditions"] for eps in desired(service, pods).values() for e in eps}


def test_a_terminating_pod_stays_in_the_slice_serving_but_not_ready():
    got = conditions(svc(), [pod("a", "10.244.1.2"), pod("b", "10.244.1.3", deleting=True),
                             pod("c", "10.244.1.4", ready=False, deleting=True), pod("d", "10.244.1.5", ready=False)])
    assert got == {"10.244.1.2": {"ready": True, "serving": True, "terminating": False},
                   "10.244.1.3": {"ready": False, "serving": True, "terminating": True},
                   "10.244.1.4": {"ready": False, "serving": False, "terminating": True},
                   "10.244.1.5": {"ready": False, "serving": False, "terminating": False}}


def test_publish_not_ready_addresses_makes_every_endpoint_ready_but_serving_stays_the_pods_readiness():
    got = conditions(svc(publish=True), [pod("b", "10.244.1.3", deleting=True),
                                         pod("c", "10.244.1.4", ready=False, deleting=True)])
    assert got == {"10.244.1.3": {"ready": True, "serving": True, "terminating": True},
                   "10.244.1.4": {"ready": True, "serving": False, "terminating": True}}


def test_endpoints_v1_leaves_terminating_pods_out():
    pods = [pod("a", "10.244.1.2"), pod("b", "10.244.1.3", deleting=True), pod("d", "10.244.1.5", ready=False)]
    subsets = endpoints_object(svc(), desired(svc(), pods))["subsets"]
    assert [[a["ip"] for a in s.get("addresses", [])] for s in subsets] == [["10.244.1.2"]]
    assert [[a["ip"] for a in s.get("notReadyAddresses", [])] for s in subsets] == [["10.244.1.5"]]


def test_endpoints_v1_keeps_terminating_pods_when_the_service_publishes_not_ready_addresses():
    pods = [pod("b", "10.244.1.3", deleting=True)]
    subsets = endpoints_object(svc(publish=True), desired(svc(publish=True), pods))["subsets"]
    assert [a["ip"] for a in subsets[0]["addresses"]] == ["10.244.1.3"]


def test_terminal_pods_and_pods_without_an_ip_have_no_endpoint():
    done = pod("e", "10.244.1.6", deleting=True)
    done["status"]["phase"] = "Succeeded"
    starting = pod("f", "", ready=False)
    assert conditions(svc(), [done, starting]) == {}
