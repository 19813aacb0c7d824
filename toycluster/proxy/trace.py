"""A tiny packet tracer over kube-proxy's rendered rules: where does a new connection go, and why?

``trace(state, src=..., dst=..., dport=...)`` walks the first packet of a new connection through the
rendered tables in the order the kernel does (nat PREROUTING, or nat OUTPUT for a process on the node;
then the filter chain the routing decision picks; then nat POSTROUTING) and returns rows a learner can
check against ``iptables-save``: each rule that matched (table, chain, rule number, comment, target),
why a KUBE-MARK-MASQ rule did or did not match, the endpoint set with the probability of each, and the
result (DNAT destinations, masquerade or not, REJECT/DROP).  It is a model, not the kernel: it knows the
matches kube-proxy uses (addresses, -p, --dport, addrtype, statistic, recent, mark, conntrack state).
"""

from __future__ import annotations

import ipaddress

from toycluster.kernel.iptables_save import save_tokens

__all__ = ["trace"]


def _parse(rule):
    r = {"src": None, "dst": None, "proto": None, "matches": [], "target": "", "topts": [], "comment": ""}
    i, neg = 0, False
    while i < len(rule):
        tok = rule[i]
        if tok == "!":
            neg, i = True, i + 1
        elif tok in ("-s", "-d", "-p"):
            r[{"-s": "src", "-d": "dst", "-p": "proto"}[tok]] = (neg, rule[i + 1])
            neg, i = False, i + 2
        elif tok == "-m":
            j = i + 2
            while j < len(rule) and rule[j] not in ("-m", "-j"):
                j += 1
            r["matches"].append((rule[i + 1], rule[i + 2:j]))
            if rule[i + 1] == "comment":
                r["comment"] = rule[i + 3]
            i = j
        else:  # -j
            r["target"], r["topts"] = rule[i + 1], rule[i + 2:]
            i = len(rule)
    return r


def _opt(opts, name):
    """(value, negated) of --name in a match's options, or (None, False)."""
    for k, o in enumerate(opts):
        if o == name:
            return (opts[k + 1] if k + 1 < len(opts) and not opts[k + 1].startswith("--") else ""), \
                (k > 0 and opts[k - 1] == "!")
    return None, False


