"""The graph as data: the cluster's namespaces, links and routes (kernel) joined with its objects (API), pure.

build() takes the cluster's config, a kernel snapshot (lab/kstate.snapshot's shape) and the API's objects, and
returns a Graph: clusters (boxes: the cloud, the node network, each node, its pods, the Services), nodes
(interfaces, bridges, pods, Services, Ingresses) and edges (veth pairs, routes, endpoints, backends, frontends).
A namespace with one interface of interest (a pod, the user, the public DNS, the machine) is drawn as one node; a
namespace that forwards (a node, the node network, the internet, the load balancer) as a box of its interfaces.
A veth pair is an edge labelled with its bridge port's name. Pods beyond LIMIT per node fold into "+N more".
lab/graph_join.py adds the API's half, lab/graph_overlay.py a trace's path; renderers are in lab/graph_render.py.
"""
from toycluster.lab import graph_join
from toycluster.lab.graph_join import role

HUBS = ("net", "inet", "lb")
VXLAN_DEV = "flannel.1"          # namespaces drawn as boxes of interfaces, with the nodes
LEAVES = {"user": "user", "dns": "public DNS"}


class Graph:
    """Clusters, nodes and edges in insertion order, and where each (netns, interface) is drawn."""

    def __init__(self, name: str):
        self.name, self.label = name, f"cluster {name}"
        self.clusters: dict[str, dict] = {}
        self.nodes: dict[str, dict] = {}
        self.edges: list[dict] = []
        self.where: dict[tuple, str] = {}          # (netns, ifname) -> node id; (netns, None) -> its main node
        self.notes: list[str] = []

    def cluster(self, cid: str, label: str, parent: str | None = None, kind: str = "group") -> str:
        self.clusters.setdefault(cid, {"id": cid, "label": label, "parent": parent, "kind": kind})
        return cid

    def node(self, nid: str, label: str, kind: str, cluster: str | None = None, **attrs) -> str:
        if nid not in self.nodes:
            self.nodes[nid] = {"id": nid, "label": label, "kind": kind, "cluster": cluster, **attrs}
        return nid

    def edge(self, a: str, b: str, kind: str, label: str = "", **attrs) -> dict:
        e = {"from": a, "to": b, "kind": kind, "label": label, **attrs}
        self.edges.append(e)
        return e

    def to_dict(self) -> dict:
        return {"cluster": self.name, "label": self.label, "clusters": list(self.clusters.values()),
                "nodes": list(self.nodes.values()), "edges": self.edges, "notes": self.notes}


def build(cfg, kernel: dict, api: dict, limit: int = 12, keep: set | None = None) -> Graph:
    """The whole picture. KEEP: pod namespaces never folded (those on a trace's path)."""
    g = Graph(cfg.name)
    g.label = (f"cluster {cfg.name}: nodes {cfg.node_cidr} ({cfg.overlay}), pods {cfg.pod_cidr}, "
               f"services {cfg.service_cidr}, internet {cfg.internet_cidr}")
    state, keep = kernel.get("netns", {}), keep or set()
    links = {(ns, x["name"]): x for ns, s in state.items() for x in s["links"]}
    g.cluster("cloud", "the cloud: internet, load balancer, user, public DNS", kind="cloud")
    for ns in sorted(state, key=lambda n: _order(cfg.name, n)):
        _namespace(g, cfg, ns, state[ns], api)
    pods_by_node = graph_join.pods(g, cfg, state, kernel.get("peers", []), api, limit, keep)
    for pair in kernel.get("peers", []):
        _veth(g, cfg, pair, links)
    for ns in sorted(state, key=lambda n: _order(cfg.name, n)):
        _forwards(g, cfg, ns, state[ns])
        _routes(g, cfg, ns, state[ns])
    graph_join.services(g, cfg, api, pods_by_node)
    return g


def _order(cluster: str, ns: str) -> tuple:
    r = role(cluster, ns)
    rank = {"root": 0, "user": 1, "dns": 2, "inet": 3, "lb": 4, "net": 5, "node": 6, "pod": 7}.get(r[0], 8)
    return (rank, r[1:] if r[0] != "pod" else (), ns)


def _addr(link: dict) -> str:
    return ", ".join(link["addrs"])


def _namespace(g: Graph, cfg, ns: str, s: dict, api: dict) -> None:
    """One namespace: a hub's box of interfaces, or a leaf's single node (pods are graph_join's)."""
    r = role(cfg.name, ns)
    live = [x for x in s["links"] if x["name"] != "lo"]
    if r[0] == "root":
        for x in live:
            nid = g.node(f"host:{x['name']}", f"this machine\n{x['name']} {_addr(x)}", "host")
            g.where[(ns, x["name"])] = g.where[(ns, None)] = nid
    elif r[0] in LEAVES:
        x = next((x for x in live if x["addrs"]), live[0] if live else None)
        nid = g.node(f"ns:{ns}", f"{LEAVES[r[0]]}\n{x['name']} {_addr(x)}" if x else LEAVES[r[0]], r[0],
                     "cloud", netns=ns)
        g.where[(ns, None)] = nid
        for x in live:
            g.where[(ns, x["name"])] = nid
    elif r[0] in HUBS or r[0] == "node":
        _hub(g, cfg, ns, s, r, api)


