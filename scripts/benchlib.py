"""What the benchmark scripts (scripts/bench, bench_dns, bench_ingress, bench_kube_proxy, bench_netpol) share.

They run as `scripts/bench_x`, so Python puts scripts/ first on sys.path and `import benchlib` finds this file;
importing it puts the repository on sys.path too, so `from toycluster ...` works after it.  Here: the log line,
running a command with a time limit (and the toycluster CLI for one cluster), a cluster made and removed by a
benchmark, processes' CPU time, the machine's quiet moment, wrk's output, and the aligned result table.
"""
import argparse
import contextlib
import os
import re
import shutil
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from toycluster import config  # noqa: E402
from toycluster.api import client as apiclient  # noqa: E402
from toycluster.cluster import network  # noqa: E402
from toycluster.kernel import nsfs  # noqa: E402

TC = os.path.join(REPO, ".venv", "bin", "toycluster")
# This sandbox sets PYTHONDONTWRITEBYTECODE, so every CLI call and the control plane would recompile
# toycluster's sources (about 40 ms a start). A user's machine caches bytecode: do the same, outside the repo.
PYCACHE = "/tmp/toycluster-bench-pycache"
PROG = os.path.basename(sys.argv[0]) or "bench"      # bench, bench_dns, ...: the log lines' tag


