"""Pure tests (no root) of the network policy agent: the renderer's chains and rules, the `why` explainer
against upstream's truth tables (the x/y/z x a/b/c model, netpol_scenarios.py), and NetworkPolicy validation."""
import copy

import pytest

from netpol_scenarios import ALL, NAMESPACES, SCENARIOS, resolve
from toycluster.kernel.iptables_save import to_iptables_save
from toycluster.netpol import agent as np_
from toycluster.netpol.inputs import cidr_minus, compile_inputs, policy_types
from toycluster.proxy.names import SERVICE_CHAIN_PREFIXES
from toycluster.proxy.proxier import render as kp_render
from toycluster.netpol.why import ExplainError, Why, explain
from toycluster.api.fields import ManifestError
from toycluster.api.validation import validate

NODE_OF = {pid: f"node{1 + i % 2}" for i, pid in enumerate(ALL)}   # x/a node1, x/b node2, x/c node1, ...


def model_pods():
    out = []
    for i, pid in enumerate(ALL):
        ns, name = pid.split("/")
        node = NODE_OF[pid]
        out.append({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"namespace": ns, "name": name, "labels": {"pod": name}},
                    "spec": {"nodeName": node, "containers": [
                        {"name": f"c{p}", "image": "toycluster/echo", "ports": [
                            {"containerPort": p, "name": f"serve-{p}-tcp", "protocol": "TCP"},
                            {"containerPort": p, "name": f"serve-{p}-udp", "protocol": "UDP"}]} for p in (80, 81)]},
                    "status": {"phase": "Running", "podIP": f"10.196.{node[-1]}.{10 + i}"}})
    return out


def model_namespaces():
    return [{"apiVersion": "v1", "kind": "Namespace",
             "metadata": {"name": n, "labels": {"kubernetes.io/metadata.name": n}}} for n in NAMESPACES]


def policy(ns, name, spec):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


def matrix(why, port, proto):
    return {(s, d): why.explain(s, d, port, proto)[0] == "allowed" for s in ALL for d in ALL if s != d}


def diff_table(expected, got):
    bad = sorted(k for k in got if got[k] != expected[k])
    return "\n".join(f"  {s} -> {d}: expected {'allowed' if expected[(s, d)] else 'denied'}, "
                     f"rules say {'allowed' if got[(s, d)] else 'denied'}" for s, d in bad)


class Model:
    """The store as the steps of a scenario leave it."""

    def __init__(self):
        self.pods, self.namespaces, self.policies = model_pods(), model_namespaces(), {}
        self.ctx = {"ip": {f"{p['metadata']['namespace']}/{p['metadata']['name']}": p["status"]["podIP"]
                           for p in self.pods}}

    def step(self, step):
        for pol in step.get("apply", []):
            pol = validate(resolve(pol, self.ctx), "scenario.yaml")
            self.policies[(pol["metadata"]["namespace"], pol["metadata"]["name"])] = pol
        for key in step.get("delete", []):
            del self.policies[key]
        for kind, ns, name, labels in step.get("label", []):
            objs = self.pods if kind == "Pod" else self.namespaces
            obj = next(o for o in objs if o["metadata"]["name"] == name
                       and o["metadata"].get("namespace", "") == ns)
            for k, v in labels.items():
                if v is None:
                    obj["metadata"]["labels"].pop(k, None)
                else:
                    obj["metadata"]["labels"][k] = v

    def why(self):
        return Why(list(self.policies.values()), self.pods, self.namespaces)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_truth_tables_of_upstream_scenarios(name):
    model = Model()
    for n, step in enumerate(SCENARIOS[name], 1):
        model.step(step)
        why = model.why()
        for (port, proto), reach in step["expect"].items():
            expected = {k: v for k, v in reach.m.items() if k[0] != k[1]}
            got = matrix(why, port, proto)
            assert got == expected, f"{name} step {n}, {port}/{proto}:\n{diff_table(expected, got)}"
        for node in ("node1", "node2"):
            check_well_formed(why.state(node))


