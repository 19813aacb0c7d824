"""Hard input gets a clear answer (issue 14, item 6): the `toycluster` command fed a corpus of bad input.

Each case runs the real command in a process of its own (as a user runs it, stdin and files included) and must
end with exit status 2, one line saying what was wrong (argparse's usage errors add kubectl's "See ... --help"
line), and no traceback. No cluster is needed: every input is refused before the API would be asked (the
cluster named does not exist), and the root check is skipped so this runs without root.
"""
import os
import random
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
RUN = ("import sys; from toycluster.cluster import lifecycle; lifecycle.require_root = lambda: None; "
       "from toycluster.cli.main import main; sys.exit(main(sys.argv[1:]))")
CLUSTER = "zzcorpus"        # never made: any case that got as far as the API would say so instead


def laughs() -> str:
    text = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol}\ndata:\n  l0: &l0 ["lol", "lol"]\n'
    for i in range(1, 10):
        text += f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n"
    return text


FILES = {
    "bomb.yaml": laughs().encode(),
    "big.yaml": b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n  a: " + b"x" * (4 << 20) + b"\n",
    "deep.yaml": b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: deep}\ndata: " + b"[" * 10000 + b"]" * 10000,
    "deep-block.yaml": b"".join(b"  " * i + b"- \n" for i in range(1000)),
    "deep.json": b'{"a":' * 10000 + b"1" + b"}" * 10000,
    "latin1.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: caf\u00e9}\n".encode("latin-1"),
    "tab.yaml": b"apiVersion: v1\nkind: Pod\nmetadata:\n\tname: web\n",
    "garbage.yaml": random.Random(14).randbytes(4096),
    "nul.yaml": b"apiVersion: v1\x00\nkind: Pod\n",
    "dup.yaml": b"apiVersion: v1\nkind: Pod\nkind: Service\n",
    "self.yaml": b"a: &a [1, *a]\n",
    "scalar.yaml": b"just some words\n",
    "empty-dir": None,
}
BIG_STDIN = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n  a: " + b"y" * (5 << 20) + b"\n"

