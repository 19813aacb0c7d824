"""kube-apiserver's OpenAPI schemas: the core group's Container and its parts (ports, env, probes, resources, mounts).

Tables in openapi_meta.py's compact form. Fields that toycluster stores without acting on say so.
"""
_NOT_ACTED = " toycluster stores it but does not act on it."
_PROBE = "https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle#container-probes"


def _probe(kind: str, effect: str) -> tuple:
    return ("core.Probe", f"Periodic probe of container {kind}. {effect} Cannot be updated. More info: {_PROBE}")


def _key(kind: str) -> dict:
    return {"name": ("string", f"Name of the referent {kind}."), "key": ("string", "The key to select."),
            "optional": ("boolean", f"Specify whether the {kind} or its key must be defined.")}


SCHEMAS = {
    "core.Container": ("A single application container that you want to run within a pod.", "name", {
        "name": ("string", "Name of the container, a DNS label, unique within the pod. Cannot be updated."),
        "image": ("string", "Container image name. Here it must name one of toycluster's built-in images "
                            "(nginx, busybox, postgres, hashicorp/http-echo, ...). More info: "
                            "https://kubernetes.io/docs/concepts/containers/images"),
        "command": ("[]string", "Entrypoint array, not run in a shell. The image's ENTRYPOINT is used if this "
                                "is not given. Cannot be updated."),
        "args": ("[]string", "Arguments to the entrypoint. The image's CMD is used if this is not given. Cannot "
                             "be updated."),
        "workingDir": ("string", "The container's working directory. Defaults to the image's. Cannot be updated."),
        "ports": ("[]core.ContainerPort", "The ports to expose from the container. Listing a port here is "
                                          "mostly informational: a process listening on 0.0.0.0 is reachable "
                                          "either way; a named port can be a Service's targetPort. Cannot be "
                                          "updated."),
        "envFrom": ("[]core.EnvFromSource", "Sources to populate environment variables from. Keys become "
                                            "variable names; env wins over envFrom. Cannot be updated."),
        "env": ("[]core.EnvVar", "Environment variables to set in the container. Cannot be updated."),
        "resources": ("core.ResourceRequirements", "Compute resources required by this container." + _NOT_ACTED),
        "resizePolicy": ("[]core.ContainerResizePolicy", "Resize policy for the container's resources."
                         + _NOT_ACTED),
        "restartPolicy": ("string", "Restart behavior of an init container: \"Always\" makes it a sidecar that "
                                    "keeps running beside the app containers. May only be set for init "
                                    "containers.", "Always"),
        "volumeMounts": ("[]core.VolumeMount", "Pod volumes to mount into the container's filesystem. Cannot "
                                               "be updated."),
        "volumeDevices": ("[]core.VolumeDevice", "Block devices to be used by the container." + _NOT_ACTED),
        "livenessProbe": _probe("liveness", "The container is restarted if the probe fails."),
        "readinessProbe": _probe("service readiness", "The container is removed from service endpoints if the "
                                                     "probe fails."),
        "startupProbe": _probe("startup", "No other probe runs until this one succeeds; the container is "
                                          "restarted if it fails."),
        "lifecycle": ("core.Lifecycle", "Actions the system takes in response to container lifecycle events. "
                                        "Cannot be updated." + _NOT_ACTED),
        "terminationMessagePath": ("string", "Path of the file the container's termination message is read "
                                             "from. Defaults to /dev/termination-log. Cannot be updated."),
        "terminationMessagePolicy": ("string", "How the termination message is filled in: File, or "
                                               "FallbackToLogsOnError (the last log lines when the file is "
                                               "empty and the container failed). Cannot be updated.",
                                     "FallbackToLogsOnError File"),
        "imagePullPolicy": ("string", "Image pull policy: Always, Never or IfNotPresent. Defaults to Always for "
                                      "a :latest tag, IfNotPresent otherwise. Cannot be updated. Here every "
                                      "image is built in.", "Always IfNotPresent Never"),
        "securityContext": ("core.SecurityContext", "Security options the container runs with." + _NOT_ACTED),
        "stdin": ("boolean", "Whether the container allocates a buffer for stdin in the container runtime; "
                             "without it, reads from stdin always give EOF (kubectl attach and run -i need it). "
                             "Default is false."),
        "stdinOnce": ("boolean", "Whether the runtime closes the stdin channel after it has been opened by a "
                                 "single attach. Default is false."),
        "tty": ("boolean", "Whether the container allocates a TTY for itself; needs stdin. Default is false."),
    }),
    "core.ContainerPort": ("ContainerPort represents a network port in a single container.", "containerPort", {
        "name": ("string", "An IANA_SVC_NAME, unique within the pod, that Services can refer to as targetPort."),
        "containerPort": ("integer", "Number of the port to expose on the pod's IP address: 0 < x < 65536."),
        "hostPort": ("integer", "Number of the port to expose on the host: 0 < x < 65536. Most containers do "
                                "not need this."),
        "protocol": ("string", "Protocol for the port: UDP, TCP, or SCTP. Defaults to \"TCP\".", "SCTP TCP UDP"),
        "hostIP": ("string", "What host IP to bind the external port to."),
    }),
    "core.EnvVar": ("EnvVar represents an environment variable present in a container.", "name", {
        "name": ("string", "Name of the environment variable. May not contain '='."),
        "value": ("string", "The variable's value. $(VAR_NAME) references to variables defined earlier in the "
                            "container are expanded; $$ escapes them. Defaults to \"\"."),
        "valueFrom": ("core.EnvVarSource", "Source for the variable's value. Cannot be used if value is not "
                                           "empty."),
    }),
    "core.EnvVarSource": ("EnvVarSource represents a source for the value of an EnvVar.", "", {
        "fieldRef": ("core.ObjectFieldSelector", "Selects a field of the pod: metadata.name, metadata.namespace, "
                                                 "spec.nodeName, status.hostIP, status.podIP, ..."),
        "configMapKeyRef": ("core.ConfigMapKeySelector", "Selects a key of a ConfigMap." + _NOT_ACTED),
        "secretKeyRef": ("core.SecretKeySelector", "Selects a key of a Secret in the pod's namespace." + _NOT_ACTED),
    }),
    "core.ObjectFieldSelector": ("ObjectFieldSelector selects an APIVersioned field of an object.", "fieldPath", {
        "apiVersion": ("string", "Version of the schema the FieldPath is written in terms of, defaults to \"v1\"."),
        "fieldPath": ("string", "Path of the field to select in the specified API version."),
    }),
    "core.ConfigMapKeySelector": ("Selects a key from a ConfigMap.", "key", _key("ConfigMap")),
    "core.SecretKeySelector": ("SecretKeySelector selects a key of a Secret.", "key", _key("Secret")),
    "core.EnvFromSource": ("EnvFromSource represents the source of a set of environment variables: a ConfigMap "
                           "or a Secret." + _NOT_ACTED, "", {}),
    "core.Probe": ("Probe describes a health check to be performed against a container to determine whether it "
                   "is alive or ready to receive traffic.", "", {
        "exec": ("core.ExecAction", "Exec specifies a command to run inside the container."),
        "httpGet": ("core.HTTPGetAction", "HTTPGet specifies an HTTP GET request to perform."),
        "tcpSocket": ("core.TCPSocketAction", "TCPSocket specifies a connection to a TCP port."),
        "grpc": ("core.GRPCAction", "GRPC specifies a gRPC health check request." + _NOT_ACTED),
        "initialDelaySeconds": ("integer", "Seconds after the container has started before probes are "
                                           "initiated."),
        "timeoutSeconds": ("integer", "Seconds after which the probe times out. Defaults to 1. Minimum value is "
                                      "1."),
        "periodSeconds": ("integer", "How often, in seconds, to perform the probe. Defaults to 10. Minimum value "
                                     "is 1."),
        "successThreshold": ("integer", "Minimum consecutive successes for the probe to be considered successful "
                                        "after having failed. Defaults to 1. Must be 1 for liveness and "
                                        "startup."),
        "failureThreshold": ("integer", "Minimum consecutive failures for the probe to be considered failed after "
                                        "having succeeded. Defaults to 3. Minimum value is 1."),
        "terminationGracePeriodSeconds": ("int64", "Seconds the pod needs to terminate gracefully after a probe "
                                                   "failure; overrides the pod's value."),
    }),
    "core.ExecAction": ("ExecAction describes a \"run in container\" action.", "", {
        "command": ("[]string", "The command line to execute inside the container, its working directory the "
                                "root ('/'). Not run in a shell. Exit status 0 is healthy, anything else is "
                                "not."),
    }),
    "core.HTTPGetAction": ("HTTPGetAction describes an action based on HTTP Get requests.", "port", {
        "path": ("string", "Path to access on the HTTP server."),
        "port": ("intstr.IntOrString", "Name or number of the port to access on the container. A number must "
                                       "be in the range 1 to 65535; a name must be an IANA_SVC_NAME."),
        "host": ("string", "Host name to connect to, defaults to the pod IP."),
        "scheme": ("string", "Scheme to use for connecting to the host. Defaults to HTTP.", "HTTP HTTPS"),
        "httpHeaders": ("[]core.HTTPHeader", "Custom headers to set in the request. HTTP allows repeated "
                                             "headers."),
    }),
    "core.HTTPHeader": ("HTTPHeader describes a custom header to be used in HTTP probes.", "name value", {
        "name": ("string", "The header field name."),
        "value": ("string", "The header field value."),
    }),
    "core.TCPSocketAction": ("TCPSocketAction describes an action based on opening a socket.", "port", {
        "port": ("intstr.IntOrString", "Number or name of the port to access on the container. A number must be "
                                       "in the range 1 to 65535; a name must be an IANA_SVC_NAME."),
        "host": ("string", "Optional: host name to connect to, defaults to the pod IP."),
    }),
    "core.GRPCAction": ("GRPCAction specifies an action involving a gRPC service.", "port", {
        "port": ("integer", "Port number of the gRPC service. Number must be in the range 1 to 65535."),
        "service": ("string", "The name of the service to place in the gRPC HealthCheckRequest."),
    }),
    "core.ResourceRequirements": ("ResourceRequirements describes the compute resource requirements.", "", {
        "limits": ("map[string]resource.Quantity", "The maximum amount of compute resources allowed."),
        "requests": ("map[string]resource.Quantity", "The minimum amount of compute resources required; "
                                                     "defaults to limits when omitted."),
    }),
    "core.ContainerResizePolicy": ("ContainerResizePolicy represents resource resize policy for the container.",
                                   "resourceName restartPolicy", {
        "resourceName": ("string", "Name of the resource to which this policy applies: cpu or memory."),
        "restartPolicy": ("string", "Restart policy to apply when the resource is resized: NotRequired or "
                                    "RestartContainer."),
    }),
    "core.VolumeMount": ("VolumeMount describes a mounting of a Volume within a container.", "name mountPath", {
        "name": ("string", "This must match the name of a volume of the pod."),
        "mountPath": ("string", "Path within the container at which the volume should be mounted. Must not "
                                "contain ':'."),
        "subPath": ("string", "Path within the volume from which the container's volume should be mounted. "
                              "Defaults to \"\" (the volume's root)."),
        "readOnly": ("boolean", "Mounted read-only if true, read-write otherwise (false or unspecified)."),
    }),
    "core.VolumeDevice": ("VolumeDevice describes a mapping of a raw block device within a container.",
                          "name devicePath", {
        "name": ("string", "Must match the name of a persistentVolumeClaim in the pod."),
        "devicePath": ("string", "The path inside of the container that the device will be mapped to."),
    }),
    "core.SecurityContext": ("SecurityContext holds security configuration that will be applied to a container: "
                             "user and group IDs, capabilities, privileged mode, seccomp and SELinux options."
                             + _NOT_ACTED, "", {}),
    "core.Lifecycle": ("Lifecycle describes actions the management system takes in response to container "
                       "lifecycle events: postStart and preStop handlers." + _NOT_ACTED, "", {}),
}
