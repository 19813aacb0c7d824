"""Hard input against a live cluster (issue 14, item 6): the selectors, durations and TYPE/NAME forms that used
to end in tracebacks or match nothing, now as kubectl reads them; a refused manifest changes nothing."""
import json

from conftest import deployment_yaml, pod_yaml


def names(c, *args) -> list[str]:
    return sorted(line.split("/", 1)[1] for line in c.ok("get", *args, "-o", "name").split())


def laughs() -> str:
    text = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol}\ndata:\n  l0: &l0 ["lol", "lol"]\n'
    for i in range(1, 10):
        text += f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n"
    return text


def test_selectors_durations_and_type_name(fresh_cluster):
    c = fresh_cluster
    c.apply(deployment_yaml("web", 2) + "---\n" + pod_yaml("db", "toycluster/echo", labels={"app": "db"})
            + "---\n" + pod_yaml("lone", "toycluster/echo", labels={"tier": "x"}))
    c.ok("wait", "--for=condition=Ready", "pod", "--all", "--timeout", "2m", timeout=150)
    web = names(c, "pods", "-l", "app=web")
    assert len(web) == 2 and all(n.startswith("web-") for n in web)
    assert names(c, "pods", "-l", "app") == sorted(web + ["db"])
    assert names(c, "pods", "-l", "app in (web)") == web
    assert names(c, "pods", "-l", "app notin (web)") == ["db", "lone"]
    assert names(c, "pods", "-l", "app!=web") == ["db", "lone"]        # != matches pods without the label too
    assert names(c, "pods", "-l", "!app") == ["lone"]
    assert names(c, "pod/lone", "pod/db") == ["db", "lone"]
    assert names(c, "deploy/web") == ["web"]
    c.ok("wait", "--for=condition=Ready", "pod/lone", "--timeout", "1m30s")
    c.ok("wait", "--for=condition=Ready", "pods", "-l", "app in (web,db)", "--timeout", "500ms")
    p = c.run("wait", "--for=condition=Nope", "pod/lone", "--timeout", "0", check=1)
    assert "timed out waiting for the condition" in p.stderr
    p = c.run("logs", "deploy/web", check=0)
    assert "Found 2 pods, using pod/web-" in p.stderr
    out = c.ok("exec", "deploy/web", "--", "hostname")
    assert out.strip() in web
    c.ok("exec", "pod/lone", "--", "true")
    c.ok("scale", "deploy/web", "--replicas", "1")
    c.ok("delete", "pods", "-l", "app=db")
    assert "db" not in names(c, "pods")
    for args in (["get", "pods", "-l", "app in (web"], ["wait", "--for=condition=Ready", "pod", "--all",
                                                         "--timeout", "30"], ["get", "pod/lone", "svc"]):
        p = c.run(*args, check=2)
        assert p.stderr.startswith("error: ") and "Traceback" not in p.stderr, p.stderr


def test_refused_manifests_change_nothing(fresh_cluster):
    c = fresh_cluster
    before = json.loads(c.ok("get", "configmaps", "-A", "-o", "json"))["items"]
    for text in (laughs(), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: deep}\ndata: " + "[" * 10000,
                 "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata: {a: " + "x" * (4 << 20) + "}\n"):
        p = c.run("apply", "-f", "-", input=text, check=2)
        assert len(p.stderr.splitlines()) == 1 and "Traceback" not in p.stderr, p.stderr
    assert json.loads(c.ok("get", "configmaps", "-A", "-o", "json"))["items"] == before
