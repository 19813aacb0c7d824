"""Cluster DNS in a real cluster: `dig` (UDP and TCP), `getent`, `nslookup` and `curl` by name from pods in
two namespaces, every record kind of the Kubernetes DNS specification, changes within 1 s, the query log, and a
server that keeps answering after thousands of malformed packets without ever restarting.

The cluster is this module's own. If `toycluster up` does not install CoreDNS (kube-dns in kube-system), the
fixture applies coredns.system_manifests() itself."""
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import REPO, TOYCLUSTER, cluster_up, control_plane_pids, poll

sys.path.insert(0, str(REPO))
from toycluster import config
from toycluster.dns import coredns

APP = """
apiVersion: v1
kind: Namespace
metadata: {name: other}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: toycluster/echo, ports: [{name: http, containerPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: web-headless}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{name: http, port: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: db}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{name: pg, port: 5432}]
---
apiVersion: v1
kind: Pod
metadata: {name: db-0, labels: {app: db}}
spec:
  hostname: db-0
  subdomain: db
  containers: [{name: pg, image: postgres, ports: [{containerPort: 5432}]}]
---
apiVersion: v1
kind: Service
metadata: {name: ext}
spec: {type: ExternalName, externalName: web.default.svc.cluster.local}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: other}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  containers: [{name: main, image: nicolaka/netshoot}]
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: other}
spec:
  containers: [{name: main, image: nicolaka/netshoot}]
"""


@pytest.fixture(scope="module")
def dns():
    with cluster_up() as c:
        if c.run("get", "service", "kube-dns", "-n", "kube-system").returncode != 0:
            cfg = config.ClusterConfig.load(c.name)
            c.apply("\n---\n".join(json.dumps(d) for d in coredns.system_manifests(cfg)))
        c.apply(APP)
        poll(lambda: _dns_pod(c), timeout=20, what="the coredns pod to be Running")
        c.wait_running(selector="app=web", count=2, timeout=20)
        c.wait_running(names=["client", "db-0"], timeout=20)
        poll(lambda: c.run("get", "pod", "client", "-n", "other").returncode == 0 and
             json.loads(c.ok("get", "pod", "client", "-n", "other", "-o", "json"))["status"].get("phase") == "Running",
             what="the client in namespace other")
        c.svc_ip = {name: json.loads(c.ok("get", "service", name, "-o", "json"))["spec"]["clusterIP"]
                    for name in ("web",)}
        c.svc_ip["other/web"] = json.loads(c.ok("get", "service", "web", "-n", "other", "-o", "json"))["spec"]["clusterIP"]
        yield c


def _dns_pod(c) -> dict | None:
    pods = json.loads(c.ok("get", "pods", "-n", "kube-system", "-l", "k8s-app=kube-dns", "-o", "json"))["items"]
    running = [p for p in pods if p.get("status", {}).get("phase") == "Running" and p["status"].get("podIP")]
    return running[0] if running else None


def dig(c, *args, ns="default", client="client") -> str:
    return c.exec(client, "dig", "+time=2", "+tries=1", *args, opts=["-n", ns]).stdout


def short(c, *args, **kw) -> list[str]:
    return sorted(dig(c, "+short", *args, **kw).split())


def status(c, *args) -> str:
    out = dig(c, *args)
    return out.split("status: ", 1)[1].split(",", 1)[0] if "status: " in out else out


def web_ips(c) -> list[str]:
    return sorted(p["status"]["podIP"] for p in c.pods("-l", "app=web"))


# ---------------------------------------------------------------- names
def test_a_record_over_udp_and_tcp(dns):
    name = "web.default.svc.cluster.local"
    assert short(dns, name) == [dns.svc_ip["web"]]
    assert short(dns, "+tcp", name) == [dns.svc_ip["web"]]
    assert short(dns, name.upper()) == [dns.svc_ip["web"]]
    answer = dig(dns, "WeB.Default.svc.cluster.local")     # DNS 0x20: the answer keeps the case asked
    assert "flags: qr aa rd;" in answer, answer
    assert re.search(rf"^WeB\.Default\.svc\.cluster\.local\.\s+30\s+IN\s+A\s+{re.escape(dns.svc_ip['web'])}$",
                     answer, re.M), answer


