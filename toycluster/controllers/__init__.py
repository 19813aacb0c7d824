"""kube-controller-manager and kube-scheduler: the loops that turn what was asked for into what exists.

Modules, in reading order:
- `manager.py`: the entry point: every controller, one after another, in each reconcile pass
- `deployment.py`: the Deployment controller: ReplicaSets found or made, revisions, scaling, history, status
- `deployment_rolling.py`: its strategies: RollingUpdate (maxSurge, maxUnavailable), Recreate, proportional scaling
- `deployment_util.py`: its arithmetic: rounding, the pod-template-hash, revision annotations, status and conditions
- `replicaset.py`: the ReplicaSet controller: pods created and deleted to the count, its status
- `nodelifecycle.py`: the node lifecycle controller: a node without heartbeats turns Unknown, tainted, its pods NotReady
- `tainteviction.py`: the taint eviction controller: pods on NoExecute-tainted nodes deleted after their toleration
- `scheduler.py`: kube-scheduler: each pending pod bound to a node that fits, with the fewest pods
- `garbagecollector.py`: the garbage collector: objects whose owners are gone follow them
- `namespace.py`: the namespace controller: the built-in namespaces; a deleted one emptied, then removed
- `controller_utils.py`: what the controllers share: owner references, pod readiness and availability, status writes
- `endpointslice.py`: the EndpointSlice and Endpoints controllers: which ready pods back each Service
"""
