"""kube-apiserver's Service registry: ClusterIP and NodePort allocation, and the checks that go with them.

As upstream: a ClusterIP comes from the service range unless one is given (the first address is kept for
the `kubernetes` Service, the tenth for cluster DNS); a given one must be in the range and free; it never
changes once set. NodePorts come from 30000-32767 unless given; a given one must be in range and free.
"""
import ipaddress
import random

from toycluster.api.registry import APIError

NODEPORT_RANGE = range(30000, 32768)


class ServiceRegistry:
    def __init__(self, service_cidr: str):
        self.net = ipaddress.ip_network(service_cidr)

    def used(self, store, pending, skip) -> tuple[set[str], set[int]]:
        ips, ports = set(), set()
        for svc in store.list("Service") + [o for o in pending if o["kind"] == "Service"]:
            if (svc["metadata"]["namespace"], svc["metadata"]["name"]) == skip:
                continue
            if svc["spec"].get("clusterIP") not in (None, "", "None"):
                ips.add(svc["spec"]["clusterIP"])
            ports |= {p["nodePort"] for p in svc["spec"].get("ports", []) if p.get("nodePort")}
        return ips, ports

    def admit(self, obj: dict, old: dict | None, store, pending: list[dict]) -> None:
        """Fill in and check spec.clusterIP and each nodePort of Service OBJ (raises APIError)."""
        if obj["kind"] != "Service":
            return
        spec, key = obj["spec"], (obj["metadata"]["namespace"], obj["metadata"]["name"])
        ips, ports = self.used(store, pending, skip=key)
        kind = spec.get("type", "ClusterIP")
        given = spec.get("clusterIP") or ""
        before = (old or {}).get("spec", {}).get("clusterIP") or ""
        if kind == "ExternalName":
            spec.pop("clusterIP", None)
        elif old and before and given and given != before:
            raise APIError(422, f'spec.clusterIP: Invalid value: "{given}": field is immutable')
        elif before and not given:
            spec["clusterIP"] = before
        elif given and given != "None":
            try:
                ip = ipaddress.ip_address(given)
            except ValueError:
                raise APIError(422, f'spec.clusterIP: Invalid value: "{given}": must be a valid IP address') from None
            if ip not in self.net or ip in (self.net.network_address, self.net.broadcast_address):
                raise APIError(422, f'spec.clusterIP: Invalid value: "{given}": provided IP is not in the valid '
                                    f"range. The range of valid IPs is {self.net}")
            if given in ips and given != before:
                raise APIError(422, f'spec.clusterIP: Invalid value: "{given}": provided IP is already allocated')
        elif not given:
            spec["clusterIP"] = self._free_ip(ips)
        if spec.get("clusterIP"):
            spec["clusterIPs"] = [spec["clusterIP"]]
            spec.update(ipFamilies=["IPv4"], ipFamilyPolicy="SingleStack")
        old_ports = {(p.get("port"), p.get("protocol")): p.get("nodePort")
                     for p in (old or {}).get("spec", {}).get("ports", [])}
        for i, port in enumerate(spec.get("ports", [])):
            if kind not in ("NodePort", "LoadBalancer"):
                port.pop("nodePort", None)
                continue
            n = port.get("nodePort") or old_ports.get((port["port"], port.get("protocol", "TCP")))
            if n is None:
                n = self._free_port(ports)
            elif n not in NODEPORT_RANGE:
                raise APIError(422, f"spec.ports[{i}].nodePort: Invalid value: {n}: provided port is not in the "
                                    f"valid range. The range of valid ports is 30000-32767")
            elif n in ports:
                raise APIError(422, f"spec.ports[{i}].nodePort: Invalid value: {n}: provided port is already allocated")
            port["nodePort"] = n
            ports.add(n)
        if kind == "LoadBalancer":
            obj["status"] = (old or {}).get("status") or {"loadBalancer": {}}

    def _free_ip(self, used: set[str]) -> str:
        size = self.net.num_addresses
        reserved = {str(self.net[1]), str(self.net[10])}
        for _ in range(1000):
            ip = str(self.net[random.randrange(2, size - 1)])
            if ip not in used and ip not in reserved:
                return ip
        for ip in self.net.hosts():
            if str(ip) not in used and str(ip) not in reserved:
                return str(ip)
        raise APIError(422, f"spec.clusterIP: no free address left in {self.net}")

    @staticmethod
    def _free_port(used: set[int]) -> int:
        free = [p for p in NODEPORT_RANGE if p not in used]
        if not free:
            raise APIError(422, "spec.ports.nodePort: no free port left in 30000-32767")
        return random.choice(free)
