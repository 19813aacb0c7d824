"""Unit tests for toycluster.api.manifests: files, folders and stdin read as `kubectl apply -f` reads them (no root)."""
import io
import json

import pytest
import yaml

from toycluster.api.fields import ManifestError
from toycluster.api.manifests import load
from toycluster.api.validation import validate_all

NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1"},
       "spec": {"containers": [{"name": "web", "image": "python"}]}}
SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
           "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}


def write(tmp_path, name, *docs):
    path = tmp_path / name
    path.write_text("---\n".join(d if isinstance(d, str) else yaml.safe_dump(d, sort_keys=False) for d in docs))
    return str(path)


def test_folder_loading_is_sorted_and_not_recursive(tmp_path):
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub", "deep.yaml", POD)
    write(tmp_path, "b-svc.yml", SERVICE)
    write(tmp_path, "a-ns.yaml", NAMESPACE)
    (tmp_path / "c-cm.json").write_text(json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                                                    "metadata": {"name": "cfg"}}))
    write(tmp_path, "notes.txt", "not: a manifest")
    pairs = load([str(tmp_path)])
    assert [(s.rsplit("/", 1)[1], d["kind"]) for s, d in pairs] == [
        ("a-ns.yaml", "Namespace"), ("b-svc.yml", "Service"), ("c-cm.json", "ConfigMap")]


def test_stdin_and_empty_documents():
    text = "---\n" + yaml.safe_dump(NAMESPACE) + "---\n---\n" + yaml.safe_dump(POD) + "---\n"
    pairs = load(["-"], stdin=io.StringIO(text))
    assert [(s, d["kind"]) for s, d in pairs] == [("<stdin>#1", "Namespace"), ("<stdin>#2", "Pod")]
    assert load(["-"], stdin=io.StringIO(yaml.safe_dump(POD))) == [("<stdin>", POD)]
    assert load(["-"], stdin=io.StringIO("")) == []


def test_list_is_expanded(tmp_path):
    path = write(tmp_path, "list.yaml", {"apiVersion": "v1", "kind": "List", "items": [NAMESPACE, POD]}, SERVICE)
    pairs = load([path])
    assert pairs == [(f"{path}#1.items[0]", NAMESPACE), (f"{path}#1.items[1]", POD), (f"{path}#2", SERVICE)]
    bad = write(tmp_path, "bad.yaml", {"apiVersion": "v1", "kind": "List", "items": [NAMESPACE, ["x"]]})
    with pytest.raises(ManifestError, match=r"bad.yaml#1.items\[1\]: document 1.items\[1\]: must be a mapping"):
        validate_all(load([bad]))


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    path = write(tmp_path, "broken.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n labels: {}\n")
    with pytest.raises(ManifestError) as info:
        load([path])
    assert str(info.value).startswith(f"{path}: line 5, column 2: invalid YAML: ")


def test_yaml_error_mentions_where_the_construct_began(tmp_path):
    path = write(tmp_path, "quote.yaml", 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: "web\n')
    with pytest.raises(ManifestError, match=r"line 5, column 1: .* \(while scanning a quoted scalar at line 4\)"):
        load([path])
    tabs = write(tmp_path, "tabs.yaml", "metadata:\n\tname: web\n")
    with pytest.raises(ManifestError, match=r"tabs.yaml: line 2, column 1: .*indent with spaces"):
        load([tabs])


def test_duplicate_yaml_key_is_an_error(tmp_path):
    path = write(tmp_path, "dup.yaml", "apiVersion: v1\nkind: Pod\nkind: Service\nmetadata: {name: x}\n")
    with pytest.raises(ManifestError, match=r'dup.yaml: line 3, column 1: invalid YAML: key "kind" already set'):
        load([path])
    merged = write(tmp_path, "merge.yaml", "base: &b {a: 1, b: 2}\nmine:\n  <<: *b\n  b: 3\n")
    assert load([merged])[0][1]["mine"] == {"a": 1, "b": 3}


def test_dates_stay_strings(tmp_path):
    path = write(tmp_path, "cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {day: 2024-01-31}\n")
    assert load([path])[0][1]["data"]["day"] == "2024-01-31"


def test_json_error_and_missing_path(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text('{"apiVersion": "v1",\n "kind": }')
    with pytest.raises(ManifestError, match=r"x.json: line 2, column 10: invalid JSON"):
        load([str(bad)])
    with pytest.raises(ManifestError, match=r'nope.yaml: the path ".*nope.yaml" does not exist'):
        load([str(tmp_path / "nope.yaml")])
