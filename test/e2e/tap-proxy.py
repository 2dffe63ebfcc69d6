#!/usr/bin/python3
"""A TCP proxy between a lazy-pages daemon and the page server it reads
from, to see and to change what goes over the network.

    tap-proxy.py LISTEN_PORT SERVER_PORT RECORD [FLIP]

It listens on 127.0.0.1:LISTEN_PORT, and for the one connection it
accepts connects to 127.0.0.1:SERVER_PORT and copies both ways.  What the
server sends is also written to the file RECORD; with FLIP, the byte at
offset FLIP of what the server sends is changed (all its bits) on the way.
It exits when either side closes.
"""
import os
import select
import socket
import sys


def main():
    listen_port, server_port, record = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    flip = int(sys.argv[4]) if len(sys.argv) > 4 else -1
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", listen_port))
    ls.listen(1)
    client, _ = ls.accept()
    ls.close()
    server = socket.create_connection(("127.0.0.1", server_port))
    sent = 0
    with open(record, "wb") as rec:
        while True:
            readable, _, _ = select.select([client, server], [], [])
            for s in readable:
                data = s.recv(1 << 16)
                if not data:
                    return
                if s is server:
                    if sent <= flip < sent + len(data):
                        data = bytearray(data)
                        data[flip - sent] ^= 0xFF
                        data = bytes(data)
                    sent += len(data)
                    rec.write(data)
                    client.sendall(data)
                else:
                    server.sendall(data)


if __name__ == "__main__":
    try:
        main()
    except OSError as e:
        print("tap-proxy: %s" % e, file=sys.stderr)
        os._exit(1)
