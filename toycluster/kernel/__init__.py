"""Linux plumbing shared by the components: network namespaces, netlink, iptables and /proc (no Kubernetes part).

Modules, in reading order:
- `procs.py`: processes as /proc shows them: command lines, network namespaces, liveness
- `nsfs.py`: network namespaces as files (what `ip netns` does), entering them, sysctls, netlink handles
- `rtnl.py`: rtnetlink requests sent in batches on one plain socket (what `ip -batch` does)
- `iptables_blobs.py`: libiptc's rule format: rendered rules packed as `ipt_entry` blobs, with comparison keys
- `iptables_readback.py`: a chain's rules read back from a libiptc handle as the same keys, and chain names
- `iptables_chains.py`: each table's built-in chains, and the 16-character hash in kube-proxy's and kube-router's
  chain names
- `iptables_save.py`: rendered tables printed exactly as iptables-save prints them
- `iptables_apply.py`: a rendered table applied in one libiptc commit, only changed chains rewritten
- `node_sync.py`: the node agents' sync loop: render per node, apply every node at once from the kernel thread
"""
