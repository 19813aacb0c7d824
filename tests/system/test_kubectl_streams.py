"""The real kubectl's streaming verbs against a cluster: exec (exit codes, stdout and stderr apart, stdin piped,
-it through a pty sized as the terminal is), run --rm -it (attach to a `stdin: true` container's shim), attach
to a running container's output, and logs (--tail, --timestamps, --limit-bytes, -f until the container ends).
kubectl gets a terminal from a pty this test opens, as a person's shell gives it one."""
import fcntl
import os
import re
import select
import struct
import subprocess
import termios
import time

import pytest

from conftest import VENV_BIN, cluster_up, poll

KUBECTL = str(VENV_BIN / "kubectl")
pytestmark = pytest.mark.skipif(not os.path.exists(KUBECTL), reason="the pinned kubectl is not installed")


@pytest.fixture(scope="module")
def k():
    """kubectl ARGS... against a one-node cluster of this module's own (the sleeper pod is Running)."""
    with cluster_up(nodes=1) as c:
        env = {**os.environ, "KUBECONFIG": f"/var/lib/toycluster/{c.name}/kubeconfig"}

        def kubectl(*args, input=None, timeout=30):
            return subprocess.run([KUBECTL, *args], input=input, capture_output=True, text=True, env=env,
                                  timeout=timeout, cwd="/")
        kubectl.env, kubectl.cluster = env, c
        assert kubectl("run", "sleeper", "--image=busybox", "--", "sleep", "3600").returncode == 0
        c.wait_running(names=["sleeper"])
        yield kubectl


