#!/usr/bin/env bash
# Adds EmbeddingGemma RAG from this unpacked folder to your desktop's application menu
# (per user, no root needed). Run it again after moving the folder; --remove undoes it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
apps="${XDG_DATA_HOME:-$HOME/.local/share}/applications"
icons="${XDG_DATA_HOME:-$HOME/.local/share}/icons/hicolor/256x256/apps"
entry="$apps/embeddinggemma-rag.desktop"
if [[ "${1:-}" == "--remove" ]]; then
    rm -f "$entry" "$icons/embeddinggemma-rag.png"
    echo "removed $entry"
    exit 0
fi
mkdir -p "$apps" "$icons"
install -m 644 "$here/embeddinggemma-rag.png" "$icons/embeddinggemma-rag.png"
# The menu does not search this folder for the program: point Exec at it by full path.
sed "s|^Exec=.*|Exec=\"$here/embeddinggemma-rag\"|" "$here/embeddinggemma-rag.desktop" > "$entry"
chmod 644 "$entry"
# Menus pick the entry up by themselves; refreshing the caches only makes it quicker.
command -v update-desktop-database > /dev/null && update-desktop-database "$apps" || true
echo "added $entry"
