"""kube-proxy's sync loop (upstream's proxier.syncRunner and syncProxyRules' write): every node's
Services and EndpointSlices rendered as nat and filter rules, written in one commit per table, and the
stale UDP flows deleted from conntrack.

The loop itself is the node agents' (kernel/node_sync.py).  At a resync (every RESYNC_SECONDS, kicked by
kube-proxy's process, server.py) kube-proxy first compares each table's header (entries and bytes) with
what its last write left, and reads and compares only a table someone else changed (a flushed nat table
comes back; its 11,000 rules are not read back every 10 s, which would hold a change up for 0.3 s).  It
reads each node's nat table ahead (``prefetch``): in a node's namespace only kube-proxy writes it.
"""
from toycluster.kernel import iptables_apply
from toycluster.kernel.node_sync import NodeSync
from toycluster.proxy import changes
from toycluster.proxy import conntrack
from toycluster.proxy.names import SERVICE_CHAIN_PREFIXES


def apply_rules(state: dict, previous: dict | None = None, opened: dict | None = None,
          verify: dict | None = None) -> dict:
    """Write one node's kube-proxy ``state`` into the current network namespace (iptables_apply.apply),
    owning kube-proxy's service chains: a KUBE-SVC-, KUBE-SEP-... chain that ``state`` lacks is deleted."""
    return iptables_apply.apply(state, previous, owned_prefixes=SERVICE_CHAIN_PREFIXES, opened=opened,
                                verify=verify)


class ProxySync(NodeSync):
    """kube-proxy on every node: Services and EndpointSlices → nat and filter rules, and stale UDP flows
    deleted from conntrack when their endpoint goes (pkg/proxy/conntrack).  STORE is kube-proxy's cache
    (server.Cache): its take() gives the changes.Inputs, which say which Services
    changed since the last look; the nodes' rules are rendered through a changes.ClusterRender,
    which renders only those again, except at a full resync, which renders everything."""
    label = "kube-proxy"
    resync_by_age = False         # its process kicks a resync every RESYNC_SECONDS: a change never waits for one
    prefetch = ("nat",)     # in a node's namespace only kube-proxy writes the nat table (filter is shared)

    def __init__(self, cfg, store, executor):
        super().__init__(cfg, store, executor)
        self.udp = {n: {} for n in self.previous}     # UDP endpoints last applied, per node
        self.udp_of: dict[tuple, dict] = {}           # the same, per Service (those with UDP ports)
        self.forget()

    def forget(self) -> None:
        self.renders = changes.ClusterRender({f"node{n}": self.cfg.node_ip(n) for n in self.previous},
                                             cluster_cidr=self.cfg.pod_cidr)

    def inputs(self):
        inputs = self.store.take()
        changed = inputs.take_changed()
        if changed is None:
            self.udp_of = {}
        for ident in inputs.services if changed is None else changed:
            svc = inputs.services.get(ident)
            udp = conntrack.udp_endpoints([svc], inputs.slices_of(ident)) if svc else {}
            if udp:
                self.udp_of[ident] = udp
            else:
                self.udp_of.pop(ident, None)
        return inputs, changed, {k: ips for udp in self.udp_of.values() for k, ips in udp.items()}

    def fingerprint(self, inputs):
        return inputs[0], inputs[0].version       # a list starts new Inputs

    def render(self, inputs) -> dict:
        states = self.renders.render_changed(inputs[0], inputs[1])
        return {n: states[f"node{n}"] for n in self.previous}

    def extra(self, n: int, inputs):
        return conntrack.stale_flows(self.udp[n], inputs[2])

    def applied(self, n: int, inputs) -> None:
        self.udp[n] = inputs[2]

    @staticmethod
    def apply(state, previous, stale_flows, opened=None, verify=None):
        applied = apply_rules(state, previous, opened, verify)
        conntrack.delete(stale_flows)
        return applied
