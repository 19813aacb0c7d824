"""The labs on a real cluster: each lab's page replayed command by command, and its check failing and passing.

For every lab of the catalog (labs not written yet are simply absent): `lab start` -> `lab check` fails on the
untouched starting state -> the page's console blocks replayed in order (every output must match the page) ->
`lab check` passes; then `lab reset` -> the check fails again (for a break-it lab this is the "reset alone does
not fix it" test); `lab solve` -> the check passes. The labs share one cluster; a lab whose `up_args` the shared
cluster lacks gets one of its own. Each lab's times are printed at the end of the module.
"""
import time

import pytest

from conftest import IS_ROOT, REPO, cluster_up, run

from toycluster.cli.lab import default_clean
from toycluster.labs import catalog, replay
from toycluster.labs.kit import Ctx

LABS = {lab.key: lab for lab in catalog.all_labs()}
CHECK_SECONDS = 5 * 1.5           # a check takes <= 5 s; the slack is for a loaded 2-core machine
TIMES: dict[str, dict[str, float]] = {}


@pytest.fixture(scope="module")
def lab_cluster(request):
    """The cluster the labs share (2 nodes, host-gw); the labs' times are printed when the module ends."""
    if not IS_ROOT:
        pytest.skip("needs root")
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    try:
        with cluster_up() as c:
            yield c
    finally:
        if reporter and capture and TIMES:
            with capture.global_and_fixture_disabled():
                reporter.write_line("")
                for key, phases in TIMES.items():
                    reporter.write_line(f"lab {key}: " + ", ".join(f"{k} {v:.1f}s" for k, v in phases.items()))


def _cluster_args(lab) -> dict | None:
    """cluster_up's arguments for LAB's up_args ({} when the shared cluster does); None if they cannot be made."""
    args, kw = list(lab.up_args), {}
    for flag, value in zip(args[::2], args[1::2]):
        if flag == "--overlay":
            kw["overlay"] = value
        elif flag == "--nodes":
            kw["nodes"] = int(value)
        else:
            return None
    if len(args) % 2:
        return None
    if kw.get("overlay") == "host-gw":          # what the shared cluster has
        del kw["overlay"]
    if kw.get("nodes", 0) <= 2:
        kw.pop("nodes", None)
    return kw


def lab(c, key, action, status, times):
    t0 = time.monotonic()
    p = c.run("lab", action, key, timeout=180)
    times[f"{action}{'' if status == 0 else ' (fails)'}"] = time.monotonic() - t0
    assert p.returncode == status, (f"`toycluster lab {action} {key}` exited {p.returncode}, expected {status}\n"
                                    f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}")
    if action == "check":
        assert time.monotonic() - t0 <= CHECK_SECONDS, f"lab {key}'s check took {time.monotonic() - t0:.1f} s"
    return p.stdout


def _exercise(c, key):
    times = TIMES.setdefault(key, {})
    started = time.monotonic()
    lab(c, key, "start", 0, times)
    out = lab(c, key, "check", 1, times)
    assert out.startswith("not yet: ") and "\nhint: " in out, out
    assert (REPO / LABS[key].doc.partition("#")[0]).is_file(), f"lab {key}: its page {LABS[key].doc} is missing"
    t0 = time.monotonic()
    result = replay.replay_doc(LABS[key].doc, c.name, str(REPO), timeout=120)
    times["replay"] = time.monotonic() - t0
    assert result.steps, f"{LABS[key].doc}: no console commands to replay"
    assert result.ok, result.mismatch
    assert lab(c, key, "check", 0, times).startswith("PASS")
    lab(c, key, "reset", 0, times)
    lab(c, key, "check", 1, times)
    lab(c, key, "solve", 0, times)
    lab(c, key, "check", 0, times)
    times["total"] = time.monotonic() - started


@pytest.mark.parametrize("key", sorted(LABS, key=lambda k: (int(k.rstrip("abcdefghijklmnopqrstuvwxyz")), k)))
def test_lab(lab_cluster, key):
    the_lab = LABS[key]
    kw = _cluster_args(the_lab)
    if kw is None:
        pytest.fail(f"lab {key}: this test cannot make a cluster with up_args {the_lab.up_args}")
    if kw:
        with cluster_up(**kw) as own:
            _exercise(own, key)
        return
    try:
        _exercise(lab_cluster, key)
    finally:
        ctx = Ctx(lab_cluster.name)
        (the_lab.clean or (lambda x: default_clean(the_lab, x)))(ctx)


def test_lab_cli_errors(lab_cluster):
    """A bad key and a missing cluster are errors naming them (exit 2); lab list shows every lab."""
    p = run("lab", "check", "99", cluster=lab_cluster.name, check=2)
    assert 'no lab "99"' in p.stderr
    p = run("lab", "start", "1", cluster=lab_cluster.name + "x", check=2)
    assert f"cluster {lab_cluster.name}x does not exist" in p.stderr
    out = run("lab", "list", cluster=lab_cluster.name, check=0).stdout
    assert [line.split()[0] for line in out.splitlines()[1:]] == [lab.key for lab in catalog.all_labs()]
