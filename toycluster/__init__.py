"""toycluster: a Kubernetes-networking lab built from real Linux namespaces."""
