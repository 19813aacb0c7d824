"""A pod's DNS is its own (issue 14, item 4), on a real cluster: dnsPolicy and dnsConfig as the kubelet writes
them into the pod's resolv.conf, hostname/subdomain/setHostnameAsFQDN, the API server's refusals, and the
`kubernetes` Service in `default` that kube-apiserver keeps (the service range's first address, port 443, its
EndpointSlice naming node1's address and port 6443), which cluster DNS answers as `kubernetes.default`.

One cluster for the module. Traffic stays inside it (cluster DNS, the `kubernetes` ClusterIP).
"""
import ipaddress
import json
import os
import sys

import pytest

from conftest import REPO, cluster_up, poll

sys.path.insert(0, str(REPO))
from toycluster.node import dns_config

CUSTOM_NS = "192.0.2.53"       # TEST-NET-1: written into resolv.conf, never asked


def pod(name, image="busybox", **spec):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"containers": [{"name": "main", "image": image}], **spec}}


def manifest(*docs) -> str:
    return "".join("---\n" + json.dumps(d) + "\n" for d in docs)


def node_searches() -> list[str]:
    """The machine's own search domains: a ClusterFirst pod's resolv.conf lists them after the cluster's."""
    try:
        with open(dns_config.HOST_RESOLV_CONF) as f:
            return dns_config.parse_resolv_conf(f.read())[1]
    except OSError:
        return []


