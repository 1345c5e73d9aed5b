#!/usr/bin/env bash
# Generates what the packages and archives ship besides the binary, from the binary's own
# kong model: the shell completion scripts and the man page. goreleaser runs it as a
# before hook; `make assets` runs it by hand.
#
#   packaging/gen-assets.sh [VERSION [COMMIT [DATE]]]
#
# Output: packaging/generated/{completions/ingot-top.{bash,zsh,fish},man/ingot-top.1.gz}
set -euo pipefail
cd "$(dirname "$0")/.."

version=${1:-devel}
commit=${2:-}
date=${3:-}
out=packaging/generated
pkg=github.com/nsai/ingot-top/internal/buildinfo

rm -rf "$out"
mkdir -p "$out/completions" "$out/man"
bin=$(mktemp -d)/ingot-top
trap 'rm -rf "$(dirname "$bin")"' EXIT
# Host platform, so it can run here; the man page's header carries the release version.
CGO_ENABLED=0 go build -trimpath -o "$bin" \
	-ldflags "-X $pkg.version=$version -X $pkg.commit=$commit -X $pkg.date=$date" ./cmd/ingot-top

for shell in bash zsh fish; do
	"$bin" completion "$shell" >"$out/completions/ingot-top.$shell"
done
# -n: no name or time stamp in the gzip header, so the package build is reproducible.
"$bin" man | gzip -9n >"$out/man/ingot-top.1.gz"
echo "gen-assets: wrote $(find "$out" -type f | sort | tr '\n' ' ')" >&2
