"""Lab 12 (break it and diagnose): what its checks read, on made-up outputs — a rule kube-proxy did not write, a
repair that bent the pods instead of the Service, a policy deleted rather than fixed — and that every exercise's
page anchor exists; the exercises themselves run in tests/system/test_labs.py."""
import os
import subprocess

from toycluster.labs import lab12_break_it, lab12_cluster, lab12_objects, replay

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
HAND = ('-A PREROUTING -d 10.96.4.7/32 -p tcp -m tcp --dport 80 -m comment --comment "web: quick fix" '
        '-j DNAT --to-destination 10.244.1.5:80')
JUMP = '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES'
SEP = ('-A KUBE-SEP-ABCDEFGHIJKLMNOP -p tcp -m comment --comment "lab12/web:http" -m tcp -j DNAT '
       '--to-destination 10.244.1.5:8080')
RENDERED = f"*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n*nat\n:PREROUTING ACCEPT [0:0]\n{JUMP}\n{SEP}\nCOMMIT\n"


class FakeCtx:
    """A Ctx answering exec from ANSWER(target, cmd) -> (status, stdout), and get/list from OBJECTS."""

    def __init__(self, answer, objects=None, rendered=RENDERED):
        self.answer, self.objects, self.rendered = answer, objects or {}, rendered

    def exec(self, target, *cmd, **kw):
        status, out = self.answer(target, cmd)
        return subprocess.CompletedProcess(cmd, status, out if status == 0 else "", "" if status == 0 else out)

    def toycluster(self, *args, **kw):
        return self.rendered

    def get(self, kind, name, namespace="default"):
        return self.objects.get((kind, name))

    def list(self, kind, namespace="default"):
        return [o for (k, _), o in self.objects.items() if k == kind]


def _answers(curl_ok=True, hello="Hostname: web-5d9f-abcde", nat=JUMP + "\n" + SEP, nc_ok=False, dig=""):
    def answer(target, cmd):
        if cmd[0] == "curl":
            return (0, hello + "\n") if curl_ok else (7, "curl: (7) Failed to connect to web port 80 after 2 ms")
        if cmd[0] == "iptables-save":
            return 0, f"*nat\n:PREROUTING ACCEPT [0:0]\n{nat}\nCOMMIT\n"
        if cmd[0] == "nc":
            return (0, "") if nc_ok else (1, "")
        if cmd[0] == "dig":
            return 0, dig
        return 0, ""
    return answer


WEB_SVC = {("Service", "web"): {"spec": {"clusterIP": "10.96.4.7"}}}


def test_12a_a_rule_kube_proxy_did_not_write_fails_even_when_web_answers():
    verdict = lab12_cluster.check_a(FakeCtx(_answers(nat=f"{JUMP}\n{HAND}\n{SEP}"), WEB_SVC))
    assert not verdict.ok and "web: quick fix" in verdict.missing
    assert lab12_cluster.check_a(FakeCtx(_answers(), WEB_SVC)).ok
    broken = lab12_cluster.check_a(FakeCtx(_answers(curl_ok=False), WEB_SVC))
    assert not broken.ok and "still fails" in broken.missing and broken.hints[0] != broken.hints[1]


def _api(target_port, container_port=8080):
    deploy = {"spec": {"template": {"spec": {"containers": [{"ports": [{"name": "http",
                                                                         "containerPort": container_port}]}]}}}}
    return {("Service", "api"): {"spec": {"ports": [{"port": 80, "targetPort": target_port}]}},
            ("Deployment", "api"): deploy}


def test_12d_the_service_must_be_fixed_not_the_pods():
    answer = _answers(hello="Hostname: api-7fb9-x")
    assert lab12_objects.check_d(FakeCtx(answer, _api("http"))).ok
    assert lab12_objects.check_d(FakeCtx(answer, _api(8080))).ok
    bent = lab12_objects.check_d(FakeCtx(answer, _api(80, container_port=80)))
    assert not bent.ok and "the pods were changed" in bent.missing


def test_12e_the_selector_must_pick_the_deployments_pods():
    def objects(selector):
        return {("Service", "cart"): {"spec": {"selector": selector}},
                ("Deployment", "cart"): {"spec": {"template": {"metadata": {"labels": {"app": "cart"}}}}}}
    answer = _answers(hello="Hostname: cart-6c85-y")
    assert lab12_objects.check_e(FakeCtx(answer, objects({"app": "cart"}))).ok
    relabelled = lab12_objects.check_e(FakeCtx(answer, objects({"app": "carts"})))
    assert not relabelled.ok and "relabelled" in relabelled.missing


def test_12f_dns_allowed_but_egress_opened_does_not_pass():
    objects = {("Service", "ledger"): {"spec": {"clusterIP": "10.96.9.9"}},
               ("Pod", "vault"): {"status": {"podIP": "10.244.2.7"}}}
    answer = _answers(hello="Hostname: ledger-5fbd-z")
    assert lab12_objects.check_f(FakeCtx(answer, objects)).ok
    opened = lab12_objects.check_f(FakeCtx(_answers(hello="Hostname: ledger-5fbd-z", nc_ok=True), objects))
    assert not opened.ok and "vault" in opened.missing
    no_dns = lab12_objects.check_f(FakeCtx(_answers(curl_ok=False), objects))
    assert not no_dns.ok and "no answer" in no_dns.missing


def test_every_exercise_is_a_break_it_lab_with_its_section_on_the_page():
    labs = lab12_break_it.LABS
    assert [lab.key for lab in labs] == ["12a", "12b", "12c", "12d", "12e", "12f"]
    for lab in labs:
        path, _, anchor = lab.doc.partition("#")
        with open(os.path.join(REPO, path)) as f:
            steps = replay.parse(f.read(), anchor)
        assert lab.breaks and lab.namespace == "lab12"
        assert steps[0].command == f"toycluster lab start {lab.key}"
        assert steps[-1].command == f"toycluster lab check {lab.key}" and steps[-1].expected.startswith("PASS")
