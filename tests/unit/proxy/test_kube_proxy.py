"""Pure tests (no root) of kube-proxy's rendered rules: golden iptables-save text, upstream's chain-name
hashes, endpoint order and probabilities, and the packet tracer."""
import pytest

from toycluster.kernel.iptables_save import save_tokens, to_iptables_save
from toycluster.proxy.names import endpoint_chain_name, port_proto_hash, service_port_name
from toycluster.proxy.proxier import render
from toycluster.proxy.rule_counts import rule_count_per_service
from toycluster.proxy.service_ports import endpoint_count
from toycluster.proxy.trace import trace


def service(name, cluster_ip, ports, namespace="default", **spec):
    status = spec.pop("status", None)
    obj = {"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": namespace, "name": name},
           "spec": {"type": "ClusterIP", "clusterIP": cluster_ip, "ports": ports, **spec}}
    if status:
        obj["status"] = status
    return obj


def endpoint(ip, node, ready=True, serving=None, terminating=None):
    cond = {"ready": ready, "serving": ready if serving is None else serving}
    if terminating is not None:
        cond["terminating"] = terminating
    return {"addresses": [ip], "conditions": cond, "nodeName": node}


def endpoint_slice(service_name, endpoints, ports, namespace="default", suffix="x7k2p"):
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"namespace": namespace, "name": f"{service_name}-{suffix}",
                         "labels": {"kubernetes.io/service-name": service_name}},
            "endpoints": endpoints, "ports": ports}


SERVICES = [
    # ClusterIP, targetPort by name ("http" is 8080 in the pods; the slice carries the number)
    service("web", "10.96.0.12", [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]),
    # NodePort, externalTrafficPolicy Cluster (the default)
    service("shop", "10.96.0.40", [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080,
                                    "protocol": "TCP"}], type="NodePort"),
    # selector matches nothing: no endpoints -> REJECT in filter KUBE-SERVICES (unnamed port)
    service("empty", "10.96.0.20", [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]),
    # sessionAffinity ClientIP
    service("sticky", "10.96.0.30", [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
            sessionAffinity="ClientIP", sessionAffinityConfig={"clientIP": {"timeoutSeconds": 600}}),
    # NodePort with externalTrafficPolicy Local: one endpoint on node1, one on node2
    service("local", "10.96.0.50", [{"name": "https", "port": 443, "targetPort": 8443, "nodePort": 30443,
                                     "protocol": "TCP"}], type="NodePort", externalTrafficPolicy="Local"),
    # UDP and TCP on the same port number
    service("kube-dns", "10.96.0.10", [{"name": "dns", "port": 53, "targetPort": 53, "protocol": "UDP"},
                                       {"name": "dns-tcp", "port": 53, "targetPort": 53, "protocol": "TCP"}],
            namespace="kube-system"),
    # LoadBalancer with an address from the load balancer
    service("lb", "10.96.0.60", [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30900,
                                  "protocol": "TCP"}], type="LoadBalancer",
            status={"loadBalancer": {"ingress": [{"ip": "203.0.113.10"}]}}),
    # no rules at all: headless and ExternalName
    service("headless", "None", [{"name": "http", "port": 80, "protocol": "TCP"}]),
    {"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": "default", "name": "ext"},
     "spec": {"type": "ExternalName", "externalName": "example.com"}},
]
HTTP8080 = [{"name": "http", "port": 8080, "protocol": "TCP"}]
SLICES = [
    endpoint_slice("web", [endpoint("10.244.1.9", "node1"), endpoint("10.244.2.7", "node2"),
                           endpoint("10.244.1.10", "node1"), endpoint("10.244.2.99", "node2", ready=False)],
                   HTTP8080),
    endpoint_slice("shop", [endpoint("10.244.2.20", "node2")], HTTP8080),
    endpoint_slice("empty", [], [{"name": "", "port": 8080, "protocol": "TCP"}]),
    endpoint_slice("sticky", [endpoint("10.244.1.30", "node1"), endpoint("10.244.2.30", "node2")], HTTP8080),
    endpoint_slice("local", [endpoint("10.244.1.50", "node1"), endpoint("10.244.2.50", "node2")],
                   [{"name": "https", "port": 8443, "protocol": "TCP"}]),
    endpoint_slice("kube-dns", [endpoint("10.244.1.3", "node1")],
                   [{"name": "dns", "port": 53, "protocol": "UDP"},
                    {"name": "dns-tcp", "port": 53, "protocol": "TCP"}], namespace="kube-system"),
    endpoint_slice("lb", [endpoint("10.244.2.60", "node2")], HTTP8080),
    endpoint_slice("headless", [endpoint("10.244.1.70", "node1")],
                   [{"name": "http", "port": 80, "protocol": "TCP"}]),
]
NODE1 = dict(node_name="node1", node_ip="192.168.50.11", cluster_cidr="10.244.0.0/16")


@pytest.fixture(scope="module")
def state():
    return render(SERVICES, SLICES, **NODE1)


