"""kubelet's streaming server on loopback: exec's channels (stdout/stderr apart, stdin and its close, a pty sized
by a resize message, exit codes in the error channel's Status), the refusals before switching protocols, attach
through a real shim process, and pods/log's parameters. Processes run in this machine's namespaces through an
injected spawner (the fork server and the pod's namespaces are the system tests')."""
import asyncio
import base64
import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.parse

import pytest

from toycluster.node import logs, stream_io, streaming
from toycluster.wire import http1
from toycluster.wire import websocket as ws


class Cfg:
    def __init__(self, root):
        self.state_dir = str(root)

    def pod_ns(self, namespace, name):
        return f"test.pod.{namespace}.{name}"


def pod(containers=({"name": "c"},), running=True, name="p"):
    return {"metadata": {"name": name, "namespace": "default"}, "spec": {"containers": [dict(c) for c in containers]},
            "status": {"phase": "Running" if running else "Pending", "podIP": "10.244.1.9", "containerStatuses": [
                {"name": c["name"], "state": {"running": {}} if running else {"waiting": {"reason": "CrashLoopBackOff"}}}
                for c in containers]}}


async def request(streams, verb, the_pod, query, protocol="v5.channel.k8s.io", upgrade=True):
    """Serve one request on loopback; answer (status line, headers, reader, writer) of the client side."""
    async def handle(reader, writer):
        raw = await reader.readuntil(b"\r\n\r\n")
        head = http1.parse_head(raw[:-4])
        await streams.handlers()[verb](the_pod, query, head, reader, writer)
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [f"GET /api/v1/namespaces/default/pods/p/{verb}?{urllib.parse.urlencode(query, doseq=True)} HTTP/1.1",
             "Host: x"]
    if upgrade:
        lines += ["Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
                  "Sec-WebSocket-Version: 13"] + ([f"Sec-WebSocket-Protocol: {protocol}"] if protocol else [])
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    server.close()
    if upgrade and " 101 " in head.split("\r\n")[0]:
        assert f"Sec-WebSocket-Accept: {ws.accept_key(key.encode())}" in head
    return head, reader, writer


async def session(streams, the_pod, query, send=(), protocol="v5.channel.k8s.io"):
    """An exec or attach session: the messages in SEND go first; answer {channel: bytes} of what came back."""
    head, reader, writer = await request(streams, query.pop("verb", "exec"), the_pod, query, protocol)
    assert " 101 " in head.split("\r\n")[0], head
    sock = ws.WebSocket(reader, writer, client=True)
    for msg in send:
        if isinstance(msg, (int, float)):
            await asyncio.sleep(msg)
        else:
            await sock.send(msg)
    got = {}
    with contextlib.suppress(ws.Closed):
        while True:
            _, msg = await asyncio.wait_for(sock.recv(), 10)
            got[msg[0]] = got.get(msg[0], b"") + msg[1:]
    writer.close()
    return got


@pytest.fixture
def streams(tmp_path):
    return streaming.Streams(Cfg(tmp_path), spawner=stream_io.local_spawner)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


def test_exec_keeps_stdout_and_stderr_apart_and_reports_success(streams):
    got = run(session(streams, pod(), {"command": ["sh", "-c", "echo out; echo err >&2"], "stdout": ["true"],
                                       "stderr": ["true"]}))
    assert got[1] == b"out\n" and got[2] == b"err\n"
    assert json.loads(got[3]) == {"metadata": {}, "status": "Success"}


def test_exec_exit_code_is_the_error_channels_cause(streams):
    got = run(session(streams, pod(), {"command": ["sh", "-c", "exit 3"], "stdout": ["true"]}))
    status = json.loads(got[3])
    assert status["status"] == "Failure" and status["reason"] == "NonZeroExitCode"
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]


def test_exec_stdin_and_its_close(streams):
    got = run(session(streams, pod(), {"command": ["cat"], "stdin": ["true"], "stdout": ["true"]},
                      send=[b"\x00hello ", b"\x00world\n", b"\xff\x00"]))
    assert got[1] == b"hello world\n" and json.loads(got[3])["status"] == "Success"


