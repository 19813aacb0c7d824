"""Golden text for toycluster.cli.printers: what `kubectl get` prints, byte for byte."""
import json
from datetime import datetime

import pytest
import yaml

from toycluster.api.columns import human_duration
from toycluster.cli.printers import as_list, no_resources, render, table

NOW = datetime.fromisoformat("2026-11-23T16:10:00Z").timestamp()


def meta(name, created="2026-11-23T16:00:00Z", namespace="default", **extra):
    m = {"name": name, "creationTimestamp": created, **extra}
    if namespace:
        m["namespace"] = namespace
    return m


def running(name="app", ready=True, restarts=0, **extra):
    return {"name": name, "ready": ready, "restartCount": restarts,
            "state": {"running": {"startedAt": "2026-11-23T16:00:05Z"}}, **extra}


def pod(name, statuses, created="2026-11-23T16:00:00Z", phase="Running", containers=None, labels=None,
        namespace="default", node="node-1", ip="", **extra_meta):
    containers = containers or [{"name": s["name"], "image": "nginx:1.27"} for s in statuses] or \
        [{"name": "app", "image": "nginx:1.27"}]
    m = meta(name, created, namespace, **extra_meta)
    if labels:
        m["labels"] = labels
    spec = {"containers": containers}
    if node:
        spec["nodeName"] = node
    status = {"phase": phase, "containerStatuses": statuses}
    if ip:
        status.update(podIP=ip, podIPs=[{"ip": ip}])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": m, "spec": spec, "status": status}


WEB = pod("web-7d4b9c-abcde", [running("web")], ip="10.244.1.2",
          labels={"pod-template-hash": "7d4b9c", "app": "web"})
WEB["spec"]["readinessGates"] = [{"conditionType": "example.com/lb-ready"}]
WEB["status"]["conditions"] = [{"type": "example.com/lb-ready", "status": "True"}]
CRASH = pod("crash-5f6d7-xyz12", [{
    "name": "app", "ready": False, "restartCount": 3,
    "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
    "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": "2026-11-23T16:09:48Z"}}}],
    created="2026-11-23T15:55:00Z", ip="10.244.1.3")
PENDING = pod("pending-abc", [], created="2026-11-23T16:09:15Z", phase="Pending", node="")
TWO = pod("two-containers", [running("app"), running("sidecar", ready=False)],
          created="2026-11-21T13:10:00Z", ip="10.244.2.2")
TERMINATING = pod("terminating-pod", [running("app")], created="2026-11-23T12:10:00Z", ip="10.244.2.3",
                  deletionTimestamp="2026-11-23T16:09:50Z")
CREATING = pod("creating-pod", [{"name": "app", "ready": False, "restartCount": 0,
                                 "state": {"waiting": {"reason": "ContainerCreating"}}}],
               created="2026-11-23T16:07:55Z", phase="Pending", node="node-2")
COREDNS = pod("coredns-5d78c-x2x", [running("coredns")], created="2026-11-23T14:05:30Z",
              namespace="kube-system", labels={"k8s-app": "kube-dns"})


def test_pods():
    assert table("Pod", [WEB, CRASH, PENDING, TWO, TERMINATING, CREATING], now=NOW) == """\
NAME                READY   STATUS              RESTARTS      AGE
web-7d4b9c-abcde    1/1     Running             0             10m
crash-5f6d7-xyz12   0/1     CrashLoopBackOff    3 (12s ago)   15m
pending-abc         0/1     Pending             0             45s
two-containers      1/2     Running             0             2d3h
terminating-pod     1/1     Terminating         0             4h
creating-pod        0/1     ContainerCreating   0             2m5s
"""


def test_pods_wide():
    assert render("wide", "Pod", [WEB, PENDING, CREATING], single=False, now=NOW) == """\
NAME               READY   STATUS              RESTARTS   AGE    IP           NODE     NOMINATED NODE   READINESS GATES
web-7d4b9c-abcde   1/1     Running             0          10m    10.244.1.2   node-1   <none>           1/1
pending-abc        0/1     Pending             0          45s    <none>       <none>   <none>           <none>
creating-pod       0/1     ContainerCreating   0          2m5s   <none>       node-2   <none>           <none>
"""