def check_well_formed(state):
    filt = state["filter"]
    assert list(state) == ["filter"]
    assert filt["FORWARD"] == [["-m", "comment", "--comment",
                                "network policies of the pods on this node (toycluster network policy agent)",
                                "-j", np_.TOP_CHAIN]]
    assert filt["INPUT"] == filt["OUTPUT"] == []
    for chain, rules in filt.items():
        if chain not in ("INPUT", "FORWARD", "OUTPUT"):
            assert chain.startswith(np_.OWNED_PREFIXES) and len(chain) <= 28, chain
        for rule in rules:
            assert "--comment" in rule and len(rule[rule.index("--comment") + 1].encode()) <= 255, rule
            target = rule[rule.index("-j") + 1]
            assert target in ("RETURN", "REJECT", "MARK") or target in filt, rule


def test_owned_prefixes_are_not_kube_proxys_and_tables_merge():
    assert not any(p.startswith(SERVICE_CHAIN_PREFIXES) for p in np_.OWNED_PREFIXES)
    assert not any(p.startswith(np_.OWNED_PREFIXES) for p in SERVICE_CHAIN_PREFIXES)
    ours = np_.render([policy("x", "deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})],
                      model_pods(), model_namespaces(), node_name="node1")["filter"]
    theirs = kp_render([], [], node_name="node1", node_ip="192.168.96.11", cluster_cidr="10.196.0.0/16")["filter"]
    assert not (set(ours) & set(theirs)) - {"INPUT", "FORWARD", "OUTPUT"}


def test_golden_rules_of_one_policy():
    pol = policy("x", "web", {"podSelector": {"matchLabels": {"pod": "a"}}, "ingress": [
        {"from": [{"podSelector": {"matchLabels": {"pod": "b"}}}, {"ipBlock": {"cidr": "192.168.96.0/24",
                                                                             "except": ["192.168.96.128/25"]}}],
         "ports": [{"port": 80}, {"port": 8000, "endPort": 8080, "protocol": "UDP"}]}]})
    text = to_iptables_save(np_.render([validate(pol, "p.yaml")], model_pods(), model_namespaces(),
                                       node_name="node1"))
    pod_chain, pol_chain = np_.pod_chain("x", "a", "ingress"), np_.policy_chain("x", "web", "ingress")
    declared = "\n".join(f":{c} - [0:0]" for c in sorted([np_.TOP_CHAIN, np_.REJECT_CHAIN, pol_chain, pod_chain]))
    rules = {}
    for line in [
        '-A FORWARD -m comment --comment "network policies of the pods on this node (toycluster network policy agent)" -j KUBE-NWPLCY-FORWARD',
        '-A KUBE-NWPLCY-FORWARD -m comment --comment "network policies: replies and established connections pass (stateful)" -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN',
        f'-A KUBE-NWPLCY-FORWARD -d 10.196.1.10/32 -m comment --comment "x/a: ingress isolation" -j {pod_chain}',
        '-A KUBE-NWPLCY-REJECT -p tcp -m comment --comment "network policies: deny TCP with a reset" -j REJECT --reject-with tcp-reset',
        '-A KUBE-NWPLCY-REJECT -m comment --comment "network policies: deny other protocols with ICMP port unreachable" -j REJECT --reject-with icmp-port-unreachable',
        f'-A {pol_chain} -s 10.196.2.11/32 -p tcp -m comment --comment "x/web ingress rule 1: from pod x/b (podSelector), port 80/TCP" -m tcp --dport 80 -j MARK --set-xmark 0x20000/0x20000',
        f'-A {pol_chain} -s 192.168.96.0/25 -p tcp -m comment --comment "x/web ingress rule 1: from ipBlock 192.168.96.0/24 except 192.168.96.128/25, port 80/TCP" -m tcp --dport 80 -j MARK --set-xmark 0x20000/0x20000',
        f'-A {pol_chain} -s 10.196.2.11/32 -p udp -m comment --comment "x/web ingress rule 1: from pod x/b (podSelector), ports 8000-8080/UDP" -m udp --dport 8000:8080 -j MARK --set-xmark 0x20000/0x20000',
        f'-A {pol_chain} -s 192.168.96.0/25 -p udp -m comment --comment "x/web ingress rule 1: from ipBlock 192.168.96.0/24 except 192.168.96.128/25, ports 8000-8080/UDP" -m udp --dport 8000:8080 -j MARK --set-xmark 0x20000/0x20000',
        f'-A {pod_chain} -s 10.196.1.10/32 -m comment --comment "x/a: traffic to itself is not filtered" -j RETURN',
        f'-A {pod_chain} -m comment --comment "x/a ingress: policy x/web" -j {pol_chain}',
        f'-A {pod_chain} -m comment --comment "x/a ingress: allowed by policy x/web" -m mark --mark 0x20000/0x20000 -j RETURN',
        f'-A {pod_chain} -m comment --comment "x/a: ingress isolated and no policy allows it" -j KUBE-NWPLCY-REJECT',
    ]:
        rules.setdefault(line.split()[1], []).append(line)
    assert text == "\n".join(["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", declared,
                              *rules.pop("FORWARD"), *(line for c in sorted(rules) for line in rules[c]), "COMMIT", ""])
    # node2 has no pod the policy selects: only the stateful rule
    assert np_.render([pol], model_pods(), model_namespaces(), node_name="node2")["filter"][np_.TOP_CHAIN] == [
        ["-m", "comment", "--comment", "network policies: replies and established connections pass (stateful)",
         "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "RETURN"]]


def test_chain_names_use_upstream_hash_scheme():
    assert np_.pod_chain("x", "a", "ingress") == np_.pod_chain("x", "a", "ingress")
    assert np_.pod_chain("x", "a", "ingress") != np_.pod_chain("x", "a", "egress")
    name = np_.policy_chain("x", "web", "egress")
    assert name.startswith("KUBE-NWPLCY-") and len(name) == 28 and name[12:].isalnum() and name[12:].isupper()


def test_policy_types_default():
    assert policy_types(policy("x", "p", {"podSelector": {}})) == ["Ingress"]
    assert policy_types(policy("x", "p", {"egress": [{}]})) == ["Ingress", "Egress"]
    assert policy_types(policy("x", "p", {"egress": []})) == ["Ingress"]
    assert policy_types(policy("x", "p", {"policyTypes": ["Egress"], "ingress": [{}]})) == ["Egress"]
    # egress rules without Egress in policyTypes are ignored: x/a stays open for egress
    why = Why([policy("x", "p", {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}],
                                 "egress": [{"ports": [{"port": 1}]}]})], model_pods(), model_namespaces())
    assert why.explain("x/a", "y/a", 80)[0] == "allowed"


def test_cidr_minus():
    assert cidr_minus("10.0.0.0/8", []) == ["10.0.0.0/8"]
    assert cidr_minus("10.0.0.0/30", ["10.0.0.1/32"]) == ["10.0.0.0/32", "10.0.0.2/31"]
    assert cidr_minus("10.0.0.0/24", ["10.0.0.0/24"]) == []
    assert cidr_minus("10.0.0.5/24", ["10.0.0.128/25", "10.0.0.0/26"]) == ["10.0.0.64/26"]


def test_named_ingress_port_resolves_per_pod():
    pods = model_pods()
    x_c = next(p for p in pods if p["metadata"]["name"] == "c" and p["metadata"]["namespace"] == "x")
    x_c["spec"]["containers"][0]["ports"][0]["containerPort"] = 8080          # x/c: serve-80-tcp is 8080
    pol = policy("x", "named", {"podSelector": {}, "ingress": [{"ports": [{"port": "serve-80-tcp"}]}]})
    why = Why([pol], pods, model_namespaces())
    assert why.explain("y/a", "x/a", 80)[0] == "allowed"
    assert why.explain("y/a", "x/c", 80)[0] == "denied"
    assert why.explain("y/a", "x/c", 8080)[0] == "allowed"
    assert why.explain("y/a", "x/c", "serve-80-tcp")[0] == "allowed"
    filt = why.state("node1")["filter"]          # x/a and x/c are on node1 and resolve differently
    assert len([c for c in filt if c.startswith("KUBE-NWPLCY-")]) == 4   # FORWARD, REJECT, one per resolution


def test_named_egress_port_needs_a_pod_with_that_port():
    pol = policy("x", "out", {"podSelector": {"matchLabels": {"pod": "a"}}, "policyTypes": ["Egress"], "egress": [
        {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": "serve-81-tcp"}]}]})
    why = Why([pol], model_pods(), model_namespaces())
    assert why.explain("x/a", "y/b", 81)[0] == "allowed"
    assert why.explain("x/a", "y/b", 80)[0] == "denied"
    assert why.explain("x/a", "203.0.113.7", 81)[0] == "denied"     # no pod there names port 81


def test_ip_block_applies_to_outside_sources_and_node_traffic_is_never_filtered():
    pol = policy("x", "from-lb", {"podSelector": {"matchLabels": {"pod": "a"}}, "ingress": [
        {"from": [{"ipBlock": {"cidr": "203.0.113.0/24", "except": ["203.0.113.100/32"]}}]}]})
    why = Why([pol], model_pods(), model_namespaces(), node_ips={"node1": ["192.168.96.11", "10.196.1.1"]})
    assert why.explain("203.0.113.10", "x/a", 80)[0] == "allowed"
    assert why.explain("203.0.113.100", "x/a", 80)[0] == "denied"
    assert why.explain("192.168.96.12", "x/a", 80)[0] == "denied"      # another node
    verdict, reasons = why.explain("192.168.96.11", "x/a", 80)         # its own node
    assert verdict == "allowed" and "always allowed" in reasons[0]


def test_self_traffic_and_reasons_name_the_deciding_rules():
    pols = [policy("x", "deny-all", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
            policy("x", "allow-b", {"podSelector": {"matchLabels": {"pod": "a"}},
                                    "ingress": [{"from": [{"podSelector": {"matchLabels": {"pod": "b"}}}]}]})]
    why = Why(pols, model_pods(), model_namespaces())
    verdict, reasons = why.explain("x/a", "10.196.1.10", 80)
    assert verdict == "allowed" and "itself" in reasons[0]
    verdict, reasons = why.explain("x/b", "x/a", 80)
    assert verdict == "denied"       # x/b's egress is denied by deny-all, although x/a's ingress allows it
    text = "\n".join(reasons)
    assert "egress of x/b (on node2): isolated by x/deny-all" in text
    assert "denied: none of their egress rules allows it (x/deny-all has no egress rules) -> KUBE-NWPLCY-REJECT" in text
    assert "ingress of x/a (on node1): isolated by x/allow-b, x/deny-all" in text
    assert "matched: x/allow-b ingress rule 1: from pod x/b (podSelector), any port" in text
    verdict, reasons = why.explain("y/a", "x/c", "serve-81-tcp", "TCP")
    assert verdict == "denied" and "port serve-81-tcp=81/TCP" in reasons[0]


def test_explain_errors():
    why = Why([], model_pods(), model_namespaces())
    with pytest.raises(ExplainError, match='pod "x/nope" not found'):
        why.explain("x/nope", "x/a", 80)
    with pytest.raises(ExplainError, match="no container port named 'http'"):
        why.explain("x/b", "x/a", "http")
    with pytest.raises(ExplainError, match="protocol ICMP"):
        why.explain("x/b", "x/a", 80, "ICMP")
    assert explain("x/b", "x/a", 80, "TCP", [], model_pods(), model_namespaces())[0] == "allowed"


def test_pods_without_ip_or_finished_are_ignored_and_missing_namespaces_get_the_name_label():
    pods = model_pods()
    pods[0]["status"] = {"phase": "Pending"}
    pods[1]["status"]["phase"] = "Succeeded"
    inp = compile_inputs([], pods, [])
    assert [r["id"] for r in inp.pods] == ALL[2:]
    assert inp.ns_of("x") == {"kubernetes.io/metadata.name": "x"}


def test_fingerprint_follows_labels_not_status_conditions():
    pods, nss, pols = model_pods(), model_namespaces(), [policy("x", "p", {"podSelector": {}})]
    base = np_.fingerprint(pols, pods, nss)
    pods2 = copy.deepcopy(pods)
    pods2[0]["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
    assert np_.fingerprint(pols, pods2, nss) == base
    pods2[0]["metadata"]["labels"]["new"] = "1"
    assert np_.fingerprint(pols, pods2, nss) != base
    assert np_.fingerprint([], pods2, nss) == np_.fingerprint([], pods, nss)   # no policy: pods do not matter
    nss[0]["metadata"]["labels"]["team"] = "a"
    assert np_.fingerprint(pols, pods, nss) != base


# ---------------------------------------------------------------- validation (bad input from issue 6)

def bad(spec):
    with pytest.raises(ManifestError) as e:
        validate(policy("x", "p", spec), "np.yaml")
    return str(e.value)


def test_validation_accepts_upstream_shapes_and_fills_defaults():
    obj = validate(policy("x", "p", {"ingress": [{"from": [{"namespaceSelector": {}, "podSelector": {}}],
                                                   "ports": [{"port": 80, "endPort": 90}, {"port": "http"}]}]}),
                   "np.yaml")
    assert obj["spec"]["podSelector"] == {}
    assert [p["protocol"] for p in obj["spec"]["ingress"][0]["ports"]] == ["TCP", "TCP"]
    for scenario in SCENARIOS.values():
        for step in scenario:
            for pol in step.get("apply", []):
                validate(resolve(pol, {"ip": {pid: "10.196.1.10" for pid in ALL}}), "scenario.yaml")


@pytest.mark.parametrize("spec,message", [
    ({"ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/33"}}]}]},
     'np.yaml: NetworkPolicy x/p: spec.ingress[0].from[0].ipBlock.cidr: Invalid value: "10.0.0.0/33": '
     "must be a valid CIDR value"),
    ({"egress": [{"to": [{"ipBlock": {"cidr": "10.1.2.3"}}]}]}, "spec.egress[0].to[0].ipBlock.cidr: Invalid value"),
    ({"ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/16", "except": ["10.1.0.0/24"]}}]}]},
     'spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: "10.1.0.0/24": must be a strict subset of `cidr`'),
    ({"ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/16", "except": ["10.0.0.0/16"]}}]}]},
     "except[0]: Invalid value: \"10.0.0.0/16\": must be a strict subset"),
    ({"ingress": [{"ports": [{"protocol": "ICMP"}]}]},
     'spec.ingress[0].ports[0].protocol: Unsupported value: "ICMP": supported values: "TCP", "UDP", "SCTP"'),
    ({"egress": [{"ports": [{"port": "sixteen-chars-xx"}]}]},
     'spec.egress[0].ports[0].port: Invalid value: "sixteen-chars-xx": must be no more than 15 characters'),
    ({"egress": [{"ports": [{"port": 90, "endPort": 80}]}]},
     "spec.egress[0].ports[0].endPort: Invalid value: 80: must be greater than or equal to `port`"),
    ({"egress": [{"ports": [{"port": "http", "endPort": 80}]}]}, "endPort: Forbidden: may not be specified when `port` is non-numeric"),
    ({"egress": [{"ports": [{"endPort": 80}]}]}, "endPort: Forbidden: may not be specified when `port` is not specified"),
    ({"egress": [{"ports": [{"port": 70000}]}]}, "port: Invalid value: 70000: must be between 1 and 65535"),
    ({"egress": [{"to": [{}]}]}, "spec.egress[0].to[0]: Required value: must specify a peer"),
    ({"egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}]}]},
     "Forbidden: may not specify both ipBlock and another peer"),
    ({"policyTypes": ["Ingress", "Sideways"]}, 'spec.policyTypes[1]: Unsupported value: "Sideways"'),
    ({"ingres": [{}]}, 'spec.ingres: unknown field (did you mean "ingress"?)'),
    ({"podSelector": {"matchLabels": {"a": "b c"}}}, "spec.podSelector.matchLabels.a: Invalid value"),
])
def test_validation_refuses_bad_input(spec, message):
    assert message in bad(spec)