# to_iptables_save(render(SERVICES, SLICES, node1)): what `iptables-legacy-save` prints on node1 (the
# system test checks that claim against the kernel).  Reviewed line by line against upstream's
# TestOverallIPTablesRules; differences are the comments on rules upstream leaves bare.
GOLDEN = """\
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FIREWALL - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
:KUBE-SERVICES - [0:0]
-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS
-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
-A INPUT -m comment --comment "kubernetes localhost nodeports firewall" -j KUBE-FIREWALL
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes localhost nodeports firewall" -j KUBE-FIREWALL
-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding: drop conntrack INVALID" -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A KUBE-SERVICES -d 10.96.0.20/32 -p tcp -m comment --comment "default/empty has no endpoints" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-EXT-BILYYKAKWI7RYELB - [0:0]
:KUBE-EXT-HYNA6X6MU5FH6PP3 - [0:0]
:KUBE-EXT-JSLCNGWSGB5JPS5Q - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SEP-2RIJ5GIYXEFH6G4D - [0:0]
:KUBE-SEP-2Z4PPZBSTLK4A5ZT - [0:0]
:KUBE-SEP-4W27JONV5XX7564U - [0:0]
:KUBE-SEP-EJJ3L23ZA35VLW6X - [0:0]
:KUBE-SEP-GWQABTP5GBYXHJY5 - [0:0]
:KUBE-SEP-NI3T6YGVESYB67CA - [0:0]
:KUBE-SEP-OHD2WIP23HWWHFPY - [0:0]
:KUBE-SEP-R75T7LXI5PWKQPQA - [0:0]
:KUBE-SEP-RCRX5VTLWWJFSE5F - [0:0]
:KUBE-SEP-T3FW7F7T7ESGOCC3 - [0:0]
:KUBE-SEP-UFTGDTZOO47KPFMK - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-BILYYKAKWI7RYELB - [0:0]
:KUBE-SVC-CDGGSHYLG3RE2FKL - [0:0]
:KUBE-SVC-ERIFXISQEP7F7OF4 - [0:0]
:KUBE-SVC-HYNA6X6MU5FH6PP3 - [0:0]
:KUBE-SVC-JSLCNGWSGB5JPS5Q - [0:0]
:KUBE-SVC-T2ECBIYT2WDZZK45 - [0:0]
:KUBE-SVC-TCOU7JCQXEZGVUNU - [0:0]
:KUBE-SVL-HYNA6X6MU5FH6PP3 - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-EXT-BILYYKAKWI7RYELB -m comment --comment "masquerade traffic for default/shop:http external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-BILYYKAKWI7RYELB -m comment --comment "default/shop:http external destinations to cluster endpoints" -j KUBE-SVC-BILYYKAKWI7RYELB
-A KUBE-EXT-HYNA6X6MU5FH6PP3 -s 10.244.0.0/16 -m comment --comment "pod traffic for default/local:https external destinations" -j KUBE-SVC-HYNA6X6MU5FH6PP3
-A KUBE-EXT-HYNA6X6MU5FH6PP3 -m comment --comment "masquerade LOCAL traffic for default/local:https external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ
-A KUBE-EXT-HYNA6X6MU5FH6PP3 -m comment --comment "route LOCAL traffic for default/local:https external destinations" -m addrtype --src-type LOCAL -j KUBE-SVC-HYNA6X6MU5FH6PP3
-A KUBE-EXT-HYNA6X6MU5FH6PP3 -m comment --comment "default/local:https external destinations to local endpoints" -j KUBE-SVL-HYNA6X6MU5FH6PP3
-A KUBE-EXT-JSLCNGWSGB5JPS5Q -m comment --comment "masquerade traffic for default/lb:http external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-JSLCNGWSGB5JPS5Q -m comment --comment "default/lb:http external destinations to cluster endpoints" -j KUBE-SVC-JSLCNGWSGB5JPS5Q
-A KUBE-MARK-MASQ -m comment --comment "kubernetes: mark for masquerade in KUBE-POSTROUTING" -j MARK --set-xmark 0x4000/0x4000
-A KUBE-NODEPORTS -p tcp -m comment --comment "default/lb:http" -m tcp --dport 30900 -j KUBE-EXT-JSLCNGWSGB5JPS5Q
-A KUBE-NODEPORTS -p tcp -m comment --comment "default/local:https" -m tcp --dport 30443 -j KUBE-EXT-HYNA6X6MU5FH6PP3
-A KUBE-NODEPORTS -p tcp -m comment --comment "default/shop:http" -m tcp --dport 30080 -j KUBE-EXT-BILYYKAKWI7RYELB
-A KUBE-POSTROUTING -m comment --comment "kubernetes: not marked for masquerade" -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -m comment --comment "kubernetes: clear the masquerade mark" -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-SEP-2RIJ5GIYXEFH6G4D -s 10.244.2.7/32 -m comment --comment "default/web:http" -j KUBE-MARK-MASQ
-A KUBE-SEP-2RIJ5GIYXEFH6G4D -p tcp -m comment --comment "default/web:http" -m tcp -j DNAT --to-destination 10.244.2.7:8080
-A KUBE-SEP-2Z4PPZBSTLK4A5ZT -s 10.244.1.9/32 -m comment --comment "default/web:http" -j KUBE-MARK-MASQ
-A KUBE-SEP-2Z4PPZBSTLK4A5ZT -p tcp -m comment --comment "default/web:http" -m tcp -j DNAT --to-destination 10.244.1.9:8080
-A KUBE-SEP-4W27JONV5XX7564U -s 10.244.2.60/32 -m comment --comment "default/lb:http" -j KUBE-MARK-MASQ
-A KUBE-SEP-4W27JONV5XX7564U -p tcp -m comment --comment "default/lb:http" -m tcp -j DNAT --to-destination 10.244.2.60:8080
-A KUBE-SEP-EJJ3L23ZA35VLW6X -s 10.244.1.3/32 -m comment --comment "kube-system/kube-dns:dns" -j KUBE-MARK-MASQ
-A KUBE-SEP-EJJ3L23ZA35VLW6X -p udp -m comment --comment "kube-system/kube-dns:dns" -m udp -j DNAT --to-destination 10.244.1.3:53
-A KUBE-SEP-GWQABTP5GBYXHJY5 -s 10.244.1.10/32 -m comment --comment "default/web:http" -j KUBE-MARK-MASQ
-A KUBE-SEP-GWQABTP5GBYXHJY5 -p tcp -m comment --comment "default/web:http" -m tcp -j DNAT --to-destination 10.244.1.10:8080
-A KUBE-SEP-NI3T6YGVESYB67CA -s 10.244.1.30/32 -m comment --comment "default/sticky:http" -j KUBE-MARK-MASQ
-A KUBE-SEP-NI3T6YGVESYB67CA -p tcp -m comment --comment "default/sticky:http" -m recent --set --name KUBE-SEP-NI3T6YGVESYB67CA --mask 255.255.255.255 --rsource -m tcp -j DNAT --to-destination 10.244.1.30:8080
-A KUBE-SEP-OHD2WIP23HWWHFPY -s 10.244.1.50/32 -m comment --comment "default/local:https" -j KUBE-MARK-MASQ
-A KUBE-SEP-OHD2WIP23HWWHFPY -p tcp -m comment --comment "default/local:https" -m tcp -j DNAT --to-destination 10.244.1.50:8443
-A KUBE-SEP-R75T7LXI5PWKQPQA -s 10.244.1.3/32 -m comment --comment "kube-system/kube-dns:dns-tcp" -j KUBE-MARK-MASQ
-A KUBE-SEP-R75T7LXI5PWKQPQA -p tcp -m comment --comment "kube-system/kube-dns:dns-tcp" -m tcp -j DNAT --to-destination 10.244.1.3:53
-A KUBE-SEP-RCRX5VTLWWJFSE5F -s 10.244.2.20/32 -m comment --comment "default/shop:http" -j KUBE-MARK-MASQ
-A KUBE-SEP-RCRX5VTLWWJFSE5F -p tcp -m comment --comment "default/shop:http" -m tcp -j DNAT --to-destination 10.244.2.20:8080
-A KUBE-SEP-T3FW7F7T7ESGOCC3 -s 10.244.2.50/32 -m comment --comment "default/local:https" -j KUBE-MARK-MASQ
-A KUBE-SEP-T3FW7F7T7ESGOCC3 -p tcp -m comment --comment "default/local:https" -m tcp -j DNAT --to-destination 10.244.2.50:8443
-A KUBE-SEP-UFTGDTZOO47KPFMK -s 10.244.2.30/32 -m comment --comment "default/sticky:http" -j KUBE-MARK-MASQ
-A KUBE-SEP-UFTGDTZOO47KPFMK -p tcp -m comment --comment "default/sticky:http" -m recent --set --name KUBE-SEP-UFTGDTZOO47KPFMK --mask 255.255.255.255 --rsource -m tcp -j DNAT --to-destination 10.244.2.30:8080
-A KUBE-SERVICES -d 10.96.0.60/32 -p tcp -m comment --comment "default/lb:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-JSLCNGWSGB5JPS5Q
-A KUBE-SERVICES -d 203.0.113.10/32 -p tcp -m comment --comment "default/lb:http loadbalancer IP" -m tcp --dport 80 -j KUBE-EXT-JSLCNGWSGB5JPS5Q
-A KUBE-SERVICES -d 10.96.0.50/32 -p tcp -m comment --comment "default/local:https cluster IP" -m tcp --dport 443 -j KUBE-SVC-HYNA6X6MU5FH6PP3
-A KUBE-SERVICES -d 10.96.0.40/32 -p tcp -m comment --comment "default/shop:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-BILYYKAKWI7RYELB
-A KUBE-SERVICES -d 10.96.0.30/32 -p tcp -m comment --comment "default/sticky:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-T2ECBIYT2WDZZK45
-A KUBE-SERVICES -d 10.96.0.12/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-CDGGSHYLG3RE2FKL
-A KUBE-SERVICES -d 10.96.0.10/32 -p udp -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp --dport 53 -j KUBE-SVC-TCOU7JCQXEZGVUNU
-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment "kube-system/kube-dns:dns-tcp cluster IP" -m tcp --dport 53 -j KUBE-SVC-ERIFXISQEP7F7OF4
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-SVC-BILYYKAKWI7RYELB ! -s 10.244.0.0/16 -d 10.96.0.40/32 -p tcp -m comment --comment "default/shop:http cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ
-A KUBE-SVC-BILYYKAKWI7RYELB -m comment --comment "default/shop:http -> 10.244.2.20:8080" -j KUBE-SEP-RCRX5VTLWWJFSE5F
-A KUBE-SVC-CDGGSHYLG3RE2FKL ! -s 10.244.0.0/16 -d 10.96.0.12/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ
-A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment "default/web:http -> 10.244.1.10:8080" -m statistic --mode random --probability 0.33333333349 -j KUBE-SEP-GWQABTP5GBYXHJY5
-A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment "default/web:http -> 10.244.1.9:8080" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-2Z4PPZBSTLK4A5ZT
-A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment "default/web:http -> 10.244.2.7:8080" -j KUBE-SEP-2RIJ5GIYXEFH6G4D
-A KUBE-SVC-ERIFXISQEP7F7OF4 ! -s 10.244.0.0/16 -d 10.96.0.10/32 -p tcp -m comment --comment "kube-system/kube-dns:dns-tcp cluster IP" -m tcp --dport 53 -j KUBE-MARK-MASQ
-A KUBE-SVC-ERIFXISQEP7F7OF4 -m comment --comment "kube-system/kube-dns:dns-tcp -> 10.244.1.3:53" -j KUBE-SEP-R75T7LXI5PWKQPQA
-A KUBE-SVC-HYNA6X6MU5FH6PP3 ! -s 10.244.0.0/16 -d 10.96.0.50/32 -p tcp -m comment --comment "default/local:https cluster IP" -m tcp --dport 443 -j KUBE-MARK-MASQ
-A KUBE-SVC-HYNA6X6MU5FH6PP3 -m comment --comment "default/local:https -> 10.244.1.50:8443" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-OHD2WIP23HWWHFPY
-A KUBE-SVC-HYNA6X6MU5FH6PP3 -m comment --comment "default/local:https -> 10.244.2.50:8443" -j KUBE-SEP-T3FW7F7T7ESGOCC3
-A KUBE-SVC-JSLCNGWSGB5JPS5Q ! -s 10.244.0.0/16 -d 10.96.0.60/32 -p tcp -m comment --comment "default/lb:http cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ
-A KUBE-SVC-JSLCNGWSGB5JPS5Q -m comment --comment "default/lb:http -> 10.244.2.60:8080" -j KUBE-SEP-4W27JONV5XX7564U
-A KUBE-SVC-T2ECBIYT2WDZZK45 ! -s 10.244.0.0/16 -d 10.96.0.30/32 -p tcp -m comment --comment "default/sticky:http cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ
-A KUBE-SVC-T2ECBIYT2WDZZK45 -m comment --comment "default/sticky:http -> 10.244.1.30:8080" -m recent --rcheck --seconds 600 --reap --name KUBE-SEP-NI3T6YGVESYB67CA --mask 255.255.255.255 --rsource -j KUBE-SEP-NI3T6YGVESYB67CA
-A KUBE-SVC-T2ECBIYT2WDZZK45 -m comment --comment "default/sticky:http -> 10.244.2.30:8080" -m recent --rcheck --seconds 600 --reap --name KUBE-SEP-UFTGDTZOO47KPFMK --mask 255.255.255.255 --rsource -j KUBE-SEP-UFTGDTZOO47KPFMK
-A KUBE-SVC-T2ECBIYT2WDZZK45 -m comment --comment "default/sticky:http -> 10.244.1.30:8080" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-NI3T6YGVESYB67CA
-A KUBE-SVC-T2ECBIYT2WDZZK45 -m comment --comment "default/sticky:http -> 10.244.2.30:8080" -j KUBE-SEP-UFTGDTZOO47KPFMK
-A KUBE-SVC-TCOU7JCQXEZGVUNU ! -s 10.244.0.0/16 -d 10.96.0.10/32 -p udp -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp --dport 53 -j KUBE-MARK-MASQ
-A KUBE-SVC-TCOU7JCQXEZGVUNU -m comment --comment "kube-system/kube-dns:dns -> 10.244.1.3:53" -j KUBE-SEP-EJJ3L23ZA35VLW6X
-A KUBE-SVL-HYNA6X6MU5FH6PP3 -m comment --comment "default/local:https -> 10.244.1.50:8443" -j KUBE-SEP-OHD2WIP23HWWHFPY
COMMIT
"""