def test_pods_all_namespaces_with_labels():
    assert table("pod", [WEB, COREDNS, PENDING], all_namespaces=True, show_labels=True, now=NOW) == """\
NAMESPACE     NAME                READY   STATUS    RESTARTS   AGE    LABELS
default       web-7d4b9c-abcde    1/1     Running   0          10m    app=web,pod-template-hash=7d4b9c
kube-system   coredns-5d78c-x2x   1/1     Running   0          124m   k8s-app=kube-dns
default       pending-abc         0/1     Pending   0          45s    <none>
"""


def _status(p):
    return table("Pod", [p], now=NOW).splitlines()[1].split()[1:3]


def _init_pod(state, **status):
    p = pod("p", [{"name": "app", "ready": False, "restartCount": 0,
                   "state": {"waiting": {"reason": "PodInitializing"}}}], phase="Pending")
    p["spec"]["initContainers"] = [{"name": "init", "image": "busybox"}]
    p["status"]["initContainerStatuses"] = [{"name": "init", "ready": False, "restartCount": 0,
                                             "state": state, **status}]
    return p


@pytest.mark.parametrize("p, cells", [
    (_init_pod({"running": {}}), ["0/1", "Init:0/1"]),
    (_init_pod({"waiting": {"reason": "CrashLoopBackOff"}}), ["0/1", "Init:CrashLoopBackOff"]),
    (_init_pod({"terminated": {"exitCode": 2}}), ["0/1", "Init:ExitCode:2"]),
    (_init_pod({"terminated": {"exitCode": 0, "reason": "Completed"}}), ["0/1", "PodInitializing"]),
    (pod("p", [{"name": "a", "ready": False, "restartCount": 0,
                "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}], phase="Succeeded"),
     ["0/1", "Completed"]),
    (pod("p", [{"name": "a", "ready": False, "restartCount": 0, "state": {"terminated": {"exitCode": 137, "signal": 9}}}],
         phase="Failed"), ["0/1", "Signal:9"]),
    (pod("p", [running("a")], deletionTimestamp="2026-11-23T16:09:00Z", phase="Succeeded"), ["1/1", "Succeeded"]),
    (pod("p", [running("a")], deletionTimestamp="2026-11-23T16:09:00Z") | {
        "status": {"phase": "Running", "reason": "NodeLost", "containerStatuses": [running("a")]}},
     ["1/1", "Unknown"]),
    (pod("p", [], phase="Pending", node="") | {"status": {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}}, ["0/1", "SchedulingGated"]),
])
def test_pod_status_cells(p, cells):
    assert _status(p) == cells


def test_sidecar_init_container_counts_as_ready_container():
    p = _init_pod({"running": {}}, started=True, ready=True)
    p["spec"]["initContainers"][0]["restartPolicy"] = "Always"
    p["status"]["containerStatuses"] = [running("app")]
    p["status"]["phase"] = "Running"
    assert _status(p) == ["2/2", "Running"]


def node(name, created, ready="True", roles=(), unschedulable=False, ext="", info=True, n=1):
    labels = {"kubernetes.io/hostname": name, **{f"node-role.kubernetes.io/{r}": "" for r in roles}}
    addrs = [{"type": "InternalIP", "address": f"192.168.50.1{n}"}, {"type": "Hostname", "address": name}]
    if ext:
        addrs.append({"type": "ExternalIP", "address": ext})
    node_info = {"kubeletVersion": "v1.31.0"}
    if info:
        node_info.update(osImage="Debian GNU/Linux 12 (bookworm)", kernelVersion="6.1.0-18-amd64",
                         containerRuntimeVersion="toycluster://0.1.0")
    return {"apiVersion": "v1", "kind": "Node", "metadata": meta(name, created, None) | {"labels": labels},
            "spec": {"unschedulable": True} if unschedulable else {},
            "status": {"conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": ready}],
                       "addresses": addrs, "nodeInfo": node_info}}


NODES = [node("node-1", "2026-11-20T16:10:00Z", roles=["control-plane"], ext="203.0.113.11"),
         node("node-2", "2026-11-22T16:10:00Z", unschedulable=True, n=2),
         node("node-3", "2026-11-23T15:00:00Z", ready="False", info=False, n=3)]


def test_nodes():
    assert table("Node", NODES, now=NOW) == """\
NAME     STATUS                     ROLES           AGE   VERSION
node-1   Ready                      control-plane   3d    v1.31.0
node-2   Ready,SchedulingDisabled   <none>          24h   v1.31.0
node-3   NotReady                   <none>          70m   v1.31.0
"""


def test_nodes_wide_all_namespaces_has_no_namespace_column():
    assert table("Node", NODES, wide=True, all_namespaces=True, now=NOW) == """\
NAME     STATUS                     ROLES           AGE   VERSION   INTERNAL-IP     EXTERNAL-IP    OS-IMAGE                         KERNEL-VERSION   CONTAINER-RUNTIME
node-1   Ready                      control-plane   3d    v1.31.0   192.168.50.11   203.0.113.11   Debian GNU/Linux 12 (bookworm)   6.1.0-18-amd64   toycluster://0.1.0
node-2   Ready,SchedulingDisabled   <none>          24h   v1.31.0   192.168.50.12   <none>         Debian GNU/Linux 12 (bookworm)   6.1.0-18-amd64   toycluster://0.1.0
node-3   NotReady                   <none>          70m   v1.31.0   192.168.50.13   <none>         <unknown>                        <unknown>        <unknown>
"""


def test_namespaces():
    nss = [{"apiVersion": "v1", "kind": "Namespace", "metadata": meta(n, c, None), "status": {"phase": ph}}
           for n, c, ph in [("default", "2026-11-20T16:10:00Z", "Active"), ("kube-system", "2026-11-20T16:10:00Z", "Active"),
                            ("old-lab", "2026-11-23T16:00:00Z", "Terminating")]]
    assert table("Namespace", nss, all_namespaces=True, now=NOW) == """\
NAME          STATUS        AGE
default       Active        3d
kube-system   Active        3d
old-lab       Terminating   10m
"""


def workload(kind, name, containers, selector, replicas, status, created="2026-11-23T16:00:00Z"):
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": meta(name, created),
            "spec": {"replicas": replicas, "selector": selector, "template": {
                "metadata": {"labels": selector.get("matchLabels", {})},
                "spec": {"containers": [{"name": n, "image": i} for n, i in containers]}}},
            "status": status}


