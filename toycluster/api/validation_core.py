"""kube-apiserver's validation of the core kinds: Pods, the Deployments and ReplicaSets that template them, Services.

As upstream's ValidatePodSpec, ValidateDeployment and ValidateService, in its words, with its defaults filled in
(restartPolicy Always, protocol TCP, a Service port's targetPort, a Deployment's 25% rolling update, ...).
Called from validation.validate(). IMAGE_CHECK, set by whoever knows the images (the kubelet's workloads),
refuses a container whose image cannot run here. DEFAULT_TOLERATION_SECONDS, set by the control plane, is the
DefaultTolerationSeconds admission plugin's value: a Pod gets NoExecute tolerations of the not-ready and
unreachable taints for that long unless it tolerates them already (upstream's default: 300 s).
"""
import ipaddress

from toycluster.api.fields import (METADATA, PROTOCOLS, FieldError, bad, check_dns, check_iana, check_label_selector,
                                   check_labels, enum, get, get_port, show, typed, unknown)
from toycluster.api.selectors import label_selector_matches

IMAGE_CHECK = None  # fn(container: dict) -> None, raises ValueError if unusable; set by the CLI and the control plane
DEFAULT_TOLERATION_SECONDS = None   # int; None (the CLI's client-side check) adds no toleration
NODE_CONDITION_TAINTS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")
_FIELDS = {k: set(v.split()) for k, v in {  # known fields, so that a typo is an error, not silently ignored
    "container": "name image command args workingDir ports envFrom env resources resizePolicy restartPolicy tty"
                 " volumeMounts volumeDevices livenessProbe readinessProbe startupProbe lifecycle stdin stdinOnce"
                 " terminationMessagePath terminationMessagePolicy imagePullPolicy securityContext",
    "cport": "name hostPort containerPort protocol hostIP",
    "podspec": "activeDeadlineSeconds affinity automountServiceAccountToken containers dnsConfig dnsPolicy"
               " enableServiceLinks ephemeralContainers hostAliases hostIPC hostNetwork hostPID hostUsers hostname"
               " imagePullSecrets initContainers nodeName nodeSelector os overhead preemptionPolicy priority"
               " priorityClassName readinessGates resourceClaims resources restartPolicy runtimeClassName"
               " schedulerName schedulingGates securityContext serviceAccount serviceAccountName"
               " setHostnameAsFQDN shareProcessNamespace subdomain terminationGracePeriodSeconds tolerations"
               " topologySpreadConstraints volumes",
    "env": "name value valueFrom",
    "Deployment": "replicas selector template strategy minReadySeconds revisionHistoryLimit paused"
                  " progressDeadlineSeconds",
    "ReplicaSet": "replicas minReadySeconds selector template",
    "service": "type selector ports clusterIP clusterIPs externalName sessionAffinity sessionAffinityConfig"
               " externalTrafficPolicy internalTrafficPolicy externalIPs loadBalancerIP loadBalancerSourceRanges"
               " loadBalancerClass publishNotReadyAddresses ipFamilies ipFamilyPolicy healthCheckNodePort"
               " allocateLoadBalancerNodePorts trafficDistribution",
    "sport": "name protocol appProtocol port targetPort nodePort",
    "template": "metadata spec",
    "dnsConfig": "nameservers searches options",
    "dnsOption": "name value",
    "lease": "holderIdentity leaseDurationSeconds acquireTime renewTime leaseTransitions strategy preferredHolder",
}.items()}
MAX_DNS_NAMESERVERS, MAX_DNS_SEARCH_PATHS, MAX_DNS_SEARCH_CHARS = 3, 32, 2048   # upstream's, from libc's limits


