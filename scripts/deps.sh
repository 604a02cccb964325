#!/bin/sh
# deps.sh: make sure the Debian packages cairn builds and tests with are
# installed; install the missing ones when running as root (Debian 12).
# Called by the Makefile before the first build and by .ci/run.
set -eu

need=""
pc() { pkg-config --exists "$1" 2>/dev/null; }
command -v pkg-config >/dev/null 2>&1 || need="$need pkg-config"
pc libuv || need="$need libuv1-dev"
pc fuse3 || need="$need libfuse3-dev"
pc libisal || need="$need libisal-dev"
pc openssl || need="$need libssl-dev"
command -v fusermount3 >/dev/null 2>&1 || need="$need fuse3"
command -v clang >/dev/null 2>&1 || need="$need clang"
command -v clang-format >/dev/null 2>&1 || need="$need clang-format"
[ -e /usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a ] ||
    ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 ||
    need="$need libclang-rt-14-dev"
command -v gcc >/dev/null 2>&1 || need="$need gcc"
command -v make >/dev/null 2>&1 || need="$need make"
command -v ip >/dev/null 2>&1 || need="$need iproute2"

if [ -z "$need" ]; then
    exit 0
fi
echo "deps: installing missing packages:$need"
if [ "$(id -u)" != 0 ]; then
    echo "deps: not root; please run: apt-get install$need" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $need
