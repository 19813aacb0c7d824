"""kubelet's DNS configurer (pkg/kubelet/network/dns): a pod's resolv.conf from dnsPolicy and dnsConfig; its hostname.

As upstream's Configurer.GetPodDNS, then written as containerd writes it (`search`, `nameserver` lines, `options`):
- ClusterFirst (the default; ClusterFirstWithHostNet too): the cluster DNS Service as the only nameserver, the
  searches `<ns>.svc.cluster.local svc.cluster.local cluster.local` followed by the node's own, duplicates left
  out, and `options ndots:5`. A hostNetwork pod with ClusterFirst gets Default instead, as upstream.
- Default: the node's resolv.conf (the kubelet's --resolv-conf, here the machine's /etc/resolv.conf, as a kind
  node inherits its host's): its nameservers, searches and options.
- None: nothing but the pod's dnsConfig.
Then the pod's dnsConfig is appended: its nameservers and searches after the base ones, duplicates dropped; its
options override the base's by name (an option without value is written bare). Then upstream's limits, which
cut rather than refuse (the API server has refused what a pod could write itself, api/validation_core.py):
3 nameservers, 32 search domains, none over 253 characters, a search line of 2048 characters at most.
Departure: upstream's merged options come out in a Go map's random order; here the base's order, then the pod's.

The pod's hostname is spec.hostname or its name, cut to 63 characters without a trailing '-' or '.'; with
spec.subdomain its domain is `<subdomain>.<namespace>.svc.cluster.local`, and /etc/hosts names the pod by its
FQDN and hostname; with setHostnameAsFQDN the kernel's hostname (uname -n, $HOSTNAME, /etc/hostname) is the
FQDN, which must then fit 64 characters, or the sandbox is not made (upstream's error, in its words).
"""
HOST_RESOLV_CONF = "/etc/resolv.conf"      # the kubelet's --resolv-conf
CLUSTER_DOMAIN = "cluster.local"
DEFAULT_OPTIONS = ["ndots:5"]
MAX_NAMESERVERS, MAX_SEARCH_PATHS, MAX_SEARCH_CHARS = 3, 32, 2048   # upstream's validation limits
MAX_DOMAIN, MAX_HOSTNAME, MAX_FQDN = 253, 63, 64


def parse_resolv_conf(text: str) -> tuple[list, list, list]:
    """(nameservers, searches, options) of a resolv.conf, as the kubelet reads the node's: the last `search`
    line wins (trailing dots and "." dropped), `options` lines add up, later ones overriding by name."""
    servers, searches, options = [], [], []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split(";", 1)[0].split()
        if not fields:
            continue
        if fields[0] == "nameserver" and len(fields) > 1:
            servers.append(fields[1])
        elif fields[0] == "search":
            searches = [s.rstrip(".") for s in fields[1:] if s != "."]
        elif fields[0] == "options":
            options = merge_options(options, [_option(o) for o in fields[1:]])
    return servers, searches, options


def _option(text: str) -> dict:
    name, colon, value = text.partition(":")
    return {"name": name, "value": value} if colon else {"name": name}


def omit_duplicates(items: list) -> list:
    seen, out = set(), []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def merge_options(base: list[str], extra: list[dict]) -> list[str]:
    """BASE ("name" or "name:value" strings) with EXTRA (dnsConfig options, {"name", "value"?}) overriding by
    name; an option without a value is written bare."""
    merged: dict[str, str] = {}
    for option in base:
        name, _, value = option.partition(":")
        merged[name] = value
    for option in extra:
        merged[option.get("name") or ""] = option.get("value") or ""
    return [f"{name}:{value}" if value else name for name, value in merged.items()]


def dns_type(spec: dict) -> str:
    """"cluster", "host" or "none", as upstream's getPodDNSType."""
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    if policy == "None":
        return "none"
    if policy == "ClusterFirstWithHostNet" or (policy == "ClusterFirst" and not spec.get("hostNetwork")):
        return "cluster"
    return "host"


