#!/usr/bin/env bash
# Runs the ONVIF interop suite (or the given test files) inside a private network namespace:
# only lo, up, with 224.0.0.0/4 routed on it, so WS-Discovery multicast never leaves the process
# tree and every client finds exactly this gateway.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "${CAMGATE_INTEROP_NETNS:-}" != 1 ]; then
  # root: a plain network namespace; otherwise one inside a user namespace.
  if [ "$(id -u)" = 0 ]; then ns=(unshare -n); else ns=(unshare -r -n); fi
  exec "${ns[@]}" -- env CAMGATE_INTEROP_NETNS=1 "$0" "$@"
fi
ip link set lo up
ip link set lo multicast on
ip route add 224.0.0.0/4 dev lo
if [ $# -eq 0 ]; then set -- test/interop/*.test.ts; fi
exec node --import tsx --test --test-concurrency=1 --test-reporter=spec "$@"
