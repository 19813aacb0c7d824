"""`toycluster graph` and `trace --diagram` without a cluster: the graph built from a fixed kernel snapshot and
API state (graph_input.json, read from a 2-node cluster with 5 pods), its renderings pinned by golden files, the
folding, a trace's overlay, the sequence diagram of the sample trace, and the bad inputs.

Regenerate the golden files after an intended change: UPDATE_GOLDEN=1 pytest tests/unit/lab/test_graph_render.py
"""
import copy
import dataclasses
import json
import os
import pathlib
import shutil
import xml.dom.minidom

import pytest

from toycluster.cli import graph as cli_graph
from toycluster.cli import main as cli_main
from toycluster.config import ClusterConfig
from toycluster.lab import diagram, graph_live, graph_model, graph_overlay, graph_render, kstate

HERE = pathlib.Path(__file__).parent
GOLDEN = HERE / "golden"
INPUT = json.loads((HERE / "graph_input.json").read_text())
SAMPLE = json.loads((HERE / "trace_sample.json").read_text())
CFG = ClusterConfig(**{f.name: INPUT["config"][f.name] for f in dataclasses.fields(ClusterConfig)
                        if f.name in INPUT["config"]})


def build(limit=12, trace=None, api=None):
    keep = graph_overlay.path_netns(trace) if trace else set()
    g = graph_model.build(CFG, INPUT["kernel"], api or INPUT["api"], limit=limit, keep=keep)
    if trace:
        graph_overlay.overlay(g, trace)
    return g.to_dict()


def golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), f"{name} changed: UPDATE_GOLDEN=1 rewrites it if the change is intended"


def by_id(graph: dict) -> dict:
    return {n["id"]: n for n in graph["nodes"]}


def test_graph_mermaid_golden():
    golden("graph.mmd", graph_render.to_mermaid(build()))


def test_graph_dot_golden():
    golden("graph.dot", graph_render.to_dot(build()))


def test_trace_sequence_mermaid_golden():
    golden("trace_sequence.mmd", diagram.to_mermaid(SAMPLE))


def test_trace_sequence_dot_golden():
    golden("trace_sequence.dot", diagram.to_dot(SAMPLE))


def test_the_graph_holds_nodes_bridges_pods_veths_and_services():
    g = build()
    nodes = by_id(g)
    pods = [n for n in g["nodes"] if n["kind"] == "pod"]
    assert len(pods) == 5 and all(p["ip"] and p["veth"].startswith("veth") for p in pods)
    assert nodes["if:h13g.node1:cni0"]["addrs"] == ["10.82.1.1/24"]
    assert nodes["if:h13g.net:br0"]["addrs"] == ["10.81.0.254/24"]
    for p in pods:      # each pod hangs off its node's cni0 by its veth, whose name the edge carries
        edge = next(e for e in g["edges"] if e["to"] == p["id"] and e["kind"] == "veth")
        assert edge["from"] == f"if:h13g.node{p['node']}:cni0" and edge["label"] == p["veth"]
        assert edge["ends"] == [f"h13g.node{p['node']}/{p['veth']}", f"{p['netns']}/eth0"]
    assert {"svc:default/web", "svc:kube-system/kube-dns", "ing:default/web"} <= nodes.keys()
    assert "ClusterIP 10.83.71.225" in nodes["svc:default/web"]["label"]
    ends = {(e["from"], e["to"]) for e in g["edges"] if e["kind"] == "veth"}
    assert ("if:h13g.net:br0", "if:h13g.node1:eth0") in ends and ("host:h13g-host", "if:h13g.net:br0") in ends
    routes = [e for e in g["edges"] if e["kind"] == "route"]
    assert any(e["label"] == "10.82.2.0/24 via 10.81.0.12" for e in routes)        # host-gw, node to node
    assert any(e["kind"] == "frontend" and e["to"] == "svc:ingress/ingress-nginx-controller" for e in g["edges"])


def test_pods_beyond_the_limit_fold_into_one_node_and_keep_their_names():
    g = build(limit=1)
    nodes = by_id(g)
    more = nodes["more:node1"]
    assert more["label"] == f"+{len(more['pods'])} more pods" and len(more["pods"]) == 3
    shown = [n for n in g["nodes"] if n["kind"] == "pod" and n["node"] == 1]
    assert [n["name"] for n in shown] == ["coredns-5c8cb96c6b-whrqn"]        # the cluster's own pods first
    endpoints = [e for e in g["edges"] if e["kind"] == "endpoint" and e["from"] == "svc:default/web"]
    assert [(e["to"], e["label"]) for e in endpoints] == [("more:node1", "3 endpoints :8080")]


def test_many_endpoints_in_one_box_become_one_edge_to_the_box():
    g = build()
    e = [e for e in g["edges"] if e["kind"] == "endpoint" and e["from"] == "svc:default/web"]
    assert len(e) == 1 and e[0]["lhead"] == "pods:node1" and e[0]["label"] == "3 endpoints :8080"
    assert "lhead=cluster_" in graph_render.to_dot(g) and '"| c' in graph_render.to_mermaid(g)


def test_a_pod_the_api_has_but_the_kernel_has_not_says_so():
    api = copy.deepcopy(INPUT["api"])
    api["pods"].append({"metadata": {"name": "late", "namespace": "default"}, "spec": {"nodeName": "node2"},
                        "status": {"phase": "Pending"}})
    late = by_id(build(api=api))["pod:default/late"]
    assert late["cluster"] == "pods:node2" and "no sandbox" in late["label"] and "Pending" in late["label"]


