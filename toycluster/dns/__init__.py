"""CoreDNS: the cluster's DNS server — the Kubernetes DNS specification (schema 1.1.0) over UDP and TCP.

Modules, in reading order:
- `coredns.py`: the server process (the built-in workload "coredns"): the UDP loop on wire templates, TCP,
  zone swaps, settings from the environment, and the kube-dns Service and coredns Deployment it is applied as
- `zone.py`: the kubernetes plugin, the pure part: the cluster zone as data from Services, EndpointSlices and
  Pods, and the answer to one question
- `watch.py`: the kubernetes plugin, the API half: the informer on Services, EndpointSlices, Pods and
  Namespaces, keeping only what the zone needs
- `responder.py`: answers from one version of the zone, kept as wire templates for repeated questions
- `forward.py`: the forward plugin: names outside the zone (and ExternalName targets) asked of an upstream
- `log.py`: the log and errors plugins: the query log's lines, flushed every 100 ms, and [INFO]/[ERROR] lines
"""