def _container(c, p, port_names):
    unknown(c, _FIELDS["container"], p)
    check_dns(get(c, p, "name", str, required=True), f"{p}.name")
    image = get(c, p, "image", str, required=True)
    for key in ("command", "args"):
        for i, a in enumerate(get(c, p, key, list) or []):
            typed(a, str, f"{p}.{key}[{i}]")
    for i, e in enumerate(get(c, p, "env", list) or []):
        q = f"{p}.env[{i}]"
        unknown(e, _FIELDS["env"], q)
        if "=" in get(e, q, "name", str, required=True):
            raise bad(f"{q}.name", e["name"], "must not contain '='")
        if get(e, q, "value", str) and get(e, q, "valueFrom", dict) is not None:
            raise bad(f"{q}.valueFrom", e["valueFrom"], "may not be specified when `value` is not empty")
    for i, port in enumerate(get(c, p, "ports", list) or []):
        q = f"{p}.ports[{i}]"
        unknown(port, _FIELDS["cport"], q)
        get_port(port, q, "containerPort", required=True)
        get_port(port, q, "hostPort")
        enum(port, q, "protocol", PROTOCOLS, "TCP")
        if get(port, q, "name", str):
            check_iana(port["name"], f"{q}.name")
            if port["name"] in port_names:  # stricter than Kubernetes, which checks per container
                raise FieldError(f"{q}.name", f"Duplicate value: {show(port['name'])}")
            port_names.add(port["name"])
    if IMAGE_CHECK is not None:
        try:
            IMAGE_CHECK(c)
        except ValueError as e:
            raise bad(f"{p}.image", image, str(e)) from None


def _pod_dns(spec, path):
    """dnsPolicy, dnsConfig, hostname, subdomain and setHostnameAsFQDN, as upstream's validatePodDNSConfig."""
    policy = enum(spec, path, "dnsPolicy", ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"),
                  "ClusterFirst")
    for key in ("hostname", "subdomain"):
        if get(spec, path, key, str):
            check_dns(spec[key], f"{path}.{key}")
    get(spec, path, "setHostnameAsFQDN", bool)
    p, config = f"{path}.dnsConfig", get(spec, path, "dnsConfig", dict)
    if policy == "None" and config is None:
        raise FieldError(p, "Required value: must provide `dnsConfig` when `dnsPolicy` is None")
    if config is None:
        return
    unknown(config, _FIELDS["dnsConfig"], p)
    servers, searches = get(config, p, "nameservers", list) or [], get(config, p, "searches", list) or []
    if policy == "None" and not servers:
        raise FieldError(f"{p}.nameservers", "Required value: must provide at least one DNS nameserver when "
                                             "`dnsPolicy` is None")
    if len(servers) > MAX_DNS_NAMESERVERS:
        raise bad(f"{p}.nameservers", servers, f"must not have more than {MAX_DNS_NAMESERVERS} nameservers")
    for i, server in enumerate(servers):
        try:
            ipaddress.ip_address(typed(server, str, f"{p}.nameservers[{i}]"))
        except ValueError:
            raise bad(f"{p}.nameservers[{i}]", server, "must be a valid IP address, (e.g. 10.9.8.7 or "
                                                      "2001:db8::ffff)") from None
    if len(searches) > MAX_DNS_SEARCH_PATHS:
        raise bad(f"{p}.searches", searches, f"must not have more than {MAX_DNS_SEARCH_PATHS} search paths")
    for i, search in enumerate(searches):
        typed(search, str, f"{p}.searches[{i}]")
    if len(" ".join(searches)) > MAX_DNS_SEARCH_CHARS:
        raise bad(f"{p}.searches", searches, f"must not have more than {MAX_DNS_SEARCH_CHARS} characters "
                                             "(including spaces) in the search list")
    for i, search in enumerate(searches):
        check_dns(search[:-1] if search.endswith(".") else search, f"{p}.searches[{i}]", "subdomain")
    for i, option in enumerate(get(config, p, "options", list) or []):
        unknown(option, _FIELDS["dnsOption"], f"{p}.options[{i}]")
        if not get(option, f"{p}.options[{i}]", "name", str):
            raise FieldError(f"{p}.options[{i}]", "Required value: must not be empty")
        get(option, f"{p}.options[{i}]", "value", str)


