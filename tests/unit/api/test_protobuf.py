"""Pure tests of kube-apiserver's protobuf serializer (api/protobuf.py): request bodies captured from the real kubectl
1.37 (`kubectl create ... --dry-run=server -v=9` logs them in hex) decode to exactly what the same command prints
with `--dry-run=client -o json` (creationTimestamp: null left out); the wire format's corners; malformed bodies
are ProtobufErrors and the REST layer's 400 BadRequest; the 415 check lets protobuf through."""
import asyncio

import pytest

from toycluster.api import protobuf
from toycluster.api.rest import REST

# name: (the command, the body it sent, what `--dry-run=client -o json` printed for it)
CAPTURED = {
    "namespace": (
        "kubectl create namespace x",
        "6b3873000a0f0a02763112094e616d65737061636512190a110a017812001a0022002a0032003800420012001a020a001a002200",
        {'kind': 'Namespace', 'apiVersion': 'v1', 'metadata': {'name': 'x'}, 'spec': {}, 'status': {}}),
    "configmap": (
        "kubectl create configmap cm1 --from-literal=a=1 --from-literal=b=two",
        "6b3873000a0f0a0276311209436f6e6669674d617012270a130a03636d3112001a0022002a0032003800420012060a0161120131"
        "12080a0162120374776f1a002200",
        {'kind': 'ConfigMap', 'apiVersion': 'v1', 'metadata': {'name': 'cm1'}, 'data': {'a': '1', 'b': 'two'}}),
    "configmap_binary": (
        "kubectl create configmap bin --from-file=blob.bin --from-literal=text=hello",
        "6b3873000a0f0a0276311209436f6e6669674d617012390a130a0362696e12001a0022002a00320038004200120d0a0474657874"
        "120568656c6c6f1a130a08626c6f622e62696e12070001feff62696e1a002200",
        {'kind': 'ConfigMap',
         'apiVersion': 'v1',
         'metadata': {'name': 'bin'},
         'data': {'text': 'hello'},
         'binaryData': {'blob.bin': 'AAH+/2Jpbg=='}}),
    "secret_generic": (
        "kubectl create secret generic s1 --from-literal=user=admin --from-literal=pw=s3cr3t",
        "6b3873000a0c0a027631120653656372657412330a120a02733112001a0022002a00320038004200120c0a027077120673336372"
        "3374120d0a0475736572120561646d696e1a001a002200",
        {'kind': 'Secret',
         'apiVersion': 'v1',
         'metadata': {'name': 's1'},
         'data': {'pw': 'czNjcjN0', 'user': 'YWRtaW4='}}),
    "secret_docker": (
        "kubectl create secret docker-registry reg --docker-server=reg.example --docker-username=u "
        "--docker-password=p",
        "6b3873000a0c0a02763112065365637265741293010a130a0372656712001a0022002a00320038004200125c0a112e646f636b65"
        "72636f6e6669676a736f6e12477b226175746873223a7b227265672e6578616d706c65223a7b22757365726e616d65223a227522"
        "2c2270617373776f7264223a2270222c2261757468223a2264547077227d7d7d1a1e6b756265726e657465732e696f2f646f636b"
        "6572636f6e6669676a736f6e1a002200",
        {'kind': 'Secret',
         'apiVersion': 'v1',
         'metadata': {'name': 'reg'},
         'data': {'.dockerconfigjson': 'eyJhdXRocyI6eyJyZWcuZXhhbXBsZSI6eyJ1c2VybmFtZSI6InUiLCJwYXNzd29yZCI6InAiLC'
                                       'JhdXRoIjoiZFRwdyJ9fX0='},
         'type': 'kubernetes.io/dockerconfigjson'}),
    "service_clusterip": (
        "kubectl create service clusterip web --tcp=80:8080",
        "6b3873000a0d0a02763112075365727669636512690a1f0a0377656212001a0022002a003200380042005a0a0a03617070120377"
        "656212420a1b0a0738302d38303830120354435018502207080010903f1a002800120a0a0361707012037765621a002209436c75"
        "7374657249503a00420052005a00600068001a020a001a002200",
        {'kind': 'Service',
         'apiVersion': 'v1',
         'metadata': {'name': 'web', 'labels': {'app': 'web'}},
         'spec': {'ports': [{'name': '80-8080', 'protocol': 'TCP', 'port': 80, 'targetPort': 8080}],
                  'selector': {'app': 'web'},
                  'type': 'ClusterIP'},
         'status': {'loadBalancer': {}}}),
    "service_headless": (
        "kubectl create service clusterip hl --clusterip=None",
        "6b3873000a0d0a027631120753657276696365124d0a1d0a02686c12001a0022002a003200380042005a090a036170701202686c"
        "122812090a036170701202686c1a044e6f6e652209436c757374657249503a00420052005a00600068001a020a001a002200",
        {'kind': 'Service',
         'apiVersion': 'v1',
         'metadata': {'name': 'hl', 'labels': {'app': 'hl'}},
         'spec': {'selector': {'app': 'hl'}, 'clusterIP': 'None', 'type': 'ClusterIP'},
         'status': {'loadBalancer': {}}}),
    "service_nodeport": (
        "kubectl create service nodeport np --tcp=80:80 --node-port=30007",
        "6b3873000a0d0a02763112075365727669636512640a1d0a026e7012001a0022002a003200380042005a090a0361707012026e70"
        "123f0a1a0a0538302d3830120354435018502206080010501a0028b7ea0112090a0361707012026e701a0022084e6f6465506f72"
        "743a00420052005a00600068001a020a001a002200",
        {'kind': 'Service',
         'apiVersion': 'v1',
         'metadata': {'name': 'np', 'labels': {'app': 'np'}},
         'spec': {'ports': [{'name': '80-80', 'protocol': 'TCP', 'port': 80, 'targetPort': 80, 'nodePort': 30007}],
                  'selector': {'app': 'np'},
                  'type': 'NodePort'},
         'status': {'loadBalancer': {}}}),
    "service_loadbalancer": (
        "kubectl create service loadbalancer lb --tcp=443:8443 --tcp=80",
        "6b3873000a0d0a0276311207536572766963651282010a1d0a026c6212001a0022002a003200380042005a090a0361707012026c"
        "62125d0a1d0a083434332d38343433120354435018bb032207080010fb411a0028000a150a023830120354435018502206080010"
        "501a00280012090a0361707012026c621a00220c4c6f616442616c616e6365723a00420052005a00600068001a020a001a002200",
        {'kind': 'Service',
         'apiVersion': 'v1',
         'metadata': {'name': 'lb', 'labels': {'app': 'lb'}},
         'spec': {'ports': [{'name': '443-8443', 'protocol': 'TCP', 'port': 443, 'targetPort': 8443},
                            {'name': '80', 'protocol': 'TCP', 'port': 80, 'targetPort': 80}],
                  'selector': {'app': 'lb'},
                  'type': 'LoadBalancer'},
         'status': {'loadBalancer': {}}}),
    "service_externalname": (
        "kubectl create service externalname ext --external-name=example.com",
        "6b3873000a0d0a027631120753657276696365125a0a1f0a0365787412001a0022002a003200380042005a0a0a03617070120365"
        "78741233120a0a0361707012036578741a00220c45787465726e616c4e616d653a004200520b6578616d706c652e636f6d5a0060"
        "0068001a020a001a002200",
        {'kind': 'Service',
         'apiVersion': 'v1',
         'metadata': {'name': 'ext', 'labels': {'app': 'ext'}},
         'spec': {'selector': {'app': 'ext'}, 'type': 'ExternalName', 'externalName': 'example.com'},
         'status': {'loadBalancer': {}}}),
    "deployment": (
        "kubectl create deployment web --image=nginx --replicas=2 --port=80",
        "6b3873000a150a07617070732f7631120a4465706c6f796d656e7412b8010a1f0a0377656212001a0022002a003200380042005a"
        "0a0a0361707012037765621286010802120c0a0a0a0361707012037765621a6c0a1c0a0012001a0022002a003200380042005a0a"
        "0a036170701203776562124c122e0a056e67696e7812056e67696e782a00320a0a001000185022002a0042006a00720080010088"
        "0100900100a201001a00320042004a0052005800600068008201008a01009a0100c2010022020a00280038001a0c080010001800"
        "2000280038001a002200",
        {'kind': 'Deployment',
         'apiVersion': 'apps/v1',
         'metadata': {'name': 'web', 'labels': {'app': 'web'}},
         'spec': {'replicas': 2,
                  'selector': {'matchLabels': {'app': 'web'}},
                  'template': {'metadata': {'labels': {'app': 'web'}},
                               'spec': {'containers': [{'name': 'nginx',
                                                        'image': 'nginx',
                                                        'ports': [{'containerPort': 80}],
                                                        'resources': {}}]}},
                  'strategy': {}},
         'status': {}}),
    "deployment_command": (
        "kubectl create deployment sl -n x --image=busybox -- sleep 3600",
        "6b3873000a150a07617070732f7631120a4465706c6f796d656e7412ba010a1e0a02736c12001a017822002a003200380042005a"
        "090a036170701202736c1289010801120b0a090a036170701202736c1a700a1b0a0012001a0022002a003200380042005a090a03"
        "6170701202736c125112330a0762757379626f78120762757379626f781a05736c6565701a04333630302a0042006a0072008001"
        "00880100900100a201001a00320042004a0052005800600068008201008a01009a0100c2010022020a00280038001a0c08001000"
        "18002000280038001a002200",
        {'kind': 'Deployment',
         'apiVersion': 'apps/v1',
         'metadata': {'name': 'sl', 'namespace': 'x', 'labels': {'app': 'sl'}},
         'spec': {'replicas': 1,
                  'selector': {'matchLabels': {'app': 'sl'}},
                  'template': {'metadata': {'labels': {'app': 'sl'}},
                               'spec': {'containers': [{'name': 'busybox',
                                                        'image': 'busybox',
                                                        'command': ['sleep', '3600'],
                                                        'resources': {}}]}},
                  'strategy': {}},
         'status': {}}),
    "ingress": (
        "kubectl create ingress simple --rule=foo.com/bar=svc1:8080,tls=my-cert --class=default",
        "6b3873000a1f0a146e6574776f726b696e672e6b38732e696f2f76311207496e6772657373126a0a160a0673696d706c6512001a"
        "0022002a00320038004200124c12120a07666f6f2e636f6d12076d792d636572741a2d0a07666f6f2e636f6d12220a200a1e0a04"
        "2f626172120f220d0a047376633112050a0010903f1a054578616374220764656661756c741a020a001a002200",
        {'kind': 'Ingress',
         'apiVersion': 'networking.k8s.io/v1',
         'metadata': {'name': 'simple'},
         'spec': {'ingressClassName': 'default',
                  'tls': [{'hosts': ['foo.com'], 'secretName': 'my-cert'}],
                  'rules': [{'host': 'foo.com',
                             'http': {'paths': [{'path': '/bar',
                                                 'pathType': 'Exact',
                                                 'backend': {'service': {'name': 'svc1',
                                                                         'port': {'number': 8080}}}}]}}]},
         'status': {'loadBalancer': {}}}),
    "ingress_default": (
        "kubectl create ingress ing2 --default-backend=defsvc:http --rule=foo.com/*=svc:8080 --rule"
        "=/exact=other:80 --annotation=a=b",
        "6b3873000a1f0a146e6574776f726b696e672e6b38732e696f2f76311207496e67726573731290010a1c0a04696e673212001a00"
        "22002a0032003800420062060a0161120162126c0a1422120a0664656673766312080a046874747010001a2a0a07666f6f2e636f"
        "6d121f0a1d0a1b0a012f120e220c0a0373766312050a0010903f1a065072656669781a280a0012240a220a200a062f6578616374"
        "120f220d0a056f7468657212040a0010501a0545786163741a020a001a002200",
        {'kind': 'Ingress',
         'apiVersion': 'networking.k8s.io/v1',
         'metadata': {'name': 'ing2', 'annotations': {'a': 'b'}},
         'spec': {'defaultBackend': {'service': {'name': 'defsvc', 'port': {'name': 'http'}}},
                  'rules': [{'host': 'foo.com',
                             'http': {'paths': [{'path': '/',
                                                 'pathType': 'Prefix',
                                                 'backend': {'service': {'name': 'svc', 'port': {'number': 8080}}}}]}},
                            {'http': {'paths': [{'path': '/exact',
                                                 'pathType': 'Exact',
                                                 'backend': {'service': {'name': 'other',
                                                                         'port': {'number': 80}}}}]}}]},
         'status': {'loadBalancer': {}}}),
    "serviceaccount": (
        "kubectl create serviceaccount sa1",
        "6b3873000a140a027631120e536572766963654163636f756e7412150a130a0373613112001a0022002a003200380042001a0022"
        "00",
        {'kind': 'ServiceAccount', 'apiVersion': 'v1', 'metadata': {'name': 'sa1'}}),
}


