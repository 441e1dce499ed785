#!/usr/bin/env bash
# Lets clients/go build OFFLINE against Debian's Go packages (golang-google-grpc-dev,
# golang-google-protobuf-dev and their dependencies, sources under /usr/share/gocode/src).
#
# Why a vendor directory: Debian ships a GOPATH tree, not a module cache. `replace` directives
# pointing into it are not enough, since google.golang.org/grpc's go.mod (go 1.11, unpruned) pulls
# in the go.mod files of modules Debian does not ship (envoyproxy/go-control-plane, cncf/udpa, ...),
# which GOPROXY=off cannot resolve. In vendor mode the go command loads no module graph: it reads
# packages from vendor/ and checks vendor/modules.txt against go.mod. So this script makes
# clients/go/vendor/ a farm of symlinks into /usr/share/gocode/src plus a matching modules.txt.
# vendor/ is git-ignored; with it present, go >= 1.14 uses -mod=vendor by itself.
#
# Usage: scripts/go-debian-vendor.sh [GO_MODULE_DIR]   (default: clients/go)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MOD_DIR="$(cd "${1:-$ROOT/clients/go}" && pwd)"
GOCODE="${GOCODE:-/usr/share/gocode/src}"

# The modules go.mod requires, at the versions Debian bookworm ships (checked against go.mod).
declare -A DIRECT=(
  [google.golang.org/grpc]=v1.33.3
  [google.golang.org/protobuf]=v1.28.1
)
# Their dependencies, symlinked as well. They are left out of modules.txt: with go >= 1.17 in
# go.mod, every module listed there must also be required in go.mod, and go.mod keeps only
# versions that resolve online too; go 1.19 finds unlisted packages under vendor/ all the same.
INDIRECT=(
  google.golang.org/genproto
  github.com/golang/protobuf
  golang.org/x/net
  golang.org/x/sys
  golang.org/x/text
)

die() { echo "go-debian-vendor: $*" >&2; exit 1; }
for m in "${!DIRECT[@]}"; do
  [[ -d "$GOCODE/$m" ]] || die "$GOCODE/$m missing: run scripts/install-stub-tools.sh"
  grep -qE "^[[:space:]]*(require[[:space:]]+)?$m ${DIRECT[$m]}\$" "$MOD_DIR/go.mod" \
    || die "$MOD_DIR/go.mod must require $m ${DIRECT[$m]} (the Debian version)"
done

# grpc marshals through github.com/golang/protobuf: only 1.4+ (here Debian's 1.5) handles messages
# made by protoc-gen-go 1.28; 1.3 compiles but panics at run time.
grep -q 'google.golang.org/protobuf' "$GOCODE/github.com/golang/protobuf/go.mod" 2>/dev/null \
  || die "$GOCODE/github.com/golang/protobuf is older than 1.4: install golang-github-golang-protobuf-1-5-dev"

VENDOR="$MOD_DIR/vendor"
rm -rf "$VENDOR"
mkdir -p "$VENDOR"
for m in "${!DIRECT[@]}" "${INDIRECT[@]}"; do
  [[ -d "$GOCODE/$m" ]] || die "$GOCODE/$m missing: run scripts/install-stub-tools.sh"
  mkdir -p "$VENDOR/$(dirname "$m")"
  ln -s "$GOCODE/$m" "$VENDOR/$m"
done

write_modules_txt() {  # $1: file listing the vendored packages in use (may be empty)
  local m
  for m in $(printf '%s\n' "${!DIRECT[@]}" | LC_ALL=C sort); do
    printf '# %s %s\n## explicit\n' "$m" "${DIRECT[$m]}"
    grep -E "^$m(/|\$)" "$1" || true
  done >"$VENDOR/modules.txt"
}

# First pass: the direct requirements without packages, enough for `go list` to find the packages
# in use; second pass: with the packages of theirs that the build uses.
: >"$VENDOR/.pkgs"
write_modules_txt "$VENDOR/.pkgs"
(cd "$MOD_DIR" && GOFLAGS=-mod=vendor GOPROXY=off GO111MODULE=on \
  go list -deps -f '{{if not .Standard}}{{.ImportPath}}{{end}}' ./...) | LC_ALL=C sort -u >"$VENDOR/.pkgs"
write_modules_txt "$VENDOR/.pkgs"
rm -f "$VENDOR/.pkgs"
echo "go-debian-vendor: $VENDOR -> $GOCODE ($(grep -c '^[^#]' "$VENDOR/modules.txt") packages listed)" >&2
