"""kube-proxy (iptables mode): Services and EndpointSlices rendered as upstream's chains, applied per node.

Modules, in reading order:
- `names.py`: the service port's name and the chain names hashed from it (KUBE-SVC/SVL/EXT/FW/SEP-<16>)
- `service_ports.py`: the inputs as kube-proxy sees them: service port records, endpoints per port, their categories
- `proxier.py`: the render: one node's nat and filter tables as data, one piece per service port, then assembled
- `changes.py`: the change tracking: every node's render kept per Service, only changed Services rendered again
- `rule_counts.py`: the rules generated per service port, counted from a render
- `trace.py`: one new connection followed through the rendered rules, rule by rule
- `conntrack.py`: stale UDP flows deleted from conntrack when their endpoint goes
- `sync.py`: kube-proxy's sync loop over every node, and its write of one node's tables
- `server.py`: kube-proxy's process: an informer on Services and EndpointSlices feeding the sync loop
"""
