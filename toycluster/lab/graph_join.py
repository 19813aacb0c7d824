"""The graph's API half: pods placed on their nodes' bridges, Services with their virtual IPs and endpoints,
Ingresses with their backends, the load balancer's frontends (pure; called by lab/graph_model.build).

A pod is joined by its network namespace's name (`<cluster>.pod.<namespace>.<name>`): the kernel says where its
veth's other end is (which node, which port of cni0), the API what it is (IP, phase, readiness). A pod the kernel
has and the API has not (or the other way round) is drawn too, and says so.
"""
from toycluster.cloud import lb as cloudlb

MAX_RULE_LINES = 6
MAX_EDGES_PER_BOX = 2          # endpoint edges into one node's pods before they become one edge to the box


def role(cluster: str, ns: str) -> tuple:
    """('root',) ('net',) ('node', N) ('pod', namespace, name) ('user',) ... for a namespace name."""
    if ns == "":
        return ("root",)
    rest = ns[len(cluster) + 1:]
    if rest.startswith("pod."):
        namespace, _, name = rest[4:].partition(".")
        return ("pod", namespace, name)
    if rest.startswith("node") and rest[4:].isdigit():
        return ("node", int(rest[4:]))
    return (rest,)


def _key(obj: dict) -> tuple:
    m = obj["metadata"]
    return (m.get("namespace") or "default", m["name"])


def _short(namespace: str, name: str) -> str:
    return name if namespace == "default" else f"{namespace}/{name}"


