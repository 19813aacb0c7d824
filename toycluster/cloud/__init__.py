"""The cloud around the cluster: the load balancer, the public DNS and cloud-controller-manager.

Modules, in reading order:
- `lb.py`: the cloud load balancer (an NLB) and the "internet": topology steps, frontends as DNAT rules,
  health checks (its own process in `<cluster>.lb`)
- `public_dns.py`: the public DNS (a Route 53 zone kept by external-dns): Ingress hosts and LoadBalancer names,
  its own process in `<cluster>.dns`
- `controller.py`: cloud-controller-manager's service controller: EXTERNAL-IPs, Service and Ingress statuses,
  and the cloud's two processes (fork, watch, restart, adopt)
"""
