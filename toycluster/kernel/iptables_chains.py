"""iptables chain names (netfilter's, kernel side): each table's built-in chains, and the short hash that
kube-proxy's and kube-router's own chains carry (KUBE-SVC-<16>, KUBE-NWPLCY-<16>...).

A user-defined chain's name holds at most 28 characters, so upstream names a chain after a hash of what it
stands for: 16 characters of base32(sha256(text)), always uppercase letters and digits 2-7.
"""

from __future__ import annotations

import base64
import hashlib

NAT_BUILTINS = ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING")
FILTER_BUILTINS = ("INPUT", "FORWARD", "OUTPUT")
BUILTINS = {"nat": NAT_BUILTINS, "filter": FILTER_BUILTINS}


def chain_hash(text: str) -> str:
    """16 characters of base32(sha256(TEXT)): exactly the first 10 bytes of the digest."""
    return base64.b32encode(hashlib.sha256(text.encode()).digest()[:10]).decode()
