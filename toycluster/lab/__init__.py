"""The learner's side: the tools a lab uses to see packets — scapy in any namespace, `toycluster trace`, `toycluster graph`.

Not a Kubernetes component: it sits above the cluster and reads what every component made (namespaces, links,
routes, rendered rules, API objects) to show a learner what happens to a packet.

Modules, in reading order:
- `packets.py`: scapy in any namespace: `netns()` for a thread, `veth_of()`, `sniff_hops()` over several at once
- `trace_model.py`: the trace's data (request, DNS queries, hops, connections, result) and its JSON
- `trace_state.py`: what a trace knows of the cluster: objects, who owns an address, namespaces' names, `--from`
- `trace_request.py`: the one real request: DNS as the source's resolver asks, then HTTP(S), TCP or UDP
- `trace_capture.py`: packet sockets in every namespace, drained into one timeline; the key NAT does not change
- `trace_rules.py`: which rule rewrote a packet and the object behind it (kube-proxy, the LB, NetworkPolicies)
- `trace_follow.py`: this request's packets picked out of the captures, as hops with rewrites, routes, conntrack
- `trace.py`: `toycluster trace`: the run, and the diagnosis of a request that failed
- `trace_print.py`: the trace as a table
"""
