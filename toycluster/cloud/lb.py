"""The cloud load balancer (an NLB in front of the nodes) and the "internet" it stands on.

Topology (topology(), steps in nodes.py's format, applied by nodes.apply with the rest):
  <cluster>.inet   the internet segment: a bridge br0 (203.0.113.0/24 by default, `up --internet-cidr`)
  <cluster>.lb     the load balancer: eth0 on the node network (.2), eth1 on the internet (.10), ip_forward=1
  <cluster>.user   the user: eth0 at .100, resolv.conf -> the public DNS server
  <cluster>.dns    the public DNS server (public_dns.py): eth0 at .53
None of these has a default route (the nodes' leads to the node network's router, which has no way out
either): nothing leaves the machine, and the machine's shell has no leg on the internet.

The balancer (run_lb(), a process the control plane forks into <cluster>.lb) is the kernel's NAT, as an NLB or
IPVS is: each frontend (address:port) is a chain of DNAT rules, one per healthy node, `-m statistic --mode random`,
so each new TCP connection goes to one node's NodePort and conntrack keeps it there; replies are un-NATed on
the way back and the source is masqueraded to the balancer's node-network address (`conntrack -L` in the lb
namespace shows both rewrites). Frontends: <lb>:80/443 -> the ingress controller's NodePorts (30080/30443), and
for each LoadBalancer Service its EXTERNAL-IP (an address on eth1, from .20 up) and ports -> its NodePorts.
Health checks: a TCP connect (0.5 s timeout) to every node's NodePort every 1 s; a target is out after 2 failures
in a row and back after 1 success; a target never yet seen healthy is checked every 0.1 s. When a node goes out,
its conntrack entries are deleted, so clients of its connections get a reset at once instead of a long silence.
The state is in /var/lib/toycluster/<cluster>/lb/status.json (`toycluster lb`).
"""
from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import json
import os
import socket
import sys
import time

from toycluster.config import write_atomic
from toycluster.kernel.iptables_save import comment

CHECK_INTERVAL, CHECK_TIMEOUT, INITIAL_INTERVAL = 1.0, 0.5, 0.1
FALL, RISE = 2, 1
INGRESS_SERVICE = ("ingress", "ingress-nginx-controller")
PUBLIC_DOMAIN = "lb.example"          # a LoadBalancer Service is also <name>.<namespace>.lb.example
SPECIAL = ("user", "lb", "dns", "inet")


# ---------------------------------------------------------------- names and addresses
def netns(cfg, role: str) -> str:
    return f"{cfg.name}.{role}"


def internet(cfg) -> ipaddress.IPv4Network:
    return ipaddress.ip_network(getattr(cfg, "internet_cidr", "203.0.113.0/24"))


def lb_ip(cfg) -> str:
    return str(internet(cfg)[10])


def dns_ip(cfg) -> str:
    return str(internet(cfg)[53])


def user_ip(cfg) -> str:
    return str(internet(cfg)[100])


def lb_vpc_ip(cfg) -> str:
    return str(ipaddress.ip_network(cfg.node_cidr)[2])


def external_pool(cfg) -> list[str]:
    net = internet(cfg)
    return [str(net[i]) for i in range(20, 50)]


def check_cidr(cfg) -> str | None:
    """Why cfg.internet_cidr cannot be used, or None."""
    try:
        net = internet(cfg)
    except ValueError as e:
        return f"--internet-cidr {cfg.internet_cidr}: {e}"
    if net.version != 4 or net.prefixlen > 25:
        return f"--internet-cidr {cfg.internet_cidr}: give an IPv4 network of /25 or larger (.100 is the user)"
    for label, value in (("--node-cidr", cfg.node_cidr), ("--pod-cidr", cfg.pod_cidr), ("--service-cidr", cfg.service_cidr)):
        if net.overlaps(ipaddress.ip_network(value)):
            return f"--internet-cidr {net} overlaps {label} {value}"
    return None


def topology(cfg) -> list[tuple]:
    """The internet segment, the balancer, the user and the public DNS server, as nodes.py steps."""
    inet, lb, plen = netns(cfg, "inet"), netns(cfg, "lb"), internet(cfg).prefixlen
    steps = [("netns", inet), ("sysctl", inet, "net.ipv6.conf.all.disable_ipv6", 1),
             ("bridge", inet, "br0"), ("up", inet, "br0")]
    for role, ifname, ip in (("lb", "eth1", lb_ip(cfg)), ("user", "eth0", user_ip(cfg)), ("dns", "eth0", dns_ip(cfg))):
        ns = netns(cfg, role)
        steps += [("netns", ns), ("up", ns, "lo"), ("sysctl", ns, "net.ipv6.conf.all.disable_ipv6", 1),
                  ("veth", inet, role, ns, ifname), ("master", inet, role, "br0"), ("up", inet, role),
                  ("addr", ns, ifname, f"{ip}/{plen}"), ("up", ns, ifname)]
    steps += [("sysctl", lb, "net.ipv4.ip_forward", 1),
              ("veth", cfg.net_ns, "lb", lb, "eth0"), ("master", cfg.net_ns, "lb", "br0"), ("up", cfg.net_ns, "lb"),
              ("addr", lb, "eth0", f"{lb_vpc_ip(cfg)}/{cfg.node_prefix}"), ("up", lb, "eth0")]
    return steps