DEPLOYS = [workload("Deployment", "web", [("web", "nginx:1.27")], {"matchLabels": {"app": "web"}}, 3,
                    {"replicas": 3, "updatedReplicas": 3, "readyReplicas": 2, "availableReplicas": 2}),
           workload("Deployment", "api", [("api", "toy/api:1"), ("metrics", "toy/metrics:2")],
                    {"matchLabels": {"app": "api"}, "matchExpressions": [
                        {"key": "tier", "operator": "In", "values": ["backend", "api"]}]}, 1, {},
                    created="2026-11-23T16:09:15Z")]


def test_deployments():
    assert table("Deployment", DEPLOYS, now=NOW) == """\
NAME   READY   UP-TO-DATE   AVAILABLE   AGE
web    2/3     3            2           10m
api    0/1     0            0           45s
"""
    assert table("Deployment", DEPLOYS, wide=True, now=NOW) == """\
NAME   READY   UP-TO-DATE   AVAILABLE   AGE   CONTAINERS    IMAGES                    SELECTOR
web    2/3     3            2           10m   web           nginx:1.27                app=web
api    0/1     0            0           45s   api,metrics   toy/api:1,toy/metrics:2   app=api,tier in (api,backend)
"""


def test_replicasets_wide():
    rs = workload("ReplicaSet", "web-7d4b9c", [("web", "nginx:1.27")],
                  {"matchLabels": {"pod-template-hash": "7d4b9c", "app": "web"}}, 3, {"replicas": 3, "readyReplicas": 2})
    assert table("ReplicaSet", [rs], wide=True, now=NOW) == """\
NAME         DESIRED   CURRENT   READY   AGE   CONTAINERS   IMAGES       SELECTOR
web-7d4b9c   3         3         2       10m   web          nginx:1.27   app=web,pod-template-hash=7d4b9c
"""


