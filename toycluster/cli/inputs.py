"""kubectl's argument readers: durations (Go's time.ParseDuration, as pflag reads --timeout), label selectors
(`-l`, apimachinery's grammar), TYPE/NAME arguments (cli-runtime's resource builder), and the pod that
`logs`/`exec` pick for deploy/NAME or svc/NAME (polymorphichelpers' AttachablePodForObject).

Every reader raises UsageError naming what was wrong, in kubectl's words where kubectl has them.
"""
import re

from toycluster.api import kinds, selector_text, selectors
from toycluster.cluster.lifecycle import UsageError

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_NUMBER = re.compile(r"([0-9]*)(\.[0-9]*)?")
WEEK = 7 * 24 * 3600.0


def _go_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_go_duration(text: str) -> float:
    """Seconds, as Go's time.ParseDuration reads TEXT ("2m", "1h30m", "500ms", "-1s", "0"); ValueError in
    Go's words otherwise (a bare number other than 0 has no unit: an error, as for kubectl)."""
    quoted, s = _go_quote(text), text
    sign = -1.0 if s[:1] == "-" else 1.0
    s = s[1:] if s[:1] in "+-" and s else s
    if s == "0":
        return 0.0
    if not s:
        raise ValueError(f"time: invalid duration {quoted}")
    total = 0.0
    while s:
        m = _NUMBER.match(s)
        whole, frac = m.group(1), m.group(2) or ""
        if not whole and len(frac) <= 1:             # no digits before or after the point
            raise ValueError(f"time: invalid duration {quoted}")
        s = s[m.end():]
        unit = re.match(r"[^0-9.]*", s).group(0)
        if not unit:
            raise ValueError(f"time: missing unit in duration {quoted}")
        if unit not in _UNITS:
            raise ValueError(f"time: unknown unit {_go_quote(unit)} in duration {quoted}")
        total += float((whole or "0") + (frac if len(frac) > 1 else "")) * _UNITS[unit]
        s = s[len(unit):]
    if total > (2 ** 63 - 1) / 1e9:
        raise ValueError(f"time: invalid duration {quoted}")
    return sign * total


def duration_flag(text: str, flag: str) -> float:
    """A duration flag's value in seconds, or UsageError as pflag words it."""
    try:
        return parse_go_duration(text)
    except ValueError as e:
        raise UsageError(f'invalid argument "{text}" for "{flag}" flag: {e}') from None


def wait_timeout(text: str) -> float:
    """kubectl wait's --timeout: 0 checks once, a negative one waits a week."""
    seconds = duration_flag(text, "--timeout")
    return WEEK if seconds < 0 else seconds


def label_selector(text: str | None) -> dict | None:
    """`-l TEXT` as a LabelSelector (None when not given), or UsageError with apimachinery's message."""
    if text is None:
        return None
    try:
        return selector_text.parse_labels(text)
    except ValueError as e:
        raise UsageError(f"-l {text!r}: {e}") from None


def matching(sel: dict | None, objs: list[dict]) -> list[dict]:
    if sel is None:
        return objs
    return [o for o in objs if o and selectors.label_selector_matches(sel, (o.get("metadata") or {}).get("labels"))]


def kind_of(resource: str) -> str:
    try:
        return kinds.resource_for(resource)[1]
    except ValueError as e:
        raise UsageError(str(e)) from e


def _tuple(arg: str) -> tuple[str, str]:
    parts = arg.split("/")
    if len(parts) != 2:
        raise UsageError(f"{arg}: arguments in resource/name form may not have more than one slash")
    if not parts[0] or not parts[1] or "," in parts[0]:
        raise UsageError(f"{arg}: arguments in resource/name form must have a single resource and name")
    return parts[0], parts[1]


def resource_args(args: list[str], verb: str = "get") -> list[tuple[str, list[str]]]:
    """[(resource, names)] from kubectl's TYPE NAME... or TYPE/NAME... arguments (TYPE may be "pod,svc");
    every resource word is checked here, before the API is asked anything."""
    slashed = sum("/" in a for a in args)
    if slashed and slashed != len(args):
        raise UsageError("there is no need to specify a resource type as a separate argument when passing "
                         f"arguments in resource/name form (e.g. 'toycluster {verb} resource/<resource_name>' "
                         f"instead of 'toycluster {verb} resource resource/<resource_name>')")
    if slashed:
        groups: dict[str, list[str]] = {}
        for resource, name in map(_tuple, args):
            groups.setdefault(resource, []).append(name)
        out = list(groups.items())
    elif not args:
        raise UsageError(f"you must specify the type of resource to {verb}")
    else:
        out = [(r, list(args[1:])) for r in args[0].split(",")]
    for resource, names in out:
        if not resource:
            raise UsageError(f"{args[0]}: an empty resource type")
        kind_of(resource)
        for name in names:
            if not name or "/" in name:
                raise UsageError(f"{name!r}: not a valid name")
    return out


def _active_first(pod: dict) -> tuple:
    status = pod.get("status") or {}
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    return (status.get("phase") != "Running", not ready, pod["metadata"].get("creationTimestamp") or "",
            pod["metadata"]["name"])


def check_target(target: str) -> None:
    """NAME or TYPE/NAME for logs and exec, checked before the API is asked."""
    if "/" in target:
        kind_of(_tuple(target)[0])


def attachable_pod(c, namespace: str, target: str, verb: str) -> tuple[str, int]:
    """(pod name, number of candidates) for TARGET: NAME, pod/NAME, or TYPE/NAME of anything with a pod
    selector (deploy, rs, svc), whose most active pod is picked as kubectl picks it."""
    if "/" not in target:
        return target, 1
    resource, name = _tuple(target)
    kind = kind_of(resource)
    if kind == "Pod":
        return name, 1
    obj = c.get(kind, namespace, name)
    if obj is None:
        raise UsageError(f'{kinds.KINDS[kinds.resource_for(resource)]["resource"]} "{name}" not found '
                         f'in namespace "{namespace}"')
    sel = (obj.get("spec") or {}).get("selector")
    if not sel:
        raise UsageError(f"cannot {verb} {target}: a {kind} has no pod selector")
    sel = {"matchLabels": sel} if kind == "Service" else sel
    pods = sorted(matching(sel, c.list("Pod", namespace)), key=_active_first)
    if not pods:
        raise UsageError(f"{target}: no pods match its selector in namespace \"{namespace}\"")
    return pods[0]["metadata"]["name"], len(pods)
