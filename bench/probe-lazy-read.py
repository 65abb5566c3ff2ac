#!/usr/bin/env python3
"""Check, on this kernel, the two facts a lazy-read arrival-rate path would rest on
(docs/performance.md, "2026-12-04, night"). Own code.

1. A TCP socket registered in epoll for EPOLLOUT only (edge-triggered) does not wake
   the waiter when a response arrives: the generator's thread would sleep through it
   and read it on its pacer's next wake-up instead of waking for it.
2. recvmsg with SO_TIMESTAMPNS returns the kernel's receive time of the data, so a
   response read late still gets its exact arrival time (its latency stays true).

Loopback only. Prints what it saw; exits 1 if either fact does not hold.
   python3 bench/probe-lazy-read.py
"""
import select
import socket
import struct
import sys
import time

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux value; Python may not name it
LATE_S = 0.02


def main():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    client = socket.create_connection(srv.getsockname())
    server, _ = srv.accept()
    client.setblocking(False)
    client.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    ep = select.epoll()
    ep.register(client.fileno(), select.EPOLLOUT | select.EPOLLET)
    ep.poll(0.01)  # the edge reported at registration (the socket is writable)

    client.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
    server.recv(1024)
    sent_ns = time.time_ns()
    server.send(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
    woke = ep.poll(0.05)
    print(f"1. events while the response arrived: {woke or 'none'}")

    time.sleep(LATE_S)
    data, anc, _, _ = client.recvmsg(4096, 1024)
    stamps = [struct.unpack("qq", d[:16]) for lvl, typ, d in anc
              if lvl == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS]
    ok_ts = False
    if stamps:
        sec, ns = stamps[0]
        rx_ns = sec * 10**9 + ns
        read_ns = time.time_ns()
        print(f"2. read {len(data)} bytes {(read_ns - rx_ns) / 1e3:,.0f} µs after the kernel "
              f"received them, {(rx_ns - sent_ns) / 1e3:,.1f} µs after the server sent them")
        ok_ts = 0 <= rx_ns - sent_ns < 5_000_000 and read_ns - rx_ns >= LATE_S * 1e9 * 0.9
    else:
        print("2. no SO_TIMESTAMPNS control message")
    server.close()
    ok = not woke and ok_ts
    print("both hold" if ok else "NOT both hold")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
