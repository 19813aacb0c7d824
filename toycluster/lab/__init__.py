"""The learner's side: the tools a lab uses to see packets — scapy in any namespace, `toycluster trace`, `toycluster graph`.

Not a Kubernetes component: it sits above the cluster and reads what every component made (namespaces, links,
routes, rendered rules, API objects) to show a learner what happens to a packet.

Modules, in reading order:
- `trace_model.py`: the trace's data (request, DNS queries, hops, connections, result) and its JSON
"""
