"""A network policy agent (kube-router's chains): NetworkPolicies as filter rules on every node, and `policy why`.

Modules, in reading order:
- `inputs.py`: the policies' selections once per sync: which pods each policy selects, what its peers stand for
- `agent.py`: the render of one node's filter rules (KUBE-NWPLCY-*, KUBE-POD-FW-*), its write, its fingerprint
- `sync.py`: the agent's sync loop over every node
- `why.py`: `policy why`: one connection walked through the rendered rules, with the policies that decide it
"""
