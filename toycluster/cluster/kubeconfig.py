"""kind's kubeconfig handling: the cluster's admin kubeconfig, merged into root's ~/.kube/config as a context.

`up` makes the API server's serving certificate and an admin client certificate (CN kubernetes-admin, group
system:masters, as kubeadm's admin.conf) from the cluster CA, writes /var/lib/toycluster/NAME/kubeconfig and
merges cluster, user and context `toycluster-NAME` into the kubeconfig kubectl reads ($KUBECONFIG's first file,
else ~/.kube/config), making it current, as `kind create cluster` does with `kind-NAME`; `down` takes the three
entries out again. The merge holds a lock, so clusters made side by side do not lose each other's entries.
"""
import contextlib
import fcntl
import os

import yaml

from toycluster.api import pki
from toycluster.config import write_atomic

API_PORT = 6443


def context_name(cluster: str) -> str:
    return f"toycluster-{cluster}"


def server_url(cfg) -> str:
    return f"https://{cfg.node_ip(1)}:{API_PORT}"


def paths(cfg) -> dict:
    d = f"{cfg.state_dir}/pki"
    return {"server": (f"{d}/apiserver.crt", f"{d}/apiserver.key"), "admin": (f"{d}/admin.crt", f"{d}/admin.key"),
            "kubeconfig": f"{cfg.state_dir}/kubeconfig"}


def server_names(cfg) -> list[str]:
    """The serving certificate's names: the node's address, the kubernetes Service's, its DNS names."""
    import ipaddress
    svc = str(ipaddress.ip_network(cfg.service_cidr)[1])
    return [cfg.node_ip(1), svc, "127.0.0.1", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local", "localhost", f"{cfg.name}-control-plane"]


def make_certificates(cfg) -> None:
    """The serving and the admin certificate (made once; the CA must exist)."""
    ca_cert, ca_key = pki.ca_paths(cfg.state_dir)
    with open(ca_cert, "rb") as f:
        ca = f.read()
    with open(ca_key, "rb") as f:
        key = f.read()
    p = paths(cfg)
    for which, client in (("server", None), ("admin", ("kubernetes-admin", "system:masters"))):
        crt, k = p[which]
        if not os.path.exists(crt):
            cert_pem, key_pem = pki.issue(ca, key, server_names(cfg), days=3650, client=client)
            write_atomic(k, key_pem, mode=0o600)
            write_atomic(crt, cert_pem)


def document(cfg) -> dict:
    """The cluster's kubeconfig: certificates inline, so the file stands alone."""
    import base64
    p, name = paths(cfg), context_name(cfg.name)
    read = lambda path: base64.b64encode(open(path, "rb").read()).decode()   # noqa: E731
    return {"apiVersion": "v1", "kind": "Config", "preferences": {}, "current-context": name,
            "clusters": [{"name": name, "cluster": {"server": server_url(cfg),
                                                     "certificate-authority-data": read(pki.ca_paths(cfg.state_dir)[0])}}],
            "users": [{"name": name, "user": {"client-certificate-data": read(p["admin"][0]),
                                               "client-key-data": read(p["admin"][1])}}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}]}


def write(cfg) -> str:
    """Certificates, the cluster's own kubeconfig, and the merge into the user's. Returns the user's file."""
    make_certificates(cfg)
    doc = document(cfg)
    write_atomic(paths(cfg)["kubeconfig"], yaml.safe_dump(doc, sort_keys=False).encode(), mode=0o600)
    with _locked_user_config() as (path, cur):
        for section in ("clusters", "users", "contexts"):
            cur[section] = [e for e in cur.get(section) or [] if e.get("name") != doc[section][0]["name"]]
            cur[section].append(doc[section][0])
        cur["current-context"] = doc["current-context"]
    return path


def remove(cluster: str) -> None:
    """Take cluster CLUSTER's entries out of the user's kubeconfig (nothing if they are not there)."""
    name = context_name(cluster)
    with _locked_user_config(create=False) as (_, cur):
        for section in ("clusters", "users", "contexts"):
            if cur.get(section):
                cur[section] = [e for e in cur[section] if e.get("name") != name]
        if cur.get("current-context") == name:
            cur["current-context"] = ""


def user_config_path() -> str:
    first = (os.environ.get("KUBECONFIG") or "").split(":")[0]
    return first or os.path.expanduser("~/.kube/config")


@contextlib.contextmanager
def _locked_user_config(create: bool = True):
    """(path, the parsed document) under a lock; written back when the block ends without error."""
    path = user_config_path()
    if not create and not os.path.exists(path):
        yield path, {}
        return
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    with open("/run/toycluster-kubeconfig.lock" if os.path.isdir("/run") else path + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with open(path) as f:
                cur = yaml.safe_load(f) or {}
        except FileNotFoundError:
            cur = {}
        if not isinstance(cur, dict):
            raise ValueError(f"{path}: not a kubeconfig (a YAML mapping); left as it is")
        cur.setdefault("apiVersion", "v1")
        cur.setdefault("kind", "Config")
        before = yaml.safe_dump(cur, sort_keys=False)
        yield path, cur
        if yaml.safe_dump(cur, sort_keys=False) != before:
            write_atomic(path, yaml.safe_dump(cur, sort_keys=False).encode(), mode=0o600)