# (name, argv, stdin, what the reason must say)
CORPUS = [
    ("alias bomb", ["apply", "-f", "@bomb.yaml"], None, "document contains excessive aliasing"),
    ("4 MiB manifest", ["apply", "-f", "@big.yaml"], None, "larger than 3 MiB"),
    ("5 MiB on stdin", ["apply", "-f", "-"], BIG_STDIN, "standard input is larger than 3 MiB"),
    ("10000-deep flow nesting", ["apply", "-f", "@deep.yaml"], None, "exceeded max depth of"),
    ("1000-deep block nesting", ["apply", "-f", "@deep-block.yaml"], None, "exceeded max depth of"),
    ("10000-deep JSON", ["apply", "-f", "@deep.json"], None, "invalid JSON: exceeded max depth of"),
    ("deep nesting on stdin", ["apply", "-f", "-"], b"[" * 10000, "exceeded max depth of"),
    ("non-UTF-8 bytes", ["apply", "-f", "@latin1.yaml"], None, "invalid UTF-8 (byte 0xe9)"),
    ("a YAML tab error", ["apply", "-f", "@tab.yaml"], None, "YAML does not allow tabs"),
    ("binary garbage", ["apply", "-f", "@garbage.yaml"], None, "invalid YAML"),
    ("a NUL byte", ["apply", "-f", "@nul.yaml"], None, "control character #x0000"),
    ("binary on stdin", ["apply", "-f", "-"], b"\x89PNG\r\n\x1a\n\x00\x00", "invalid"),
    ("a duplicate key", ["apply", "-f", "@dup.yaml"], None, 'key "kind" already set in map'),
    ("an anchor holding itself", ["apply", "-f", "@self.yaml"], None, "anchor 'a' value contains itself"),
    ("not an object", ["apply", "-f", "@scalar.yaml"], None, "must be a mapping"),
    ("a directory with no manifests", ["apply", "-f", "@empty-dir"], None, "recognized file extensions"),
    ("a missing file", ["apply", "-f", "/nonexistent/web.yaml"], None, "does not exist"),
    ("delete -f of a bomb", ["delete", "-f", "@bomb.yaml"], None, "excessive aliasing"),
    ("apply without -f", ["apply"], None, "must give -f"),
    ("an unknown verb", ["frobnicate"], None, "invalid choice: 'frobnicate'"),
    ("an unknown flag", ["get", "pods", "--frob"], None, "unrecognized arguments: --frob"),
    ("an unknown global flag", ["--frob", "get", "pods"], None, "unrecognized arguments"),
    ("a flag without its value", ["get", "pods", "-l"], None, "expected one argument"),
    ("get without a type", ["get"], None, "you must specify the type of resource to get"),
    ("an unknown kind", ["get", "flurbs"], None, "doesn't have a resource type \"flurbs\""),
    ("an unknown kind in a list", ["get", "pods,flurbs"], None, "doesn't have a resource type \"flurbs\""),
    ("an unknown kind to delete", ["delete", "flurbs", "x"], None, "doesn't have a resource type"),
    ("selector x in (", ["get", "pods", "-l", "x in ("], None, "found '', expected: ',', ')' or identifier"),
    ("selector x=a||y=b", ["get", "pods", "-l", "x=a||y=b"], None, 'Invalid value: "a||y"'),
    ("selector x=a b", ["get", "pods", "-l", "x=a b"], None, "found 'b', expected: ',' or 'end of string'"),
    ("selector !x=a", ["delete", "pods", "-l", "!x=a"], None, "found '=', expected: ',' or 'end of string'"),
    ("selector x<a", ["get", "pods", "-l", "x<a"], None, "the value must be an integer"),
    ("selector ,", ["wait", "--for=condition=Ready", "pods", "-l", ","], None, "expected: !, identifier"),
    ("selector with names", ["get", "pod", "web", "-l", "app=web"], None, "name cannot be provided"),
    ("a bare-number timeout", ["wait", "--for=condition=Ready", "pod", "--all", "--timeout", "30"], None,
     'time: missing unit in duration "30"'),
    ("an unknown unit", ["wait", "--for=condition=Ready", "pod", "--all", "--timeout", "2x"], None,
     'time: unknown unit "x" in duration "2x"'),
    ("an empty timeout", ["wait", "--for=condition=Ready", "pod", "--all", "--timeout="], None,
     'time: invalid duration ""'),
    ("wait for something else", ["wait", "--for=delete", "pod", "--all"], None, "only --for=condition=NAME"),
    ("wait without names", ["wait", "--for=condition=Ready", "pod"], None, "no name was specified"),
    ("TYPE/NAME with two slashes", ["get", "pod/a/b"], None, "may not have more than one slash"),
    ("TYPE/NAME mixed with TYPE", ["get", "pod/web", "svc"], None, "no need to specify a resource type"),
    ("TYPE/NAME without a type", ["delete", "/web"], None, "must have a single resource and name"),
    ("TYPE/NAME without a name", ["scale", "deploy/", "--replicas", "1"], None, "single resource and name"),
    ("TYPE/NAME of an unknown kind", ["logs", "flurb/web"], None, "doesn't have a resource type \"flurb\""),
    ("TYPE/NAME to exec", ["exec", "deploy/a/b", "--", "ls"], None, "may not have more than one slash"),
    ("delete a type, no names", ["delete", "pods"], None, "no name was specified"),
    ("a negative replica count", ["scale", "deploy/web", "--replicas", "-1"], None, "must be >= 0"),
    ("a replica count that is no number", ["scale", "deploy/web", "--replicas", "many"], None,
     "invalid int value: 'many'"),
    ("a tail that is no number", ["logs", "web", "--tail", "lots"], None, "invalid int value: 'lots'"),
    ("a bad label", ["label", "pod", "web", "bad key!=y"], None, "name part must consist of"),
    ("exec without a command", ["exec", "web"], None, "exec needs a command"),
]


def run(argv, stdin, tmp):
    argv = [os.path.join(tmp, a[1:]) if a.startswith("@") else a for a in argv]       # @FILE: one of FILES
    return subprocess.run([sys.executable, "-c", RUN, "--cluster", CLUSTER, *argv], input=stdin or b"",
                          capture_output=True, cwd=ROOT, timeout=60, env={**os.environ, "PYTHONPATH": ROOT})


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("corpus"))
    for name, data in FILES.items():
        if data is None:
            os.mkdir(os.path.join(tmp, name))
            open(os.path.join(tmp, name, "notes.txt"), "w").write("not a manifest\n")
        else:
            with open(os.path.join(tmp, name), "wb") as f:
                f.write(data)
    with ThreadPoolExecutor(4) as pool:
        done = pool.map(lambda case: run(case[1], case[2], tmp), CORPUS)
        return dict(zip((c[0] for c in CORPUS), done))


@pytest.mark.parametrize("name, argv, stdin, reason", CORPUS, ids=[c[0] for c in CORPUS])
def test_bad_input_gets_exit_2_and_one_line(results, name, argv, stdin, reason):
    proc = results[name]
    err = proc.stderr.decode(errors="replace")
    assert "Traceback" not in err, err
    assert proc.returncode == 2, (proc.returncode, err)
    lines = err.splitlines()
    assert lines and lines[0].startswith("error: "), err
    assert reason in lines[0], err
    assert len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("See 'toycluster")), err
    assert CLUSTER not in err, f"{name}: got as far as the API instead of refusing the input: {err}"
