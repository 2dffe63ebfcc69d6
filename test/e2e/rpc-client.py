# A client of pycriu, as an engine in Python is one: an encrypted dump or a
# restore with a key through criu swrk.  Prints one line: "dumped", the
# restored pid, or "failed: ERRNO: MESSAGE" (criu's cr_errno and first
# error line) with exit status 1.
#
#   rpc-client.py CRIU dump PID DIR [CERT [CERT...]]
#                 encrypted for CERT (opts.tls_cert) and the others (opts.tls_certs), or plain
#   rpc-client.py CRIU restore DIR KEY [encrypt]
#                 ("encrypt": the restore policy, only an encrypted checkpoint)
import os
import sys

import pycriu


def main():
    criu, what = sys.argv[1], sys.argv[2]
    c = pycriu.criu()
    c.use_binary(criu)
    c.opts.log_file = "py.log"
    c.opts.log_level = 4
    try:
        if what == "dump":
            c.opts.pid = int(sys.argv[3])
            c.opts.images_dir_fd = os.open(sys.argv[4], os.O_DIRECTORY)
            if len(sys.argv) > 5:
                c.opts.encrypt = True
                c.opts.tls_cert = sys.argv[5]
                c.opts.tls_certs.extend(sys.argv[6:])
            c.dump()
            print("dumped")
        else:
            c.opts.images_dir_fd = os.open(sys.argv[3], os.O_DIRECTORY)
            c.opts.tls_key = sys.argv[4]
            if sys.argv[5:] == ["encrypt"]:
                c.opts.encrypt = True
            print(c.restore().pid)
    except pycriu.CRIUExceptionExternal as e:
        print("failed: %d: %s" % (e.errno, e.errmsg))
        sys.exit(1)


main()