# ---------------------------------------------------------------- frontends and rules (pure)
def frontends(services: list[dict], cfg) -> list[tuple]:
    """(address, port, nodePort, name) for the ingress controller's Service and every LoadBalancer Service."""
    net, out = internet(cfg), []
    for svc in sorted(services, key=lambda s: (s["metadata"].get("namespace", ""), s["metadata"]["name"])):
        meta, spec = svc["metadata"], svc.get("spec") or {}
        key = (meta.get("namespace") or "default", meta["name"])
        if key == INGRESS_SERVICE:
            ips = [lb_ip(cfg)]
        elif spec.get("type") == "LoadBalancer":
            ips = [i["ip"] for i in ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
                   if i.get("ip") and ipaddress.ip_address(i["ip"]) in net]
        else:
            continue
        for ip in ips:
            for p in spec.get("ports") or []:
                if p.get("nodePort") and (p.get("protocol") or "TCP") == "TCP":
                    out.append((ip, p["port"], p["nodePort"], f"{key[0]}/{key[1]}:{p.get('name') or p['port']}"))
    return out


def chain_name(ip: str, port: int) -> str:
    return "LB-FE-" + hashlib.sha256(f"{ip}:{port}".encode()).hexdigest()[:16].upper()


def render(fronts: list[tuple], healthy: dict, cfg) -> dict:
    """The balancer's nat table as data (kube_proxy's format): HEALTHY maps (node ip, nodePort) -> bool."""
    nat = {"PREROUTING": [comment("cloud load balancer frontends") + ["-j", "LB-FRONTENDS"]],
           "INPUT": [], "OUTPUT": [],
           "POSTROUTING": [comment("cloud load balancer: source NAT toward the nodes") + ["-j", "LB-POSTROUTING"]],
           "LB-FRONTENDS": [],
           "LB-POSTROUTING": [["-d", cfg.node_cidr] + comment("connections to the nodes leave from the balancer's address")
                              + ["-m", "conntrack", "--ctstate", "DNAT", "-j", "MASQUERADE"]]}
    nodes = [cfg.node_ip(n) for n in range(1, cfg.nodes + 1)]
    for ip, port, node_port, name in fronts:
        chain = chain_name(ip, port)
        if chain in nat:
            continue
        up = [n for n in nodes if healthy.get((n, node_port))]
        nat["LB-FRONTENDS"].append(["-d", f"{ip}/32", "-p", "tcp"] + comment(f"{name} frontend {ip}:{port}")
                                   + ["-m", "tcp", "--dport", str(port), "-j", chain])
        rules = []
        for i, node in enumerate(up):
            left = len(up) - i
            stat = ["-m", "statistic", "--mode", "random", "--probability", f"{1 / left:.10f}"] if left > 1 else []
            rules.append(["-p", "tcp"] + comment(f"{name} -> node {node}:{node_port}") + stat
                         + ["-j", "DNAT", "--to-destination", f"{node}:{node_port}"])
        nat[chain] = rules             # no healthy node: no DNAT, the balancer itself answers with a reset
    return {"nat": nat}


