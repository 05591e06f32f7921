#!/bin/bash
# The image's HEALTHCHECK: `GET /v1/.well-known/ready` on the REST port, healthy when it answers
# 200 (503 while the data directory is still loading). The image has no curl, so this speaks
# HTTP/1.0 through bash's /dev/tcp. Port: the first argument, else $PORT, else 8080 (the image's
# CMD); a server started with another `--port` flag needs `HEALTHCHECK CMD weft-healthcheck PORT`
# or `PORT=…` in the environment instead of the flag.
set -u
port="${1:-${PORT:-8080}}"
exec 3<>"/dev/tcp/127.0.0.1/${port}" || exit 1
printf 'GET /v1/.well-known/ready HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3 || exit 1
IFS=' ' read -r _ status _ <&3 || exit 1
[ "${status}" = 200 ]