def test_golden_iptables_save_text(state):
    assert to_iptables_save(state) == GOLDEN


def test_render_is_deterministic_whatever_the_input_order():
    again = render(list(reversed(SERVICES)), list(reversed(SLICES)), **NODE1)
    assert to_iptables_save(again) == GOLDEN


# Chain names from upstream pkg/proxy/iptables/proxier_test.go, TestOverallIPTablesRules (expected nat
# table): ns1/svc1:p80 -> KUBE-SVC-XPGD46QRK7WJZT7O, ns2/svc2:p80 -> KUBE-SVC/EXT-GNZBNJ2PO5MGZ6GT,
# ns3/svc3:p80 -> KUBE-SVC/EXT-X27LE4BHSL4DOUIK, ns4/svc4:p80 -> KUBE-SVC/EXT-4SW47YFZTEDKD3PK,
# ns5/svc5:p80 -> KUBE-SVC/EXT/FW-NUKIZ6OKUXPJNT4C; endpoints as listed below.
@pytest.mark.parametrize("name,hash_", [("ns1/svc1:p80", "XPGD46QRK7WJZT7O"), ("ns2/svc2:p80", "GNZBNJ2PO5MGZ6GT"),
                                        ("ns3/svc3:p80", "X27LE4BHSL4DOUIK"), ("ns4/svc4:p80", "4SW47YFZTEDKD3PK"),
                                        ("ns5/svc5:p80", "NUKIZ6OKUXPJNT4C")])
