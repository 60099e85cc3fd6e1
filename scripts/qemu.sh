#!/usr/bin/env bash
# Prints the path of a qemu-x86_64 of version 8 or later, for tests/test_cross_cpu.py and
# repro/cross_cpu.py (training under emulated AMD and Intel CPUs).
#
# The one on PATH if it is new enough; else Debian 13's statically linked build, fetched
# once with apt into ${XDG_CACHE_HOME:-~/.cache}/har/qemu. apt runs with its own source
# list and package lists in a temporary folder: the system's apt setup is not touched, and
# apt checks the download against Debian's signed index as usual. Needs apt-get and
# dpkg-deb (Debian, Ubuntu), no root. Debian 12's QEMU 7.2 crashes in oneDNN's LSTM kernels.
set -euo pipefail

new_enough() {  # QEMU 8.0 or later
    local version
    version="$("$1" --version 2>/dev/null | sed -n 's/.*version \([0-9][0-9]*\)\..*/\1/p' | head -1)"
    [ -n "$version" ] && [ "$version" -ge 8 ]
}

if found="$(command -v qemu-x86_64)" && new_enough "$found"; then
    echo "$found"
    exit 0
fi

cache="${XDG_CACHE_HOME:-$HOME/.cache}/har/qemu"
qemu="$cache/usr/bin/qemu-x86_64"
if [ -x "$qemu" ] && new_enough "$qemu"; then
    echo "$qemu"
    exit 0
fi

for tool in apt-get dpkg-deb; do
    command -v "$tool" >/dev/null || { echo "scripts/qemu.sh: no $tool here: install QEMU 8 or later (qemu-user) yourself" >&2; exit 1; }
done
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
echo "deb http://deb.debian.org/debian trixie main" > "$work/sources.list"
apt_options=(-o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
             -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache"
             -o "Debug::NoLocking=1" -o "APT::Sandbox::User=$(id -un)")
apt-get "${apt_options[@]}" update -q >&2
(cd "$work" && apt-get "${apt_options[@]}" download qemu-user >&2)
mkdir -p "$cache"
dpkg-deb -x "$work"/qemu-user_*.deb "$work/unpacked"
mkdir -p "$cache/usr/bin"
mv "$work/unpacked/usr/bin/qemu-x86_64" "$qemu.partial"   # the one emulator we need, of ~30
mv "$qemu.partial" "$qemu"
new_enough "$qemu" || { echo "scripts/qemu.sh: $qemu is older than QEMU 8" >&2; exit 1; }
echo "$qemu"
