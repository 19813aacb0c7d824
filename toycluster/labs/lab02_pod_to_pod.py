"""Lab 2: pod to pod across nodes without NAT — veth, cni0 and a route per node; the same addresses at both ends.

The starting state (examples/labs/lab02-start.yaml, namespace lab02): pod `a` (a toolbox) on node1 and pod `b` (an
echo server on 8080) on node2. The learner follows a's packets out of its veth, over node1's cni0 and route, across
the node network and into b, captures them with tcpdump at both ends and on the wire, and writes what was seen in
the ConfigMap `findings`. Exercise 2b does the same on a cluster made with `--overlay vxlan`, where the wire
carries the pod's packet inside a VXLAN (UDP) packet between the nodes' addresses (ConfigMap `findings-vxlan`).

The checks take the truth from packets they send and capture themselves (a SYN from a to b, seen inside b and on
node2's eth0, with toycluster.lab.packets) and from `ip route get` on node1, never from the cluster's plan.
"""
from __future__ import annotations

import os
import socket
import subprocess

from toycluster.labs.kit import PASS, Ctx, Lab, Verdict, fail

NS = "lab02"
START = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                     "examples", "labs", "lab02-start.yaml")
SYN = "tcp[tcpflags] == tcp-syn and dst port 8080"
VXLAN_PORT = 8472                     # flannel's (the Linux default), not IANA's 4789
ANCHOR_VXLAN = "over-vxlan-the-outer-header"

FIRST_STEP = f"""\
Namespace {NS}: pod a (a toolbox) on node1, pod b (an echo server on port 8080) on node2.
Step 1: see both pods' IPs and nodes, then ask b from a and read the address b saw:
  kubectl get pods -n {NS} -o wide
  kubectl exec -n {NS} a -- curl -s B_IP:8080
Then follow the packet: a's veth, node1's cni0 and routes, the wire, b (docs/labs/02-pod-to-pod.md).
Your work, checked by `toycluster lab check {{key}}`: what you saw, in the ConfigMap {{cm}} of {NS}:
{{keys}}"""
KEYS = {
    "2": ("findings", {"b-saw": "the source address of a's packets as they arrive in b (tcpdump inside b)",
                       "on-wire": "their source address between the nodes (tcpdump on node2's eth0)",
                       "next-hop": "the address node1 sends packets for b to (`ip route get` on node1)"}),
    "2b": ("findings-vxlan", {"inner-src": "the source address of a's packet inside the VXLAN packet",
                              "outer-src": "the source address of the VXLAN packet itself, on the wire",
                              "outer-dst": "its destination address on the wire",
                              "udp-port": "the UDP destination port the VXLAN packets go to"}),
}


def _start(key: str):
    def start(ctx: Ctx) -> str:
        ctx.kubectl("apply", "-f", START)
        ctx.kubectl("wait", "-n", NS, "--for=condition=Ready", "pod/a", "pod/b", "--timeout=60s", timeout=70)
        cm, keys = KEYS[key]
        lines = "\n".join(f"  {k}: {text}" for k, text in keys.items())
        return FIRST_STEP.format(key=key, cm=cm, keys=lines)
    return start


def _pod_ips(ctx: Ctx) -> dict[str, str]:
    ips = {}
    for name in ("a", "b"):
        pod = ctx.get("Pod", name, NS) or {}
        status = pod.get("status") or {}
        if status.get("phase") == "Running" and status.get("podIP"):
            ips[name] = status["podIP"]
    return ips


def _send(ctx: Ctx, b_ip: str) -> None:
    """One HTTP request from inside pod a to b:8080 (a socket made in a's network namespace), its answer read."""
    import toycluster.lab.packets as tl
    with tl.netns("a", cluster=ctx.cluster, namespace=NS, scapy_routes=False):
        try:
            with socket.create_connection((b_ip, 8080), timeout=1) as s:
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                s.recv(4096)
        except OSError:
            pass                      # no answer: the capture shows what got where


def _capture(ctx: Ctx, b_ip: str, hops: list, bpf: str, count: int):
    """Send one request from a to b and capture it on HOPS with BPF (COUNT packets each, ≤ 1.5 s)."""
    import toycluster.lab.packets as tl
    from scapy.layers import inet, l2, vxlan   # noqa: F401 (registered, the capture decodes Ethernet, IP, VXLAN)
    return tl.sniff_hops(hops, filter=bpf, count=count, timeout=1.5, cluster=ctx.cluster, namespace=NS,
                         started_callback=lambda: _send(ctx, b_ip))