@pytest.mark.parametrize("name", ["web", "web.default", "web.default.svc", "web.default.svc.cluster.local"])
def test_search_path_from_default(dns, name):
    assert short(dns, "+search", name) == [dns.svc_ip["web"]]


def test_search_path_from_another_namespace(dns):
    assert short(dns, "+search", "web", ns="other") == [dns.svc_ip["other/web"]]
    assert short(dns, "+search", "web.default", ns="other") == [dns.svc_ip["web"]]
    assert short(dns, "+search", "web.other", ns="default") == [dns.svc_ip["other/web"]]


def test_libc_and_nslookup_and_curl_resolve(dns):
    assert dns.exec("client", "getent", "hosts", "web").stdout.split()[:2] == [dns.svc_ip["web"],
                                                                               "web.default.svc.cluster.local"]
    out = dns.exec("client", "nslookup", "web-headless").stdout
    assert all(ip in out for ip in web_ips(dns)), out
    assert "Hostname: web-" in dns.curl("client", "http://web/")
    assert "Hostname: web-" in dns.curl("client", "http://web.default:80/")


def test_headless_service_answers_every_ready_endpoint(dns):
    assert short(dns, "web-headless.default.svc.cluster.local") == web_ips(dns)
    for ip in web_ips(dns):
        assert short(dns, f"{ip.replace('.', '-')}.web-headless.default.svc.cluster.local") == [ip]


def test_hostname_and_subdomain(dns):
    ip = dns.pod("db-0")["status"]["podIP"]
    assert short(dns, "db-0.db.default.svc.cluster.local") == [ip]
    assert short(dns, "SRV", "_pg._tcp.db.default.svc.cluster.local") == ["0", "100", "5432",
                                                                          "db-0.db.default.svc.cluster.local."]
    assert short(dns, "-x", ip) == ["db-0.db.default.svc.cluster.local."]
    assert dns.exec("db-0", "hostname", "-f").stdout.strip() == "db-0.db.default.svc.cluster.local"


def test_srv_records(dns):
    assert short(dns, "SRV", "_http._tcp.web.default.svc.cluster.local") == \
        sorted(["0", "100", "80", "web.default.svc.cluster.local."])
    out = dig(dns, "SRV", "_http._tcp.web-headless.default.svc.cluster.local")
    targets = sorted(line.split()[-1] for line in out.splitlines() if "\tSRV\t" in line or " SRV " in line
                     if not line.startswith(";"))
    assert targets == sorted(f"{ip.replace('.', '-')}.web-headless.default.svc.cluster.local." for ip in web_ips(dns))
    assert "ADDITIONAL: 3" in out, out                    # the two targets' A records and the OPT


def test_ptr_records(dns):
    assert short(dns, "-x", dns.svc_ip["web"]) == ["web.default.svc.cluster.local."]
    assert short(dns, "-x", dns.dns_ip) == ["kube-dns.kube-system.svc.cluster.local."]
    ip = web_ips(dns)[0]
    assert short(dns, "-x", ip) == [f"{ip.replace('.', '-')}.web-headless.default.svc.cluster.local."]


def test_externalname_cname(dns):
    out = short(dns, "ext.default.svc.cluster.local")
    assert out == sorted(["web.default.svc.cluster.local.", dns.svc_ip["web"]])


def test_version_pod_records_and_negative_answers(dns):
    assert short(dns, "TXT", "dns-version.cluster.local") == ['"1.1.0"']
    assert short(dns, "10-1-2-3.default.pod.cluster.local") == ["10.1.2.3"]
    assert status(dns, "nope.default.svc.cluster.local") == "NXDOMAIN"
    assert status(dns, "AAAA", "web.default.svc.cluster.local") == "NOERROR"
    assert short(dns, "AAAA", "web.default.svc.cluster.local") == []
    assert "SOA" in dig(dns, "AAAA", "web.default.svc.cluster.local")
    started = time.monotonic()
    assert status(dns, "example.com") == "SERVFAIL"         # no upstream: at once, never a hang
    assert time.monotonic() - started < 1.5