def test_service_chain_hash_matches_upstream(name, hash_):
    assert port_proto_hash(name, "tcp") == hash_
    assert port_proto_hash(name, "TCP") == hash_  # upstream lower-cases the protocol first


@pytest.mark.parametrize("name,endpoint,chain", [
    ("ns1/svc1:p80", "10.180.0.1:80", "KUBE-SEP-SXIVWICOYRO3J4NJ"),
    ("ns2/svc2:p80", "10.180.0.2:80", "KUBE-SEP-RS4RBKLTHTF2IUXJ"),
    ("ns3/svc3:p80", "10.180.0.3:80", "KUBE-SEP-OYPFS5VJICHGATKP"),
    ("ns4/svc4:p80", "10.180.0.4:80", "KUBE-SEP-UKSFD7AGPMPPLUHC"),
    ("ns4/svc4:p80", "10.180.0.5:80", "KUBE-SEP-C6EBXVWJJZMIWKLZ"),
    ("ns5/svc5:p80", "10.180.0.3:80", "KUBE-SEP-I77PXRDZVX7PMWMN")])
def test_endpoint_chain_name_matches_upstream(name, endpoint, chain):
    assert endpoint_chain_name(name, "tcp", endpoint) == chain


def test_service_port_name_string():
    assert service_port_name("ns1", "svc1", "p80") == "ns1/svc1:p80"
    assert service_port_name("default", "empty") == "default/empty"  # unnamed port: no colon


