#!/usr/bin/python3
"""The network between a lazy-pages daemon and a page server, for t-lazy.

    ps-tap.py proxy LISTEN_PORT SERVER_PORT RECORD [FLIP]

A TCP proxy: it listens on 127.0.0.1:LISTEN_PORT, and for the one
connection it accepts connects to 127.0.0.1:SERVER_PORT and copies both
ways.  What the server sends is also written to the file RECORD; with
FLIP, the byte at offset FLIP of what the server sends is changed (all its
bits) on the way.  It exits when either side closes.

    ps-tap.py ask PORT CMD NR_PAGES VADDR DST_ID

A hostile daemon: it connects to 127.0.0.1:PORT, sends one request of the
page server protocol (struct page_server_iov: u32 cmd, u32 nr_pages, u64
vaddr, u64 dst_id, in the host's byte order), reads the answer until the
server closes the connection, and prints how many bytes came.
"""
import select
import socket
import struct
import sys


def proxy(listen_port, server_port, record, flip=-1):
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


def ask(port, cmd, nr, vaddr, dst):
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    s.sendall(struct.pack("=IIQQ", cmd, nr, vaddr, dst))
    got = 0
    while True:
        data = s.recv(1 << 16)
        if not data:
            break
        got += len(data)
    print(got)


def main():
    what, args = sys.argv[1], sys.argv[2:]
    if what == "proxy":
        proxy(int(args[0]), int(args[1]), args[2], *(int(a) for a in args[3:4]))
    else:
        ask(*(int(a, 0) for a in args[:5]))


if __name__ == "__main__":
    try:
        main()
    except (OSError, IndexError, ValueError) as e:
        print("ps-tap: %s" % e, file=sys.stderr)
        sys.exit(1)
