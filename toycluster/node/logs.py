"""kubelet's pods/log: a container's log as the runtime writes it (STATE/logs/NS_POD/CONTAINER.log, and .previous for
the instance before the last restart), with upstream's parameters: container, previous, tailLines, sinceSeconds,
sinceTime, timestamps, limitBytes and follow (until the container stops or restarts).

The runtime sends a container's output straight into its file, so no line carries the time it was written:
with timestamps=true a line already in the file is stamped with the file's last write (an upper bound), a line
that arrives while following with the time it was read; sinceSeconds and sinceTime keep or drop what is already
in the file by that same last write.
"""
import asyncio
import contextlib
import datetime
import os
import time

from toycluster.node.stream_request import StreamError, container_of, flag, refuse

POLL = 0.1                  # a follower looks for new output this often


def log_path(cfg, pod: dict, container: str, previous: bool) -> str:
    meta = pod["metadata"]
    return f"{cfg.state_dir}/logs/{meta['namespace']}_{meta['name']}/{container}.log" + (".previous" if previous
                                                                                          else "")


def still_running(pod: dict | None, container: str) -> bool:
    """CONTAINER of POD (the pod as the store has it now; None: gone) is running."""
    if pod is None or pod["metadata"].get("deletionTimestamp"):
        return False
    return any(s.get("name") == container and "running" in s.get("state", {})
               for s in pod.get("status", {}).get("containerStatuses", []))


def rfc3339nano(t: float) -> bytes:
    """2026-12-07T01:02:03.123456789Z, as the container runtime's log lines carry."""
    whole = datetime.datetime.fromtimestamp(int(t), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{whole}.{int((t % 1) * 1e9):09d}Z".encode()


def stamp(data: bytes, t: float, at_line_start: bool) -> tuple[bytes, bool]:
    """DATA with the time T before every line that starts in it; whether the next chunk starts a line."""
    prefix, out = rfc3339nano(t) + b" ", bytearray()
    for line in data.splitlines(keepends=True):
        if at_line_start:
            out += prefix
        out += line
        at_line_start = line.endswith(b"\n")
    return bytes(out), at_line_start


def options(query: dict) -> dict:
    """The log parameters, or StreamError 400 for a malformed number."""
    out = {"follow": flag(query, "follow"), "previous": flag(query, "previous"),
           "timestamps": flag(query, "timestamps")}
    for name in ("tailLines", "sinceSeconds", "limitBytes"):
        value = (query.get(name) or [""])[-1]
        if value and not value.lstrip("-").isdigit():
            raise StreamError(400, f'{name}: Invalid value: "{value}": must be an integer')
        out[name] = int(value) if value else None
        if out[name] is not None and out[name] < (0 if name == "tailLines" else 1):
            raise StreamError(422, f"{name}: Invalid value: {out[name]}: must be greater than "
                                   f"{'or equal to 0' if name == 'tailLines' else '0'}")
    since = (query.get("sinceTime") or [""])[-1]
    out["since"] = time.time() - out["sinceSeconds"] if out["sinceSeconds"] else None
    if since:
        with contextlib.suppress(ValueError):
            out["since"] = datetime.datetime.fromisoformat(since.replace("Z", "+00:00")).timestamp()
    return out


def existing(f, opts: dict, mtime: float) -> bytes:
    """What is in the log now, after tailLines, since and timestamps."""
    data = f.read()
    if opts["since"] is not None and mtime < opts["since"]:
        return b""
    if opts["tailLines"] is not None:
        lines = data.splitlines(keepends=True)
        data = b"".join(lines[len(lines) - opts["tailLines"]:]) if opts["tailLines"] else b""
    return stamp(data, mtime, True)[0] if opts["timestamps"] else data


async def serve(cfg, pod: dict, query: dict, writer, pod_now) -> None:
    """GET pods/NAME/log: 200 text/plain, the whole log with its length, or chunked while following."""
    try:
        container = container_of(pod, query)["name"]
        opts = options(query)
        path = log_path(cfg, pod, container, opts["previous"])
        f = open(path, "rb")
    except StreamError as e:
        await refuse(writer, e.code, str(e))
        return
    except FileNotFoundError:
        await refuse(writer, 400, f'previous terminated container "{container}" in pod "{pod["metadata"]["name"]}" '
                                  "not found" if opts["previous"] else
                     f'container "{container}" in pod "{pod["metadata"]["name"]}" is waiting to start: '
                     "ContainerCreating")
        return
    with f:
        data = existing(f, opts, os.fstat(f.fileno()).st_mtime)
        limit = opts["limitBytes"]
        if limit is not None:
            data = data[:limit]
        head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nCache-Control: no-cache, private\r\n"
        following = opts["follow"] and not opts["previous"] and (limit is None or len(data) < limit)
        if not following:
            writer.write(f"{head}Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode() + data)
        else:
            writer.write(f"{head}Transfer-Encoding: chunked\r\n\r\n".encode() + chunk(data))
            await follow_file(f, writer, opts, limit - len(data) if limit is not None else None,
                              lambda: still_running(pod_now(pod), container), path, data.endswith(b"\n") or not data)
            writer.write(b"0\r\n\r\n")
        with contextlib.suppress(ConnectionError):
            await writer.drain()
    writer.close()


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n" if data else b""


async def follow_file(f, writer, opts: dict, left, running, path: str, line_start: bool) -> None:
    """Write what is appended to F (chunked) until the container stops or restarts, LEFT bytes are written, or
    the client goes."""
    inode = os.fstat(f.fileno()).st_ino

    async def send(data: bytes) -> None:
        nonlocal line_start, left
        if opts["timestamps"]:
            data, line_start = stamp(data, time.time(), line_start)
        if left is not None:
            data, left = data[:left], left - len(data[:left])
        writer.write(chunk(data))
        await writer.drain()

    def gone() -> bool:
        with contextlib.suppress(OSError):
            return os.stat(path).st_ino != inode      # replaced: the container restarted
        return True

    with contextlib.suppress(ConnectionError):
        await follow_output(f, send, lambda: running() and not gone(), until=lambda: left == 0 or
                            writer.is_closing())


async def follow_output(f, send, running, until=lambda: False) -> None:
    """Pass what is appended to F (an open file, or a path opened at its end) to SEND while running() is true; what
    came before it stopped is passed too."""
    if isinstance(f, str):
        try:
            with open(f, "rb") as opened:
                opened.seek(0, os.SEEK_END)
                await follow_output(opened, send, running, until)
        except FileNotFoundError:
            pass
        return
    while not until():
        data = f.read(1 << 16)
        if data:
            await send(data)
            continue
        if not running():
            data = f.read()
            if data:
                await send(data)
            return
        await asyncio.sleep(POLL)
