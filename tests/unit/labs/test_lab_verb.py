"""`toycluster lab` (cli/lab.py) and labs/progress.py with a made-up lab: hints in turn, progress, errors (exit 2)."""
import pytest

from toycluster import config
from toycluster.cli import lab as lab_verb
from toycluster.cli import main
from toycluster.labs import catalog, progress
from toycluster.labs.kit import PASS, Lab, fail

STATE = {"fixed": False, "cleaned": 0}


def _lab(**kw):
    return Lab(key="1", title="A made-up lab", doc="docs/labs/01-x.md", article="a.txt: 'a phrase'",
               start=lambda ctx: "Step 1: do it.",
               check=lambda ctx: PASS if STATE["fixed"] else fail("the thing", "gentle hint", "stronger hint"),
               solve=lambda ctx: STATE.update(fixed=True), **kw)


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "STATE_ROOT", str(tmp_path))
    (tmp_path / "c1").mkdir()
    monkeypatch.setattr(lab_verb.lifecycle, "exists", lambda name: name == "c1")
    monkeypatch.setattr(lab_verb.lifecycle, "require_root", lambda: None)
    monkeypatch.setattr(lab_verb.network, "cluster_names", lambda: ["c1"])
    monkeypatch.setattr(lab_verb.Ctx, "get", lambda self, kind, name, namespace="default": {})
    STATE.update(fixed=False, cleaned=0)
    labs = [_lab(clean=lambda ctx: STATE.update(cleaned=STATE["cleaned"] + 1))]
    monkeypatch.setattr(catalog, "all_labs", lambda: labs)
    return labs


def run(capsys, *argv):
    status = main.main(["--cluster", "c1", *argv])
    out = capsys.readouterr()
    return status, out.out, out.err


def test_check_gives_the_gentle_hint_then_the_stronger_one_then_pass(env, capsys):
    assert run(capsys, "lab", "start", "01")[:2] == (0, "lab 1: A made-up lab (docs/labs/01-x.md)\nStep 1: do it.\n")
    status, out, _ = run(capsys, "lab", "check", "1")
    assert (status, out) == (1, "not yet: the thing\nhint: gentle hint\n")
    status, out, _ = run(capsys, "lab", "check", "1")
    assert (status, out) == (1, "not yet: the thing\nhint (stronger): stronger hint\n")
    assert run(capsys, "lab", "list")[1].splitlines()[1].split()[-1] == "no"
    assert run(capsys, "lab", "solve", "1")[0] == 0
    assert run(capsys, "lab", "check", "1")[:2] == (0, "PASS: lab 1 (A made-up lab) is done\n")
    assert progress.load("c1") == {"1": {"done": True, "failed": 2}}
    assert run(capsys, "lab", "list")[1].splitlines()[1].split()[-1] == "yes"


def test_reset_cleans_starts_again_and_the_hints_start_over(env, capsys):
    run(capsys, "lab", "check", "1")
    run(capsys, "lab", "check", "1")
    status, out, _ = run(capsys, "lab", "reset", "1")
    assert (status, STATE["cleaned"]) == (0, 1) and "Step 1" in out
    assert run(capsys, "lab", "check", "1")[1].endswith("hint: gentle hint\n")


@pytest.mark.parametrize("argv, message", [
    (["--cluster", "nope", "lab", "start", "1"], "cluster nope does not exist"),
    (["--cluster", "c1", "lab", "check", "7"], 'no lab "7"'),
    (["--cluster", "c1", "lab", "check"], "needs a lab's key"),
    (["--cluster", "c1", "lab", "list", "3"], "takes no key"),
])
def test_bad_input_is_exit_2_naming_it(env, capsys, argv, message):
    assert main.main(argv) == 2
    assert message in capsys.readouterr().err


def test_a_lab_that_needs_up_arguments_says_so(env, capsys, monkeypatch):
    env[0] = _lab(up_args=("--overlay", "vxlan"))
    monkeypatch.setattr(config.ClusterConfig, "load", classmethod(lambda cls, name: config.ClusterConfig(name=name)))
    status, _, err = run(capsys, "lab", "start", "1")
    assert status == 2 and "toycluster up --overlay vxlan" in err and "cluster c1 has --overlay host-gw" in err


def test_progress_survives_a_bad_file(env):
    with open(progress.path("c1"), "w") as f:
        f.write("{not json")
    assert progress.load("c1") == {}
    assert progress.record_check("c1", "1", False) == 1
    assert progress.hint_level(1) == 0 and progress.hint_level(2) == 1


def test_check_of_a_lab_not_started_says_so_without_a_hint(env, capsys, monkeypatch):
    env[0] = _lab(namespace="lab01")
    monkeypatch.setattr(lab_verb.Ctx, "get", lambda self, kind, name, namespace="default": None)
    status, out, _ = run(capsys, "lab", "check", "1")
    assert status == 1 and "lab 1 is not started here (no namespace lab01" in out
    assert progress.load("c1") == {}
