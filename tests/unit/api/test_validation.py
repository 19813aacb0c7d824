"""Unit tests for toycluster.api.validation and the core kinds' checks: defaults, errors naming file, object and
field, the whole input or nothing (no root)."""
import copy
import json

import pytest
import yaml

from toycluster.api import validation_core
from toycluster.api.fields import ManifestError
from toycluster.api.manifests import load
from toycluster.api.validation import validate, validate_all

NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}
POD = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "web-1", "labels": {"app": "web", "app.kubernetes.io/part-of": "shop"}},
    "spec": {"containers": [
        {"name": "web", "image": "python", "command": ["python3", "-m", "http.server", "8080"],
         "ports": [{"containerPort": 8080, "name": "http"}], "env": [{"name": "MODE", "value": "prod"}]},
        {"name": "sidecar", "image": "busybox", "args": ["sleep", "3600"],
         "ports": [{"containerPort": 53, "protocol": "UDP", "name": "dns"}]},
    ]},
}
DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
    "spec": {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web", "tier": "front"}},
                     "spec": {"containers": [{"name": "web", "image": "nginx", "ports": [{"containerPort": 80}]}]}},
    },
}
REPLICASET = {**copy.deepcopy(DEPLOYMENT), "kind": "ReplicaSet", "metadata": {"name": "web-5d4f"}}
SERVICE = {
    "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
    "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
}
DELETE = object()


def variant(base, **changes):
    """A deep copy of base with paths set (spec__containers__0__image="x") or removed (=DELETE)."""
    doc = copy.deepcopy(base)
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        if isinstance(node, list):
            node[int(last)] = value
        elif value is DELETE:
            del node[last]
        else:
            node[last] = value
    return doc


def write(tmp_path, name, *docs):
    path = tmp_path / name
    path.write_text("---\n".join(d if isinstance(d, str) else yaml.safe_dump(d, sort_keys=False) for d in docs))
    return str(path)


def apply_error(tmp_path, *docs, name="app.yaml"):
    path = write(tmp_path, name, *docs)
    with pytest.raises(ManifestError) as info:
        validate_all(load([path]))
    return path, info.value


# ---- good manifests, with the API server's defaults ----

def test_namespace_is_cluster_scoped():
    out = validate(variant(NAMESPACE, metadata__namespace="ignored"), "ns.yaml")
    assert out == {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}


def test_pod_with_two_containers_gets_defaults_and_input_is_untouched():
    original = copy.deepcopy(POD)
    out = validate(POD, "pod.yaml")
    assert POD == original
    assert out["metadata"]["namespace"] == "default"
    assert out["spec"]["restartPolicy"] == "Always"
    assert out["spec"]["dnsPolicy"] == "ClusterFirst"
    web, sidecar = out["spec"]["containers"]
    assert web["ports"] == [{"containerPort": 8080, "name": "http", "protocol": "TCP"}]
    assert sidecar["ports"][0]["protocol"] == "UDP"
    assert web["env"] == [{"name": "MODE", "value": "prod"}]
    json.dumps(out)  # stays JSON for the store


