"""The graph's kernel half: every namespace of a cluster read with rtnetlink dumps (what `ip -j link/addr/route` print).

One plain netlink socket per namespace, opened inside it (a netlink socket stays in the namespace it was made in),
three dumps (links, IPv4 addresses, the main table's routes) parsed with struct: no helper process, no pyroute2
(its import alone costs 150 ms, and its parsing 5 ms a namespace). veth peers are resolved as `ip link` does it:
a veth names its peer's ifindex and the peer namespace's id as seen from its own namespace (IFLA_LINK_NETNSID);
the ids are asked of the kernel (RTM_GETNSID with each namespace's file) in the namespaces that hold the bridges.
snapshot() returns plain data: {netns: {"links": [...], "routes": [...]}} plus "peers": [(ns, if, ns, if)].
"""
import os
import socket
import struct

from toycluster.kernel import nsfs

ROOT = ""                                  # the machine's own namespace, in a snapshot's keys
_HDR = struct.Struct("=IHHII")             # nlmsghdr
_ATTR = struct.Struct("=HH")               # rtattr
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
RTM_NEWLINK, RTM_GETLINK, RTM_NEWADDR, RTM_GETADDR, RTM_NEWROUTE, RTM_GETROUTE = 16, 18, 20, 22, 24, 26
RTM_NEWNSID, RTM_GETNSID = 88, 90
IFLA_ADDRESS, IFLA_IFNAME, IFLA_LINK, IFLA_MASTER, IFLA_LINKINFO, IFLA_LINK_NETNSID = 1, 3, 5, 10, 18, 37
IFLA_INFO_KIND, IFA_ADDRESS, IFA_LOCAL = 1, 1, 2
RTA_DST, RTA_OIF, RTA_GATEWAY = 1, 4, 5
NETNSA_NSID, NETNSA_FD = 1, 3
IFF_UP, IFF_LOWER_UP, RTNH_F_ONLINK, RT_TABLE_MAIN = 0x1, 0x10000, 4, 254
TIMEOUT = 2.0


def _attrs(data: bytes, offset: int, end: int) -> dict[int, bytes]:
    out = {}
    while offset + 4 <= end:
        length, kind = _ATTR.unpack_from(data, offset)
        if length < 4:
            break
        out[kind & 0x3FFF] = data[offset + 4: offset + length]
        offset += (length + 3) & ~3
    return out


