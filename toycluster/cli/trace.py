"""toycluster's `trace` verb (registered by cli/main.parser):

    toycluster trace [--from POD|node1|user|host] URL|NAME|IP[:PORT] [--proto tcp|udp] [--count N]
                     [--explain] [-o table|json] [--diagram FILE]

One real request (HTTP for a URL, a TCP connect or a UDP datagram otherwise), captured at every interface it
crosses and printed hop by hop (lab/trace.py); `--explain` computes the path from the rendered rules and routes
without sending a packet (lab/trace_explain.py). Exit 0 when the request got its answer, 1 when it failed
(the table says where and why), 2 for an unknown pod, namespace, node or name.
"""
import argparse
import sys

from toycluster.cluster.lifecycle import UsageError


def cmd_trace(args):
    from toycluster.lab import trace, trace_print
    from toycluster.lab.trace_state import State
    proto = args.proto.lower()
    if args.count < 1:
        raise UsageError(f"--count {args.count}: give 1 or more")
    state = State.load(args.cluster)
    if args.explain:
        from toycluster.lab import trace_explain
        traces = [trace_explain.explain(state, args.source, args.target, proto, args.namespace)]
    else:
        traces = [trace.run(args.cluster, args.source, args.target, proto, args.namespace, args.timeout,
                            state=state) for _ in range(args.count)]
    if args.output == "json":
        docs = [t.to_dict() for t in traces]
        import json
        sys.stdout.write(json.dumps(docs[0] if len(docs) == 1 else docs, indent=2) + "\n")
    else:
        sys.stdout.write("\n".join(trace_print.render(t) for t in traces))
    if args.diagram:
        from toycluster.lab import diagram
        written = diagram.write(traces[-1].to_dict(), args.diagram)
        print(f"diagram ({written}) written to {args.diagram}", file=sys.stderr)
    return 0 if all(t.result.ok for t in traces) else 1


class _Explain(argparse.Action):
    """--explain sends nothing, so it is a dry run as far as main()'s root check goes."""

    def __call__(self, parser, namespace, values, option_string=None):
        namespace.explain = namespace.dry_run = True


def register(verb) -> None:
    sp = verb("trace", cmd_trace, "send one request and show every hop it takes there and back (or --explain it)")
    sp.set_defaults(explain=False)
    sp.add_argument("target", metavar="URL|NAME|IP[:PORT]")
    sp.add_argument("--from", dest="source", default="user",
                    help="where the request starts: a pod (NAME or NS/NAME), node1.., user (default) or host")
    sp.add_argument("--proto", default="tcp", choices=("tcp", "udp", "TCP", "UDP"))
    sp.add_argument("--count", type=int, default=1, help="send N requests, one trace each")
    sp.add_argument("--explain", action=_Explain, nargs=0,
                    help="compute the path from the rendered rules and routes; no packet is sent (no root needed)")
    sp.add_argument("-o", "--output", default="table", choices=("table", "json"))
    sp.add_argument("--diagram", metavar="FILE", help="also write a sequence diagram (.mmd Mermaid, .svg)")
    sp.add_argument("--timeout", type=float, default=1.5, help="seconds to wait for an answer (default 1.5)")
