"""Lab 10: packets by hand — a crafted SYN to a ClusterIP, DNATed on its way and un-DNATed back; a DNS query.

The learner sends a SYN with scapy from pod `client` (node1) to Service `echo`'s ClusterIP, sniffs it on the
client's veth, on node1's bridge and inside the echo pod (node2), crafts DNS queries to the cluster DNS, and writes
what the packets said into ConfigMap `seen` (lab10): the SYN's destination inside the echo pod, the SYN-ACK's source
inside the client, the A record's address. The check sends and captures packets of its own — a SYN from the client
sniffed in both pods, a DNS query from the client — and compares them with what the learner wrote.
"""
from __future__ import annotations

import random
import socket
from pathlib import Path

from toycluster.labs.kit import PASS, Ctx, Lab, Verdict, fail

NAMESPACE = "lab10"
NAME = f"echo.{NAMESPACE}.svc.cluster.local"
START = Path(__file__).resolve().parents[2] / "examples" / "labs" / "lab10-start.yaml"
KEYS = ("syn-in-echo", "synack-in-client", "dns-a")

FIRST_STEP = f"""\
Lab 10: packets by hand. Namespace {NAMESPACE} has a `client` pod on node1 and one `echo` pod on node2 behind the
ClusterIP Service `echo` (port 80 -> 8080).

Send a SYN crafted with scapy from client to echo's ClusterIP and sniff it on the client's veth, on node1's cni0
and inside the echo pod (python3 examples/labs/lab10-syn.py); craft a DNS query for {NAME}
and read the answer's records. Then write what the packets said:

  kubectl create configmap seen -n {NAMESPACE} --from-literal=syn-in-echo=IP:PORT \\
      --from-literal=synack-in-client=IP:PORT --from-literal=dns-a=IP
  toycluster lab check 10"""


def start(ctx: Ctx) -> str:
    ctx.kubectl("apply", "-f", str(START))
    ctx.kubectl("wait", "-n", NAMESPACE, "--for=condition=Ready", "pod", "--all", "--timeout=60s", timeout=70)
    return FIRST_STEP


def solve(ctx: Ctx) -> None:
    echo_ip = _echo_pod(ctx)["status"]["podIP"]
    vip = ctx.get("Service", "echo", NAMESPACE)["spec"]["clusterIP"]
    ctx.kubectl("create", "configmap", "seen", "-n", NAMESPACE, f"--from-literal=syn-in-echo={echo_ip}:8080",
                f"--from-literal=synack-in-client={vip}:80", f"--from-literal=dns-a={vip}")


def _echo_pod(ctx: Ctx) -> dict:
    pods = [p for p in ctx.list("Pod", NAMESPACE) if (p["metadata"].get("labels") or {}).get("app") == "echo"
            and p.get("status", {}).get("podIP")]
    if not pods:
        raise RuntimeError(f"no echo pod with an IP in {NAMESPACE}: `toycluster lab reset 10`")
    return pods[0]


def send_syn(ctx: Ctx, client_ip: str, vip: str, echo: str) -> dict:
    """The check's own SYN from the client (CLIENT_IP) to VIP:80, crafted with scapy and sent through a raw socket
    inside the client pod, sniffed in the client and in pod ECHO: {(hop, flags): (src, dst)}, addresses as IP:PORT."""
    import toycluster.lab.packets as tl
    from scapy.layers.inet import IP, TCP
    sport = random.randrange(50000, 60000)
    syn = bytes(IP(src=client_ip, dst=vip) / TCP(sport=sport, dport=80, flags="S"))

    def send_it():
        with tl.netns(f"{NAMESPACE}/client", cluster=ctx.cluster, scapy_routes=False):
            with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW) as s:
                s.sendto(syn, (vip, 0))

    hops = [(f"{NAMESPACE}/client", "eth0"), (f"{NAMESPACE}/{echo}", "eth0")]
    packets = tl.sniff_hops(hops, filter=f"tcp port {sport}", count=2, timeout=1.5, started_callback=send_it,
                            cluster=ctx.cluster)
    return {("client" if p.sniffed_on.startswith(f"{NAMESPACE}/client") else "echo", str(p[TCP].flags)):
            (f"{p[IP].src}:{p[TCP].sport}", f"{p[IP].dst}:{p[TCP].dport}") for p in packets}


