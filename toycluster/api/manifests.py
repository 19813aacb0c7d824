"""kubectl apply -f's reader: manifests in Kubernetes YAML or JSON from files, folders and stdin.

load() gives (source, document) pairs, the source naming the file and, when it holds several documents, which
one ("app.yaml#2"); a List's items are expanded. Syntax errors are ManifestErrors naming file, line and column.
Nothing is validated here: that is validation.validate_all()'s job.
"""
import json
import os
import sys

import yaml

from toycluster.api.fields import ManifestError, show


class _Loader(yaml.SafeLoader):
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


def _parse(text, name, is_json=False):
    try:
        docs = [json.loads(text)] if is_json else list(yaml.load_all(text, Loader=_Loader))
    except json.JSONDecodeError as e:
        raise ManifestError(name, "", f"line {e.lineno}, column {e.colno}", f"invalid JSON: {e.msg}") from None
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
        if isinstance(doc, dict) and doc.get("kind") == "List":
            if not isinstance(doc.get("items"), list):
                raise ManifestError(src, f"List (document {n})", "items", "Required value: must be a list")
            out += [(f"{name}#{n}.items[{i}]", item) for i, item in enumerate(doc["items"])]
        else:
            out.append((src, doc))
    return out


def _read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return _parse(f.read(), path, path.endswith(".json"))
    except FileNotFoundError:
        raise ManifestError(path, "", "", f'the path "{path}" does not exist') from None
    except (OSError, UnicodeDecodeError) as e:
        raise ManifestError(path, "", "", f"cannot read: {e}") from None


def load(paths: list[str], stdin=None) -> list[tuple[str, dict]]:
    """(source, doc) pairs from files, folders (*.yaml, *.yml, *.json, sorted, not recursive) and "-"."""
    out = []
    for path in paths:
        if path == "-":
            out += _parse((sys.stdin if stdin is None else stdin).read(), "<stdin>")
        elif os.path.isdir(path):
            for name in sorted(os.listdir(path)):
                if name.endswith((".yaml", ".yml", ".json")) and os.path.isfile(os.path.join(path, name)):
                    out += _read(os.path.join(path, name))
        else:
            out += _read(path)
    return out
