"""ingress-nginx: the ingress controller, run as the built-in workload of image toycluster/ingress-controller (its
pod imports this package; node/workloads.py names the entry point, controller.main). It routes requests by Host and
path to a Service's ready endpoints, balanced per request (or to its ClusterIP with service-upstream), acts on the
most used annotations, terminates TLS, and answers as nginx does.

Modules, in reading order:
- `controller.py`: the controller process: settings from the environment, the informer that rebuilds routes and
  certificates, upstream pools, access and error log, timeouts, and main() (the pod's entry point)
- `routes.py`: the route table from Ingresses (host, path types, regex paths, default backend, classes) and the
  request head sent upstream (proxy headers in nginx's order, hop-by-hop headers dropped)
- `annotations.py`: nginx.ingress.kubernetes.io/* annotations: service-upstream, rewrite-target and use-regex,
  ssl-redirect, affinity cookie; the rewrite, the https:// redirect and the session cookie they call for
- `balancer.py`: a backend's Service and ready endpoints (named ports resolved per endpoint), and the endpoint for
  one request: round robin per upstream, cookie affinity, or the ClusterIP with service-upstream
- `proxy.py`: one client connection (HTTP/1.0 and 1.1, keep-alive, pipelining, streamed bodies, nginx's answers,
  ssl-redirect's 308, websocket tunnels)
- `upstream.py`: one keep-alive connection to a Service or a pod: the response head and its body, streamed back
- `http1.py`: nginx's HTTP/1.x policy on wire/http1.py: limits (414, 431), reason phrases and error pages, the
  data path's Request, path rules, the upstream's response head cleaned of hop-by-hop headers
- `workers.py`: nginx's worker processes: listening sockets of their own (SO_REUSEPORT), the fork
- `tls.py`: the certificates served on 443, by SNI: a kubernetes.io/tls Secret's, else a default one signed by
  the cluster CA
"""
