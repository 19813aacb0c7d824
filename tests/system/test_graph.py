"""`toycluster graph` on a real 2-node cluster (issue 15, the graph): what the kernel and the API hold, drawn.

One cluster of the module's own (names and ranges from conftest), torn down whatever happens: a pod on each node
and a Service over both. `graph -o json` lists the nodes (cni0 with its gateway address, eth0 with the node's), each
pod with the IP the API gives and the veth whose peer is the pod's eth0 (checked against `ip -j -d link`), the
Services with their ClusterIPs and endpoints, the node network and the cloud; `-o svg` is an SVG; `--path` lays a
real `toycluster trace -o json` over the graph, every hop placed; the sequence diagram of the same trace is written.
Bad input exits 2 naming what was wrong. Traffic: one HTTP request between the test's own two pods.
"""
import json
import xml.dom.minidom

import pytest

from conftest import cluster_up, pod_yaml, sh


@pytest.fixture(scope="module")
def lab():
    with cluster_up() as c:
        svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "echo"},
               "spec": {"selector": {"role": "echo"}, "ports": [{"port": 80, "targetPort": 8080}]}}
        c.apply("---\n".join([pod_yaml("echo-a", "toycluster/echo", node=1, port=8080, labels={"role": "echo"}),
                              pod_yaml("echo-b", "toycluster/echo", node=2, port=8080, labels={"role": "echo"}),
                              json.dumps(svc) + "\n"]))
        pods = {p["metadata"]["name"]: p for p in c.wait_running(names=["echo-a", "echo-b"])}
        c.ip = {n: p["status"]["podIP"] for n, p in pods.items()}
        yield c


def graph_json(c, *extra) -> dict:
    return json.loads(c.ok("graph", "-o", "json", *extra))


def test_json_lists_nodes_pods_veth_peers_and_services(lab):
    g = graph_json(lab)
    nodes = {n["id"]: n for n in g["nodes"]}
    for n in (1, 2):
        ns = f"{lab.name}.node{n}"
        assert nodes[f"if:{ns}:eth0"]["addrs"] == [f"{lab.node_ip(n)}/24"]
        assert nodes[f"if:{ns}:cni0"]["addrs"] == [f"{lab.pod_subnet(n)[1]}/24"]
        assert any(c["id"] == f"ns:{ns}" for c in g["clusters"])
    for name, n in (("echo-a", 1), ("echo-b", 2)):
        pod = nodes[f"pod:default/{name}"]
        assert pod["ip"] == lab.ip[name] and pod["node"] == n and pod["cluster"] == f"pods:node{n}"
        veth = next(e for e in g["edges"] if e["kind"] == "veth" and e["to"] == pod["id"])
        assert veth["from"] == f"if:{lab.name}.node{n}:cni0" and veth["label"] == pod["veth"]
        # the kernel agrees: that veth, on that node, is cni0's port and its peer is index 2 of another namespace
        link = json.loads(sh(f"ip -n {lab.name}.node{n} -j -d link show {pod['veth']}", check=True).stdout)[0]
        assert link["master"] == "cni0" and link["link_index"] == 2 and "link_netnsid" in link
    svc = nodes["svc:default/echo"]
    api_svc = json.loads(lab.ok("get", "service", "echo", "-o", "json"))
    assert svc["clusterIP"] == api_svc["spec"]["clusterIP"] and f"ClusterIP {svc['clusterIP']}" in svc["label"]
    endpoints = {e["to"] for e in g["edges"] if e["kind"] == "endpoint" and e["from"] == "svc:default/echo"}
    assert endpoints == {"pod:default/echo-a", "pod:default/echo-b"}
    assert nodes[f"if:{lab.name}.net:br0"]["kind"] == "bridge"
    assert {f"ns:{lab.name}.user", f"if:{lab.name}.lb:eth1", f"host:{lab.name}-host"} <= nodes.keys()
    ends = [e["ends"] for e in g["edges"] if e["kind"] == "veth" and e.get("ends")]
    assert [f"{lab.name}.net/node1", f"{lab.name}.node1/eth0"] in ends


def test_svg_and_mermaid(lab, tmp_path):
    out = tmp_path / "cluster.svg"
    lab.ok("graph", "--out", out)                           # the format from the extension
    doc = xml.dom.minidom.parse(str(out))
    assert doc.documentElement.tagName == "svg" and lab.ip["echo-a"] in out.read_text()
    text = lab.ok("graph")                                  # Mermaid by default
    assert "flowchart LR" in text and lab.ip["echo-b"] in text


def test_path_overlays_a_real_trace_and_its_diagram(lab, tmp_path):
    trace = tmp_path / "trace.json"
    p = lab.run("trace", "--from", "echo-a", f"http://{lab.ip['echo-b']}:8080/", "-o", "json",
                "--diagram", tmp_path / "seq.mmd", timeout=60)
    assert p.returncode == 0, p.stderr
    trace.write_text(p.stdout)
    g = graph_json(lab, "--path", trace)
    assert g["notes"] == [], g["notes"]                      # every hop placed
    path = [e for e in g["edges"] if e["kind"] in ("path", "path-reply")]
    assert path[0]["from"] == "pod:default/echo-a" and any(e["to"] == "pod:default/echo-b" for e in path)
    assert any(e["kind"] == "path-reply" for e in path)
    assert "trace: echo-a" in g["label"]
    seq = (tmp_path / "seq.mmd").read_text()
    assert seq.startswith("sequenceDiagram") and "default/echo-b eth0" in seq


def test_bad_input_exits_2_naming_it(lab, tmp_path):
    p = lab.run("graph", "-o", "gif")
    assert p.returncode == 2 and "invalid choice: 'gif'" in p.stderr
    p = lab.run("graph", "--path", tmp_path / "missing.json")
    assert p.returncode == 2 and "missing.json: cannot read it" in p.stderr
    (tmp_path / "bad.json").write_text("[1, 2]")
    p = lab.run("graph", "--path", tmp_path / "bad.json")
    assert p.returncode == 2 and "bad.json: not a trace" in p.stderr
    from conftest import run
    p = run("graph", cluster="nosuch9")
    assert p.returncode == 2 and "cluster nosuch9 does not exist" in p.stderr
