"""The docs replayed: a lab page's ```console blocks run in order, each command's output compared with the page's.

A block opened with ```console holds `$ command` lines (a line ending in a backslash goes on, and so does a
here-document to its end marker), each followed by its expected output; ```console norun blocks are shown, not
run. In expected output `<name>` matches one run of non-space characters, a line `...` any number of lines, and a
run of spaces any run of spaces (leading and trailing spaces and blank lines at the end are ignored). The runner
runs each command with bash in the repository's root, with KUBECONFIG and TOYCLUSTER set to the cluster and the
venv's bin first on PATH, standard error merged into standard output, and stops at the first mismatch, giving
both texts.
"""
from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field

from toycluster import config

PLACEHOLDER = re.compile(r"<[^<>\s]+>")
ELLIPSIS = "..."
FENCE = re.compile(r"^\s*```+\s*(\w*)\s*(.*?)\s*$")
HEREDOC = re.compile(r"(?<!<)<<(?!<)-?\s*['\"]?(\w+)['\"]?")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


class DocError(ValueError):
    """A page whose console blocks cannot be read (output before any command, an unclosed block)."""


@dataclass
class Step:
    """One `$ COMMAND` of a page (at LINE, 1-based) and the OUTPUT the page shows for it."""
    command: str
    expected: str
    line: int


@dataclass
class Result:
    """What replaying a page gave: the steps that ran, and the first mismatch (None when all matched)."""
    steps: list[Step] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    mismatch: str | None = None

    @property
    def ok(self) -> bool:
        return self.mismatch is None


def slug(heading: str) -> str:
    """A Markdown heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_~\[\]()]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def section(text: str, anchor: str) -> str:
    """The part of TEXT under the heading whose anchor is ANCHOR, up to the next heading of its level or
    higher; DocError when there is no such heading."""
    lines, out, level = text.splitlines(), [], None
    fenced = False
    for line in lines:
        if FENCE.match(line):
            fenced = not fenced
        m = None if fenced else HEADING.match(line)
        if m and level is not None and len(m.group(1)) <= level:
            break
        if level is not None:
            out.append(line)
        elif m and slug(m.group(2)) == anchor.lstrip("#"):
            level = len(m.group(1))
    if level is None:
        raise DocError(f"no heading with the anchor #{anchor.lstrip('#')}")
    return "\n".join(out)


def parse(text: str, anchor: str | None = None) -> list[Step]:
    """The steps of TEXT's console blocks (those under ANCHOR's heading when given), in order."""
    if anchor:
        text = section(text, anchor)
    steps: list[Step] = []
    block, opened, first = None, 0, 0     # None outside code blocks, else "run" or "skip"; FIRST: its first step
    for n, line in enumerate(text.splitlines(), 1):
        fence = FENCE.match(line)
        if block is None:
            if fence:
                runs = fence.group(1) == "console" and "norun" not in fence.group(2).split()
                block, opened, first = ("run" if runs else "skip"), n, len(steps)
            continue
        if fence and not fence.group(1) and not fence.group(2):
            block = None
            continue
        if block == "skip":
            continue
        _read_line(steps, first, line, n)
    if block is not None:
        raise DocError(f"line {opened}: a code block is never closed")
    return steps


def _read_line(steps: list[Step], first: int, line: str, n: int) -> None:
    """Add LINE (number N) of a console block whose steps start at STEPS[FIRST]: a command, its continuation,
    or expected output."""
    last = steps[-1] if len(steps) > first else None
    if last is not None and not last.expected and _in_heredoc(last.command):
        last.command += "\n" + line
    elif last is not None and last.command.endswith("\\") and not last.expected:
        last.command = last.command[:-1].rstrip() + " " + line.strip()
    elif line.startswith("$ ") or line.rstrip() == "$":
        steps.append(Step(line[2:].strip(), "", n))
    elif last is None:
        if line.strip():
            raise DocError(f"line {n}: output before any `$ command` in a console block: {line.strip()!r}")
    else:
        last.expected += line + "\n"


def _in_heredoc(command: str) -> bool:
    """Is COMMAND (its lines so far) inside a here-document (`<<EOF` on its first line, no `EOF` line yet)?"""
    first, *rest = command.split("\n")
    words = HEREDOC.findall(first)
    return bool(words) and words[-1] not in [line.strip() for line in rest]


# ---------------------------------------------------------------- matching
@functools.lru_cache(maxsize=4096)
def _line_pattern(expected: str) -> re.Pattern:
    parts = []
    for i, chunk in enumerate(PLACEHOLDER.split(expected)):
        if i:
            parts.append(r"\S+")
        parts += [r"[ \t]+" if piece.isspace() else re.escape(piece)
                  for piece in re.split(r"([ \t]+)", chunk) if piece]
    return re.compile("".join(parts))


def _lines(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def line_matches(expected: str, actual: str) -> bool:
    """Leading and trailing spaces aside (right-aligned columns: `ps`, `uniq -c`), does ACTUAL match EXPECTED?"""
    return _line_pattern(expected.strip()).fullmatch(actual.strip()) is not None


def matches(expected: str, actual: str) -> bool:
    """Does ACTUAL (a command's output) match EXPECTED (the page's text, with placeholders and `...`)?"""
    want, got = _lines(expected), _lines(actual)

    @functools.lru_cache(maxsize=None)
    def match(i: int, j: int) -> bool:
        if i == len(want):
            return j == len(got)
        if want[i].strip() == ELLIPSIS:
            return any(match(i + 1, k) for k in range(j, len(got) + 1))
        return j < len(got) and line_matches(want[i], got[j]) and match(i + 1, j + 1)
    return match(0, 0)


def first_difference(expected: str, actual: str) -> int:
    """The 1-based line of EXPECTED where matching ACTUAL line by line (`...` skipped greedily) first fails."""
    want, got = _lines(expected), _lines(actual)
    j = 0
    for i, line in enumerate(want):
        if line.strip() == ELLIPSIS:
            rest = want[i + 1] if i + 1 < len(want) else None
            while j < len(got) and (rest is None or not line_matches(rest, got[j])):
                j += 1
            continue
        if j >= len(got) or not line_matches(line, got[j]):
            return i + 1
        j += 1
    return len(want) + 1


def describe(step: Step, actual: str, status: int, where: str = "") -> str:
    """The mismatch of STEP, for a test's failure message: the command, then both texts."""
    line = first_difference(step.expected, actual)
    return (f"{where}:{step.line}: `$ {step.command}` (exit {status}) printed something else "
            f"(from the page's output line {line} on)\n"
            f"--- expected ---\n{step.expected.rstrip()}\n--- actual ---\n{actual.rstrip()}\n---")


