"""kubectl: the `toycluster` command, kubectl's verbs and printers plus toycluster's own verbs.

Modules, in reading order:
- `main.py`: the parser and the verbs of toycluster's own: up, down, status, proxy-rules
- `kubectl.py`: kubectl's verbs: get, apply, delete, scale, wait, exec, logs
- `inputs.py`: kubectl's argument readers: durations (--timeout), `-l` selectors, TYPE/NAME, the pod of deploy/NAME
- `common.py`: what the verbs share: the API client for --cluster, resource names, -f files, pod or node targets
- `printers.py`: kubectl's printers: the table layout, JSON, YAML and names
- `policy.py`: kubectl's `label` and toycluster's `policy why` / `policy rules`
- `ingress.py`: toycluster's north-south verbs: `node stop/start`, `lb`, `lb rules`, `ca`
- `graph.py`: toycluster's `graph` verb: the cluster drawn (SVG, PNG, Mermaid, DOT, JSON), a trace laid over it
- `packets.py`: toycluster's `scapy` verb: scapy's shell inside a pod's namespaces
- `trace.py`: toycluster's `trace` verb: one request hop by hop (or `--explain`ed), as a table or JSON
- `lab.py`: toycluster's `lab` verb: list the checked labs, start, check (with hints), reset and solve one
"""
