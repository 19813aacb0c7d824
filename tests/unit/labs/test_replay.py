"""labs/replay.py: reading a lab page's console blocks, matching output with placeholders, running the steps."""
import os
import sys

import pytest

from toycluster.labs import replay

PAGE = """# Lab 9: something

Some prose with `$ not a command`.

```console
$ kubectl get pods -n lab09
NAME        READY   STATUS    RESTARTS   AGE
web-<hash>  1/1     Running   0          <age>

$ echo one \\
    two
one two
```

```console norun
$ kubectl get endpointslices -w
never run
```

```sh
$ not console
```

```console
$ true
```

## A section

```console
$ echo in section
in section
```

## Another

```console
$ echo other
other
```
"""


def test_parse_reads_commands_and_their_output_and_skips_norun_blocks():
    steps = replay.parse(PAGE)
    assert [s.command for s in steps] == ["kubectl get pods -n lab09", "echo one two", "true", "echo in section",
                                          "echo other"]
    assert steps[0].expected.splitlines() == ["NAME        READY   STATUS    RESTARTS   AGE",
                                              "web-<hash>  1/1     Running   0          <age>", ""]
    assert steps[1].expected == "one two\n"
    assert steps[2].expected == ""
    assert steps[0].line == 6


def test_parse_an_anchor_takes_only_its_section():
    assert [s.command for s in replay.parse(PAGE, "a-section")] == ["echo in section"]
    assert [s.command for s in replay.parse(PAGE, "#another")] == ["echo other"]
    with pytest.raises(replay.DocError, match="no heading"):
        replay.parse(PAGE, "missing")


def test_slug_as_github_makes_it():
    assert replay.slug("A flushed nat table (and kube-proxy's resync)") == "a-flushed-nat-table-and-kube-proxys-resync"
    assert replay.slug("`targetPort` is wrong") == "targetport-is-wrong"


@pytest.mark.parametrize("page, message", [
    ("```console\noutput first\n$ echo\n```\n", "output before any"),
    ("```console\n$ echo\n", "never closed"),
])
def test_parse_bad_pages(page, message):
    with pytest.raises(replay.DocError, match=message):
        replay.parse(page)


def test_output_of_one_block_never_joins_the_last_step_of_the_one_before():
    with pytest.raises(replay.DocError):
        replay.parse("```console\n$ echo a\na\n```\n\n```console\nstray\n```\n")


@pytest.mark.parametrize("expected, actual", [
    ("IP: <ip>", "IP: 10.244.1.3"),
    ("web-<hash>-<id>  1/1", "web-86cf884fb4-d9tdc     1/1"),
    ("a b", "a\t  b"),
    ("  indented", "    indented"),
    ("<pid> toycluster pod", " 1959 toycluster pod"),
    ("      2 net:[<inode>]", "2 net:[4026538162]"),
    ("trailing   ", "trailing"),
    ("<none>", "<none>"),
    ("a\n...\nz", "a\nz"),
    ("a\n...\nz", "a\nb\nc\nz"),
    ("...", ""),
    ("...", "anything\nat all"),
    ("", ""),
    ("", "\n\n"),
    ("x [y] (z)*", "x [y] (z)*"),
    ("a\n...\nb\n...\nb", "a\nb\nb\nb"),
])
def test_matches(expected, actual):
    assert replay.matches(expected, actual)


@pytest.mark.parametrize("expected, actual", [
    ("IP: <ip>", "IP: "),
    ("IP: <ip>", "IP: 10.0.0.1 extra"),
    ("ab", "a b"),
    ("a b", "ab"),
    ("a\nz", "a\nb\nz"),
    ("a\n...\nz", "a\nb"),
    ("", "something"),
    ("something", ""),
    ("x.y", "xzy"),
])
def test_does_not_match(expected, actual):
    assert not replay.matches(expected, actual)


def test_first_difference_names_the_line():
    assert replay.first_difference("a\nb\nc", "a\nb\nX") == 3
    assert replay.first_difference("a\n...\nz\nq", "a\n1\n2\nz\nr") == 4
    assert replay.first_difference("a", "a") == 2


def test_replay_runs_in_order_in_the_directory_and_stops_at_the_first_mismatch(tmp_path):
    (tmp_path / "file").write_text("hello\n")
    steps = replay.parse("```console\n$ cat file\nhello\n$ echo err >&2; echo out\nerr\nout\n"
                         "$ echo $TOYCLUSTER $(basename $KUBECONFIG)\nlab kubeconfig\n"
                         "$ echo wrong\nright\n$ echo never\nnever\n```\n")
    env = replay.environment("lab", base={"PATH": "/usr/bin:/bin"})
    assert env["PATH"].split(os.pathsep)[0] == os.path.dirname(sys.executable)
    result = replay.replay(steps, str(tmp_path), env, where="docs/labs/x.md")
    assert not result.ok
    assert [s.command for s in result.steps] == ["cat file", "echo err >&2; echo out",
                                                 "echo $TOYCLUSTER $(basename $KUBECONFIG)", "echo wrong"]
    assert "docs/labs/x.md:" in result.mismatch and "`$ echo wrong`" in result.mismatch
    assert "--- expected ---\nright\n--- actual ---\nwrong" in result.mismatch


def test_replay_a_command_that_hangs_is_a_mismatch(tmp_path):
    steps = replay.parse("```console\n$ sleep 5\n```\n")
    result = replay.replay(steps, str(tmp_path), replay.environment("lab"), timeout=0.3)
    assert not result.ok and "timed out" in result.mismatch


def test_a_here_document_is_part_of_its_command():
    steps = replay.parse("```console\n$ kubectl apply -f - <<'EOF'\napiVersion: v1\n  kind: Pod\nEOF\npod/x created\n"
                         "$ cat <<< \"here-string\"\nhere-string\n```\n")
    assert steps[0].command == "kubectl apply -f - <<'EOF'\napiVersion: v1\n  kind: Pod\nEOF"
    assert steps[0].expected == "pod/x created\n"
    assert (steps[1].command, steps[1].expected) == ('cat <<< "here-string"', "here-string\n")


def test_a_here_document_runs(tmp_path):
    steps = replay.parse("```console\n$ cat <<EOF | tr a-z A-Z\nhello\nEOF\nHELLO\n```\n")
    assert replay.replay(steps, str(tmp_path), replay.environment("lab")).ok
