"""Pure tests (no root) of kube-proxy's per-Service render cache: it renders again only what changed, and
its result on every node always equals a full proxier.render of the same inputs for that node."""
import copy
import random

from test_kube_proxy import NODE1, SERVICES, SLICES

from toycluster.kernel.iptables_save import to_iptables_save
from toycluster.proxy.proxier import render
from toycluster.proxy import changes
from toycluster.proxy.changes import ClusterRender, Inputs
from toycluster.proxy.service_ports import endpoint_count

NODE2 = dict(node_name="node2", node_ip="192.168.50.12", cluster_cidr="10.244.0.0/16")
NODES = {NODE1["node_name"]: NODE1["node_ip"], NODE2["node_name"]: NODE2["node_ip"]}


def new_cache():
    return ClusterRender(NODES, cluster_cidr=NODE1["cluster_cidr"])


def full(services, slices):
    return {node["node_name"]: render(services, slices, **node) for node in (NODE1, NODE2)}


def versioned():
    """The golden test's Services and EndpointSlices, as read from the API (with resource versions)."""
    services, slices = copy.deepcopy(SERVICES), copy.deepcopy(SLICES)
    for n, obj in enumerate(services + slices, 1):
        obj["metadata"]["resourceVersion"] = str(n)
    return services, slices


def slice_of(slices, name):
    return next(s for s in slices if s["metadata"]["labels"]["kubernetes.io/service-name"] == name)


def test_first_render_equals_full_render_on_each_node():
    services, slices = versioned()
    cache = new_cache()
    states = cache.render(services, slices)
    assert states == full(services, slices)
    assert states["node1"] != states["node2"]          # "local" (externalTrafficPolicy Local) differs
    assert cache.rendered == len(services)


def test_nodes_share_one_state_when_no_service_depends_on_the_node():
    services, slices = versioned()
    services = [s for s in services if s["metadata"]["name"] != "local"]
    states = new_cache().render(services, slices)
    assert states == full(services, slices)
    assert states["node1"] is states["node2"]


def test_nothing_changed_renders_nothing_and_reuses_the_rule_lists():
    services, slices = versioned()
    cache = new_cache()
    first = cache.render(services, slices)["node1"]
    again = cache.render(copy.deepcopy(services), copy.deepcopy(slices))["node1"]
    assert cache.rendered == 0
    assert again == first
    assert all(again["nat"][c] is first["nat"][c] for c in first["nat"] if c.startswith("KUBE-SEP-"))


def test_one_endpoint_unready_rerenders_only_its_service():
    services, slices = versioned()
    cache = new_cache()
    before = cache.render(services, slices)["node2"]
    web = slice_of(slices, "web")
    web["endpoints"][0]["conditions"] = {"ready": False, "serving": False}
    web["metadata"]["resourceVersion"] = "100"
    states = cache.render(services, slices)
    after = states["node2"]
    assert cache.rendered == 1
    assert states == full(services, slices)
    assert after != before
    shop = [c for c in before["nat"] if c.startswith("KUBE-SEP-") and "default/shop:http" in before["nat"][c][0]]
    assert shop and all(after["nat"][c] is before["nat"][c] for c in shop)


def test_a_service_change_rerenders_it():
    services, slices = versioned()
    cache = new_cache()
    cache.render(services, slices)
    shop = next(s for s in services if s["metadata"]["name"] == "shop")
    shop["spec"]["externalTrafficPolicy"] = "Local"
    shop["metadata"]["resourceVersion"] = "100"
    assert cache.render(services, slices) == full(services, slices)
    assert cache.rendered == 1


def test_a_removed_service_disappears():
    services, slices = versioned()
    cache = new_cache()
    before = cache.render(services, slices)["node1"]
    rest = [s for s in services if s["metadata"]["name"] != "web"]
    after = cache.render(rest, slices)["node1"]
    assert cache.render(rest, slices) == full(rest, slices)
    assert "10.96.0.12" in to_iptables_save(before) and "10.96.0.12" not in to_iptables_save(after)
    assert ("default", "web") not in cache.pieces
    assert cache.rendered == 0


