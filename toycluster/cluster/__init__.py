"""kind's role: a whole cluster on one machine — up, down, status, the node network, the control-plane process.

Modules, in reading order:
- `lifecycle.py`: up, down and status: the checks (root, names, overlapping ranges), then the network and processes
- `network.py`: the nodes and the node network (the cloud's VPC): rendered as steps, applied with pyroute2,
  torn down by name
- `kubeconfig.py`: the API's certificates, the cluster's kubeconfig, the context merged into ~/.kube/config
- `controlplane.py`: the control-plane process: API server, store, controllers, scheduler, kubelets and the
  policy agent in one asyncio loop; forks the container runtime and kube-proxy
"""