def _next_hop(ctx: Ctx, b_ip: str) -> str:
    """The `via` of `ip route get B_IP` on node1 (run inside node1's network namespace)."""
    import toycluster.lab.packets as tl
    with tl.netns("node1", cluster=ctx.cluster, scapy_routes=False):
        route = subprocess.run(["ip", "route", "get", b_ip], capture_output=True, text=True, timeout=5).stdout.split()
    return route[route.index("via") + 1] if "via" in route else "(none: on-link)"


def _inner_syn(b_ip: str) -> str:
    """BPF for a VXLAN packet carrying a SYN to B_IP:8080: the inner packet starts 8 (UDP) + 8 (VXLAN) + 14
    (Ethernet) bytes into the UDP header, an IP header of 20 bytes, then TCP (destination port, flags)."""
    dst = "0x" + "".join(f"{int(x):02x}" for x in b_ip.split("."))
    return f"udp dst port {VXLAN_PORT} and udp[46:4] = {dst} and udp[52:2] = 8080 and udp[63] & 0x12 = 0x02"


def _first_syn_source(packets, where: str, b_ip: str) -> str | None:
    from scapy.layers.inet import IP, TCP
    for p in packets:
        if p.sniffed_on == where and IP in p and TCP in p and p[IP].dst == b_ip and p[TCP].dport == 8080:
            return p[IP].src
    return None


def _vxlan_truth(packets, b_ip: str) -> dict[str, str]:
    """outer-src, outer-dst, udp-port and inner-src of the first VXLAN packet carrying a SYN to b:8080."""
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.vxlan import VXLAN
    for p in packets:
        if IP in p and UDP in p:
            inner = VXLAN(bytes(p[UDP].payload))
            if IP in inner and TCP in inner and inner[IP].dst == b_ip and inner[TCP].dport == 8080:
                return {"outer-src": p[IP].src, "outer-dst": p[IP].dst, "udp-port": str(p[UDP].dport),
                        "inner-src": inner[IP].src}
    return {}


def _answers(ctx: Ctx, key: str) -> tuple[dict, Verdict | None]:
    cm_name, keys = KEYS[key]
    cm = ctx.get("ConfigMap", cm_name, NS)
    example = " ".join(f"--from-literal={k}=..." for k in keys)
    if cm is None:
        return {}, fail(f"no ConfigMap {cm_name} in {NS} with what you saw",
                        f"Capture, then write it down: `kubectl create configmap {cm_name} -n {NS} {example}`.",
                        "The keys: " + "; ".join(f"{k}: {text}" for k, text in keys.items()))
    data = {k: str(v).strip() for k, v in (cm.get("data") or {}).items()}
    missing = [k for k in keys if not data.get(k)]
    if missing:
        return data, fail(f"ConfigMap {cm_name} has no {', '.join(missing)}",
                          f"Add them: `kubectl create configmap {cm_name} -n {NS} {example} --dry-run=client -o "
                          f"yaml | kubectl apply -f -`.",
                          "; ".join(f"{k}: {keys[k]}" for k in missing))
    return data, None


def _address(value: str) -> str:
    """10.244.1.5, 10.244.1.5:41234 or 10.244.1.5.41234 (tcpdump's address.port) -> 10.244.1.5."""
    value = value.strip().rpartition(" ")[2]
    if ":" in value:
        return value.partition(":")[0]
    parts = value.split(".")
    return ".".join(parts[:4]) if len(parts) == 5 else value


def _wrong(key: str, truth: dict[str, str], data: dict) -> Verdict:
    """The first answer that differs from what the check saw, with hints; PASS when none does."""
    hints = {
        "b-saw": ("Capture inside b while a asks it: `kubectl exec -n lab02 b -- tcpdump -nn -c 1 -i eth0 port "
                  "8080` (or read RemoteAddr in b's answer).",
                  "Nothing between a and b rewrites the source: compare with `kubectl get pod a -n lab02 -o wide`."),
        "on-wire": ("Capture on node2's eth0, the node network's side: `toycluster exec node2 -- tcpdump -nn -c 1 "
                    "-i eth0 port 8080`.",
                    "With host-gw routing the packet crosses the node network unchanged: no NAT, no tunnel."),
        "next-hop": ("Ask node1's routing table: `toycluster exec node1 -- ip route get B_IP`.",
                     "The answer's `via` address: for host-gw, the node that holds b's pod range."),
        "inner-src": ("Capture VXLAN on node2's eth0 (`udp port 8472`) with -v: tcpdump prints the inner packet "
                      "after the VXLAN header.", "The inner packet is a's own, unchanged: a's pod IP."),
        "outer-src": ("The outer IP header: the first address tcpdump prints for the UDP packet.",
                      "flannel.1 on node1 wraps the packet and sends it from node1's own address."),
        "outer-dst": ("The outer IP header's destination.", "The node that holds b: its node-network address."),
        "udp-port": ("tcpdump shows it after the outer destination address (`udp port 8472`?).",
                     "Linux's VXLAN default, which flannel uses: `ip -d link show flannel.1` names it (dstport)."),
    }
    for k, want in truth.items():
        got = data.get(k, "") if k == "udp-port" else _address(data.get(k, ""))
        if got != want:
            return fail(f"{KEYS[key][0]}: {k} is {data.get(k)!r}, which is not what the packets the check sent "
                        f"from a to b showed", *hints[k])
    return PASS