def test_consecutive_pod_addresses_collapse_into_exact_cidrs():
    pods = [{"metadata": {"namespace": "n", "name": f"p{i}", "labels": {"app": "w"}}, "spec": {"nodeName": "node1"},
             "status": {"phase": "Running", "podIP": f"10.196.1.{i}"}} for i in (2, 3, 4, 5, 6, 7, 9)]
    inp = compile_inputs([policy("n", "p", {"ingress": [{"from": [{"podSelector": {}}]}]})], pods, [])
    addrs = inp.policies[0]["dirs"]["ingress"][0]["peers"][0]["addresses"]
    assert [a for a, _ in addrs] == ["10.196.1.2/31", "10.196.1.4/30", "10.196.1.9/32"]
    assert addrs[0][1] == "pods n/p2, n/p3 (podSelector)" and addrs[2][1] == "pod n/p9 (podSelector)"


# ---------------------------------------------------------------- `toycluster label` and `policy why` parsing, POST /label

def test_label_arguments():
    from toycluster.cli.policy import UsageError, parse_label_args
    assert parse_label_args("pod", ["web", "a=1", "b-"]) == ("pod", ["web"], {"a": "1", "b": None})
    assert parse_label_args("pod/web", ["a="]) == ("pod", ["web"], {"a": ""})
    assert parse_label_args("ns", ["y", "z", "team=blue"]) == ("ns", ["y", "z"], {"team": "blue"})
    for args, msg in ((["web"], "at least one"), (["a=1"], "needs a name"), (["web", "a=1", "b"], "KEY=VALUE or KEY-"),
                      (["web", "a=1", "a=2"], "each label once"), (["web", "a=b c"], "Invalid value")):
        with pytest.raises(UsageError, match=msg):
            parse_label_args("pod", args)


