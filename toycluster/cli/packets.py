"""toycluster's `scapy` verb: scapy's interactive shell inside a pod's (or node's) namespaces.

`toycluster scapy POD` is `toycluster exec POD -- python3 -m scapy` with the Python toycluster runs on (whose
pinned scapy the pod's python3 finds too: lab/packets.exec_path). Words after `--` go to scapy (`-H`: no banner).
In a script, `toycluster.lab.packets` does the same from any thread: `with netns("client"): sr1(...)`.
"""
import sys

from toycluster.cli import kubectl


def cmd_scapy(args):
    args.target, args.container = args.pod, None
    args.command = [sys.executable, "-m", "scapy", *args.command]
    return kubectl.cmd_exec(args)


def register(verb) -> None:
    """Add the `scapy` verb to the `toycluster` parser (VERB(name, fn, help) adds one and returns it)."""
    sp = verb("scapy", cmd_scapy, "scapy's interactive shell inside a pod or node: scapy POD [-- SCAPY-ARGS]")
    sp.add_argument("pod", help="a pod (in -n NAMESPACE), a node (node1), or the cloud's user, lb, dns, inet")
