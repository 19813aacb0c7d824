"""Container images: the built-in stand-ins, "sleeper" (busybox, alpine, pause: nothing but waiting) and "tcp"
(postgres, redis, mysql...: a one-line banner, then a byte echo on every declared port, where a database would be).
"""
import asyncio
import signal

from toycluster.node.entrypoint import serve
from toycluster.node.workloads import listen_ports, normalise


def pause(container: dict, pod: dict) -> None:
    """The entry point of "sleeper": wait for SIGTERM (never returns)."""
    while True:
        signal.pause()


class TCPStandIn(asyncio.Protocol):
    """A one-line banner, then every byte echoed back until the client closes."""

    def __init__(self, image: str, pod: dict, port: int):
        self.image, self.pod, self.port = image, pod, port

    def connection_made(self, transport):
        self.t = transport
        ip = self.pod.get("ip") or transport.get_extra_info("sockname")[0]
        pod = f"{self.pod.get('namespace') or 'default'}/{self.pod.get('name') or ''}"
        transport.write(f"{self.image} stand-in on {pod} ({ip}:{self.port})\n".encode())

    def data_received(self, data):
        self.t.write(data)


def tcp(container: dict, pod: dict) -> None:
    """The entry point of "tcp" (never returns): a TCPStandIn on every port the container declares (else the
    image's default)."""
    image = normalise(container.get("image") or "")
    serve([(port, lambda port=port: TCPStandIn(image, pod, port)) for port in listen_ports(container)])
