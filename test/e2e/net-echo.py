#!/usr/bin/python3
# A network workload for the end-to-end tests: one listening TCP socket and
# one UDP socket on 127.0.0.1:PORT.  Each request gets "tcp N" or "udp N"
# back, N counting every request answered, so a restored copy shows its
# state survived.   usage: net-echo.py PORT
import select
import socket
import sys

port = int(sys.argv[1])
tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
tcp.bind(("127.0.0.1", port))
tcp.listen(8)
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("127.0.0.1", port))
n = 0
while True:
    ready, _, _ = select.select([tcp, udp], [], [])
    for s in ready:
        n += 1
        if s is tcp:
            c, _ = tcp.accept()
            c.recv(64)
            c.sendall(b"tcp %d\n" % n)
            c.close()
        else:
            _, addr = udp.recvfrom(64)
            udp.sendto(b"udp %d\n" % n, addr)
