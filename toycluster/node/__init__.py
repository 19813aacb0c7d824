"""The node: kubelet, the container runtime (containerd's side of the CRI), the CNI plugin and the built-in images.

Modules, in reading order:
- `kubelet.py`: kubelet, one per node: asks the runtime for pod sandboxes and containers; probes, restarts
- `nodestatus.py`: kubelet's node status: heartbeats (the Node's conditions), while the API server can be reached
- `pod_status.py`: kubelet's status manager: a pod's status from what the kubelet knows of its containers
- `dns_config.py`: kubelet's DNS configurer: a pod's resolv.conf from dnsPolicy and dnsConfig, its hostname and FQDN
- `prober.py`: kubelet's prober: httpGet and tcpSocket from the node, exec inside the container (CRI's ExecSync)
- `streaming.py`: kubelet's streaming server: pods/exec and pods/attach over WebSocket (kubectl's channels), pods/log
- `stream_request.py`: what the streaming requests share: query flags, the container named, Status refusals
- `stream_channels.py`: a session's channels over WebSocket or SPDY/3.1 streams; the error channel's Status
- `stream_io.py`: the process side of exec and attach: a pty or pipes, exit codes, the relay to an attach shim
- `logs.py`: pods/log: a container's log file with tailLines, since, timestamps, limitBytes and follow
- `portforward.py`: pods/portforward: SPDY/3.1 in WebSocket (or after a SPDY upgrade) to the pod's ports
- `termination.py`: kubelet's container termination: the grace period, preStop hooks, SIGTERM, then SIGKILL
- `cri.py`: the CRI over pipes: JSON-line requests and answers matched by id, kubelet <-> the runtime's processes
- `runtime.py`: the container runtime, a process of its own: pod sandboxes (netns, CNI ADD/DEL, /etc files)
- `cni.py`: the CNI bridge plugin with host-local IPAM: ADD / DEL / CHECK
- `zygote.py`: the runtime's fork server: containers are forked from a small pre-imported process
- `stdio.py`: a container's stdio: an exec's descriptors handed over, the attach shim of `stdin: true` containers
- `workloads.py`: the image store: well-known image names, each mapped to a built-in entry point by name
- `entrypoint.py`: how a built-in image's container starts, in a child of the fork server
- `webserver.py`: the HTTP server of the built-in `echo` and `nginx` images
- `standins.py`: the built-in stand-ins: sleepers (busybox, alpine) and TCP services (postgres, redis, mysql)
"""