def log(msg: str) -> None:
    """One progress line on stderr: [PROG HH:MM:SS] MSG."""
    print(f"[{PROG} {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def child_env() -> dict:
    """This process's environment, but with bytecode cached under PYCACHE (see there)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.setdefault("PYTHONPYCACHEPREFIX", PYCACHE)
    return env


def run(argv, timeout=60, input=None, check=True) -> subprocess.CompletedProcess:
    """Run ARGV (text in and out, captured) within TIMEOUT seconds; RuntimeError if it takes longer, or with
    CHECK if it exits non-zero (its output in the message)."""
    argv = [str(a) for a in argv]
    try:
        p = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout, env=child_env())
    except subprocess.TimeoutExpired as e:
        raise RuntimeError(f"timed out after {timeout}s: {' '.join(argv)}") from e
    if check and p.returncode != 0:
        raise RuntimeError(f"exit {p.returncode}: {' '.join(argv)}\n{p.stdout}{p.stderr}")
    return p


def rounds_parser(doc: str, seconds: float) -> argparse.ArgumentParser:
    """The command line of a benchmark run in --rounds rounds of --seconds (default SECONDS, an int or a float
    as it is given) that prints a table, or with --json one JSON object; DOC's first paragraph describes it."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    ap.add_argument("--seconds", type=type(seconds), default=seconds, help=f"seconds per run (default {seconds:g})")
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout instead of the table")
    return ap


def require(tools=(), install: str = "", cluster: str | None = None) -> None:
    """Exit (status 2, the reason on stderr) unless this runs as root, every one of TOOLS is installed (else
    INSTALL says how) and no cluster CLUSTER exists yet."""
    why = None
    if os.geteuid() != 0:
        why = f"scripts/{PROG} builds namespaces and clusters: run it as root"
    for tool in tools:
        if why is None and not (shutil.which(tool) or os.access(f"/usr/sbin/{tool}", os.X_OK)):
            why = f"scripts/{PROG} needs {tool}: {install or f'apt-get install {tool}'}"
    if why is None and cluster and cluster in network.cluster_names():
        why = f"a cluster {cluster} exists already: `toycluster --cluster {cluster} down` first"
    if why:
        print(why, file=sys.stderr)
        raise SystemExit(2)


class Cluster:
    """A cluster a benchmark makes and removes: NAME on RANGES (node_cidr, pod_cidr, service_cidr and, where
    `up` takes it, internet_cidr).  Only a cluster this run made is ever taken down; MARKER, a file made in
    the cluster's state directory, tells a later run that one left over is a benchmark's own."""

    def __init__(self, name: str, ranges: dict, marker: str | None = None):
        self.name, self.ranges, self.marker = name, ranges, marker
        self.ours = False

    def tc(self, *args, timeout=60, input=None, check=True) -> subprocess.CompletedProcess:
        """`toycluster --cluster NAME ARGS...`, as run() runs it."""
        return run([TC, "--cluster", self.name, *args], timeout, input, check)

    def exists(self) -> bool:
        return self.name in network.cluster_names()

    def api(self, timeout: float = 20) -> apiclient.Client:
        """An API client of the cluster, in this process."""
        return apiclient.Client(self.name, timeout=timeout)

    def up_argv(self) -> list[str]:
        """The `up` command's arguments for the ranges (asks `up --help` whether it takes --internet-cidr)."""
        r = self.ranges
        argv = ["up", "--node-cidr", r["node_cidr"], "--pod-cidr", r["pod_cidr"], "--service-cidr", r["service_cidr"]]
        if r.get("internet_cidr") and "--internet-cidr" in self.tc("up", "--help", timeout=30).stdout:
            argv += ["--internet-cidr", r["internet_cidr"]]
        return argv

    def up(self, timeout=60, argv: list[str] | None = None) -> None:
        """`toycluster up` (ARGV: up_argv(), computed beforehand by a caller that times the `up` alone)."""
        argv = argv or self.up_argv()
        self.ours = True
        try:
            self.tc(*argv, timeout=timeout)
        except RuntimeError as e:
            if "already exists" in str(e):       # someone else made it meanwhile: not ours
                self.ours = False
            raise
        if self.marker:
            with contextlib.suppress(OSError):
                open(f"{config.STATE_ROOT}/{self.name}/{self.marker}", "w").close()

    def down(self, timeout=120) -> None:
        """`toycluster down` if this run made the cluster; warns about namespaces left behind."""
        if self.ours and self.exists():
            log(f"toycluster --cluster {self.name} down")
            self.tc("down", timeout=timeout, check=False)
        left = nsfs.list_netns(f"{self.name}.")
        if left:
            log(f"WARNING: {len(left)} namespaces of {self.name} left after down: {left[:3]}...")

    def remove_leftover(self, timeout=120) -> None:
        """If a cluster NAME is there (or its namespaces are): take it down if an earlier run left it (its
        MARKER is there), else RuntimeError: someone else's is left as it is."""
        if not self.exists() and not nsfs.list_netns(f"{self.name}."):
            return
        if not (self.marker and os.path.exists(f"{config.STATE_ROOT}/{self.name}/{self.marker}")):
            raise RuntimeError(f"a cluster {self.name} exists and is not this benchmark's: left as it is")
        log(f"a cluster {self.name} is left over from an earlier run of scripts/{PROG}: taking it down")
        self.ours = True
        self.tc("down", timeout=timeout, check=False)


def cpu_seconds(pids) -> float:
    """User + system CPU time of PIDS (all their threads), from /proc/PID/stat; a process gone counts 0."""
    ticks = 0
    for pid in pids:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def settle(limit: float) -> float:
    """Wait (up to LIMIT s) for the machine to be quiet: 1-minute load average under 1. Returns it."""
    deadline = time.time() + limit
    while True:
        load = os.getloadavg()[0]
        if load < 1.0 or time.time() >= deadline:
            return load
        time.sleep(2)


def parse_wrk(text: str) -> dict:
    """wrk's report (run with --latency for p50_ms and p99_ms, else None): rps, requests, p50_ms, p99_ms,
    errors (its "Socket errors" and "Non-2xx" lines) and error_count (socket errors + non-2xx answers)."""
    def ms(label):
        m = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        return None if m is None else round(float(m.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[m.group(2)], 3)

    total = re.search(r"(\d+) requests in", text)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    socket_errors = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", text))
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
            "requests": int(total.group(1)) if total else 0, "p50_ms": ms("50%"), "p99_ms": ms("99%"),
            "errors": re.findall(r"Socket errors:.*|Non-2xx.*", text),
            "error_count": socket_errors + (int(non2xx.group(1)) if non2xx else 0)}


def pss_kb(pid: int, field: str = "Pss:") -> int | None:
    """A process's proportional set size (or FIELD of /proc/PID/smaps_rollup) in kB; None if it is gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def verdict(ok) -> str:
    """A result table's verdict: - (no target), PASS or FAIL."""
    return "-" if ok is None else ("PASS" if ok else "FAIL")


def runs(xs, fmt: str, lead: str = " ") -> str:
    """The single runs behind a median, as LEAD(runs: x, y, z) with FMT for each; "" for fewer than two."""
    return "" if len(xs) < 2 else f"{lead}(runs: " + ", ".join(fmt % x for x in xs) + ")"


def table_lines(rows: list) -> list[str]:
    """ROWS of (row, measured, target, result[, note]) as aligned lines under a header and a rule."""
    head = ("row", "measured", "target", "result")
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(4)]

    def line(r):
        return ("  ".join(str(r[i]).ljust(widths[i]) for i in range(4)) + (r[4] if len(r) > 4 else "")).rstrip()
    return [line(head), line(tuple("-" * w for w in widths)), *[line(r) for r in rows]]