def test_why_target_parsing():
    from toycluster.cli.policy import parse_target
    assert parse_target("web", "x", set()) == ("x/web", None, "TCP")
    assert parse_target("y/web:8080/udp", "x", set()) == ("y/web", "8080", "UDP")
    assert parse_target("web:http", "x", set()) == ("x/web", "http", "TCP")
    assert parse_target("10.196.1.2:53/UDP", "x", set()) == ("10.196.1.2", "53", "UDP")
    assert parse_target("x/tcp", "d", {"x/tcp"}) == ("x/tcp", None, "TCP")       # a pod named tcp
    assert parse_target("x/tcp", "d", set()) == ("d/x", None, "TCP")


def test_api_label_sets_removes_and_guards():
    from toycluster.api.registry import API, APIError
    from toycluster.api.store import Store
    store = Store(None)
    api = API(store)
    api.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}},
               {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "namespace": "x", "labels": {"pod": "a"}},
                "spec": {"containers": [{"name": "c", "image": "toycluster/echo"}]}}])
    assert api.label("Pod", "x", "a", {"tier": "web"}) == "pod/a labeled"
    assert store.get("Pod", "x", "a")["metadata"]["labels"] == {"pod": "a", "tier": "web"}
    assert api.label("Pod", "x", "a", {"tier": "web"}) == "pod/a not labeled"
    with pytest.raises(APIError, match=r"'tier' already has a value \(web\), and --overwrite is false"):
        api.label("Pod", "x", "a", {"tier": "db"})
    assert api.label("Pod", "x", "a", {"tier": "db"}, overwrite=True) == "pod/a labeled"
    assert api.label("Pod", "x", "a", {"tier": None, "pod": None}) == "pod/a unlabeled"
    assert "labels" not in store.get("Pod", "x", "a")["metadata"]
    assert api.label("Namespace", "", "x", {"team": "blue"}) == "namespace/x labeled"
    with pytest.raises(APIError, match="kubernetes.io/metadata.name: the API server sets it"):
        api.label("Namespace", "", "x", {"kubernetes.io/metadata.name": None})
    with pytest.raises(APIError, match="Invalid value"):
        api.label("Pod", "x", "a", {"bad key!": "v"})
    with pytest.raises(APIError, match='pods "nope" not found in namespace "x"'):
        api.label("Pod", "x", "nope", {"a": "b"})