class _Tracer:
    def __init__(self, state, local_ips, from_local):
        self.state, self.rows = state, []
        self.local = {str(ipaddress.ip_address(a)) for a in local_ips}
        self.from_local = from_local

    def is_local(self, ip):
        return ip in self.local or ipaddress.ip_address(ip) in ipaddress.ip_network("127.0.0.0/8")

    def match(self, r, pkt):
        """(matches?, probability or None, reason it did not match)."""
        for field in ("src", "dst"):
            if r[field]:
                neg, net = r[field]
                inside = ipaddress.ip_address(pkt[field]) in ipaddress.ip_network(net)
                if inside == neg:
                    return False, None, f"{field} {pkt[field]} is {'inside' if inside else 'outside'} {net}"
        if r["proto"] and (r["proto"][1] == pkt["proto"]) == r["proto"][0]:
            return False, None, "protocol"
        prob = None
        for name, opts in r["matches"]:
            if name in ("tcp", "udp", "sctp"):
                port, neg = _opt(opts, "--dport")
                if port is not None and (str(pkt["dport"]) == port) == neg:
                    return False, None, "port"
            elif name == "addrtype":
                for opt, field in (("--dst-type", "dst"), ("--src-type", "src")):
                    kind, neg = _opt(opts, opt)
                    if kind == "LOCAL":
                        local = self.from_local if field == "src" else self.is_local(pkt["dst"])
                        local = local or (field == "src" and self.is_local(pkt["src"]))
                        if local == neg:
                            return False, None, f"{field} {pkt[field]} is {'' if local else 'not '}local"
            elif name == "statistic":
                prob = float(_opt(opts, "--probability")[0])
            elif name == "recent" and _opt(opts, "--rcheck")[0] is not None:
                return False, None, "recent"
            elif name == "mark":
                value, neg = _opt(opts, "--mark")
                want, _, mask = value.partition("/")
                hit = pkt["mark"] & int(mask or "0xffffffff", 16) == int(want, 16)
                if hit == neg:
                    return False, None, "mark"
            elif name == "conntrack":
                value, neg = _opt(opts, "--ctstate")
                states = {"NEW"} | ({"DNAT"} if pkt["dnat"] else set())
                if bool(states & set(value.split(","))) == neg:
                    return False, None, "ctstate"
        return True, prob, ""

    def explain(self, r, pkt, why):
        if why.startswith("src") and r["src"] and not r["src"][0] and r["src"][1].endswith("/32"):
            return f"hairpin only: the client {pkt['src']} is not this endpoint {r['src'][1][:-3]}"
        if why.startswith("src") and r["src"] and r["src"][0]:
            return f"the client {pkt['src']} is inside the pod CIDR {r['src'][1]}, it keeps its address"
        if why.startswith("src"):
            return f"the client {pkt['src']} is not a local address of this node"
        return why

    def run(self, table, chain, pkt, prob, depth, start=0):
        """Outcomes [(probability, packet, how it ended)] of traversing CHAIN from rule START."""
        rules, out = self.state[table].get(chain, []), []
        for idx in range(start, len(rules)):
            r = _parse(rules[idx])
            ok, p, why = self.match(r, pkt)
            where = f"{'  ' * depth}{table} {chain} #{idx + 1}" + (f' "{r["comment"]}"' if r["comment"] else "")
            if not ok:
                if r["target"] == "KUBE-MARK-MASQ" and why:
                    self.rows.append(f"{where}: no masquerade mark ({self.explain(r, pkt, why)})")
                elif why == "recent":
                    name = _opt(r["matches"][-1][1], "--name")[0]
                    secs = _opt(r["matches"][-1][1], "--seconds")[0]
                    self.rows.append(f"{where}: session affinity: a client seen in the last {secs} s "
                                     f"goes back to {name}; a first connection has no entry yet")
                continue
            if p is None:
                return out + self.target(table, chain, idx, r, pkt, prob, depth, where)
            self.rows.append(f"{where}: random, probability {p:.10f} of the rest "
                             f"= {prob * p:.4f} of connections -> {r['target']}")
            out += self.target(table, chain, idx, r, dict(pkt), prob * p, depth, None)
            prob *= 1 - p
            if prob < 1e-12:
                return out
        return out + [(prob, pkt, "end")]

    def target(self, table, chain, idx, r, pkt, prob, depth, where):
        t, opts = r["target"], r["topts"]
        note = lambda text: where and self.rows.append(f"{where} -> {text}")  # noqa: E731
        if t in ("ACCEPT", "DROP", "REJECT"):
            note(t)
            return [(prob, pkt, t)]
        if t == "RETURN":
            note("RETURN")
            return [(prob, pkt, "end")]
        if t == "DNAT":
            pkt["dnat"] = opts[1]
            note(f"DNAT to {opts[1]}")
            return [(prob, pkt, "ACCEPT")]
        if t == "MASQUERADE":
            pkt["masq"] = True
            note("MASQUERADE (source becomes this node's address on the way out)")
            return [(prob, pkt, "ACCEPT")]
        if t == "MARK":
            value = int(opts[1], 16)
            pkt["mark"] = pkt["mark"] | value if opts[0] == "--or-mark" else pkt["mark"] ^ value
            note(f"MARK {' '.join(save_tokens(['-j', 'MARK'] + opts)[2:])}")
            return self.run(table, chain, pkt, prob, depth, idx + 1)
        if t == "":
            note("(no target: counts and falls through)")
            return self.run(table, chain, pkt, prob, depth, idx + 1)
        if t == "KUBE-MARK-MASQ":
            pkt["mark"] |= 0x4000
            note("KUBE-MARK-MASQ: marked 0x4000, to be masqueraded in KUBE-POSTROUTING")
            return self.run(table, chain, pkt, prob, depth, idx + 1)
        note(t)
        mark, out = len(self.rows), []
        inner = self.run(table, t, pkt, prob, depth + 1)
        if where and len(self.rows) == mark and all(how == "end" for *_, how in inner):
            self.rows.pop()  # nothing in that chain applies to this packet: leave the jump out
        for p, k, how in inner:
            out += self.run(table, chain, k, p, depth, idx + 1) if how == "end" else [(p, k, how)]
        return out

    def hook(self, table, chain, pkt, prob=1.0):
        mark = len(self.rows)
        outs = self.run(table, chain, pkt, prob, 0)
        if len(self.rows) == mark:
            self.rows.append(f"{table} {chain}: no kube-proxy rule applies -> ACCEPT (chain policy)")
        return [(p, k, "ACCEPT" if how == "end" else how) for p, k, how in outs]


