"""kube-apiserver, etcd and client-go: the resources validated, stored, persisted and served; the clients of the others.

Modules, in reading order:
- `kinds.py`: discovery: the kinds served, their resource and short names, which are namespaced; resource_for()
- `fields.py`: field validation: FieldError, ManifestError and the checks every kind's validator is built from
  (types, defaults, enums, unknown fields, DNS names, ports, labels, label selectors)
- `validation.py`: admission: validate() one object whole (kind, metadata, then its kind's checks), validate_all()
- `validation_core.py`: Pods, Deployments, ReplicaSets (pod templates, containers) and Services, with their defaults
- `validation_ingress.py`: Ingresses (hosts, paths, backends, TLS) and Secrets (kubernetes.io/tls pairs)
- `validation_netpol.py`: NetworkPolicies (peers, ipBlocks, ports and endPorts)
- `manifests.py`: `kubectl apply -f`'s reader: YAML and JSON from files, folders and stdin
- `yaml_json.py`: the decoders' limits: 3 MiB bodies, go-yaml's alias budget (billion laughs), nesting depth
- `selectors.py`: label selector semantics and the IngressClass check, shared by the components
- `selector_text.py`: selector strings (`-l`, `--field-selector`) parsed as upstream's grammar
- `allocators.py`: the Service registry: ClusterIP and NodePort allocation
- `bootstrap.py`: kube-apiserver's bootstrap controller: the `kubernetes` Service in `default`, its Endpoints and
  EndpointSlice (node1's address, port 6443), kept by the API server
- `store.py`: etcd: the objects, resource versions, the watch log and atomic persistence
- `strategy.py`: the update strategies: what a write of an object or of its status keeps, immutable fields
- `registry.py`: the registry: create, update, apply (all or nothing), graceful delete, scale, label
- `patch.py`: PATCH: apply_patch() by Content-Type (JSON, merge, strategic merge), upstream's statuses and messages;
  `patch_json.py` RFC 6902 (evanphx/json-patch), `patch_strategic.py` and `patch_lists.py` strategic merge
- `status.py`: the API's errors as metav1.Status, with upstream's reasons and messages
- `discovery.py`: discovery: /version, /api, /apis and each group version's resources
- `columns.py`: the table convertors: each kind's row as `kubectl get` prints it
- `tables.py`: Table responses (meta.k8s.io/v1) for `kubectl get`, from columns.py
- `watch.py`: watch: ADDED/MODIFIED/DELETED events from a resource version, 410 Gone when too old
- `rest.py`: the Kubernetes REST API: paths, verbs, subresources, lists with selectors, Tables, patches
- `protobuf.py`: request bodies in application/vnd.kubernetes.protobuf (the typed `kubectl create`s) decoded to
  JSON's dict; `protobuf_types.py` the messages' field tables (upstream's generated.proto numbers)
- `openapi.py`: the OpenAPI documents kubectl reads for apply and explain
- `openapi_schemas.py`: each kind's fields with types and descriptions (`kubectl explain`)
  from upstream-named tables: `openapi_meta.py` (ObjectMeta, LabelSelector, Time, IntOrString), `openapi_pod.py`,
  `openapi_container.py`, `openapi_core.py` (Service, Node, ...), `openapi_apps.py`, `openapi_networking.py`
- `https.py`: secure serving: HTTPS on node1's address, port 6443, client-certificate authentication
- `server.py`: the local socket: the registry over HTTP+JSON on a Unix socket (the CLI and the components)
- `events.py`: Events: record() what happened to an object, deduplicated with counts, kept an hour
- `client.py`: client-go: the client of the API server's socket
- `informer.py`: client-go's informer: list, then watch, keeping a local cache current
- `pki.py`: the cluster CA, certificates for Ingress hosts, the check of kubernetes.io/tls Secrets
"""