@pytest.fixture(scope="module")
def dc():
    if os.geteuid() != 0:
        pytest.skip("needs root")
    with cluster_up() as c:
        c.apply(manifest(
            pod("client", "nicolaka/netshoot"),
            pod("custom", dnsConfig={"nameservers": [CUSTOM_NS],
                                     "searches": ["ns1.svc.cluster-domain.example", "my.dns.search.suffix",
                                                  "svc.cluster.local"],
                                     "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}),
            pod("none", dnsPolicy="None", dnsConfig={"nameservers": [CUSTOM_NS], "searches": ["a.example"],
                                                     "options": [{"name": "ndots", "value": "1"}]}),
            pod("fqdn", hostname="db-0", subdomain="db", setHostnameAsFQDN=True),
            pod("short", hostname="db-1", subdomain="db")))
        c.wait_running(names=["client", "custom", "none", "fqdn", "short"])
        yield c


def resolv(c, name) -> str:
    return c.exec(name, "cat", "/etc/resolv.conf").stdout


def test_cluster_first_with_dns_config_merges_as_the_kubelet_does(dc):
    searches = ["default.svc.cluster.local", "svc.cluster.local", "cluster.local"]
    searches += [s for s in node_searches() if s not in searches]
    searches += ["ns1.svc.cluster-domain.example", "my.dns.search.suffix"]      # svc.cluster.local: once
    assert resolv(dc, "custom") == (f"search {' '.join(searches)}\nnameserver {dc.dns_ip}\n"
                                    f"nameserver {CUSTOM_NS}\noptions ndots:2 edns0\n")


def test_the_default_policy_is_cluster_first(dc):
    got = resolv(dc, "client")
    assert got.startswith("search default.svc.cluster.local svc.cluster.local cluster.local"), got
    assert got.endswith(f"nameserver {dc.dns_ip}\noptions ndots:5\n"), got


def test_dns_policy_none_takes_only_the_dns_config(dc):
    assert resolv(dc, "none") == f"search a.example\nnameserver {CUSTOM_NS}\noptions ndots:1\n"


def test_hostname_subdomain_and_set_hostname_as_fqdn(dc):
    fqdn = "db-0.db.default.svc.cluster.local"
    assert dc.exec("fqdn", "hostname").stdout.strip() == fqdn
    assert dc.exec("fqdn", "cat", "/etc/hostname").stdout.strip() == fqdn
    ip = dc.api_pod("fqdn")["status"]["podIP"]
    assert dc.exec("fqdn", "cat", "/etc/hosts").stdout.endswith(f"{ip}\t{fqdn}\tdb-0\n")
    assert dc.exec("short", "hostname").stdout.strip() == "db-1", "without setHostnameAsFQDN: the short name"
    ip = dc.api_pod("short")["status"]["podIP"]
    assert dc.exec("short", "cat", "/etc/hosts").stdout.endswith(f"{ip}\tdb-1.db.default.svc.cluster.local\tdb-1\n")


def test_a_fqdn_too_long_for_the_kernel_keeps_the_pod_from_starting(dc):
    dc.apply(manifest(pod("long-fqdn", hostname="h" * 40, subdomain="s" * 10, setHostnameAsFQDN=True)))

    def refused():
        status = json.dumps((dc.api_pod("long-fqdn") or {}).get("status", {}))
        return "failed to construct FQDN from pod hostname and cluster domain" in status and status
    assert "64 characters is the max, 77 characters requested" in poll(refused, timeout=15, what="the refusal")
    dc.ok("delete", "pod", "long-fqdn")


@pytest.mark.parametrize("spec, words", [
    ({"dnsPolicy": "None"}, "spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None"),
    ({"dnsPolicy": "None", "dnsConfig": {"searches": ["a.example"]}},
     "spec.dnsConfig.nameservers: Required value: must provide at least one DNS nameserver when `dnsPolicy` is None"),
    ({"dnsConfig": {"nameservers": ["1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4"]}},
     "must not have more than 3 nameservers"),
    ({"dnsConfig": {"searches": [f"s{n}.example" for n in range(33)]}}, "must not have more than 32 search paths"),
])
def test_the_api_server_refuses_what_upstream_refuses(dc, spec, words):
    p = dc.run("apply", "-f", "-", input=manifest(pod("refused", **spec)))
    assert p.returncode == 2 and words in p.stderr, p
    assert dc.api_pod("refused") is None


# ---------------------------------------------------------------- default/kubernetes
def test_the_kubernetes_service_and_its_endpoint_slice(dc):
    first = str(ipaddress.ip_network(dc.service_cidr)[1])
    svc = dc.api().get("Service", "default", "kubernetes")
    assert svc["spec"]["clusterIP"] == first and "selector" not in svc["spec"]
    assert svc["spec"]["ports"] == [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]
    row = next(line.split() for line in dc.ok("get", "svc").splitlines() if line.startswith("kubernetes "))
    assert row[:5] == ["kubernetes", "ClusterIP", first, "<none>", "443/TCP"], row
    sl = dc.api().get("EndpointSlice", "default", "kubernetes")
    assert sl["metadata"]["labels"]["kubernetes.io/service-name"] == "kubernetes" and sl["addressType"] == "IPv4"
    assert [e["addresses"] for e in sl["endpoints"]] == [[dc.node_ip(1)]]
    assert sl["ports"] == [{"name": "https", "port": 6443, "protocol": "TCP"}]
    ep = dc.api().get("Endpoints", "default", "kubernetes")
    assert ep["subsets"][0]["addresses"] == [{"ip": dc.node_ip(1)}]


def test_kubernetes_default_resolves_from_a_pod(dc):
    first = str(ipaddress.ip_network(dc.service_cidr)[1])
    out = dc.exec("client", "dig", "+short", "+time=2", "+tries=2", "kubernetes.default.svc.cluster.local").stdout
    assert out.split() == [first], out
    out = dc.exec("client", "getent", "hosts", "kubernetes.default").stdout      # through the search path
    assert out.split()[:2] == [first, "kubernetes.default.svc.cluster.local"], out


def test_the_kubernetes_service_comes_back_when_deleted(dc):
    dc.ok("delete", "svc", "kubernetes")
    back = poll(lambda: dc.api().get("Service", "default", "kubernetes"), timeout=25,
                what="the API server to make default/kubernetes again")
    assert back["spec"]["clusterIP"] == str(ipaddress.ip_network(dc.service_cidr)[1])
