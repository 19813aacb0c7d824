"""The network policy agent's inputs: which pods each NetworkPolicy selects and which addresses and ports its
peers stand for, computed once per sync for every node (agent.py renders the rules from it).

Pods count when they have an IPv4 address and have not finished; a namespace missing from the store is
taken to carry only upstream's kubernetes.io/metadata.name label.  Selector results are memoised per
distinct label set (the pods of one app share one), pod peers are collapsed into the fewest CIDRs that
cover exactly their addresses, ipBlocks become cidr minus except as plain CIDRs.
"""

from __future__ import annotations

import ipaddress
import json
import socket

from toycluster.api.selectors import label_selector_matches

NS_NAME_LABEL = "kubernetes.io/metadata.name"
_DIRS = (("egress", "Egress", "to"), ("ingress", "Ingress", "from"))


def policy_types(policy: dict) -> list[str]:
    """spec.policyTypes, or upstream's default: Ingress, plus Egress when there are egress rules."""
    spec = policy.get("spec") or {}
    if spec.get("policyTypes"):
        return list(spec["policyTypes"])
    return ["Ingress"] + (["Egress"] if spec.get("egress") else [])


class Inputs:
    """Pods (with IPs, not finished), namespace labels, and each policy's selection, computed once for all nodes."""

    def __init__(self, policies, pods, namespaces):
        self.ns_labels = {n["metadata"]["name"]: (n["metadata"].get("labels") or {}) for n in namespaces}
        self.pods, self.by_ns, self.by_ip = [], {}, {}
        for p in pods:
            meta, status = p["metadata"], p.get("status") or {}
            ip = status.get("podIP")
            if not ip or ":" in ip or status.get("phase") in ("Succeeded", "Failed"):
                continue
            ports = {}
            for c in (p.get("spec") or {}).get("containers") or []:
                for cp in c.get("ports") or []:
                    if cp.get("name"):
                        ports.setdefault((cp["name"], (cp.get("protocol") or "TCP").upper()), cp["containerPort"])
            rec = {"ns": meta.get("namespace") or "default", "name": meta["name"], "ip": ip,
                   "node": (p.get("spec") or {}).get("nodeName"), "labels": meta.get("labels") or {},
                   "ports": ports}
            rec["id"], rec["lkey"] = f"{rec['ns']}/{rec['name']}", tuple(sorted(rec["labels"].items()))
            try:
                rec["int"] = int.from_bytes(socket.inet_aton(ip), "big")
            except OSError:
                continue
            self.pods.append(rec)
            self.by_ns.setdefault(rec["ns"], []).append(rec)
            self.by_ip.setdefault(ip, rec)
        self.policies, self.chains, self._memo = [], {}, {}
        for pol in sorted(policies, key=lambda o: (o["metadata"].get("namespace") or "default", o["metadata"]["name"])):
            ns, spec = pol["metadata"].get("namespace") or "default", pol.get("spec") or {}
            selected = self.select(spec.get("podSelector") or {}, self.by_ns.get(ns, []))
            types = policy_types(pol)
            entry = {"ns": ns, "name": pol["metadata"]["name"], "id": f"{ns}/{pol['metadata']['name']}",
                     "selected": selected, "dirs": {}}
            for direction, ptype, peer_key in _DIRS:
                if ptype in types:
                    entry["dirs"][direction] = [self._rule(ns, r, peer_key) for r in spec.get(direction) or []]
            self.policies.append(entry)
        self.isolating = {}   # (pod id, direction) -> [policy entries], in name order
        for pol in self.policies:
            for direction in pol["dirs"]:
                for r in pol["selected"]:
                    self.isolating.setdefault((r["id"], direction), []).append(pol)

    def ns_of(self, ns: str) -> dict:
        return self.ns_labels.get(ns) or {NS_NAME_LABEL: ns}

    def select(self, selector, records):
        """The pod records SELECTOR matches (memoised per distinct label set: pods of one app share one)."""
        skey, memo, out = json.dumps(selector, sort_keys=True), self._memo, []
        for r in records:
            hit = memo.get((skey, r["lkey"]))
            if hit is None:
                hit = memo[(skey, r["lkey"])] = label_selector_matches(selector, r["labels"])
            if hit:
                out.append(r)
        return out

    def _rule(self, ns, rule, peer_key):
        peers = None if not rule.get(peer_key) else [self._peer(ns, p) for p in rule[peer_key]]
        ports = None if not rule.get("ports") else [_port(p) for p in rule["ports"]]
        return {"peers": peers, "ports": ports}

    def _peer(self, ns, peer):
        if peer.get("ipBlock") is not None:
            block = peer["ipBlock"]
            cidr = ipaddress.ip_network(block["cidr"], strict=False)
            if cidr.version != 4:
                return {"desc": f"ipBlock {block['cidr']} (IPv6: no IPv6 here)", "cidrs": [], "pods": None}
            return {"desc": f"ipBlock {cidr}" + (f" except {', '.join(block['except'])}" if block.get("except")
                                                 else ""),
                    "cidrs": cidr_minus(str(cidr), block.get("except") or []), "pods": None}
        nsel, psel = peer.get("namespaceSelector"), peer.get("podSelector")
        if nsel is None:
            pods = self.select(psel or {}, self.by_ns.get(ns, []))
            how = "podSelector"
        else:
            pods = [r for n, rs in self.by_ns.items() if label_selector_matches(nsel, self.ns_of(n))
                    for r in (rs if psel is None else self.select(psel, rs))]
            how = "namespaceSelector" + ("+podSelector" if psel is not None else "")
        return {"desc": how, "cidrs": None, "pods": pods, "addresses": _collapse(pods, how)}


