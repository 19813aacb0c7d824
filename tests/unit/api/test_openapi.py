"""Unit tests for toycluster.api.openapi and the schema tables behind it: what `kubectl explain` and `apply` read."""
import json

import pytest

from toycluster.api import openapi, openapi_schemas, validation_core, validation_ingress, validation_netpol
from toycluster.api.fields import METADATA
from toycluster.api.kinds import KINDS

APIS = sorted({api for api, _ in KINDS})
DOCS = {api: openapi.group_version_doc(api) for api in APIS}


def _refs(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                yield v
            else:
                yield from _refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from _refs(v)


def _props(doc, name, *path):
    """The properties of schema NAME, or of the schema reached through fields PATH from it."""
    schemas = doc["components"]["schemas"]
    schema = schemas[name]
    for field in path:
        schema = schema["properties"][field]
        schema = schema.get("items", schema)
        schema = schemas[schema["allOf"][0]["$ref"].rsplit("/", 1)[1]]
    return schema["properties"]


@pytest.mark.parametrize("api,kind", sorted(KINDS))
def test_every_kind_has_a_schema_with_its_gvk(api, kind):
    group, _, version = api.rpartition("/")
    schema = DOCS[api]["components"]["schemas"][openapi.schema_name(api, kind)]
    assert schema["x-kubernetes-group-version-kind"] == [{"group": group, "version": version, "kind": kind}]
    assert {"apiVersion", "kind", "metadata"} <= set(schema["properties"])
    assert schema["description"] and schema["type"] == "object"
    tagged = [n for n, s in DOCS[api]["components"]["schemas"].items() if "x-kubernetes-group-version-kind" in s]
    assert sorted(tagged) == sorted(openapi.schema_name(api, k) for a, k in KINDS if a == api)


@pytest.mark.parametrize("api", APIS)
def test_every_ref_resolves_and_every_field_is_described(api):
    schemas = DOCS[api]["components"]["schemas"]
    refs = set(_refs(DOCS[api]))
    assert refs and all(r.startswith("#/components/schemas/") for r in refs)
    assert {r.rsplit("/", 1)[1] for r in refs} <= set(schemas)
    for name, schema in schemas.items():
        assert name.startswith(("io.k8s.api.", "io.k8s.apimachinery.pkg.")), name
        assert schema["description"], name
        for field, prop in schema.get("properties", {}).items():
            assert prop["description"], (name, field)
            assert "$ref" not in prop, "a $ref has no siblings in OpenAPI 3.0: wrap it in allOf, as upstream"
        assert set(schema.get("required", [])) <= set(schema.get("properties", {})), name
    json.dumps(DOCS[api])


def test_golden_container_port_and_int_or_string():
    schemas = DOCS["v1"]["components"]["schemas"]
    port = schemas["io.k8s.api.core.v1.ContainerPort"]
    assert port["required"] == ["containerPort"]
    assert port["properties"]["containerPort"] == {
        "type": "integer", "format": "int32",
        "description": "Number of the port to expose on the pod's IP address: 0 < x < 65536."}
    assert port["properties"]["protocol"]["enum"] == ["SCTP", "TCP", "UDP"]
    assert schemas["io.k8s.api.core.v1.Container"]["properties"]["ports"]["items"] == {
        "allOf": [{"$ref": "#/components/schemas/io.k8s.api.core.v1.ContainerPort"}], "default": {}}
    assert schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["format"] == "int-or-string"
    assert schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["type"] == "string"
    surge = DOCS["apps/v1"]["components"]["schemas"]["io.k8s.api.apps.v1.RollingUpdateDeployment"]
    assert surge["properties"]["maxSurge"]["allOf"] == [
        {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.util.intstr.IntOrString"}]
    meta = DOCS["v1"]["components"]["schemas"]["io.k8s.api.core.v1.Pod"]["properties"]["metadata"]
    assert meta["allOf"] == [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}]
    time = schemas["io.k8s.apimachinery.pkg.apis.meta.v1.Time"]
    assert (time["type"], time["format"]) == ("string", "date-time")


def test_the_fields_validation_knows_are_described():
    v1, apps = DOCS["v1"], DOCS["apps/v1"]
    net = DOCS["networking.k8s.io/v1"]
    known = validation_core._FIELDS
    assert known["container"] <= set(_props(v1, "io.k8s.api.core.v1.Pod", "spec", "containers"))
    assert known["cport"] <= set(_props(v1, "io.k8s.api.core.v1.Pod", "spec", "containers", "ports"))
    assert known["env"] <= set(_props(v1, "io.k8s.api.core.v1.Pod", "spec", "containers", "env"))
    assert known["podspec"] <= set(_props(v1, "io.k8s.api.core.v1.Pod", "spec"))
    assert known["service"] <= set(_props(v1, "io.k8s.api.core.v1.Service", "spec"))
    assert known["sport"] <= set(_props(v1, "io.k8s.api.core.v1.Service", "spec", "ports"))
    for kind in ("Deployment", "ReplicaSet"):
        assert known[kind] <= set(_props(apps, f"io.k8s.api.apps.v1.{kind}", "spec"))
    assert METADATA <= set(_props(v1, "io.k8s.api.core.v1.Pod", "metadata"))
    ing = validation_ingress._FIELDS
    assert ing["spec"] <= set(_props(net, "io.k8s.api.networking.v1.Ingress", "spec"))
    assert ing["path"] <= set(_props(net, "io.k8s.api.networking.v1.Ingress", "spec", "rules", "http", "paths"))
    assert ing["port"] <= set(_props(net, "io.k8s.api.networking.v1.Ingress", "spec", "defaultBackend", "service",
                                     "port"))
    assert ing["secret"] - {"metadata", "apiVersion", "kind"} <= set(_props(v1, "io.k8s.api.core.v1.Secret"))
    np = validation_netpol._FIELDS
    assert np["netpol"] <= set(_props(net, "io.k8s.api.networking.v1.NetworkPolicy", "spec"))
    assert np["peer"] <= set(_props(net, "io.k8s.api.networking.v1.NetworkPolicy", "spec", "ingress", "from"))
    assert np["npport"] <= set(_props(net, "io.k8s.api.networking.v1.NetworkPolicy", "spec", "egress", "ports"))
    assert np["ipBlock"] <= set(_props(net, "io.k8s.api.networking.v1.NetworkPolicy", "spec", "ingress", "from",
                                       "ipBlock"))


def test_status_fields_the_cluster_writes():
    pod = _props(DOCS["v1"], "io.k8s.api.core.v1.Pod", "status")
    assert {"phase", "conditions", "hostIP", "hostIPs", "podIP", "podIPs", "startTime", "containerStatuses"} <= set(pod)
    assert pod["phase"]["enum"] == ["Failed", "Pending", "Running", "Succeeded", "Unknown"]
    dep = _props(DOCS["apps/v1"], "io.k8s.api.apps.v1.Deployment", "status")
    assert {"observedGeneration", "replicas", "updatedReplicas", "readyReplicas", "availableReplicas",
            "unavailableReplicas", "conditions", "collisionCount"} <= set(dep)
    lb = _props(DOCS["v1"], "io.k8s.api.core.v1.Service", "status", "loadBalancer", "ingress")
    assert {"ip", "ipMode"} <= set(lb)


def test_patch_operations_have_no_request_body():
    """kubectl builds strategic merge patches from its compiled-in types only while PATCH lists no body."""
    for doc in DOCS.values():
        for ops in doc["paths"].values():
            if "patch" in ops:
                assert "requestBody" not in ops["patch"]
                assert ops["patch"]["x-kubernetes-group-version-kind"]["kind"]


def test_tables_are_sound():
    for short, (description, required, fields) in openapi_schemas.TABLE.items():
        assert description and short.split(".")[0] in openapi_schemas.openapi_meta.PACKAGES
        if isinstance(fields, dict):
            for field, spec in fields.items():
                assert len(spec) in (2, 3), (short, field)
        assert openapi_schemas.closure(short)[0] == short
    with pytest.raises(KeyError):
        openapi_schemas._type("core.NoSuchThing")
