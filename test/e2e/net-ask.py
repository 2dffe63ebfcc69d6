#!/usr/bin/python3
# Ask net-echo.py once: net-ask.py tcp|udp PORT; prints its answer.
import socket
import sys

kind, port = sys.argv[1], int(sys.argv[2])
if kind == "tcp":
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    s.sendall(b"hello\n")
    print(s.recv(64).decode().strip())
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.sendto(b"hello\n", ("127.0.0.1", port))
    print(s.recv(64).decode().strip())
