"""kube-proxy's change tracking: every node's rendered rules kept per Service, so that a sync renders
again only the Services whose object or EndpointSlices changed.

Upstream's proxier keeps a ServiceChangeTracker and an EndpointsChangeTracker, fed by its informers' event
handlers, and in a partial sync writes only the chains of the Services that changed.  Here ``Inputs`` plays
the trackers: the Services and each Service's EndpointSlices, updated object by object (kube-proxy's
process feeds it the informer's changes), with the set of Services changed since the last look.
``ClusterRender`` keeps each Service's pieces (``proxier.port_piece``, one per service port) as long
as the Service's ``resourceVersion`` and the names and ``resourceVersion``s of its EndpointSlices are the
same as when they were rendered.  A sync told which Services changed (``render_changed``) renders those
again and, when none of them came, went or changed a rule in a top-level chain (KUBE-SERVICES,
KUBE-NODEPORTS, KUBE-EXTERNAL-SERVICES...: an endpoint turning unready changes only the Service's own
chains), patches their chains into a copy of the last states; otherwise, and in ``render`` (every
Service looked at), the states are assembled again from all the pieces by ``proxier.assemble``, as
``proxier.render`` does.  Each Service's endpoint count is kept too: when the cluster's total crosses
``proxier.LARGE_CLUSTER_ENDPOINTS`` (upstream's large cluster mode, per-endpoint rules without
comments), every Service is rendered again.  Either way ``ClusterRender(...).render(services, slices)[node]`` equals
``proxier.render(services, slices, node_name=node, ...)`` (as dicts: a patched state lists the new
chains last).  An object without a resourceVersion (made by hand, not read from the API) is never
cached: its Service is rendered every time.

One cache serves every node: a Service is rendered for each node, and when its pieces come out the same
on every node (no Local traffic policy, no load balancer source ranges) they are kept once; when every
Service's are, the nodes share one assembled state (the same dict), rendered once per sync.

The rule lists of unchanged Services are the same list objects from one sync to the next, which is also
what makes ``iptables_apply``'s comparison with the previous state cheap.  Nobody may change them.
"""
from __future__ import annotations

from toycluster.proxy import proxier
from toycluster.proxy.service_ports import (canonical_cidr, endpoint_count, endpoints_by_port, endpoints_total,
                                            port_sort_key, service_ports)

SERVICE_NAME = "kubernetes.io/service-name"


def _ident(obj: dict) -> tuple:
    meta = obj.get("metadata") or {}
    return meta.get("namespace") or "default", meta.get("name")


class Inputs:
    """What kube-proxy renders from, kept object by object: every Service, each Service's EndpointSlices,
    and the Services whose object or slices changed since ``take_changed()`` (None: all, as after a list)."""

    def __init__(self, services=(), slices=()):
        self.services: dict[tuple, dict] = {}      # (namespace, name) -> Service
        self.slices: dict[tuple, dict] = {}        # (namespace, Service name) -> {slice name: EndpointSlice}
        self.owner: dict[tuple, tuple] = {}        # (namespace, slice name) -> its Service's (namespace, name)
        self.changed: set | None = None
        self.version = 0                           # counts the changes
        for svc in services:
            self.service(_ident(svc), svc)
        for sl in slices:
            self.endpoint_slice(_ident(sl), sl)

    def service(self, ident: tuple, svc: dict | None) -> None:
        """Service IDENT (namespace, name) is now SVC (None: deleted)."""
        if svc is None:
            self.services.pop(ident, None)
        else:
            self.services[ident] = svc
        self._touch(ident)

    def endpoint_slice(self, key: tuple, sl: dict | None) -> None:
        """EndpointSlice KEY (namespace, name) is now SL (None: deleted)."""
        was = self.owner.pop(key, None)
        if was is not None:
            del self.slices[was][key[1]]
            if not self.slices[was]:
                del self.slices[was]
            self._touch(was)
        svc = ((sl or {}).get("metadata", {}).get("labels") or {}).get(SERVICE_NAME)
        if svc:
            ident = self.owner[key] = (key[0], svc)
            self.slices.setdefault(ident, {})[key[1]] = sl
            self._touch(ident)

    def slices_of(self, ident: tuple) -> list[dict]:
        return list(self.slices.get(ident, {}).values())

    def take_changed(self) -> set | None:
        changed, self.changed = self.changed, set()
        return changed

    def _touch(self, ident: tuple) -> None:
        self.version += 1
        if self.changed is not None:
            self.changed.add(ident)