@pytest.mark.parametrize("name", CAPTURED)
def test_captured_kubectl_create_bodies_decode_to_its_json(name):
    _, body, expected = CAPTURED[name]
    assert protobuf.decode(bytes.fromhex(body)) == expected


# a tiny encoder for hand-made messages
def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = b""
    while True:
        out += bytes([n & 0x7F | (0x80 if n > 0x7F else 0)])
        n >>= 7
        if not n:
            return out


def _len(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _int(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _body(api_version: str, kind: str, raw: bytes, encoding: str = "") -> bytes:
    type_meta = _len(1, api_version.encode()) + _len(2, kind.encode())
    return protobuf.MAGIC + _len(1, type_meta) + _len(2, raw) + _len(3, encoding.encode()) + _len(4, b"")


def test_unknown_fields_are_skipped_whatever_their_wire_type():
    meta = _len(1, b"p") + _int(99, 7) + _len(98, b"junk") + b"\x9d\x06\x01\x02\x03\x04" + b"\x99\x06" + bytes(8)
    assert protobuf.decode(_body("v1", "Pod", _len(1, meta))) == {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}


def test_scalars_pointers_times_int_or_strings_and_quantities():
    container = (_len(1, b"c") + _len(2, b"nginx") + _len(6, _int(3, 80))
                 + _len(8, _len(1, _len(1, b"cpu") + _len(2, _len(1, b"250m")))))
    spec = _len(2, container) + _int(4, 0) + _int(25, -5) + _int(11, 0) + _int(30, 0)
    meta = _len(1, b"p") + _len(8, _int(1, 1700000000)) + _len(9, b"") + _int(7, 3)
    doc = protobuf.decode(_body("v1", "Pod", _len(1, meta) + _len(2, spec)))
    assert doc["metadata"] == {"name": "p", "creationTimestamp": "2023-11-14T22:13:20Z", "generation": 3}
    # pointers set to zero are kept, omitempty zeros (hostNetwork: false) are not; int32 is signed
    assert doc["spec"] == {"containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 80}],
                                           "resources": {"limits": {"cpu": "250m"}}}],
                           "terminationGracePeriodSeconds": 0, "priority": -5, "enableServiceLinks": False}