def test_a_cluster_ip_is_explained_per_endpoint_after_translation():
    svc = {"kind": "Service", "metadata": {"namespace": "x", "name": "web"},
           "spec": {"clusterIP": "10.197.0.20", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}}
    sl = {"kind": "EndpointSlice", "metadata": {"namespace": "x", "name": "web-abc",
                                                "labels": {"kubernetes.io/service-name": "web"}},
          "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
          "endpoints": [{"addresses": ["10.196.1.10"], "conditions": {"ready": True}},      # x/a
                        {"addresses": ["10.196.2.11"], "conditions": {"ready": True}}]}     # x/b
    pol = policy("x", "only-b", {"podSelector": {"matchLabels": {"pod": "a"}},
                                 "ingress": [{"from": [{"podSelector": {"matchLabels": {"pod": "b"}}}]}]})
    why = Why([pol], model_pods(), model_namespaces(), services=[svc], slices=[sl])
    verdict, reasons = why.explain("x/b", "10.197.0.20", 8080)
    assert verdict == "allowed" and "ClusterIP of service x/web" in reasons[0]
    verdict, reasons = why.explain("x/c", "10.197.0.20", 8080)
    assert verdict == "partly allowed"
    assert any("endpoint 10.196.1.10:80: DENIED" in r for r in reasons)
    assert any("endpoint 10.196.2.11:80: ALLOWED" in r for r in reasons)
    assert why.explain("x/c", "10.197.0.20", 9999)[0] == "denied"
    sl["endpoints"] = []
    assert "no ready endpoints" in Why([], model_pods(), [], services=[svc], slices=[sl]).explain(
        "x/c", "10.197.0.20", 8080)[1][0]


