#!/usr/bin/env bash
# A drag-to-install disk image of the .app built by packaging/build.py (macOS only).
#   bash packaging/macos/make_dmg.sh "dist/EmbeddingGemma RAG.app" dist/NAME.dmg
set -euo pipefail
app=$1
dmg=$2
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
# ditto keeps the bundle's symlinks, extended attributes and code signature intact.
ditto "$app" "$stage/$(basename "$app")"
ln -s /Applications "$stage/Applications"
hdiutil create -volname "EmbeddingGemma RAG" -srcfolder "$stage" -ov -format UDZO "$dmg"