def test_upstream_overall_fixture_gives_upstream_chains():
    """Upstream's TestOverallIPTablesRules services and slices give exactly its nat chains."""
    def svc(ns, name, ip, node_port=0, **spec):
        port = {"name": "p80", "port": 80, "protocol": "TCP", "nodePort": node_port}
        return {"metadata": {"namespace": ns, "name": name}, "spec": {"clusterIP": ip, "ports": [port], **spec}}
    lb = lambda ip: {"loadBalancer": {"ingress": [{"ip": ip}]}}  # noqa: E731
    services = [svc("ns1", "svc1", "172.30.0.41"),
                svc("ns2", "svc2", "172.30.0.42", 3001, type="LoadBalancer", externalTrafficPolicy="Local",
                    externalIPs=["192.168.99.22"], healthCheckNodePort=30000),
                svc("ns3", "svc3", "172.30.0.43", 3003, type="NodePort"),
                svc("ns4", "svc4", "172.30.0.44", type="NodePort", externalIPs=["192.168.99.33"]),
                svc("ns5", "svc5", "172.30.0.45", 3002, type="LoadBalancer", healthCheckNodePort=30000,
                    loadBalancerSourceRanges=[" 203.0.113.0/25"], sessionAffinity="ClientIP",
                    sessionAffinityConfig={"clientIP": {"timeoutSeconds": 10800}}),
                svc("ns6", "svc6", "172.30.0.46")]
    services[1]["status"], services[4]["status"] = lb("1.2.3.4"), lb("5.6.7.8")
    p80 = [{"name": "p80", "port": 80, "protocol": "TCP"}]
    slices = [endpoint_slice("svc1", [{"addresses": ["10.180.0.1"]}], p80, "ns1"),
              endpoint_slice("svc2", [{"addresses": ["10.180.0.2"]}], p80, "ns2"),
              endpoint_slice("svc3", [{"addresses": ["10.180.0.3"]}], p80, "ns3"),
              endpoint_slice("svc4", [{"addresses": ["10.180.0.4"]},
                                      {"addresses": ["10.180.0.5"], "nodeName": "test-node"}], p80, "ns4"),
              endpoint_slice("svc5", [{"addresses": ["10.180.0.3"]}], p80, "ns5")]
    st = render(services, slices, node_name="test-node", node_ip="192.168.0.2", cluster_cidr="10.0.0.0/8")
    upstream_nat = """KUBE-NODEPORTS KUBE-SERVICES KUBE-EXT-4SW47YFZTEDKD3PK KUBE-EXT-GNZBNJ2PO5MGZ6GT
        KUBE-EXT-NUKIZ6OKUXPJNT4C KUBE-EXT-X27LE4BHSL4DOUIK KUBE-FW-NUKIZ6OKUXPJNT4C KUBE-MARK-MASQ
        KUBE-POSTROUTING KUBE-SEP-C6EBXVWJJZMIWKLZ KUBE-SEP-I77PXRDZVX7PMWMN KUBE-SEP-OYPFS5VJICHGATKP
        KUBE-SEP-RS4RBKLTHTF2IUXJ KUBE-SEP-SXIVWICOYRO3J4NJ KUBE-SEP-UKSFD7AGPMPPLUHC KUBE-SVC-4SW47YFZTEDKD3PK
        KUBE-SVC-GNZBNJ2PO5MGZ6GT KUBE-SVC-NUKIZ6OKUXPJNT4C KUBE-SVC-X27LE4BHSL4DOUIK
        KUBE-SVC-XPGD46QRK7WJZT7O""".split()
    assert sorted(c for c in st["nat"] if c.startswith("KUBE-")) == sorted(upstream_nat)
    text = to_iptables_save(st)
    for line in [  # upstream's expected lines, as iptables-save prints them
        '-A KUBE-SERVICES -d 172.30.0.46/32 -p tcp -m comment --comment "ns6/svc6:p80 has no endpoints" '
        '-m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable',
        '-A KUBE-EXTERNAL-SERVICES -p tcp -m comment --comment "ns2/svc2:p80 has no local endpoints" '
        '-m addrtype --dst-type LOCAL -m tcp --dport 3001 -j DROP',
        '-A KUBE-NODEPORTS -p tcp -m comment --comment "ns2/svc2:p80 health check node port" -m tcp --dport 30000 -j ACCEPT',
        '-A KUBE-PROXY-FIREWALL -d 5.6.7.8/32 -p tcp -m comment --comment "ns5/svc5:p80 traffic not accepted by '
        'KUBE-FW-NUKIZ6OKUXPJNT4C" -m tcp --dport 80 -j DROP',
        '-A KUBE-SERVICES -d 5.6.7.8/32 -p tcp -m comment --comment "ns5/svc5:p80 loadbalancer IP" -m tcp --dport 80 '
        '-j KUBE-FW-NUKIZ6OKUXPJNT4C',
        '-A KUBE-FW-NUKIZ6OKUXPJNT4C -s 203.0.113.0/25 -m comment --comment "ns5/svc5:p80 loadbalancer IP" '
        '-j KUBE-EXT-NUKIZ6OKUXPJNT4C',
        '-A KUBE-FW-NUKIZ6OKUXPJNT4C -m comment --comment "other traffic to ns5/svc5:p80 will be dropped by '
        'KUBE-PROXY-FIREWALL"',
        '-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -s 10.0.0.0/8 -m comment --comment "pod traffic for ns2/svc2:p80 external '
        'destinations" -j KUBE-SVC-GNZBNJ2PO5MGZ6GT',
        '-A KUBE-SEP-I77PXRDZVX7PMWMN -p tcp -m comment --comment "ns5/svc5:p80" -m recent --set --name '
        'KUBE-SEP-I77PXRDZVX7PMWMN --mask 255.255.255.255 --rsource -m tcp -j DNAT --to-destination 10.180.0.3:80',
        '-A KUBE-SVC-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 -> 10.180.0.3:80" -m recent --rcheck '
        '--seconds 10800 --reap --name KUBE-SEP-I77PXRDZVX7PMWMN --mask 255.255.255.255 --rsource '
        '-j KUBE-SEP-I77PXRDZVX7PMWMN',
        '-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.4:80" -m statistic --mode random '
        '--probability 0.50000000000 -j KUBE-SEP-UKSFD7AGPMPPLUHC',
        '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in '
        'this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS',
        '-A KUBE-SERVICES -d 192.168.99.33/32 -p tcp -m comment --comment "ns4/svc4:p80 external IP" -m tcp '
        '--dport 80 -j KUBE-EXT-4SW47YFZTEDKD3PK',
        '-A KUBE-EXTERNAL-SERVICES -d 192.168.99.22/32 -p tcp -m comment --comment "ns2/svc2:p80 has no local '
        'endpoints" -m tcp --dport 80 -j DROP']:
        assert line in text.splitlines()