def _cstr(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode()


def _messages(sock: socket.socket, seq: int):
    """(type, body) of each answer to request SEQ until NLMSG_DONE; an NLMSG_ERROR raises OSError."""
    while True:
        data, offset = sock.recv(1 << 20), 0
        while offset + _HDR.size <= len(data):
            length, kind, _, got, _ = _HDR.unpack_from(data, offset)
            body = data[offset + _HDR.size: offset + length]
            offset += (length + 3) & ~3
            if got != seq:
                continue
            if kind == NLMSG_DONE:
                return
            if kind == NLMSG_ERROR:
                code = -struct.unpack_from("=i", body)[0]
                if code:
                    raise OSError(code, os.strerror(code))
                return
            yield kind, body


def _dump(sock: socket.socket, seq: int, kind: int, header: bytes):
    sock.send(_HDR.pack(_HDR.size + len(header), kind, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + header)
    return _messages(sock, seq)


def _links(sock) -> list[dict]:
    links = []
    for kind, body in _dump(sock, 1, RTM_GETLINK, struct.pack("=BxHiII", socket.AF_UNSPEC, 0, 0, 0, 0)):
        if kind != RTM_NEWLINK:
            continue
        _, _, index, flags, _ = struct.unpack_from("=BxHiII", body)
        a = _attrs(body, 16, len(body))
        info = _attrs(a[IFLA_LINKINFO], 0, len(a[IFLA_LINKINFO])) if IFLA_LINKINFO in a else {}
        i32 = lambda k: struct.unpack("=i", a[k][:4])[0] if k in a else None      # noqa: E731
        links.append({"index": index, "name": _cstr(a.get(IFLA_IFNAME, b"")),
                      "kind": _cstr(info[IFLA_INFO_KIND]) if IFLA_INFO_KIND in info else "",
                      "up": bool(flags & IFF_UP), "carrier": bool(flags & IFF_LOWER_UP),
                      "mac": a[IFLA_ADDRESS].hex(":") if IFLA_ADDRESS in a else "",
                      "master": i32(IFLA_MASTER), "peer_index": i32(IFLA_LINK), "peer_nsid": i32(IFLA_LINK_NETNSID),
                      "addrs": []})
    return links


def _addrs(sock, links: list[dict]) -> None:
    by_index = {link["index"]: link for link in links}
    for kind, body in _dump(sock, 2, RTM_GETADDR, struct.pack("=BBBBI", socket.AF_INET, 0, 0, 0, 0)):
        if kind != RTM_NEWADDR:
            continue
        _, plen, _, _, index = struct.unpack_from("=BBBBI", body)
        a = _attrs(body, 8, len(body))
        raw = a.get(IFA_LOCAL) or a.get(IFA_ADDRESS)
        if raw and index in by_index:
            by_index[index]["addrs"].append(f"{socket.inet_ntoa(raw)}/{plen}")


def _routes(sock, links: list[dict]) -> list[dict]:
    names = {link["index"]: link["name"] for link in links}
    routes = []
    for kind, body in _dump(sock, 3, RTM_GETROUTE, struct.pack("=BBBBBBBBI", socket.AF_INET, 0, 0, 0, 0, 0, 0, 0, 0)):
        if kind != RTM_NEWROUTE:
            continue
        _, dst_len, _, _, table, proto, scope, rtype, flags = struct.unpack_from("=BBBBBBBBI", body)
        a = _attrs(body, 12, len(body))
        if table != RT_TABLE_MAIN or rtype != 1:          # unicast routes of the main table, as `ip route`
            continue
        dst = f"{socket.inet_ntoa(a[RTA_DST])}/{dst_len}" if RTA_DST in a else "default"
        routes.append({"dst": dst, "via": socket.inet_ntoa(a[RTA_GATEWAY]) if RTA_GATEWAY in a else None,
                       "dev": names.get(struct.unpack("=i", a[RTA_OIF])[0]) if RTA_OIF in a else None,
                       "onlink": bool(flags & RTNH_F_ONLINK), "kernel": proto == 2, "scope": scope})
    return routes


def _nsids(sock, fds: dict[str, int]) -> dict[int, str]:
    """{nsid: namespace} for the namespaces in FDS, as the socket's namespace numbers them (ip netns list-id)."""
    names, seq, out = list(fds), 100, {}
    for i, name in enumerate(names):
        attr = _ATTR.pack(8, NETNSA_FD) + struct.pack("=I", fds[name])
        sock.send(_HDR.pack(_HDR.size + 4 + 8, RTM_GETNSID, NLM_F_REQUEST, seq + i, 0)
                  + struct.pack("=Bxxx", socket.AF_UNSPEC) + attr)
    for i, name in enumerate(names):
        try:
            for kind, body in _messages(sock, seq + i):
                a = _attrs(body, 4, len(body))
                nsid = struct.unpack("=i", a[NETNSA_NSID])[0] if NETNSA_NSID in a else -1
                if kind == RTM_NEWNSID and nsid >= 0:
                    out[nsid] = name
                break
        except TimeoutError:
            break
        except OSError:
            continue
    return out


def read_netns(sock) -> dict:
    """One namespace's links (with their IPv4 addresses) and main-table routes, from a socket opened in it."""
    links = _links(sock)
    _addrs(sock, links)
    return {"links": links, "routes": _routes(sock, links)}


def _open(ns: str) -> socket.socket:
    if ns == ROOT:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    else:
        with nsfs.in_netns(ns):
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    sock.settimeout(TIMEOUT)                   # the kernel answers at once: never wait for ever
    sock.bind((0, 0))
    return sock


def snapshot(cluster: str, host_link: str) -> dict:
    """The kernel state of cluster CLUSTER's namespaces (and of the machine's link HOST_LINK), with veth peers."""
    names = nsfs.list_netns(f"{cluster}.")
    state, fds = {}, {}
    try:
        fds[ROOT] = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        for ns in names:
            try:
                fds[ns] = os.open(nsfs.netns_path(ns), os.O_RDONLY)
            except FileNotFoundError:           # gone meanwhile (a pod deleted)
                continue
        for ns in [ROOT, *fds.keys() - {ROOT}]:
            try:
                sock = _open(ns)
            except OSError:
                continue
            with sock:
                try:
                    state[ns] = read_netns(sock)
                except OSError:                 # a namespace emptied meanwhile (a pod deleted): left out
                    continue
                if ns == ROOT:
                    state[ns]["links"] = [x for x in state[ns]["links"] if x["name"] == host_link]
                    state[ns]["routes"] = [r for r in state[ns]["routes"] if r["dev"] == host_link]
                if ".pod." not in ns and any(x["peer_nsid"] is not None for x in state[ns]["links"]):
                    state[ns]["nsids"] = _nsids(sock, fds)
    finally:
        for fd in fds.values():
            os.close(fd)
    return {"netns": state, "peers": pairs(state)}


def pairs(state: dict) -> list[tuple]:
    """veth pairs (ns, ifname, peer ns, peer ifname), each once, found from the side that knows the peer's ns."""
    index = {(ns, x["index"]): x["name"] for ns, s in state.items() for x in s["links"]}
    found = {}
    for ns, s in sorted(state.items()):
        for x in s["links"]:
            if x["kind"] != "veth" or x["peer_index"] is None:
                continue
            if x["peer_nsid"] is None:
                peer_ns = ns
            elif x["peer_nsid"] in s.get("nsids", {}):
                peer_ns = s["nsids"][x["peer_nsid"]]
            else:
                continue
            peer = index.get((peer_ns, x["peer_index"]))
            if peer is not None:
                a, b = (ns, x["name"]), (peer_ns, peer)
                found[tuple(sorted((a, b)))] = a + b
    return sorted(found.values())
