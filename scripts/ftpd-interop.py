#!/usr/bin/python3
"""FTP server for snodo's interoperability tests (pkg/channel/ftp/interop_test.go).

pyftpdlib from Debian (python3-pyftpdlib, python3-openssl) on one port, plain FTP with
optional explicit TLS (AUTH TLS, PROT P): the tests connect both ways to the same
server. One user, with full rights on --root. The password is read from the
environment (SNODO_FTP_INTEROP_PASSWORD, default "secret"), so it does not show in the
process list.

Run it through scripts/ftpd-start.sh, which also makes the certificate and prints the
environment the tests read.
"""

import argparse
import logging
import os
import sys

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.servers import FTPServer


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", required=True, help="folder served as /")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=2121)
    p.add_argument("--cert", help="PEM certificate; enables explicit TLS")
    p.add_argument("--key", help="PEM private key of --cert")
    p.add_argument("--user", default=os.environ.get("SNODO_FTP_INTEROP_USER", "hub"))
    p.add_argument("--passive", default="30000-30019", help="passive port range")
    p.add_argument("--require-tls", action="store_true", help="refuse plain control and data connections")
    args = p.parse_args()
    password = os.environ.get("SNODO_FTP_INTEROP_PASSWORD", "secret")

    authorizer = DummyAuthorizer()
    authorizer.add_user(args.user, password, args.root, perm="elradfmwMT")

    if args.cert:
        from pyftpdlib.handlers import TLS_FTPHandler as Handler

        Handler.certfile = args.cert
        Handler.keyfile = args.key
        Handler.tls_control_required = args.require_tls
        Handler.tls_data_required = args.require_tls
    else:
        from pyftpdlib.handlers import FTPHandler as Handler

    lo, hi = (int(x) for x in args.passive.split("-"))
    Handler.authorizer = authorizer
    Handler.passive_ports = range(lo, hi + 1)
    Handler.banner = "snodo interop pyftpdlib ready"

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    server = FTPServer((args.host, args.port), Handler)
    server.max_cons = 64
    server.serve_forever()


if __name__ == "__main__":
    main()
