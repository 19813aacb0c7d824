"""Container runtime (containerd's side of the CRI): pod sandboxes — the network namespace, CNI ADD and DEL,
the pod's /etc files — made in a process of their own ("toycluster runtime CLUSTER", forked by the control
plane as it starts; `python -m toycluster.node.runtime CLUSTER` if it has to be started again).

As with containerd, the kubelet asks and the runtime does the kernel work: RunPodSandbox creates the pod's
network namespace, calls the CNI plugin (cni.py, whose host-local IPAM keeps its leases on disk) and writes
the files the kubelet decided (hosts, hostname, resolv.conf); its answer carries the pod's IP.
RemovePodSandbox calls CNI DEL and deletes the namespace. Requests come over jsonpipe. In a process of its
own this work neither waits for the control plane's interpreter lock nor makes it wait, and the fork
server (zygote.py), which forks the containers, stays small.
"""
import contextlib
import gc
import os
import shutil

import setproctitle

from toycluster.node import cni
from toycluster.node import cri
from toycluster.kernel import nsfs, procs

_ipams: dict[str, cni.IPAM] = {}      # one per node, loaded from its directory on first use


def hosts_file(ip: str, hostname: str, fqdn: str | None) -> str:
    """The kubelet-managed /etc/hosts of a pod."""
    names = f"{fqdn}\t{hostname}" if fqdn else hostname
    return ("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
            "fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n"
            f"{ip}\t{names}\n")


def _ipam(req: dict) -> cni.IPAM:
    if req["ipam_dir"] not in _ipams:
        _ipams[req["ipam_dir"]] = cni.IPAM(req["ipam_dir"], req["subnet"])
    return _ipams[req["ipam_dir"]]


def run_sandbox(req: dict) -> dict:
    """RunPodSandbox: the network namespace (kept if it exists: CNI ADD is safe to repeat), CNI ADD, and
    the pod's hosts, hostname and resolv.conf where `ip netns exec` finds them. Answers {"ip", "fresh"}."""
    if req.get("error"):                     # the kubelet could not make the pod's config (a too long FQDN)
        raise ValueError(req["error"])
    netns = req["netns"]
    fresh = not nsfs.netns_exists(netns)
    if fresh:
        nsfs.create_netns(netns)
    result = cni.add(req["node_netns"], netns, _ipam(req), req["owner"], req["gateway"])
    ip = result["ips"][0]["address"].split("/")[0]
    etc = nsfs.etc_dir(netns)
    os.makedirs(etc, exist_ok=True)
    files = {"hosts": hosts_file(ip, req.get("short_hostname", req["hostname"]), req["fqdn"]),
             "hostname": req["hostname"] + "\n", "resolv.conf": req["resolv_conf"]}
    for name, text in files.items():
        with open(f"{etc}/{name}", "w") as f:
            f.write(text)
    os.makedirs(req["log_dir"], exist_ok=True)
    return {"ip": ip, "fresh": fresh}


def remove_sandbox(req: dict) -> dict:
    """RemovePodSandbox: CNI DEL, the namespace unpinned, its /etc files and logs removed."""
    cni.delete(req["node_netns"], req["netns"], _ipam(req), req["owner"])
    nsfs.delete_netns(req["netns"])
    shutil.rmtree(nsfs.etc_dir(req["netns"]), ignore_errors=True)
    shutil.rmtree(req["log_dir"], ignore_errors=True)
    return {}


def list_containers(netns: str, names: list) -> dict:
    """CRI's ListContainers, read from the kernel (for the kubelet, in its own process): the container processes
    in pod NETNS, {container name: pid}, and None: [other session leaders]. Containers lead their sessions and
    are titled "... container NAME"; a one-container pod's first leader is its container."""
    found, others = {}, []
    for pid in nsfs.pids_in_netns([netns]):
        with contextlib.suppress(OSError):
            if os.getsid(pid) != pid:
                continue
            title = procs.cmdline(pid)
            if title is None:
                continue
            name = next((n for n in names if f" container {n}" in title), None)
            if name is None and len(names) == 1 and not found:
                name = names[0]
            if name and name not in found:
                found[name] = pid
            else:
                others.append(pid)
    found[None] = others
    return found


def runs_in(pid: int, netns: str) -> bool:
    """Does PID run in network namespace NETNS?"""
    try:
        return procs.net_inode(pid) == nsfs.netns_inode(netns)
    except OSError:
        return False


def handle(req: dict) -> dict:
    try:
        return run_sandbox(req) if req["op"] == "sandbox" else remove_sandbox(req)
    except Exception as e:       # noqa: BLE001 - the answer says what failed; the runtime goes on
        return {"error": str(e) or type(e).__name__}


class Runtime(cri.Client):
    """The control plane's handle on its runtime: request("sandbox", ...) answers {"ip", "fresh"};
    request("remove", ...) answers {}."""
    module = "node.runtime"

    def fork(self) -> None:
        """Start the runtime as a fork of the calling process, the control plane before its event loop and
        threads exist: it shares the interpreter's and pyroute2's pages rather than loading its own (about
        20 MB less in all, and no second start-up of ~0.2 s while `up` waits)."""
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.dup2(to_r, 0)
                os.dup2(from_w, 1)
                os.closerange(3, 1 << 16)       # 2 stays: the control plane's log
                setproctitle.setproctitle(f"toycluster runtime {self.cluster}")
                gc.freeze()                     # the collector never walks (and so never copies) those pages
                cri.serve(handle)
            finally:
                os._exit(0)
        os.close(to_r)
        os.close(from_w)
        self.attach(pid, to_w, from_r)


if __name__ == "__main__":
    cri.serve(handle)