def test_a_trace_is_laid_over_the_graph_with_its_rewrites():
    web = next(p for p in INPUT["api"]["pods"] if p["metadata"]["name"].startswith("web"))
    trace = copy.deepcopy(SAMPLE)
    for h in trace["hops"]:
        h["netns"] = h["netns"].replace("toy.pod.default.web-abc", f"h13g.pod.default.{web['metadata']['name']}")
        h["netns"] = h["netns"].replace("toy.", "h13g.")
    g = build(limit=1, trace=trace)
    nodes = by_id(g)
    assert nodes[f"pod:default/{web['metadata']['name']}"]["on_path"]                 # never folded
    assert any("DNAT 203.0.113.10:80 → 192.168.50.12:30080" in r for r in nodes["if:h13g.lb:eth1"]["rewrites"])
    path = [e for e in g["edges"] if e["kind"].startswith("path")]
    assert path[0]["from"] == "ns:h13g.user" and path[0]["to"] == "if:h13g.lb:eth1"
    assert path[-1]["kind"] == "path-reply" and path[-1]["to"] == "ns:h13g.user"
    assert "trace: user → http://web.example/" in g["label"]
    assert g["notes"] == ["trace hops not found in this cluster's namespaces: 6, 7, 8"]   # that pod is not here
    assert "linkStyle" in graph_render.to_mermaid(g)


def test_sequence_diagram_participants_messages_and_notes():
    parts, events = diagram.events(SAMPLE)
    assert parts[0] == "user eth0" and parts[1] == "DNS 203.0.113.53" and parts[-1] == "default/web-abc eth0"
    text = diagram.to_mermaid(SAMPLE)
    assert text.startswith("sequenceDiagram\n")
    assert "Note over p2: 2: DNAT 203.0.113.10:80 → 192.168.50.12:30080 (nat LB-FE-6B2F0F6D2C1C0F2A #35;1)" in text
    assert "-->>p0: 14 203.0.113.10:80 → 203.0.113.100:40000 P." in text          # the reply, dashed
    assert text.rstrip().endswith("✔ HTTP 200 from web-abc (10.244.1.3:8080)")


def test_a_failed_trace_says_where_it_stopped():
    trace = copy.deepcopy(SAMPLE)
    trace["hops"] = trace["hops"][:4]
    trace["result"] = {"ok": False, "summary": "no answer", "stopped_at": 4, "why": "REJECT: no endpoints"}
    assert "✘ no answer stopped at hop 4: REJECT: no endpoints" in diagram.to_mermaid(trace)


@pytest.mark.skipif(not shutil.which("neato"), reason="Graphviz is not installed")
def test_sequence_svg_is_drawn_by_graphviz(tmp_path):
    svg = diagram.to_svg(SAMPLE)
    doc = xml.dom.minidom.parseString(svg)
    assert doc.documentElement.tagName == "svg" and b"XQ4M3NTOZ2GW5VDK" in svg
    assert diagram.write(SAMPLE, str(tmp_path / "t.mmd")) == "mermaid"
    assert diagram.write(SAMPLE, str(tmp_path / "t.svg")) == "svg"


@pytest.mark.skipif(not shutil.which("dot"), reason="Graphviz is not installed")
def test_graph_svg_and_png_are_drawn_by_graphviz():
    g = build()
    assert xml.dom.minidom.parseString(graph_render.render(g, "svg")).documentElement.tagName == "svg"
    assert graph_render.render(g, "png").startswith(b"\x89PNG")


def test_veth_pairs_are_matched_by_the_peer_namespace_id():
    state = {"a": {"links": [{"index": 5, "name": "veth1", "kind": "veth", "peer_index": 2, "peer_nsid": 0}],
                   "nsids": {0: "p1", 1: "p2"}},
             "b": {"links": [{"index": 5, "name": "veth2", "kind": "veth", "peer_index": 2, "peer_nsid": 1}],
                   "nsids": {1: "p2"}},
             "p1": {"links": [{"index": 2, "name": "eth0", "kind": "veth", "peer_index": 5, "peer_nsid": 0}]},
             "p2": {"links": [{"index": 2, "name": "eth0", "kind": "veth", "peer_index": 5, "peer_nsid": 0}]}}
    assert kstate.pairs(state) == [("a", "veth1", "p1", "eth0"), ("b", "veth2", "p2", "eth0")]


@pytest.mark.parametrize("content, says", [(None, "cannot read it"), ("{", "not JSON"), ("[]", "not a trace"),
                                           ('{"hops": [{"n": 1}]}', "not a valid trace")])
def test_bad_path_files_are_named(tmp_path, content, says):
    path = tmp_path / "t.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(graph_live.BadInput, match=f"--path {path}: {says}"):
        graph_live.load_trace(str(path))


def test_cli_errors_exit_2(capsys, monkeypatch):
    monkeypatch.setattr(cli_main.lifecycle, "require_root", lambda: None)
    assert cli_main.main(["--cluster", "nosuchc", "graph", "-o", "json"]) == 2
    assert "cluster nosuchc does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        cli_main.main(["graph", "-o", "gif"])
    assert e.value.code == 2 and "invalid choice: 'gif'" in capsys.readouterr().err


def test_cli_format_from_the_out_file():
    class A:
        output, out = None, "x.SVG"
    assert cli_graph._format(A) == "svg"
    A.out = "x.txt"
    assert cli_graph._format(A) == "mermaid"
