"""kube-proxy's rule count per service port (upstream's number of generated rules, as its scale tests
count them), read from a rendered state."""

from __future__ import annotations

from toycluster.proxy.names import SERVICE_CHAIN_PREFIXES


def rule_count_per_service(state: dict) -> dict[str, int]:
    """nat + filter rules per service port (upstream number_generated_rules): those that name it in their
    comment, and those without one in a chain of its own (a KUBE-SEP chain in a large cluster), whose
    service port is the one named by the rules that jump to it."""
    def named(rule):
        text = rule[rule.index("--comment") + 1] if "--comment" in rule else ""
        return next((w for w in text.split() if "/" in w and not w[0].isdigit()), None)

    owner: dict[tuple, str] = {}
    for _ in range(4):                            # KUBE-SERVICES -> EXT -> SVC -> SEP at the most
        for tname, table in state.items():
            for chain, rules in table.items():
                for rule in rules:
                    target = rule[rule.index("-j") + 1] if "-j" in rule else ""
                    name = named(rule) or owner.get((tname, chain))
                    if name and target.startswith(SERVICE_CHAIN_PREFIXES):
                        owner.setdefault((tname, target), name)
    counts: dict[str, int] = {}
    for tname, table in state.items():
        for chain, rules in table.items():
            for rule in rules:
                name = named(rule) or chain.startswith(SERVICE_CHAIN_PREFIXES) and owner.get((tname, chain))
                if name:
                    counts[name] = counts.get(name, 0) + 1
    return counts
