"""kube-apiserver's OpenAPI schemas: networking.k8s.io/v1 (Ingress, IngressClass, NetworkPolicy) and EndpointSlice.

Tables in openapi_meta.py's compact form. EndpointSlice is discovery.k8s.io/v1's.
"""
from toycluster.api.openapi_meta import top

_PORT_PROTOCOL = ("string", "The protocol (TCP, UDP, or SCTP) which traffic must match. If not specified, this "
                            "field defaults to TCP.", "SCTP TCP UDP")
_HOST = ("string", "The fully qualified domain name of a network host, as defined by RFC 3986, without an IP "
                   "address or a port. A wildcard (\"*.foo.com\") matches one DNS label in its first place. "
                   "Requests whose Host header (or TLS SNI) matches use this rule; an empty host matches all.")
INGRESS = {
    "networking.Ingress": ("Ingress is a collection of rules that allow inbound connections to reach the endpoints "
                           "defined by a backend. An Ingress can be configured to give services externally-reachable "
                           "urls, load balance traffic, terminate SSL, offer name based virtual hosting etc.", "",
                           top("networking.IngressSpec", "Spec is the desired state of the Ingress.",
                               "networking.IngressStatus", "Status is the current state of the Ingress.")),
    "networking.IngressSpec": ("IngressSpec describes the Ingress the user wishes to exist.", "", {
        "ingressClassName": ("string", "The name of the IngressClass cluster resource: the ingress controller "
                                       "that implements this Ingress."),
        "defaultBackend": ("networking.IngressBackend", "The backend that should handle requests that don't match "
                                                        "any rule. Either defaultBackend or rules must be "
                                                        "specified."),
        "tls": ("[]networking.IngressTLS", "TLS configuration: the hosts served on 443 and the Secret holding "
                                           "their certificate (SNI picks one)."),
        "rules": ("[]networking.IngressRule", "A list of host rules used to configure the Ingress. If unspecified, "
                                              "or no rule matches, all traffic is sent to the default backend."),
    }),
    "networking.IngressRule": ("IngressRule represents the rules mapping the paths under a specified host to the "
                               "related backend services. Incoming requests are first evaluated for a host match, "
                               "then routed to the backend associated with the matching path.", "", {
        "host": _HOST,
        "http": ("networking.HTTPIngressRuleValue", "The HTTP paths of this host and their backends."),
    }),
    "networking.HTTPIngressRuleValue": ("HTTPIngressRuleValue is a list of http selectors pointing to backends: "
                                        "http://<host>/<path>?<searchpart> -> backend.", "paths", {
        "paths": ("[]networking.HTTPIngressPath", "A collection of paths that map requests to backends."),
    }),
    "networking.HTTPIngressPath": ("HTTPIngressPath associates a path with a backend. Incoming urls matching the "
                                   "path are forwarded to the backend.", "pathType backend", {
        "path": ("string", "Path is matched against the path of an incoming request: it must begin with a '/' "
                           "and, for Exact and Prefix, be free of '//', '/./' and '/../'."),
        "pathType": ("string", "How the path is matched: Exact (the URL path exactly, case-sensitive), Prefix "
                               "(element by element, split on '/': /foo matches /foo and /foo/bar, not /foobar) or "
                               "ImplementationSpecific (up to the IngressClass; here as Prefix). Required.",
                     "Exact ImplementationSpecific Prefix"),
        "backend": ("networking.IngressBackend", "Backend defines the referenced service endpoint to which the "
                                                 "traffic will be forwarded to."),
    }),
    "networking.IngressBackend": ("IngressBackend describes all endpoints for a given service and port.", "", {
        "service": ("networking.IngressServiceBackend", "A Service to send the traffic to. Mutually exclusive "
                                                        "with resource."),
        "resource": ("core.TypedLocalObjectReference", "An object in the Ingress's namespace to send the traffic "
                                                       "to. Mutually exclusive with service."),
    }),
    "networking.IngressServiceBackend": ("IngressServiceBackend references a Kubernetes Service as a Backend.",
                                         "name", {
        "name": ("string", "Name is the referenced service. The service must exist in the same namespace as the "
                           "Ingress object."),
        "port": ("networking.ServiceBackendPort", "Port of the referenced service. A port name or port number is "
                                                  "required."),
    }),
    "networking.ServiceBackendPort": ("ServiceBackendPort is the service port being referenced.", "", {
        "name": ("string", "The name of the port on the Service. Mutually exclusive with number."),
        "number": ("integer", "The numerical port number (e.g. 80) on the Service. Mutually exclusive with name."),
    }),
    "core.TypedLocalObjectReference": ("TypedLocalObjectReference contains enough information to let you locate "
                                       "the typed referenced object inside the same namespace.", "kind name", {
        "apiGroup": ("string", "The group for the resource being referenced; empty for the core group."),
        "kind": ("string", "Kind is the type of resource being referenced."),
        "name": ("string", "Name is the name of resource being referenced."),
    }),
    "networking.IngressTLS": ("IngressTLS describes the transport layer security associated with an ingress.", "", {
        "hosts": ("[]string", "A list of hosts included in the TLS certificate. They must match the names in the "
                              "tlsSecret. Defaults to the wildcard host setting for the loadbalancer controller."),
        "secretName": ("string", "The name of the kubernetes.io/tls Secret used to terminate TLS traffic on port "
                                 "443. Without it, the controller serves its default certificate (here signed by "
                                 "the cluster CA)."),
    }),
    "networking.IngressStatus": ("IngressStatus describes the current state of the Ingress.", "", {
        "loadBalancer": ("networking.IngressLoadBalancerStatus", "The current status of the load-balancer."),
    }),
    "networking.IngressLoadBalancerStatus": ("IngressLoadBalancerStatus represents the status of a load-balancer.",
                                             "", {
        "ingress": ("[]networking.IngressLoadBalancerIngress", "A list containing ingress points for the "
                                                               "load-balancer."),
    }),
    "networking.IngressLoadBalancerIngress": ("IngressLoadBalancerIngress represents the status of a load-balancer "
                                              "ingress point.", "", {
        "ip": ("string", "Set for load-balancer ingress points that are IP based."),
        "hostname": ("string", "Set for load-balancer ingress points that are DNS based."),
    }),
    "networking.IngressClass": ("IngressClass represents the class of the Ingress, referenced by the Ingress Spec. "
                                "The `ingressclass.kubernetes.io/is-default-class` annotation makes a class the "
                                "default for Ingresses that name none.", "",
                                top("networking.IngressClassSpec", "Spec is the desired state of the IngressClass.")),
    "networking.IngressClassSpec": ("IngressClassSpec provides information about the class of an Ingress.", "", {
        "controller": ("string", "The name of the controller that should handle this class, a domain-prefixed "
                                 "path such as \"k8s.io/ingress-nginx\". Immutable."),
        "parameters": ("networking.IngressClassParametersReference", "A link to a custom resource with "
                                                                     "additional configuration for the controller."),
    }),
    "networking.IngressClassParametersReference": ("IngressClassParametersReference identifies an API object.",
                                                   "kind name", {
        "apiGroup": ("string", "The group for the resource being referenced."),
        "kind": ("string", "The type of resource being referenced."),
        "name": ("string", "The name of resource being referenced."),
        "scope": ("string", "Cluster or Namespace: whether the resource is cluster- or namespace-scoped."),
        "namespace": ("string", "The namespace of the resource being referenced, when scope is Namespace."),
    }),
}
_PEERS = ("matching at least one item in this list (ORed). If empty or missing, this rule matches all {0} "
          "(traffic not restricted by {1}).")
