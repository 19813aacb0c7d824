"""kubelet's streaming server: what its requests share: the query's flags, the container a request names and
whether it runs, and a refusal before switching protocols as an upstream Status with its HTTP code."""
import contextlib
import json

from toycluster.api.status import status


class StreamError(Exception):
    """Refused before switching protocols: CODE and MESSAGE become an upstream Status."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


def flag(query: dict, name: str, default: bool = False) -> bool:
    values = query.get(name)
    return default if not values else values[-1].lower() in ("true", "1", "yes")


def container_of(pod: dict, query: dict) -> dict:
    """The container the request names (the only one when it names none), or StreamError 400."""
    name, pod_name = (query.get("container") or [""])[-1], pod["metadata"]["name"]
    containers = pod["spec"]["containers"]
    if not name:
        if len(containers) != 1:
            raise StreamError(400, f"a container name must be specified for pod {pod_name}, choose one of: "
                                   f"[{' '.join(c['name'] for c in containers)}]")
        return containers[0]
    for c in containers:
        if c["name"] == name:
            return c
    raise StreamError(400, f"container {name} is not valid for pod {pod_name}")


def running(pod: dict, container: dict) -> None:
    """StreamError 400 unless CONTAINER runs (upstream's words for a waiting or terminated one)."""
    state = next((s.get("state", {}) for s in pod.get("status", {}).get("containerStatuses", [])
                  if s.get("name") == container["name"]), {})
    if "running" not in state:
        why = (state.get("waiting") or {}).get("reason") or "ContainerCreating"
        raise StreamError(400, f'container {container["name"]} is not running' if "terminated" in state else
                          f'container "{container["name"]}" in pod "{pod["metadata"]["name"]}" is waiting to start: '
                          f'{why.split(":")[0]}')


async def refuse(writer, code: int, message: str) -> None:
    """An upstream Status with its HTTP code, then the connection closed."""
    body = json.dumps(status(code, message)).encode()
    writer.write(f"HTTP/1.1 {code} {_REASONS.get(code, 'Error')}\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
    with contextlib.suppress(ConnectionError):
        await writer.drain()
    writer.close()


_REASONS = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 500: "Internal Server Error",
            501: "Not Implemented"}
