"""kube-controller-manager and kube-scheduler: the loops that turn what was asked for into what exists.

Modules, in reading order:
- `manager.py`: Deployment -> ReplicaSet -> Pods, the garbage collector, namespace deletion, and the scheduler
- `endpointslice.py`: the EndpointSlice and Endpoints controllers: which ready pods back each Service
"""