def _port(p: dict) -> dict:
    proto = (p.get("protocol") or "TCP").upper()
    port, end = p.get("port"), p.get("endPort")
    return {"proto": proto, "name": port if isinstance(port, str) else None,
            "range": None if port is None or isinstance(port, str) else (int(port), int(end or port))}


def _collapse(pods, how):
    """[(CIDR, "pod ns/name (how)" or "pods a, b, ... (how)")]: runs of consecutive pod IPs as the fewest
    CIDRs that cover exactly them (pods of one node get consecutive addresses), so a namespaceSelector over
    hundreds of pods is not hundreds of rules."""
    by_int = sorted((r["int"], r["id"]) for r in pods)
    out, i, n = [], 0, len(by_int)
    while i < n:
        start = by_int[i][0]
        size = 1
        while size < 256 and start % (size * 2) == 0 and i + size * 2 <= n \
                and by_int[i + size * 2 - 1][0] == start + size * 2 - 1:
            size *= 2
        ids = [pid for _, pid in by_int[i:i + size]]
        out.append((f"{socket.inet_ntoa(start.to_bytes(4, 'big'))}/{32 - size.bit_length() + 1}",
                    (f"pod {ids[0]}" if size == 1 else "pods " + ", ".join(ids)) + f" ({how})"))
        i += size
    return out


def cidr_minus(cidr: str, excepts: list[str]) -> list[str]:
    """CIDR without the EXCEPT blocks, as plain CIDRs (what one -s/-d per rule can match)."""
    nets = [ipaddress.ip_network(cidr, strict=False)]
    for ex in excepts:
        ex_net = ipaddress.ip_network(ex, strict=False)
        out = []
        for n in nets:
            if ex_net.version != n.version or not ex_net.overlaps(n):
                out.append(n)
            elif n.subnet_of(ex_net):
                continue
            else:
                out.extend(n.address_exclude(ex_net))
        nets = out
    return [str(n) for n in ipaddress.collapse_addresses(nets)] if nets else []


def compile_inputs(policies, pods, namespaces) -> Inputs:
    return Inputs(policies, pods, namespaces)