def node_status(api: dict, name: str) -> str:
    """The Node's Ready condition as kubectl prints it (Ready, NotReady, Unknown), or "" without Nodes."""
    for node in api.get("nodes") or []:
        if node["metadata"]["name"] == name:
            cond = next((c for c in (node.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"),
                        None)
            return {"True": "Ready", "False": "NotReady"}.get((cond or {}).get("status"), "Unknown")
    return ""


def lb_health(status: dict) -> str:
    """The balancer's view of the nodes (lb/status.json): which are in rotation."""
    states: dict[str, set] = {}
    for fe in status.get("frontends") or []:
        for t in fe.get("targets") or []:
            states.setdefault(t.get("node", "?"), set()).add(t.get("state", "?"))
    ok = [n for n, s in sorted(states.items()) if s == {"healthy"}]
    out = [n for n, s in sorted(states.items()) if s != {"healthy"}]
    return "in rotation: " + (", ".join(ok) or "none") + (f"; out: {', '.join(out)}" if out else "")


def _pod_places(cfg, state: dict, peers: list) -> dict:
    """{(namespace, name): (pod netns, its IP, node N or None, node-side veth or None)} from the kernel."""
    out = {}
    for ns, s in state.items():
        r = role(cfg.name, ns)
        if r[0] != "pod":
            continue
        ip = next((a.split("/")[0] for x in s["links"] if x["name"] != "lo" for a in x["addrs"]), "")
        node, veth = None, None
        for a_ns, a_if, b_ns, b_if in peers:
            if ns in (a_ns, b_ns):
                other_ns, other_if = (b_ns, b_if) if a_ns == ns else (a_ns, a_if)
                if role(cfg.name, other_ns)[0] == "node":
                    node, veth = role(cfg.name, other_ns)[1], other_if
        out[(r[1], r[2])] = (ns, ip, node, veth)
    return out


def pods(g, cfg, state: dict, peers: list, api: dict, limit: int, keep: set) -> dict:
    """Every pod on its node (kernel first, the API's nodeName else), folded beyond LIMIT a node.
    Returns {"by_key": {(namespace, name): node id}, "by_ip": {ip: node id}} for the endpoints."""
    places = _pod_places(cfg, state, peers)
    objects = {_key(p): p for p in api.get("pods") or []}
    per_node: dict = {}
    for key in sorted(set(places) | set(objects)):
        pod = objects.get(key) or {}
        ns, ip, node, veth = places.get(key, (cfg.pod_ns(*key), "", None, None))
        if node is None:
            name = (pod.get("spec") or {}).get("nodeName") or ""
            node = int(name[4:]) if name.startswith("node") and name[4:].isdigit() else None
        ip = ip or (pod.get("status") or {}).get("podIP") or ""
        per_node.setdefault(node, []).append({"namespace": key[0], "name": key[1], "netns": ns, "ip": ip,
                                              "veth": veth, "node": node, "in_kernel": key in places,
                                              "in_api": key in objects, "phase": _phase(pod)})
    found = {"by_key": {}, "by_ip": {}}
    for node in sorted(per_node, key=lambda n: (n is None, n or 0)):
        _node_pods(g, cfg, node, per_node[node], limit, keep, found)
    return found


def _phase(pod: dict) -> str:
    status = pod.get("status") or {}
    if not pod:
        return ""
    if pod["metadata"].get("deletionTimestamp"):
        return "Terminating"
    phase = status.get("phase") or "Pending"
    ready = all(c.get("ready") for c in status.get("containerStatuses") or [{}])
    return phase if phase != "Running" or ready else "Running, not ready"


def _node_pods(g, cfg, node: int | None, entries: list, limit: int, keep: set, found: dict) -> None:
    if node is None:
        cid = g.cluster("pods:none", "pods on no node (not scheduled yet)", kind="pods")
        node_ns = None
    else:
        node_ns = cfg.node_ns(node)
        cid = g.cluster(f"pods:node{node}", f"pods on node{node} ({len(entries)})", parent=f"ns:{node_ns}",
                        kind="pods")
    entries.sort(key=lambda e: (e["netns"] not in keep, e["namespace"] == "default", e["namespace"], e["name"]))
    shown, hidden = (entries, []) if not limit or len(entries) <= limit else (entries[:limit], entries[limit:])
    for e in shown:
        status = [] if e["phase"] == "Running" else [e["phase"] or "not in the API"]
        if not e["in_kernel"] and e["in_api"]:
            status.append("no sandbox")
        label = "\n".join([_short(e["namespace"], e["name"]), e["ip"] or "no IP"] + ([", ".join(status)] if status
                                                                                    else []))
        nid = g.node(f"pod:{e['namespace']}/{e['name']}", label, "pod", cid, **{k: e[k] for k in (
            "namespace", "name", "ip", "netns", "node", "veth", "phase")})
        _place(g, node_ns, e, nid, found)
        if e["veth"] and (bridge := g.where.get((node_ns, e["veth"]))):
            g.edge(bridge, nid, "veth", e["veth"], ends=[f"{node_ns}/{e['veth']}", f"{e['netns']}/eth0"])
    if hidden:
        nid = g.node(f"more:node{node}", f"+{len(hidden)} more pods", "more", cid,
                     pods=[{k: e[k] for k in ("namespace", "name", "ip", "veth")} for e in hidden])
        for e in hidden:
            _place(g, node_ns, e, nid, found)
        bridge = next((g.where[(node_ns, e["veth"])] for e in hidden if (node_ns, e["veth"]) in g.where), None)
        if bridge:
            g.edge(bridge, nid, "veth", f"{len(hidden)} veths", ends=[])


def _place(g, node_ns, e: dict, nid: str, found: dict) -> None:
    found["by_key"][(e["namespace"], e["name"])] = nid
    if e["ip"]:
        found["by_ip"][e["ip"]] = nid
    g.where[(e["netns"], None)] = g.where[(e["netns"], "eth0")] = nid


def _service_label(svc: dict) -> tuple[str, dict]:
    spec, status = svc.get("spec") or {}, svc.get("status") or {}
    kind = spec.get("type") or "ClusterIP"
    lines = [f"svc {'/'.join(_key(svc))}"]
    if kind == "ExternalName":
        lines.append(f"ExternalName → {spec.get('externalName', '')}")
    elif spec.get("clusterIP") in (None, "", "None"):
        lines.append("headless (no virtual IP)")
    else:
        lines.append(f"{kind} {spec['clusterIP']}")
    for p in spec.get("ports") or []:
        node_port = f" · NodePort {p['nodePort']}" if p.get("nodePort") else ""
        lines.append(f"{p['port']}/{p.get('protocol') or 'TCP'} → {p.get('targetPort', p['port'])}{node_port}")
    external = [i.get("ip") or i.get("hostname") for i in (status.get("loadBalancer") or {}).get("ingress") or []]
    if external:
        lines.append("EXTERNAL-IP " + ", ".join(external))
    return "\n".join(lines), {"type": kind, "clusterIP": spec.get("clusterIP"), "ports": spec.get("ports") or [],
                              "externalIPs": external}


def services(g, cfg, api: dict, found: dict) -> None:
    """Services with their endpoints, Ingresses with their backends, the balancer's frontends."""
    svcs = sorted(api.get("services") or [], key=_key)
    if not svcs and not api.get("ingresses"):
        return
    cid = g.cluster("services", "Services (virtual IPs: kube-proxy's rules on every node) and Ingresses",
                    kind="services")
    holders = {a.split("/")[0]: nid for nid, n in g.nodes.items() for a in n.get("addrs", [])}
    for svc in svcs:
        label, attrs = _service_label(svc)
        nid = g.node(f"svc:{'/'.join(_key(svc))}", label, "service", cid, **attrs)
        _endpoints(g, svc, nid, api.get("slices") or [], found, holders)
    for ing in sorted(api.get("ingresses") or [], key=_key):
        _ingress(g, ing, cid)
    lb_if = g.where.get((cloudlb.netns(cfg, "lb"), "eth1"))
    per_service: dict = {}
    for ip, port, node_port, name in cloudlb.frontends(svcs, cfg):
        per_service.setdefault(name.rpartition(":")[0], []).append(f"{ip}:{port} → nodes:{node_port}")
    for key, lines in per_service.items():
        if lb_if and f"svc:{key}" in g.nodes:
            g.edge(lb_if, f"svc:{key}", "frontend", "\n".join(lines))


def _endpoints(g, svc: dict, nid: str, slices: list, found: dict, holders: dict) -> None:
    ns, name = _key(svc)
    targets: dict[str, list] = {}
    box: dict[str, str] = {}
    for sl in slices:
        meta = sl["metadata"]
        if meta.get("namespace", "default") != ns or (meta.get("labels") or {}).get(
                "kubernetes.io/service-name") != name:
            continue
        ports = ",".join(sorted({str(p["port"]) for p in sl.get("ports") or [] if p.get("port") is not None}))
        for ep in sl.get("endpoints") or []:
            ref, ip = ep.get("targetRef") or {}, (ep.get("addresses") or [""])[0]
            target = (found["by_key"].get((ref.get("namespace", ns), ref.get("name"))) if ref.get("kind") == "Pod"
                      else None) or found["by_ip"].get(ip) or holders.get(ip)
            if target:
                ready = (ep.get("conditions") or {}).get("ready", True) is not False
                targets.setdefault(target, []).append((ip, ports, ready))
    groups: dict[str, list] = {}                      # many endpoints in one node's pods: one edge to the box
    for target in targets:
        groups.setdefault(g.nodes[target]["cluster"] if g.nodes[target]["kind"] in ("pod", "more") else target,
                          []).append(target)
    for group, members in groups.items():
        if len(members) > MAX_EDGES_PER_BOX:
            eps = [ep for t in members for ep in targets.pop(t)]
            targets[members[0]] = eps
            box[members[0]] = group
    for target, eps in targets.items():
        ports = sorted({p for _, p, _ in eps if p})
        label = (f"{len(eps)} endpoints" if len(eps) > 1 else "endpoint") + (f" :{'/'.join(ports)}" if ports else "")
        unready = sum(1 for *_, r in eps if not r)
        e = g.edge(nid, target, "endpoint", label + (f" ({unready} not ready)" if unready else ""),
                   ready=not unready, addresses=[ip for ip, _, _ in eps])
        if target in box:
            e["lhead"] = box[target]


def _ingress(g, ing: dict, cid: str) -> None:
    spec = ing.get("spec") or {}
    nid = g.node(f"ing:{'/'.join(_key(ing))}", "", "ingress", cid)
    lines, backends = [f"ingress {'/'.join(_key(ing))}"], {}

    def backend(b: dict, where: str) -> None:
        s = (b or {}).get("service") or {}
        if s.get("name"):
            port = (s.get("port") or {}).get("number") or (s.get("port") or {}).get("name") or ""
            lines.append(f"{where} → {s['name']}:{port}")
            backends.setdefault(f"svc:{_key(ing)[0]}/{s['name']}", []).append(where)

    backend(spec.get("defaultBackend"), "(default)")
    for rule in spec.get("rules") or []:
        for path in ((rule.get("http") or {}).get("paths")) or []:
            backend(path.get("backend"), f"{rule.get('host') or '*'}{path.get('path') or '/'}")
    shown = lines[:MAX_RULE_LINES + 1] + ([f"… {len(lines) - MAX_RULE_LINES - 1} more"]
                                         if len(lines) > MAX_RULE_LINES + 1 else [])
    g.nodes[nid]["label"] = "\n".join(shown)
    for target, wheres in backends.items():
        if target in g.nodes:
            g.edge(nid, target, "backend", ", ".join(wheres[:3]) + (" …" if len(wheres) > 3 else ""))