def test_rule_tokens_as_kube_proxy_writes_them(state):
    svc = state["nat"]["KUBE-SVC-CDGGSHYLG3RE2FKL"]
    assert svc[0] == ["!", "-s", "10.244.0.0/16", "-d", "10.96.0.12/32", "-p", "tcp", "-m", "comment",
                      "--comment", "default/web:http cluster IP", "-m", "tcp", "--dport", "80", "-j", "KUBE-MARK-MASQ"]
    assert svc[1][-6:] == ["--mode", "random", "--probability", "0.3333333333", "-j", "KUBE-SEP-GWQABTP5GBYXHJY5"]
    assert svc[2][-4:-2] == ["--probability", "0.5000000000"]
    assert "statistic" not in svc[3]
    # the kernel keeps round(p * 2^31) and iptables-save prints it with 11 decimals
    assert save_tokens(svc[1])[-3] == "0.33333333349"
    assert state["nat"]["KUBE-SERVICES"][-1][-2:] == ["-j", "KUBE-NODEPORTS"]
    assert state["nat"]["PREROUTING"] == [["-m", "comment", "--comment", "kubernetes service portals",
                                           "-j", "KUBE-SERVICES"]]
    for table in state.values():
        for chain, rules in table.items():
            for rule in rules:
                assert "comment" in rule, (chain, rule)  # the kernel explains itself


def test_endpoints_sorted_as_strings_and_only_ready(state):
    picks = [r[r.index("--comment") + 1] for r in state["nat"]["KUBE-SVC-CDGGSHYLG3RE2FKL"][1:]]
    # upstream sorts by "ip:port" string, so .10 comes before .9; the unready 10.244.2.99 is left out
    assert picks == ["default/web:http -> 10.244.1.10:8080", "default/web:http -> 10.244.1.9:8080",
                     "default/web:http -> 10.244.2.7:8080"]


def test_probabilities_for_five_endpoints():
    eps = [endpoint(f"10.244.1.{i}", "node1") for i in range(11, 16)]
    st = render([service("five", "10.96.0.99", [{"name": "p", "port": 80, "protocol": "TCP"}])],
                [endpoint_slice("five", eps, [{"name": "p", "port": 80, "protocol": "TCP"}])], **NODE1)
    chain = next(c for c in st["nat"] if c.startswith("KUBE-SVC-"))
    probs = [r[r.index("--probability") + 1] for r in st["nat"][chain] if "--probability" in r]
    assert probs == ["0.2000000000", "0.2500000000", "0.3333333333", "0.5000000000"]


def test_no_rules_for_headless_and_external_name(state):
    text = to_iptables_save(state)
    assert "headless" not in text and "default/ext" not in text and "10.244.1.70" not in text


def test_rule_count_per_service(state):
    # nat + filter rules per service port, as upstream's number_generated_rules test counts them:
    # ClusterIP with 3 endpoints = 1 (KUBE-SERVICES) + 1 masquerade + 3 picks + 3 x 2 in KUBE-SEP = 11
    assert rule_count_per_service(state) == {
        "default/empty": 1, "default/lb:http": 9, "default/local:https": 14, "default/shop:http": 8,
        "default/sticky:http": 10, "default/web:http": 11, "kube-system/kube-dns:dns": 5,
        "kube-system/kube-dns:dns-tcp": 5}


@pytest.mark.parametrize("services,per_service,nat_rules", [(0, 0, 5), (1, 1, 10), (1, 2, 13), (1, 10, 37),
                                                             (10, 1, 55), (10, 2, 85), (10, 10, 325)])
def test_number_of_nat_rules_as_upstream_counts_them(services, per_service, nat_rules):
    """Upstream number_generated_rules_test.go, TestNumberIptablesRules, the ClusterIP cases: nat rules
    outside the built-in chains = 5 + services x (2 + 3 x endpoints)."""
    port = [{"name": "8080", "port": 8080, "protocol": "TCP"}]
    svcs = [service(f"svc{i}", f"10.0.0.{i + 1}", [{"name": "8080", "port": 80 + i, "protocol": "TCP"}],
                    namespace="namespace") for i in range(services)]
    slices = [endpoint_slice(f"svc{i}", [{"addresses": [f"172.16.0.{j + 1}"]} for j in range(per_service)],
                             port, namespace="namespace") for i in range(services)]
    st = render(svcs, slices, **NODE1)
    assert sum(len(r) for c, r in st["nat"].items() if c.startswith("KUBE-")) == nat_rules


