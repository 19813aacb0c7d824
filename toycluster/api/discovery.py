"""kube-apiserver's discovery: /version, /api, /apis and each group version's resource list, from kinds.KINDS.

What kubectl reads to map `po`, `deploy` or `get all` to a path: every resource with its kind, scope, verbs,
short names, categories and subresources. The unaggregated documents only: kubectl asks for the aggregated
form first and takes these when the server answers with them, as it does with servers before 1.26.
"""
import platform

from toycluster.api.kinds import KINDS

VERSION = {"major": "1", "minor": "37", "gitVersion": "v1.37.1-toycluster", "gitCommit": "toycluster",
           "gitTreeState": "clean", "buildDate": "2026-12-07T00:00:00Z", "goVersion": "go1.25 (toycluster: python "
           + platform.python_version() + ")", "compiler": "gc", "platform": "linux/amd64",
           "emulationMajor": "1", "emulationMinor": "37", "minCompatibilityMajor": "1",
           "minCompatibilityMinor": "36"}
ALL = {"verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]}
READ = ["get", "list", "watch"]
VERBS = {"Node": [*READ, "patch", "update"], "Endpoints": READ, "EndpointSlice": READ,
         "ReplicaSet": ["delete", "deletecollection", "get", "list", "patch", "update", "watch"]}
CATEGORIES = {"Pod": ["all"], "Service": ["all"], "Deployment": ["all"], "ReplicaSet": ["all"]}
SUBRESOURCES = {   # kind -> [(subresource, kind it speaks, its verbs)]
    "Pod": [("status", "Pod", ["get", "patch", "update"]), ("log", "Pod", ["get"]),
            ("exec", "PodExecOptions", ["create", "get"]), ("attach", "PodAttachOptions", ["create", "get"]),
            ("portforward", "PodPortForwardOptions", ["create", "get"])],
    "Deployment": [("status", "Deployment", ["get", "patch", "update"]), ("scale", "Scale", ["get", "patch", "update"])],
    "ReplicaSet": [("status", "ReplicaSet", ["get", "patch", "update"]), ("scale", "Scale", ["get", "patch", "update"])],
    "Service": [("status", "Service", ["get", "patch", "update"])],
    "Node": [("status", "Node", ["get", "patch", "update"])],
    "Namespace": [("status", "Namespace", ["get", "patch", "update"])],
    "Ingress": [("status", "Ingress", ["get", "patch", "update"])],
}


def split_api_version(api_version: str) -> tuple[str, str]:
    """"apps/v1" -> ("apps", "v1"); "v1" -> ("", "v1")."""
    group, _, version = api_version.rpartition("/")
    return group, version


def group_versions() -> dict[str, str]:
    """group -> its one version ("" is the core group), in the order KINDS gives."""
    out: dict[str, str] = {}
    for api, _ in KINDS:
        group, version = split_api_version(api)
        out.setdefault(group, version)
    return out


def _resource(kind: str, info: dict) -> list[dict]:
    main = {"name": info["resource"], "singularName": kind.lower(), "namespaced": info["namespaced"], "kind": kind,
            "verbs": VERBS.get(kind, ALL["verbs"])}
    if info["short"]:
        main["shortNames"] = info["short"]
    if kind in CATEGORIES:
        main["categories"] = CATEGORIES[kind]
    subs = [{"name": f"{info['resource']}/{sub}", "singularName": "", "namespaced": info["namespaced"],
             "kind": sub_kind, "verbs": verbs,
             **({"group": "autoscaling", "version": "v1"} if sub_kind == "Scale" else {})}
            for sub, sub_kind, verbs in SUBRESOURCES.get(kind, [])]
    return [main, *subs]


def resource_list(group: str, version: str) -> dict | None:
    """The APIResourceList of GROUP/VERSION, or None if it is not served."""
    api = f"{group}/{version}" if group else version
    resources = [r for (a, kind), info in KINDS.items() if a == api for r in _resource(kind, info)]
    if not resources:
        return None
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": api, "resources": resources}


def _group(name: str, version: str) -> dict:
    gv = {"groupVersion": f"{name}/{version}", "version": version}
    return {"name": name, "versions": [gv], "preferredVersion": gv}


def core_versions(server_address: str) -> dict:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def group_list() -> dict:
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group(g, v) for g, v in group_versions().items() if g]}


def group(name: str) -> dict | None:
    version = group_versions().get(name)
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, version)} if version and name else None


def kind_for(group: str, version: str, resource: str) -> str | None:
    """The kind served as RESOURCE in GROUP/VERSION ("apps", "v1", "deployments" -> "Deployment")."""
    api = f"{group}/{version}" if group else version
    for (a, kind), info in KINDS.items():
        if a == api and info["resource"] == resource:
            return kind
    return None


def verbs_of(kind: str, subresource: str = "") -> list[str]:
    if not subresource:
        return VERBS.get(kind, ALL["verbs"])
    return next((verbs for sub, _, verbs in SUBRESOURCES.get(kind, []) if sub == subresource), [])
