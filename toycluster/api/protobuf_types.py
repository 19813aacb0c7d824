"""kube-apiserver's protobuf serializer: the messages' field tables (k8s.io/api's and apimachinery's generated.proto).

Each message is one line: `NUMBER jsonName[:TYPE][!]`, comma-separated. TYPE is string (the default), int32, int64,
bool, bytes (base64 in JSON), map (map<string,string>), map.bytes, map.Quantity, Time, Quantity, IntOrString, a
message name, or `[T]` for a repeated T. A trailing `!` keeps a zero value, as Go's JSON does for a field without
omitempty or a pointer field that is set (gogo-protobuf writes every non-pointer field, zero or not, so the
others are dropped when zero). `(inline)` is an embedded struct whose fields JSON lifts into the parent.
Field numbers are upstream's; messages and fields kubectl never sends are left out (unknown fields are skipped).
"""

_META = {
    "ObjectMeta": "1 name, 2 generateName, 3 namespace, 4 selfLink, 5 uid, 6 resourceVersion, 7 generation:int64, "
                  "8 creationTimestamp:Time, 9 deletionTimestamp:Time, 10 deletionGracePeriodSeconds:int64!, "
                  "11 labels:map, 12 annotations:map, 13 ownerReferences:[OwnerReference], 14 finalizers:[string]",
    "OwnerReference": "5 apiVersion!, 1 kind!, 3 name!, 4 uid!, 6 controller:bool!, 7 blockOwnerDeletion:bool!",
    "LabelSelector": "1 matchLabels:map, 2 matchExpressions:[LabelSelectorRequirement]",
    "LabelSelectorRequirement": "1 key!, 2 operator!, 3 values:[string]",
}

_CORE_OBJECTS = {
    "Namespace": "1 metadata:ObjectMeta, 2 spec:NamespaceSpec, 3 status:NamespaceStatus",
    "NamespaceSpec": "1 finalizers:[string]",
    "NamespaceStatus": "1 phase, 2 conditions:[NamespaceCondition]",
    "NamespaceCondition": "1 type!, 2 status!, 4 lastTransitionTime:Time, 5 reason, 6 message",
    "ConfigMap": "1 metadata:ObjectMeta, 4 immutable:bool!, 2 data:map, 3 binaryData:map.bytes",
    "Secret": "1 metadata:ObjectMeta, 5 immutable:bool!, 2 data:map.bytes, 4 stringData:map, 3 type",
    "ServiceAccount": "1 metadata:ObjectMeta, 2 secrets:[ObjectReference], 3 imagePullSecrets:[LocalObjectReference], "
                      "4 automountServiceAccountToken:bool!",
    "ObjectReference": "1 kind, 2 namespace, 3 name, 4 uid, 5 apiVersion, 6 resourceVersion, 7 fieldPath",
    "LocalObjectReference": "1 name",
    "TypedLocalObjectReference": "1 apiGroup!, 2 kind!, 3 name!",
    "Service": "1 metadata:ObjectMeta, 2 spec:ServiceSpec, 3 status:ServiceStatus",
    "ServiceSpec": "1 ports:[ServicePort], 2 selector:map, 3 clusterIP, 18 clusterIPs:[string], 4 type, "
                   "5 externalIPs:[string], 7 sessionAffinity, 8 loadBalancerIP, 9 loadBalancerSourceRanges:[string], "
                   "10 externalName, 11 externalTrafficPolicy, 12 healthCheckNodePort:int32, "
                   "13 publishNotReadyAddresses:bool, 14 sessionAffinityConfig:SessionAffinityConfig, "
                   "19 ipFamilies:[string], 17 ipFamilyPolicy!, 20 allocateLoadBalancerNodePorts:bool!, "
                   "21 loadBalancerClass!, 22 internalTrafficPolicy!, 23 trafficDistribution!",
    "ServicePort": "1 name, 2 protocol, 6 appProtocol!, 3 port:int32!, 4 targetPort:IntOrString, 5 nodePort:int32",
    "SessionAffinityConfig": "1 clientIP:ClientIPConfig",
    "ClientIPConfig": "1 timeoutSeconds:int32!",
    "ServiceStatus": "1 loadBalancer:LoadBalancerStatus",
    "LoadBalancerStatus": "1 ingress:[LoadBalancerIngress]",
    "LoadBalancerIngress": "1 ip, 2 hostname, 3 ipMode!, 4 ports:[PortStatus]",
    "PortStatus": "1 port:int32!, 2 protocol!, 3 error!",
    "Pod": "1 metadata:ObjectMeta, 2 spec:PodSpec, 3 status:PodStatus",
    "PodStatus": "17 observedGeneration:int64, 1 phase, 3 message, 4 reason, 11 nominatedNodeName, 5 hostIP, "
                 "6 podIP, 7 startTime:Time, 9 qosClass",
    "PodTemplateSpec": "1 metadata:ObjectMeta, 2 spec:PodSpec",
}

