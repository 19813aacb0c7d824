"""kube-apiserver's OpenAPI schemas: the core group's Pod, PodSpec, PodTemplateSpec and PodStatus.

Tables in openapi_meta.py's compact form; the containers are in openapi_container.py. Fields that toycluster
stores without acting on say so.
"""
from toycluster.api.openapi_meta import top

_NOT_ACTED = " toycluster stores it but does not act on it."
_LIFECYCLE = "https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle"


def _stub(what: str) -> tuple:
    return (what + _NOT_ACTED, "", {})


SCHEMAS = {
    "core.Pod": ("Pod is a collection of containers that can run on a host. Clients create it; the scheduler binds "
                 "it to a node, whose kubelet runs it.", "",
                 top("core.PodSpec", "Specification of the desired behavior of the pod.",
                     "core.PodStatus", "Most recently observed status of the pod.")),
    "core.PodTemplateSpec": ("PodTemplateSpec describes the data a pod should have when created from a template.",
                             "", {
        "metadata": ("meta.ObjectMeta", "Standard object's metadata: the labels of the pods made from it."),
        "spec": ("core.PodSpec", "Specification of the desired behavior of the pod."),
    }),
    "core.PodSpec": ("PodSpec is a description of a pod.", "containers", {
        "containers": ("[]core.Container", "List of containers belonging to the pod. Containers cannot currently "
                                           "be added or removed. There must be at least one container in a Pod. "
                                           "Cannot be updated."),
        "initContainers": ("[]core.Container", "Containers that run to completion, one by one, before the app "
                                               "containers start (or, with restartPolicy Always, keep running "
                                               "beside them as sidecars)."),
        "ephemeralContainers": ("[]core.EphemeralContainer", "Ephemeral containers run in this pod for "
                                                             "debugging (kubectl debug)." + _NOT_ACTED),
        "restartPolicy": ("string", "Restart policy for all containers within the pod. One of Always, OnFailure, "
                                    "Never. Default to Always. Pods of Deployments and ReplicaSets must use "
                                    f"Always. More info: {_LIFECYCLE}#restart-policy", "Always Never OnFailure"),
        "terminationGracePeriodSeconds": ("int64", "Seconds the pod needs to terminate gracefully: after SIGTERM, "
                                                   "processes still running are killed. Defaults to 30."),
        "activeDeadlineSeconds": ("int64", "Seconds the pod may be active on a node before the system actively "
                                           "tries to mark it failed." + _NOT_ACTED),
        "dnsPolicy": ("string", "DNS policy for the pod: ClusterFirst (the cluster's DNS, the default), "
                                "ClusterFirstWithHostNet, Default (the node's resolver) or None (dnsConfig "
                                "alone).", "ClusterFirst ClusterFirstWithHostNet Default None"),
        "dnsConfig": ("core.PodDNSConfig", "DNS parameters of the pod, merged into the configuration the "
                                           "dnsPolicy generates."),
        "nodeSelector": ("map[string]string", "A selector which must be true for the pod to fit on a node: the "
                                              "node's labels must match it. More info: "
                                              "https://kubernetes.io/docs/concepts/configuration/assign-pod-node/"),
        "nodeName": ("string", "Requests to schedule this pod onto a specific node. If set, the scheduler leaves "
                               "the pod alone and that node's kubelet runs it."),
        "serviceAccountName": ("string", "Name of the ServiceAccount to use to run this pod."),
        "serviceAccount": ("string", "Deprecated alias for serviceAccountName."),
        "automountServiceAccountToken": ("boolean", "Whether a service account token should be automatically "
                                                    "mounted."),
        "hostNetwork": ("boolean", "Host networking requested for this pod: use the host's network namespace. "
                                   "Default to false." + _NOT_ACTED),
        "hostPID": ("boolean", "Use the host's pid namespace. Default to false." + _NOT_ACTED),
        "hostIPC": ("boolean", "Use the host's ipc namespace. Default to false." + _NOT_ACTED),
        "hostUsers": ("boolean", "Use the host's user namespace. Default to true." + _NOT_ACTED),
        "shareProcessNamespace": ("boolean", "Share a single process namespace between all of the containers in a "
                                             "pod." + _NOT_ACTED),
        "hostname": ("string", "The pod's hostname. If not given, it is the pod's name."),
        "subdomain": ("string", "If given, the fully qualified pod hostname is "
                                "<hostname>.<subdomain>.<pod namespace>.svc.<cluster domain>."),
        "setHostnameAsFQDN": ("boolean", "If true, the pod's hostname is its fully qualified domain name."),
        "hostAliases": ("[]core.HostAlias", "Hosts and IPs to add to the pod's hosts file." + _NOT_ACTED),
        "securityContext": ("core.PodSecurityContext", "Pod-level security attributes and common container "
                                                       "settings." + _NOT_ACTED),
        "imagePullSecrets": ("[]core.LocalObjectReference", "Secrets in the same namespace to use for pulling the "
                                                            "images." + _NOT_ACTED),
        "affinity": ("core.Affinity", "If specified, the pod's scheduling constraints." + _NOT_ACTED),
        "tolerations": ("[]core.Toleration", "If specified, the pod's tolerations of node taints."),
        "topologySpreadConstraints": ("[]core.TopologySpreadConstraint", "How a group of pods ought to spread "
                                                                         "across topology domains." + _NOT_ACTED),
        "schedulerName": ("string", "If specified, the pod is dispatched by that scheduler."),
        "schedulingGates": ("[]core.PodSchedulingGate", "Gates that block scheduling while present."
                            + _NOT_ACTED),
        "priority": ("integer", "The priority value, set from priorityClassName by admission."),
        "priorityClassName": ("string", "If specified, the pod's priority class." + _NOT_ACTED),
        "preemptionPolicy": ("string", "Policy for preempting pods with lower priority: Never or "
                                       "PreemptLowerPriority.", "Never PreemptLowerPriority"),
        "runtimeClassName": ("string", "The RuntimeClass the pod runs with." + _NOT_ACTED),
        "overhead": ("map[string]resource.Quantity", "The resource overhead of running the pod's sandbox."),
        "resources": ("core.ResourceRequirements", "Total compute resources of the pod." + _NOT_ACTED),
        "readinessGates": ("[]core.PodReadinessGate", "Extra conditions evaluated for pod readiness."
                           + _NOT_ACTED),
        "resourceClaims": ("[]core.PodResourceClaim", "Dynamically allocated resources the pod uses."
                           + _NOT_ACTED),
        "os": ("core.PodOS", "The OS of the containers in the pod."),
        "enableServiceLinks": ("boolean", "Whether information about services should be injected into the pod's "
                                          "environment variables, matching the syntax of Docker links."),
        "volumes": ("[]core.Volume", "List of volumes that can be mounted by containers belonging to the pod."
                    + _NOT_ACTED),
    }),
    "core.PodDNSConfig": ("PodDNSConfig defines the DNS parameters of a pod in addition to those generated from "
                          "DNSPolicy.", "", {
        "nameservers": ("[]string", "A list of DNS name server IP addresses (at most 3), added to those the "
                                    "DNSPolicy gives, duplicates removed."),
        "searches": ("[]string", "A list of DNS search domains for host-name lookup, added to those the DNSPolicy "
                                 "gives."),
        "options": ("[]core.PodDNSConfigOption", "A list of DNS resolver options, merged with those the "
                                                 "DNSPolicy gives."),
    }),
    "core.PodDNSConfigOption": ("PodDNSConfigOption defines DNS resolver options of a pod.", "", {
        "name": ("string", "Name of the option, e.g. ndots. Required."),
        "value": ("string", "Value of the option, if it takes one."),
    }),
    "core.Toleration": ("The pod this Toleration is attached to tolerates any taint that matches the triple "
                        "<key,value,effect> using the matching operator.", "", {
        "key": ("string", "The taint key that the toleration applies to. Empty means match all taint keys (the "
                          "operator must then be Exists)."),
        "operator": ("string", "The key's relationship to the value: Exists (a wildcard for value) or Equal. "
                               "Defaults to Equal.", "Equal Exists"),
        "value": ("string", "The taint value the toleration matches to. Empty if the operator is Exists."),
        "effect": ("string", "The taint effect to match. Empty means match all taint effects.",
                   "NoExecute NoSchedule PreferNoSchedule"),
        "tolerationSeconds": ("int64", "For NoExecute: how long the pod stays bound to a node with the taint. "
                                       "Unset means forever."),
    }),
    "core.LocalObjectReference": ("LocalObjectReference contains enough information to locate the referenced "
                                  "object inside the same namespace.", "", {
        "name": ("string", "Name of the referent."),
    }),
    "core.PodOS": ("PodOS defines the OS parameters of a pod.", "name", {
        "name": ("string", "The name of the operating system: linux or windows."),
    }),
    "core.EphemeralContainer": _stub("An EphemeralContainer is a temporary container added to an existing pod "
                                     "for user-initiated activities such as debugging."),
    "core.HostAlias": _stub("HostAlias holds the mapping between IP and hostnames injected into the pod's hosts "
                            "file."),
    "core.PodSecurityContext": _stub("PodSecurityContext holds pod-level security attributes and common "
                                     "container settings."),
    "core.Affinity": _stub("Affinity is a group of affinity scheduling rules: node affinity, pod affinity and pod "
                           "anti-affinity."),
    "core.TopologySpreadConstraint": _stub("TopologySpreadConstraint specifies how to spread matching pods "
                                           "among the given topology."),
    "core.PodSchedulingGate": _stub("PodSchedulingGate is associated to a Pod to guard its scheduling."),
    "core.PodReadinessGate": _stub("PodReadinessGate contains the reference to a pod condition."),
    "core.PodResourceClaim": _stub("PodResourceClaim references exactly one ResourceClaim."),
    "core.Volume": _stub("Volume represents a named volume in a pod that may be accessed by any container in "
                         "the pod: emptyDir, configMap, secret, hostPath, persistentVolumeClaim, projected, ..."),
    "core.PodStatus": ("PodStatus represents information about the status of a pod, as its kubelet reports it.",
                       "", {
        "phase": ("string", "A simple, high-level summary of where the pod is in its lifecycle: Pending, Running, "
                            f"Succeeded, Failed or Unknown. More info: {_LIFECYCLE}#pod-phase",
                  "Failed Pending Running Succeeded Unknown"),
        "conditions": ("[]core.PodCondition", "Current service state of the pod: PodScheduled, Initialized, "
                                              f"ContainersReady, Ready. More info: {_LIFECYCLE}#pod-conditions"),
        "message": ("string", "A human readable message indicating details about why the pod is in this "
                              "condition."),
        "reason": ("string", "A brief CamelCase message indicating details about why the pod is in this state."),
        "hostIP": ("string", "The IP address of the host to which the pod is assigned. Empty if not yet "
                             "scheduled."),
        "hostIPs": ("[]core.HostIP", "The IP addresses allocated to the host."),
        "podIP": ("string", "The IP address allocated to the pod, routable at least within the cluster. Empty if "
                            "not yet allocated."),
        "podIPs": ("[]core.PodIP", "The IP addresses allocated to the pod; the first is podIP."),
        "startTime": ("meta.Time", "When the kubelet acknowledged the pod, before it pulled any image."),
        "containerStatuses": ("[]core.ContainerStatus", "The status of each container in the manifest, as "
                                                        "observed by the kubelet."),
        "initContainerStatuses": ("[]core.ContainerStatus", "The status of each init container."),
        "qosClass": ("string", "The Quality of Service class assigned to the pod based on resource requirements.",
                     "BestEffort Burstable Guaranteed"),
    }),
    "core.PodCondition": ("PodCondition contains details for the current condition of this pod.",
                          "type status", {
        "type": ("string", "Type is the type of the condition: PodScheduled, Initialized, ContainersReady or "
                           "Ready."),
        "status": ("string", "Status is the status of the condition: True, False or Unknown."),
        "lastProbeTime": ("meta.Time", "Last time we probed the condition."),
        "lastTransitionTime": ("meta.Time", "Last time the condition transitioned from one status to another."),
        "reason": ("string", "Unique, one-word, CamelCase reason for the condition's last transition."),
        "message": ("string", "Human-readable message indicating details about last transition."),
    }),
    "core.HostIP": ("HostIP represents a single IP address allocated to the host.", "ip", {
        "ip": ("string", "IP is the IP address assigned to the host."),
    }),
    "core.PodIP": ("PodIP represents a single IP address allocated to the pod.", "ip", {
        "ip": ("string", "IP is the IP address assigned to the pod."),
    }),
    "core.ContainerStatus": ("ContainerStatus contains details for the current status of this container.",
                             "name ready restartCount image imageID", {
        "name": ("string", "The container's name, as in the pod's spec."),
        "state": ("core.ContainerState", "Details about the container's current condition."),
        "lastState": ("core.ContainerState", "Details about the container's last termination, kept when it has "
                                             "restarted."),
        "ready": ("boolean", "Whether the container passes its readiness probe (true when it has none and "
                             "runs)."),
        "restartCount": ("integer", "How many times the container has been restarted."),
        "image": ("string", "The name of the container image that the container is running."),
        "imageID": ("string", "The image ID of the container's image."),
        "containerID": ("string", "The ID of the container, in the format '<type>://<container_id>'."),
        "started": ("boolean", "Whether the container has finished its postStart hook and passed its startup "
                               "probe."),
    }),
    "core.ContainerState": ("ContainerState holds a possible state of container. Only one of its members may be "
                            "specified. If none of them is specified, the default one is ContainerStateWaiting.",
                            "", {
        "waiting": ("core.ContainerStateWaiting", "Details about a waiting container."),
        "running": ("core.ContainerStateRunning", "Details about a running container."),
        "terminated": ("core.ContainerStateTerminated", "Details about a terminated container."),
    }),
    "core.ContainerStateWaiting": ("ContainerStateWaiting is a waiting state of a container.", "", {
        "reason": ("string", "(brief) reason the container is not yet running: ContainerCreating, "
                             "CrashLoopBackOff, ..."),
        "message": ("string", "Message regarding why the container is not yet running."),
    }),
    "core.ContainerStateRunning": ("ContainerStateRunning is a running state of a container.", "", {
        "startedAt": ("meta.Time", "Time at which the container was last (re-)started."),
    }),
    "core.ContainerStateTerminated": ("ContainerStateTerminated is a terminated state of a container.",
                                      "exitCode", {
        "exitCode": ("integer", "Exit status from the last termination of the container."),
        "signal": ("integer", "Signal from the last termination of the container."),
        "reason": ("string", "(brief) reason from the last termination of the container: Completed, Error, "
                             "OOMKilled, ..."),
        "message": ("string", "Message regarding the last termination of the container."),
        "startedAt": ("meta.Time", "Time at which previous execution of the container started."),
        "finishedAt": ("meta.Time", "Time at which the container last terminated."),
        "containerID": ("string", "Container's ID in the format '<type>://<container_id>'."),
    }),
}
