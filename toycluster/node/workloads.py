"""Container images (the container runtime's image store): well-known image names, each mapped to the entry point
of a built-in workload.

toycluster pulls no images. A container that gives no `command` and whose image is in KNOWN_IMAGES runs the entry
point ENTRYPOINTS names for it, in its pod's network namespace: "echo" (a whoami-style HTTP echo) and "nginx" (the
welcome page) in webserver.py, "sleeper" (pause) and "tcp" (a banner and a byte echo standing in for a database) in
standins.py, "coredns" (the cluster DNS server) and "ingress" (the ingress controller). As a runtime starts an
image's entrypoint without linking it, an entry point is a name ("module:function"), imported only when its
container starts (entrypoint.py). A container with a `command` runs that command.
"""

# normalised image -> (workload, default port); the ports are the real images' defaults
_IMAGES = {
    "traefik/whoami": ("echo", 80), "containous/whoami": ("echo", 80),
    "hashicorp/http-echo": ("echo", 5678), "ealen/echo-server": ("echo", 80),
    "toycluster/echo": ("echo", 8080), "mendhak/http-https-echo": ("echo", 8080),
    "jmalloc/echo-server": ("echo", 8080), "kicbase/echo-server": ("echo", 8080),
    "echoserver": ("echo", 8080), "google-containers/echoserver": ("echo", 8080),
    "nginx": ("nginx", 80), "httpd": ("nginx", 80), "caddy": ("nginx", 80),
    "nginxinc/nginx-unprivileged": ("nginx", 8080), "bitnami/nginx": ("nginx", 8080),
    "praqma/network-multitool": ("nginx", 80), "wbitt/network-multitool": ("nginx", 80),
    "busybox": ("sleeper", 0), "alpine": ("sleeper", 0), "ubuntu": ("sleeper", 0),
    "debian": ("sleeper", 0), "nicolaka/netshoot": ("sleeper", 0),
    "curlimages/curl": ("sleeper", 0), "pause": ("sleeper", 0),
    "postgres": ("tcp", 5432), "redis": ("tcp", 6379), "mysql": ("tcp", 3306),
    "mariadb": ("tcp", 3306), "mongo": ("tcp", 27017), "memcached": ("tcp", 11211),
    "toycluster/coredns": ("coredns", 53), "coredns/coredns": ("coredns", 53),   # registry.k8s.io/coredns/coredns too
    "toycluster/ingress-controller": ("ingress", 80), "ingress-nginx/controller": ("ingress", 80),
}
KNOWN_IMAGES: dict[str, str] = {name: workload for name, (workload, _) in _IMAGES.items()}
# workload -> its entry point, fn(container, pod) that never returns: only the DNS pod imports dnslib, only the
# ingress pod ssl and cryptography; the fork server pre-imports webserver and standins, which every other pod shares
ENTRYPOINTS = {
    "echo": "toycluster.node.webserver:echo", "nginx": "toycluster.node.webserver:nginx",
    "sleeper": "toycluster.node.standins:pause", "tcp": "toycluster.node.standins:tcp",
    "coredns": "toycluster.dns.coredns:main", "ingress": "toycluster.ingress.controller:main",
}
# Images without an ENTRYPOINT: `args` alone are the command (`kubectl run x --image=busybox -- sleep 1d`).
_SHELL_IMAGES = {"busybox", "alpine", "ubuntu", "debian", "nicolaka/netshoot", "curlimages/curl"}


def normalise(image: str) -> str:
    """"docker.io/library/nginx:1.27" -> "nginx": no registry host, tag, digest or library/ prefix."""
    parts = image.strip().lower().partition("@")[0].split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    parts[-1] = parts[-1].partition(":")[0]
    if len(parts) > 1 and parts[0] == "library":
        parts = parts[1:]
    return "/".join(parts)


def resolve(container: dict) -> tuple[str, object]:
    """("exec", argv) for a container with a command, ("builtin", workload) for a known image."""
    image, command, args = container.get("image"), container.get("command") or [], container.get("args") or []
    for field, value in (("command", command), ("args", args)):
        if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
            raise ValueError(f"{field} must be a list of strings")
    if command:
        return "exec", [*command, *args]
    if not isinstance(image, str) or not image.strip():
        raise ValueError("the container gives no image")
    name = normalise(image)
    if name not in KNOWN_IMAGES:
        raise ValueError(f'image "{image}" has no built-in workload and the container gives no command; '
                         f'known images: {", ".join(sorted(KNOWN_IMAGES))}')
    if args and name in _SHELL_IMAGES:          # curl's entrypoint puts "curl" before options
        return "exec", (["curl", *args] if name == "curlimages/curl" and args[0].startswith("-") else args)
    return "builtin", KNOWN_IMAGES[name]


def check_image(container: dict) -> None:
    """Raise ValueError as resolve() does; used by manifest validation."""
    resolve(container)


def flag(args: list, name: str):
    """A Go-style flag's value: -name=v, --name=v, -name v or --name v; the last one wins."""
    value = None
    for i, arg in enumerate(args):
        if isinstance(arg, str) and arg.startswith("-"):
            key, eq, val = arg.lstrip("-").partition("=")
            if key == name:
                value = val if eq else (args[i + 1] if i + 1 < len(args) else None)
    return value


def container_env(container: dict) -> dict:
    """The container's `env` as {name: value}."""
    return {e.get("name"): e.get("value") for e in container.get("env") or [] if isinstance(e, dict)}


def _port_of(value) -> int:
    """8080, "8080", ":8080" or "0.0.0.0:8080" -> 8080; anything else -> 0."""
    try:
        port = int(str(value).rpartition(":")[2])
    except ValueError:
        return 0
    return port if 0 < port < 65536 else 0


def listen_ports(container: dict) -> list[int]:
    """Flags, then $PORT / $WHOAMI_PORT_NUMBER (echo only), then containerPorts, then the image's default."""
    workload, default = _IMAGES.get(normalise(container.get("image") or ""), ("echo", 80))
    if workload == "echo":
        args, env = container.get("args") or [], container_env(container)
        for value in (flag(args, "listen"), flag(args, "port"), env.get("PORT"), env.get("WHOAMI_PORT_NUMBER")):
            if _port_of(value):
                return [_port_of(value)]
    declared = [p for p in (_port_of(cp.get("containerPort")) for cp in container.get("ports") or []
                            if (cp.get("protocol") or "TCP").upper() == "TCP") if p]
    return (declared or [default]) if workload == "tcp" else (declared[:1] or [default])
