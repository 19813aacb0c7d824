"""Lab 12: break it and diagnose — six short exercises, each started broken, fixed by the learner, checked by traffic.

`toycluster lab start 12a` .. `12f` each break one thing and say what the learner sees, never why; the page
(docs/labs/12-break-it.md, one section per exercise) shows how to investigate with kubectl, iptables-save,
`toycluster trace`, `policy why` and `lb`, hints, and the fix. A check passes only once the symptom is gone by
a real repair: `lab reset` breaks it again, and a workaround (pods changed to fit a wrong Service, a policy
deleted) is named as such.

- 12a-12c (lab12_cluster.py): a rule by hand in node1's nat table, node2 stopped behind the load balancer,
  the DNS pod gone: cluster-wide breaks that each clean repairs;
- 12d-12f (lab12_objects.py): a wrong targetPort, a selector that matches nothing, a policy that blocks DNS.
"""
from toycluster.labs import lab12_cluster, lab12_objects

LABS = [*lab12_cluster.LABS, *lab12_objects.LABS]
