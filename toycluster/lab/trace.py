"""`toycluster trace`: one real request, captured at every interface it crosses, explained hop by hop.

run() resolves the source and the target (DNS first when a name is given, asked as the source's resolver
asks), arms packet sockets in every namespace of the cluster (trace_capture), sends the request from inside
the source's namespace (trace_request), drains the captures, follows this request's packets through them
(trace_follow) and names every rewrite's rule and object (trace_rules). A request that fails is diagnosed
by diagnose(): the hop where it stopped and why. Nothing is written into any rule table, so a second trace
can run at the same time (each follows its own packets) and `iptables-save` is the same after as before.
"""
from __future__ import annotations

import fcntl
import os
import socket
import struct
import time

from toycluster.cluster.lifecycle import UsageError
from toycluster.kernel import nsfs
from toycluster.lab import trace_rules
from toycluster.lab.trace_capture import Capture, key
from toycluster.lab.trace_follow import HopBuilder, connection_keys, proxied, shown_keys
from toycluster.lab.trace_model import Change, Connection, Request, Result, Trace
from toycluster.lab.trace_request import TAG_HEADER, Target, is_ip, parse_target, resolve, send
from toycluster.lab.trace_state import Source, State

SETTLE = 0.005          # s after the answer, for packets still crossing the last veths


def run(cluster: str, source: str, target_text: str, proto: str = "tcp", namespace: str = "default",
        timeout: float = 1.5, state: State | None = None) -> Trace:
    """Trace one request from SOURCE to TARGET_TEXT; unknown names raise UsageError (exit 2)."""
    state = state or State.load(cluster)
    src = state.source(source, namespace)
    target = parse_target(target_text, proto)
    trace = Trace(Request(source, target_text, proto, False))
    if is_ip(target.host):
        target.ip = target.host
    else:
        if src.kind in ("host", "node"):
            raise UsageError(f"{target.host}: {src.name} resolves names with the machine's resolv.conf; "
                             "give an address (or --from a pod or user)")
        target.ip, trace.dns = resolve(src.netns, target.host)
        if target.ip is None:
            last = trace.dns[-1] if trace.dns else None
            raise UsageError(f'name "{target.host}" not found' + (
                f" ({last.rcode} from {last.server}; tried {', '.join(last.tried)})" if last else ""))
    tag = os.urandom(8).hex()
    cap = Capture(nsfs.list_netns(f"{cluster}.") + ([None] if src.netns is None else []),
                  host_link=state.cfg.host_link).arm()
    try:
        outcome = send(src.netns, target, proto, tag, timeout, f"{state.cfg.state_dir}/pki/ca.crt")
        time.sleep(SETTLE)
    finally:
        cfg = state.cfg
        peers = {**{f"node{n}": cfg.node_ns(n) for n in range(1, cfg.nodes + 1)}, "lb": f"{cfg.name}.lb", "host": "host"}
        sightings = cap.stop(cfg.net_ns, peers, state.links())
    build(state, trace, src, target, outcome, sightings, tag)
    return trace


def build(state: State, trace: Trace, src: Source, target: Target, outcome, sightings, tag: str) -> None:
    """Fill TRACE's connections, hops and result from the sightings of this request."""
    proto, origin, c = trace.request.proto, src.netns or "host", outcome.client
    req1, rep1 = connection_keys(sightings, origin, c, proto)
    trace.connections = [Connection(1, f"{c[0]}:{c[1]}", f"{c[2]}:{c[3]}", proto)]
    px = proxied(sightings, f"{TAG_HEADER}: {tag}".encode(), set(req1 + rep1)) if target.scheme else None
    shown2, after = [], None
    if px:
        req2, rep2 = connection_keys(sightings, px[0], px[1], "tcp")
        shown2 = [(k, leg, 2) for k, leg in shown_keys(sightings, req2, rep2, None)]
        shown_set = {k for k, _, _ in shown2}        # positions in the captures' causal order, not clock times
        times = [i for i, s in enumerate(sightings) if key(s.pkt) in shown_set]   # (the clock can step back)
        after = max(times) if times else None
        trace.connections[0].continues_as = 2
        trace.connections.append(Connection(2, f"{px[1][0]}:{px[1][1]}", f"{px[1][2]}:{px[1][3]}", "tcp",
                                            opened_by=f"the ingress controller ({state.where(px[0])})"))
    shown = [(k, leg, 1) for k, leg in shown_keys(sightings, req1, rep1, after)] + shown2
    builder = HopBuilder(state, sightings)
    trace.hops = builder.hops(shown)
    trace.origins = {}                     # connection -> the namespace that made its first answer (not in JSON)
    for k, leg, conn in shown:
        if leg == "reply":
            trace.origins.setdefault(conn, builder.origin(k))
    if px:
        _mark_proxy(state, trace, px, target)
    trace.result = result(state, trace, src, target, outcome)


