"""kubectl's `label` and toycluster's `policy` verbs (registered by cli/main.parser):

    toycluster label pod NAME k=v [k2=v2] [k3-] [--overwrite]      (also pod/NAME, ns NAME, any kind)
    toycluster policy why FROM TO[:PORT][/PROTO] [--probe]          (pods as NAME or NS/NAME, or an IP)
    toycluster policy rules [NODE]                                  (the agent's rules as iptables-save text)

`policy why` answers from the rules the network policy agent renders for the nodes involved, without
sending a packet; a Service's ClusterIP is explained for each of its endpoints (policies see the pod
kube-proxy picked).  Exit status 0 when allowed, 1 when denied or allowed to some endpoints only (as
`kubectl auth can-i`).  With --probe it then connects once from the source (pod or node), entering it as
`toycluster exec` does (TCP: `nc -z -w 1`; UDP: one datagram with `nc -u`, an answer counts), and says
whether the probe agrees (exit status 3 when it does not).
"""
import ipaddress
import os
import re
import sys
import time

from toycluster import config

from toycluster.kernel import nsfs
from toycluster.netpol import agent
from toycluster.netpol import why as network_policy_why
from toycluster.api import validation
from toycluster.cli.common import client, kind_of
from toycluster.cluster.lifecycle import UsageError


def register(verb) -> None:
    sp = verb("label", cmd_label, "set or remove labels: label pod NAME k=v [k-] [--overwrite]")
    sp.add_argument("resource", help="pod, ns, ... or KIND/NAME")
    sp.add_argument("args", nargs="+", metavar="NAME|KEY=VALUE|KEY-")
    sp.add_argument("--overwrite", action="store_true", help="allow replacing a label's value")
    sp = verb("policy", cmd_policy, "network policies: why FROM TO[:PORT][/PROTO] [--probe]; rules [NODE]",
              namespaced=False)
    actions = sp.add_subparsers(dest="action", required=True)
    why = actions.add_parser("why", help="the verdict on one new connection, and the policies and rules "
                                         "that decide it (from the rendered rules; no packet is sent)")
    why.add_argument("-n", "--namespace", default="default", help="namespace of pods given by name alone")
    why.add_argument("source", metavar="FROM", help="POD, NS/POD, or an IPv4 address")
    why.add_argument("target", metavar="TO[:PORT][/PROTO]", help="POD, NS/POD or IP; PORT a number or a port "
                                                                   "name; PROTO tcp (default), udp or sctp")
    why.add_argument("--probe", action="store_true", help="also connect once (nc -z) from FROM and compare")
    rules = actions.add_parser("rules", help="the network policy agent's rules for a node, as iptables-save")
    rules.add_argument("node", nargs="?", default="node1")


# ---------------------------------------------------------------- label

def parse_label_args(resource: str, args: list[str]) -> tuple[str, list[str], dict]:
    """("pod", ["web"], {"a": "1", "b": None}) from `pod web a=1 b-` (or `pod/web a=1 b-`)."""
    names, labels = [], {}
    if "/" in resource:
        resource, first = resource.split("/", 1)
        names.append(first)
    for arg in args:
        if "=" in arg:
            key, _, value = arg.partition("=")
            if not key or key in labels:
                raise UsageError(f"{arg}: give each label once, as KEY=VALUE (or KEY- to remove it)")
            labels[key] = value
        elif arg.endswith("-") and len(arg) > 1 and names:
            labels[arg[:-1]] = None
        elif not labels:
            names.append(arg)
        else:
            raise UsageError(f"{arg}: labels are KEY=VALUE or KEY-, after the names")
    if not names:
        raise UsageError("label needs a name: toycluster label pod web tier=front")
    if not labels:
        raise UsageError("label needs at least one KEY=VALUE or KEY-")
    problem = validation.label_error({k: v for k, v in labels.items() if v is not None})
    if problem:
        raise UsageError(problem)
    return resource, names, labels


def cmd_label(args):
    resource, names, labels = parse_label_args(args.resource, args.args)
    kind = kind_of(resource)
    c = client(args)
    for name in names:
        print(c.label(kind, "" if kind in ("Namespace", "Node") else args.namespace, name, labels, args.overwrite))
    return 0


# ---------------------------------------------------------------- policy why / rules

_TARGET = re.compile(r"(?P<ep>.+?)(?::(?P<port>[A-Za-z0-9-]+))?(?:/(?P<proto>tcp|udp|sctp))?", re.I)


def _endpoint_id(text: str, namespace: str) -> str:
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        return text if "/" in text else f"{namespace}/{text}"


def parse_target(text: str, namespace: str, known: set) -> tuple[str, str | None, str]:
    """"web:8080/udp" -> ("NS/web", "8080", "UDP"); "x/tcp" stays pod tcp of x if that pod exists."""
    m = _TARGET.fullmatch(text)
    if not m:
        raise UsageError(f"{text}: give TO as POD, NS/POD or an IP, then optionally :PORT and /PROTO")
    ep, port, proto = m["ep"], m["port"], (m["proto"] or "TCP").upper()
    if port is None and m["proto"] and _endpoint_id(text, namespace) in known:
        ep, proto = text, "TCP"
    return _endpoint_id(ep, namespace), port, proto


