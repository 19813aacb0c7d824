"""Unit tests for toycluster.api.patch: RFC 7386 merge patch and RFC 6902 JSON patch (the RFCs' appendix A
examples), and apply_patch()'s statuses and messages as kube-apiserver answers them (no root)."""
import json

import pytest

from toycluster.api.patch import CONTENT_TYPES, REJECTED, PatchError, apply_patch, json_patch, merge_patch

JSON, MERGE, SMP = "application/json-patch+json", "application/merge-patch+json", \
    "application/strategic-merge-patch+json"


# RFC 7386 appendix A, every row
@pytest.mark.parametrize("original,patch,result", [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
])
def test_merge_patch_rfc7386_appendix_a(original, patch, result):
    before = json.dumps(original)
    assert merge_patch(original, patch) == result
    assert json.dumps(original) == before                  # the original is not changed


def test_merge_patch_drops_nulls_inside_added_values_as_evanphx_does():
    assert merge_patch({"a": 1}, {"b": [None, {"c": None, "d": 1}]}) == {"a": 1, "b": [{"d": 1}]}


# RFC 6902 appendix A: (section, document, patch, result)
RFC6902_OK = [
    ("A.1", {"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux"}], {"baz": "qux", "foo": "bar"}),
    ("A.2", {"foo": ["bar", "baz"]}, [{"op": "add", "path": "/foo/1", "value": "qux"}],
     {"foo": ["bar", "qux", "baz"]}),
    ("A.3", {"baz": "qux", "foo": "bar"}, [{"op": "remove", "path": "/baz"}], {"foo": "bar"}),
    ("A.4", {"foo": ["bar", "qux", "baz"]}, [{"op": "remove", "path": "/foo/1"}], {"foo": ["bar", "baz"]}),
    ("A.5", {"baz": "qux", "foo": "bar"}, [{"op": "replace", "path": "/baz", "value": "boo"}],
     {"baz": "boo", "foo": "bar"}),
    ("A.6", {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
     [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
     {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}}),
    ("A.7", {"foo": ["all", "grass", "cows", "eat"]}, [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
     {"foo": ["all", "cows", "eat", "grass"]}),
    ("A.8", {"baz": "qux", "foo": ["a", 2, "c"]},
     [{"op": "test", "path": "/baz", "value": "qux"}, {"op": "test", "path": "/foo/1", "value": 2}],
     {"baz": "qux", "foo": ["a", 2, "c"]}),
    ("A.10", {"foo": "bar"}, [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
     {"foo": "bar", "child": {"grandchild": {}}}),
    ("A.11", {"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}],
     {"foo": "bar", "baz": "qux"}),
    ("A.14", {"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": 10}], {"/": 9, "~1": 10}),
    ("A.16", {"foo": ["bar"]}, [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
     {"foo": ["bar", ["abc", "def"]]}),
    ("copy", {"a": {"b": 1}}, [{"op": "copy", "from": "/a", "path": "/c"}], {"a": {"b": 1}, "c": {"b": 1}}),
]


@pytest.mark.parametrize("section,doc,ops,result", RFC6902_OK, ids=[c[0] for c in RFC6902_OK])
def test_json_patch_rfc6902_appendix_a(section, doc, ops, result):
    before = json.dumps(doc)
    assert json_patch(doc, ops) == result
    assert json.dumps(doc) == before


# RFC 6902's error examples, with evanphx/json-patch's message (kube-apiserver hides it behind REJECTED)
RFC6902_ERRORS = [
    ("A.9", {"baz": "qux"}, [{"op": "test", "path": "/baz", "value": "bar"}], "testing value /baz failed: test failed"),
    ("A.12", {"foo": "bar"}, [{"op": "add", "path": "/baz/bat", "value": "qux"}],
     'add operation does not apply: doc is missing path: "/baz/bat": missing value'),
    ("A.13", {"foo": "bar"}, json.loads('[{"op": "add", "path": "/baz", "value": "qux", "op": "remove"}]'),
     "error in remove for path: '/baz': Unable to remove nonexistent key: baz: missing value"),
    ("A.15", {"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": "10"}],
     "testing value /~01 failed: test failed"),
    ("index", {"a": [1]}, [{"op": "add", "path": "/a/5", "value": 2}],
     "error in add for path: '/a/5': Unable to access invalid index: 5: invalid index referenced"),
    ("not an index", {"a": [1]}, [{"op": "add", "path": "/a/x", "value": 2}],
     "error in add for path: '/a/x': value was not a proper array index: 'x': "
     'strconv.Atoi: parsing "x": invalid syntax'),
    ("remove index", {"a": [1]}, [{"op": "remove", "path": "/a/1"}],
     "error in remove for path: '/a/1': Unable to access invalid index: 1: invalid index referenced"),
    ("replace parent", {"a": 1}, [{"op": "replace", "path": "/b/c", "value": 2}],
     "replace operation does not apply: doc is missing path: /b/c: missing value"),
    ("replace index", {"a": [1]}, [{"op": "replace", "path": "/a/3", "value": 2}],
     "replace operation does not apply: doc is missing key: /a/3: missing value"),
    ("move", {"a": 1}, [{"op": "move", "from": "/b", "path": "/c"}],
     "error in move for path: 'b': Unable to remove nonexistent key: b: missing value"),
    ("copy", {"a": 1}, [{"op": "copy", "from": "/x/y", "path": "/c"}],
     "copy operation does not apply: doc is missing from path: /x/y: missing value"),
    ("no path", {"a": 1}, [{"op": "remove"}], "remove operation failed to decode path: missing value"),
    ("no from", {"a": 1}, [{"op": "move", "path": "/b"}],
     "move operation failed to decode from: operation, missing from field: missing value"),
    ("unknown op", {"a": 1}, [{"op": "frobnicate", "path": "/a"}], "Unexpected kind: frobnicate"),
    ("no op", {"a": 1}, [{"path": "/a"}], "Unexpected kind: unknown"),
    ("root add", {"a": 1}, [{"op": "add", "path": "", "value": {}}],
     'add operation does not apply: doc is missing path: "": missing value'),
]


@pytest.mark.parametrize("section,doc,ops,detail", RFC6902_ERRORS, ids=[c[0] for c in RFC6902_ERRORS])
def test_json_patch_errors_carry_the_library_message(section, doc, ops, detail):
    with pytest.raises(PatchError) as err:
        json_patch(doc, ops)
    assert (err.value.status, err.value.reason, str(err.value), err.value.detail) == (422, "Invalid", REJECTED, detail)


def test_json_patch_is_all_or_nothing_and_keeps_the_librarys_quirks():
    doc = {"a": [1, 2, 3], "m": {}}
    with pytest.raises(PatchError):
        json_patch(doc, [{"op": "remove", "path": "/a/0"}, {"op": "test", "path": "/a/0", "value": 9}])
    assert doc == {"a": [1, 2, 3], "m": {}}
    assert json_patch(doc, [{"op": "remove", "path": "/a/-1"}]) == {"a": [1, 2], "m": {}}       # from the end
    assert json_patch(doc, [{"op": "add", "path": "/a/-1", "value": 9}])["a"] == [1, 2, 3, 9]
    assert json_patch(doc, [{"op": "replace", "path": "/m/new", "value": 1}])["m"] == {"new": 1}  # replace adds
    assert json_patch(doc, [{"op": "test", "path": "/missing", "value": None}]) == doc
    assert json_patch(doc, [{"op": "replace", "path": "", "value": {"x": 1}}]) == {"x": 1}
    with pytest.raises(PatchError):                            # 1 and 1.0, 1 and true are different values
        json_patch({"a": 1}, [{"op": "test", "path": "/a", "value": True}])


POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}},
       "spec": {"containers": [{"name": "web", "image": "nginx"}]}}


