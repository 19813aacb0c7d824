"""`toycluster graph` on a live cluster: its inputs read (the kernel's namespaces, the API's objects, the balancer's
health file), the graph built, a trace laid over it, the output rendered.

Everything is read once, without forking: lab/kstate's netlink dumps, five list calls on the API's socket,
lb/status.json. The pure parts are graph_model (build), graph_overlay (--path) and graph_render (formats).
"""
import json

from toycluster.api import client as apiclient
from toycluster.config import ClusterConfig
from toycluster.lab import graph_model, graph_overlay, graph_render, kstate, trace_model

API_KINDS = {"pods": "Pod", "services": "Service", "slices": "EndpointSlice", "ingresses": "Ingress",
             "nodes": "Node"}


class BadInput(ValueError):
    """A --path file that cannot be read or is not a trace: the message names it."""


def load_trace(path: str) -> dict:
    """The trace in PATH (`toycluster trace -o json`), checked and normalised by lab/trace_model."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise BadInput(f"--path {path}: cannot read it: {e.strerror}") from None
    except UnicodeDecodeError:
        raise BadInput(f"--path {path}: not a text file (give the JSON of `toycluster trace -o json`)") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise BadInput(f"--path {path}: not JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("hops"), list):
        raise BadInput(f"--path {path}: not a trace (expected the JSON of `toycluster trace -o json`, "
                       "an object with a \"hops\" list)")
    try:
        return trace_model.Trace.from_dict(raw).to_dict()
    except (TypeError, KeyError, ValueError, AttributeError) as e:
        raise BadInput(f"--path {path}: not a valid trace ({type(e).__name__}: {e})") from None


def read_api(cluster: str) -> dict:
    """The API's objects the graph joins (every namespace), and the balancer's health as it last wrote it."""
    c = apiclient.Client(cluster, timeout=10)
    api = {key: c.list(kind) for key, kind in API_KINDS.items()}
    cfg = ClusterConfig.load(cluster)
    try:
        with open(f"{cfg.state_dir}/lb/status.json") as f:
            api["lb_status"] = json.load(f)
    except (OSError, ValueError):
        api["lb_status"] = None
    return api


def graph(cluster: str, trace: dict | None = None, limit: int = 12) -> dict:
    """The live cluster's graph as data, with TRACE laid over it."""
    cfg = ClusterConfig.load(cluster)
    api = read_api(cluster)
    kernel = kstate.snapshot(cluster, cfg.host_link)
    keep = graph_overlay.path_netns(trace) if trace else set()
    g = graph_model.build(cfg, kernel, api, limit=limit, keep=keep)
    if trace:
        graph_overlay.overlay(g, trace)
    return g.to_dict()


def render(cluster: str, fmt: str, trace: dict | None = None, limit: int = 12) -> bytes:
    return graph_render.render(graph(cluster, trace, limit), fmt)