def _hub(g: Graph, cfg, ns: str, s: dict, r: tuple, api: dict) -> None:
    """A namespace that forwards: a box holding its bridges and its interfaces that are not bridge ports."""
    default = next((f"default via {x['via']}" for x in s["routes"] if x["dst"] == "default" and x["via"]), "")
    if r[0] == "node":
        name = f"node{r[1]}"
        status = graph_join.node_status(api, name)
        title = f"{name} ({ns}){' · ' + status if status else ''}{' · ' + default if default else ''}"
        cid = g.cluster(f"ns:{ns}", title, kind="node")
    else:
        title = {"net": "node network (VPC), router", "inet": "internet", "lb": "cloud load balancer"}[r[0]]
        if r[0] == "lb" and api.get("lb_status"):
            title += " · " + graph_join.lb_health(api["lb_status"])
        cid = g.cluster(f"ns:{ns}", f"{title} ({ns})", parent="cloud" if r[0] in ("inet", "lb") else None,
                        kind=r[0])
    by_index = {x["index"]: x for x in s["links"]}
    for x in s["links"]:
        if x["name"] == "lo":
            continue
        if x["master"] in by_index:                              # a bridge port: drawn on its pair's edge
            g.where[(ns, x["name"])] = f"if:{ns}:{by_index[x['master']]['name']}"
            continue
        kind = "bridge" if x["kind"] == "bridge" else "vxlan" if x["kind"] == "vxlan" else "interface"
        state = "" if x["up"] and x["carrier"] else " (down)" if not x["up"] else " (no carrier)"
        label = f"{x['name']}{' bridge' if kind == 'bridge' else ''}{state}\n{_addr(x) or 'no address'}"
        nid = g.node(f"if:{ns}:{x['name']}", label, kind, cid, netns=ns, interface=x["name"], addrs=x["addrs"],
                     mac=x["mac"])
        g.where[(ns, x["name"])] = nid
        g.where.setdefault((ns, None), nid)


def _end(g: Graph, ns: str, ifname: str, links: dict) -> tuple[str | None, str]:
    """Where one end of a veth is drawn, and the name it lends the edge's label (a bridge port's)."""
    x = links.get((ns, ifname))
    nid = g.where.get((ns, ifname))
    port = ifname if x and x["master"] is not None else ""
    return nid, port


def _veth(g: Graph, cfg, pair: tuple, links: dict) -> None:
    a_ns, a_if, b_ns, b_if = pair
    if role(cfg.name, a_ns)[0] == "pod" or role(cfg.name, b_ns)[0] == "pod":
        return                                                   # graph_join drew pods' pairs (or folded them)
    (a, pa), (b, pb) = _end(g, a_ns, a_if, links), _end(g, b_ns, b_if, links)
    if a and b:
        if _order(cfg.name, a_ns)[0] > _order(cfg.name, b_ns)[0]:    # drawn outside in: the cloud to the pods
            (a, pa, a_ns, a_if), (b, pb, b_ns, b_if) = (b, pb, b_ns, b_if), (a, pa, a_ns, a_if)
        g.edge(a, b, "veth", " ⇄ ".join(p for p in (pa, pb) if p),
               ends=[f"{a_ns or 'root'}/{a_if}", f"{b_ns or 'root'}/{b_if}"])


def _routes(g: Graph, cfg, ns: str, s: dict) -> None:
    """Routes through a gateway this picture holds (host-gw's and VXLAN's per-node routes, the router's): edges."""
    r = role(cfg.name, ns)
    if r[0] not in ("node", "net", "lb"):
        return
    holders = {a.split("/")[0]: nid for nid, n in g.nodes.items() for a in n.get("addrs", [])}
    for rt in s["routes"]:
        if rt["dst"] == "default" or not rt["via"] or rt["via"] not in holders:
            continue
        src, dst = g.where.get((ns, rt["dev"])), holders[rt["via"]]
        if not src or src == dst:
            continue
        text = f"{rt['dst']} via {rt['via']}" + (f" dev {rt['dev']} onlink" if rt["onlink"] else "")
        wire = next((e for e in g.edges if e["kind"] == "veth" and {e["from"], e["to"]} == {src, dst}), None)
        if wire:                                      # the route follows a cable already drawn: say it there
            wire.setdefault("routes", []).append(f"{ns}: {text}")
            wire["label"] += f"\n{text}"
        else:
            g.edge(src, dst, "route", text, netns=ns)


def _forwards(g: Graph, cfg, ns: str, s: dict) -> None:
    """Inside a node or the balancer, the kernel forwards between interfaces: an edge that says so."""
    r, names = role(cfg.name, ns), {x["name"] for x in s["links"]}
    pairs = {"node": [("eth0", "cni0", "routed"), ("eth0", VXLAN_DEV, "VXLAN (UDP 8472) over eth0")],
             "lb": [("eth1", "eth0", "DNAT + masquerade")]}.get(r[0], [])
    for a, b, text in pairs:
        if a in names and b in names and (ns, a) in g.where and (ns, b) in g.where:
            g.edge(g.where[(ns, a)], g.where[(ns, b)], "forward", text, netns=ns)
