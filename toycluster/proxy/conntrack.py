"""kube-proxy's conntrack clean-up: UDP flows to endpoints that went away are deleted, as upstream does.

UDP has no connection to close: a client that keeps its source port keeps matching the conntrack entry
made for its first packet, so it would keep going to a deleted pod (or to nothing) for ever. After each
sync kube-proxy compares the UDP endpoints with the last ones and deletes the flows that point to an
endpoint no longer there, and the flows of a Service that had no endpoint at all (pkg/proxy/conntrack).
"""
import subprocess


def udp_endpoints(services: list[dict], slices: list[dict]) -> dict[tuple, set[str]]:
    """{(cluster IP, port, nodePort or 0): {ready endpoint IPs}} for every UDP Service port."""
    by_service: dict[tuple, list[dict]] = {}
    for s in slices:
        key = (s["metadata"]["namespace"], s["metadata"]["labels"].get("kubernetes.io/service-name"))
        by_service.setdefault(key, []).append(s)
    out = {}
    for svc in services:
        vip = svc["spec"].get("clusterIP")
        if not vip or vip == "None":
            continue
        for port in svc["spec"].get("ports", []):
            if port.get("protocol", "TCP") != "UDP":
                continue
            ips = {e["addresses"][0]
                   for s in by_service.get((svc["metadata"]["namespace"], svc["metadata"]["name"]), [])
                   if any(p.get("name", "") == port.get("name", "") and p.get("protocol") == "UDP" for p in s["ports"])
                   for e in s["endpoints"] if e["conditions"].get("ready")}
            out[(vip, port["port"], port.get("nodePort") or 0)] = ips
    return out


def stale_flows(old: dict, new: dict) -> list[list[str]]:
    """The `conntrack -D` argument lists that remove flows made stale by going from OLD to NEW."""
    cmds = []
    for (vip, port, node_port), before in sorted(old.items()):
        after = new.get((vip, port, node_port), set())
        for ip in sorted(before - after):
            cmds.append(["-p", "udp", "--orig-dst", vip, "--dst-nat", ip])
            if node_port:
                cmds.append(["-p", "udp", "--dport", str(node_port), "--dst-nat", ip])
    for (vip, port, node_port), after in sorted(new.items()):
        if after and not old.get((vip, port, node_port)):     # it rejected before: forget those flows
            cmds.append(["-p", "udp", "--orig-dst", vip])
    return cmds


def delete(cmds: list[list[str]]) -> None:
    """Run each `conntrack -D` in the current network namespace (call it from inside the node's)."""
    for args in cmds:
        subprocess.run(["conntrack", "-D", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=False)
