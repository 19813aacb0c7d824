"""kube-apiserver's OpenAPI schemas: the apps group's Deployment and ReplicaSet (apps/v1).

Tables in openapi_meta.py's compact form; the pod template is in openapi_pod.py.
"""
from toycluster.api.openapi_meta import top

_DEPLOY = "https://kubernetes.io/docs/concepts/workloads/controllers/deployment"


def _condition(of: str) -> dict:
    return {
        "type": ("string", f"Type of {of} condition."),
        "status": ("string", "Status of the condition, one of True, False, Unknown."),
        "lastTransitionTime": ("meta.Time", "The last time the condition transitioned from one status to another."),
        "reason": ("string", "The reason for the condition's last transition."),
        "message": ("string", "A human readable message indicating details about the transition."),
    }


def _replicas(what: str) -> dict:
    return {
        "replicas": ("integer", f"Total number of non-terminated pods targeted by this {what}."),
        "readyReplicas": ("integer", f"The number of pods targeted by this {what} with a Ready condition."),
        "availableReplicas": ("integer", f"Total number of available pods (ready for at least minReadySeconds) "
                                         f"targeted by this {what}."),
        "observedGeneration": ("int64", f"The generation observed by the {what} controller."),
    }


_MIN_READY = ("integer", "Minimum number of seconds for which a newly created pod should be ready without any of "
                         "its container crashing, for it to be considered available. Defaults to 0.")
_SELECTOR = ("meta.LabelSelector", "Label selector for pods. Existing ReplicaSets whose pods are selected by this "
                                   "will be the ones affected by this deployment. It must match the pod template's "
                                   "labels.")
SCHEMAS = {
    "apps.Deployment": ("Deployment enables declarative updates for Pods and ReplicaSets. More info: " + _DEPLOY, "",
                        top("apps.DeploymentSpec", "Specification of the desired behavior of the Deployment.",
                            "apps.DeploymentStatus", "Most recently observed status of the Deployment.")),
    "apps.DeploymentSpec": ("DeploymentSpec is the specification of the desired behavior of the Deployment.",
                            "selector template", {
        "replicas": ("integer", "Number of desired pods. This is a pointer to distinguish between explicit zero "
                                "and not specified. Defaults to 1."),
        "selector": _SELECTOR,
        "template": ("core.PodTemplateSpec", "Template describes the pods that will be created. The only allowed "
                                             "template.spec.restartPolicy value is \"Always\"."),
        "strategy": ("apps.DeploymentStrategy", "The deployment strategy to use to replace existing pods with new "
                                                "ones."),
        "minReadySeconds": _MIN_READY,
        "revisionHistoryLimit": ("integer", "The number of old ReplicaSets to retain to allow rollback. Defaults "
                                            "to 10."),
        "paused": ("boolean", "Indicates that the deployment is paused: changes to the template start no "
                              "rollout."),
        "progressDeadlineSeconds": ("integer", "The maximum time in seconds for a deployment to make progress "
                                               "before it is considered to be failed: its Progressing condition gets "
                                               "reason ProgressDeadlineExceeded. Defaults to 600s."),
    }),
    "apps.DeploymentStrategy": ("DeploymentStrategy describes how to replace existing pods with new ones.", "", {
        "type": ("string", "Type of deployment. Can be \"Recreate\" (kill all existing pods before creating new "
                           "ones) or \"RollingUpdate\" (replace the old ReplicaSets by the new one gradually). "
                           "Default is RollingUpdate.", "Recreate RollingUpdate"),
        "rollingUpdate": ("apps.RollingUpdateDeployment", "Rolling update config params. Present only if "
                                                          "DeploymentStrategyType = RollingUpdate."),
    }),
    "apps.RollingUpdateDeployment": ("Spec to control the desired behavior of rolling update.", "", {
        "maxUnavailable": ("intstr.IntOrString", "The maximum number of pods that can be unavailable during the "
                                                 "update: an absolute number (ex: 5) or a percentage of desired "
                                                 "pods (ex: 10%), rounded down. Cannot be 0 if maxSurge is 0. "
                                                 "Defaults to 25%."),
        "maxSurge": ("intstr.IntOrString", "The maximum number of pods that can be scheduled above the desired "
                                           "number of pods: an absolute number (ex: 5) or a percentage of desired "
                                           "pods (ex: 10%), rounded up. Cannot be 0 if maxUnavailable is 0. "
                                           "Defaults to 25%."),
    }),
    "apps.DeploymentStatus": ("DeploymentStatus is the most recently observed status of the Deployment.", "", {
        **_replicas("deployment"),
        "updatedReplicas": ("integer", "Total number of non-terminated pods targeted by this deployment that have "
                                       "the desired template spec."),
        "unavailableReplicas": ("integer", "Total number of unavailable pods targeted by this deployment: pods "
                                           "still needed for it to have 100% available capacity."),
        "terminatingReplicas": ("integer", "Total number of terminating pods targeted by this deployment."),
        "conditions": ("[]apps.DeploymentCondition", "Represents the latest available observations of a "
                                                     "deployment's current state: Available, Progressing, "
                                                     "ReplicaFailure."),
        "collisionCount": ("integer", "Count of hash collisions for the Deployment, used to make the name of the "
                                      "newest ReplicaSet unique."),
    }),
    "apps.DeploymentCondition": ("DeploymentCondition describes the state of a deployment at a certain point.",
                                 "type status", {
        **_condition("deployment"),
        "lastUpdateTime": ("meta.Time", "The last time this condition was updated."),
    }),
    "apps.ReplicaSet": ("ReplicaSet ensures that a specified number of pod replicas are running at any given time.",
                        "", top("apps.ReplicaSetSpec", "Spec defines the specification of the desired behavior of "
                                                        "the ReplicaSet.",
                                "apps.ReplicaSetStatus", "Status is the most recently observed status of the "
                                                          "ReplicaSet.")),
    "apps.ReplicaSetSpec": ("ReplicaSetSpec is the specification of a ReplicaSet.", "selector", {
        "replicas": ("integer", "Replicas is the number of desired pods. Defaults to 1."),
        "minReadySeconds": _MIN_READY,
        "selector": ("meta.LabelSelector", "Selector is a label query over pods that should match the replica "
                                           "count. Label keys and values that must match in order to be "
                                           "controlled by this replica set. It must match the pod template's "
                                           "labels."),
        "template": ("core.PodTemplateSpec", "Template is the object that describes the pod that will be created "
                                             "if insufficient replicas are detected."),
    }),
    "apps.ReplicaSetStatus": ("ReplicaSetStatus represents the current status of a ReplicaSet.", "replicas", {
        **_replicas("replica set"),
        "fullyLabeledReplicas": ("integer", "The number of non-terminated pods that have labels matching the "
                                            "labels of the pod template of the replicaset."),
        "terminatingReplicas": ("integer", "The number of terminating pods for this replica set."),
        "conditions": ("[]apps.ReplicaSetCondition", "Represents the latest available observations of a replica "
                                                     "set's current state."),
    }),
    "apps.ReplicaSetCondition": ("ReplicaSetCondition describes the state of a replica set at a certain point.",
                                 "type status", _condition("replica set")),
}
