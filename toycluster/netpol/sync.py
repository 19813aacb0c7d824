"""The network policy agent's sync loop (as kube-router's NetworkPolicyController): every node's
NetworkPolicies, Pods and Namespaces rendered as filter rules and written in one commit.

The loop itself is the node agents' (kernel/node_sync.py).  At a resync (every RESYNC_SECONDS) the agent
reads its table back and compares every rule.
"""
from toycluster.kernel.node_sync import NodeSync
from toycluster.netpol import agent


class PolicySync(NodeSync):
    """The network policy agent on every node (as kube-router's): NetworkPolicies, Pods and Namespaces →
    filter rules; its FORWARD jump is put back on top if something was inserted above it."""
    label = "network policy agent"

    def inputs(self):
        return self.store.list("NetworkPolicy"), self.store.list("Pod"), self.store.list("Namespace")

    def fingerprint(self, inputs):
        return agent.fingerprint(*inputs)

    def render(self, inputs) -> dict:
        states = agent.render_all(*inputs, [f"node{n}" for n in self.previous])
        return {n: states[f"node{n}"] for n in self.previous}

    @staticmethod
    def apply(state, previous, _extra, _opened=None, verify=None):
        return agent.apply(state, None if verify is not None else previous)   # a resync reads it all
