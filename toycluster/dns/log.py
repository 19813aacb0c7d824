"""CoreDNS's log and errors plugins: the query log's lines, and the server's own [INFO] and [ERROR] lines.

The query log is CoreDNS's log plugin's line, gathered in a deque and written every 100 ms:
  [INFO] 10.244.1.2:53211 - 4567 "A IN web.default.svc.cluster.local. udp 47 false 512" NOERROR qr,aa,rd 63 0.000045s
"""
from __future__ import annotations

import collections
import sys


def info(text: str) -> None:
    sys.stdout.write(f"[INFO] {text}\n")
    sys.stdout.flush()


def error(text: str) -> None:
    sys.stdout.write(f"[ERROR] {text}\n")
    sys.stdout.flush()


class QueryLog:
    """Lines from the hot loops go into a deque (formatted there: handing the GIL to a formatting thread costs
    the UDP loop more than the formatting); flush() writes them out, every 100 ms."""

    def __init__(self):
        self.lines = collections.deque(maxlen=200_000)       # beyond that, the oldest lines are lost
        self.append = self.lines.append

    def add(self, addr, data: bytes, fields: str, seconds: float) -> None:
        self.append("[INFO] %s:%d - %d %s %.9fs\n" % (addr[0], addr[1], (data[0] << 8) | data[1], fields, seconds))

    def flush(self) -> None:
        out, pop = [], self.lines.popleft
        try:
            while True:
                out.append(pop())
        except IndexError:
            pass
        if out:
            sys.stdout.write("".join(out))
            sys.stdout.flush()