def _mark_proxy(state: State, trace: Trace, px: tuple, target: Target) -> None:
    """The first hop of the proxy's connection says which Ingress rule opened it, joining the two."""
    first = next((h for h in trace.hops if h.connection == 2), None)
    if first is None:
        return
    from toycluster.ingress.routes import build_routes
    backend = build_routes(state.objects.get("Ingress", [])).match(target.host.lower(), target.path.split("?")[0])
    obj = (f"Ingress {backend.ingress}, rule {target.host}{backend.path} -> Service {backend.namespace}/"
           f"{backend.service}:{backend.port}") if backend else "the ingress controller's default backend"
    c1 = trace.connections[0]
    proxy = Change("PROXY", object=obj, before=f"{c1.client} -> {c1.server}",
                   after=f"{px[1][0]}:{px[1][1]} -> {px[1][2]}:{px[1][3]}")
    if first.change is None:
        first.change = proxy
    else:
        first.also.insert(0, proxy)
    first.note = "the ingress controller ended connection 1" + (" (TLS ends here)" if target.scheme == "https"
                                                                  else "") + " and sends the request on connection 2"


def result(state: State, trace: Trace, src: Source, target: Target, outcome) -> Result:
    if outcome.ok:
        last = max((h.connection for h in trace.hops), default=1)
        back = next((h for h in trace.hops if h.connection == last and h.leg == "reply"), None)
        who = f" from {state.describe_ip(back.src)} ({back.src}:{back.sport})" if back else ""
        return Result(True, f"{outcome.status}{who}")
    if outcome.error is None and outcome.status:          # an answer came, just not a good one (HTTP 4xx, 5xx)
        return _answered(state, trace, outcome)
    stopped_at, why = diagnose(state, trace, src, target, outcome)
    return Result(False, f"{outcome.error}", stopped_at, why)


def _answered(state: State, trace: Trace, outcome) -> Result:
    """Who answered OUTCOME's status: the backend, or a proxy on the way that answered itself."""
    last = max((h.connection for h in trace.hops), default=1)
    back = next((h for h in trace.hops if h.leg == "reply" and h.connection == last), None)   # where it began
    if back is None:
        return Result(False, outcome.status, None, f"{outcome.status}, from an answer the capture did not see")
    who = f"{state.describe_ip(back.src)} ({back.src}:{back.sport})"
    alone = last == 1 and any(h.change and h.change.what == "DNAT" for h in trace.hops) and \
        "ingress" in state.describe_ip(back.src)
    why = f"{outcome.status} answered by {who}" + (
        ": the ingress controller answered itself and opened no connection to a backend (no ready endpoint "
        "behind the Ingress's Service?)" if alone else "")
    return Result(False, outcome.status, back.n, why)


