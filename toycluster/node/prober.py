"""kubelet's prober: readiness and liveness probes (httpGet, tcpSocket, exec), run from the node.

As upstream: the first probe runs after initialDelaySeconds, then every periodSeconds (default 10); a probe
fails after timeoutSeconds (default 1); failureThreshold (default 3) failures in a row make a container
unready (readiness) or get it killed and restarted (liveness); successThreshold (default 1) successes make
it ready again. HTTP probes count 200-399 as success and come from the node's address, as the kubelet's do.
An exec probe runs its command inside the container's namespaces, with the container's environment, through
the container runtime (CRI's ExecSync): here a child of the fork server, as the container itself is.
"""
import asyncio
import contextlib
import os
import signal
import socket

from toycluster.kernel import nsfs

USER_AGENT = "kube-probe/1.31"


def probe_port(container: dict, port) -> int | None:
    """A probe's port: a number, or the name of one of the container's ports."""
    if isinstance(port, int):
        return port
    for p in container.get("ports", []):
        if p.get("name") == port:
            return p["containerPort"]
    return None


async def _connect(node_ns: str, host: str, port: int, timeout: float):
    with nsfs.in_netns(node_ns):        # the socket belongs to the namespace it was made in
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, (host, port)), timeout)
    except BaseException:
        sock.close()
        raise
    return sock


async def http_get(node_ns: str, host: str, port: int, path: str, headers: list, timeout: float) -> bool:
    sock = await _connect(node_ns, host, port, timeout)
    reader, writer = await asyncio.open_connection(sock=sock)
    try:
        extra = "".join(f"{h['name']}: {h['value']}\r\n" for h in headers)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: {USER_AGENT}\r\n"
                     f"Accept: */*\r\n{extra}Connection: close\r\n\r\n".encode())
        line = await asyncio.wait_for(reader.readline(), timeout)
        parts = line.split()
        return len(parts) >= 2 and parts[1].isdigit() and 200 <= int(parts[1]) < 400
    finally:
        writer.close()


async def exec_sync(zygote, netns: str, info: dict, env: dict, command: list, timeout: float) -> int | None:
    """Run COMMAND in pod NETNS (INFO: the container's, as the fork server takes it) and wait for it: its exit
    code, or None if it ran past TIMEOUT seconds (then it is killed)."""
    loop = asyncio.get_running_loop()
    pid = (await zygote.request("fork", netns=netns, kind="exec", what=command, spec={"name": "exec"}, info=info,
                                env=env, log=os.devnull))["pid"]
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:                   # gone already (reaped by the fork server)
        return zygote.exit_code(pid)
    exited = loop.create_future()
    loop.add_reader(pidfd, lambda: exited.done() or exited.set_result(True))
    try:
        await asyncio.wait_for(asyncio.shield(exited), timeout)
    except asyncio.TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)       # the command and whatever it started (it leads a session)
        await exited
        zygote.exit_code(pid)
        return None
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)
    return zygote.exit_code(pid)


async def run_once(probe: dict, container: dict, pod_ip: str, node_ns: str, run_exec) -> bool:
    """One probe: True if it passed.  RUN_EXEC(command, timeout) runs an exec probe's command in the container
    (exec_sync, bound to it) and answers its exit code (None: timed out)."""
    timeout = probe.get("timeoutSeconds", 1)
    try:
        if "httpGet" in probe:
            h = probe["httpGet"]
            port = probe_port(container, h.get("port"))
            return port is not None and await http_get(node_ns, h.get("host") or pod_ip, port, h.get("path", "/"),
                                                       h.get("httpHeaders", []), timeout)
        if "tcpSocket" in probe:
            port = probe_port(container, probe["tcpSocket"].get("port"))
            if port is None:
                return False
            (await _connect(node_ns, probe["tcpSocket"].get("host") or pod_ip, port, timeout)).close()
            return True
        if "exec" in probe:
            return await run_exec(probe["exec"]["command"], timeout) == 0
    except (OSError, asyncio.TimeoutError, ValueError, RuntimeError):
        return False
    return False


async def probe_loop(kind: str, probe: dict, alive, once, on_result) -> None:
    """Run PROBE while alive() is true; call on_result(True/False) when the verdict changes."""
    await asyncio.sleep(probe.get("initialDelaySeconds", 0))
    successes = failures = 0
    verdict = None
    while alive():
        ok = await once()
        successes, failures = (successes + 1, 0) if ok else (0, failures + 1)
        if ok and successes >= probe.get("successThreshold", 1) and verdict is not True:
            verdict = True
            on_result(True)
        elif not ok and failures >= probe.get("failureThreshold", 3) and verdict is not False:
            verdict = False
            on_result(False)
            if kind == "liveness":
                return
        await asyncio.sleep(probe.get("periodSeconds", 10))