class ClusterRender:
    """The rendered rules of every node's kube-proxy, with the per-Service cache."""

    def __init__(self, nodes: dict[str, str], *, cluster_cidr: str):
        self.nodes = dict(nodes)                 # node name -> node IP
        self.cidr = canonical_cidr(cluster_cidr)
        # (namespace, name) -> (key, the pieces of every node or None, {node: its pieces} or None,
        # its endpoint count, rendered for a large cluster); pieces are [(port sort key, proxier.port_piece)]
        self.pieces: dict[tuple, tuple] = {}
        self.states: dict[str, dict] | None = None   # what the last render returned
        self.total, self.large = 0, False        # endpoints over every Service, and large cluster mode
        self.uncached = 0                        # Services without a key at the last full render
        self.rendered = 0                        # Services rendered by the last render (not reused)

    def render(self, services: list[dict], slices: list[dict]) -> dict[str, dict]:
        """{node: proxier.render(services, slices, node_name=node, node_ip=..., cluster_cidr=...)}."""
        return self.render_changed(Inputs(services, slices), None)

    def render_changed(self, inputs: Inputs, changed: set | None) -> dict[str, dict]:
        """The same from INPUTS, of which only the Services in CHANGED (None: any) may differ from the last
        render's inputs."""
        self.rendered = 0
        if changed is not None and self.states is not None and not self.uncached:
            states = self._patch(inputs, changed)
            if states is not None:
                self.states = states
                return states
        kept: dict[tuple, tuple] = {}
        common: list[tuple] = []
        own: dict[str, list] = {node: [] for node in self.nodes}
        self.uncached = 0
        looked = []                              # (ident, Service, its slices, key, cached entry or None)
        for ident, svc in inputs.services.items():
            slices_of = inputs.slices_of(ident)
            key, entry = _key(svc, slices_of), self.pieces.get(ident)
            cached = key is not None and entry is not None and entry[0] == key
            looked.append((ident, svc, slices_of, key, entry if cached else None))
        self.total = sum(entry[3] if entry else endpoint_count([svc], slices_of)
                         for _, svc, slices_of, _, entry in looked)
        self.large = self.total > proxier.LARGE_CLUSTER_ENDPOINTS
        for i, (ident, svc, slices_of, key, entry) in enumerate(looked):
            if entry is None or entry[4] != self.large:
                entry = self._render_service(svc, slices_of, key)
                self.rendered += 1
            if key is None:
                self.uncached += 1
            else:
                kept[ident] = entry
            if entry[1] is not None:
                common += [(sort, i, piece) for sort, piece in entry[1]]
            else:
                for node, pieces in entry[2].items():
                    own[node] += [(sort, i, piece) for sort, piece in pieces]
        self.pieces = kept                       # Services gone from the inputs leave the cache
        if not any(own.values()):
            state = _assemble(common)
            self.states = {node: state for node in self.nodes}
        else:
            self.states = {node: _assemble(common + own[node]) for node in self.nodes}
        return self.states

    def _patch(self, inputs: Inputs, changed: set) -> dict[str, dict] | None:
        """The last states with the chains of the CHANGED Services rendered again, or None if that is not
        enough: a Service came or went, changed its top-level rules, or the endpoints' total crossed the
        large cluster threshold (then everything is rendered or assembled again)."""
        fresh, total = {}, self.total
        for ident in changed:
            svc, entry = inputs.services.get(ident), self.pieces.get(ident)
            if svc is None or entry is None:
                if svc is None and entry is None:
                    continue                     # slices of a Service that does not exist: no rules
                return None
            slices_of = inputs.slices_of(ident)
            key = _key(svc, slices_of)
            if key is None:
                return None
            if key == entry[0]:
                continue
            new = self._render_service(svc, slices_of, key)
            if any(_tops(new, node) != _tops(entry, node) for node in self.nodes) or \
                    (new[1] is None) != (entry[1] is None):
                return None
            fresh[ident] = (entry, new)
            total += new[3] - entry[3]
        if (total > proxier.LARGE_CLUSTER_ENDPOINTS) != self.large:
            return None                          # into or out of large cluster mode: every Service changes
        self.total = total
        if not fresh:
            return self.states
        states, copies = {}, {}
        for node, state in self.states.items():
            if id(state) not in copies:           # nodes sharing a state share its patched copy
                patched = copies[id(state)] = {table: dict(chains) for table, chains in state.items()}
                nat = patched["nat"]
                for old, new in fresh.values():
                    stale = _chains(old, node)
                    for chain in stale.keys() - _chains(new, node).keys():
                        del nat[chain]
                    nat.update(_chains(new, node))
            states[node] = copies[id(state)]
        for ident, (_, new) in fresh.items():
            self.pieces[ident] = new
        self.rendered = len(fresh)
        return states

    def _render_service(self, svc: dict, slices: list[dict], key) -> tuple:
        ports = service_ports([svc])
        per_node, count = {}, 0
        for node, node_ip in self.nodes.items():
            endpoints = endpoints_by_port(slices, node)
            count = endpoints_total(endpoints, ports)
            per_node[node] = [(port_sort_key(sp),
                               proxier.port_piece(sp, endpoints.get(sp["key"], []), self.cidr, node_ip, self.large))
                              for sp in ports]
        first = next(iter(per_node.values()), [])
        if all(pieces == first for pieces in per_node.values()):
            return key, first, None, count, self.large
        return key, None, per_node, count, self.large


def _pieces(entry: tuple, node: str) -> list:
    return entry[1] if entry[1] is not None else entry[2][node]


def _tops(entry: tuple, node: str) -> list:
    """A Service's rules in the top-level chains on NODE, with their ports' order."""
    return [(sort, piece[0]) for sort, piece in _pieces(entry, node)]


def _chains(entry: tuple, node: str) -> dict:
    """A Service's own chains on NODE (its KUBE-SVC-, KUBE-SEP-... chains, all in the nat table)."""
    return {name: rules for _, piece in _pieces(entry, node) for name, rules in piece[1].items()}


def _assemble(ports: list[tuple]) -> dict:
    ports.sort(key=lambda p: (p[0], p[1]))   # by port name, then input order: as proxier.render
    return proxier.assemble([piece for _, _, piece in ports])


def _key(svc: dict, slices: list[dict]) -> tuple | None:
    """What a Service's rules depend on besides the node: its version and its slices' versions."""
    rv = (svc.get("metadata") or {}).get("resourceVersion")
    if not rv:
        return None
    versions = []
    for sl in slices:
        meta = sl.get("metadata") or {}
        if not meta.get("resourceVersion"):
            return None
        versions.append((meta.get("name") or "", meta["resourceVersion"]))
    return rv, tuple(sorted(versions))