_CORE_PODS = {
    "PodSpec": "1 volumes:[Volume], 20 initContainers:[Container], 2 containers:[Container], 3 restartPolicy, "
               "4 terminationGracePeriodSeconds:int64!, 5 activeDeadlineSeconds:int64!, 6 dnsPolicy, "
               "7 nodeSelector:map, 8 serviceAccountName, 9 serviceAccount, 21 automountServiceAccountToken:bool!, "
               "10 nodeName, 11 hostNetwork:bool, 12 hostPID:bool, 13 hostIPC:bool, 27 shareProcessNamespace:bool!, "
               "14 securityContext:PodSecurityContext, 15 imagePullSecrets:[LocalObjectReference], 16 hostname, "
               "17 subdomain, 19 schedulerName, 22 tolerations:[Toleration], 23 hostAliases:[HostAlias], "
               "24 priorityClassName, 25 priority:int32!, 26 dnsConfig:PodDNSConfig, "
               "28 readinessGates:[PodReadinessGate], 29 runtimeClassName!, 30 enableServiceLinks:bool!, "
               "31 preemptionPolicy!, 32 overhead:map.Quantity, 35 setHostnameAsFQDN:bool!, 36 os:PodOS, "
               "37 hostUsers:bool!, 40 resources:ResourceRequirements, 41 hostnameOverride!",
    "Container": "1 name!, 2 image, 3 command:[string], 4 args:[string], 5 workingDir, 6 ports:[ContainerPort], "
                 "19 envFrom:[EnvFromSource], 7 env:[EnvVar], 8 resources:ResourceRequirements, "
                 "23 resizePolicy:[ContainerResizePolicy], 24 restartPolicy!, 9 volumeMounts:[VolumeMount], "
                 "10 livenessProbe:Probe, 11 readinessProbe:Probe, 22 startupProbe:Probe, 12 lifecycle:Lifecycle, "
                 "13 terminationMessagePath, 20 terminationMessagePolicy, 14 imagePullPolicy, "
                 "15 securityContext:SecurityContext, 16 stdin:bool, 17 stdinOnce:bool, 18 tty:bool",
    "ContainerPort": "1 name, 2 hostPort:int32, 3 containerPort:int32!, 4 protocol, 5 hostIP",
    "ContainerResizePolicy": "1 resourceName!, 2 restartPolicy!",
    "EnvVar": "1 name!, 2 value, 3 valueFrom:EnvVarSource",
    "EnvVarSource": "1 fieldRef:ObjectFieldSelector, 2 resourceFieldRef:ResourceFieldSelector, "
                    "3 configMapKeyRef:ConfigMapKeySelector, 4 secretKeyRef:SecretKeySelector",
    "ObjectFieldSelector": "1 apiVersion, 2 fieldPath!",
    "ResourceFieldSelector": "1 containerName, 2 resource!, 3 divisor:Quantity",
    "ConfigMapKeySelector": "1 (inline):LocalObjectReference, 2 key!, 3 optional:bool!",
    "SecretKeySelector": "1 (inline):LocalObjectReference, 2 key!, 3 optional:bool!",
    "EnvFromSource": "1 prefix, 2 configMapRef:ConfigMapEnvSource, 3 secretRef:SecretEnvSource",
    "ConfigMapEnvSource": "1 (inline):LocalObjectReference, 2 optional:bool!",
    "SecretEnvSource": "1 (inline):LocalObjectReference, 2 optional:bool!",
    "ResourceRequirements": "1 limits:map.Quantity, 2 requests:map.Quantity, 3 claims:[ResourceClaim]",
    "ResourceClaim": "1 name!, 2 request",
    "VolumeMount": "1 name!, 2 readOnly:bool, 7 recursiveReadOnly!, 3 mountPath!, 4 subPath, 5 mountPropagation!, "
                   "6 subPathExpr",
    "Volume": "1 name!, 2 (inline):VolumeSource",
    "VolumeSource": "1 hostPath:HostPathVolumeSource, 2 emptyDir:EmptyDirVolumeSource, 6 secret:SecretVolumeSource, "
                    "10 persistentVolumeClaim:PersistentVolumeClaimVolumeSource, "
                    "16 downwardAPI:DownwardAPIVolumeSource, 19 configMap:ConfigMapVolumeSource",
    "HostPathVolumeSource": "1 path!, 2 type!",
    "EmptyDirVolumeSource": "1 medium, 2 sizeLimit:Quantity, 3 mode:int32!",
    "SecretVolumeSource": "1 secretName, 2 items:[KeyToPath], 3 defaultMode:int32!, 4 optional:bool!, "
                          "5 defaultUser:int64!",
    "ConfigMapVolumeSource": "1 (inline):LocalObjectReference, 2 items:[KeyToPath], 3 defaultMode:int32!, "
                             "4 optional:bool!, 5 defaultUser:int64!",
    "PersistentVolumeClaimVolumeSource": "1 claimName!, 2 readOnly:bool",
    "DownwardAPIVolumeSource": "1 items:[DownwardAPIVolumeFile], 2 defaultMode:int32!, 3 defaultUser:int64!",
    "DownwardAPIVolumeFile": "1 path!, 2 fieldRef:ObjectFieldSelector, 3 resourceFieldRef:ResourceFieldSelector, "
                             "4 mode:int32!, 5 user:int64!",
    "KeyToPath": "1 key!, 2 path!, 3 mode:int32!, 4 user:int64!",
    "Probe": "1 (inline):ProbeHandler, 2 initialDelaySeconds:int32, 3 timeoutSeconds:int32, 4 periodSeconds:int32, "
             "5 successThreshold:int32, 6 failureThreshold:int32, 7 terminationGracePeriodSeconds:int64!",
    "ProbeHandler": "1 exec:ExecAction, 2 httpGet:HTTPGetAction, 3 tcpSocket:TCPSocketAction, 4 grpc:GRPCAction",
    "Lifecycle": "1 postStart:LifecycleHandler, 2 preStop:LifecycleHandler, 3 stopSignal!",
    "LifecycleHandler": "1 exec:ExecAction, 2 httpGet:HTTPGetAction, 3 tcpSocket:TCPSocketAction, 4 sleep:SleepAction",
    "ExecAction": "1 command:[string]",
    "HTTPGetAction": "1 path, 2 port:IntOrString, 3 host, 4 scheme, 5 httpHeaders:[HTTPHeader], 6 protocol!",
    "HTTPHeader": "1 name!, 2 value!",
    "TCPSocketAction": "1 port:IntOrString, 2 host",
    "GRPCAction": "1 port:int32!, 2 service!, 3 mode!",
    "SleepAction": "1 seconds:int64!",
    "SecurityContext": "1 capabilities:Capabilities, 2 privileged:bool!, 4 runAsUser:int64!, 8 runAsGroup:int64!, "
                       "5 runAsNonRoot:bool!, 6 readOnlyRootFilesystem:bool!, 7 allowPrivilegeEscalation:bool!, "
                       "9 procMount!, 11 seccompProfile:SeccompProfile",
    "Capabilities": "1 add:[string], 2 drop:[string]",
    "SeccompProfile": "1 type!, 2 localhostProfile!",
    "PodSecurityContext": "2 runAsUser:int64!, 6 runAsGroup:int64!, 3 runAsNonRoot:bool!, "
                          "4 supplementalGroups:[int64], 12 supplementalGroupsPolicy!, 5 fsGroup:int64!, "
                          "7 sysctls:[Sysctl], 9 fsGroupChangePolicy!, 10 seccompProfile:SeccompProfile",
    "Sysctl": "1 name!, 2 value!",
    "Toleration": "1 key, 2 operator, 3 value, 4 effect, 5 tolerationSeconds:int64!",
    "HostAlias": "1 ip!, 2 hostnames:[string]",
    "PodDNSConfig": "1 nameservers:[string], 2 searches:[string], 3 options:[PodDNSConfigOption]",
    "PodDNSConfigOption": "1 name, 2 value!",
    "PodReadinessGate": "1 conditionType!",
    "PodOS": "1 name!",
}