def test_a_removed_or_added_slice_rerenders_its_service():
    services, slices = versioned()
    cache = new_cache()
    cache.render(services, slices)
    without = [s for s in slices if s is not slice_of(slices, "shop")]
    assert cache.render(services, without) == full(services, without)
    assert cache.rendered == 1
    extra = copy.deepcopy(slice_of(slices, "shop"))
    extra["metadata"].update(name="shop-second", resourceVersion="200")
    extra["endpoints"][0]["addresses"] = ["10.244.1.21"]
    more = slices + [extra]
    assert cache.render(services, more) == full(services, more)
    assert cache.rendered == 1


def test_objects_without_resource_version_are_rendered_every_time():
    services, slices = copy.deepcopy(SERVICES), copy.deepcopy(SLICES)
    cache = new_cache()
    cache.render(services, slices)
    slice_of(slices, "web")["endpoints"][1]["conditions"] = {"ready": False}   # changed in place, no version
    assert cache.render(services, slices) == full(services, slices)
    assert cache.rendered == len(services)
    assert cache.pieces == {}


def test_random_changes_always_equal_a_full_render():
    rng = random.Random(7)
    services, slices = [], []
    for i in range(30):
        ports = [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]
        if i % 3 == 0:
            ports.append({"name": "dns", "port": 53, "targetPort": 53, "protocol": "UDP"})
        spec = {"type": "NodePort" if i % 4 == 0 else "ClusterIP", "clusterIP": f"10.96.1.{i + 1}",
                "ports": [dict(p, nodePort=30000 + 2 * i + k) if i % 4 == 0 else p for k, p in enumerate(ports)]}
        services.append({"kind": "Service", "metadata": {"namespace": "default", "name": f"s{i}",
                                                         "resourceVersion": "1"}, "spec": spec})
        slices.append({"kind": "EndpointSlice", "addressType": "IPv4",
                       "metadata": {"namespace": "default", "name": f"s{i}-abc", "resourceVersion": "1",
                                    "labels": {"kubernetes.io/service-name": f"s{i}"}},
                       "ports": [{"name": p["name"], "port": p["targetPort"], "protocol": p["protocol"]}
                                 for p in ports],
                       "endpoints": [{"addresses": [f"10.244.{k}.{i + 2}"], "nodeName": f"node{k}",
                                      "conditions": {"ready": True}} for k in (1, 2, 3)]})
    cache = new_cache()
    rv = 1
    for step in range(60):
        rv += 1
        what = rng.randrange(4)
        if what == 0:                                   # an endpoint flips readiness
            sl = rng.choice(slices)
            ep = rng.choice(sl["endpoints"])
            ep["conditions"] = {"ready": not ep["conditions"]["ready"]}
            sl["metadata"]["resourceVersion"] = str(rv)
        elif what == 1:                                 # a Service's policy changes
            svc = rng.choice(services)
            svc["spec"]["externalTrafficPolicy"] = rng.choice(["Local", "Cluster"])
            svc["metadata"]["resourceVersion"] = str(rv)
        elif what == 2 and len(services) > 5:           # a Service goes (its slice stays a while)
            services.pop(rng.randrange(len(services)))
        else:                                           # a slice goes
            if slices:
                slices.pop(rng.randrange(len(slices)))
        order = rng.sample(services, len(services))     # the order the store lists them in does not matter
        assert cache.render(order, slices) == full(services, slices), f"step {step}"


def test_a_change_told_by_name_is_patched_into_a_copy_of_the_last_states():
    """render_changed with the changed Service named: an endpoint turning unready re-renders that Service
    only and patches its chains into new state dicts; the states handed out before are left as they were
    (kube-proxy compares them with the new ones), and the result equals a full render."""
    services, slices = versioned()
    inputs = Inputs(services, slices)
    cache = new_cache()
    before = cache.render_changed(inputs, inputs.take_changed())
    kept = copy.deepcopy(before)
    web = copy.deepcopy(slice_of(slices, "web"))
    web["endpoints"][0]["conditions"] = {"ready": False, "serving": False}
    web["metadata"]["resourceVersion"] = "100"
    inputs.endpoint_slice(("default", web["metadata"]["name"]), web)
    changed = inputs.take_changed()
    assert changed == {("default", "web")}
    after = cache.render_changed(inputs, changed)
    assert cache.rendered == 1
    slices = [web if s["metadata"]["name"] == web["metadata"]["name"] else s for s in slices]
    assert after == full(services, slices) and before == kept
    assert all(after[n]["nat"] is not before[n]["nat"] for n in after)
    assert cache.render_changed(inputs, inputs.take_changed()) is after     # nothing changed since


