"""Pure tests (no root) of a pod's DNS as the kubelet composes it (pkg/kubelet/network/dns) and the API server
validates it (validatePodDNSConfig): dnsPolicy, dnsConfig, hostname, subdomain, setHostnameAsFQDN."""
import copy

import pytest

from toycluster.api.fields import ManifestError
from toycluster.api.validation import validate
from toycluster.node import dns_config
from toycluster.node.runtime import hosts_file

DNS = "10.96.0.10"
HOST = "# the node's\nnameserver 10.255.255.53\nnameserver 10.255.255.54\nsearch corp.example. lab.example\n" \
       "options edns0 timeout:2\n"


def pod(**spec):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1", "namespace": "shop"},
            "spec": {"containers": [{"name": "c", "image": "busybox"}], **spec}}


def conf(p, host=HOST):
    return dns_config.resolv_conf(*dns_config.pod_dns(p, [DNS], host)[0])


# ---------------------------------------------------------------- composition
def test_cluster_first_is_the_default_and_appends_the_nodes_searches():
    assert conf(pod(), host="") == ("search shop.svc.cluster.local svc.cluster.local cluster.local\n"
                                    "nameserver 10.96.0.10\noptions ndots:5\n")
    assert conf(pod(dnsPolicy="ClusterFirst")) == (
        "search shop.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example\n"
        "nameserver 10.96.0.10\noptions ndots:5\n"), "the node's options are not the pod's"


def test_default_is_the_nodes_resolv_conf():
    assert conf(pod(dnsPolicy="Default")) == ("search corp.example lab.example\nnameserver 10.255.255.53\n"
                                              "nameserver 10.255.255.54\noptions edns0 timeout:2\n")
    assert conf(pod(dnsPolicy="Default"), host="") == ""


def test_host_network_pods_fall_back_to_default_unless_cluster_first_with_host_net():
    assert "nameserver 10.255.255.53" in conf(pod(hostNetwork=True))
    assert conf(pod(hostNetwork=True, dnsPolicy="ClusterFirstWithHostNet")) == conf(pod())
    assert conf(pod(dnsPolicy="ClusterFirstWithHostNet")) == conf(pod())


def test_none_takes_only_the_dns_config():
    p = pod(dnsPolicy="None", dnsConfig={"nameservers": ["1.1.1.1"]})
    assert conf(p) == "nameserver 1.1.1.1\n"
    p["spec"]["dnsConfig"].update(searches=["a.example"], options=[{"name": "ndots", "value": "2"}, {"name": "rotate"}])
    assert conf(p) == "search a.example\nnameserver 1.1.1.1\noptions ndots:2 rotate\n"