NETPOL = {
    "networking.NetworkPolicy": ("NetworkPolicy describes what network traffic is allowed for a set of Pods.", "",
                                 top("networking.NetworkPolicySpec", "Spec represents the specification of the "
                                                                     "desired behavior for this NetworkPolicy.")),
    "networking.NetworkPolicySpec": ("NetworkPolicySpec provides the specification of a NetworkPolicy.", "", {
        "podSelector": ("meta.LabelSelector", "Selects the pods to which this NetworkPolicy object applies, in "
                                              "the policy's namespace. An empty podSelector selects all pods in "
                                              "the namespace."),
        "ingress": ("[]networking.NetworkPolicyIngressRule", "Ingress rules of the selected pods: traffic is "
                                                             "allowed if it matches at least one rule of any "
                                                             "policy selecting the pod, or if no policy isolates "
                                                             "the pod for ingress."),
        "egress": ("[]networking.NetworkPolicyEgressRule", "Egress rules of the selected pods: outgoing traffic is "
                                                           "allowed if it matches at least one rule of any policy "
                                                           "selecting the pod, or if no policy isolates it for "
                                                           "egress."),
        "policyTypes": ("[]string", "The rule types this policy relates to: [\"Ingress\"], [\"Egress\"], or both. "
                                    "Defaults to Ingress, plus Egress when there are egress rules."),
    }),
    "networking.NetworkPolicyIngressRule": ("NetworkPolicyIngressRule describes a particular set of traffic that is "
                                            "allowed to the pods matched by a NetworkPolicySpec's podSelector. The "
                                            "traffic must match both ports and from.", "", {
        "ports": ("[]networking.NetworkPolicyPort", "Ports which should be made accessible on the selected pods, "
                                                    + _PEERS.format("ports", "port")),
        "from": ("[]networking.NetworkPolicyPeer", "Sources which should be able to access the selected pods, "
                                                   + _PEERS.format("sources", "source")),
    }),
    "networking.NetworkPolicyEgressRule": ("NetworkPolicyEgressRule describes a particular set of traffic that is "
                                           "allowed out of the pods matched by a NetworkPolicySpec's podSelector. "
                                           "The traffic must match both ports and to.", "", {
        "ports": ("[]networking.NetworkPolicyPort", "Destination ports for outgoing traffic, "
                                                    + _PEERS.format("ports", "port")),
        "to": ("[]networking.NetworkPolicyPeer", "Destinations for outgoing traffic of pods selected for this rule, "
                                                 + _PEERS.format("destinations", "destination")),
    }),
    "networking.NetworkPolicyPeer": ("NetworkPolicyPeer describes a peer to allow traffic to/from. Only certain "
                                     "combinations of fields are allowed.", "", {
        "podSelector": ("meta.LabelSelector", "Selects pods: in the policy's namespace, or, with "
                                              "namespaceSelector, in the namespaces it selects."),
        "namespaceSelector": ("meta.LabelSelector", "Selects namespaces using cluster-scoped labels: all pods in "
                                                    "them, or those podSelector selects. An empty selector selects "
                                                    "all namespaces."),
        "ipBlock": ("networking.IPBlock", "A particular CIDR (Ex. \"192.168.1.0/24\") allowed to or from the "
                                          "pods. Cannot be combined with the selectors."),
    }),
    "networking.IPBlock": ("IPBlock describes a particular CIDR (Ex. \"192.168.1.0/24\",\"2001:db8::/64\") that is "
                           "allowed to the pods matched by a NetworkPolicySpec's podSelector. The except entry "
                           "describes CIDRs that should not be included within this rule.", "cidr", {
        "cidr": ("string", "A string representing the IPBlock. Valid examples are \"192.168.1.0/24\" or "
                           "\"2001:db8::/64\"."),
        "except": ("[]string", "CIDRs that should not be included within the IPBlock; each must be a strict "
                               "subset of cidr. Valid examples are \"192.168.1.0/24\" or \"2001:db8::/64\"."),
    }),
    "networking.NetworkPolicyPort": ("NetworkPolicyPort describes a port to allow traffic on.", "", {
        "protocol": _PORT_PROTOCOL,
        "port": ("intstr.IntOrString", "The port on the given protocol: a numerical or named port on a pod. If "
                                       "not provided, this matches all port names and numbers. With endPort, "
                                       "the first port of a range."),
        "endPort": ("integer", "If set, a range of ports from port to endPort, inclusive, is allowed. Cannot be "
                               "set if port is undefined or a named port; must be equal or greater than port."),
    }),
}
SLICE = {
    "discovery.EndpointSlice": ("EndpointSlice represents a set of service endpoints. Most EndpointSlices are "
                                "created by the EndpointSlice controller to represent the Pods selected by Service "
                                "objects; the label kubernetes.io/service-name names the Service.",
                                "addressType endpoints", {
        **top(),
        "addressType": ("string", "The type of address carried by this EndpointSlice: IPv4, IPv6 or FQDN. "
                                  "Immutable.", "FQDN IPv4 IPv6"),
        "endpoints": ("[]discovery.Endpoint", "A list of unique endpoints in this slice. Each slice may include a "
                                              "maximum of 1000 endpoints."),
        "ports": ("[]discovery.EndpointPort", "The network ports exposed by each endpoint in this slice."),
    }),
    "discovery.Endpoint": ("Endpoint represents a single logical \"backend\" implementing a service.",
                           "addresses", {
        "addresses": ("[]string", "Addresses of this endpoint; consumers use the first one."),
        "conditions": ("discovery.EndpointConditions", "The current state of the endpoint."),
        "hostname": ("string", "The hostname of this endpoint, for DNS."),
        "targetRef": ("core.ObjectReference", "A reference to a Kubernetes object that represents this endpoint, "
                                              "usually a Pod."),
        "nodeName": ("string", "The name of the Node hosting this endpoint."),
        "zone": ("string", "The name of the Zone this endpoint exists in."),
    }),
    "discovery.EndpointConditions": ("EndpointConditions represents the current condition of an endpoint.", "", {
        "ready": ("boolean", "Whether the endpoint is ready to receive traffic (serving and not terminating). A "
                             "nil value is interpreted as \"true\"."),
        "serving": ("boolean", "Whether the endpoint passes its readiness checks, whether terminating or not."),
        "terminating": ("boolean", "Whether the endpoint is terminating."),
    }),
    "discovery.EndpointPort": ("EndpointPort represents a Port used by an EndpointSlice.", "", {
        "name": ("string", "The name of this port, the Service port's name."),
        "protocol": ("string", "The IP protocol for this port: TCP, UDP, or SCTP. Default is TCP.",
                     "SCTP TCP UDP"),
        "port": ("integer", "The port number of the endpoint. If not specified, ports are not restricted."),
        "appProtocol": ("string", "The application protocol for this port, as the Service port's appProtocol."),
    }),
}
SCHEMAS = {**INGRESS, **NETPOL, **SLICE}
