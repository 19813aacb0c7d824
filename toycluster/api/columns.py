"""kube-apiserver's table convertors (pkg/printers' table generators): the row `kubectl get` prints for each kind.

Re-expressed (not copied) from kubernetes' printers and apimachinery's HumanDuration: the same columns and
cell rules (a pod's STATUS and RESTARTS, a node's ROLES, a Service's PORT(S), …). printers.py lays them out.
"""
from __future__ import annotations

from datetime import datetime

NONE = "<none>"


_LB_WIDTH = 16  # kubectl clips load-balancer addresses to 16 characters unless -o wide


def human_duration(seconds: float) -> str:
    """apimachinery's HumanDuration: about two significant figures ("59s", "2m5s", "3h", "2d4h")."""
    s = int(seconds)  # truncates toward zero, as Go's int(d.Seconds())
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = m // 60
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    if h < 24 * 8:
        return f"{h // 24}d{h % 24}h" if h % 24 else f"{h // 24}d"
    if h < 24 * 365 * 2:
        return f"{h // 24}d"
    if h < 24 * 365 * 8:
        y, d = divmod(h // 24, 365)
        return f"{y}y{d}d" if d else f"{y}y"
    return f"{h // 24 // 365}y"


def _epoch(ts: str | None) -> float | None:
    return datetime.fromisoformat(ts).timestamp() if ts else None


def since(ts: str | None, now: float) -> str:
    t = _epoch(ts)
    return "<unknown>" if t is None else human_duration(now - t)


def labels(m: dict | None) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((m or {}).items())) or NONE


def _selector(sel: dict | None, empty: str = NONE) -> str:
    """metav1.FormatLabelSelector: matchLabels and matchExpressions, sorted by key."""
    reqs = [(k, f"{k}={v}") for k, v in (sel or {}).get("matchLabels", {}).items()]
    for e in (sel or {}).get("matchExpressions", []):
        k, op, vals = e["key"], e["operator"], ",".join(sorted(e.get("values", [])))
        text = {"In": f"{k} in ({vals})", "NotIn": f"{k} notin ({vals})",
                "Exists": k, "DoesNotExist": f"!{k}"}.get(op, "<error>")
        reqs.append((k, text))
    return ",".join(t for _, t in sorted(reqs)) or empty


def _cond_true(conds: list | None, ctype: str) -> bool:
    return any(c.get("type") == ctype and c.get("status") == "True" for c in conds or [])


def _containers(obj: dict) -> list[str]:
    cs = obj.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
    return [",".join(c.get("name", "") for c in cs), ",".join(c.get("image", "") for c in cs)]


def _lb(status: dict, wide: bool) -> str:
    ing = (status.get("loadBalancer") or {}).get("ingress") or []
    r = ",".join(sorted({i.get("ip") or i.get("hostname") for i in ing} - {None, ""}))
    return r if wide or len(r) <= _LB_WIDTH else r[:_LB_WIDTH - 3] + "..."


def _more(items: list[str], count: int, empty: str) -> str:
    """The first three entries, then kubectl's " + N more..."."""
    text = ",".join(items[:3])
    return f"{text} + {count - 3} more..." if count > 3 else (text or empty)


def _term_reason(term: dict) -> str:
    """Why a container terminated: its reason, else Signal:N or ExitCode:N."""
    sig = term.get("signal")
    return term.get("reason") or (f"Signal:{sig}" if sig else f"ExitCode:{term.get('exitCode', 0)}")


