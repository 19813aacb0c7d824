"""scapy in a cluster's namespaces (issue 15): crafted packets pass through the same rules as curl's.

A client pod on node1, one echo pod `web` on node2 behind the ClusterIP Service `web` (80 -> 8080). The test process
itself enters the namespaces with toycluster.lab.packets: a SYN sent with scapy from the client gets its SYN-ACK
from the ClusterIP (kube-proxy's reverse NAT); sniff_hops on the client's veth on node1 and on web's eth0 sees the
DNAT (the ClusterIP on one, the pod IP on the other); a crafted DNS query gets the Service's A record; the pod's
python3 (`toycluster exec`, `kubectl exec`) has scapy; and nothing is left: no thread, socket or iptables rule.
"""
import json
import os
import random
import threading

import pytest

from conftest import cluster_up, poll, pod_yaml

SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
           "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}


@pytest.fixture(scope="module")
def lab():
    if os.geteuid() != 0:
        pytest.skip("needs root")
    with cluster_up() as c:
        c.apply("---\n".join([pod_yaml("client", "nicolaka/netshoot", node=1),
                              pod_yaml("web", "toycluster/echo", node=2, port=8080), json.dumps(SERVICE) + "\n"]))
        c.ip = {p["metadata"]["name"]: p["status"]["podIP"] for p in c.wait_running(names=["client", "web"])}
        c.vip = json.loads(c.ok("get", "svc", "web", "-o", "json"))["spec"]["clusterIP"]
        poll(lambda: c.exec("client", "curl", "-s", "--max-time", "2", f"http://{c.vip}/", check=None).returncode == 0,
             timeout=15, what="the Service to answer curl")
        yield c


def _rules(c) -> list[str]:
    """Every node's iptables rules (nat and filter), without counters."""
    out = []
    for n in range(1, c.nodes + 1):
        p = os.popen(f"ip netns exec {c.name}.node{n} iptables-save")
        out += [f"node{n} {line}" for line in p.read().splitlines() if line.startswith("-")]
        p.close()
    return out


def _fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_a_crafted_syn_to_a_cluster_ip_is_answered_by_the_cluster_ip_and_sniffed_on_both_sides(lab):
    import toycluster.lab.packets as tl
    from scapy.all import IP, TCP, sr1
    rules, threads, fds = _rules(lab), threading.active_count(), _fds()
    sport, answer = random.randrange(41000, 49000), []

    def send():
        with tl.netns("client", cluster=lab.name):
            answer.append(sr1(IP(dst=lab.vip) / TCP(sport=sport, dport=80, flags="S", seq=1000), timeout=3, verbose=0))

    veth = tl.veth_of("client", cluster=lab.name)
    assert veth.netns == "node1" and veth.iface.startswith("veth")
    packets = tl.sniff_hops([veth, ("web", "eth0"), ("client", "eth0")], filter=f"tcp port {sport}", count=2,
                            timeout=6, started_callback=send, cluster=lab.name)
    synack = answer[0]
    assert synack is not None, "no SYN-ACK"
    assert (synack[IP].src, synack[TCP].sport, synack[IP].dst, synack[TCP].dport) == (lab.vip, 80, lab.ip["client"],
                                                                                     sport)
    assert synack[TCP].flags == "SA" and synack[TCP].ack == 1001
    seen = [(p.sniffed_on, str(p[TCP].flags), p[IP].src, p[TCP].sport, p[IP].dst, p[TCP].dport) for p in packets]
    client, web, vip = lab.ip["client"], lab.ip["web"], lab.vip

    def on(hop):
        return [s[1:] for s in seen if s[0] == hop]

    assert on(f"node1:{veth.iface}") == [("S", client, sport, vip, 80), ("SA", vip, 80, client, sport)], seen
    # DNAT on node1, the client's source kept; inside the client, its own pod IP
    assert on("web:eth0") == [("S", client, sport, web, 8080), ("SA", web, 8080, client, sport)], seen
    assert on("client:eth0") == [("S", client, sport, vip, 80), ("SA", vip, 80, client, sport)], seen
    order = [(s[0].split(":")[0], s[1]) for s in seen]
    assert order.index(("node1", "S")) < order.index(("web", "S")) < order.index(("web", "SA")) \
        < order.index(("node1", "SA")), seen
    assert threading.active_count() == threads and _fds() == fds, "sniff_hops left a thread or a socket"
    assert _rules(lab) == rules, "the rules changed"


def test_a_crafted_dns_query_gets_the_services_a_record(lab):
    import toycluster.lab.packets as tl
    from scapy.all import DNS, DNSQR, IP, UDP, sr1
    dns_ip = lab.dns_ip
    with tl.netns("client", cluster=lab.name):
        reply = sr1(IP(dst=dns_ip) / UDP(sport=random.randrange(41000, 49000), dport=53)
                    / DNS(rd=1, qd=DNSQR(qname="web.default.svc.cluster.local", qtype="A")), timeout=3, verbose=0)
    assert reply is not None and reply[IP].src == dns_ip and reply[UDP].sport == 53
    answers = [reply[DNS].an[i] for i in range(reply[DNS].ancount)]
    assert [(a.rrname, a.type, a.rdata) for a in answers] == [(b"web.default.svc.cluster.local.", 1, lab.vip)]


def test_the_pods_python3_has_scapy(lab):
    lab.exec("client", "python3", "-c", "import scapy")
    out = lab.exec("client", "python3", "-c", "from scapy.all import *; print(conf.iface, get_if_addr(conf.iface))")
    assert out.stdout.split() == ["eth0", lab.ip["client"]]
    lab.kubectl("exec", "client", "--", "python3", "-c", "import scapy")
    shell = lab.run("scapy", "client", "--", "-H", input="print('at', get_if_addr('eth0'))\n", check=0)
    assert f"at {lab.ip['client']}" in shell.stdout, shell


def test_unknown_names_are_errors(lab):
    import toycluster.lab.packets as tl
    from toycluster.cluster.lifecycle import UsageError
    with pytest.raises(UsageError, match="nosuch"):
        with tl.netns("nosuch", cluster=lab.name):
            pass
    with pytest.raises(UsageError, match="no interface eth9 in web"):
        tl.sniff_hops([("web", "eth9")], count=1, cluster=lab.name)
    p = lab.run("scapy", "nosuch", check=2)
    assert "nosuch" in p.stderr