def ask_dns(ctx: Ctx) -> list[str]:
    """The check's own DNS query for NAME, crafted with scapy and sent from the client to the cluster DNS: the
    A records' addresses in the answer."""
    import toycluster.lab.packets as tl
    from scapy.layers.dns import DNS, DNSQR
    dns_ip = ctx.get("Service", "kube-dns", "kube-system")["spec"]["clusterIP"]
    query = DNS(id=random.randrange(1, 65535), rd=1, qd=DNSQR(qname=NAME))
    with tl.netns(f"{NAMESPACE}/client", cluster=ctx.cluster, scapy_routes=False):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(2)
            s.sendto(bytes(query), (dns_ip, 53))
            try:
                answer = DNS(s.recv(4096))
            except OSError:
                return []
    records = [answer.an[i] for i in range(answer.ancount)]
    return [str(r.rdata) for r in records if r.type == 1]


def check(ctx: Ctx) -> Verdict:
    seen = ctx.get("ConfigMap", "seen", NAMESPACE)
    data = {k: str(v).strip() for k, v in ((seen or {}).get("data") or {}).items()}
    missing = [k for k in KEYS if not data.get(k)]
    if missing:
        return fail(f"ConfigMap seen in {NAMESPACE} has no {', '.join(missing)}",
                    "Send the SYN and sniff it (python3 examples/labs/lab10-syn.py), craft the DNS query, then write "
                    "what you read into ConfigMap seen.",
                    f"kubectl create configmap seen -n {NAMESPACE} --from-literal=syn-in-echo=IP:PORT "
                    "--from-literal=synack-in-client=IP:PORT --from-literal=dns-a=IP (delete it first to redo it)")
    vip = ctx.get("Service", "echo", NAMESPACE)["spec"]["clusterIP"]
    client_ip = ((ctx.get("Pod", "client", NAMESPACE) or {}).get("status") or {}).get("podIP")
    if not client_ip:
        return fail(f"pod client in {NAMESPACE} is gone (or has no IP yet): the check sends from it",
                    "`kubectl get pods -n lab10`.", "`toycluster lab reset 10` starts the lab again.")
    got = send_syn(ctx, client_ip, vip, _echo_pod(ctx)["metadata"]["name"])
    in_echo, in_client = got.get(("echo", "S")), got.get(("client", "SA"))
    if in_echo is None or in_client is None:
        return fail(f"the check's own SYN to {vip}:80 was not answered (seen: {sorted(got)})",
                    "Is the echo pod ready? `kubectl get pods,endpointslices -n lab10`.",
                    "`toycluster lab reset 10` starts the lab again.")
    if data["syn-in-echo"] != in_echo[1]:
        return fail(f"syn-in-echo is {data['syn-in-echo']}, but a SYN to {vip}:80 arrives in the echo pod with "
                    "another destination", "The capture inside the echo pod shows the destination after kube-proxy's "
                    "DNAT on node1: not the ClusterIP any more.",
                    "It is the echo pod's IP and its container port (the Service's targetPort): IP:8080.")
    if data["synack-in-client"] != in_client[0]:
        return fail(f"synack-in-client is {data['synack-in-client']}, but the SYN-ACK reaches the client from "
                    "another source", "Look at the SYN-ACK in the client's capture: conntrack undid the DNAT on node1.",
                    "The client only ever talks to the Service: the SYN-ACK comes from the ClusterIP and port 80.")
    answers = ask_dns(ctx)
    if data["dns-a"] not in answers:
        return fail(f"dns-a is {data['dns-a']}, but the A record of {NAME} says {', '.join(answers) or 'nothing'}",
                    "Send DNS(rd=1, qd=DNSQR(qname=...)) over UDP to the cluster DNS and read answer[DNS].an.",
                    "A ClusterIP Service's name has one A record: the Service's ClusterIP.")
    return PASS


LAB = Lab(key="10", title="Scapy: a crafted SYN through kube-proxy's DNAT, a DNS query by hand",
          doc="docs/labs/10-scapy.md",
          article='05-container-to-api-gateway.txt, "6. kube-proxy (Traffic Routing)": "Example routing rule: '
                  'Service IP → Pod1 ... Client → Service IP → kube-proxy → Pod"',
          start=start, check=check, solve=solve, namespace=NAMESPACE)
