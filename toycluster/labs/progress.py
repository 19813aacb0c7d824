"""Lab progress: which labs a learner finished in a cluster, and how many checks failed (the hints' step).

Kept per cluster in /var/lib/toycluster/CLUSTER/labs.json (written whole, atomically):
{"labs": {"3": {"done": true, "failed": 2}}}. The first failed check of a lab gives its gentle hint, later
ones the stronger hint; `lab reset` starts the count again; done stays done.
"""
from __future__ import annotations

import json
import os

from toycluster import config


def path(cluster: str) -> str:
    return f"{config.STATE_ROOT}/{cluster}/labs.json"


def load(cluster: str) -> dict:
    """{key: {"done": bool, "failed": int}} for CLUSTER; {} when nothing was recorded (or the file is bad)."""
    try:
        with open(path(cluster)) as f:
            labs = json.load(f).get("labs", {})
    except (OSError, ValueError, AttributeError):
        return {}
    return labs if isinstance(labs, dict) else {}


def _save(cluster: str, labs: dict) -> None:
    if os.path.isdir(os.path.dirname(path(cluster))):
        config.write_atomic(path(cluster), json.dumps({"labs": labs}, indent=1, sort_keys=True) + "\n",
                            durable=False)


def _entry(labs: dict, key: str) -> dict:
    entry = labs.setdefault(key, {})
    entry.setdefault("done", False)
    entry.setdefault("failed", 0)
    return entry


def done(cluster: str, key: str) -> bool:
    return bool(load(cluster).get(key, {}).get("done"))


def record_check(cluster: str, key: str, ok: bool) -> int:
    """Record one check of lab KEY: done when OK, else one more failure. Returns the failures so far."""
    labs = load(cluster)
    entry = _entry(labs, key)
    if ok:
        entry["done"] = True
    else:
        entry["failed"] += 1
    _save(cluster, labs)
    return entry["failed"]


def hint_level(failures: int) -> int:
    """Which hint a check's failure number FAILURES gives: 0 (gentle) the first time, 1 (stronger) after."""
    return 0 if failures <= 1 else 1


def restart(cluster: str, key: str) -> None:
    """`lab reset`: the hints start again from the gentle one (done stays done)."""
    labs = load(cluster)
    if key in labs:
        _entry(labs, key)["failed"] = 0
        _save(cluster, labs)