def test_internal_traffic_policy_local():
    port = [{"name": "p", "port": 80, "protocol": "TCP"}]
    svc = [service("itp", "10.96.0.97", port, internalTrafficPolicy="Local")]
    st = render(svc, [endpoint_slice("itp", [endpoint("10.244.2.5", "node2")], port)], **NODE1)
    assert st["filter"]["KUBE-SERVICES"] == [
        ["-d", "10.96.0.97/32", "-p", "tcp", "-m", "comment", "--comment", "default/itp:p has no local endpoints",
         "-m", "tcp", "--dport", "80", "-j", "DROP"]]
    st = render(svc, [endpoint_slice("itp", [endpoint("10.244.1.5", "node1"), endpoint("10.244.2.5", "node2")],
                                     port)], **NODE1)
    svl = next(c for c in st["nat"] if c.startswith("KUBE-SVL-"))
    assert st["nat"]["KUBE-SERVICES"][0][-1] == svl
    assert [r[-1] for r in st["nat"][svl]] == ["KUBE-MARK-MASQ", endpoint_chain_name("default/itp:p", "tcp",
                                                                                      "10.244.1.5:80")]


def test_external_traffic_policy_local_without_local_endpoint():
    st = render(SERVICES, SLICES, node_name="node3", node_ip="192.168.50.13", cluster_cidr="10.244.0.0/16")
    ext = st["nat"]["KUBE-EXT-HYNA6X6MU5FH6PP3"]
    assert [r[-1] for r in ext] == ["KUBE-SVC-HYNA6X6MU5FH6PP3", "KUBE-MARK-MASQ", "KUBE-SVC-HYNA6X6MU5FH6PP3"]
    assert "KUBE-SVL-HYNA6X6MU5FH6PP3" not in st["nat"]
    assert st["filter"]["KUBE-EXTERNAL-SERVICES"] == [
        ["-p", "tcp", "-m", "comment", "--comment", "default/local:https has no local endpoints",
         "-m", "addrtype", "--dst-type", "LOCAL", "-m", "tcp", "--dport", "30443", "-j", "DROP"]]


def test_terminating_endpoints_used_only_when_nothing_is_ready():
    port = [{"name": "p", "port": 80, "protocol": "TCP"}]
    svc = [service("drain", "10.96.0.98", port)]
    going = endpoint("10.244.1.5", "node1", ready=False, serving=True, terminating=True)
    st = render(svc, [endpoint_slice("drain", [going], port)], **NODE1)
    assert any("10.244.1.5:80" in " ".join(r) for rules in st["nat"].values() for r in rules)
    st = render(svc, [endpoint_slice("drain", [going, endpoint("10.244.2.5", "node2")], port)], **NODE1)
    assert not any("10.244.1.5:80" in " ".join(r) for rules in st["nat"].values() for r in rules)


def test_comment_quoting_like_iptables_save():
    st = {"nat": {"PREROUTING": [["-m", "comment", "--comment", "abc_-1", "-j", "ACCEPT"],
                                 ["-m", "comment", "--comment", 'say "hi"', "-j", "ACCEPT"]]}}
    text = to_iptables_save(st).splitlines()
    assert text[5:7] == ['-A PREROUTING -m comment --comment abc_-1 -j ACCEPT',
                         '-A PREROUTING -m comment --comment "say \\"hi\\"" -j ACCEPT']


# ---------------------------------------------------------------- the packet tracer

def test_trace_pod_to_cluster_ip(state):
    rows = trace(state, src="10.244.1.5", dst="10.96.0.12", dport=80)
    assert rows[0] == ("packet: 10.244.1.5 -> 10.96.0.12:80/tcp, new connection, arriving from a pod or "
                       "another host: nat PREROUTING")
    assert rows[1] == 'nat PREROUTING #1 "kubernetes service portals" -> KUBE-SERVICES'
    assert rows[2] == '  nat KUBE-SERVICES #6 "default/web:http cluster IP" -> KUBE-SVC-CDGGSHYLG3RE2FKL'
    assert rows[3] == ('    nat KUBE-SVC-CDGGSHYLG3RE2FKL #1 "default/web:http cluster IP": no masquerade mark '
                       '(the client 10.244.1.5 is inside the pod CIDR 10.244.0.0/16, it keeps its address)')
    assert rows[4] == ('    nat KUBE-SVC-CDGGSHYLG3RE2FKL #2 "default/web:http -> 10.244.1.10:8080": random, '
                       'probability 0.3333333333 of the rest = 0.3333 of connections -> KUBE-SEP-GWQABTP5GBYXHJY5')
    assert '      nat KUBE-SEP-GWQABTP5GBYXHJY5 #2 "default/web:http" -> DNAT to 10.244.1.10:8080' in rows
    assert rows[-3:] == [
        "endpoint set: 10.244.1.10:8080 (p=0.333), 10.244.1.9:8080 (p=0.333), 10.244.2.7:8080 (p=0.333)",
        "masquerade: no, the endpoint sees the client's own address 10.244.1.5",
        "result: 10.96.0.12:80/tcp is DNATed to 10.244.1.10:8080 | 10.244.1.9:8080 | 10.244.2.7:8080"]


def test_trace_hairpin_is_masqueraded(state):
    rows = trace(state, src="10.244.1.9", dst="10.96.0.12", dport=80)
    assert ('      nat KUBE-SEP-2Z4PPZBSTLK4A5ZT #1 "default/web:http" -> KUBE-MARK-MASQ: marked 0x4000, '
            'to be masqueraded in KUBE-POSTROUTING') in rows
    assert rows[-2] == "masquerade: only for 10.244.1.9:8080 (hairpin: the client is that endpoint)"
    after = rows.index("then, after DNAT to 10.244.1.9:8080:")
    assert rows[after + 1:after + 3] == ['filter FORWARD #2 "kubernetes forwarding rules" -> KUBE-FORWARD',
                                         '  filter KUBE-FORWARD #2 "kubernetes forwarding rules" -> ACCEPT']