def test_apply_patch_by_content_type_returns_a_new_object():
    before = json.dumps(POD)
    ops = b'[{"op": "replace", "path": "/spec/containers/0/image", "value": "nginx:2"}]'
    assert apply_patch(POD, ops, JSON)["spec"]["containers"][0]["image"] == "nginx:2"
    merged = apply_patch(POD, b'{"metadata": {"labels": {"tier": null, "v": "2"}}}', MERGE + "; charset=utf-8")
    assert merged["metadata"]["labels"] == {"app": "web", "v": "2"}
    smp = apply_patch(POD, b'{"spec": {"containers": [{"name": "side", "image": "busybox"}]}}', SMP)
    assert [c["name"] for c in smp["spec"]["containers"]] == ["side", "web"]
    assert json.dumps(POD) == before
    assert set(CONTENT_TYPES) == {JSON, MERGE, SMP}


def test_apply_patch_drops_nulls_as_decoding_into_the_go_type_does():
    ops = b'[{"op": "add", "path": "/spec/nodeName", "value": null}]'
    assert "nodeName" not in apply_patch(POD, ops, JSON)["spec"]


@pytest.mark.parametrize("content_type", ["application/json", "application/apply-patch+yaml", "", "text/plain",
                                          " application/merge-patch+json"])
