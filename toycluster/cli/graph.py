"""`toycluster graph`: the cluster drawn from its namespaces, links, routes and API objects (lab/graph_live.py).

    toycluster graph [-o svg|png|mermaid|dot|json] [--path TRACE.json] [--out FILE] [--limit N]

Without -o the format is --out's extension (.svg .png .mmd .dot .json), else Mermaid text. --path lays a trace
(`toycluster trace -o json`) over the picture; --limit folds a node's pods beyond N into "+N more" (0: never).
"""
import os
import sys

from toycluster.cluster import lifecycle, network
from toycluster.cluster.lifecycle import UsageError
from toycluster.lab import graph_render

EXTENSIONS = {".svg": "svg", ".png": "png", ".mmd": "mermaid", ".mermaid": "mermaid", ".md": "mermaid",
              ".dot": "dot", ".gv": "dot", ".json": "json"}


def _format(args) -> str:
    if args.output:
        return args.output
    return EXTENSIONS.get(os.path.splitext(args.out or "")[1].lower(), "mermaid")


def cmd_graph(args):
    from toycluster.lab import graph_live      # the kernel and API readers: only this verb loads them
    fmt = _format(args)
    if args.limit < 0:
        raise UsageError(f"--limit {args.limit}: give 0 (never fold) or more")
    trace = None
    if args.path:
        try:
            trace = graph_live.load_trace(args.path)
        except graph_live.BadInput as e:
            raise UsageError(str(e)) from None
    if not lifecycle.exists(args.cluster):
        raise UsageError(f"cluster {args.cluster} does not exist: `toycluster up` makes it "
                         f"(clusters here: {', '.join(network.cluster_names()) or 'none'})")
    if fmt == "png" and not args.out and sys.stdout.isatty():
        raise UsageError("-o png writes binary: give --out FILE (or redirect the output)")
    try:
        data = graph_live.render(args.cluster, fmt, trace, limit=args.limit)
    except RuntimeError as e:                        # Graphviz missing or failing
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.out:
        try:
            with open(args.out, "wb") as f:
                f.write(data)
        except OSError as e:
            raise UsageError(f"--out {args.out}: {e.strerror}") from None
    else:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
    return 0


def register(verb) -> None:
    """Add `graph` to the `toycluster` parser (VERB(name, fn, help) adds one and returns it)."""
    sp = verb("graph", cmd_graph, "draw the cluster: namespaces, veths, bridges, routes, pods, Services",
              namespaced=False)
    sp.add_argument("-o", "--output", choices=graph_render.FORMATS,
                    help="svg, png (through Graphviz's dot), mermaid, dot or json; default: --out's extension, "
                         "else mermaid")
    sp.add_argument("--path", metavar="TRACE.json", help="lay a trace (`toycluster trace -o json`) over the graph")
    sp.add_argument("--out", metavar="FILE", help="write to FILE instead of standard output")
    sp.add_argument("--limit", type=int, default=12, help="pods shown per node before '+N more' (0: all)")
