#!/usr/bin/env bash
# What `make bench` needs from the system: wrk (Debian package). Idempotent.
set -euo pipefail
if ! command -v wrk >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends wrk >/dev/null
fi
wrk --version 2>&1 | head -1 || true