def test_unknown_content_type_is_415(content_type):
    with pytest.raises(PatchError) as err:
        apply_patch(POD, b"{}", content_type)
    assert (err.value.status, err.value.reason) == (415, "UnsupportedMediaType")
    assert str(err.value) == ("the body of the request was in an unknown format - accepted media types include: "
                              "application/json-patch+json, application/merge-patch+json, "
                              "application/strategic-merge-patch+json")


@pytest.mark.parametrize("content_type,body,status,message", [
    (JSON, b"[{", 400, "unexpected end of JSON input"),
    (JSON, b'{"op": "add"}', 400, "json: cannot unmarshal object into Go value of type jsonpatch.Patch"),
    (JSON, b"[1]", 400, "json: cannot unmarshal number into Go value of type jsonpatch.Operation"),
    (JSON, b'[{"op": "remove", "path": "/nope"}]', 422, REJECTED),
    (JSON, b'[{"op": "replace", "path": "", "value": [1]}]', 422,
     ' "" is invalid: patch: Invalid value: "[1]": couldn\'t get version/kind; json parse error: json: cannot '
     'unmarshal array into Go value of type struct { APIVersion string "json:\\"apiVersion,omitempty\\""; '
     'Kind string "json:\\"kind,omitempty\\"" }'),
    (MERGE, b"{bad", 400, "Invalid JSON Patch"),
    (MERGE, b"null", 400, "Invalid JSON Patch"),
    (MERGE, b'"x"', 400, "Invalid JSON Patch"),
    (SMP, b'{"a" 1}', 400, "invalid character '1' after object key"),
    (SMP, b"[1, 2 3]", 400, "invalid character '3' after array element"),
    (SMP, b'{"a": 1,}', 400, "invalid character '}' looking for beginning of object key string"),
    (SMP, b"{} x", 400, "invalid character 'x' after top-level value"),
    (SMP, b"nulx", 400, "invalid character 'x' in literal null (expecting 'l')"),
    (SMP, b'"\n"', 400, "invalid character '\\n' in string literal"),
    (SMP, b"[]", 400, "json: cannot unmarshal array into Go value of type map[string]interface {}"),
])
def test_bodies_refused_as_kube_apiserver_refuses_them(content_type, body, status, message):
    with pytest.raises(PatchError) as err:
        apply_patch(POD, body, content_type)
    assert (err.value.status, str(err.value)) == (status, message)


def test_json_patch_operation_limit_is_413():
    body = json.dumps([{"op": "test", "path": "/kind", "value": "Pod"}] * 10001).encode()
    with pytest.raises(PatchError) as err:
        apply_patch(POD, body, JSON)
    assert (err.value.status, err.value.reason) == (413, "RequestEntityTooLarge")
    assert str(err.value) == ("Request entity too large: The allowed maximum operations in a JSON patch is 10000, "
                              "got 10001")


def test_null_json_and_strategic_patches_change_nothing():
    assert apply_patch(POD, b"null", JSON) == POD
    assert apply_patch(POD, b"null", SMP) == POD
