"""kube-apiserver's OpenAPI schemas: the core group's other kinds (Service, Endpoints, Namespace, Node, Secret, ...).

Tables in openapi_meta.py's compact form. Fields that toycluster stores without acting on say so.
"""
from toycluster.api.openapi_meta import top

_NOT_ACTED = " toycluster stores it but does not act on it."
_SVC = "https://kubernetes.io/docs/concepts/services-networking/service"
_PROTOCOL = ("string", "The IP protocol for this port: TCP, UDP, or SCTP. Default is TCP.", "SCTP TCP UDP")
_APP_PROTOCOL = ("string", "The application protocol for this port, a hint for implementations: an IANA "
                           "service name, kubernetes.io/h2c, kubernetes.io/ws, ... or a domain-prefixed name.")


def _data(what: str) -> tuple:
    return ("map[string]string", f"Data contains the {what} data. Each key must consist of alphanumeric "
                                 "characters, '-', '_' or '.'.")


SERVICE = {
    "core.Service": ("Service is a named abstraction of software service (for example, mysql) consisting of a "
                     "local port (for example 3306) that the proxy listens on, and the selector that determines "
                     "which pods will answer requests sent through the proxy.", "",
                     top("core.ServiceSpec", "Spec defines the behavior of a service.",
                         "core.ServiceStatus", "Most recently observed status of the service.")),
    "core.ServiceSpec": ("ServiceSpec describes the attributes that a user creates on a service.", "", {
        "ports": ("[]core.ServicePort", f"The list of ports that are exposed by this service. More info: {_SVC}"
                                        "/#virtual-ips-and-service-proxies"),
        "selector": ("map[string]string", "Route service traffic to pods with label keys and values matching this "
                                          "selector. If empty or not present, the service is assumed to have an "
                                          "external process managing its endpoints. Ignored for ExternalName."),
        "clusterIP": ("string", "The IP address of the service, usually assigned randomly from the service range. "
                                "\"None\" makes a headless service (no virtual IP: DNS answers with the pods). "
                                "Cannot be changed once set, except to change the type to ExternalName."),
        "clusterIPs": ("[]string", "The IP addresses of the service (one per IP family); the first is "
                                   "clusterIP."),
        "type": ("string", "How the Service is exposed. Defaults to ClusterIP: a cluster-internal IP. NodePort "
                           "adds a port on every node; LoadBalancer adds an external load balancer (here the "
                           "toy cloud's) in front of the node ports; ExternalName is a DNS CNAME to "
                           f"externalName. More info: {_SVC}/#publishing-services-service-types",
                 "ClusterIP ExternalName LoadBalancer NodePort"),
        "externalIPs": ("[]string", "IP addresses for which nodes in the cluster also accept traffic for this "
                                    "service. They are not managed by Kubernetes."),
        "sessionAffinity": ("string", "Supports \"ClientIP\" and \"None\": ClientIP sends a client's connections "
                                      "to the same pod. Defaults to None.", "ClientIP None"),
        "sessionAffinityConfig": ("core.SessionAffinityConfig", "The configuration of session affinity."),
        "loadBalancerIP": ("string", "Deprecated: the address asked of the load balancer, when the cloud "
                                     "supports it (the toy cloud does, from its pool)."),
        "loadBalancerSourceRanges": ("[]string", "Client IP ranges the cloud load balancer lets through."
                                     + _NOT_ACTED),
        "loadBalancerClass": ("string", "The class of the load balancer implementation this Service belongs to."),
        "externalName": ("string", "The external reference that discovery mechanisms return as an alias (a DNS "
                                   "CNAME record) for this service. Requires type ExternalName."),
        "externalTrafficPolicy": ("string", "How nodes distribute traffic that arrives on the service's external "
                                            "addresses (NodePorts, load balancer IPs): Cluster (to all endpoints, "
                                            "source NATed) or Local (only to endpoints on the receiving node, "
                                            "client source IP kept).", "Cluster Local"),
        "internalTrafficPolicy": ("string", "How nodes distribute traffic that arrives on the ClusterIP: Cluster "
                                            "(all endpoints) or Local (only endpoints on the same node).",
                                  "Cluster Local"),
        "healthCheckNodePort": ("integer", "The health check node port of a LoadBalancer service with "
                                           "externalTrafficPolicy Local."),
        "publishNotReadyAddresses": ("boolean", "Endpoints include addresses of pods that are not ready; DNS "
                                                "publishes them."),
        "ipFamilies": ("[]string", "The IP families (IPv4, IPv6) assigned to this service."),
        "ipFamilyPolicy": ("string", "SingleStack, PreferDualStack or RequireDualStack.",
                           "PreferDualStack RequireDualStack SingleStack"),
        "allocateLoadBalancerNodePorts": ("boolean", "Whether NodePorts are allocated for a LoadBalancer Service. "
                                                     "Default is true."),
        "trafficDistribution": ("string", "A preference for how traffic is spread over the endpoints "
                                          "(PreferClose, ...)." + _NOT_ACTED),
    }),
    "core.ServicePort": ("ServicePort contains information on service's port.", "port", {
        "name": ("string", "The name of this port within the service, a DNS label. Required when a service has "
                           "more than one port; EndpointSlices use it."),
        "protocol": _PROTOCOL,
        "appProtocol": _APP_PROTOCOL,
        "port": ("integer", "The port that will be exposed by this service."),
        "targetPort": ("intstr.IntOrString", "Number or name of the port to access on the pods targeted by the "
                                             "service. A name is looked up in each pod's container ports, so pods "
                                             "may use different numbers. Defaults to the value of port."),
        "nodePort": ("integer", "The port on each node on which this service is exposed when type is NodePort or "
                                "LoadBalancer. Usually assigned by the system from the node port range."),
    }),
    "core.SessionAffinityConfig": ("SessionAffinityConfig represents the configurations of session affinity.", "", {
        "clientIP": ("core.ClientIPConfig", "The configurations of ClientIP based session affinity."),
    }),
    "core.ClientIPConfig": ("ClientIPConfig represents the configurations of Client IP based session affinity.",
                            "", {
        "timeoutSeconds": ("integer", "The seconds a ClientIP session sticks: 0 < x <= 86400. Default is 10800 "
                                      "(3 hours)."),
    }),
    "core.ServiceStatus": ("ServiceStatus represents the current status of a service.", "", {
        "loadBalancer": ("core.LoadBalancerStatus", "The current status of the load balancer, if one is "
                                                    "present."),
        "conditions": ("[]meta.Condition", "Current service state."),
    }),
    "core.LoadBalancerStatus": ("LoadBalancerStatus represents the status of a load-balancer.", "", {
        "ingress": ("[]core.LoadBalancerIngress", "The load balancer's ingress points: traffic for the service "
                                                  "should be sent to them."),
    }),
    "core.LoadBalancerIngress": ("LoadBalancerIngress represents the status of a load-balancer ingress point.",
                                 "", {
        "ip": ("string", "Set for load-balancer ingress points that are IP based."),
        "hostname": ("string", "Set for load-balancer ingress points that are DNS based."),
        "ipMode": ("string", "How the load balancer's IP behaves: VIP (traffic arrives at the node with the IP "
                             "as destination) or Proxy.", "Proxy VIP"),
    }),
}
OTHER = {
    "core.Endpoints": ("Endpoints is a collection of endpoints that implement the actual service, kept by the "
                       "endpoints controller. Deprecated in favour of EndpointSlices.", "", {
        **top(),
        "subsets": ("[]core.EndpointSubset", "The set of all endpoints is the union of all subsets."),
    }),
    "core.EndpointSubset": ("EndpointSubset is a group of addresses with a common set of ports.", "", {
        "addresses": ("[]core.EndpointAddress", "IP addresses which offer the related ports and are ready."),
        "notReadyAddresses": ("[]core.EndpointAddress", "IP addresses which offer the related ports but are not "
                                                        "ready."),
        "ports": ("[]core.EndpointPort", "Port numbers available on the related IP addresses."),
    }),
    "core.EndpointAddress": ("EndpointAddress is a tuple that describes single IP address.", "ip", {
        "ip": ("string", "The IP of this endpoint."),
        "hostname": ("string", "The Hostname of this endpoint."),
        "nodeName": ("string", "The node hosting this endpoint."),
        "targetRef": ("core.ObjectReference", "Reference to object providing the endpoint."),
    }),
    "core.EndpointPort": ("EndpointPort is a tuple that describes a single port.", "port", {
        "name": ("string", "The name of this port, as the Service's port is named."),
        "port": ("integer", "The port number of the endpoint."),
        "protocol": _PROTOCOL,
        "appProtocol": _APP_PROTOCOL,
    }),
    "core.ObjectReference": ("ObjectReference contains enough information to let you inspect or modify the "
                             "referred object.", "", {
        "kind": ("string", "Kind of the referent."), "namespace": ("string", "Namespace of the referent."),
        "name": ("string", "Name of the referent."), "uid": ("string", "UID of the referent."),
        "apiVersion": ("string", "API version of the referent."),
        "resourceVersion": ("string", "Specific resourceVersion to which this reference is made, if any."),
        "fieldPath": ("string", "A piece of the object rather than the whole, e.g. spec.containers{name}."),
    }),
    "core.Namespace": ("Namespace provides a scope for Names. Use of multiple namespaces is optional.", "",
                       top("core.NamespaceSpec", "Spec defines the behavior of the Namespace.",
                           "core.NamespaceStatus", "Status describes the current status of a Namespace.")),
    "core.NamespaceSpec": ("NamespaceSpec describes the attributes on a Namespace.", "", {
        "finalizers": ("[]string", "Finalizers is an opaque list of values that must be empty to permanently "
                                   "remove the object from storage."),
    }),
    "core.NamespaceStatus": ("NamespaceStatus is information about the current status of a Namespace.", "", {
        "phase": ("string", "Phase is the current lifecycle phase of the namespace: Active, or Terminating while "
                            "its objects are deleted.", "Active Terminating"),
    }),
    "core.Node": ("Node is a worker node in Kubernetes: here a network namespace made by `toycluster up`.", "",
                  top("core.NodeSpec", "Spec defines the behavior of a node.",
                      "core.NodeStatus", "Most recently observed status of the node.")),
    "core.NodeSpec": ("NodeSpec describes the attributes that a node is created with.", "", {
        "podCIDR": ("string", "The pod IP range assigned to the node."),
        "podCIDRs": ("[]string", "The IP ranges assigned to the node for its pods; the first is podCIDR."),
        "providerID": ("string", "ID of the node assigned by the cloud provider."),
        "taints": ("[]core.Taint", "If specified, the node's taints."),
        "unschedulable": ("boolean", "Unschedulable controls node schedulability of new pods (kubectl cordon)."),
    }),
    "core.Taint": ("The node this Taint is attached to has the \"effect\" on any pod that does not tolerate the "
                   "Taint.", "key effect", {
        "key": ("string", "The taint key to be applied to a node."),
        "value": ("string", "The taint value corresponding to the taint key."),
        "effect": ("string", "The effect of the taint on pods that do not tolerate it.",
                   "NoExecute NoSchedule PreferNoSchedule"),
        "timeAdded": ("meta.Time", "The time at which the taint was added."),
    }),
    "core.NodeStatus": ("NodeStatus is information about the current status of a node.", "", {
        "addresses": ("[]core.NodeAddress", "List of addresses reachable to the node."),
        "conditions": ("[]core.NodeCondition", "Conditions is an array of current observed node conditions."),
        "capacity": ("map[string]resource.Quantity", "The total resources of the node."),
        "allocatable": ("map[string]resource.Quantity", "The resources of a node that are available for "
                                                        "scheduling."),
        "nodeInfo": ("core.NodeSystemInfo", "Set of ids/uuids to uniquely identify the node."),
    }),
    "core.NodeAddress": ("NodeAddress contains information for the node's address.", "type address", {
        "type": ("string", "Node address type, one of Hostname, ExternalIP or InternalIP."),
        "address": ("string", "The node address."),
    }),
    "core.NodeCondition": ("NodeCondition contains condition information for a node.", "type status", {
        "type": ("string", "Type of node condition: Ready, MemoryPressure, DiskPressure, ..."),
        "status": ("string", "Status of the condition, one of True, False, Unknown."),
        "lastHeartbeatTime": ("meta.Time", "Last time we got an update on a given condition."),
        "lastTransitionTime": ("meta.Time", "Last time the condition transit from one status to another."),
        "reason": ("string", "(brief) reason for the condition's last transition."),
        "message": ("string", "Human readable message indicating details about last transition."),
    }),
    "core.NodeSystemInfo": ("NodeSystemInfo is a set of ids/uuids to uniquely identify the node.", "", {
        k: ("string", d) for k, d in (
            ("kubeletVersion", "Kubelet Version reported by the node."),
            ("osImage", "OS Image reported by the node."), ("kernelVersion", "Kernel Version reported by the node."),
            ("operatingSystem", "The Operating System reported by the node."),
            ("architecture", "The Architecture reported by the node."),
            ("containerRuntimeVersion", "ContainerRuntime Version reported by the node."))}),
    "core.Secret": ("Secret holds secret data of a certain type. The total bytes of the values in the Data field "
                    "must be less than 1 MiB.", "", {
        **top(),
        "data": ("map[string]byte", "The secret data, each value base64 encoded. Keys consist of alphanumeric "
                                    "characters, '-', '_' or '.'."),
        "stringData": ("map[string]string", "Write-only convenience: non-binary values given as strings, merged "
                                            "into data on write (stringData wins). Never output when reading."),
        "type": ("string", "Used to facilitate programmatic handling of secret data: Opaque (the default), "
                           "kubernetes.io/tls (tls.crt and tls.key, checked as a pair), ..."),
        "immutable": ("boolean", "If true, only metadata can be changed."),
    }),
    "core.ConfigMap": ("ConfigMap holds configuration data for pods to consume.", "", {
        **top(), "data": _data("configuration"),
        "binaryData": ("map[string]byte", "BinaryData contains the binary data, base64 encoded."),
        "immutable": ("boolean", "If true, only metadata can be changed."),
    }),
    "core.ServiceAccount": ("ServiceAccount binds together a name, understood by users and perhaps by peripheral "
                            "systems, for an identity, and a set of secrets.", "", {
        **top(),
        "secrets": ("[]core.ObjectReference", "Secrets in the same namespace that pods running as this account "
                                              "may use."),
        "imagePullSecrets": ("[]core.LocalObjectReference", "Secrets to use for pulling container images."),
        "automountServiceAccountToken": ("boolean", "Whether pods running as this service account get an API token "
                                                    "mounted automatically."),
    }),
}
EVENT = {
    "core.Event": ("Event is a report of an event somewhere in the cluster: the scheduler, kubelets and controllers "
                   "record what they did to an object and why (kubectl describe and kubectl events show them).",
                   "metadata involvedObject", {
        **top(),
        "involvedObject": ("core.ObjectReference", "The object that this event is about."),
        "reason": ("string", "A short, machine understandable CamelCase string for the transition into the "
                             "object's current status: Scheduled, Pulled, Started, Killing, BackOff, ..."),
        "message": ("string", "A human-readable description of the status of this operation."),
        "source": ("core.EventSource", "The component reporting this event."),
        "firstTimestamp": ("meta.Time", "The time at which the event was first recorded."),
        "lastTimestamp": ("meta.Time", "The time at which the most recent occurrence of this event was "
                                       "recorded."),
        "count": ("integer", "The number of times this event has occurred."),
        "type": ("string", "Type of this event (Normal, Warning); new types could be added in the future."),
        "eventTime": ("meta.MicroTime", "Time when this Event was first observed."),
        "series": ("core.EventSeries", "Data about the Event series this event represents, if any."),
        "action": ("string", "What action was taken/failed regarding the involved object."),
        "related": ("core.ObjectReference", "Optional secondary object for more complex actions."),
        "reportingComponent": ("string", "Name of the controller that emitted this Event, e.g. "
                                         "`kubernetes.io/kubelet`."),
        "reportingInstance": ("string", "ID of the controller instance, e.g. `kubelet-xyzf`."),
    }),
    "core.EventSource": ("EventSource contains information for an event.", "", {
        "component": ("string", "Component from which the event is generated."),
        "host": ("string", "Node name on which the event is generated."),
    }),
    "core.EventSeries": ("EventSeries contain information on series of events, i.e. thing that was/is happening "
                         "continuously for some time.", "", {
        "count": ("integer", "Number of occurrences in this series up to the last heartbeat time."),
        "lastObservedTime": ("meta.MicroTime", "Time of the last occurrence observed."),
    }),
}
LEASE = {
    "coordination.Lease": ("Lease defines a lease concept: here each node's kubelet renews one in kube-node-lease "
                           "as its heartbeat.", "", top("coordination.LeaseSpec", "spec contains the specification "
                                                                                  "of the Lease.")),
    "coordination.LeaseSpec": ("LeaseSpec is a specification of a Lease.", "", {
        "holderIdentity": ("string", "holderIdentity contains the identity of the holder of a current lease."),
        "leaseDurationSeconds": ("integer", "leaseDurationSeconds is a duration that candidates for a lease need to "
                                            "wait to force acquire it, measured against the time of the last "
                                            "observed renewTime."),
        "acquireTime": ("meta.MicroTime", "acquireTime is a time when the current lease was acquired."),
        "renewTime": ("meta.MicroTime", "renewTime is a time when the current holder of a lease has last updated "
                                        "the lease."),
        "leaseTransitions": ("integer", "leaseTransitions is the number of transitions of a lease between holders."),
        "strategy": ("string", "Strategy indicates the strategy for picking the leader for coordinated leader "
                               "election (stored here, not acted on)."),
        "preferredHolder": ("string", "PreferredHolder signals to a lease holder that the lease has a more "
                                      "optimal holder and should be given up (stored here, not acted on)."),
    }),
}
SCHEMAS = {**SERVICE, **OTHER, **EVENT, **LEASE}
