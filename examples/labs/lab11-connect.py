"""Lab 11: time new TCP connections (connect() returns when the SYN-ACK is back), N to each IP:PORT given.

    python3 examples/labs/lab11-connect.py IP:PORT... [-n 500]     (inside a pod: toycluster exec POD -- ...)

Each connection is new (a new source port), so its first packet walks the nat table's KUBE-SERVICES chain on the
node until a rule matches, or to the end; the socket is closed with a reset, so nothing lingers in TIME_WAIT.
"""
import argparse
import socket
import statistics
import struct
import time

LINGER_RESET = struct.pack("ii", 1, 0)


def connect_times(host: str, port: int, n: int) -> list[float]:
    """N new connections to HOST:PORT; each one's connect() time in microseconds."""
    times = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
        t = time.perf_counter()
        s.connect((host, port))
        times.append((time.perf_counter() - t) * 1e6)
        s.close()
    return sorted(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("targets", nargs="+", metavar="IP:PORT")
    ap.add_argument("-n", type=int, default=500, help="connections per target (default 500)")
    args = ap.parse_args()
    for target in args.targets:
        host, port = target.rsplit(":", 1)
        connect_times(host, int(port), 20)                     # warm up: ARP, caches
        t = connect_times(host, int(port), args.n)
        print(f"{target:<21} {args.n} new connections: median {statistics.median(t):.0f} µs "
              f"(p10 {t[len(t) // 10]:.0f}, p90 {t[len(t) * 9 // 10]:.0f})")


if __name__ == "__main__":
    main()
