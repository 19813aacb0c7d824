"""The lab catalog: which labs there are, in order, each loaded only when it is used.

KEYS maps a lab's key to its module (a module defines LAB, or LABS for a page of several exercises); lab 12's
exercises are "12a", "12b", ... . `toycluster lab list` shows them in this order.
"""
import importlib

from toycluster.labs.kit import Lab

MODULES = [            # module, in the order of the curriculum
    "lab01_pod_netns", "lab02_pod_to_pod", "lab03_service_rules", "lab04_endpoints_readiness", "lab05_cluster_dns",
    "lab06_nodeport", "lab07_ingress", "lab08_journey", "lab09_network_policy", "lab10_scapy", "lab11_scale",
    "lab12_break_it",
]


def _labs_of(module: str) -> list[Lab]:
    try:
        mod = importlib.import_module(f"toycluster.labs.{module}")
    except ModuleNotFoundError as e:
        if e.name == f"toycluster.labs.{module}":
            return []                    # not written yet
        raise
    return list(getattr(mod, "LABS", None) or [mod.LAB])


def all_labs() -> list[Lab]:
    return [lab for m in MODULES for lab in _labs_of(m)]


def find(key: str) -> Lab:
    """The lab KEY ("3", "03", "12a"); ValueError naming the keys there are."""
    want = key.lstrip("0") or "0"
    labs = all_labs()
    for lab in labs:
        if lab.key == want:
            return lab
    raise ValueError(f'no lab "{key}": there are {", ".join(lab.key for lab in labs)} (`toycluster lab list`)')
