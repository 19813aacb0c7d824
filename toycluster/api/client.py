"""client-go: a small client of the API server's Unix socket (used by the CLI, DNS and ingress)."""
from __future__ import annotations

import http.client
import json
import socket
import urllib.parse

from toycluster.config import STATE_ROOT


def socket_path(cluster: str) -> str:
    return f"{STATE_ROOT}/{cluster}/api.sock"


class APIUnavailable(Exception):
    pass


class APIRequestError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class Client:
    def __init__(self, cluster: str, timeout: float = 30):
        self.cluster, self.path, self.timeout = cluster, socket_path(cluster), timeout

    def request(self, method: str, path: str, body=None, **query):
        query = {k: v for k, v in query.items() if v is not None}
        target = path + ("?" + urllib.parse.urlencode(query) if query else "")
        conn = _UnixConnection(self.path, self.timeout)
        try:
            data = json.dumps(body).encode() if body is not None else None
            conn.request(method, target, body=data, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            payload = json.loads(resp.read() or b"{}")
        except (FileNotFoundError, ConnectionRefusedError) as e:
            raise APIUnavailable(f"the control plane of cluster {self.cluster} is not answering "
                                 f"({self.path}: {e.strerror})") from e
        except TimeoutError as e:
            raise APIUnavailable(f"the control plane of cluster {self.cluster} did not answer within "
                                 f"{self.timeout:g}s ({self.path})") from e
        finally:
            conn.close()
        if resp.status >= 400:
            raise APIRequestError(resp.status, payload.get("error", f"HTTP {resp.status}"))
        return payload

    def list(self, kind: str, namespace: str | None = None) -> list[dict]:
        return self.request("GET", f"/api/{kind}", namespace=namespace)["items"]

    def get(self, kind: str, namespace: str, name: str) -> dict | None:
        try:
            return self.request("GET", f"/api/{kind}/{namespace or '-'}/{name}")
        except APIRequestError as e:
            if e.status == 404:
                return None
            raise

    def apply(self, items: list[dict]) -> list[str]:
        return self.request("POST", "/apply", {"items": items})["results"]

    def delete(self, kind: str, namespace: str, name: str) -> str:
        return self.request("DELETE", f"/api/{kind}/{namespace or '-'}/{name}")["result"]

    def scale(self, kind: str, namespace: str, name: str, replicas: int) -> str:
        return self.request("POST", "/scale", {"kind": kind, "namespace": namespace, "name": name,
                                               "replicas": replicas})["result"]

    def label(self, kind: str, namespace: str, name: str, labels: dict, overwrite: bool = False) -> str:
        return self.request("POST", "/label", {"kind": kind, "namespace": namespace, "name": name,
                                               "labels": labels, "overwrite": overwrite})["result"]

    def watch(self, resource_version: int, timeout: float = 30, kinds=None) -> dict:
        return self.request("GET", "/watch", resourceVersion=resource_version, timeout=timeout,
                            kinds=",".join(kinds) if kinds else None)

    def healthy(self) -> bool:
        try:
            self.request("GET", "/healthz")
            return True
        except (APIUnavailable, APIRequestError, OSError):
            return False
