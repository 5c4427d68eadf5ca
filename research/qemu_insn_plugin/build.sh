#!/usr/bin/env bash
# Build the instruction-counting QEMU plugin (insn_marker.c) against the qemu-plugin.h
# of the exact QEMU version of the installed qemu-user: the plugin ABI is only checked
# by a version number, so a header from another release could load and misbehave.
#
# Usage: research/qemu_insn_plugin/build.sh [OUT_DIR]   (default /var/cache/pi-vision/qemu-plugin)
# Prints the path of the built .so on its last line. Needs: qemu-user (Debian's dynamic
# build: the static one refuses -plugin), gcc, libglib2.0-dev, dpkg-dev and deb-src
# lines for the suite qemu-user came from (for `apt-get source`).
set -euo pipefail

die() { echo "build.sh: $*" >&2; exit 2; }

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT_DIR=${1:-/var/cache/pi-vision/qemu-plugin}
SRC_CACHE=${PI_VISION_QEMU_SRC:-/var/cache/pi-vision/qemu-src}

command -v qemu-aarch64 >/dev/null || die "qemu-aarch64 not found; apt-get install -y --no-install-recommends qemu-user"
qemu-aarch64 -h 2>/dev/null | grep -q -- '-plugin' \
    || die "$(command -v qemu-aarch64) does not accept -plugin; install Debian's dynamic qemu-user"
for tool in gcc pkg-config apt-get dpkg-source; do
    command -v "$tool" >/dev/null || die "$tool not found; apt-get install -y gcc pkg-config dpkg-dev"
done
pkg-config --exists glib-2.0 || die "glib headers not found; apt-get install -y libglib2.0-dev"

# The source version of the installed binary package ("+b3" binNMU suffixes dropped).
src_version=$(dpkg-query -W -f='${source:Version}' qemu-user 2>/dev/null) \
    || die "qemu-user is not installed as a Debian package; apt-get install -y qemu-user"
upstream=${src_version#*:}; upstream=${upstream%%-*}   # 1:7.2+dfsg-7+deb12u18 -> 7.2+dfsg
header_dir=$SRC_CACHE/$src_version/include
header=$header_dir/qemu/qemu-plugin.h

if [[ ! -f $header ]]; then
    work=$SRC_CACHE/$src_version.partial
    rm -rf "$work"; mkdir -p "$work"
    (cd "$work" && apt-get source --download-only -qq "qemu=$src_version" >/dev/null 2>&1) \
        || die "apt-get source qemu=$src_version failed; add deb-src lines (e.g. a file in /etc/apt/sources.list.d with 'Types: deb-src', the URIs/Suites/Components of your deb entry) and run apt-get update"
    orig=$(ls "$work"/qemu_"$upstream".orig.tar.*)
    debian=$(ls "$work"/qemu_"${src_version#*:}".debian.tar.*)
    mkdir -p "$work/x"
    tar -xf "$debian" -C "$work/x" debian/patches
    # Debian's patches (stable point releases) rarely touch the plugin header; when one
    # does, unpack the whole source with the patches applied instead of the one file.
    if grep -qs 'include/qemu/qemu-plugin.h' "$work"/x/debian/patches/*; then
        (cd "$work" && dpkg-source -x --no-check ./*.dsc src >/dev/null) || die "dpkg-source -x failed in $work"
        found=$work/src/include/qemu/qemu-plugin.h
    else
        nice -n 19 tar -xf "$orig" -C "$work/x" --wildcards '*/include/qemu/qemu-plugin.h'
        found=$(ls "$work"/x/*/include/qemu/qemu-plugin.h)
    fi
    mkdir -p "$header_dir/qemu"
    cp "$found" "$header"
    rm -rf "$work"
fi

mkdir -p "$OUT_DIR"
so=$OUT_DIR/libinsn_marker-${src_version//:/_}.so
if [[ ! -f $so || $so -ot $HERE/insn_marker.c ]]; then
    # shellcheck disable=SC2046  # pkg-config prints several flags
    nice -n 19 gcc -O2 -Wall -Wextra -Wno-unused-parameter -shared -fPIC -I"$header_dir/qemu" \
        $(pkg-config --cflags glib-2.0) "$HERE/insn_marker.c" -o "$so.tmp" $(pkg-config --libs glib-2.0)
    mv "$so.tmp" "$so"
fi
echo "$so"