def _pod_spec(spec, path, restart=("Always", "OnFailure", "Never")):
    unknown(spec, _FIELDS["podspec"], path)
    enum(spec, path, "restartPolicy", restart, "Always")
    _pod_dns(spec, path)
    names, port_names = set(), set()
    for group in ("initContainers", "containers"):
        for i, c in enumerate(get(spec, path, group, list, required=group == "containers") or []):
            p = f"{path}.{group}[{i}]"
            _container(typed(c, dict, p), p, port_names)
            if c["name"] in names:
                raise FieldError(f"{p}.name", f"Duplicate value: {show(c['name'])}")
            names.add(c["name"])


def check_pod(doc):
    _pod_spec(spec := get(doc, "", "spec", dict, required=True), "spec")
    if DEFAULT_TOLERATION_SECONDS is not None:
        default_tolerations(spec, DEFAULT_TOLERATION_SECONDS)


def default_tolerations(spec: dict, seconds: int) -> None:
    """The DefaultTolerationSeconds admission plugin: a NoExecute toleration of each node condition taint the pod
    does not tolerate yet (a toleration with no key or no effect counts), for SECONDS."""
    tolerations = get(spec, "spec", "tolerations", list) or []
    for key in NODE_CONDITION_TAINTS:
        if not any(isinstance(t, dict) and t.get("key", "") in ("", key) and t.get("effect", "") in ("", "NoExecute")
                   for t in tolerations):
            tolerations.append({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": seconds})
    if tolerations:
        spec["tolerations"] = tolerations


def check_lease(doc):
    """ValidateLease: known fields, a positive leaseDurationSeconds, leaseTransitions not negative."""
    unknown(spec := get(doc, "", "spec", dict, default={}), _FIELDS["lease"], "spec")
    for field in ("holderIdentity", "acquireTime", "renewTime", "strategy", "preferredHolder"):
        get(spec, "spec", field, str)
    if (seconds := get(spec, "spec", "leaseDurationSeconds", int)) is not None and seconds <= 0:
        raise bad("spec.leaseDurationSeconds", seconds, "must be greater than 0")
    if (transitions := get(spec, "spec", "leaseTransitions", int)) is not None and transitions < 0:
        raise bad("spec.leaseTransitions", transitions, "must be greater than or equal to 0")


def check_workload(doc):  # Deployment and ReplicaSet
    kind, spec = doc["kind"], get(doc, "", "spec", dict, required=True)
    unknown(spec, _FIELDS[kind], "spec")
    replicas = get(spec, "spec", "replicas", int, default=1)
    if replicas < 0:
        raise bad("spec.replicas", replicas, "must be greater than or equal to 0")
    check_label_selector(sel := get(spec, "spec", "selector", dict, required=True), "spec.selector")
    if not sel.get("matchLabels") and not sel.get("matchExpressions"):
        raise bad("spec.selector", sel, f"empty selector is invalid for {kind.lower()}")
    unknown(tpl := get(spec, "spec", "template", dict, required=True), _FIELDS["template"], "spec.template")
    tmd = get(tpl, "spec.template", "metadata", dict) or {}
    unknown(tmd, METADATA, "spec.template.metadata")
    check_labels(labels := get(tmd, "spec.template.metadata", "labels", dict) or {}, "spec.template.metadata.labels")
    _pod_spec(get(tpl, "spec.template", "spec", dict, required=True), "spec.template.spec", ("Always",))
    if not label_selector_matches(sel, labels):
        raise bad("spec.template.metadata.labels", labels, "`selector` does not match template `labels`")
    if kind == "Deployment":
        strategy = get(spec, "spec", "strategy", dict, default={})
        if enum(strategy, "spec.strategy", "type", ("Recreate", "RollingUpdate"), "RollingUpdate") == "RollingUpdate":
            rolling = get(strategy, "spec.strategy", "rollingUpdate", dict, default={})
            rolling.setdefault("maxUnavailable", "25%")
            rolling.setdefault("maxSurge", "25%")
        for field, default in (("revisionHistoryLimit", 10), ("progressDeadlineSeconds", 600)):   # apps/v1 defaults
            get(spec, "spec", field, int, default=default)


def check_service(doc):
    unknown(spec := get(doc, "", "spec", dict, default={}), _FIELDS["service"], "spec")
    typ = enum(spec, "spec", "type", ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"), "ClusterIP")
    ip = get(spec, "spec", "clusterIP", str)
    if ip not in (None, "", "None"):
        try:
            ipaddress.IPv4Address(ip)
        except ValueError:
            raise bad("spec.clusterIP", ip, 'must be a valid IPv4 address, "None" or empty') from None
    if typ == "ExternalName":
        if ip:
            raise bad("spec.clusterIP", ip, "may not be set for ExternalName services")
        name = get(spec, "spec", "externalName", str, required=True)
        check_dns(name[:-1] if name.endswith(".") else name, "spec.externalName", "subdomain")
    elif ip == "None" and typ != "ClusterIP":
        raise bad("spec.clusterIP", ip, f"may not be set to 'None' for {typ} services")
    ports = get(spec, "spec", "ports", list, required=typ != "ExternalName" and ip != "None") or []
    names, pairs = set(), set()
    for i, port in enumerate(ports):
        q = f"spec.ports[{i}]"
        unknown(port, _FIELDS["sport"], q)
        pair = (get_port(port, q, "port", required=True), enum(port, q, "protocol", PROTOCOLS, "TCP"))
        if not get(port, q, "name", str) and len(ports) > 1:
            raise FieldError(f"{q}.name", "Required value: each port needs a name when a Service has several")
        if port.get("name"):
            check_dns(port["name"], f"{q}.name")
            if port["name"] in names:
                raise FieldError(f"{q}.name", f"Duplicate value: {show(port['name'])}")
            names.add(port["name"])
        if pair in pairs:
            raise FieldError(q, f"Duplicate value: {show({'port': pair[0], 'protocol': pair[1]})}")
        pairs.add(pair)
        target = port["targetPort"] = pair[0] if port.get("targetPort") is None else port["targetPort"]
        if isinstance(target, str):
            check_iana(target, f"{q}.targetPort")
        elif type(target) is int:
            get_port(port, q, "targetPort")
        else:
            raise bad(f"{q}.targetPort", target, "must be an integer or a port name")
        if get(port, q, "nodePort", int) is not None and typ == "ClusterIP":
            raise FieldError(f"{q}.nodePort", "Forbidden: may not be used when `type` is 'ClusterIP'")
    if spec.get("selector") is not None:
        check_labels(spec["selector"], "spec.selector")
    if enum(spec, "spec", "sessionAffinity", ("None", "ClientIP"), "None") == "ClientIP":
        config = get(spec, "spec", "sessionAffinityConfig", dict, default={})
        client = get(config, "spec.sessionAffinityConfig", "clientIP", dict, default={})
        get(client, "spec.sessionAffinityConfig.clientIP", "timeoutSeconds", int, default=10800)
    if typ in ("NodePort", "LoadBalancer"):
        enum(spec, "spec", "externalTrafficPolicy", ("Cluster", "Local"), "Cluster")
    elif spec.get("externalTrafficPolicy") is not None:
        raise bad("spec.externalTrafficPolicy", spec["externalTrafficPolicy"],
                  "may only be set when `type` is 'NodePort' or 'LoadBalancer'")
    if typ != "ExternalName":
        enum(spec, "spec", "internalTrafficPolicy", ("Cluster", "Local"), "Cluster")