# ---------------------------------------------------------------- running
def environment(cluster: str, base: dict | None = None) -> dict:
    """The commands' environment: KUBECONFIG and TOYCLUSTER for CLUSTER, the venv's bin first on PATH."""
    env = dict(os.environ if base is None else base)
    env["KUBECONFIG"] = f"{config.STATE_ROOT}/{cluster}/kubeconfig"
    env["TOYCLUSTER"] = cluster
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env


def run_step(step: Step, cwd: str, env: dict, timeout: float = 60) -> tuple[int, str]:
    """Run STEP's command with bash in CWD: (exit status, standard output and error as one text)."""
    try:
        p = subprocess.run(["bash", "-c", step.command], cwd=cwd, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        return -1, out + f"\n[timed out after {timeout:.0f} s]"
    return p.returncode, p.stdout


def replay(steps: list[Step], cwd: str, env: dict, where: str = "", timeout: float = 60) -> Result:
    """Run STEPS in order in CWD with ENV; stop at the first whose output does not match the page."""
    result = Result()
    for step in steps:
        t0 = time.monotonic()
        status, out = run_step(step, cwd, env, timeout)
        result.steps.append(step)
        result.seconds.append(time.monotonic() - t0)
        if not matches(step.expected, out):
            result.mismatch = describe(step, out, status, where)
            break
    return result


def replay_doc(doc: str, cluster: str, repo: str, timeout: float = 60) -> Result:
    """Replay page DOC (a path under REPO, with #anchor for one section) against CLUSTER."""
    path, _, anchor = doc.partition("#")
    with open(os.path.join(repo, path)) as f:
        steps = parse(f.read(), anchor or None)
    return replay(steps, repo, environment(cluster), where=path, timeout=timeout)


def main(argv=None) -> int:
    """`python -m toycluster.labs.replay DOC[#anchor] CLUSTER`: replay a page by hand (for lab writers)."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: python -m toycluster.labs.replay docs/labs/NN-topic.md[#anchor] CLUSTER", file=sys.stderr)
        return 2
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    result = replay_doc(argv[0], argv[1], repo)
    for step, seconds in zip(result.steps, result.seconds):
        print(f"{seconds:5.1f}s  $ {step.command}")
    print(result.mismatch or f"all {len(result.steps)} commands matched ({sum(result.seconds):.1f} s)")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