def diagnose(state: State, trace: Trace, src: Source, target: Target, outcome) -> tuple[int | None, str]:
    """(the hop where the request stopped, why), from what came back (RST, ICMP) or did not."""
    hops = trace.hops
    conn = max((h.connection for h in hops), default=1)
    reqs = [h for h in hops if h.leg == "request" and h.connection == conn]
    origin = getattr(trace, "origins", {}).get(conn)
    back = next((h for h in hops if h.leg == "reply" and h.connection == conn and h.netns == origin),
                next((h for h in hops if h.leg == "reply" and h.connection == conn), None))
    if not reqs:
        return None, f"{outcome.error}: the packet never left {src.name} ({target.ip} unreachable from there)"
    last = reqs[-1]
    if back is not None and back.flags and back.flags.startswith("icmp 3/") and back.flags != "icmp 3/3":
        return _at(reqs, back.netns), f"no route: {back.where} answered {outcome.error} for {last.dst}"
    if back is not None and back.flags == "icmp 3/3":
        return _rejected(state, reqs, back)
    if back is not None and back.flags and "R" in back.flags:
        return _reset(state, reqs, back, last)
    if last.netns == f"{state.cfg.name}.lb" and state.node_by_ip(last.dst):
        n = state.node_by_ip(last.dst)
        down = "" if link_up(state, f"node{n}") else f" (node{n} is down: its link to the node network is down)"
        return last.n, (f"timed out at the load balancer: it sent the connection to node{n} "
                        f"({last.dst}:{last.dport}), which never answered{down}")
    node = state.node_of_netns(last.netns)
    if node is not None:
        first = next(h for h in reqs if h.netns == last.netns)
        ch = trace_rules.node_verdict(state, node, first.src, first.dst, first.dport, trace.request.proto,
                                      src.kind == "node")
        if ch is not None:
            last.change = last.change or ch
            return last.n, (f"dropped by kube-proxy's rule {ch.table} {ch.chain} #{ch.rule} \"{ch.comment}\" on "
                            f"node{node} ({ch.object}): {outcome.error}")
    pod = state.pod_by_ip(last.dst)
    if pod is not None:
        ch = trace_rules.policy_change(state, reqs[0].src if src.kind == "pod" else last.src, last.dst,
                                       last.dport, trace.request.proto)
        if ch is not None:
            last.change = last.change or ch
            return last.n, f"dropped by {ch.object}: {ch.comment}"
    m = state.node_of_pod_ip(last.dst) or state.node_by_ip(last.dst)
    if m and not link_up(state, f"node{m}"):
        return last.n, (f"{outcome.error}: {last.dst} is on node{m}, which is down (its link to the node network "
                        f"is down): the packet got no further than {last.where} {last.interface}")
    return last.n, f"{outcome.error}: no answer after {last.where} {last.interface}"


def _at(reqs, netns) -> int:
    """The last request hop in NETNS (where the packet stopped), else the last one."""
    here = [h for h in reqs if h.netns == netns]
    return (here or reqs)[-1].n


def _rejected(state, reqs, back) -> tuple[int, str]:
    if back.netns.startswith(f"{state.cfg.name}.pod."):
        last = reqs[-1]
        return last.n, (f"refused by the {back.where}: nothing listens on {last.dst}:{last.dport} "
                        "(ICMP port unreachable)")
    node = state.node_of_netns(back.netns)
    here = [h for h in reqs if h.netns == back.netns]
    first = here[0] if here else reqs[-1]
    ch = None
    if node is not None:
        local = first.where == back.where and first.src == state.cfg.node_ip(node)
        ch = trace_rules.node_verdict(state, node, first.src, first.dst, first.dport, "tcp", local)
    stop = _at(reqs, back.netns)
    if ch is not None:
        hop = next(h for h in reqs if h.n == stop)
        hop.change = hop.change or ch
        return stop, (f"REJECT by kube-proxy's rule {ch.table} {ch.chain} #{ch.rule} \"{ch.comment}\" on "
                      f"{back.where} ({ch.object}): ICMP port unreachable, the client sees 'connection refused'")
    return stop, f"rejected at {back.where}: ICMP port unreachable"


def _reset(state, reqs, back, last) -> tuple[int, str]:
    if back.netns.startswith(f"{state.cfg.name}.pod."):
        return last.n, f"refused by the {back.where}: nothing listens on {last.dst}:{last.dport} (TCP reset)"
    stop = _at(reqs, back.netns)
    hop = next(h for h in reqs if h.n == stop)
    ch = trace_rules.policy_change(state, reqs[0].src, hop.dst, hop.dport, "tcp")
    if ch is not None:
        hop.change = hop.change or ch
        return stop, f"rejected by {ch.object} on {back.where}: {ch.comment}"
    if back.netns == f"{state.cfg.name}.lb":
        return stop, "reset by the load balancer: no healthy node behind this frontend"
    return stop, f"reset by {back.where}"


def link_up(state: State, port: str) -> bool:
    """Is the node network's port PORT (the node's cable) up? (SIOCGIFFLAGS in <cluster>.net)"""
    try:
        with nsfs.in_netns(state.cfg.net_ns):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with s:
            flags = struct.unpack("16sH", fcntl.ioctl(s, 0x8913, struct.pack("16sH", port.encode(), 0)))[1]
        return bool(flags & 1)
    except OSError:
        return True
