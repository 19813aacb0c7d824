"""toycluster: a Kubernetes-networking lab built from real Linux namespaces.

One package per Kubernetes component, imports only downward (tests/unit/test_architecture.py checks it):

    cli          kubectl and toycluster's own verbs
    labs         the labs of the curriculum: `toycluster lab list|start|check|reset|solve`
    lab          the learner's tools: scapy in any namespace, trace, graph (no Kubernetes part: it reads them all)
    cluster      kind's role: up, down, status, the node network, the control-plane process
    controllers  kube-controller-manager and kube-scheduler
    node         kubelet, the container runtime, CNI, the built-in images
    proxy        kube-proxy (iptables mode)
    netpol       a network policy agent (kube-router's chains)
    dns          CoreDNS
    ingress      ingress-nginx
    cloud        the cloud around the cluster: load balancer, public DNS, cloud-controller-manager
    api          kube-apiserver, etcd and client-go
    kernel       Linux plumbing: network namespaces, netlink, iptables, /proc
    wire         wire formats several components speak: HTTP/1.1, DNS
    config.py    the cluster's configuration and state paths (the leaf)
"""