_APPS = {
    "Deployment": "1 metadata:ObjectMeta, 2 spec:DeploymentSpec, 3 status:DeploymentStatus",
    "DeploymentSpec": "1 replicas:int32!, 2 selector:LabelSelector, 3 template:PodTemplateSpec, "
                      "4 strategy:DeploymentStrategy, 5 minReadySeconds:int32, 6 revisionHistoryLimit:int32!, "
                      "7 paused:bool, 9 progressDeadlineSeconds:int32!",
    "DeploymentStrategy": "1 type, 2 rollingUpdate:RollingUpdateDeployment",
    "RollingUpdateDeployment": "1 maxUnavailable:IntOrString, 2 maxSurge:IntOrString",
    "DeploymentStatus": "1 observedGeneration:int64, 2 replicas:int32, 3 updatedReplicas:int32, "
                        "7 readyReplicas:int32, 4 availableReplicas:int32, 5 unavailableReplicas:int32, "
                        "9 terminatingReplicas:int32!, 6 conditions:[DeploymentCondition], 8 collisionCount:int32!",
    "DeploymentCondition": "1 type!, 2 status!, 6 lastUpdateTime:Time, 7 lastTransitionTime:Time, 4 reason, "
                           "5 message",
}

_NETWORKING = {
    "Ingress": "1 metadata:ObjectMeta, 2 spec:IngressSpec, 3 status:IngressStatus",
    "IngressSpec": "4 ingressClassName!, 1 defaultBackend:IngressBackend, 2 tls:[IngressTLS], 3 rules:[IngressRule]",
    "IngressTLS": "1 hosts:[string], 2 secretName",
    "IngressRule": "1 host, 2 (inline):IngressRuleValue",
    "IngressRuleValue": "1 http:HTTPIngressRuleValue",
    "HTTPIngressRuleValue": "1 paths:[HTTPIngressPath]",
    "HTTPIngressPath": "1 path, 3 pathType!, 2 backend:IngressBackend",
    "IngressBackend": "4 service:IngressServiceBackend, 3 resource:TypedLocalObjectReference",
    "IngressServiceBackend": "1 name!, 2 port:ServiceBackendPort",
    "ServiceBackendPort": "1 name, 2 number:int32",
    "IngressStatus": "1 loadBalancer:IngressLoadBalancerStatus",
    "IngressLoadBalancerStatus": "1 ingress:[IngressLoadBalancerIngress]",
    "IngressLoadBalancerIngress": "1 ip, 2 hostname, 4 ports:[IngressPortStatus]",
    "IngressPortStatus": "1 port:int32!, 2 protocol!, 3 error!",
}

# the kinds a protobuf body may carry: (apiVersion, kind) -> the top-level message
OBJECTS = {("v1", k): k for k in ("Namespace", "ConfigMap", "Secret", "Service", "ServiceAccount", "Pod")}
OBJECTS |= {("apps/v1", "Deployment"): "Deployment", ("networking.k8s.io/v1", "Ingress"): "Ingress"}


def _field(text: str) -> tuple[int, tuple[str, str, bool]]:
    number, _, rest = text.strip().partition(" ")
    keep = rest.endswith("!")
    name, _, typ = rest.rstrip("!").partition(":")
    return int(number), (name, typ or "string", keep)


def _table(spec: str) -> dict:
    return dict(_field(f) for f in spec.split(","))


MESSAGES = {name: _table(spec) for group in (_META, _CORE_OBJECTS, _CORE_PODS, _APPS, _NETWORKING)
            for name, spec in group.items()}
