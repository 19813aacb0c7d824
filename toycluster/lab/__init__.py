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
- `trace_names.py`: names answered from the API for `--explain` (the cluster DNS's and the public DNS's answers)
- `trace_explain.py`: `trace --explain`: the path computed from the rendered rules and routes, no packet sent
- `kstate.py`: the graph's kernel half: every namespace's links, addresses, routes and veth peers (rtnetlink dumps)
- `graph_join.py`: the graph's API half: pods on their nodes' bridges, Services and endpoints, Ingresses, LB frontends
- `graph_model.py`: `toycluster graph` as data: clusters, nodes, edges from the kernel and the API, pods folded
- `graph_overlay.py`: `graph --path`: a trace's hops and rewrites laid over the graph
- `graph_render.py`: the graph as DOT, Mermaid or JSON text, SVG and PNG through Graphviz's `dot`
- `graph_live.py`: `toycluster graph` on a live cluster: its inputs read once, the graph built and rendered
- `diagram.py`: `trace --diagram`: a trace as a sequence diagram, Mermaid text or SVG (Graphviz's `neato`)
"""
