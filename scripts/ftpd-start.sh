#!/bin/bash
# Starts pyftpdlib on 127.0.0.1 for the FTP interoperability tests of pkg/channel/ftp:
# one port, plain FTP with optional explicit TLS (AUTH TLS), a throwaway self-signed
# certificate for 127.0.0.1, one user. Prints the environment the tests read; stop the
# server with: kill "$(cat DIR/ftpd.pid)".
#
#   eval "$(scripts/ftpd-start.sh /tmp/ftpd)"
#   go test ./pkg/channel/ftp/ -run Interop
#
# Needs the Debian packages python3-pyftpdlib, python3-openssl and openssl.
# Environment: SNODO_FTPD_PORT (default 2121), SNODO_FTP_INTEROP_USER (hub),
# SNODO_FTP_INTEROP_PASSWORD (secret).
set -euo pipefail

dir=${1:-$(mktemp -d /tmp/snodo-ftpd.XXXXXX)}
port=${SNODO_FTPD_PORT:-2121}
user=${SNODO_FTP_INTEROP_USER:-hub}
SNODO_FTP_INTEROP_PASSWORD=${SNODO_FTP_INTEROP_PASSWORD:-secret}
export SNODO_FTP_INTEROP_PASSWORD
here=$(cd "$(dirname "$0")" && pwd)

if ! /usr/bin/python3 -c 'import pyftpdlib, OpenSSL' 2>/dev/null; then
	echo "ftpd-start: servono i pacchetti Debian python3-pyftpdlib e python3-openssl (apt-get install python3-pyftpdlib python3-openssl)" >&2
	exit 1
fi
mkdir -p "$dir/root"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/ftpd.key" -out "$dir/ftpd.crt" -days 30 \
	-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1
/usr/bin/python3 "$here/ftpd-interop.py" --root "$dir/root" --port "$port" --user "$user" \
	--cert "$dir/ftpd.crt" --key "$dir/ftpd.key" >"$dir/ftpd.log" 2>&1 &
echo $! >"$dir/ftpd.pid"

i=0
while ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
	i=$((i + 1))
	if [ "$i" -gt 100 ] || ! kill -0 "$(cat "$dir/ftpd.pid")" 2>/dev/null; then
		echo "ftpd-start: pyftpdlib non è partito sulla porta $port (did not start):" >&2
		cat "$dir/ftpd.log" >&2
		exit 1
	fi
	sleep 0.1
done

echo "export SNODO_FTP_INTEROP=127.0.0.1:$port"
echo "export SNODO_FTP_INTEROP_USER=$user"
echo "export SNODO_FTP_INTEROP_PASSWORD=$SNODO_FTP_INTEROP_PASSWORD"
echo "export SNODO_FTP_INTEROP_CA=$dir/ftpd.crt"