def test_int_or_string_packed_repeats_and_merged_messages():
    rolling = _len(1, _int(1, 1) + _len(3, b"25%")) + _len(2, _int(2, 1))
    spec = _len(4, _len(1, b"RollingUpdate")) + _len(4, _len(2, rolling)) + _int(1, 0)
    doc = protobuf.decode(_body("apps/v1", "Deployment", _len(2, spec)))
    assert doc["spec"] == {"replicas": 0, "strategy": {"type": "RollingUpdate",
                                                       "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 1}}}
    psc = _len(4, _varint(1) + _varint(2)) + _int(4, 3)  # packed, then one unpacked
    doc = protobuf.decode(_body("v1", "Pod", _len(2, _len(14, psc))))
    assert doc["spec"]["securityContext"] == {"supplementalGroups": [1, 2, 3]}


@pytest.mark.parametrize("body, words", [
    (b'{"kind": "Pod"}', "does not appear to be a protobuf message"),
    (protobuf.MAGIC + b"\x0a", "truncated varint"),
    (protobuf.MAGIC + b"\x0a\x05ab", "runs past the end"),
    (protobuf.MAGIC + b"\x0b", "unsupported wire type 3"),
    (protobuf.MAGIC + b"\x00", "field number 0"),
    (_body("v1", "Node", b""), "apiVersion 'v1' kind 'Node'"),
    (_body("v1", "Pod", b"", "gzip"), "content encoding 'gzip'"),
    (_body("v1", "Pod", _len(1, _len(1, b"\xff"))), "ObjectMeta.name: string is not valid UTF-8"),
    (_body("v1", "Pod", _len(1, _int(1, 5))), "ObjectMeta.name: wire type 0, expected 2"),
    (_body("v1", "Pod", _len(1, _len(8, _len(1, b"x")))), "creationTimestamp: wire type 2, expected 0"),
])
def test_malformed_bodies_are_protobuf_errors_naming_the_fault(body, words):
    with pytest.raises(protobuf.ProtobufError, match=words.replace("(", r"\(")):
        protobuf.decode(body)


class _FakeAPI:
    def __init__(self):
        self.store, self.created = None, []

    def create(self, doc, dry_run=False):
        self.created.append(doc)
        return doc


def _post(body: bytes, ctype: str = protobuf.MEDIA_TYPE):
    api = _FakeAPI()
    rest = REST(api, "https://10.0.0.11:6443")
    return api, asyncio.run(rest.handle("POST", "/api/v1/namespaces/default/configmaps", {}, "application/json",
                                        ctype, body))


def test_rest_creates_from_a_protobuf_body():
    api, (code, doc) = _post(bytes.fromhex(CAPTURED["configmap"][1]))
    assert code == 201 and api.created == [doc]
    assert doc["metadata"] == {"name": "cm1", "namespace": "default"} and doc["data"] == {"a": "1", "b": "two"}


def test_rest_answers_a_bad_protobuf_body_with_400_bad_request():
    api, (code, doc) = _post(protobuf.MAGIC + b"\x0a\x05ab")
    assert (code, doc["reason"], api.created) == (400, "BadRequest", [])
    assert doc["message"] == ("the protobuf body could not be decoded: Unknown field 1: "
                              "length 5 runs past the end of the message")


def test_rest_still_refuses_other_media_types_with_415():
    _, (code, doc) = _post(b"x", "application/cbor")
    assert (code, doc["reason"]) == (415, "UnsupportedMediaType")
    assert doc["message"].endswith("include: application/json, application/yaml, application/vnd.kubernetes.protobuf")
