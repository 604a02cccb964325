#!/bin/sh
# deps.sh: install the Debian 12 packages `make bench-compare` needs when they
# are missing (as scripts/deps.sh does for the build): etcd 3.4 and MooseFS.
# Never called by `make` or `make test`.
set -eu

need=""
command -v etcd >/dev/null 2>&1 || need="$need etcd-server"
command -v etcdctl >/dev/null 2>&1 || need="$need etcd-client"
command -v mfsmaster >/dev/null 2>&1 || need="$need moosefs-master"
command -v mfschunkserver >/dev/null 2>&1 || need="$need moosefs-chunkserver"
command -v mfsmount >/dev/null 2>&1 || need="$need moosefs-client"
command -v mfsmetalogger >/dev/null 2>&1 || need="$need moosefs-metalogger"
command -v fusermount3 >/dev/null 2>&1 || need="$need fuse3"
[ -e /var/lib/mfs/metadata.mfs.empty ] || need="$need moosefs-master"

if [ -z "$need" ]; then
    exit 0
fi
echo "bench-compare: installing missing packages:$need"
if [ "$(id -u)" != 0 ]; then
    echo "bench-compare: not root; please run: apt-get install$need" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $need
