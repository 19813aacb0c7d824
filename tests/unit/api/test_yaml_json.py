"""Unit tests for toycluster.api.yaml_json and the manifest reader's limits: upstream's 3 MiB body, go-yaml's
alias budget (billion laughs), the nesting limit; each refused with a one-line reason and without reading,
expanding or recursing without bound (no root)."""
import io
import time

import pytest
import yaml

from toycluster.api import yaml_json
from toycluster.api.fields import ManifestError
from toycluster.api.manifests import decode_body, load


def laughs(levels: int = 9, width: int = 9) -> str:
    """The billion laughs: each level a list of WIDTH aliases to the one before (9**9 strings expanded)."""
    text = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol}\ndata:\n  l0: &l0 ["lol", "lol"]\n'
    for i in range(1, levels + 1):
        text += f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]\n"
    return text


def load_text(text: str | bytes):
    return load(["-"], stdin=io.BytesIO(text.encode() if isinstance(text, str) else text))


def refused(text) -> str:
    with pytest.raises(ManifestError) as e:
        load_text(text)
    assert "\n" not in str(e.value)
    return str(e.value)


def test_alias_bomb_is_refused_at_once_in_go_yamls_words():
    t = time.monotonic()
    assert refused(laughs()) == "<stdin>: invalid YAML: document contains excessive aliasing"
    assert time.monotonic() - t < 1


def test_merge_key_bomb_is_refused_too():
    text = "a0: &a0 {x: 1, y: 2}\n" + "".join(f"a{i}: &a{i} {{<<: [*a{i - 1}, *a{i - 1}], k{i}: 1}}\n"
                                              for i in range(1, 40))
    assert refused(text).endswith("document contains excessive aliasing")


def test_ordinary_aliases_and_merge_keys_still_work():
    text = "base: &b {app: web, tier: front}\none: *b\ntwo: {<<: *b, tier: back}\nlist: [*b, *b, *b]\n"
    (_, doc), = load_text(text)
    assert doc["two"] == {"app": "web", "tier": "back"} and doc["list"] == [doc["base"]] * 3
    # go-yaml's budget lets 99 % of decodes come through aliases up to 400,000 decodes: 2,000 aliases pass
    (_, doc), = load_text("a: &a [1, 2, 3]\nb: [" + ", ".join(["*a"] * 2000) + "]\n")
    assert len(doc["b"]) == 2000


def test_an_anchor_that_contains_itself():
    assert refused("a: &a [1, *a]\n") == "<stdin>: invalid YAML: anchor 'a' value contains itself"


@pytest.mark.parametrize("text", ["x: " + "[" * 10000 + "]" * 10000, "x: " + "{a: " * 10000 + "}" * 10000,
                                  "".join("  " * i + "- \n" for i in range(400))])
def test_deep_nesting_is_refused_without_recursion_error(text):
    message = refused(text)
    assert f"invalid YAML: exceeded max depth of {yaml_json.MAX_DEPTH}" in message and "10000" in message


def test_nesting_up_to_the_limit_is_fine():
    depth = yaml_json.MAX_DEPTH
    (_, doc), = load_text("[" * depth + "]" * depth)
    assert yaml_json.depth(doc) == depth


def test_deep_json_file_is_refused(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text('{"a":' * 5000 + "1" + "}" * 5000)
    with pytest.raises(ManifestError, match="invalid JSON: exceeded max depth of"):
        load([str(path)])


class Endless(io.RawIOBase):
    """A 200 MB (or endless) stream that counts what is read from it."""

    def __init__(self):
        self.given = 0

    def readable(self):
        return True

    def readinto(self, b):
        n = len(b)
        b[:n] = b"#" * n
        self.given += n
        return n


def test_a_huge_input_is_refused_after_reading_just_past_the_limit():
    stream = io.BufferedReader(Endless())
    with pytest.raises(ManifestError) as e:
        load(["-"], stdin=stream)
    assert str(e.value) == ("<stdin>: standard input is larger than 3 MiB: the API server refuses request bodies "
                            "over 3145728 bytes (Request entity too large: limit is 3145728)")
    assert stream.raw.given <= yaml_json.MAX_BODY + 2 * io.DEFAULT_BUFFER_SIZE


def test_a_file_over_3_mib_is_refused(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_bytes(b"a: " + b"x" * (4 << 20) + b"\n")
    with pytest.raises(ManifestError, match="the file is larger than 3 MiB"):
        load([str(path)])
    path.write_bytes(b"a: " + b"x" * (yaml_json.MAX_BODY - 10) + b"\n")
    assert len(load([str(path)])[0][1]["a"]) == yaml_json.MAX_BODY - 10


def test_an_object_over_3_mib_once_aliases_are_expanded():
    text = f"kind: ConfigMap\nbig: &s {'x' * 4000}\nmany: [{', '.join(['*s'] * 1000)}]\n"
    assert refused(text).endswith("the object is larger than 3 MiB: the API server refuses request bodies over "
                                  "3145728 bytes (Request entity too large: limit is 3145728)")


def test_non_utf8_binary_and_tabs_get_one_line_reasons(tmp_path):
    assert refused(b"\xff\xfe\x00garbage") == ("<stdin>: byte 0: invalid YAML: invalid UTF-8 (byte 0xff): "
                                                "manifests are UTF-8 text")
    assert refused(b"a: \x01\x02") == ("<stdin>: character 4: invalid YAML: control character #x0001 is not "
                                       "allowed (is this a binary file?)")
    assert "YAML does not allow tabs" in refused("a:\n\tb: 1\n")
    with pytest.raises(ManifestError, match="recognized file extensions are"):
        load([str(tmp_path)])


def test_request_bodies_decode_under_the_same_limits():
    assert decode_body(b'{"a": 1}') == {"a": 1}
    assert decode_body(b"a: [1, 2]", "application/yaml") == {"a": [1, 2]}
    with pytest.raises(ValueError, match="exceeded max depth"):
        decode_body(b"[" * 5000 + b"]" * 5000)
    with pytest.raises(ValueError, match="excessive aliasing"):
        decode_body(laughs().encode(), "application/yaml")
    with pytest.raises(yaml_json.TooLarge):
        decode_body(b" " * (yaml_json.MAX_BODY + 1))


def test_alias_budget_ratio_is_go_yamls():
    assert yaml_json._allowed_alias_ratio(1000) == 0.99
    assert yaml_json._allowed_alias_ratio(4_000_000) == pytest.approx(0.10)
    assert yaml_json._allowed_alias_ratio(2_200_000) == pytest.approx(0.545)
    node = yaml.compose("a: &a [1]\nb: [*a, *a]\n", Loader=yaml_json.LimitedLoader)
    yaml_json.check_aliases(node)               # a few aliases: no complaint
