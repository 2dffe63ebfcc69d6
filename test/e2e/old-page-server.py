#!/usr/bin/python3
"""A page server of a criu that does not know encrypted dumps, as far as
a dump sees it: it takes the first command of one connection and, being
PS_IOV_OPEN3 (unknown before), closes the connection, as criu's
page_server_serve() does on an unknown command; the dump must then fail
and say why.  Writes the command it got to OUT.

usage: old-page-server.py PORT OUT
"""
import socket
import struct
import sys

port, out = int(sys.argv[1]), sys.argv[2]
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(1)
srv.settimeout(60)
print("listening", flush=True)
sk, _ = srv.accept()
sk.settimeout(30)
psi = b""
while len(psi) < 24:
    b = sk.recv(24 - len(psi))
    if not b:
        break
    psi += b
cmd = struct.unpack("<IIQQ", psi)[0] & 0xffff if len(psi) == 24 else None
with open(out, "w") as f:
    f.write("%s\n" % cmd)
sk.close()