def _finished(cs: dict) -> float:
    return _epoch(((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt")) or 0.0


def _init_containers(st: dict, inits: list, sidecars: set) -> tuple:
    """Restarts and last finish of the init containers (and of the sidecars among them), the sidecars ready,
    and "Init:..." while one of them has not finished (else None), as kubectl's printPod walks them."""
    restarts = side_restarts = ready = 0
    last = side_last = 0.0
    for i, cs in enumerate(st.get("initContainerStatuses", [])):
        restarts += cs.get("restartCount", 0)
        last = max(last, _finished(cs))
        if cs.get("name") in sidecars:
            side_restarts += cs.get("restartCount", 0)
            side_last = max(side_last, _finished(cs))
        state = cs.get("state") or {}
        term, wait = state.get("terminated"), state.get("waiting")
        if term is not None and term.get("exitCode", 0) == 0:
            continue
        if cs.get("name") in sidecars and cs.get("started"):
            ready += bool(cs.get("ready"))
            continue
        if term is not None:
            return restarts, last, side_restarts, side_last, ready, "Init:" + _term_reason(term)
        if wait and wait.get("reason") and wait["reason"] != "PodInitializing":
            return restarts, last, side_restarts, side_last, ready, "Init:" + wait["reason"]
        return restarts, last, side_restarts, side_last, ready, f"Init:{i}/{len(inits)}"
    return restarts, last, side_restarts, side_last, ready, None


def _pod(p: dict, wide: bool, now: float) -> list[str]:
    meta, spec, st = p["metadata"], p.get("spec", {}), p.get("status", {})
    inits = spec.get("initContainers", [])
    sidecars = {c["name"] for c in inits if c.get("restartPolicy") == "Always"}
    total = len(spec.get("containers", [])) + len(sidecars)
    phase = st.get("phase", "")
    reason = st.get("reason") or phase
    if any(c.get("type") == "PodScheduled" and c.get("reason") == "SchedulingGated"
           for c in st.get("conditions", [])):
        reason = "SchedulingGated"
    restarts, last, side_restarts, side_last, ready, init_reason = _init_containers(st, inits, sidecars)
    initializing = init_reason is not None
    reason = init_reason or reason
    if not initializing or _cond_true(st.get("conditions"), "Initialized"):
        restarts, last, running = side_restarts, side_last, False
        for cs in reversed(st.get("containerStatuses", [])):  # the first container's reason wins
            restarts += cs.get("restartCount", 0)
            last = max(last, _finished(cs))
            state = cs.get("state") or {}
            term, wait = state.get("terminated"), state.get("waiting")
            if wait and wait.get("reason"):
                reason = wait["reason"]
            elif term is not None:
                reason = _term_reason(term)
            elif cs.get("ready") and state.get("running") is not None:
                running, ready = True, ready + 1
        if reason == "Completed" and running:
            reason = "Running" if _cond_true(st.get("conditions"), "Ready") else "NotReady"
    if meta.get("deletionTimestamp") and st.get("reason") == "NodeLost":
        reason = "Unknown"
    elif meta.get("deletionTimestamp") and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"
    shown = f"{restarts} ({human_duration(now - last)} ago)" if restarts and last else str(restarts)
    row = [meta["name"], f"{ready}/{total}", reason, shown, since(meta.get("creationTimestamp"), now)]
    if wide:
        ips = st.get("podIPs") or []
        gates = spec.get("readinessGates") or []
        gated = (f"{sum(_cond_true(st.get('conditions'), g['conditionType']) for g in gates)}/{len(gates)}"
                 if gates else NONE)
        row += [(ips[0].get("ip") if ips else st.get("podIP")) or NONE, spec.get("nodeName") or NONE,
                st.get("nominatedNodeName") or NONE, gated]
    return row


def _node(n: dict, wide: bool, now: float) -> list[str]:
    meta, st = n["metadata"], n.get("status", {})
    ready = [c for c in st.get("conditions", []) if c.get("type") == "Ready"]
    status = ["Unknown" if not ready else "Ready" if ready[-1].get("status") == "True" else "NotReady"]
    if n.get("spec", {}).get("unschedulable"):
        status.append("SchedulingDisabled")
    roles = set()
    for k, v in (meta.get("labels") or {}).items():
        if k.startswith("node-role.kubernetes.io/") and k[24:]:
            roles.add(k[24:])
        elif k == "kubernetes.io/role" and v:
            roles.add(v)
    info = st.get("nodeInfo", {})
    row = [meta["name"], ",".join(status), ",".join(sorted(roles)) or NONE,
           since(meta.get("creationTimestamp"), now), info.get("kubeletVersion", "")]
    if wide:
        addr = {}
        for a in st.get("addresses", []):
            addr.setdefault(a.get("type"), a.get("address"))
        row += [addr.get("InternalIP", NONE), addr.get("ExternalIP", NONE)]
        row += [info.get(k) or "<unknown>" for k in ("osImage", "kernelVersion", "containerRuntimeVersion")]
    return row


def _service(s: dict, wide: bool, now: float) -> list[str]:
    spec = s.get("spec", {})
    typ = spec.get("type", "ClusterIP")
    ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    ext = ",".join(spec.get("externalIPs") or [])
    if typ in ("ClusterIP", "NodePort"):
        ext = ext or NONE
    elif typ == "LoadBalancer":
        ext = ",".join(x for x in (_lb(s.get("status", {}), wide), ext) if x) or "<pending>"
    else:
        ext = spec.get("externalName", "") if typ == "ExternalName" else "<unknown>"
    ports = ",".join(f"{p['port']}:{p['nodePort']}/{p.get('protocol', 'TCP')}" if p.get("nodePort")
                     else f"{p['port']}/{p.get('protocol', 'TCP')}" for p in spec.get("ports") or [])
    row = [s["metadata"]["name"], typ, ips[0] if ips else NONE, ext, ports or NONE,
           since(s["metadata"].get("creationTimestamp"), now)]
    return row + [labels(spec.get("selector"))] if wide else row


def _endpoints(e: dict) -> str:
    shown, count = [], 0
    for ss in e.get("subsets") or []:
        addrs = [a["ip"] for a in ss.get("addresses") or []]
        for port in ss.get("ports") or [None]:  # headless services may have no ports
            count += len(addrs)
            for ip in addrs:
                if port is None:
                    shown.append(ip)
                else:
                    shown.append(f"[{ip}]:{port['port']}" if ":" in ip else f"{ip}:{port['port']}")
    return _more(shown, count, "") if e.get("subsets") else NONE


def _ingress(i: dict, wide: bool) -> list[str]:
    spec = i.get("spec", {})
    rules = spec.get("rules") or []
    hosts, more = [], False
    for r in rules:  # up to three hosts; "more" only once a rule comes after the third host
        more = more or len(hosts) == 3
        if not more and r.get("host"):
            hosts.append(r["host"])
    hosts_s = (",".join(hosts) or "*") + (f" + {len(rules) - 3} more..." if more else "")
    return [spec.get("ingressClassName") or NONE, hosts_s, _lb(i.get("status", {}), wide),
            "80, 443" if spec.get("tls") else "80"]


def _slice_ports(ports: list) -> list[str]:
    return [str(p["port"]) if p.get("port") is not None
            else p["name"] if p.get("name") is not None else "*" for p in ports]


def _meta_row(o: dict, cells: list[str], now: float) -> list[str]:
    return [o["metadata"]["name"], *cells, since(o["metadata"].get("creationTimestamp"), now)]


def row(kind: str, o: dict, wide: bool, now: float) -> list[str]:
    spec, st = o.get("spec", {}), o.get("status", {})
    if kind == "Pod":
        return _pod(o, wide, now)
    if kind == "Node":
        return _node(o, wide, now)
    if kind == "Service":
        return _service(o, wide, now)
    if kind == "Deployment":
        row = _meta_row(o, [f"{st.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
                            str(st.get("updatedReplicas", 0)), str(st.get("availableReplicas", 0))], now)
        return row + _containers(o) + [_selector(spec.get("selector"), "")] if wide else row
    if kind == "ReplicaSet":
        row = _meta_row(o, [str(spec.get("replicas", 1)), str(st.get("replicas", 0)),
                            str(st.get("readyReplicas", 0))], now)
        return row + _containers(o) + [_selector(spec.get("selector"))] if wide else row
    slices = o.get("endpoints") or []
    cells = {
        "Namespace": lambda: [st.get("phase", "")],
        "Endpoints": lambda: [_endpoints(o)],
        "EndpointSlice": lambda: [
            o.get("addressType", ""),
            _more(_slice_ports(o.get("ports") or []), len(o.get("ports") or []), "<unset>"),
            _more([a for ep in slices for a in ep.get("addresses", [])],
                  sum(len(ep.get("addresses", [])) for ep in slices), "<unset>")],
        "Ingress": lambda: _ingress(o, wide),
        "NetworkPolicy": lambda: [_selector(spec.get("podSelector"))],
        "Secret": lambda: [o.get("type", "Opaque"), str(len(o.get("data") or {}))],
        "ConfigMap": lambda: [str(len(o.get("data") or {}) + len(o.get("binaryData") or {}))],
        "Lease": lambda: [spec.get("holderIdentity") or ""],
    }.get(kind, lambda: [])  # any other kind: kubectl's default NAME AGE
    return _meta_row(o, cells(), now)


HEADERS = {  # kind: (columns, extra columns for -o wide)
    "Pod": (["NAME", "READY", "STATUS", "RESTARTS", "AGE"], ["IP", "NODE", "NOMINATED NODE", "READINESS GATES"]),
    "Node": (["NAME", "STATUS", "ROLES", "AGE", "VERSION"],
             ["INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"]),
    "Namespace": (["NAME", "STATUS", "AGE"], []),
    "Deployment": (["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"], ["CONTAINERS", "IMAGES", "SELECTOR"]),
    "ReplicaSet": (["NAME", "DESIRED", "CURRENT", "READY", "AGE"], ["CONTAINERS", "IMAGES", "SELECTOR"]),
    "Service": (["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"], ["SELECTOR"]),
    "Endpoints": (["NAME", "ENDPOINTS", "AGE"], []),
    "EndpointSlice": (["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"], []),
    "Ingress": (["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"], []),
    "NetworkPolicy": (["NAME", "POD-SELECTOR", "AGE"], []),
    "Secret": (["NAME", "TYPE", "DATA", "AGE"], []),
    "ConfigMap": (["NAME", "DATA", "AGE"], []),
    "Lease": (["NAME", "HOLDER", "AGE"], []),
}