def test_deployment_defaults():
    out = validate(DEPLOYMENT, "deploy.yaml")
    assert out["metadata"]["namespace"] == "shop"
    assert out["spec"]["replicas"] == 1
    assert out["spec"]["strategy"] == {"type": "RollingUpdate",
                                       "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    pod_spec = out["spec"]["template"]["spec"]
    assert pod_spec["restartPolicy"] == "Always"
    assert pod_spec["containers"][0]["ports"][0]["protocol"] == "TCP"


def test_deployment_keeps_given_values():
    out = validate(variant(DEPLOYMENT, spec__replicas=0, spec__strategy={"type": "Recreate"}), "d.yaml")
    assert out["spec"]["replicas"] == 0
    assert out["spec"]["strategy"] == {"type": "Recreate"}


def test_replicaset_is_validated_like_a_deployment():
    assert validate(REPLICASET, "rs.yaml")["spec"]["replicas"] == 1
    with pytest.raises(ManifestError, match="spec.template.metadata.labels"):
        validate(variant(REPLICASET, spec__selector={"matchLabels": {"app": "api"}}), "rs.yaml")


def test_service_defaults():
    out = validate(variant(SERVICE, spec__ports=[{"port": 80}]), "svc.yaml")
    assert out["metadata"]["namespace"] == "default"
    assert out["spec"]["type"] == "ClusterIP"
    assert out["spec"]["sessionAffinity"] == "None"
    assert out["spec"]["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]
    assert "externalTrafficPolicy" not in out["spec"]


def test_nodeport_service_with_named_target_port():
    svc = variant(SERVICE, spec__type="NodePort", spec__ports=[
        {"name": "http", "port": 80, "targetPort": "http", "nodePort": 30080},
        {"name": "dns", "port": 53, "protocol": "UDP"}])
    out = validate(svc, "svc.yaml")
    assert out["spec"]["ports"][0]["targetPort"] == "http"
    assert out["spec"]["ports"][1]["targetPort"] == 53
    assert out["spec"]["externalTrafficPolicy"] == "Cluster"


def test_headless_external_name_and_client_ip_services():
    headless = validate(variant(SERVICE, spec__clusterIP="None", spec__ports=DELETE), "s.yaml")
    assert headless["spec"]["clusterIP"] == "None"
    ext = validate({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db"},
                    "spec": {"type": "ExternalName", "externalName": "db.example.com."}}, "s.yaml")
    assert ext["spec"]["type"] == "ExternalName"
    sticky = validate(variant(SERVICE, spec__sessionAffinity="ClientIP"), "s.yaml")
    assert sticky["spec"]["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}


@pytest.mark.parametrize("kind,api", [("ConfigMap", "v1"),   # Secret and Ingress: tests/unit/ingress/test_ingress.py
                                      ("Endpoints", "v1"),   # NetworkPolicy: tests/unit/test_network_policy_rules.py
                                      ("EndpointSlice", "discovery.k8s.io/v1")])
def test_other_kinds_pass_through_with_namespace(kind, api):
    doc = {"apiVersion": api, "kind": kind, "metadata": {"name": "x"}, "data": {"k": "v"}}
    assert validate(doc, "o.yaml") == {**doc, "metadata": {"name": "x", "namespace": "default"}}
    with pytest.raises(ManifestError, match=f'o.yaml: {kind} default/X_1: metadata.name: Invalid value: "X_1"'):
        validate(variant(doc, metadata__name="X_1"), "o.yaml")


def test_status_is_dropped():
    assert "status" not in validate(variant(POD, status={"phase": "Running"}), "p.yaml")


# ---- bad manifests: the message names file, object and field ----

C0 = "spec__containers__0"
TC0 = "spec__template__spec__containers__0"
BAD = [
    # (base, changes, object, field, reason fragment)
    (POD, {"metadata__name": "Web_1"}, "Pod default/Web_1", "metadata.name",
     'Invalid value: "Web_1": a lowercase RFC 1123 subdomain must consist of'),
    (SERVICE, {"metadata__name": "Web_1"}, "Service default/Web_1", "metadata.name",
     'Invalid value: "Web_1": a lowercase RFC 1123 label must consist of'),
    (SERVICE, {"metadata__name": "a" * 64}, "Service default/" + "a" * 64, "metadata.name",
     "must be no more than 63 characters"),
    (POD, {"metadata__name": "a." * 127}, "Pod default/" + "a." * 127, "metadata.name",
     "must be no more than 253 characters"),
    (NAMESPACE, {"metadata__name": "my.ns"}, "Namespace my.ns", "metadata.name", "RFC 1123 label"),
    (POD, {"metadata__name": DELETE}, "Pod (document 1)", "metadata.name", "Required value"),
    (POD, {"metadata__lables": {"app": "web"}}, "Pod default/web-1", "metadata.lables",
     'unknown field (did you mean "labels"?)'),
    (DEPLOYMENT, {"spec__template__metadata__labels": DELETE, "spec__template__labels": {"app": "web"}},
     "Deployment shop/web", "spec.template.labels", "unknown field"),
    (POD, {"metadata__namespace": "Team_A"}, "Pod Team_A/web-1", "metadata.namespace", "RFC 1123 label"),
    (POD, {"metadata__labels__version": 1}, "Pod default/web-1", "metadata.labels.version",
     "must be a string (quote it)"),
    (POD, {"metadata__labels": {"bad key": "x"}}, "Pod default/web-1", "metadata.labels",
     'Invalid value: "bad key": name part must consist of'),
    (POD, {"metadata__labels": {"app": "-web"}}, "Pod default/web-1", "metadata.labels.app",
     "a valid label must be an empty string or consist of"),
    (POD, {"metadata__labels": {"app": "x" * 64}}, "Pod default/web-1", "metadata.labels.app",
     "must be no more than 63 characters"),
    (POD, {"metadata__labels": {"Bad_Prefix/app": "x"}}, "Pod default/web-1", "metadata.labels", "prefix part"),
    (POD, {"metadata__labels": ["app"]}, "Pod default/web-1", "metadata.labels", "must be a mapping"),
    (POD, {"spec": DELETE}, "Pod default/web-1", "spec", "Required value"),
    (POD, {"spec__containers": []}, "Pod default/web-1", "spec.containers", "Required value"),
    (POD, {"spec__containers": {"name": "web"}}, "Pod default/web-1", "spec.containers", "must be a list"),
    (POD, {f"{C0}__name": DELETE}, "Pod default/web-1", "spec.containers[0].name", "Required value"),
    (POD, {f"{C0}__name": "Web"}, "Pod default/web-1", "spec.containers[0].name", "RFC 1123 label"),
    (POD, {f"{C0}__image": DELETE}, "Pod default/web-1", "spec.containers[0].image", "Required value"),
    (POD, {f"{C0}__image": 3}, "Pod default/web-1", "spec.containers[0].image", "must be a string"),
    (POD, {f"{C0}__imagee": "x"}, "Pod default/web-1", "spec.containers[0].imagee",
     'unknown field (did you mean "image"?)'),
    (POD, {f"{C0}__command": "python3 -m http.server"}, "Pod default/web-1", "spec.containers[0].command",
     "must be a list"),
    (POD, {"spec__containers__1__args": ["sleep", 3600]}, "Pod default/web-1", "spec.containers[1].args[1]",
     "Invalid value: 3600: must be a string"),
    (POD, {f"{C0}__env": {"MODE": "prod"}}, "Pod default/web-1", "spec.containers[0].env", "must be a list"),
    (POD, {f"{C0}__env": [{"value": "x"}]}, "Pod default/web-1", "spec.containers[0].env[0].name",
     "Required value"),
    (POD, {f"{C0}__env": [{"name": "PORT", "value": 8080}]}, "Pod default/web-1",
     "spec.containers[0].env[0].value", "must be a string (quote it)"),
    (POD, {f"{C0}__ports__0__containerPort": 0}, "Pod default/web-1", "spec.containers[0].ports[0].containerPort",
     "Invalid value: 0: must be between 1 and 65535, inclusive"),
    (POD, {f"{C0}__ports__0__containerPort": 65536}, "Pod default/web-1",
     "spec.containers[0].ports[0].containerPort", "must be between 1 and 65535"),
    (POD, {f"{C0}__ports__0__containerPort": "8080"}, "Pod default/web-1",
     "spec.containers[0].ports[0].containerPort", "must be an integer"),
    (POD, {f"{C0}__ports__0__containerPort": DELETE}, "Pod default/web-1",
     "spec.containers[0].ports[0].containerPort", "Required value"),
    (POD, {f"{C0}__ports__0__name": "http-alternative"}, "Pod default/web-1", "spec.containers[0].ports[0].name",
     "must be no more than 15 characters"),
    (POD, {f"{C0}__ports__0__name": "HTTP"}, "Pod default/web-1", "spec.containers[0].ports[0].name",
     "must contain only alpha-numeric characters"),
    (POD, {f"{C0}__ports__0__name": "8080"}, "Pod default/web-1", "spec.containers[0].ports[0].name",
     "must contain at least one letter"),
    (POD, {f"{C0}__ports__0__name": "h--p"}, "Pod default/web-1", "spec.containers[0].ports[0].name",
     "consecutive hyphens"),
    (POD, {f"{C0}__ports__0__name": "-http"}, "Pod default/web-1", "spec.containers[0].ports[0].name",
     "must not begin or end with a hyphen"),
    (POD, {f"{C0}__ports__0__protocol": "HTTP"}, "Pod default/web-1", "spec.containers[0].ports[0].protocol",
     'Unsupported value: "HTTP": supported values: "TCP", "UDP", "SCTP"'),
    (POD, {"spec__containers__1__name": "web"}, "Pod default/web-1", "spec.containers[1].name",
     'Duplicate value: "web"'),
    (POD, {"spec__containers__1__ports__0__name": "http"}, "Pod default/web-1",
     "spec.containers[1].ports[0].name", 'Duplicate value: "http"'),
    (POD, {"spec__restartPolicy": "Sometimes"}, "Pod default/web-1", "spec.restartPolicy", "Unsupported value"),
    (DEPLOYMENT, {"spec__replicas": -1}, "Deployment shop/web", "spec.replicas",
     "Invalid value: -1: must be greater than or equal to 0"),
    (DEPLOYMENT, {"spec__replicas": "3"}, "Deployment shop/web", "spec.replicas", "must be an integer"),
    (DEPLOYMENT, {"spec": DELETE}, "Deployment shop/web", "spec", "Required value"),
    (DEPLOYMENT, {"spec__selector": DELETE}, "Deployment shop/web", "spec.selector", "Required value"),
    (DEPLOYMENT, {"spec__selector": {"matchLabels": {}}}, "Deployment shop/web", "spec.selector",
     "empty selector is invalid for deployment"),
    (DEPLOYMENT, {"spec__selector": {"app": "web"}}, "Deployment shop/web", "spec.selector.app",
     'unknown field'),
    (DEPLOYMENT, {"spec__selector__matchLabels__app": "api"}, "Deployment shop/web",
     "spec.template.metadata.labels", "`selector` does not match template `labels`"),
    (DEPLOYMENT, {"spec__template__metadata": DELETE}, "Deployment shop/web", "spec.template.metadata.labels",
     "`selector` does not match template `labels`"),
    (DEPLOYMENT, {"spec__selector__matchExpressions": [{"key": "tier", "operator": "Equals", "values": ["x"]}]},
     "Deployment shop/web", "spec.selector.matchExpressions[0].operator", 'Unsupported value: "Equals"'),
    (DEPLOYMENT, {"spec__selector__matchExpressions": [{"key": "tier", "operator": "In"}]},
     "Deployment shop/web", "spec.selector.matchExpressions[0].values", "Required value"),
    (DEPLOYMENT, {"spec__selector__matchExpressions": [{"key": "tier", "operator": "Exists", "values": ["a"]}]},
     "Deployment shop/web", "spec.selector.matchExpressions[0].values", "Forbidden"),
    (DEPLOYMENT, {"spec__template__spec__restartPolicy": "Never"}, "Deployment shop/web",
     "spec.template.spec.restartPolicy", 'Unsupported value: "Never": supported values: "Always"'),
    (DEPLOYMENT, {f"{TC0}__image": ""}, "Deployment shop/web", "spec.template.spec.containers[0].image",
     "Required value"),
    (DEPLOYMENT, {"spec__strategy": {"type": "BlueGreen"}}, "Deployment shop/web", "spec.strategy.type",
     "Unsupported value"),
    (SERVICE, {"spec__type": "Internal"}, "Service default/web", "spec.type",
     'supported values: "ClusterIP", "NodePort", "LoadBalancer", "ExternalName"'),
    (SERVICE, {"spec__ports": DELETE}, "Service default/web", "spec.ports", "Required value"),
    (SERVICE, {"spec__ports__0__port": 0}, "Service default/web", "spec.ports[0].port",
     "must be between 1 and 65535"),
    (SERVICE, {"spec__ports__0__port": DELETE}, "Service default/web", "spec.ports[0].port", "Required value"),
    (SERVICE, {"spec__ports__0__targetPort": 70000}, "Service default/web", "spec.ports[0].targetPort",
     "must be between 1 and 65535"),
    (SERVICE, {"spec__ports__0__targetPort": "HTTP"}, "Service default/web", "spec.ports[0].targetPort",
     "must contain only alpha-numeric characters"),
    (SERVICE, {"spec__ports__0__targetPort": "8080"}, "Service default/web", "spec.ports[0].targetPort",
     "must contain at least one letter"),
    (SERVICE, {"spec__ports__0__targetPort": 80.5}, "Service default/web", "spec.ports[0].targetPort",
     "must be an integer or a port name"),
    (SERVICE, {"spec__type": "NodePort", "spec__ports__0__nodePort": "30080"}, "Service default/web",
     "spec.ports[0].nodePort", "must be an integer"),
    (SERVICE, {"spec__ports__0__nodePort": 30080}, "Service default/web", "spec.ports[0].nodePort",
     "Forbidden: may not be used when `type` is 'ClusterIP'"),
    (SERVICE, {"spec__ports__0__protocol": "ICMP"}, "Service default/web", "spec.ports[0].protocol",
     "Unsupported value"),
    (SERVICE, {"spec__ports": [{"port": 80}, {"port": 443}]}, "Service default/web", "spec.ports[0].name",
     "Required value"),
    (SERVICE, {"spec__ports": [{"name": "web", "port": 80}, {"name": "web", "port": 443}]}, "Service default/web",
     "spec.ports[1].name", 'Duplicate value: "web"'),
    (SERVICE, {"spec__ports": [{"name": "a", "port": 80}, {"name": "b", "port": 80}]}, "Service default/web",
     "spec.ports[1]", "Duplicate value"),
    (SERVICE, {"spec__ports__0__name": "Web"}, "Service default/web", "spec.ports[0].name", "RFC 1123 label"),
    (SERVICE, {"spec__clusterIP": "10.96.0.300"}, "Service default/web", "spec.clusterIP",
     "must be a valid IPv4 address"),
    (SERVICE, {"spec__type": "NodePort", "spec__clusterIP": "None"}, "Service default/web", "spec.clusterIP",
     "may not be set to 'None' for NodePort services"),
    (SERVICE, {"spec__type": "ExternalName"}, "Service default/web", "spec.externalName", "Required value"),
    (SERVICE, {"spec__type": "ExternalName", "spec__externalName": "db_host"}, "Service default/web",
     "spec.externalName", "RFC 1123 subdomain"),
    (SERVICE, {"spec__type": "ExternalName", "spec__externalName": "db.example.com", "spec__clusterIP": "10.96.0.5"},
     "Service default/web", "spec.clusterIP", "may not be set for ExternalName services"),
    (SERVICE, {"spec__selector__app": "web app"}, "Service default/web", "spec.selector.app",
     "a valid label must be"),
    (SERVICE, {"spec__selctor": {"app": "web"}}, "Service default/web", "spec.selctor",
     'unknown field (did you mean "selector"?)'),
    (SERVICE, {"spec__sessionAffinity": "Sticky"}, "Service default/web", "spec.sessionAffinity",
     'supported values: "None", "ClientIP"'),
    (SERVICE, {"spec__externalTrafficPolicy": "Local"}, "Service default/web", "spec.externalTrafficPolicy",
     "may only be set when `type` is 'NodePort' or 'LoadBalancer'"),
    (SERVICE, {"spec__type": "LoadBalancer", "spec__externalTrafficPolicy": "Nearest"}, "Service default/web",
     "spec.externalTrafficPolicy", 'supported values: "Cluster", "Local"'),
]


@pytest.mark.parametrize("base,changes,obj,field,reason", BAD, ids=[f"{b['kind']}:{'/'.join(c)}" for b, c, *_ in BAD])
def test_bad_field_is_named(tmp_path, base, changes, obj, field, reason):
    validate(base, "good.yaml")  # the unchanged base is fine, so the change is what fails
    path, err = apply_error(tmp_path, variant(base, **changes))
    assert str(err).startswith(f"{path}: {obj}: {field}: ")
    assert reason in str(err)
    assert (err.source, err.obj, err.field) == (path, obj, field)


@pytest.mark.parametrize("doc,field,reason", [
    ({"apiVersion": "v1", "kind": "Widget", "metadata": {"name": "x"}}, "kind",
     'no matches for kind "Widget" in version "v1"; supported: v1 Namespace, v1 Pod, apps/v1 Deployment'),
    ({"apiVersion": "extensions/v1beta1", "kind": "Deployment", "metadata": {"name": "x"}}, "apiVersion",
     'no matches for kind "Deployment" in version "extensions/v1beta1": use "apps/v1"'),
    ({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"}}, "kind", "not applied"),
    ({"kind": "Pod", "metadata": {"name": "x"}}, "apiVersion", "Required value"),
    ({"apiVersion": "v1", "metadata": {"name": "x"}}, "kind", "Required value"),
    ({"apiVersion": "v1", "kind": "Pod", "metadata": "x"}, "metadata", "must be a mapping"),
])
def test_unknown_or_missing_kind(tmp_path, doc, field, reason):
    path, err = apply_error(tmp_path, NAMESPACE, doc)
    assert err.source == f"{path}#2" and err.field == field
    assert f": {field}: " in str(err) and reason in str(err)


def test_document_that_is_not_a_mapping(tmp_path):
    path, err = apply_error(tmp_path, NAMESPACE, "- just\n- a list\n")
    assert str(err) == f"{path}#2: document 2: must be a mapping with apiVersion, kind and metadata (got a list)"
    assert err.obj == "document 2"


def test_image_check_hook(tmp_path, monkeypatch):
    def check(container):
        if container["image"] == "mystery" and "command" not in container:
            raise ValueError("unknown image without a command")
    monkeypatch.setattr(validation_core, "IMAGE_CHECK", check)
    validate(POD, "p.yaml")
    path, err = apply_error(tmp_path, variant(POD, spec__containers__1__image="mystery",
                                              spec__containers__1__args=DELETE))
    assert str(err) == (f'{path}: Pod default/web-1: spec.containers[1].image: Invalid value: "mystery": '
                        "unknown image without a command")
    path, err = apply_error(tmp_path, variant(DEPLOYMENT, spec__template__spec__containers__0__image="mystery"))
    assert err.field == "spec.template.spec.containers[0].image"


# ---- the whole input or nothing ----

def test_one_bad_object_among_good_ones_refuses_all(tmp_path):
    path = write(tmp_path, "app.yaml", NAMESPACE, DEPLOYMENT, variant(SERVICE, spec__ports__0__port=-1), POD)
    pairs = load([path])
    assert [s for s, _ in pairs] == [f"{path}#{n}" for n in (1, 2, 3, 4)]
    with pytest.raises(ManifestError) as info:
        validate_all(pairs)
    assert str(info.value).startswith(f"{path}#3: Service default/web: spec.ports[0].port: Invalid value: -1")


def test_all_bad_objects_are_listed(tmp_path):
    path = write(tmp_path, "app.yaml", variant(POD, spec=DELETE), NAMESPACE, variant(DEPLOYMENT, spec__replicas=-2))
    with pytest.raises(ManifestError) as info:
        validate_all(load([path]))
    lines = str(info.value).splitlines()
    assert lines == [f"{path}#1: Pod default/web-1: spec: Required value",
                     f"{path}#3: Deployment shop/web: spec.replicas: Invalid value: -2: "
                     "must be greater than or equal to 0"]
    assert [e.field for e in info.value.errors] == ["spec", "spec.replicas"]
    assert info.value.source == f"{path}#1"


def test_duplicate_objects_are_refused(tmp_path):
    first = write(tmp_path, "a.yaml", DEPLOYMENT)
    second = write(tmp_path, "b.yaml", NAMESPACE, variant(DEPLOYMENT, spec__replicas=3))
    with pytest.raises(ManifestError) as info:
        validate_all(load([first, second]))
    assert str(info.value) == (f'{second}#2: Deployment shop/web: metadata.name: Duplicate value: "web": '
                               f"also defined in {first}")
    # same name in another namespace or of another kind is fine
    out = validate_all(load([first]) + [("x", variant(DEPLOYMENT, metadata__namespace="dev")), ("y", SERVICE)])
    assert len(out) == 3


def test_validate_all_returns_validated_objects_in_order(tmp_path):
    out = validate_all(load([write(tmp_path, "app.yaml", NAMESPACE, DEPLOYMENT, SERVICE)]))
    assert [o["kind"] for o in out] == ["Namespace", "Deployment", "Service"]
    assert out[2]["spec"]["type"] == "ClusterIP"


@pytest.mark.parametrize("doc", [NAMESPACE, POD, DEPLOYMENT, REPLICASET, SERVICE,
                                 variant(SERVICE, spec__type="NodePort", spec__sessionAffinity="ClientIP")])
def test_validate_is_idempotent(doc):
    """The API server validates again what the CLI already validated; a second pass changes nothing."""
    once = validate(doc, "a.yaml")
    assert validate(once, "b.yaml") == once