def pod_dns(pod: dict, cluster_dns: list[str], host_resolv: str,
            domain: str = CLUSTER_DOMAIN) -> tuple[tuple[list, list, list], list[str]]:
    """((nameservers, searches, options), warnings) of POD; HOST_RESOLV is the node's resolv.conf text.
    A warning is upstream's DNSConfigForming event text, when a limit cut something."""
    spec = pod.get("spec") or {}
    servers, searches, options = parse_resolv_conf(host_resolv)
    kind = dns_type(spec)
    if kind == "none":
        servers, searches, options = [], [], []
    elif kind == "cluster":
        namespace = (pod.get("metadata") or {}).get("namespace") or "default"
        servers = list(cluster_dns)
        searches = omit_duplicates([f"{namespace}.svc.{domain}", f"svc.{domain}", domain] + searches)
        options = list(DEFAULT_OPTIONS)
    extra = spec.get("dnsConfig") or {}
    if extra:
        servers = omit_duplicates(servers + list(extra.get("nameservers") or []))
        searches = omit_duplicates(searches + list(extra.get("searches") or []))
        options = merge_options(options, extra.get("options") or [])
    searches, warnings = fit_searches(searches)
    if len(servers) > MAX_NAMESERVERS:
        servers = servers[:MAX_NAMESERVERS]
        warnings.append("Nameserver limits were exceeded, some nameservers have been omitted, the applied "
                        f"nameserver line is: {' '.join(servers)}")
    return (servers, searches, options), warnings


def fit_searches(searches: list[str]) -> tuple[list[str], list[str]]:
    """SEARCHES within upstream's limits (formDNSSearchFitsLimits): the first 32, none longer than 253
    characters, then cut from the end until the line fits 2048 characters. Returns (searches, warnings)."""
    cut = len(searches) > MAX_SEARCH_PATHS
    fitted = [s for s in searches[:MAX_SEARCH_PATHS] if len(s) <= MAX_DOMAIN]
    cut = cut or len(fitted) < len(searches[:MAX_SEARCH_PATHS])
    while fitted and len(" ".join(fitted)) > MAX_SEARCH_CHARS:
        fitted.pop()
        cut = True
    if not cut:
        return fitted, []
    return fitted, ["Search Line limits were exceeded, some search paths have been omitted, the applied search "
                    f"line is: {' '.join(fitted)}"]


def resolv_conf(servers: list[str], searches: list[str], options: list[str]) -> str:
    """The file as containerd writes it from the CRI's DNSConfig."""
    out = f"search {' '.join(searches)}\n" if searches else ""
    out += "".join(f"nameserver {s}\n" for s in servers)
    return out + (f"options {' '.join(options)}\n" if options else "")


def pod_hostname(pod: dict, domain: str = CLUSTER_DOMAIN) -> tuple[str, str]:
    """(hostname, host domain) as upstream's GeneratePodHostNameAndDomain: spec.hostname or the pod's name, cut
    to 63 characters without a trailing '-' or '.'; the domain `<subdomain>.<namespace>.svc.<domain>` or ""."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    hostname = spec.get("hostname") or meta["name"]
    if len(hostname) > MAX_HOSTNAME:
        hostname = hostname[:MAX_HOSTNAME].rstrip("-.") or hostname[:MAX_HOSTNAME]
    sub = spec.get("subdomain")
    return hostname, f"{sub}.{meta.get('namespace') or 'default'}.svc.{domain}" if sub else ""


def kernel_hostname(pod: dict) -> str:
    """The pod's hostname as the kernel holds it (GetNodenameForKernel): the FQDN when setHostnameAsFQDN is
    true and the pod has a subdomain, else the hostname. Raises ValueError when the FQDN is too long."""
    hostname, host_domain = pod_hostname(pod)
    if not (host_domain and (pod.get("spec") or {}).get("setHostnameAsFQDN")):
        return hostname
    fqdn = f"{hostname}.{host_domain}"
    if len(fqdn) > MAX_FQDN:
        raise ValueError(f"failed to construct FQDN from pod hostname and cluster domain, FQDN {fqdn} is too long "
                         f"({MAX_FQDN} characters is the max, {len(fqdn)} characters requested)")
    return fqdn


def uts_hostname(pod: dict) -> str:
    """kernel_hostname(), or the plain hostname when that fails (the sandbox then is not made anyway)."""
    try:
        return kernel_hostname(pod)
    except ValueError:
        return pod_hostname(pod)[0]


def sandbox_files(pod: dict, cluster_dns: str, host_resolv_path: str = HOST_RESOLV_CONF) -> dict:
    """What RunPodSandbox needs of the pod's DNS: {"hostname" (the kernel's), "short_hostname", "fqdn" (or
    None), "resolv_conf"}, and "error" if the sandbox must not be made (the runtime refuses it)."""
    try:
        with open(host_resolv_path) as f:
            host_resolv = f.read()
    except OSError:
        host_resolv = ""
    hostname, host_domain = pod_hostname(pod)
    (servers, searches, options), _ = pod_dns(pod, [cluster_dns], host_resolv)
    out = {"hostname": uts_hostname(pod), "short_hostname": hostname,
           "fqdn": f"{hostname}.{host_domain}" if host_domain else None,
           "resolv_conf": resolv_conf(servers, searches, options)}
    try:
        kernel_hostname(pod)
    except ValueError as e:
        out["error"] = str(e)
    return out
