"""kube-proxy's names (upstream pkg/proxy/iptables and pkg/proxy's ServicePortName): the service port's
name, and the chains named after a hash of it, KUBE-SVC/SVL/EXT/FW/SEP-<16 chars of base32(sha256)>.
"""

from __future__ import annotations

import functools

from toycluster.kernel.iptables_chains import chain_hash

# Chains of ours that may come and go; anything else is either a top-level chain (always present)
# or someone else's.  Same prefixes as upstream isServiceChainName().
SERVICE_CHAIN_PREFIXES = ("KUBE-SVC-", "KUBE-SVL-", "KUBE-EXT-", "KUBE-FW-", "KUBE-SEP-")


@functools.lru_cache(maxsize=65536)
def port_proto_hash(svc_port_name: str, protocol: str) -> str:
    """First 16 chars of base32(sha256(servicePortName + protocol)), as upstream portProtoHash()."""
    return chain_hash(svc_port_name + protocol.lower())


@functools.lru_cache(maxsize=262144)
def endpoint_chain_name(svc_port_name: str, protocol: str, endpoint: str) -> str:
    """KUBE-SEP-<hash of servicePortName + protocol + "ip:port">, as upstream servicePortEndpointChainName()."""
    return "KUBE-SEP-" + chain_hash(svc_port_name + protocol.lower() + endpoint)


def service_port_name(namespace: str, name: str, port_name: str = "") -> str:
    """ServicePortName.String(): "ns/name:port", or "ns/name" for an unnamed port."""
    return f"{namespace}/{name}" + (f":{port_name}" if port_name else "")
