#!/usr/bin/env bash
# Installs what `make stubs` and tests/integration/test_stubs.py need, and only what is missing:
#   - from Debian (apt): protoc, protoc-gen-go, protoc-gen-go-grpc, the Go toolchain and the Go
#     gRPC/protobuf sources (/usr/share/gocode) that the Go stubs build against offline;
#     Node.js and npm only when no `node`/`npm` is on PATH (a newer Node already there is used as is);
#   - from npm: clients/ts's pinned dependencies (ts-proto, typescript, @grpc/grpc-js, ...) with
#     `npm ci`, only when clients/ts/node_modules does not match package-lock.json.
# Idempotent: a second run changes nothing and needs no network. Exits non-zero on any failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TS_DIR="$ROOT/clients/ts"

log() { echo "install-stub-tools: $*" >&2; }

# Debian bookworm package names.
APT_PACKAGES=(
  protobuf-compiler            # protoc 3.21.12 (and the well-known types in /usr/include)
  protoc-gen-go                # protoc-gen-go v1.28.1
  protoc-gen-go-grpc           # protoc-gen-go-grpc 1.0 (from grpc-go 1.33.3)
  golang-go                    # go 1.19
  golang-google-grpc-dev       # google.golang.org/grpc 1.33.3 sources, with its dependencies
  golang-google-protobuf-dev   # google.golang.org/protobuf 1.28.1 sources
  # github.com/golang/protobuf 1.5 (the shim over google.golang.org/protobuf). grpc-dev accepts
  # 1.3 or 1.5 and apt picks 1.3, whose pre-APIv2 marshaller panics on messages made by
  # protoc-gen-go 1.28 at run time (the code compiles either way). 1.5 conflicts with 1.3: apt
  # swaps them.
  golang-github-golang-protobuf-1-5-dev
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  if [[ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)" != "installed" ]]; then
    missing+=("$pkg")
  fi
done
if ! command -v node >/dev/null 2>&1; then
  missing+=(nodejs)
fi
if ! command -v npm >/dev/null 2>&1; then
  # Debian's npm conflicts with a Node.js that bundles its own npm (e.g. NodeSource's);
  # it is only needed, and only installed, when there is no npm at all.
  missing+=(npm)
fi

SUDO=()
if [[ "$(id -u)" != 0 ]]; then SUDO=(sudo); fi
APT_ERR="$(mktemp)"
trap 'rm -f "$APT_ERR"' EXIT

# apt-get, waiting while another apt/dpkg run on the machine holds its locks.
apt_get() {
  local try
  for try in $(seq 1 60); do
    if "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 "$@" 2>"$APT_ERR" >&2; then
      return 0
    fi
    if grep -q "Could not get lock\|Unable to lock\|Unable to acquire the dpkg frontend lock" "$APT_ERR"; then
      log "apt is busy (try $try/60), waiting"
      sleep 5
      continue
    fi
    cat "$APT_ERR" >&2
    return 1
  done
  cat "$APT_ERR" >&2
  return 1
}

if ((${#missing[@]})); then
  log "apt-get install ${missing[*]}"
  # The package lists may be missing (fresh images) or stale: refresh them when a first try fails.
  if ! apt_get install -y --no-install-recommends "${missing[@]}"; then
    log "apt-get update, then install again"
    apt_get update -qq
    apt_get install -y --no-install-recommends "${missing[@]}"
  fi
else
  log "Debian packages: all present"
fi

for tool in protoc protoc-gen-go protoc-gen-go-grpc go node npm; do
  command -v "$tool" >/dev/null 2>&1 || { log "error: $tool still not on PATH"; exit 1; }
done

node_major="$(node -p 'process.versions.node.split(".")[0]')"
((node_major >= 18)) || { log "error: node $(node --version) is too old, clients/ts needs Node.js >= 18"; exit 1; }

# npm ci only when node_modules is missing or was installed from another package-lock.json.
stamp="$TS_DIR/node_modules/.install-stamp"
want="$(sha256sum "$TS_DIR/package-lock.json" | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$TS_DIR/node_modules/.bin/protoc-gen-ts_proto" ]]; then
  log "clients/ts/node_modules: up to date"
else
  log "npm ci in clients/ts"
  (cd "$TS_DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  echo "$want" >"$stamp"
fi