def _check(key: str):
    def check(ctx: Ctx) -> Verdict:
        ips = _pod_ips(ctx)
        if set(ips) != {"a", "b"}:
            return fail(f"pods a and b are not both running in {NS}",
                        f"`kubectl get pods -n {NS}`; `toycluster lab reset {key}` makes them again.",
                        f"`toycluster lab reset {key}` (it deletes namespace {NS} and starts the lab over).")
        data, verdict = _answers(ctx, key)
        if verdict:
            return verdict
        if key == "2":
            packets = _capture(ctx, ips["b"], [("b", "eth0"), ("node2", "eth0")],
                               f"{SYN} and dst host {ips['b']}", count=1)
            truth = {"b-saw": _first_syn_source(packets, "b:eth0", ips["b"]),
                     "on-wire": _first_syn_source(packets, "node2:eth0", ips["b"]),
                     "next-hop": _next_hop(ctx, ips["b"])}
        else:
            truth = _vxlan_truth(_capture(ctx, ips["b"], [("node2", "eth0")], _inner_syn(ips["b"]), count=1),
                                 ips["b"])
            if not truth:
                return fail("the check saw no VXLAN packet on node2's eth0 carrying a's request to b",
                            "Is this cluster made with `--overlay vxlan`? (`toycluster status`)",
                            "Exercise 2b needs a cluster of its own: `toycluster --cluster vx up --overlay vxlan ...`.")
        if None in truth.values():
            return fail("the check could not see a's request reach b (a curl from a to b:8080)",
                        f"Does `kubectl exec -n {NS} a -- curl -s B_IP:8080` answer?",
                        f"`toycluster lab reset {key}` starts over.")
        return _wrong(key, truth, data)
    return check


def _solve(key: str):
    def solve(ctx: Ctx) -> None:
        """What the learner writes down, read as a learner would: b's answer, ip route get, and for VXLAN
        flannel.1's port and the nodes' addresses."""
        ips = _pod_ips(ctx)
        if key == "2":
            values = {"b-saw": ips["a"], "on-wire": ips["a"], "next-hop": _next_hop(ctx, ips["b"])}
        else:
            nodes = {n["metadata"]["name"]: a["address"] for n in ctx.list("Node", None)
                     for a in n["status"]["addresses"] if a["type"] == "InternalIP"}
            values = {"inner-src": ips["a"], "outer-src": nodes["node1"], "outer-dst": nodes["node2"],
                      "udp-port": str(VXLAN_PORT)}
        cm = KEYS[key][0]
        manifest = ctx.kubectl("create", "configmap", cm, "-n", NS, "--dry-run=client", "-o", "yaml",
                               *(f"--from-literal={k}={v}" for k, v in values.items()))
        ctx.kubectl("apply", "-f", "-", input=manifest)
    return solve


LAB = Lab(key="2", title="Pod to pod across nodes, without NAT", doc="docs/labs/02-pod-to-pod.md#steps",
          article="05-container-to-api-gateway.txt, 2. Pod Networking: \"Every Pod can communicate with every other "
                  "Pod without NAT.\"",
          start=_start("2"), check=_check("2"), solve=_solve("2"), namespace=NS, up_args=("--overlay", "host-gw"))
LAB_VXLAN = Lab(key="2b", title="Pod to pod over VXLAN: the outer header",
                doc=f"docs/labs/02-pod-to-pod.md#{ANCHOR_VXLAN}",
                article="03-networking-without-getting-lost.txt: the CNI plugin \"ensuring traffic can flow between "
                        "Pods across different nodes\"",
                start=_start("2b"), check=_check("2b"), solve=_solve("2b"), namespace=NS,
                up_args=("--overlay", "vxlan"))
LABS = [LAB, LAB_VXLAN]
