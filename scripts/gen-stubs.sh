#!/usr/bin/env bash
# Generates the Go and TypeScript stubs from proto/ (what `make stubs` runs, after
# scripts/install-stub-tools.sh):
#   Go         -> OUT/clients/go/ainative/chat/v1/   (protoc-gen-go + protoc-gen-go-grpc)
#   TypeScript -> OUT/clients/ts/src/gen/            (ts-proto, outputServices=grpc-js)
# OUT defaults to the repository root; tests pass a temporary directory to check that the
# committed files are reproduced byte for byte.
#
# The output embeds tool versions (protoc, protoc-gen-go, protoc-gen-ts_proto), so the tools are
# pinned: Debian bookworm's protoc/plugins and clients/ts/package-lock.json. The script refuses
# other versions rather than silently producing a diff.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$(mkdir -p "${1:-$ROOT}" && cd "${1:-$ROOT}" && pwd)"

PROTOC="${PROTOC:-/usr/bin/protoc}"
PROTOC_VERSION="libprotoc 3.21.12"
PROTOC_GEN_GO_VERSION="protoc-gen-go v1.28.1"
PROTOC_GEN_GO_GRPC_VERSION="protoc-gen-go-grpc 1.0"
TS_PROTO="$ROOT/clients/ts/node_modules/.bin/protoc-gen-ts_proto"

die() { echo "gen-stubs: $*" >&2; exit 1; }

[[ -x "$PROTOC" ]] || die "$PROTOC not found: run scripts/install-stub-tools.sh"
[[ "$("$PROTOC" --version)" == "$PROTOC_VERSION" ]] || die "$PROTOC is '$("$PROTOC" --version)', want '$PROTOC_VERSION'"
[[ "$(protoc-gen-go --version)" == "$PROTOC_GEN_GO_VERSION" ]] || die "protoc-gen-go is '$(protoc-gen-go --version)', want '$PROTOC_GEN_GO_VERSION'"
[[ "$(protoc-gen-go-grpc --version)" == "$PROTOC_GEN_GO_GRPC_VERSION" ]] \
  || die "protoc-gen-go-grpc is '$(protoc-gen-go-grpc --version)', want '$PROTOC_GEN_GO_GRPC_VERSION'"
[[ -x "$TS_PROTO" ]] || die "$TS_PROTO not found: run scripts/install-stub-tools.sh"

cd "$ROOT"
# Sorted, repository-relative paths: the generated "source:" lines and file order never vary.
mapfile -t PROTOS < <(cd proto && find . -name '*.proto' -printf '%P\n' | LC_ALL=C sort)
((${#PROTOS[@]})) || die "no .proto files under proto/"

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$TMP/go" "$TMP/ts"

(
  cd proto
  "$PROTOC" -I. \
    --go_out="$TMP/go" --go_opt=paths=source_relative \
    --go-grpc_out="$TMP/go" --go-grpc_opt=paths=source_relative \
    "${PROTOS[@]}"
  "$PROTOC" -I. \
    --plugin=protoc-gen-ts_proto="$TS_PROTO" \
    --ts_proto_out="$TMP/ts" \
    --ts_proto_opt=outputServices=grpc-js,esModuleInterop=true,env=node \
    "${PROTOS[@]}"
)

# Replace whole trees, so files of a removed .proto do not linger. Go output lands under one
# directory per top-level proto/ directory (proto/ainative -> clients/go/ainative).
GO_DIRS=()
for d in $(printf '%s\n' "${PROTOS[@]}" | cut -d/ -f1 | LC_ALL=C sort -u); do
  GO_DIRS+=("$OUT/clients/go/$d")
done
TS_OUT="$OUT/clients/ts/src/gen"
rm -rf "${GO_DIRS[@]}" "$TS_OUT"
mkdir -p "$OUT/clients/go" "$(dirname "$TS_OUT")"
cp -r "$TMP/go/." "$OUT/clients/go/"
cp -r "$TMP/ts" "$TS_OUT"
find "${GO_DIRS[@]}" "$TS_OUT" -type d -exec chmod 755 {} + -o -type f -exec chmod 644 {} +

echo "gen-stubs: wrote $(find "${GO_DIRS[@]}" "$TS_OUT" -type f | wc -l) files under $OUT/clients" >&2
