#!/usr/bin/python3
"""A lazy-pages daemon that asks a page server for what it should not get.

    ps-client.py PORT CMD NR_PAGES VADDR DST_ID

Connects to 127.0.0.1:PORT, sends one request of the page server protocol
(struct page_server_iov: u32 cmd, u32 nr_pages, u64 vaddr, u64 dst_id, in
the host's byte order), reads the answer until the server closes the
connection, and prints how many bytes came.
"""
import socket
import struct
import sys


def main():
    port, cmd, nr, vaddr, dst = (int(a, 0) for a in sys.argv[1:6])
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    s.sendall(struct.pack("=IIQQ", cmd, nr, vaddr, dst))
    got = 0
    while True:
        data = s.recv(1 << 16)
        if not data:
            break
        got += len(data)
    print(got)


if __name__ == "__main__":
    try:
        main()
    except OSError as e:
        print("ps-client: %s" % e, file=sys.stderr)
        sys.exit(1)