# ---------------------------------------------------------------- changes
def test_changes_are_visible_within_a_second(dns):
    name = "fresh.default.svc.cluster.local"
    watcher = subprocess.Popen([TOYCLUSTER, "--cluster", dns.name, "exec", "client", "--", "timeout", "10", "sh", "-c",
                                f'while [ -z "$(dig +short +time=1 +tries=1 {name})" ]; do sleep 0.02; done; date +%s.%N'],
                               stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    dns.apply("apiVersion: v1\nkind: Service\nmetadata: {name: fresh}\nspec:\n  selector: {app: web}\n"
              "  ports: [{port: 80, targetPort: 8080}]\n")
    applied = time.time()
    seen = float(watcher.communicate(timeout=15)[0].strip())
    assert seen - applied < 1.0, f"resolved {seen - applied:.2f}s after apply"
    dns.ok("delete", "service", "fresh")
    deleted = time.time()
    out = dns.exec("client", "timeout", "10", "sh", "-c",
                   f'while [ -n "$(dig +short +time=1 +tries=1 {name})" ]; do sleep 0.02; done; date +%s.%N').stdout
    assert float(out) - deleted < 1.0
    assert status(dns, name) == "NXDOMAIN"


def test_a_pod_leaving_endpoints_leaves_the_headless_answer(dns):
    dns.apply(textwrap.dedent("""
        apiVersion: v1
        kind: Pod
        metadata: {name: extra-web, labels: {app: web}}
        spec:
          containers: [{name: web, image: toycluster/echo, ports: [{name: http, containerPort: 8080}]}]
        """))
    try:
        ip = dns.wait_running(names=["extra-web"])[0]["status"]["podIP"]
        poll(lambda: ip in short(dns, "web-headless.default.svc.cluster.local"), timeout=3,
             what="the new pod in the headless answer")
    finally:
        dns.ok("delete", "pod", "extra-web")
    poll(lambda: ip not in short(dns, "web-headless.default.svc.cluster.local"), timeout=5,
         what="the deleted pod to leave the headless answer")


# ---------------------------------------------------------------- the log
def test_query_log_shows_client_name_type_code_and_time(dns):
    dig(dns, "+short", "logged-name.default.svc.cluster.local")
    client_ip = dns.pod("client")["status"]["podIP"]
    dns_pod = _dns_pod(dns)["metadata"]["name"]

    def logged():
        lines = dns.ok("logs", "-n", "kube-system", dns_pod).splitlines()
        return [line for line in lines if "logged-name.default.svc.cluster.local." in line]
    line = poll(logged, timeout=3, what="the query in the log")[-1]
    assert line.startswith(f"[INFO] {client_ip}:"), line
    assert '"A IN logged-name.default.svc.cluster.local. udp ' in line and " NXDOMAIN qr,aa,rd " in line, line
    assert line.endswith("s") and float(line.split()[-1][:-1]) < 0.1, line


# ---------------------------------------------------------------- bad input
FUZZ = r'''
import random, socket, struct, sys, time
ip = sys.argv[1]
rnd = random.Random(7)
def name(labels): return b"".join(bytes([len(l)]) + l for l in labels) + b"\0"
good = struct.pack("!6H", 1, 0x100, 1, 0, 0, 0) + name([b"web", b"default", b"svc", b"cluster", b"local"]) + b"\0\1\0\1"
cases = [
    lambda: b"",                                                         # empty
    lambda: good[:rnd.randrange(1, len(good))],                          # truncated anywhere
    lambda: struct.pack("!6H", 2, 0x100, rnd.randrange(2, 9), 0, 0, 0) + good[12:],          # QDCOUNT wrong
    lambda: struct.pack("!6H", 3, 0x100, 1, 5, 5, 5) + good[12:],                            # counts with nothing
    lambda: struct.pack("!6H", 4, 0x100, 1, 0, 0, 0) + b"\3web\xc0\x0c\0\1\0\1",             # pointer loop
    lambda: struct.pack("!6H", 5, 0x100, 1, 0, 0, 0) + b"\xc0\x0c\0\1\0\1",                  # pointer to itself
    lambda: struct.pack("!6H", 6, 0x100, 1, 0, 0, 0) + b"\x3f" * 300 + b"\0\0\1\0\1",       # oversize name
    lambda: struct.pack("!6H", 7, 0x100, 1, 0, 0, 0) + name([b"a" * 63] * 5) + b"\0\1\0\1",  # 321-byte name
    lambda: good[:2] + struct.pack("!H", 0x100 | (rnd.choice([1, 2, 3, 4, 5, 6, 15]) << 11)) + good[4:],  # opcodes
    lambda: good[:-2] + struct.pack("!H", rnd.choice([0, 2, 3, 4, 254, 255, 0x1234])),     # classes
    lambda: good[:2] + b"\x81\x80" + good[4:],                           # a response
    lambda: bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(1, 600))),             # noise
    lambda: bytes(b ^ (rnd.getrandbits(8) if rnd.random() < 0.1 else 0) for b in good),  # bit flips
]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
sent = 0
for i in range(int(sys.argv[2])):
    s.sendto(cases[i % len(cases)](), (ip, 53))
    sent += 1
    if i % 200 == 199:
        time.sleep(0.01)
codes = {}
s.settimeout(1.0)
try:
    while True:
        data = s.recv(4096)
        codes[data[3] & 15] = codes.get(data[3] & 15, 0) + 1
except socket.timeout:
    pass
for payload in (b"\xff\xff" + b"x" * 100, b"\x00\x0c" + b"\x00" * 12, b"\x00\x05abc"):    # TCP garbage
    t = socket.create_connection((ip, 53), timeout=2)
    t.sendall(payload)
    t.close()
print(sent, " ".join(f"{k}:{v}" for k, v in sorted(codes.items())))
'''


def test_malformed_packets_do_not_hurt_the_server(dns):
    before = _dns_pod(dns)
    dns_ip = before["status"]["podIP"]
    out = dns.exec("client", sys.executable, "-c", FUZZ, dns_ip, "4000", timeout=60).stdout.split()
    sent, codes = int(out[0]), dict(x.split(":") for x in out[1:])
    assert sent == 4000
    assert int(codes.get("1", 0)) > 500, codes          # FORMERR
    assert int(codes.get("4", 0)) > 100, codes          # NOTIMP
    assert int(codes.get("5", 0)) > 100, codes          # REFUSED
    for _ in range(5):                                   # still right, by pod IP and by the Service
        assert short(dns, f"@{dns_ip}", "web.default.svc.cluster.local") == [dns.svc_ip["web"]]
    assert short(dns, "+tcp", "web.default.svc.cluster.local") == [dns.svc_ip["web"]]
    after = _dns_pod(dns)
    assert after["metadata"]["name"] == before["metadata"]["name"]
    errors = [line for line in dns.ok("logs", "-n", "kube-system", after["metadata"]["name"]).splitlines()
              if line.startswith("[ERROR]") or "Traceback" in line]
    assert not errors, errors                            # no packet reached a code path that failed
    status_ = after["status"]["containerStatuses"][0]
    assert status_["restartCount"] == 0 and status_["containerID"] == before["status"]["containerStatuses"][0]["containerID"]


# ---------------------------------------------------------------- the API goes away (keep this test last)
def test_dns_answers_without_the_api_and_catches_up_when_it_is_back(dns):
    pids = control_plane_pids(dns.name)
    assert pids
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    poll(lambda: not control_plane_pids(dns.name), timeout=5, what="the control plane to be gone")
    assert short(dns, "web.default.svc.cluster.local") == [dns.svc_ip["web"]]     # from what it last knew
    dns.up()                                                                      # a new control plane adopts the pods
    dns.apply("apiVersion: v1\nkind: Service\nmetadata: {name: after-restart}\nspec:\n  ports: [{port: 80}]\n")
    ip = json.loads(dns.ok("get", "service", "after-restart", "-o", "json"))["spec"]["clusterIP"]
    poll(lambda: short(dns, "after-restart.default.svc.cluster.local") == [ip], timeout=5,
         what="the DNS server to learn a Service made after the restart")
    assert _dns_pod(dns)["status"]["containerStatuses"][0]["restartCount"] == 0