def trace(state: dict, *, src: str, dst: str, dport: int, proto: str = "tcp",
          from_local_process: bool = False, local_ips=()) -> list[str]:
    """Rows describing the first packet of a new connection SRC -> DST:DPORT/PROTO through STATE.

    ``from_local_process``: sent by a process on the node itself (nat OUTPUT, filter OUTPUT) rather
    than arriving from a pod or another host (nat PREROUTING, filter FORWARD or INPUT).
    ``local_ips``: this node's addresses, for ``-m addrtype --dst-type LOCAL`` (NodePorts); 127.0.0.0/8
    is always local.
    """
    proto = proto.lower()
    tr = _Tracer(state, local_ips, from_local_process)
    pkt = {"src": src, "dst": dst, "dport": dport, "proto": proto, "mark": 0, "dnat": None, "masq": False}
    start = "OUTPUT" if from_local_process else "PREROUTING"
    how = "sent by a process on this node" if from_local_process else "arriving from a pod or another host"
    tr.rows.append(f"packet: {src} -> {dst}:{dport}/{proto}, new connection, {how}: nat {start}")
    nat = tr.hook("nat", start, pkt)
    finals = []
    for prob, p, verdict in nat:
        to = p["dnat"].rpartition(":")[0] if p["dnat"] else p["dst"]
        chain = "OUTPUT" if from_local_process else ("INPUT" if tr.is_local(to) else "FORWARD")
        finals.append((prob, p, chain, to))
    groups: dict[tuple, list[str]] = {}  # packets that take the same way through filter and POSTROUTING
    for prob, p, chain, to in finals:
        groups.setdefault((chain, bool(p["dnat"]), tr.is_local(to), p["mark"]), []).append(p["dnat"])
    shown = set()
    results = []
    for prob, p, chain, to in finals:
        key = (chain, bool(p["dnat"]), tr.is_local(to), p["mark"])
        quiet = key in shown
        shown.add(key)
        if not quiet and len(groups) > 1:
            tr.rows.append("then, " + (f"after DNAT to {', '.join(groups[key])}:" if p["dnat"] else "without DNAT:"))
        mark = len(tr.rows)
        pf = dict(p, dst=to)
        outs = tr.hook("filter", chain, pf, prob) if "filter" in state else [(prob, pf, "ACCEPT")]
        if quiet:
            del tr.rows[mark:]
        for fp, fpk, verdict in outs:
            if verdict == "ACCEPT" and not tr.is_local(to):
                mark = len(tr.rows)
                post = tr.hook("nat", "POSTROUTING", dict(fpk, dst=to), fp)
                if quiet:
                    del tr.rows[mark:]
                fpk = post[0][1] if post else fpk
            results.append((fp, fpk, verdict, to))
    tr.rows += _summary(results, src, dst, dport, proto)
    return tr.rows


def _summary(results, src, dst, dport, proto):
    rows = []
    dnat = [(p, k) for p, k, v, _ in results if k["dnat"] and v == "ACCEPT"]
    if dnat:
        eps = {}
        for p, k in dnat:
            eps[k["dnat"]] = eps.get(k["dnat"], 0.0) + p
        rows.append("endpoint set: " + ", ".join(f"{ep} (p={p:.3f})" for ep, p in eps.items()))
        masq = sorted({k["masq"] for _, k in dnat})
        if masq == [False]:
            rows.append(f"masquerade: no, the endpoint sees the client's own address {src}")
        elif masq == [True]:
            rows.append(f"masquerade: yes (KUBE-MARK-MASQ then KUBE-POSTROUTING MASQUERADE), "
                        f"the endpoint sees this node's address, not {src}")
        else:
            rows.append("masquerade: only for " + ", ".join(k["dnat"] for _, k in dnat if k["masq"])
                        + " (hairpin: the client is that endpoint)")
        rows.append(f"result: {dst}:{dport}/{proto} is DNATed to " + " | ".join(eps))
    for verdict in ("REJECT", "DROP"):
        hit = [p for p, _, v, _ in results if v == verdict]
        if hit:
            what = ("refused at once: ICMP port unreachable, the client sees 'connection refused'"
                    if verdict == "REJECT" else "dropped silently: the client times out")
            rows.append(f"result: {dst}:{dport}/{proto} {what} (p={sum(hit):.3f})")
    plain = [p for p, k, v, _ in results if v == "ACCEPT" and not k["dnat"]]
    if plain and not dnat:
        rows.append(f"result: no service rule matched, {dst}:{dport}/{proto} is routed unchanged")
    return rows
