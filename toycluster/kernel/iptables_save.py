"""The iptables-save text of rendered tables: what the kernel will print for the rules kube-proxy and the
network policy agent render, so a dry run, a golden test and ``iptables-save`` itself can be compared.

A rendered state is {table: {chain: [rule]}}, a rule a list of argv tokens without "-A CHAIN", with option
values as the components pass them (``--probability 0.3333333333``, ``--or-mark 0x4000``); ``save_tokens``
rewrites the few that the kernel reports differently.
"""

from __future__ import annotations

from toycluster.kernel.iptables_chains import BUILTINS

__all__ = ["comment", "to_iptables_save", "save_tokens"]

_QUOTE_FREE = set("_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def comment(text: str) -> list[str]:
    """A rule's `-m comment --comment TEXT`; xt_comment holds 255 bytes, so a longer TEXT is cut, marked " ..."."""
    if len(text) > 63 and len(text.encode()) > 255:      # 63 characters are at most 252 bytes in UTF-8
        text = text.encode()[:250].decode(errors="ignore") + " ..."
    return ["-m", "comment", "--comment", text]


def _save_string(value: str) -> str:
    """xtables_save_string(): bare if only [A-Za-z0-9_-], else double-quoted with \\ before " \\ '."""
    if value and set(value) <= _QUOTE_FREE:
        return value
    return '"' + "".join("\\" + c if c in "\"\\'" else c for c in value) + '"'


def save_tokens(rule: list[str]) -> list[str]:
    """The tokens iptables-save prints for a rule we wrote (values the kernel reports differently)."""
    out, i = [], 0
    while i < len(rule):
        tok = rule[i]
        if tok == "--probability":  # stored as round(p * 2^31), printed with %.11f
            out += [tok, "%.11f" % (round(float(rule[i + 1]) * 0x80000000) / 0x80000000)]
            i += 2
            continue
        if tok == "recent":  # libxt_recent prints the command first and its defaults
            j = i + 1
            opts = []
            while j < len(rule) and rule[j] not in ("-m", "-j"):
                opts.append(rule[j])
                j += 1
            name = opts[opts.index("--name") + 1]
            rest = [o for k, o in enumerate(opts) if o != "--name" and (k == 0 or opts[k - 1] != "--name")]
            out += ["recent"] + rest + ["--name", name, "--mask", "255.255.255.255", "--rsource"]
            i = j
            continue
        if tok in ("--or-mark", "--xor-mark"):
            mask = rule[i + 1] if tok == "--or-mark" else "0x0"
            out += ["--set-xmark", f"{rule[i + 1]}/{mask}"]
            i += 2
            continue
        out.append(tok)
        if tok == "REJECT" and rule[i - 1] == "-j" and "--reject-with" not in rule:
            out += ["--reject-with", "icmp-port-unreachable"]
        i += 1
    return out


def to_iptables_save(state: dict) -> str:
    """The tables as iptables-save prints them (without its "# Generated" lines): for each table the
    built-in chains with policy ACCEPT, then the other chains sorted by name (libiptc keeps them
    sorted), then the rules chain by chain in that order.  Filter first, then nat, as upstream writes."""
    lines = []
    for table in [t for t in ("filter", "nat") if t in state] + \
                 sorted(t for t in state if t not in ("filter", "nat")):
        chains = state[table]
        builtins = list(BUILTINS.get(table, ()))
        users = sorted(c for c in chains if c not in builtins)
        lines.append("*" + table)
        lines += [f":{c} ACCEPT [0:0]" for c in builtins]
        lines += [f":{c} - [0:0]" for c in users]
        for c in builtins + users:
            for rule in chains.get(c, []):
                toks = save_tokens(rule)
                text = []
                for k, tok in enumerate(toks):
                    text.append(_save_string(tok) if k and toks[k - 1] == "--comment" else tok)
                lines.append(" ".join(["-A", c] + text))
        lines.append("COMMIT")
    return "\n".join(lines) + "\n"
