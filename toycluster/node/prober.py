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
import errno
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


async def http_get(node_ns: str, host: str, port: int, path: str, headers: list, timeout: float) -> int:
    """GET PATH from HOST:PORT, from the node: the response's status code (OSError or TimeoutError if none)."""
    sock = await _connect(node_ns, host, port, timeout)
    reader, writer = await asyncio.open_connection(sock=sock)
    try:
        extra = "".join(f"{h['name']}: {h['value']}\r\n" for h in headers)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: {USER_AGENT}\r\n"
                     f"Accept: */*\r\n{extra}Connection: close\r\n\r\n".encode())
        parts = (await asyncio.wait_for(reader.readline(), timeout)).split()
        if len(parts) < 2 or not parts[1].isdigit():
            raise ConnectionResetError(errno.ECONNRESET, "malformed HTTP response")
        return int(parts[1])
    finally:
        writer.close()


def dial_error(host: str, port: int, e: BaseException) -> str:
    """What Go's dialer says of E, as the kubelet's probe messages show it."""
    if isinstance(e, (asyncio.TimeoutError, TimeoutError)):
        return f"dial tcp {host}:{port}: i/o timeout"
    words = {errno.ECONNREFUSED: "connection refused", errno.EHOSTUNREACH: "no route to host",
             errno.ENETUNREACH: "network is unreachable", errno.ECONNRESET: "connection reset by peer"}
    what = words.get(getattr(e, "errno", None), getattr(e, "strerror", None) or str(e))
    return f"dial tcp {host}:{port}: connect: {what}"


async def exec_sync(zygote, netns: str, info: dict, env: dict, command: list, timeout: float,
                    output: str = os.devnull) -> int | None:
    """Run COMMAND in pod NETNS (INFO: the container's, as the fork server takes it) and wait for it: its exit
    code, or None if it ran past TIMEOUT seconds (then it is killed). Its stdout and stderr go to OUTPUT."""
    loop = asyncio.get_running_loop()
    pid = (await zygote.request("fork", netns=netns, kind="exec", what=command, spec={"name": "exec"}, info=info,
                                env=env, log=output))["pid"]
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


def exec_runner(zygote, netns: str, info: dict, env: dict, out: str):
    """run(command, timeout) -> (exit code or None if it timed out, its output, at most 10 KiB, as upstream
    keeps of a probe's): exec_sync bound to one container, its output kept in the file OUT while it runs."""
    async def run(command: list, timeout: float) -> tuple[int | None, str]:
        try:
            open(out, "w").close()
        except OSError:                         # no log directory (the pod is going): no output then
            return await exec_sync(zygote, netns, info, env, command, timeout), ""
        code = await exec_sync(zygote, netns, info, env, command, timeout, output=out)
        try:
            with open(out, errors="replace") as f:
                return code, f.read(10240).strip()
        except OSError:
            return code, ""
    return run


async def _http(probe: dict, container: dict, pod_ip: str, node_ns: str, timeout: float) -> tuple[bool, str]:
    h = probe["httpGet"]
    port, host = probe_port(container, h.get("port")), h.get("host") or pod_ip
    path = h.get("path", "/")
    url = f'{h.get("scheme", "HTTP").lower()}://{host}:{port}{path if path.startswith("/") else "/" + path}'
    if port is None:
        return False, f"Get \"{url}\": invalid port {h.get('port')!r}"
    try:
        code = await http_get(node_ns, host, port, path, h.get("httpHeaders", []), timeout)
    except (asyncio.TimeoutError, TimeoutError):
        return False, f'Get "{url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)'
    except OSError as e:
        return False, f'Get "{url}": {dial_error(host, port, e)}'
    if 200 <= code < 400:
        return True, ""
    return False, f"HTTP probe failed with statuscode: {code}"


async def probe_once(probe: dict, container: dict, pod_ip: str, node_ns: str, run_exec) -> tuple[bool, str]:
    """One probe: (passed, the kubelet's output when it failed).  RUN_EXEC(command, timeout) runs an exec
    probe's command in the container (exec_sync, bound to it) and answers (exit code or None: timed out,
    the command's output)."""
    timeout = probe.get("timeoutSeconds", 1)
    try:
        if "httpGet" in probe:
            return await _http(probe, container, pod_ip, node_ns, timeout)
        if "tcpSocket" in probe:
            host = probe["tcpSocket"].get("host") or pod_ip
            port = probe_port(container, probe["tcpSocket"].get("port"))
            if port is None:
                return False, f"dial tcp {host}: unknown port {probe['tcpSocket'].get('port')!r}"
            try:
                (await _connect(node_ns, host, port, timeout)).close()
            except (OSError, asyncio.TimeoutError) as e:
                return False, dial_error(host, port, e)
            return True, ""
        if "exec" in probe:
            command = probe["exec"]["command"]
            code, out = await run_exec(command, timeout)
            if code is None:
                return False, f"command {' '.join(command)!r} timed out".replace("'", '"')
            return code == 0, out
    except (OSError, asyncio.TimeoutError, ValueError, RuntimeError) as e:
        return False, str(e)
    return False, "no probe handler"


async def probe_loop(kind: str, probe: dict, alive, once, on_result, on_failure=None) -> None:
    """Run PROBE while alive() is true; call on_result(True/False) when the verdict changes, and
    on_failure(output) after every failed probe (the kubelet's Unhealthy event)."""
    await asyncio.sleep(probe.get("initialDelaySeconds", 0))
    successes = failures = 0
    verdict = None
    while alive():
        ok, output = await once()
        if not alive():
            return
        successes, failures = (successes + 1, 0) if ok else (0, failures + 1)
        if not ok and on_failure is not None:
            on_failure(output)
        if ok and successes >= probe.get("successThreshold", 1) and verdict is not True:
            verdict = True
            on_result(True)
        elif not ok and failures >= probe.get("failureThreshold", 3) and verdict is not False:
            verdict = False
            on_result(False)
            if kind == "liveness":
                return
        await asyncio.sleep(probe.get("periodSeconds", 10))