# ---------------------------------------------------------------- the balancer process
class Balancer:
    def __init__(self, cfg):
        self.cfg, self.loop = cfg, asyncio.get_running_loop()
        self.fronts, self.health, self.previous, self.addresses = [], {}, None, set()
        self.status_path = f"{cfg.state_dir}/lb/status.json"
        os.makedirs(os.path.dirname(self.status_path), exist_ok=True)

    def set_services(self, services: list[dict]) -> None:
        fronts = frontends(services, self.cfg)
        if fronts != self.fronts:
            self.fronts = fronts
            print(f"[lb] frontends: {', '.join(f'{ip}:{p} -> NodePort {np} ({n})' for ip, p, np, n in fronts) or 'none'}",
                  flush=True)
            self.sync()

    def targets(self) -> set:
        return {(self.cfg.node_ip(n), f[2]) for f in self.fronts for n in range(1, self.cfg.nodes + 1)}

    async def check(self, target) -> str | None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await asyncio.wait_for(self.loop.sock_connect(sock, target), CHECK_TIMEOUT)
            return None
        except asyncio.TimeoutError:
            return "timed out"
        except OSError as e:
            return os.strerror(e.errno) if e.errno else str(e)
        finally:
            sock.close()

    async def run_checks(self) -> None:
        while True:
            now, targets = time.monotonic(), self.targets()
            for t in set(self.health) - targets:
                del self.health[t]
            due = []
            for t in targets:
                h = self.health.setdefault(t, {"state": "initial", "fails": 0, "next": 0.0, "since": now, "why": ""})
                if h["next"] <= now:
                    fast = h["state"] == "initial" and now - h["since"] < 30
                    h["next"] = now + (INITIAL_INTERVAL if fast else CHECK_INTERVAL)
                    due.append(t)
            results = await asyncio.gather(*(self.check(t) for t in due))
            changed = False
            for t, why in zip(due, results):
                h = self.health.get(t)
                if h is None:
                    continue
                old = h["state"]
                h["fails"], h["why"] = (0, "") if why is None else (h["fails"] + 1, why)
                if why is None and old != "healthy":
                    h["state"] = "healthy"
                elif why is not None and old == "healthy" and h["fails"] >= FALL:
                    h["state"] = "unhealthy"
                if h["state"] != old:
                    changed = True
                    print(f"[lb] target {t[0]}:{t[1]} {old} -> {h['state']}" + (f" ({FALL} checks failed: {why})"
                          if why else ""), flush=True)
                    if h["state"] == "unhealthy":
                        self.loop.create_task(self.forget(t))
            if changed:
                self.sync()
            await asyncio.sleep(INITIAL_INTERVAL)

    async def forget(self, target) -> None:
        """Delete the conntrack entries of connections to TARGET: their clients get a reset, not silence."""
        try:
            proc = await asyncio.create_subprocess_exec(
                "conntrack", "-D", "-p", "tcp", "--reply-src", target[0], "--reply-port-src", str(target[1]),
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
            await proc.wait()
        except OSError:
            pass

    def sync(self) -> None:
        from toycluster.kernel import iptables_apply
        healthy = {t: h["state"] == "healthy" for t, h in self.health.items()}
        state = render(self.fronts, healthy, self.cfg)
        try:
            self.previous = iptables_apply.apply(state, self.previous, owned_prefixes=("LB-FE-",))
        except Exception as e:                                # noqa: BLE001 - retried at the next change
            self.previous = None
            print(f"[lb] applying the rules failed: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        self._addresses()
        self._status(healthy)

    def _addresses(self) -> None:
        """The LoadBalancer Services' EXTERNAL-IPs as /32 addresses on eth1 (so the balancer answers ARP); in a
        thread, as pyroute2's synchronous API runs an event loop of its own."""
        want = {f[0] for f in self.fronts} - {lb_ip(self.cfg)}
        if want != self.addresses:
            self.addresses = want
            self.loop.run_in_executor(None, self._set_addresses, want)

    @staticmethod
    def _set_addresses(want: set) -> None:
        from pyroute2 import IPRoute
        with IPRoute() as ipr:
            idx = ipr.link_lookup(ifname="eth1")[0]
            have = {a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(index=idx) if a["prefixlen"] == 32}
            for ip in want - have:
                ipr.addr("add", index=idx, address=ip, prefixlen=32)
            for ip in have - want:
                ipr.addr("del", index=idx, address=ip, prefixlen=32)

    def _status(self, healthy: dict) -> None:
        nodes = {self.cfg.node_ip(n): f"node{n}" for n in range(1, self.cfg.nodes + 1)}
        doc = {"time": time.time(), "address": lb_ip(self.cfg), "vpcAddress": lb_vpc_ip(self.cfg),
               "check": {"interval": CHECK_INTERVAL, "timeout": CHECK_TIMEOUT, "fall": FALL, "rise": RISE},
               "frontends": [{"address": ip, "port": port, "nodePort": np, "name": name,
                              "targets": [{"node": nodes[t[0]], "address": f"{t[0]}:{t[1]}",
                                           "state": self.health.get(t, {}).get("state", "initial"),
                                           "why": self.health.get(t, {}).get("why", "")}
                                          for t in sorted(self.targets()) if t[1] == np]}
                             for ip, port, np, name in self.fronts]}
        write_atomic(self.status_path, json.dumps(doc, indent=1), durable=False)   # a view, rewritten each check


def run_lb(cfg) -> "NoReturn":
    """The balancer process (forked into <cluster>.lb by the control plane): never returns."""
    from toycluster.api.client import socket_path
    from toycluster.api.informer import Informer
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    async def main():
        lb = Balancer(cfg)
        informer = Informer(socket_path(cfg.name), ("Service",),
                            lambda: loop.call_soon_threadsafe(lb.set_services, list(informer.snapshot()["Service"].values())),
                            name="cloud-lb")
        informer.start()
        print(f"[lb] cloud load balancer of cluster {cfg.name}: {lb_ip(cfg)} on the internet, {lb_vpc_ip(cfg)} on the "
              f"node network; health checks every {CHECK_INTERVAL:g}s (TCP connect, {CHECK_TIMEOUT:g}s timeout, "
              f"out after {FALL} failures, back after {RISE} success)", flush=True)
        await lb.run_checks()

    loop.run_until_complete(main())
    os._exit(1)