def test_exec_with_a_tty_is_sized_by_the_resize_message(streams):
    got = run(session(streams, pod(), {"command": ["sh", "-c", "stty size; tty >/dev/null && echo tty"],
                                       "stdin": ["true"], "tty": ["true"]},
                      send=[b"\x04" + json.dumps({"Width": 123, "Height": 45}).encode()]))
    assert got[1].replace(b"\r", b"") == b"45 123\ntty\n" and 2 not in got


def test_v4_is_spoken_and_v1_gets_the_message_only_on_failure(streams):
    got = run(session(streams, pod(), {"command": ["sh", "-c", "exit 2"]}, protocol="v4.channel.k8s.io"))
    assert json.loads(got[3])["details"]["causes"][0]["message"] == "2"
    got = run(session(streams, pod(), {"command": ["true"]}, protocol="channel.k8s.io"))
    assert 3 not in got


async def refused(streams, verb, the_pod, query, **kw):
    head, reader, writer = await request(streams, verb, the_pod, query, **kw)
    body = await reader.read()
    writer.close()
    return int(head.split()[1]), json.loads(body)


@pytest.mark.parametrize("the_pod,query,kw,code,words", [
    (pod(), {"command": ["true"]}, {"upgrade": False}, 400, "Upgrade request required"),
    (pod(), {"command": ["true"]}, {"protocol": "v9.channel.k8s.io"}, 403, "unable to negotiate protocol"),
    (pod(), {}, {}, 400, "at least one command"),
    (pod(running=False), {"command": ["true"]}, {}, 400, 'is waiting to start: CrashLoopBackOff'),
    (pod([{"name": "a"}, {"name": "b"}]), {"command": ["true"]}, {}, 400, "choose one of: [a b]"),
    (pod(), {"command": ["true"], "container": ["zz"]}, {}, 400, "container zz is not valid for pod p"),
])
def test_exec_refusals_are_statuses(streams, the_pod, query, kw, code, words):
    got_code, status = run(refused(streams, "exec", the_pod, query, **kw))
    assert got_code == code and status["kind"] == "Status" and status["code"] == code, status
    assert status["status"] == "Failure" and words in status["message"]


def test_exec_latency_on_loopback(streams):
    async def many():
        t = time.perf_counter()
        for _ in range(5):
            await session(streams, pod(), {"command": ["true"]})
        return (time.perf_counter() - t) / 5
    assert run(many()) < 0.5


# -- attach: a real shim process (stdio.shim) in this namespace ------------------------------------------
SHIM = ("import os, sys; from toycluster.node import stdio; stdio.shim(sys.argv[1], sys.argv[2] == 'tty', True); "
        "os.execvp('sh', ['sh', '-c', sys.argv[3]])")