def test_random_changes_told_by_name_always_equal_a_full_render(monkeypatch):
    """Services and slices changed, added and deleted one by one through Inputs, as kube-proxy's informer
    reports them: each render_changed equals a full render, patched (most steps) or assembled again."""
    assembled = []
    real = changes._assemble
    monkeypatch.setattr(changes, "_assemble", lambda ports: (assembled.append(1), real(ports))[1])
    rng = random.Random(11)
    services, slices = versioned()
    services, slices = {(s["metadata"]["namespace"], s["metadata"]["name"]): s for s in services}, \
        {(s["metadata"]["namespace"], s["metadata"]["name"]): s for s in slices}
    inputs = Inputs(services.values(), slices.values())
    cache = new_cache()
    for step in range(200):
        rv = str(1000 + step)
        what = rng.randrange(6)
        if what <= 2 and slices:                         # an endpoint flips readiness
            key = rng.choice(sorted(slices))
            sl = copy.deepcopy(slices[key])
            if sl.get("endpoints"):
                ep = rng.choice(sl["endpoints"])
                ep["conditions"] = {"ready": not ep.get("conditions", {}).get("ready", True)}
            sl["metadata"]["resourceVersion"] = rv
            slices[key] = sl
            inputs.endpoint_slice(key, sl)
        elif what == 3:                                  # a Service's policy changes
            key = rng.choice(sorted(services))
            svc = copy.deepcopy(services[key])
            svc["spec"]["externalTrafficPolicy"] = rng.choice(["Local", "Cluster"])
            svc["metadata"]["resourceVersion"] = rv
            services[key] = svc
            inputs.service(key, svc)
        elif what == 4 and len(services) > 2:            # a Service goes, and comes back later
            key = rng.choice(sorted(services))
            gone = services.pop(key)
            inputs.service(key, None)
            services[key] = gone = dict(gone, metadata=dict(gone["metadata"], resourceVersion=rv))
            if rng.random() < 0.5:
                inputs.service(key, gone)
            else:
                services.pop(key)
        elif slices:                                     # a slice goes
            key = rng.choice(sorted(slices))
            slices.pop(key)
            inputs.endpoint_slice(key, None)
        states = cache.render_changed(inputs, inputs.take_changed())
        assert states == full(list(services.values()), list(slices.values())), f"step {step}"
    assert 20 < len(assembled) < 150          # per distinct state; most readiness flips were patched


def test_crossing_the_large_cluster_threshold_renders_every_service_again(monkeypatch):
    """kube-proxy drops the per-endpoint comments above proxier.LARGE_CLUSTER_ENDPOINTS endpoints (lowered
    here to one below the golden world's count): one endpoint going and coming back takes the cluster across
    it and back, which changes every Service's rules; each render_changed still equals a full render."""
    from toycluster.proxy import proxier
    services, slices = versioned()
    monkeypatch.setattr(proxier, "LARGE_CLUSTER_ENDPOINTS", endpoint_count(services, slices) - 1)
    inputs = Inputs(services, slices)
    cache = new_cache()
    assert cache.render_changed(inputs, inputs.take_changed()) == full(services, slices) and cache.large
    web = slice_of(slices, "web")
    key = ("default", web["metadata"]["name"])
    fewer = copy.deepcopy(web)                            # one endpoint less: comments everywhere again
    fewer["endpoints"] = fewer["endpoints"][1:]
    fewer["metadata"]["resourceVersion"] = "200"
    inputs.endpoint_slice(key, fewer)
    rest = [s for s in slices if s is not web]
    assert cache.render_changed(inputs, inputs.take_changed()) == full(services, rest + [fewer])
    assert not cache.large and cache.rendered == len(services)
    inputs.endpoint_slice(key, web)
    assert cache.render_changed(inputs, inputs.take_changed()) == full(services, slices) and cache.large
    flipped = copy.deepcopy(web)                          # a readiness flip keeps the count: patched
    flipped["endpoints"][0]["conditions"] = {"ready": False, "serving": False}
    flipped["metadata"]["resourceVersion"] = "300"
    inputs.endpoint_slice(key, flipped)
    assert cache.render_changed(inputs, inputs.take_changed()) == full(services, rest + [flipped])
    assert cache.rendered == 1 and cache.large
