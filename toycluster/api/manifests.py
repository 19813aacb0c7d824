"""kubectl apply -f's reader: manifests in Kubernetes YAML or JSON from files, folders and stdin.

load() gives (source, document) pairs, the source naming the file and, when it holds several documents, which
one ("app.yaml#2"); a List's items are expanded. Syntax errors are ManifestErrors naming file, line and column.
Nothing is validated here: that is validation.validate_all()'s job. Upstream's limits hold (yaml_json.py): a
file or stdin over 3 MiB is refused before it is read whole, an object over 3 MiB once decoded, alias bombs and
nesting past the limit with go-yaml's words.
"""
import json
import os
import sys

import yaml

from toycluster.api import yaml_json
from toycluster.api.fields import ManifestError, show


class _Loader(yaml_json.LimitedLoader):
    """Refuses duplicate keys (as kubectl does) and keeps dates as strings, so objects stay JSON."""

    def construct_mapping(self, node, deep=False):
        seen = []
        for key_node, _ in node.value:
            if key_node.tag != "tag:yaml.org,2002:merge":
                if (key := self.construct_object(key_node, deep=True)) in seen:
                    raise yaml.constructor.ConstructorError(None, None, f"key {show(key)} already set in map",
                                                            key_node.start_mark)
                seen.append(key)
        return super().construct_mapping(node, deep)


_Loader.yaml_implicit_resolvers = {c: [(tag, rx) for tag, rx in r if tag != "tag:yaml.org,2002:timestamp"]
                                   for c, r in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def _text(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ManifestError(name, "", f"byte {e.start}", f"invalid YAML: invalid UTF-8 (byte 0x{data[e.start]:02x}): "
                            "manifests are UTF-8 text") from None


def _parse(data, name, is_json=False):
    text = _text(data, name) if isinstance(data, bytes) else data
    try:
        docs = [yaml_json.loads_json(text)] if is_json else list(yaml.load_all(text, Loader=_Loader))
    except json.JSONDecodeError as e:
        raise ManifestError(name, "", f"line {e.lineno}, column {e.colno}", f"invalid JSON: {e.msg}") from None
    except ValueError as e:                       # loads_json's depth limit
        raise ManifestError(name, "", "", f"invalid JSON: {e}") from None
    except yaml.reader.ReaderError as e:
        why = f"control character #x{e.character:04x} is not allowed (is this a binary file?)" \
            if isinstance(e.character, int) else e.reason
        raise ManifestError(name, "", f"character {e.position + 1}", f"invalid YAML: {why}") from None
    except RecursionError:
        raise ManifestError(name, "", "", f"invalid YAML: {yaml_json.depth_message()}") from None
    except yaml.MarkedYAMLError as e:
        m, ctx = e.problem_mark or e.context_mark, ""
        if e.context and e.context_mark:
            ctx = f" ({e.context} at line {e.context_mark.line + 1})"
        if "'\\t'" in str(e.problem):
            ctx += " (indent with spaces: YAML does not allow tabs there)"
        raise ManifestError(name, "", f"line {m.line + 1}, column {m.column + 1}",
                            f"invalid YAML: {e.problem}{ctx}") from None
    except yaml.YAMLError as e:
        raise ManifestError(name, "", "", f"invalid YAML: {e}") from None
    docs, out = [d for d in docs if d is not None], []
    for n, doc in enumerate(docs, 1):
        src = f"{name}#{n}" if len(docs) > 1 else name
        try:
            yaml_json.check_size(doc, "the object")
        except yaml_json.TooLarge as e:
            raise ManifestError(src, "", "", str(e)) from None
        if isinstance(doc, dict) and doc.get("kind") == "List":
            if not isinstance(doc.get("items"), list):
                raise ManifestError(src, f"List (document {n})", "items", "Required value: must be a list")
            out += [(f"{name}#{n}.items[{i}]", item) for i, item in enumerate(doc["items"])]
        else:
            out.append((src, doc))
    return out


def _read(path):
    try:
        with open(path, "rb") as f:
            data = yaml_json.read_limited(f, "the file")
    except FileNotFoundError:
        raise ManifestError(path, "", "", f'the path "{path}" does not exist') from None
    except yaml_json.TooLarge as e:
        raise ManifestError(path, "", "", str(e)) from None
    except OSError as e:
        raise ManifestError(path, "", "", f"cannot read: {e.strerror or e}") from None
    return _parse(data, path, path.endswith(".json"))


def _read_stdin(stdin):
    try:
        return _parse(yaml_json.read_limited(getattr(stdin, "buffer", stdin), "standard input"), "<stdin>")
    except yaml_json.TooLarge as e:
        raise ManifestError("<stdin>", "", "", str(e)) from None


def load(paths: list[str], stdin=None) -> list[tuple[str, dict]]:
    """(source, doc) pairs from files, folders (*.yaml, *.yml, *.json, sorted, not recursive) and "-"."""
    out = []
    for path in paths:
        if path == "-":
            out += _read_stdin(sys.stdin if stdin is None else stdin)
        elif os.path.isdir(path):
            names = [n for n in sorted(os.listdir(path))
                     if n.endswith((".yaml", ".yml", ".json")) and os.path.isfile(os.path.join(path, n))]
            if not names:
                raise ManifestError(path, "", "", "error reading: recognized file extensions are "
                                    "[.json .yaml .yml]; the folder has no such file")
            for name in names:
                out += _read(os.path.join(path, name))
        else:
            out += _read(path)
    return out


def decode_body(body: bytes, ctype: str = "application/json"):
    """A request body as the API server's serializers decode it: JSON, or YAML for application/yaml (one
    document), under upstream's limits; ValueError with a one-line reason."""
    if len(body) > yaml_json.MAX_BODY:
        raise yaml_json.TooLarge(yaml_json.too_large_message())
    if ctype != "application/yaml":
        return yaml_json.loads_json(body)
    try:
        (_, doc), = _parse(body, "the request body") or [(None, None)]
    except ManifestError as e:
        raise ValueError(e.reason + (f" ({e.field})" if e.field else "")) from None
    except ValueError:
        raise ValueError("a YAML request body holds one document") from None
    return doc