def test_attach_relays_a_tty_containers_shim(streams, tmp_path, monkeypatch):
    name = f"t{os.getpid()}-{time.monotonic_ns()}"
    monkeypatch.setattr(stream_io.nsfs, "in_netns", lambda netns: contextlib.nullcontext())
    log = open(tmp_path / "c.log", "wb")
    shim = subprocess.Popen([sys.executable, "-c", SHIM, name, "tty", "echo hi; read x; echo got $x; exit 4"],
                            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        the_pod = pod([{"name": name, "stdin": True, "tty": True}])
        got = run(session(streams, the_pod, {"verb": "attach", "stdin": ["true"], "stdout": ["true"],
                                             "tty": ["true"]}, send=[0.2, b"\x00sesame\n"]))
        assert shim.wait(5) == 4                    # the shim leaves with the container's exit code
    finally:
        with contextlib.suppress(ProcessLookupError):
            shim.kill()
    assert b"got sesame" in got[1] and json.loads(got[3])["status"] == "Success"
    assert b"hi" in (tmp_path / "c.log").read_bytes() and b"got sesame" in (tmp_path / "c.log").read_bytes()


# -- pods/log ---------------------------------------------------------------------------------------------
def write_log(tmp_path, text: bytes, name="c.log"):
    d = tmp_path / "logs" / "default_p"
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(text)
    return d / name


async def get_log(streams, the_pod, query):
    head, reader, writer = await request(streams, "log", the_pod, query, upgrade=False)
    body = await reader.read()
    writer.close()
    return head, body


def test_log_tail_limit_and_timestamps(streams, tmp_path):
    write_log(tmp_path, b"one\ntwo\nthree\n")
    head, body = run(get_log(streams, pod(), {"tailLines": ["2"]}))
    assert head.startswith("HTTP/1.1 200 ") and body == b"two\nthree\n"
    assert run(get_log(streams, pod(), {"limitBytes": ["5"]}))[1] == b"one\nt"
    _, body = run(get_log(streams, pod(), {"timestamps": ["true"], "tailLines": ["1"]}))
    stamp, _, line = body.partition(b" ")
    assert line == b"three\n" and stamp.endswith(b"Z") and len(stamp.split(b".")[1]) == 10
    assert run(get_log(streams, pod(), {"sinceSeconds": ["1"], "tailLines": ["1"]}))[1] in (b"three\n", b"")


def test_log_refusals(streams, tmp_path):
    assert run(refused(streams, "log", pod(), {}, upgrade=False))[1]["message"] == \
        'container "c" in pod "p" is waiting to start: ContainerCreating'
    write_log(tmp_path, b"x\n")
    code, status = run(refused(streams, "log", pod(), {"previous": ["true"]}, upgrade=False))
    assert code == 400 and status["message"] == 'previous terminated container "c" in pod "p" not found'
    assert run(refused(streams, "log", pod(), {"tailLines": ["x"]}, upgrade=False))[0] == 400


def test_log_follow_streams_what_is_appended_until_the_container_stops(streams, tmp_path):
    path = write_log(tmp_path, b"before\n")
    state = {"running": True}
    streams.pod_now = lambda p: pod(running=state["running"])

    async def go():
        task = asyncio.create_task(get_log(streams, pod(), {"follow": ["true"]}))
        await asyncio.sleep(0.3)
        with open(path, "ab") as f:
            f.write(b"after\n")
        await asyncio.sleep(0.3)
        state["running"] = False
        return await task
    head, body = run(go())
    assert "Transfer-Encoding: chunked" in head
    chunks = http1.Chunks()
    chunks.body, chunks.limit = bytearray(), 1 << 20
    assert chunks.feed(body) == len(body) and bytes(chunks.body) == b"before\nafter\n"


def test_stamp_marks_only_line_starts():
    out, start = logs.stamp(b"a\nb", 0.5, True)
    assert out == b"1970-01-01T00:00:00.500000000Z a\n1970-01-01T00:00:00.500000000Z b" and not start
    assert logs.stamp(b"c\n", 0.5, False) == (b"c\n", True)


def test_exec_of_a_missing_command_is_upstreams_internal_error(streams):
    got = run(session(streams, pod(), {"command": ["no-such-command-here"], "stdout": ["true"]}))
    status = json.loads(got[3])
    assert status["reason"] == "InternalError" and status["code"] == 500
    assert 'exec: "no-such-command-here": executable file not found in $PATH' in status["message"]


def test_a_tty_exec_hangs_up_when_kubectl_goes(streams, tmp_path):
    marker = tmp_path / "hup"

    async def go():
        head, reader, writer = await request(streams, "exec", pod(), {
            "command": ["sh", "-c", f"trap 'echo hup > {marker}; exit 1' HUP; echo ready; sleep 30 & wait"],
            "stdin": ["true"], "tty": ["true"]})
        sock = ws.WebSocket(reader, writer, client=True)
        await sock.send(b"\x04" + json.dumps({"Width": 80, "Height": 24}).encode())
        seen = b""
        while b"ready" not in seen:
            seen += (await sock.recv())[1][1:]
        await sock.close()
        writer.close()
        for _ in range(50):
            if marker.exists():
                return True
            await asyncio.sleep(0.1)
        return False
    assert run(go())


# -- the same sessions over SPDY/3.1 (client-go's SPDY executor) -----------------------------------------------
async def spdy_session(streams, query, streams_opened, send=b"", verb="exec", resize=b""):
    """Open STREAMS_OPENED (stream types) as client-go does, send SEND on stdin then its end; answer what came
    back per stream type, and the types whose stream ended."""
    from toycluster.wire import spdy
    async def handle(reader, writer):
        raw = await reader.readuntil(b"\r\n\r\n")
        await streams.handlers()[verb](pod(), query, http1.parse_head(raw[:-4]), reader, writer)
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
    writer.write(f"POST /x?{urllib.parse.urlencode(query, doseq=True)} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                 "Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n"
                 "X-Stream-Protocol-Version: v3.channel.k8s.io\r\n\r\n".encode())
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    assert " 101 " in head and "X-Stream-Protocol-Version: v4.channel.k8s.io" in head, head
    c, ids = spdy.Codec(), {}
    for i, kind in enumerate(streams_opened):
        ids[2 * i + 1] = kind
        writer.write(c.syn_stream(2 * i + 1, {"streamType": kind}))
    for i, kind in ids.items():
        if kind == "resize" and resize:
            writer.write(c.data(i, resize[:7]) + c.data(i, resize[7:]))     # split: the server joins it
    stdin = next((i for i, k in ids.items() if k == "stdin"), None)
    if stdin:
        writer.write(c.data(stdin, send) + c.data(stdin, b"", fin=True))
    got, ended = {}, set()
    while data := await reader.read(1 << 16):
        for f in c.feed(data):
            if f.type == spdy.DATA:
                got[ids[f.stream]] = got.get(ids[f.stream], b"") + f.data
                if f.fin:
                    ended.add(ids[f.stream])
    server.close()
    writer.close()
    return got, ended


def test_exec_over_spdy(streams):
    got, ended = run(spdy_session(streams, {"command": ["sh", "-c", "cat; echo err >&2; exit 6"], "stdin": ["true"],
                                            "stdout": ["true"], "stderr": ["true"]},
                                  ["error", "stdin", "stdout", "stderr"], send=b"over spdy\n"))
    assert got["stdout"] == b"over spdy\n" and got["stderr"] == b"err\n"
    assert json.loads(got["error"])["details"]["causes"] == [{"reason": "ExitCode", "message": "6"}]
    assert ended == {"error", "stdout", "stderr"}


def test_exec_over_spdy_with_a_tty_reads_the_resize_stream(streams):
    got, _ = run(spdy_session(streams, {"command": ["sh", "-c", "stty size"], "stdin": ["true"], "stdout": ["true"],
                                        "tty": ["true"]}, ["error", "stdin", "stdout", "resize"],
                              resize=b'{"Width":132,"Height":43}{"Width":133,"Height":44}'))
    assert got["stdout"].strip() == b"44 133", got


def test_attach_without_stdin_follows_the_log_until_kubectl_goes(streams, tmp_path):
    path = write_log(tmp_path, b"old\n")
    streams.pod_now = lambda p: pod()

    async def go():
        head, reader, writer = await request(streams, "attach", pod(), {"stdout": ["true"]})
        sock = ws.WebSocket(reader, writer, client=True)
        await asyncio.sleep(0.2)
        with open(path, "ab") as f:
            f.write(b"new\n")
        first = await asyncio.wait_for(sock.recv(), 5)
        await sock.close()
        with pytest.raises(ws.Closed):          # the server answers the close and ends the session
            while True:
                await asyncio.wait_for(sock.recv(), 5)
        writer.close()
        return first
    assert run(go()) == (ws.BINARY, b"\x01new\n")
