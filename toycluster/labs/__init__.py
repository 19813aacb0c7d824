"""The labs: one checked lab per claim of the articles (docs/labs/NN-topic.md), started, checked and solved by `toycluster lab`.

Not a Kubernetes component: each lab sets up a starting state with kubectl and toycluster as a learner would, and
checks the learner's result from what a learner could also see (kubectl, iptables-save, captures, `trace`).

Modules, in reading order:
- `kit.py`: what a lab is (start, check, solve, reset, hints) and what it may use (`Ctx`: kubectl, toycluster, exec, the API)
- `catalog.py`: the labs in order, each module loaded when used
- `progress.py`: a cluster's lab progress (done, failed checks: which hint) in labs.json
- `replay.py`: a lab page's console blocks replayed against a cluster, output matched with placeholders
- `lab01_pod_netns.py`: lab 1, a pod is a network namespace: one IP, one localhost, one port space; `ip netns`, `nsenter`
- `lab02_pod_to_pod.py`: lab 2, pod to pod across nodes without NAT (veth, cni0, a route per node, tcpdump at both ends); 2b, the same over VXLAN and its outer header
- `lab03_service_rules.py`: lab 3, a Service is only rules: KUBE-SERVICES → KUBE-SVC → KUBE-SEP, the 1/n probabilities, 300 connections counted by the KUBE-SEP rules' counters
- `lab04_endpoints_readiness.py`: lab 4, endpoints follow readiness: a failing probe, a deleted pod, a rollout, watched in the EndpointSlice and the rules, while a load pod counts not one failed request
- `lab05_cluster_dns.py`: lab 5, cluster DNS: A, SRV, PTR, a headless Service, search paths and ndots:5 counted in CoreDNS's log, a pod's dnsConfig
- `lab06_nodeport.py`: lab 6, NodePort and the client's address: every node answers, masquerading, externalTrafficPolicy Local (checked by requests to every node), why apps stay off NodePorts
- `lab07_ingress.py`: lab 7, Ingress: routing by host and path, Exact against Prefix, the default backend, TLS with the cluster CA, checked by the user's own requests
- `lab08_journey.py`: lab 8, the whole journey: user → DNS → LB → NodePort → ingress → Service → pod and back, followed with `toycluster trace` (--explain, --diagram); the check traces a request itself
- `lab09_network_policy.py`: lab 9, NetworkPolicy: default deny both ways, egress to DNS, frontend → backend, a namespace and pod selector in one entry, `policy why`; checked by connecting from the pods
- `lab10_scapy.py`: lab 10, packets by hand: a crafted SYN to a ClusterIP sniffed on the veth, the bridge and in the pod (DNAT and its reversal), a DNS query by hand; the check sends and captures its own
- `lab11_scale.py`: lab 11, scale: 2,000 Services, a new connection's latency against the KUBE-SERVICES rule count (plotted), large cluster mode
- `lab12_break_it.py`: lab 12, break it and diagnose: six exercises (12a-12f), each started broken, checked by traffic and by the repair itself
- `lab12_common.py`: lab 12's shared parts: namespace lab12, the pod `client`, each exercise's app, curl and dig from a pod
- `lab12_cluster.py`: 12a-12c, cluster-wide breaks: a rule by hand in node1's nat table (kube-proxy's resync keeps it), node2 stopped behind the load balancer, the DNS pod gone
- `lab12_objects.py`: 12d-12f, the lab's own objects: a wrong targetPort, a selector that matches nothing, an egress policy that forgot DNS
"""