def test_dns_config_is_merged_after_the_base_deduplicated_options_overridden_by_name():
    p = pod(dnsConfig={"nameservers": ["10.96.0.10", "1.1.1.1"],
                       "searches": ["svc.cluster.local", "ns1.svc.cluster-domain.example", "my.dns.search.suffix"],
                       "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]})
    assert conf(p, host="") == (
        "search shop.svc.cluster.local svc.cluster.local cluster.local ns1.svc.cluster-domain.example "
        "my.dns.search.suffix\nnameserver 10.96.0.10\nnameserver 1.1.1.1\noptions ndots:2 edns0\n")
    d = pod(dnsPolicy="Default", dnsConfig={"options": [{"name": "timeout", "value": "5"}, {"name": "edns0"}]})
    assert conf(d).endswith("options edns0 timeout:5\n")


def test_limits_cut_as_the_kubelet_does_with_its_warning():
    many = pod(dnsConfig={"nameservers": ["1.1.1.1", "2.2.2.2", "3.3.3.3"]})
    (servers, _, _), warnings = dns_config.pod_dns(many, [DNS], "")
    assert servers == [DNS, "1.1.1.1", "2.2.2.2"]
    assert warnings == ["Nameserver limits were exceeded, some nameservers have been omitted, the applied "
                        "nameserver line is: 10.96.0.10 1.1.1.1 2.2.2.2"]
    searches = [f"s{n}.example" for n in range(40)]
    (_, got, _), warnings = dns_config.pod_dns(pod(dnsConfig={"searches": searches}), [DNS], "")
    assert len(got) == 32 and got[:3] == ["shop.svc.cluster.local", "svc.cluster.local", "cluster.local"]
    assert warnings[0].startswith("Search Line limits were exceeded")
    long = ["x" * 250 + f".e{n}" for n in range(12)]
    (_, got, _), _ = dns_config.pod_dns(pod(dnsConfig={"searches": long}), [DNS], "")
    assert len(" ".join(got)) <= 2048 and got[-1] == long[len(got) - 4]


def test_parse_resolv_conf_as_the_kubelet_reads_the_node_file():
    text = "nameserver 1.1.1.1 # one\n; comment\nsearch old.example\nsearch a.example. .\noptions ndots:1\n" \
           "options ndots:3 rotate\nnameserver\n"
    assert dns_config.parse_resolv_conf(text) == (["1.1.1.1"], ["a.example"], ["ndots:3", "rotate"])


# ---------------------------------------------------------------- hostname, subdomain, setHostnameAsFQDN
def test_hostname_and_fqdn_as_upstream():
    assert dns_config.pod_hostname(pod()) == ("web-1", "")
    p = pod(hostname="db-0", subdomain="db")
    assert dns_config.pod_hostname(p) == ("db-0", "db.shop.svc.cluster.local")
    assert dns_config.kernel_hostname(p) == "db-0", "the FQDN is the kernel's only with setHostnameAsFQDN"
    p["spec"]["setHostnameAsFQDN"] = True
    assert dns_config.kernel_hostname(p) == "db-0.db.shop.svc.cluster.local"
    files = dns_config.sandbox_files(p, DNS, "/nonexistent")
    assert (files["hostname"], files["short_hostname"], files["fqdn"]) == (
        "db-0.db.shop.svc.cluster.local", "db-0", "db-0.db.shop.svc.cluster.local")
    assert hosts_file("10.244.1.5", files["short_hostname"], files["fqdn"]).endswith(
        "10.244.1.5\tdb-0.db.shop.svc.cluster.local\tdb-0\n")
    assert dns_config.kernel_hostname(pod(setHostnameAsFQDN=True)) == "web-1", "no subdomain: no FQDN"


def test_long_names_are_cut_and_a_long_fqdn_refused_with_upstreams_words():
    p = pod()
    p["metadata"]["name"] = "a" * 62 + "-b"
    assert dns_config.pod_hostname(p)[0] == "a" * 62, "63 characters, no trailing '-'"
    long = pod(hostname="h" * 40, subdomain="s" * 10, setHostnameAsFQDN=True)
    with pytest.raises(ValueError, match=r"^failed to construct FQDN from pod hostname and cluster domain, FQDN "
                                         r"h{40}\.s{10}\.shop\.svc\.cluster\.local is too long \(64 characters is "
                                         r"the max, 74 characters requested\)$"):
        dns_config.kernel_hostname(long)
    files = dns_config.sandbox_files(long, DNS, "/nonexistent")
    assert files["error"].startswith("failed to construct FQDN") and files["hostname"] == "h" * 40


# ---------------------------------------------------------------- the API server's validation
def error(**spec) -> str:
    with pytest.raises(ManifestError) as e:
        validate(pod(**spec), "pod.yaml")
    return str(e.value)


def test_valid_dns_settings_are_accepted():
    ok = validate(pod(dnsPolicy="None", hostname="db-0", subdomain="db", setHostnameAsFQDN=True,
                      dnsConfig={"nameservers": ["1.1.1.1", "2001:db8::1", "9.9.9.9"], "searches": ["a.example."],
                                 "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}), "pod.yaml")
    assert ok["spec"]["dnsConfig"]["nameservers"][1] == "2001:db8::1"
    assert validate(pod(), "pod.yaml")["spec"]["dnsPolicy"] == "ClusterFirst"


@pytest.mark.parametrize("spec, field, reason", [
    ({"dnsPolicy": "None"}, "spec.dnsConfig", "Required value: must provide `dnsConfig` when `dnsPolicy` is None"),
    ({"dnsPolicy": "None", "dnsConfig": {"searches": ["a.example"]}}, "spec.dnsConfig.nameservers",
     "Required value: must provide at least one DNS nameserver when `dnsPolicy` is None"),
    ({"dnsConfig": {"nameservers": ["1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4"]}}, "spec.dnsConfig.nameservers",
     'Invalid value: ["1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4"]: must not have more than 3 nameservers'),
    ({"dnsConfig": {"nameservers": ["1.2.3.c"]}}, "spec.dnsConfig.nameservers[0]",
     'Invalid value: "1.2.3.c": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'),
    ({"dnsConfig": {"searches": [f"s{n}" for n in range(33)]}}, "spec.dnsConfig.searches",
     "must not have more than 32 search paths"),
    ({"dnsConfig": {"searches": ["a" * 60 + f".b{n}" for n in range(32)]}}, "spec.dnsConfig.searches",
     "must not have more than 2048 characters (including spaces) in the search list"),
    ({"dnsConfig": {"searches": ["Bad_Domain"]}}, "spec.dnsConfig.searches[0]",
     'Invalid value: "Bad_Domain": a lowercase RFC 1123 subdomain'),
    ({"dnsConfig": {"options": [{"value": "2"}]}}, "spec.dnsConfig.options[0]", "Required value: must not be empty"),
    ({"dnsConfig": {"nameserver": ["1.1.1.1"]}}, "spec.dnsConfig.nameserver", 'unknown field (did you mean'),
    ({"dnsPolicy": "Cluster"}, "spec.dnsPolicy", 'Unsupported value: "Cluster": supported values: "ClusterFirst"'),
    ({"hostname": "Web_1"}, "spec.hostname", 'Invalid value: "Web_1": a lowercase RFC 1123 label'),
    ({"subdomain": "a.b"}, "spec.subdomain", 'Invalid value: "a.b": a lowercase RFC 1123 label'),
    ({"setHostnameAsFQDN": "yes"}, "spec.setHostnameAsFQDN", "must be true or false"),
])
def test_invalid_dns_settings_get_the_api_servers_words(spec, field, reason):
    text = error(**copy.deepcopy(spec))
    assert f"pod.yaml: Pod web-1: {field}: " in text or f"{field}: " in text, text
    assert reason in text, text