def _inputs(args):
    c = client(args)
    cfg = config.ClusterConfig.load(args.cluster)
    node_ips = {}
    for n in range(1, cfg.nodes + 1):
        node_ips[f"node{n}"] = [cfg.node_ip(n), cfg.gateway(n)]
    return c, cfg, c.list("NetworkPolicy"), c.list("Pod"), c.list("Namespace"), node_ips


def cmd_policy(args):
    if args.action == "rules":
        return _rules(args)
    c, cfg, policies, pods, namespaces, node_ips = _inputs(args)
    why = network_policy_why.Why(policies, pods, namespaces, node_ips=node_ips, services=c.list("Service"),
                                 slices=c.list("EndpointSlice"))
    known = {r["id"] for r in why.inp.pods}
    src = _endpoint_id(args.source, args.namespace)
    dst, port, proto = parse_target(args.target, args.namespace, known)
    note = ""
    if port is None:
        rec = next((r for r in why.inp.pods if dst in (r["id"], r["ip"])), None)
        numbers = [cp["containerPort"] for p in pods if rec and (p["metadata"].get("namespace"), p["metadata"]["name"])
                   == (rec["ns"], rec["name"]) for ct in p["spec"]["containers"] for cp in ct.get("ports") or []
                   if (cp.get("protocol") or "TCP") == proto]
        port = str(numbers[0]) if numbers else "80"
        note = f"  (no port given: {port}, " + ("the pod's first port)" if numbers else "a default)")
    try:
        verdict, reasons = why.explain(src, dst, port, proto)
    except network_policy_why.ExplainError as e:
        raise UsageError(str(e)) from e
    print(f"{verdict.upper()}: {reasons[0]}")
    if note:
        print(note)
    for line in reasons[1:]:
        print(line)
    rc = 0 if verdict == "allowed" else 1
    if args.probe:
        ok, detail = _probe(args, cfg, why, src, dst, port, proto)
        agree = ok == (verdict == "allowed") or verdict == "partly allowed"
        print(f"probe: {'connected' if ok else 'failed'} ({detail}): "
              + ("agrees" if agree else "DISAGREES with the rules" + ("" if ok else
                                                                      " (is anything listening there?)")))
        rc = rc if agree else 3
    return rc


def _probe(args, cfg, why, src, dst, port, proto):
    """One connection from SRC (a pod, or a node by its IP) with nc, entered as `toycluster exec` does."""
    s = network_policy_why.resolve_endpoint(why.inp, src)
    d = network_policy_why.resolve_endpoint(why.inp, dst)
    number = str(d["pod"]["ports"][(port, proto)]) if not str(port).isdigit() else str(port)
    if s["pod"] is not None:
        netns, hostname = cfg.pod_ns(s["pod"]["ns"], s["pod"]["name"]), s["pod"]["name"]
    else:
        node = next((n for n, ips in why.node_ips.items() if s["ip"] in ips), None)
        if node is None:
            raise UsageError(f"--probe: {s['ip']} is neither a pod nor a node of cluster {args.cluster}")
        netns, hostname = cfg.node_ns(int(node[4:])), node
    if proto == "SCTP":
        return False, "nc here cannot speak SCTP; not probed"
    # TCP: does the handshake complete?  UDP: nc -u reports success whatever happens, so one datagram is
    # sent and an answer counts as connected (a server that never answers looks like a denial).
    argv = ["nc", "-z", "-w", "1", d["ip"], number] if proto == "TCP" else ["nc", "-u", "-w", "1", d["ip"], number]
    pipes = [os.pipe() for _ in range(3)]          # stdin, stdout, stderr of the child
    pid = os.fork()
    if pid == 0:                                   # the child enters the pod, as cmd_exec does
        try:
            for fd, (r, w) in enumerate(pipes):
                os.dup2(r if fd == 0 else w, fd)
            nsfs.enter_pod_netns(netns, hostname)
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    for fd, (r, w) in enumerate(pipes):
        os.close(w if fd else r)
    os.write(pipes[0][1], b"probe\n")
    os.close(pipes[0][1])
    deadline = time.monotonic() + 5
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    if not done:
        os.kill(pid, 9)
        _, status = os.waitpid(pid, 0)
    out, err = (os.read(pipes[i][0], 4096).decode(errors="replace").strip() for i in (1, 2))
    for i in (1, 2):
        os.close(pipes[i][0])
    code = os.waitstatus_to_exitcode(status)
    ok = code == 0 and (proto == "TCP" or bool(out))
    shown = " ".join(argv) + (" <<< probe" if proto == "UDP" else "")
    detail = f"`{shown}` in {netns}: exit {code}" + (", no answer" if proto == "UDP" and not out else "")
    return ok, detail + (f", {err.splitlines()[-1]}" if err else "")


def _rules(args):
    node = args.node
    c, cfg, policies, pods, namespaces, _ = _inputs(args)
    if not re.fullmatch(r"node\d+", node) or not 1 <= int(node[4:]) <= cfg.nodes:
        raise UsageError(f"{node}: give a node of cluster {args.cluster} (node1..node{cfg.nodes})")
    from toycluster.kernel.iptables_save import to_iptables_save
    sys.stdout.write(to_iptables_save(agent.render(policies, pods, namespaces, node_name=node)))
    return 0
