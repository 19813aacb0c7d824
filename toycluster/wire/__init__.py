"""Wire formats that several components speak (no Kubernetes part of their own); they import only config.

Modules, in reading order:
- `dns.py`: DNS messages for both DNS servers (CoreDNS and the public DNS): strict query parsing, rcodes and
  types, the Answer shape, rendering, the log line's fields, and DNS over TCP's length-prefixed framing
- `http1.py`: HTTP/1.1 requests (RFC 9112) for the API server, the echo and nginx workloads and the ingress:
  where a head ends, the head parser with the refusals every server owes, the chunked-body reader
- `websocket.py`: WebSocket (RFC 6455) for kubectl's exec, attach and port-forward: the handshake's accept key and
  subprotocol, frames (masking, fragments, ping/pong, close) on asyncio streams
- `spdy.py`: SPDY/3.1 framing under kubectl's port-forward: frames, header blocks compressed with SPDY's dictionary
"""
