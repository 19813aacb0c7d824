"""Lab 10: one SYN crafted by hand, sent from pod client to Service echo's ClusterIP, sniffed on four hops.

    python3 examples/labs/lab10-syn.py          (on the machine, as root; the cluster is $TOYCLUSTER)
"""
import random
import subprocess

import toycluster.lab.packets as tl
from scapy.all import IP, TCP, send


def kubectl(*args: str) -> str:
    return subprocess.run(["kubectl", "-n", "lab10", *args], capture_output=True, text=True, check=True).stdout


vip = kubectl("get", "service", "echo", "-o", "jsonpath={.spec.clusterIP}")
echo = kubectl("get", "pods", "-l", "app=echo", "-o", "jsonpath={.items[0].metadata.name}")
sport = random.randrange(40000, 50000)
syn = IP(dst=vip) / TCP(sport=sport, dport=80, flags="S", seq=1000)


def send_syn():
    with tl.netns("lab10/client"):              # this thread, inside the client pod's network namespace
        send(syn, verbose=False)


hops = [("lab10/client", "eth0"),               # inside the client pod
        tl.veth_of("lab10/client"),             # the client's veth on node1: a port of node1's bridge
        ("node1", "cni0"),                      # node1's bridge itself
        (f"lab10/{echo}", "eth0")]              # inside the echo pod, on node2
packets = tl.sniff_hops(hops, filter=f"tcp port {sport}", count=3, timeout=2, started_callback=send_syn)
short = {f"lab10/{echo}:eth0": "lab10/echo:eth0"}
for p in packets:                               # in the kernel's time order, one line per packet per hop
    print(f"{short.get(p.sniffed_on, p.sniffed_on):<18} {str(p[TCP].flags):<3} "
          f"{p[IP].src}:{p[TCP].sport} > {p[IP].dst}:{p[TCP].dport}")