def test_trace_service_without_endpoints_is_refused(state):
    assert trace(state, src="10.244.1.5", dst="10.96.0.20", dport=80) == [
        "packet: 10.244.1.5 -> 10.96.0.20:80/tcp, new connection, arriving from a pod or another host: nat PREROUTING",
        "nat PREROUTING: no kube-proxy rule applies -> ACCEPT (chain policy)",
        'filter FORWARD #3 "kubernetes service portals" -> KUBE-SERVICES',
        '  filter KUBE-SERVICES #1 "default/empty has no endpoints" -> REJECT',
        "result: 10.96.0.20:80/tcp refused at once: ICMP port unreachable, the client sees 'connection refused' "
        "(p=1.000)"]


def test_trace_from_outside_the_pod_cidr_is_masqueraded(state):
    rows = trace(state, src="192.168.50.1", dst="10.96.0.40", dport=80)
    assert ('    nat KUBE-SVC-BILYYKAKWI7RYELB #1 "default/shop:http cluster IP" -> KUBE-MARK-MASQ: marked 0x4000, '
            'to be masqueraded in KUBE-POSTROUTING') in rows
    assert '  filter KUBE-FORWARD #2 "kubernetes forwarding rules" -> ACCEPT' in rows
    assert ('  nat KUBE-POSTROUTING #3 "kubernetes service traffic requiring SNAT" -> MASQUERADE (source becomes '
            "this node's address on the way out)") in rows
    assert rows[-2] == ("masquerade: yes (KUBE-MARK-MASQ then KUBE-POSTROUTING MASQUERADE), the endpoint sees "
                        "this node's address, not 192.168.50.1")


def test_trace_node_port_local_policy_keeps_client_ip(state):
    rows = trace(state, src="192.168.50.1", dst="192.168.50.11", dport=30443, local_ips=["192.168.50.11"])
    assert ('  nat KUBE-SERVICES #9 "kubernetes service nodeports; NOTE: this must be the last rule in this chain"'
            ' -> KUBE-NODEPORTS') in rows
    assert ('      nat KUBE-EXT-HYNA6X6MU5FH6PP3 #4 "default/local:https external destinations to local endpoints"'
            ' -> KUBE-SVL-HYNA6X6MU5FH6PP3') in rows
    assert rows[-3:] == ["endpoint set: 10.244.1.50:8443 (p=1.000)",
                         "masquerade: no, the endpoint sees the client's own address 192.168.50.1",
                         "result: 192.168.50.11:30443/tcp is DNATed to 10.244.1.50:8443"]


def test_trace_node_port_on_localhost_from_the_node(state):
    rows = trace(state, src="127.0.0.1", dst="127.0.0.1", dport=30080, from_local_process=True)
    assert rows[0].endswith("sent by a process on this node: nat OUTPUT")
    assert rows[-1] == "result: 127.0.0.1:30080/tcp is DNATed to 10.244.2.20:8080"
    assert rows[-2].startswith("masquerade: yes")


def test_trace_session_affinity_and_udp(state):
    rows = trace(state, src="10.244.1.5", dst="10.96.0.30", dport=80)
    assert ('    nat KUBE-SVC-T2ECBIYT2WDZZK45 #2 "default/sticky:http -> 10.244.1.30:8080": session affinity: a '
            'client seen in the last 600 s goes back to KUBE-SEP-NI3T6YGVESYB67CA; a first connection has no '
            'entry yet') in rows
    rows = trace(state, src="10.244.1.5", dst="10.96.0.10", dport=53, proto="udp")
    assert rows[-1] == "result: 10.96.0.10:53/udp is DNATed to 10.244.1.3:53"
    assert trace(state, src="10.244.1.5", dst="10.96.0.10", dport=54, proto="udp")[-1] == \
        "result: no service rule matched, 10.96.0.10:54/udp is routed unchanged"


def test_above_1000_endpoints_the_per_endpoint_rules_carry_no_comment(monkeypatch):
    """Upstream's large cluster mode: with more endpoints (over all service ports, ready or not) than
    largeClusterEndpointsThreshold (1,000), the KUBE-SEP rules and the jumps to them are written without
    their comment; every other rule keeps its comment, and the rules are otherwise the same.  The threshold
    is lowered here to the golden world's size."""
    from toycluster.proxy import proxier
    normal = render(SERVICES, SLICES, **NODE1)
    total = endpoint_count(SERVICES, SLICES)
    monkeypatch.setattr(proxier, "LARGE_CLUSTER_ENDPOINTS", total)
    assert render(SERVICES, SLICES, **NODE1) == normal                  # not more than the threshold
    monkeypatch.setattr(proxier, "LARGE_CLUSTER_ENDPOINTS", total - 1)
    large = render(SERVICES, SLICES, **NODE1)
    assert large.keys() == normal.keys() and all(large[t].keys() == normal[t].keys() for t in normal)
    bare = 0
    for t in normal:
        for chain, rules in normal[t].items():
            for was, now in zip(rules, large[t][chain], strict=True):
                per_endpoint = chain.startswith("KUBE-SEP-") or was[was.index("-j") + 1].startswith("KUBE-SEP-")
                if per_endpoint:                          # "-m comment --comment TEXT" taken out
                    at = was.index("--comment") - 2
                    was = was[:at] + was[at + 4:]
                assert now == was, (chain, was, now)
                bare += per_endpoint
    assert bare > 20 and rule_count_per_service(large) == rule_count_per_service(normal)
