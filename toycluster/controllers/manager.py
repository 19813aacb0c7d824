"""kube-controller-manager and kube-scheduler's entry point (cmd/kube-controller-manager): the controllers run one
after another in each reconcile pass of the control plane.

Controllers are level-triggered: after any change in the store, reconcile() compares what is wanted with what
exists, over all objects, and writes the difference back to the store. The ReplicaSet controller runs before the
Deployment controller (so a rollout step reads ReplicaSet statuses counted from the pods as they are now) and
after it (so the pods of what the step scaled are made or deleted in the same pass). The node lifecycle and taint
eviction controllers run before both, so an evicted pod's replacement is made in the same pass.
"""
from toycluster.controllers.controller_utils import PodIndex
from toycluster.controllers.deployment import DeploymentController
from toycluster.controllers.garbagecollector import GarbageCollector
from toycluster.controllers.namespace import NamespaceController
from toycluster.controllers.nodelifecycle import DEFAULT_GRACE, NodeLifecycleController
from toycluster.controllers.replicaset import ReplicaSetController
from toycluster.controllers.scheduler import Scheduler
from toycluster.controllers.tainteviction import TaintEvictionController


class Controllers:
    def __init__(self, store, node_names: list[str], node_monitor_grace_period: float = DEFAULT_GRACE):
        self.store, self.node_names = store, node_names
        self.pods = PodIndex(store)
        self.namespaces = NamespaceController(store)
        self.garbage_collector = GarbageCollector(store)
        self.deployments = DeploymentController(store, self.pods)
        self.replicasets = ReplicaSetController(store, self.pods)
        self.scheduler = Scheduler(store, node_names)
        self.node_lifecycle = NodeLifecycleController(store, node_monitor_grace_period)
        self.taint_eviction = TaintEvictionController(store)
        self._passes = 0

    def reconcile(self) -> None:
        self.namespaces.reconcile()
        self.garbage_collector.reconcile()
        self.node_lifecycle.reconcile()
        self.taint_eviction.reconcile()
        self.replicasets.reconcile()
        self.deployments.reconcile()
        self.replicasets.reconcile()
        self.scheduler.schedule()
        if self._passes == 0:
            self.pods.start()
        self._passes += 1
