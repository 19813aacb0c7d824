"""Container runtime plumbing: rtnetlink requests sent in batches on one plain netlink socket.

This is what `ip -batch` does: several requests in one send(), the kernel answering each with an
acknowledgement. pyroute2 encodes the messages (its ifinfmsg, ifaddrmsg and rtmsg classes, the same
fields `ip` fills); the socket is a plain AF_NETLINK one, so a request costs one system call rather
than a round of pyroute2's own event loop (about 1 ms each). The CNI plugin's ADD uses it: a pod's
whole plumbing is three batches.
"""
import errno
import os
import socket
import struct

from pyroute2.netlink import NLM_F_ACK, NLM_F_CREATE, NLM_F_ECHO, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST, NLMSG_ERROR
from pyroute2.netlink.rtnl import RTM_GETLINK, RTM_NEWADDR, RTM_NEWLINK, RTM_NEWROUTE
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

IFF_UP = 1
RTPROT_STATIC, RT_TABLE_MAIN, RTN_UNICAST = 4, 254, 1
CREATE, REPLACE = NLM_F_CREATE | NLM_F_EXCL, NLM_F_CREATE | NLM_F_REPLACE
_HEADER = struct.Struct("=IHHII")       # struct nlmsghdr: length, type, flags, sequence, port


def message(cls, kind: int, fields: dict, attrs: list, flags: int = 0) -> tuple:
    """One request: pyroute2's message class, the message type, its header fields, its attributes and any
    flags beyond request-and-acknowledge; encoded when sent."""
    return cls, kind, fields, attrs, flags


def link_up(index: int):
    """`ip link set dev INDEX up`."""
    return message(ifinfmsg, RTM_NEWLINK, {"index": index, "flags": IFF_UP, "change": IFF_UP}, [])


def veth(name: str, master: int, peer: str, peer_netns_fd: int, peer_index: int = 0):
    """`ip link add NAME master MASTER up type veth peer name PEER index PEER_INDEX netns FD`; the peer
    stays down (the kernel refuses to bring a peer up in another namespace while it is created)."""
    peer_msg = {"index": peer_index, "attrs": [("IFLA_IFNAME", peer), ("IFLA_NET_NS_FD", peer_netns_fd)]}
    info = [("IFLA_INFO_KIND", "veth"), ("IFLA_INFO_DATA", {"attrs": [("VETH_INFO_PEER", peer_msg)]})]
    return message(ifinfmsg, RTM_NEWLINK, {"flags": IFF_UP, "change": IFF_UP},
                   [("IFLA_IFNAME", name), ("IFLA_MASTER", master), ("IFLA_LINKINFO", {"attrs": info})],
                   CREATE | NLM_F_ECHO)


def hairpin(index: int):
    """`ip link set dev INDEX type bridge_slave hairpin on` (`bridge link set dev INDEX hairpin on`)."""
    info = [("IFLA_INFO_SLAVE_KIND", "bridge"), ("IFLA_INFO_SLAVE_DATA", {"attrs": [("IFLA_BRPORT_MODE", 1)]})]
    return message(ifinfmsg, RTM_NEWLINK, {"index": index}, [("IFLA_LINKINFO", {"attrs": info})])


def address(index: int, ip: str, prefixlen: int):
    """`ip addr replace IP/PREFIXLEN dev INDEX`."""
    return message(ifaddrmsg, RTM_NEWADDR, {"family": socket.AF_INET, "prefixlen": prefixlen, "index": index},
                   [("IFA_LOCAL", ip), ("IFA_ADDRESS", ip)], REPLACE)


def default_route(gateway: str):
    """`ip route replace default via GATEWAY` (proto static, as `ip route` adds it)."""
    return message(rtmsg, RTM_NEWROUTE, {"family": socket.AF_INET, "table": RT_TABLE_MAIN, "proto": RTPROT_STATIC,
                                         "scope": 0, "type": RTN_UNICAST}, [("RTA_GATEWAY", gateway)], REPLACE)


class Socket:
    """A netlink socket in the network namespace of the thread that made it (it stays there)."""

    def __init__(self, where: str):
        self.where = where                       # for error messages: the namespace's name
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()

    def send(self, requests: list, what: str) -> list:
        """Send REQUESTS in one batch and read every answer. Returns, per request, its error number (0 for
        success) and the index of any link the kernel echoed back; raises OSError naming WHAT on the first
        failure unless the caller asked for errors back (see `try_send`)."""
        results = self.try_send(requests)
        for code, _ in results:
            if code:
                raise OSError(code, f"{what} in {self.where}: {os.strerror(code)}")
        return results

    def try_send(self, requests: list) -> list:
        first, chunks = self.seq + 1, []
        for cls, kind, fields, attrs, flags in requests:
            self.seq += 1
            msg = cls()
            for key, value in fields.items():
                msg[key] = value
            msg["attrs"] = attrs
            msg["header"].update(type=kind, flags=NLM_F_REQUEST | NLM_F_ACK | flags, sequence_number=self.seq)
            msg.encode()
            chunks.append(msg.data)
        self.sock.send(b"".join(chunks))
        results = {seq: [None, 0] for seq in range(first, self.seq + 1)}
        waiting = len(results)
        while waiting:
            data = self.sock.recv(1 << 16)
            offset = 0
            while offset + _HEADER.size <= len(data):
                length, kind, _, seq, _ = _HEADER.unpack_from(data, offset)
                if seq in results:
                    if kind == NLMSG_ERROR:
                        results[seq][0] = -struct.unpack_from("=i", data, offset + 16)[0]
                        waiting -= 1
                    elif kind == RTM_NEWLINK:          # an echo: struct ifinfomsg's index is at 4
                        results[seq][1] = struct.unpack_from("=i", data, offset + 16 + 4)[0]
                offset += (length + 3) & ~3
        return [tuple(results[seq]) for seq in range(first, self.seq + 1)]

    def link_index(self, name: str) -> int | None:
        """The index of link NAME here, or None (`ip link show NAME`)."""
        data = self._get_link(name)
        return None if data is None else struct.unpack_from("=i", data, 16 + 4)[0]

    def link_flags(self, name: str) -> int | None:
        """The IFF_* flags of link NAME here (IFF_UP = 1: set up), or None if there is no such link."""
        data = self._get_link(name)
        return None if data is None else struct.unpack_from("=I", data, 16 + 8)[0]

    def _get_link(self, name: str) -> bytes | None:
        """RTM_GETLINK for NAME: the answer (its struct ifinfomsg at 16), or None for ENODEV."""
        self.seq += 1
        msg = ifinfmsg()
        msg["attrs"] = [("IFLA_IFNAME", name)]
        msg["header"].update(type=RTM_GETLINK, flags=NLM_F_REQUEST, sequence_number=self.seq)
        msg.encode()
        self.sock.send(msg.data)
        while True:
            data = self.sock.recv(1 << 16)
            length, kind, _, seq, _ = _HEADER.unpack_from(data, 0)
            if seq != self.seq:
                continue
            if kind == NLMSG_ERROR:
                code = -struct.unpack_from("=i", data, 16)[0]
                if code == errno.ENODEV:
                    return None
                raise OSError(code, f"ip link show {name} in {self.where}: {os.strerror(code)}")
            return data
