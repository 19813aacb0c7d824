"""DNS over TCP's framing (wire/dns.py), shared by CoreDNS and the public DNS: no root needed."""
import asyncio
import socket
import struct
import threading

from toycluster.wire import dns as dns_wire


def test_serve_tcp_frames_answers_from_any_thread_and_ends_on_a_non_query():
    def handle(data, addr, send):
        if data == b"stop":
            return False
        if data == b"later":                            # as CoreDNS's forwarder does: from its own thread
            threading.Thread(target=send, args=(b"from a thread",)).start()
        else:
            send(data.upper())
        return True

    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(asyncio.start_server(lambda r, w: dns_wire.serve_tcp(r, w, handle),
                                                          "127.0.0.1", 0))
    threading.Thread(target=loop.run_forever, daemon=True).start()
    try:
        with socket.create_connection(server.sockets[0].getsockname(), timeout=3) as c:
            def read():
                size = struct.unpack("!H", c.recv(2, socket.MSG_WAITALL))[0]
                return c.recv(size, socket.MSG_WAITALL)
            c.sendall(dns_wire.frame(b"one") + dns_wire.frame(b"two"))        # several per connection
            assert [read(), read()] == [b"ONE", b"TWO"]
            c.sendall(dns_wire.frame(b"later"))
            assert read() == b"from a thread"
            c.sendall(dns_wire.frame(b"stop"))
            assert c.recv(10) == b""                                         # the connection ends
    finally:
        loop.call_soon_threadsafe(loop.stop)
