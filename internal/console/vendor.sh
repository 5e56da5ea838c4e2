#!/usr/bin/env bash
# Vendors the files of the State design system (@gouvfr/dsfr) that the
# console serves, and axe-core's axe.min.js that its tests inject, from the
# npm registry: only the files used, with their licences and versions.
# `make vendor-console` runs it; the versions are the arguments' defaults.
set -euo pipefail
DSFR_VERSION=${DSFR_VERSION:-1.15.3}
AXE_VERSION=${AXE_VERSION:-4.14.1}
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "@gouvfr/dsfr@$DSFR_VERSION" "axe-core@$AXE_VERSION" >/dev/null)
mkdir -p "$tmp/dsfr" "$tmp/axe"
tar xzf "$tmp/gouvfr-dsfr-$DSFR_VERSION.tgz" -C "$tmp/dsfr"
tar xzf "$tmp/axe-core-$AXE_VERSION.tgz" -C "$tmp/axe"

dist="$tmp/dsfr/package/dist"
out="$here/static/vendor/dsfr"
rm -rf "$out"
mkdir -p "$out/favicon"
cp "$dist/dsfr.min.css" "$dist/dsfr.module.min.js" "$dist/dsfr.nomodule.min.js" "$out/"
cp "$dist/favicon/favicon.svg" "$dist/favicon/favicon.ico" "$dist/favicon/apple-touch-icon.png" "$out/favicon/"
# The fonts and icons the stylesheet names (woff2 only: every browser the
# console supports reads it, the woff fallbacks are left out).
grep -o 'url([^)]*)' "$dist/dsfr.min.css" | sed 's/^url(//; s/)$//; s/"//g' | grep -v '^data:' | grep -v '\.woff$' | sort -u |
	while read -r f; do
		[ -f "$dist/$f" ] || continue
		mkdir -p "$out/$(dirname "$f")"
		cp "$dist/$f" "$out/$f"
	done
cp "$tmp/dsfr/package/LICENSE.md" "$out/LICENSE.md"
echo "@gouvfr/dsfr $DSFR_VERSION" >"$out/VERSION"

axe="$here/testdata/axe"
rm -rf "$axe"
mkdir -p "$axe"
cp "$tmp/axe/package/axe.min.js" "$tmp/axe/package/LICENSE" "$axe/"
echo "axe-core $AXE_VERSION" >"$axe/VERSION"
echo "vendored @gouvfr/dsfr $DSFR_VERSION in $out and axe-core $AXE_VERSION in $axe"
