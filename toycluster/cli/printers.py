"""kubectl's printers: the tables, JSON and YAML that `kubectl get` shows.

Re-expressed (not copied) from kubectl's table, JSON, YAML and name printers: the same tabwriter layout and
the same quoting; each kind's columns come from columns.py.
"""
from __future__ import annotations

import json
import time

import yaml

from toycluster.api.columns import HEADERS, labels, row

CLUSTER_SCOPED = {"Node", "Namespace"}
GROUPS = {"Deployment": "apps", "ReplicaSet": "apps", "Ingress": "networking.k8s.io",
          "NetworkPolicy": "networking.k8s.io", "EndpointSlice": "discovery.k8s.io"}
OUTPUTS = ("json", "name", "wide", "yaml")


_KINDS = {k.lower(): k for k in HEADERS}


def _tabwrite(rows: list[list[str]]) -> str:
    """Go's tabwriter as kubectl sets it up: each column but the last padded to its widest cell + 3, at least 6."""
    rows = [[c.split("\n")[0] + "..." if "\n" in c else c for c in r] for r in rows]
    widths = [max(6, max(len(r[i]) for r in rows) + 3) for i in range(len(rows[0]) - 1)]
    return "".join("".join(c.ljust(w) for c, w in zip(r, widths)) + r[-1] + "\n" for r in rows)


def table(kind: str, objs: list[dict], *, wide=False, all_namespaces=False, show_labels=False,
          now: float | None = None) -> str:
    """The text `kubectl get` prints: header and rows, newline-terminated; "" when there is nothing."""
    if not objs:
        return ""  # kubectl prints no header for an empty list; see no_resources()
    now = time.time() if now is None else now
    kind = _KINDS.get(kind.lower(), kind)
    cols, extra = HEADERS.get(kind, (["NAME", "AGE"], []))
    with_ns = all_namespaces and kind not in CLUSTER_SCOPED
    header = (["NAMESPACE"] if with_ns else []) + cols + (extra if wide else []) + (["LABELS"] if show_labels else [])
    rows = [header]
    for o in objs:
        meta = o.get("metadata", {})
        rows.append(([meta.get("namespace", "")] if with_ns else []) + row(kind, o, wide, now)
                    + ([labels(meta.get("labels"))] if show_labels else []))
    return _tabwrite(rows)


def no_resources(namespace: str | None, all_namespaces: bool) -> str:
    """kubectl's message (on stderr) when a list is empty; namespace None means a cluster-scoped kind."""
    if all_namespaces or namespace is None:
        return "No resources found"
    return f"No resources found in {namespace} namespace."


def as_list(objs: list[dict]) -> dict:
    return {"apiVersion": "v1", "items": objs, "kind": "List", "metadata": {"resourceVersion": ""}}


def _to_json(doc) -> str:
    """Go's json.MarshalIndent on kubectl's unstructured maps: sorted keys, 4 spaces, <>& escaped."""
    text = json.dumps(doc, indent=4, sort_keys=True, ensure_ascii=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                    ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return text + "\n"


class _GoYamlDumper(yaml.SafeDumper):
    """Quotes as sigs.k8s.io/yaml (go-yaml v2) does: double quotes for strings that would read
    back as something else ("", "80", "true", timestamps), a literal block for multi-line ones."""

    def represent_str(self, value: str):
        plain_is_str = self.resolve(yaml.ScalarNode, value, (True, False)) == "tag:yaml.org,2002:str"
        style = "|" if "\n" in value else None if plain_is_str else '"'
        return self.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_GoYamlDumper.add_representer(str, _GoYamlDumper.represent_str)


def _resource_name(kind: str, o: dict) -> str:
    kind = o.get("kind") or _KINDS.get(kind.lower(), kind)
    api = o.get("apiVersion", "")
    group = api.split("/")[0] if "/" in api else ("" if api else GROUPS.get(kind, ""))
    return f"{kind.lower()}{'.' + group if group else ''}/{o['metadata']['name']}"


def render(output: str | None, kind: str, objs: list[dict], *, single: bool, wide=False,
           all_namespaces=False, show_labels=False, now: float | None = None) -> str:
    """What `kubectl get -o OUTPUT` prints. single: the user named one object, so print it, not a List."""
    if output not in (None, "", *OUTPUTS):
        raise ValueError(f'unable to match a printer suitable for the output format "{output}", '
                         f"allowed formats are: {','.join(OUTPUTS)}")
    if output in (None, "", "wide"):
        return table(kind, objs, wide=wide or output == "wide", all_namespaces=all_namespaces,
                     show_labels=show_labels, now=now)
    if output == "name":
        return "".join(_resource_name(kind, o) + "\n" for o in objs)
    doc = objs[0] if single and len(objs) == 1 else as_list(objs)
    if output == "json":
        return _to_json(doc)
    return yaml.dump(doc, Dumper=_GoYamlDumper, sort_keys=True, default_flow_style=False, allow_unicode=True)
