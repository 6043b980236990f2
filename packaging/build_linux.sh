#!/usr/bin/env bash
# Linux release files: the app folder, a .tar.gz with a desktop entry, and a .deb.
#
#   bash packaging/build_linux.sh [--with-models DIR] [--ci]
#
# Output in dist/: embeddinggemma-rag/ (the app folder),
# embeddinggemma-rag-VERSION-linux-ARCH.tar.gz and embeddinggemma-rag_VERSION_ARCH.deb.
# --ci also runs the frozen self-test (tiny generated models, clean stderr) on the app
# folder, on a copy with the models bundled inside, and on the .deb installed into a
# scratch root, and checks that the window starts (offscreen).
set -euo pipefail
cd "$(dirname "$0")/.."

ci=0
build_args=()
while (($#)); do
    case "$1" in
        --ci) ci=1 ;;
        --with-models) build_args+=(--with-models "$2"); shift ;;
        *) echo "usage: $0 [--with-models DIR] [--ci]" >&2; exit 2 ;;
    esac
    shift
done

started=$SECONDS
python3 packaging/build.py --out dist "${build_args[@]}"

app=dist/embeddinggemma-rag
version=$(python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
arch=$(dpkg --print-architecture 2> /dev/null || uname -m)
desktop=packaging/linux/embeddinggemma-rag.desktop
icon=packaging/icons/embeddinggemma-rag.png

# Staging copies are hard links where the file system allows: 250 MB need not be copied twice.
copy_tree() { cp -al "$1" "$2" 2> /dev/null || cp -a "$1" "$2"; }

make_tarball() {
    local name="embeddinggemma-rag-$version-linux-$(uname -m)"
    local stage=build/tar
    rm -rf "$stage" && mkdir -p "$stage"
    copy_tree "$app" "$stage/$name"
    install -m 644 "$desktop" "$icon" "$stage/$name/"
    install -m 755 packaging/linux/install-desktop-entry.sh "$stage/$name/"
    tar -C "$stage" -czf "dist/$name.tar.gz" "$name"
    echo "dist/$name.tar.gz"
}

make_deb() {
    local root=build/deb/root
    rm -rf build/deb && mkdir -p "$root/DEBIAN" "$root/opt" "$root/usr/bin" \
        "$root/usr/share/applications" "$root/usr/share/icons/hicolor/256x256/apps"
    copy_tree "$app" "$root/opt/embeddinggemma-rag"
    # Relative, so the link also works inside a scratch root (dpkg --root, CI below).
    ln -s ../../opt/embeddinggemma-rag/embeddinggemma-rag "$root/usr/bin/embeddinggemma-rag"
    install -m 644 "$desktop" "$root/usr/share/applications/"
    install -m 644 "$icon" "$root/usr/share/icons/hicolor/256x256/apps/"
    chmod -R u+rwX,go+rX,go-w "$root"
    local size maintainer glibc
    size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
    maintainer=$(git log -1 --format='%an <%ae>' 2> /dev/null || echo "EmbeddingGemma RAG maintainers")
    # The oldest C library the bundle runs on: the newest GLIBC_ symbol version it asks for.
    glibc=$(find "$app" -type f \( -name '*.so*' -o -name embeddinggemma-rag \) -print0 |
        xargs -0 objdump -T 2> /dev/null | grep -o 'GLIBC_[0-9][0-9.]*' | sort -uV | tail -1 | cut -d_ -f2)
    sed -e "s|@VERSION@|$version|" -e "s|@ARCH@|$arch|" -e "s|@INSTALLED_SIZE@|$size|" \
        -e "s|@MAINTAINER@|$maintainer|" -e "s|@GLIBC@|$glibc|" \
        packaging/linux/control.in > "$root/DEBIAN/control"
    # No maintainer scripts: dpkg triggers of desktop-file-utils and hicolor-icon-theme
    # refresh the menu and icon caches. xz at level 6 on all cores (dpkg-deb threads it).
    local deb="dist/embeddinggemma-rag_${version}_${arch}.deb"
    dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" > /dev/null
    echo "$deb"
}

# Installs the .deb into a scratch root and runs the installed app through /usr/bin.
test_deb() {
    local deb=$1 scratch
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' RETURN
    if [[ $(id -u) -eq 0 ]]; then
        mkdir -p "$scratch/var/lib/dpkg/info" "$scratch/var/lib/dpkg/updates"
        touch "$scratch/var/lib/dpkg/status"
        echo "installing $deb with dpkg --root $scratch"
        # The scratch database knows no libc6 or libxcb: the host satisfies Depends.
        dpkg --root="$scratch" --force-depends --install "$deb"
    else
        echo "not root: unpacking $deb with dpkg-deb -x instead of installing it"
        dpkg-deb -x "$deb" "$scratch"
    fi
    test -f "$scratch/usr/share/applications/embeddinggemma-rag.desktop"
    test -f "$scratch/usr/share/icons/hicolor/256x256/apps/embeddinggemma-rag.png"
    python3 packaging/smoke_test.py "$scratch/usr/bin/embeddinggemma-rag"
    if [[ $(id -u) -eq 0 ]]; then
        dpkg --root="$scratch" --remove embeddinggemma-rag
        if [[ -e "$scratch/opt/embeddinggemma-rag" ]]; then
            echo "dpkg --remove left files behind:" >&2
            find "$scratch/opt/embeddinggemma-rag" | head >&2
            return 1
        fi
    fi
}

# What --with-models produces (the models as _internal/models), made from a hard-linked
# copy instead of a second PyInstaller run: checks that the runtime hook finds them.
test_bundled_models() {
    local copy=build/with-models/embeddinggemma-rag
    rm -rf build/with-models && mkdir -p build/with-models
    copy_tree "$app" "$copy"
    mkdir -p "$copy/_internal/models"
    cp -r tests/data/models/tiny-embeddinggemma "$copy/_internal/models/embeddinggemma-300m-q4"
    cp tests/data/models/tiny-chat.gguf "$copy/_internal/models/gemma-3-1b-it-Q4_K_M.gguf"
    python3 packaging/smoke_test.py --bundled "$copy/embeddinggemma-rag"
    rm -rf build/with-models
}

tarball=$(make_tarball)
deb=$(make_deb)
echo "app folder: $app ($(du -sh --exclude=models "$app" | cut -f1))"
echo "tarball:    $tarball ($(du -h "$tarball" | cut -f1))"
echo "deb:        $deb ($(du -h "$deb" | cut -f1))"

if ((ci)); then
    python3 packaging/smoke_test.py "$app/embeddinggemma-rag"
    python3 packaging/smoke_test.py --gui "$app/embeddinggemma-rag"
    # and on an X server with Qt's xcb platform, as on a desktop (.ci/run installs Xvfb)
    if command -v xvfb-run > /dev/null; then
        xvfb-run -a -s "-screen 0 1280x720x24" \
            python3 packaging/smoke_test.py --gui --platform xcb "$app/embeddinggemma-rag"
    fi
    test_bundled_models
    test_deb "$deb"
fi
echo "build_linux.sh took $((SECONDS - started)) s"