def test_many_isolated_pods_are_dispatched_by_block_and_still_explained():
    pods = [{"metadata": {"namespace": "big", "name": f"p{i}", "labels": {"app": "w" if i % 2 else "v"}},
             "spec": {"nodeName": "node1"}, "status": {"phase": "Running", "podIP": f"10.196.1.{10 + i}"}}
            for i in range(40)]
    pols = [policy("big", "deny", {"podSelector": {}, "policyTypes": ["Ingress"]}),
            policy("big", "w-from-v", {"podSelector": {"matchLabels": {"app": "w"}},
                                       "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "v"}}}]}]})]
    filt = np_.render(pols, pods, [], node_name="node1")["filter"]
    top = filt[np_.TOP_CHAIN]
    assert len(top) == 1 + 4 and all(r[1].endswith("/28") for r in top[1:]), top   # 10.196.1.0/28 ... .48/28
    assert [r[r.index("--comment") + 1] for r in top[1:3]] == ["ingress isolation of 6 pods in 10.196.1.0/28",
                                                               "ingress isolation of 16 pods in 10.196.1.16/28"]
    check_well_formed({"filter": filt})
    why = Why(pols, pods, [])
    assert why.explain("big/p0", "big/p39", 80)[0] == "allowed"
    assert why.explain("big/p1", "big/p39", 80)[0] == "denied"
    assert why.explain("big/p2", "big/p4", 80)[0] == "denied"
