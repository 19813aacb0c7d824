"""The real kubectl's `explain` against a cluster: it reads /openapi/v3 and the group versions' documents, finds the
kind's schema by x-kubernetes-group-version-kind and follows the $refs down a field path, as against any cluster.
`apply` still builds its patches afterwards (the documents give PATCH no request body)."""
import os
import subprocess

import pytest

from conftest import VENV_BIN, cluster_up

KUBECTL = str(VENV_BIN / "kubectl")
pytestmark = pytest.mark.skipif(not os.path.exists(KUBECTL), reason="the pinned kubectl is not installed")


@pytest.fixture(scope="module")
def k():
    """kubectl ARGS... against a one-node cluster of this module's own: (exit code, stdout + stderr)."""
    with cluster_up(nodes=1) as c:
        env = {**os.environ, "KUBECONFIG": f"/var/lib/toycluster/{c.name}/kubeconfig"}

        def kubectl(*args, input=None):
            p = subprocess.run([KUBECTL, *args], input=input, capture_output=True, text=True, env=env, timeout=30,
                               cwd="/")
            return p.returncode, p.stdout + p.stderr
        yield kubectl


def _explain(k, *args) -> str:
    code, out = k("explain", *args)
    assert code == 0, out
    return out


def test_explain_each_served_kind(k):
    for word, kind, group in (("pods", "Pod", None), ("deploy", "Deployment", "apps"), ("rs", "ReplicaSet", "apps"),
                              ("svc", "Service", None), ("ep", "Endpoints", None), ("ns", "Namespace", None),
                              ("nodes", "Node", None), ("secrets", "Secret", None), ("cm", "ConfigMap", None),
                              ("ev", "Event", None), ("sa", "ServiceAccount", None),
                              ("endpointslices", "EndpointSlice", "discovery.k8s.io"),
                              ("ing", "Ingress", "networking.k8s.io"), ("ingressclasses", "IngressClass",
                                                                        "networking.k8s.io"),
                              ("netpol", "NetworkPolicy", "networking.k8s.io")):
        out = _explain(k, word)
        assert f"KIND:       {kind}\nVERSION:    v1\n" in out, out
        assert (f"GROUP:      {group}\n" in out) == bool(group), out
        assert "  metadata\t<ObjectMeta>" in out and "DESCRIPTION:\n" in out, out


def test_explain_field_paths(k):
    out = _explain(k, "pod.spec.containers.ports")
    assert "FIELD: ports <[]ContainerPort>" in out
    assert "  containerPort\t<integer> -required-\n" in out
    assert "  protocol\t<string>\n  enum: SCTP, TCP, UDP\n" in out
    out = _explain(k, "pods.spec.containers")
    assert "FIELD: containers <[]Container>" in out and "A single application container" in out
    assert "  readinessProbe\t<Probe>\n" in out and "  name\t<string> -required-\n" in out
    out = _explain(k, "deployment.spec.strategy.rollingUpdate")
    assert "GROUP:      apps\nKIND:       Deployment\n" in out
    assert "FIELD: rollingUpdate <RollingUpdateDeployment>" in out
    assert "  maxSurge\t<string>\n" in out and "Defaults to 25%." in out      # IntOrString: type string, as upstream
    out = _explain(k, "svc.spec.ports")
    assert "FIELD: ports <[]ServicePort>" in out and "  targetPort\t<string>\n" in out
    assert "  port\t<integer> -required-\n" in out
    out = _explain(k, "svc.spec.type")
    assert "FIELD: type <string>\nENUM:\n    ClusterIP\n    ExternalName\n    LoadBalancer\n    NodePort\n" in out
    out = _explain(k, "ingress.spec.rules.http.paths")
    assert "FIELD: paths <[]HTTPIngressPath>" in out
    assert "  pathType\t<string> -required-\n  enum: Exact, ImplementationSpecific, Prefix\n" in out
    assert "  backend\t<IngressBackend> -required-\n" in out
    out = _explain(k, "networkpolicy.spec.ingress.from")
    assert "FIELD: from <[]NetworkPolicyPeer>" in out
    for line in ("  ipBlock\t<IPBlock>\n", "  namespaceSelector\t<LabelSelector>\n", "  podSelector\t<LabelSelector>\n"):
        assert line in out
    out = _explain(k, "pod.status.containerStatuses.state")
    assert "  running\t<ContainerStateRunning>\n" in out and "  waiting\t<ContainerStateWaiting>\n" in out


def test_explain_recursive_and_errors(k):
    out = _explain(k, "deployment.spec", "--recursive")
    for line in ("  strategy\t<DeploymentStrategy>\n", "    rollingUpdate\t<RollingUpdateDeployment>\n",
                 "      maxSurge\t<string>\n", "  selector\t<LabelSelector> -required-\n",
                 "      key\t<string> -required-\n", "  template\t<PodTemplateSpec> -required-\n"):
        assert line in out, line
    out = _explain(k, "netpol", "--recursive")
    assert "          cidr\t<string> -required-\n" in out and "          except\t<[]string>\n" in out
    code, out = k("explain", "pod.spec.nosuchfield")
    assert code != 0 and 'field "nosuchfield" does not exist' in out


def test_apply_still_builds_its_patches(k):
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: explained}\ndata: {a: '1'}\n"
    assert k("apply", "-f", "-", input=cm) == (0, "configmap/explained created\n")
    assert k("apply", "-f", "-", input=cm) == (0, "configmap/explained unchanged\n")
    assert k("apply", "-f", "-", input=cm.replace("'1'", "'2'")) == (0, "configmap/explained configured\n")
    code, out = k("get", "cm", "explained", "-o", "jsonpath={.data.a}")
    assert (code, out) == (0, "2")
