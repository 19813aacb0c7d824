"""Lab 11: a new connection's latency against the number of Services — kube-proxy's iptables rules are a list.

    python3 examples/labs/lab11-scale.py 0 500 2000 [--svg FILE]      (on the machine; the cluster is $TOYCLUSTER)

For each count, in increasing order: makes Services s0000, s0001, ... in lab11 up to that many (each selecting the
echo pod, so each gets its rules), waits until node1's nat table has a KUBE-SERVICES rule for every one, then times
new connections from pod client (node1) through Service echo (whose rule is near the top of KUBE-SERVICES) and
straight to the echo pod (matched by no Service rule: it walks them all). Prints a row and a bar per count, keeps
the pod-to-pod medians in ConfigMap lab11/latency (Services -> µs, the sizes of earlier runs kept), and with --svg
draws both curves.
"""
import argparse
import json
import os
import re
import subprocess
import time

NS = "lab11"
MINE = re.compile(r'^-A KUBE-SERVICES .*"lab11/s\d{4} cluster IP"', re.M)
ALL = re.compile(r"^-A KUBE-SERVICES ", re.M)
MEDIAN = re.compile(r"median (\d+) µs")
CONNECT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lab11-connect.py")


def run(*argv: str, stdin: str | None = None) -> str:
    p = subprocess.run(argv, input=stdin, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"`{' '.join(argv[:4])} ...` exited {p.returncode}: {p.stderr.strip()[-500:]}")
    return p.stdout


def kubectl(*args: str) -> str:
    return run("kubectl", "-n", NS, *args)


def services(first: int, last: int) -> str:
    """Services s{first}..s{last - 1} as YAML: port 80 to the echo pod's 8080."""
    return "".join(f"---\napiVersion: v1\nkind: Service\nmetadata:\n  name: s{i:04d}\n  namespace: {NS}\n"
                   f"  labels:\n    lab11: scale\nspec:\n  selector:\n    app: echo\n  ports:\n  - port: 80\n"
                   f"    targetPort: 8080\n" for i in range(first, last))


def rules() -> tuple[int, int]:
    """node1's KUBE-SERVICES rules: (for Services s*, in all)."""
    nat = run("toycluster", "exec", "node1", "--", "iptables-save", "-t", "nat")
    return len(MINE.findall(nat)), len(ALL.findall(nat))


def grow(have: int, want: int) -> tuple[int, int]:
    """Services s* from HAVE to WANT, then node1's rules once it has all of them."""
    if want > have:
        run("toycluster", "apply", "-f", "-", stdin=services(have, want))
    deadline = time.monotonic() + 60
    while (counted := rules())[0] < want:
        if time.monotonic() > deadline:
            raise SystemExit(f"node1 has rules for {counted[0]} of {want} Services after 60 s")
        time.sleep(0.2)
    return counted


def measure(targets: list[str]) -> list[int]:
    """The median connect() time in µs, from pod client, to each IP:PORT of TARGETS."""
    out = run("toycluster", "exec", "-n", NS, "client", "--", "python3", CONNECT, *targets)
    return [int(m) for m in MEDIAN.findall(out)]


def svg(rows: list[tuple[int, int, int, int]], path: str) -> None:
    """Both medians against the Service count, as a small SVG line plot."""
    w, h, pad = 560, 320, 50
    xmax = max(r[0] for r in rows) or 1
    ymax = max(max(r[2], r[3]) for r in rows) * 1.1 or 1

    def pt(x, y):
        return f"{pad + x / xmax * (w - 2 * pad):.1f},{h - pad - y / ymax * (h - 2 * pad):.1f}"

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" '
             f'font-size="12"><rect width="100%" height="100%" fill="white"/>',
             f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="black"/>',
             f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h - pad}" stroke="black"/>',
             f'<text x="{w / 2}" y="{h - 12}" text-anchor="middle">Services (one KUBE-SERVICES rule each)</text>',
             f'<text x="14" y="{h / 2}" transform="rotate(-90 14 {h / 2})" text-anchor="middle">'
             f'median connect() µs</text>']
    for col, colour, label in ((3, "#c0392b", "pod to pod: walks every rule"),
                               (2, "#2471a3", "via Service echo: matched near the top")):
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                     f'points="{" ".join(pt(r[0], r[col]) for r in rows)}"/>')
        parts += [f'<circle cx="{pt(r[0], r[col]).split(",")[0]}" cy="{pt(r[0], r[col]).split(",")[1]}" r="3" '
                  f'fill="{colour}"/>' for r in rows]
        parts.append(f'<text x="{pad + 10}" y="{pad - (20 if col == 3 else 6)}" fill="{colour}">{label}</text>')
    for r in rows:
        parts.append(f'<text x="{pt(r[0], 0).split(",")[0]}" y="{h - pad + 15}" text-anchor="middle">{r[0]}</text>')
    for i in range(5):                                         # µs ticks on the y axis
        y = ymax * i / 4
        parts.append(f'<text x="{pad - 6}" y="{float(pt(0, y).split(",")[1]) + 4:.1f}" text-anchor="end">'
                     f'{y:.0f}</text>')
    with open(path, "w") as f:
        f.write("\n".join(parts + ["</svg>\n"]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("counts", nargs="+", type=int, help="numbers of Services, increasing")
    ap.add_argument("--svg", help="also draw the curves into this SVG file")
    args = ap.parse_args()
    have = len(kubectl("get", "services", "-l", "lab11=scale", "-o", "name").split())
    if args.counts != sorted(args.counts) or args.counts[0] < have:
        raise SystemExit(f"{NS} has {have} Services s* already: give increasing counts from {have} "
                         f"(`toycluster lab reset 11` starts over)")
    pod = kubectl("get", "pods", "-l", "app=echo", "-o", "jsonpath={.items[0].status.podIP}")
    vip = kubectl("get", "service", "echo", "-o", "jsonpath={.spec.clusterIP}")
    rows = []
    print(f"{'SERVICES':>8} {'RULES':>6} {'VIA SERVICE':>12} {'POD TO POD':>11}")
    for count in args.counts:
        _, total = grow(have, count)
        have = count
        via, direct = measure([f"{vip}:80", f"{pod}:8080"])
        rows.append((count, total, via, direct))
        print(f"{count:>8} {total:>6} {via:>9} µs {direct:>8} µs  {'#' * max(1, round(direct / 5))}")
    kept = json.loads(kubectl("get", "configmap", "latency", "-o", "json", "--ignore-not-found") or "{}")
    data = {**kept.get("data", {}), **{str(r[0]): str(r[3]) for r in rows}}     # earlier runs' sizes kept
    run("kubectl", "apply", "-n", NS, "-f", "-", stdin=kubectl(
        "create", "configmap", "latency", "--dry-run=client", "-o", "yaml",
        *[f"--from-literal={k}={v}" for k, v in sorted(data.items(), key=lambda kv: int(kv[0]))]))
    print(f"kept in ConfigMap {NS}/latency (Services: µs pod to pod)")
    if args.svg:
        svg(rows, args.svg)
        print(f"plot written to {args.svg}")


if __name__ == "__main__":
    main()