def svc(name, spec, status=None, created="2026-11-23T16:00:00Z", namespace="default"):
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta(name, created, namespace),
            "spec": spec, "status": status or {"loadBalancer": {}}}


SERVICES = [
    svc("kubernetes", {"type": "ClusterIP", "clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.1"],
                       "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]},
        created="2026-11-20T16:10:00Z"),
    svc("web", {"type": "NodePort", "clusterIP": "10.96.12.34", "clusterIPs": ["10.96.12.34"], "selector": {"app": "web"},
                "ports": [{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080},
                          {"name": "https", "port": 443, "protocol": "TCP", "nodePort": 30443}]}),
    svc("web-headless", {"clusterIP": "None", "selector": {"app": "web"}, "ports": [{"port": 8080}]}),
    svc("lb", {"type": "LoadBalancer", "clusterIPs": ["10.96.50.5"], "ports": [{"port": 80, "nodePort": 31000}]}),
    svc("lb-ready", {"type": "LoadBalancer", "clusterIPs": ["10.96.50.6"], "ports": [{"port": 80, "nodePort": 31001}]},
        {"loadBalancer": {"ingress": [{"ip": "203.0.113.10"}]}}),
    svc("external-db", {"type": "ExternalName", "externalName": "db.example.com"}),
    svc("kube-dns", {"type": "ClusterIP", "clusterIPs": ["10.96.0.10"], "selector": {"k8s-app": "kube-dns"},
                     "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}, {"port": 9153}]}),
]


def test_services():
    assert table("Service", SERVICES, now=NOW) == """\
NAME           TYPE           CLUSTER-IP    EXTERNAL-IP      PORT(S)                      AGE
kubernetes     ClusterIP      10.96.0.1     <none>           443/TCP                      3d
web            NodePort       10.96.12.34   <none>           80:30080/TCP,443:30443/TCP   10m
web-headless   ClusterIP      None          <none>           8080/TCP                     10m
lb             LoadBalancer   10.96.50.5    <pending>        80:31000/TCP                 10m
lb-ready       LoadBalancer   10.96.50.6    203.0.113.10     80:31001/TCP                 10m
external-db    ExternalName   <none>        db.example.com   <none>                       10m
kube-dns       ClusterIP      10.96.0.10    <none>           53/UDP,53/TCP,9153/TCP       10m
"""


def test_services_wide():
    assert table("Service", [SERVICES[1], SERVICES[2], SERVICES[5]], wide=True, now=NOW) == """\
NAME           TYPE           CLUSTER-IP    EXTERNAL-IP      PORT(S)                      AGE   SELECTOR
web            NodePort       10.96.12.34   <none>           80:30080/TCP,443:30443/TCP   10m   app=web
web-headless   ClusterIP      None          <none>           8080/TCP                     10m   app=web
external-db    ExternalName   <none>        db.example.com   <none>                       10m   <none>
"""


def test_endpoints():
    def ep(name, subsets):
        return {"apiVersion": "v1", "kind": "Endpoints", "metadata": meta(name), **({"subsets": subsets} if subsets else {})}
    five = [{"ip": ip} for ip in ["10.244.1.2", "10.244.1.3", "10.244.2.2", "10.244.2.3", "10.244.3.2"]]
    eps = [ep("web", [{"addresses": five, "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]),
           ep("kube-dns", [{"addresses": [{"ip": "10.244.0.5"}], "ports": [
               {"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
               {"name": "metrics", "port": 9153, "protocol": "TCP"}]}]),
           ep("no-ports", [{"addresses": five[:2]}]),
           ep("not-ready", [{"notReadyAddresses": five[:1], "ports": [{"port": 80}]}]),
           ep("empty", None)]
    assert table("Endpoints", eps, now=NOW) == """\
NAME        ENDPOINTS                                                     AGE
web         10.244.1.2:8080,10.244.1.3:8080,10.244.2.2:8080 + 2 more...   10m
kube-dns    10.244.0.5:53,10.244.0.5:53,10.244.0.5:9153                   10m
no-ports    10.244.1.2,10.244.1.3                                         10m
not-ready                                                                 10m
empty       <none>                                                        10m
"""


def test_endpointslices():
    def es(name, ports, addrs):
        return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": meta(name),
                "addressType": "IPv4", "ports": ports,
                "endpoints": [{"addresses": [a], "conditions": {"ready": True}} for a in addrs]}
    slices = [es("web-abc12", [{"name": "http", "port": 8080, "protocol": "TCP"}],
                 ["10.244.1.2", "10.244.1.3", "10.244.2.2", "10.244.2.3", "10.244.3.2"]),
              es("named-port", [{"name": "http"}], ["10.244.1.2"]),
              es("empty-xyz", [], [])]
    assert table("EndpointSlice", slices, now=NOW) == """\
NAME         ADDRESSTYPE   PORTS     ENDPOINTS                                      AGE
web-abc12    IPv4          8080      10.244.1.2,10.244.1.3,10.244.2.2 + 2 more...   10m
named-port   IPv4          http      10.244.1.2                                     10m
empty-xyz    IPv4          <unset>   <unset>                                        10m
"""


def test_ingresses():
    def ing(name, spec, lb=None):
        return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta(name),
                "spec": spec, "status": {"loadBalancer": {"ingress": lb} if lb else {}}}
    backend = {"http": {"paths": [{"path": "/", "pathType": "Prefix",
                                   "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}
    ings = [ing("web", {"ingressClassName": "toy", "tls": [{"hosts": ["web.example.com"], "secretName": "web-tls"}],
                        "rules": [{"host": "web.example.com", **backend}, {"host": "api.example.com", **backend}]},
                [{"ip": "203.0.113.10"}]),
            ing("catchall", {"rules": [backend]}),
            ing("many", {"ingressClassName": "toy", "rules": [{"host": f"{h}.example.com", **backend} for h in "abcd"]},
                [{"hostname": "my-loadbalancer.elb.example.com"}]),
            ing("hostless-first", {"rules": [backend] + [{"host": f"{h}.example.com", **backend} for h in "abc"]})]
    assert table("Ingress", ings, now=NOW) == """\
NAME             CLASS    HOSTS                                                   ADDRESS            PORTS     AGE
web              toy      web.example.com,api.example.com                         203.0.113.10       80, 443   10m
catchall         <none>   *                                                                          80        10m
many             toy      a.example.com,b.example.com,c.example.com + 1 more...   my-loadbalanc...   80        10m
hostless-first   <none>   a.example.com,b.example.com,c.example.com                                  80        10m
"""


def test_network_policies_secrets_configmaps():
    def np(name, sel):
        return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta(name),
                "spec": {"podSelector": sel, "policyTypes": ["Ingress"]}}
    nps = [np("deny-all", {}), np("allow-web", {"matchLabels": {"app": "web"}}),
           np("expr", {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]},
                                            {"key": "app", "operator": "Exists"}]})]
    assert table("NetworkPolicy", nps, now=NOW) == """\
NAME        POD-SELECTOR          AGE
deny-all    <none>                10m
allow-web   app=web               10m
expr        app,tier notin (db)   10m
"""
    secrets = [{"apiVersion": "v1", "kind": "Secret", "metadata": meta("web-tls"), "type": "kubernetes.io/tls",
                "data": {"tls.crt": "Y3J0", "tls.key": "a2V5"}},
               {"apiVersion": "v1", "kind": "Secret", "metadata": meta("token"), "data": {"token": "dA=="}}]
    assert table("Secret", secrets, now=NOW) == """\
NAME      TYPE                DATA   AGE
web-tls   kubernetes.io/tls   2      10m
token     Opaque              1      10m
"""
    cms = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("kube-root-ca.crt"), "data": {"ca.crt": "x"}},
           {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("app-config"),
            "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}}]
    assert table("ConfigMap", cms, now=NOW) == """\
NAME               DATA   AGE
kube-root-ca.crt   1      10m
app-config         3      10m
"""


def test_other_kind_gets_name_and_age_and_empty_list_prints_nothing():
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta("default", created=None)}
    assert table("ServiceAccount", [sa], now=NOW) == "NAME      AGE\ndefault   <unknown>\n"
    assert table("Pod", [], now=NOW) == ""


def test_no_resources():
    assert no_resources("default", False) == "No resources found in default namespace."
    assert no_resources("kube-system", True) == "No resources found"
    assert no_resources(None, False) == "No resources found"


SMALL = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default",
                                                         "creationTimestamp": "2026-11-23T16:00:00Z"},
         "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}, "status": {}}


def test_json_single_object_sorted_with_four_spaces():
    obj = {"status": {}, **SMALL}  # key order must not matter: Go sorts map keys
    assert render("json", "Pod", [obj], single=True) == """\
{
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "creationTimestamp": "2026-11-23T16:00:00Z",
        "name": "web",
        "namespace": "default"
    },
    "spec": {
        "containers": [
            {
                "image": "nginx:1.27",
                "name": "web"
            }
        ]
    },
    "status": {}
}
"""


def test_json_list_and_html_escaping():
    assert render("json", "Pod", [], single=False) == """\
{
    "apiVersion": "v1",
    "items": [],
    "kind": "List",
    "metadata": {
        "resourceVersion": ""
    }
}
"""
    obj = json.loads(json.dumps(SMALL))
    obj["metadata"]["annotations"] = {"note": "<b>tom & jerry</b> café"}
    out = render("json", "Pod", [obj, SMALL], single=False)
    assert '"note": "\\u003cb\\u003etom \\u0026 jerry\\u003c/b\\u003e café"' in out
    assert json.loads(out) == as_list([obj, SMALL])
    assert json.loads(render("json", "Pod", [obj, SMALL], single=True))["kind"] == "List"


def test_yaml_list_like_go_yaml():
    assert render("yaml", "Pod", [SMALL], single=False) == """\
apiVersion: v1
items:
- apiVersion: v1
  kind: Pod
  metadata:
    creationTimestamp: "2026-11-23T16:00:00Z"
    name: web
    namespace: default
  spec:
    containers:
    - image: nginx:1.27
      name: web
  status: {}
kind: List
metadata:
  resourceVersion: ""
"""


def test_yaml_single_object_quotes_like_go_yaml():
    cm = {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "c", "labels": {"on": "true"}},
          "data": {"port": "80", "script": "echo hi\necho bye\n", "empty": "", "host": "web.example.com"}}
    out = render("yaml", "ConfigMap", [cm], single=True)
    assert out == """\
apiVersion: v1
data:
  empty: ""
  host: web.example.com
  port: "80"
  script: |
    echo hi
    echo bye
kind: ConfigMap
metadata:
  labels:
    "on": "true"
  name: c
"""
    assert yaml.safe_load(out) == cm


def test_name_output():
    objs = [SMALL, DEPLOYS[0], {"kind": "Ingress", "apiVersion": "networking.k8s.io/v1", "metadata": {"name": "web"}},
            {"metadata": {"name": "web"}}]
    assert render("name", "Service", objs, single=False) == \
        "pod/web\ndeployment.apps/web\ningress.networking.k8s.io/web\nservice/web\n"
    assert render("name", "NetworkPolicy", [{"metadata": {"name": "deny"}}], single=True) == \
        "networkpolicy.networking.k8s.io/deny\n"


def test_unknown_output_is_refused_with_the_allowed_list():
    with pytest.raises(ValueError, match=r'"xml", allowed formats are: json,name,wide,yaml'):
        render("xml", "Pod", [SMALL], single=False)


@pytest.mark.parametrize("seconds, text", [
    (-3, "<invalid>"), (-2, "<invalid>"), (-1.5, "0s"), (-0.5, "0s"), (0, "0s"), (59.9, "59s"), (60, "60s"),
    (119, "119s"), (120, "2m"), (125, "2m5s"), (599, "9m59s"), (600, "10m"), (10799, "179m"), (10800, "3h"),
    (12600, "3h30m"), (28799, "7h59m"), (28800, "8h"), (32340, "8h"), (47 * 3600, "47h"), (48 * 3600, "2d"),
    (51 * 3600, "2d3h"), (191 * 3600, "7d23h"), (192 * 3600, "8d"), (729 * 86400, "729d"), (730 * 86400, "2y"),
    (731 * 86400, "2y1d"), (2919 * 86400, "7y364d"), (2920 * 86400, "8y"), (4000 * 86400, "10y"),
])
def test_human_duration(seconds, text):
    assert human_duration(seconds) == text
