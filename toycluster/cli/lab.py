"""`toycluster lab`: the checked labs — list them, start one, check the learner's work (with hints), reset, solve.

    toycluster lab list
    toycluster lab start|check|reset|solve KEY

KEY is a lab's number ("3", "03") or an exercise of lab 12 ("12a"). start sets up the starting state and prints
the first step; check says PASS (exit 0) or what is missing and a hint (exit 1; the next failure gives the
stronger hint); reset removes what the lab made and starts it again; solve runs the reference solution. A bad
key or a cluster that does not exist is an error naming it (exit 2). Progress is kept per cluster (labs/progress.py).
"""
import sys
import time

from toycluster import config
from toycluster.cluster import lifecycle, network
from toycluster.cluster.lifecycle import UsageError
from toycluster.labs import catalog, progress
from toycluster.labs.kit import Ctx, Lab

ACTIONS = ("list", "start", "check", "reset", "solve")
NAMESPACE_GONE_TIMEOUT = 60.0


def _cluster(args) -> str:
    if not lifecycle.exists(args.cluster):
        raise UsageError(f"cluster {args.cluster} does not exist: `toycluster --cluster {args.cluster} up` makes it "
                         f"(clusters here: {', '.join(network.cluster_names()) or 'none'})")
    return args.cluster


def _lab(args) -> Lab:
    if not args.key:
        raise UsageError(f"lab {args.action} needs a lab's key: `toycluster lab {args.action} 1` "
                         f"(`toycluster lab list` shows them)")
    try:
        return catalog.find(args.key)
    except ValueError as e:
        raise UsageError(str(e)) from None


def _missing_up_args(lab: Lab, cfg: config.ClusterConfig) -> list[str]:
    """What this cluster has instead of the lab's `up` arguments (--flag value pairs), e.g. ["--overlay host-gw"]."""
    args, missing = list(lab.up_args), []
    for i, flag in enumerate(args):
        if not str(flag).startswith("--"):
            continue
        value = str(args[i + 1]) if i + 1 < len(args) and not str(args[i + 1]).startswith("--") else "True"
        have = getattr(cfg, str(flag)[2:].replace("-", "_"), None)
        if flag == "--nodes":
            ok = have is not None and int(have) >= int(value)
        else:
            ok = str(have) == value
        if not ok:
            missing.append(f"{flag} {have}" if have is not None else f"no {flag}")
    return missing


def _require_up_args(lab: Lab, cluster: str) -> None:
    if not lab.up_args:
        return
    missing = _missing_up_args(lab, config.ClusterConfig.load(cluster))
    if missing:
        wanted = " ".join(map(str, lab.up_args))
        raise UsageError(f"lab {lab.key} needs a cluster made with `toycluster up {wanted}`; cluster {cluster} "
                         f"has {', '.join(missing)}: make one with its own name and ranges, e.g. "
                         f"`toycluster --cluster lab{lab.key} up {wanted} --node-cidr ... --pod-cidr ...`")


def default_clean(lab: Lab, ctx: Ctx) -> None:
    """Delete the lab's namespace and wait until it is gone (nothing to do for a lab in "default")."""
    if lab.namespace in ("default", "", None):
        return
    ctx.kubectl("delete", "namespace", lab.namespace, "--ignore-not-found", "--wait=true", "--timeout=60s",
                timeout=NAMESPACE_GONE_TIMEOUT + 10)
    deadline = time.monotonic() + NAMESPACE_GONE_TIMEOUT
    while ctx.get("Namespace", lab.namespace, namespace=None) is not None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"namespace {lab.namespace} was still there after {NAMESPACE_GONE_TIMEOUT:.0f} s")
        time.sleep(0.2)


def cmd_list(args) -> int:
    labs = catalog.all_labs()
    done = progress.load(args.cluster) if lifecycle.exists(args.cluster) else {}
    width = max([len(lab.title) for lab in labs] + [5])
    print(f"{'LAB':<5} {'TITLE':<{width}}  DONE")
    for lab in labs:
        print(f"{lab.key:<5} {lab.title:<{width}}  {'yes' if done.get(lab.key, {}).get('done') else 'no'}")
    return 0


def _start(lab: Lab, ctx: Ctx) -> int:
    text = lab.start(ctx)
    print(f"lab {lab.key}: {lab.title} ({lab.doc})")
    if text:
        print(text.rstrip("\n"))
    return 0


def cmd_check(lab: Lab, ctx: Ctx) -> int:
    if lab.namespace not in ("default", "", None) and ctx.get("Namespace", lab.namespace, namespace=None) is None:
        print(f"not yet: lab {lab.key} is not started here (no namespace {lab.namespace} in cluster {ctx.cluster}): "
              f"`toycluster lab start {lab.key}`")
        return 1
    verdict = lab.check(ctx)
    failures = progress.record_check(ctx.cluster, lab.key, verdict.ok)
    if verdict.ok:
        print(f"PASS: lab {lab.key} ({lab.title}) is done")
        return 0
    level = progress.hint_level(failures)
    print(f"not yet: {verdict.missing}")
    hint = verdict.hints[level] or verdict.hints[0]
    if hint:
        print(f"{'hint' if level == 0 else 'hint (stronger)'}: {hint}")
    return 1


def cmd_reset(lab: Lab, ctx: Ctx) -> int:
    (lab.clean or (lambda c: default_clean(lab, c)))(ctx)
    progress.restart(ctx.cluster, lab.key)
    return _start(lab, ctx)


def cmd_solve(lab: Lab, ctx: Ctx) -> int:
    lab.solve(ctx)
    print(f"lab {lab.key} solved (the reference solution); `toycluster lab check {lab.key}` passes now")
    return 0


def cmd_lab(args) -> int:
    if args.action == "list":
        if args.key:
            raise UsageError(f"lab list takes no key (got {args.key})")
        return cmd_list(args)
    lab = _lab(args)
    cluster = _cluster(args)
    ctx = Ctx(cluster)
    if args.action in ("start", "reset", "solve"):
        _require_up_args(lab, cluster)
    run = {"start": _start, "check": cmd_check, "reset": cmd_reset, "solve": cmd_solve}[args.action]
    try:
        return run(lab, ctx)
    except RuntimeError as e:
        print(f"error: lab {lab.key} {args.action}: {e}", file=sys.stderr)
        return 1


def register(verb) -> None:
    """Add `lab` to the `toycluster` parser (VERB(name, fn, help) adds one and returns it)."""
    sp = verb("lab", cmd_lab, "the checked labs: lab list | lab start|check|reset|solve KEY", namespaced=False)
    sp.add_argument("action", choices=ACTIONS, help="list the labs, or start, check, reset or solve one")
    sp.add_argument("key", nargs="?", help="the lab: 1, 03, 12a (`toycluster lab list`)")