def in_pty(env, argv, answers=(), rows=37, cols=111, timeout=30):
    """Run ARGV on a pty of ROWS x COLS; ANSWERS: (text seen, what to type). Answers (exit code, output)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    p = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True, cwd="/",
                         preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
    os.close(slave)
    out, pending, deadline = b"", list(answers), time.time() + timeout
    try:
        while time.time() < deadline:
            if select.select([master], [], [], 0.1)[0]:
                try:
                    data = os.read(master, 1 << 16)
                except OSError:                 # EIO: kubectl is gone
                    break
                if not data:
                    break
                out += data
            if pending and pending[0][0].encode() in out:
                os.write(master, pending.pop(0)[1].encode())
            if p.poll() is not None and not select.select([master], [], [], 0.2)[0]:
                break
        return p.wait(5), out.decode(errors="replace").replace("\r\n", "\n")
    finally:
        if p.poll() is None:
            p.kill()
        os.close(master)


def test_exec_exit_codes_and_streams(k):
    p = k("exec", "sleeper", "--", "sh", "-c", "hostname; echo oops >&2; exit 3")
    assert p.returncode == 3, p
    assert p.stdout == "sleeper\n" and "oops\n" in p.stderr and "command terminated with exit code 3" in p.stderr
    p = k("exec", "sleeper", "--", "true")
    assert (p.returncode, p.stdout, p.stderr) == (0, "", "")
    p = k("exec", "-i", "sleeper", "--", "sh", "-c", "tr a-z A-Z; exit 0", input="piped in\n")
    assert (p.returncode, p.stdout) == (0, "PIPED IN\n")
    p = k("exec", "sleeper", "-c", "nope", "--", "true")
    assert p.returncode == 1 and "nope" in p.stderr
    p = k("exec", "sleeper", "--", "no-such-command")
    assert p.returncode == 1 and 'exec: "no-such-command": executable file not found in $PATH' in p.stderr, p


@pytest.mark.parametrize("websockets", ["true", "false"])
def test_exec_it_gets_a_terminal_of_kubectls_size(k, websockets):
    """Over WebSocket (kubectl's default) and SPDY (client-go's SPDY executor, kubectl's fallback)."""
    env = {**k.env, "KUBECTL_REMOTE_COMMAND_WEBSOCKETS": websockets}
    code, out = in_pty(env, [KUBECTL, "exec", "-it", "sleeper", "--", "sh", "-c", "stty size; tty; echo $TERM"])
    assert code == 0, out
    assert re.match(r"37 111\n/dev/pts/\d+\nxterm\n$", out), out


def test_exec_over_spdy_keeps_exit_codes_and_stdin(k):
    k.env["KUBECTL_REMOTE_COMMAND_WEBSOCKETS"] = "false"
    try:
        p = k("exec", "-i", "sleeper", "--", "sh", "-c", "cat; echo oops >&2; exit 4", input="via spdy\n")
    finally:
        del k.env["KUBECTL_REMOTE_COMMAND_WEBSOCKETS"]
    assert (p.returncode, p.stdout) == (4, "via spdy\n") and "oops" in p.stderr, p


def test_exec_latency(k):
    """`kubectl exec POD -- true` costs little more than `kubectl get pod` (best of 5 each: the machine is shared)."""
    def best(*args):
        times = []
        for _ in range(5):
            t = time.perf_counter()
            assert k(*args).returncode == 0
            times.append(time.perf_counter() - t)
        return min(times)
    exec_s, get_s = best("exec", "sleeper", "--", "true"), best("get", "pod", "sleeper", "-o", "name")
    print(f"kubectl exec true: {exec_s * 1000:.0f} ms; kubectl get pod: {get_s * 1000:.0f} ms (best of 5)")
    assert exec_s < get_s + 0.15


def test_run_rm_it_talks_to_the_container_and_removes_the_pod(k):
    code, out = in_pty(k.env, [KUBECTL, "run", "t", "--rm", "-it", "--image=busybox", "--restart=Never", "--",
                               "sh", "-c", "echo hi; read x; echo got $x"],
                       answers=[("If you don't see a command prompt", "sesame\n")], timeout=60)
    assert "got sesame" in out and code == 0, out
    assert 'pod "t" deleted' in out, out
    poll(lambda: k("get", "pod", "t").returncode == 1, timeout=15, what="pod t to be gone")


def test_attach_follows_a_container_without_stdin(k):
    k("run", "ticker", "--image=busybox", "--", "sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done")
    k.cluster.wait_running(names=["ticker"])
    with pytest.raises(subprocess.TimeoutExpired) as e:
        k("attach", "ticker", timeout=1.5)
    assert re.search(rb"tick \d+\n", e.value.stdout or b""), e.value.stdout


def test_logs_tail_timestamps_limit_and_follow(k):
    k("run", "once", "--image=busybox", "--restart=Never", "--", "sh", "-c", "echo a; echo b; sleep 2; echo c")
    poll(lambda: "b" in k("logs", "once").stdout, timeout=15, what="the first lines")
    assert k("logs", "once", "--tail=1").stdout == "b\n"
    stamped = k("logs", "once", "--timestamps", "--tail=1").stdout
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z b\n", stamped), stamped
    assert k("logs", "once", "--limit-bytes=3").stdout == "a\nb"
    t = time.time()
    p = k("logs", "-f", "once", timeout=20)          # ends when the container does
    assert p.returncode == 0 and p.stdout == "a\nb\nc\n" and time.time() - t < 10, p
    p = k("logs", "once", "--previous")
    assert p.returncode == 1 and 'previous terminated container "once" in pod "once" not found' in p.stderr


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("websockets", ["true", "false"])
def test_port_forward_then_curl_from_the_machine(k, websockets):
    """WebSocket-tunnelled SPDY (kubectl's default), and plain SPDY (its fallback, forced here)."""
    import urllib.request
    if k("get", "pod", "web").returncode:
        k("run", "web", "--image=nginx")
        k.cluster.wait_running(names=["web"])
    port = free_port()
    env = {**k.env, "KUBECTL_PORT_FORWARD_WEBSOCKETS": websockets}
    p = subprocess.Popen([KUBECTL, "port-forward", "pod/web", f"{port}:80"], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, env=env, cwd="/")
    try:
        assert "Forwarding from 127.0.0.1" in p.stdout.readline()
        for _ in range(3):                  # one connection after the other through the same tunnel
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                assert r.status == 200 and b"Welcome to nginx!" in r.read()
    finally:
        p.terminate()
        p.wait(5)


def test_port_forward_to_a_closed_port_says_why(k):
    import socket
    port = free_port()
    p = subprocess.Popen([KUBECTL, "port-forward", "pod/sleeper", f"{port}:9999"], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, env=k.env, cwd="/")
    try:
        assert "Forwarding from 127.0.0.1" in p.stdout.readline()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.settimeout(5)
            assert s.recv(10) == b""
        out, _ = p.communicate(timeout=10)        # kubectl 1.37 gives up: "lost connection to pod"
    finally:
        if p.poll() is None:
            p.terminate()
            p.wait(5)
    assert "error forwarding port 9999 to pod sleeper" in out and "connection refused" in out, out
