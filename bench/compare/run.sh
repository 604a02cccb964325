#!/bin/bash
# run.sh: cairn against etcd and MooseFS, measured in one run on this machine
# (docs/compare.md). Called by `make bench-compare`; needs root (MooseFS and
# the FUSE mounts) and the Debian packages etcd-server etcd-client
# moosefs-{master,chunkserver,client,metalogger} (the make target installs them).
#
#   bench/compare/run.sh [all|etcd|fs] [SECONDS]
#
# etcd: a 3-member etcd cluster on 127.0.0.1 (fsync on, as by default) and
#       build/bench/bench_etcd (puts, lock pairs) against it; on the cairn side
#       build/bench/bench_meta_cluster (creates) and build/bench/bench_locks.
# fs:   mfsmaster + 3 mfschunkservers + mfsmount, and `cairn cluster up` +
#       `cairn mount`, with build/bench/bench_fsmeta on each mount.
# Every daemon started here is stopped by its pid, every mount unmounted, and
# the temp dir removed, also on failure (trap). Tables go to stdout and to
# $OUT (default build/compare/<date>.md).
set -u

B=${BUILD:-build}
WHAT=${1:-all}
SECS=${2:-5}
ROOT=$(mktemp -d "${TMPDIR:-/tmp}/cairn-compare-XXXXXX")
OUT=${OUT:-build/compare/$(date -u +%Y%m%d-%H%M%S).md}
mkdir -p "$(dirname "$OUT")"
PIDS=()
MOUNTS=()
CAIRN_DIR=""

cleanup() {
    for m in "${MOUNTS[@]}"; do
        fusermount3 -u "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
    done
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null
    done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null
    done
    [ -n "$CAIRN_DIR" ] && "$B/cairn" cluster down --dir "$CAIRN_DIR" >/dev/null 2>&1
    rm -rf "$ROOT"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { echo "$@" | tee -a "$OUT"; }
log() { echo "compare: $*" >&2; }

# --- etcd ---------------------------------------------------------------

ETCD_EPS=""
etcd_up() {
    local cluster="" i
    for i in 1 2 3; do
        cluster="${cluster:+$cluster,}e$i=http://127.0.0.1:$((23800 + i))"
    done
    for i in 1 2 3; do
        mkdir -p "$ROOT/etcd$i"
        etcd --name "e$i" --data-dir "$ROOT/etcd$i/data" \
            --listen-client-urls "http://127.0.0.1:$((23790 + i))" \
            --advertise-client-urls "http://127.0.0.1:$((23790 + i))" \
            --listen-peer-urls "http://127.0.0.1:$((23800 + i))" \
            --initial-advertise-peer-urls "http://127.0.0.1:$((23800 + i))" \
            --initial-cluster "$cluster" --initial-cluster-state new \
            --initial-cluster-token "cairn-compare" >"$ROOT/etcd$i/log" 2>&1 &
        PIDS+=($!)
        ETCD_EPS="${ETCD_EPS:+$ETCD_EPS,}127.0.0.1:$((23790 + i))"
    done
    for _ in $(seq 100); do
        ETCDCTL_API=3 etcdctl --endpoints "$ETCD_EPS" endpoint health >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    log "etcd did not become healthy; logs in $ROOT/etcd*/log"
    tail -5 "$ROOT"/etcd*/log >&2
    return 1
}

# A markdown column from a row of the bench tables: rowval FILE PATTERN COL
rowval() { grep -E "$2" "$1" | head -1 | awk -F'|' -v c="$3" '{gsub(/ /, "", $c); print $c}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

run_etcd() {
    log "etcd: starting 3 members"
    etcd_up || return 1
    log "etcd: bench_etcd ($SECS s per row)"
    "$B/bench/bench_etcd" --endpoints "$ETCD_EPS" --seconds "$SECS" >"$ROOT/etcd.txt" || return 1
    cat "$ROOT/etcd.txt" >&2
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do while kill -0 "$p" 2>/dev/null; do sleep 0.1; done; done
    PIDS=()
    log "cairn: bench_meta_cluster ($SECS s per row; --files 1: no memory run)"
    "$B/bench/bench_meta_cluster" --seconds "$SECS" --files 1 >"$ROOT/meta.txt" 2>"$ROOT/meta.err" ||
        { tail "$ROOT/meta.err" >&2; return 1; }
    cat "$ROOT/meta.txt" >&2
    log "cairn: bench_locks ($SECS s per row)"
    "$B/bench/bench_locks" --seconds "$SECS" >"$ROOT/locks.txt" || return 1
    cat "$ROOT/locks.txt" >&2
    local creates
    creates=$(grep -E '^\| creates/s' "$ROOT/meta.txt")
    say ""
    say "| workload | clients | cairn ops/s | etcd ops/s | cairn / etcd |"
    say "|---|---|---|---|---|"
    local i n c e
    i=3
    for n in 1 16 64; do
        c=$(echo "$creates" | awk -F'|' -v c="$i" '{gsub(/ /, "", $c); print $c}')
        e=$(rowval "$ROOT/etcd.txt" "^\| put +\| +$n \|" 4)
        say "| durable write (cairn create / etcd put) | $n | $c | $e | $(ratio "$c" "$e") |"
        i=$((i + 1))
    done
    for kind in distinct contended; do
        for n in 1 16 64; do
            c=$(rowval "$ROOT/locks.txt" "^\| $kind +\| +$n \|" 4)
            e=$(rowval "$ROOT/etcd.txt" "^\| $kind +\| +$n \|" 4)
            say "| lock+unlock, $kind | $n | $c | $e | $(ratio "$c" "$e") |"
        done
    done
}

# --- MooseFS and the cairn mount ----------------------------------------

MFS_PORT=19419 # master: +0 metaloggers, +1 chunk servers, +2 clients; chunk servers +3..
wait_mount() { # wait_mount DIR PID: until DIR is a FUSE mount, or PID died
    for _ in $(seq 300); do
        grep -qs " $1 fuse" /proc/mounts && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

mfs_up() {
    local m="$ROOT/mfs" i ip
    # mfschunkserver refuses a master on 127.0.0.1 ("use ip address of network
    # controller"): the master's chunk-server port and the chunk servers use
    # this host's first global address (traffic to it still stays in the host).
    ip=$(ip -4 -o addr show scope global 2>/dev/null | awk '{sub(/\/.*/, "", $4); print $4; exit}')
    [ -n "$ip" ] || { log "MooseFS: no global IPv4 address: chunk servers cannot register"; ip=127.0.0.1; }
    mkdir -p "$m/master" "$m/mnt"
    cp /var/lib/mfs/metadata.mfs.empty "$m/master/metadata.mfs"
    echo "* / rw,alldirs,maproot=0" >"$m/exports.cfg"
    : >"$m/topology.cfg"
    cat >"$m/master.cfg" <<EOF
WORKING_USER = root
WORKING_GROUP = root
DATA_PATH = $m/master
EXPORTS_FILENAME = $m/exports.cfg
TOPOLOGY_FILENAME = $m/topology.cfg
MATOML_LISTEN_HOST = 127.0.0.1
MATOML_LISTEN_PORT = $MFS_PORT
MATOCS_LISTEN_HOST = $ip
MATOCS_LISTEN_PORT = $((MFS_PORT + 1))
MATOCL_LISTEN_HOST = 127.0.0.1
MATOCL_LISTEN_PORT = $((MFS_PORT + 2))
EOF
    mfsmaster -c "$m/master.cfg" -f start >"$m/master.log" 2>&1 &
    PIDS+=($!)
    for i in 1 2 3; do
        mkdir -p "$m/cs$i/data" "$m/cs$i/hdd"
        echo "$m/cs$i/hdd" >"$m/cs$i/hdd.cfg"
        cat >"$m/cs$i/cs.cfg" <<EOF
WORKING_USER = root
WORKING_GROUP = root
DATA_PATH = $m/cs$i/data
HDD_CONF_FILENAME = $m/cs$i/hdd.cfg
HDD_LEAVE_SPACE_DEFAULT = 64MiB
MASTER_HOST = $ip
MASTER_PORT = $((MFS_PORT + 1))
CSSERV_LISTEN_HOST = $ip
CSSERV_LISTEN_PORT = $((MFS_PORT + 2 + i))
EOF
        mfschunkserver -c "$m/cs$i/cs.cfg" -f start >"$m/cs$i/log" 2>&1 &
        PIDS+=($!)
    done
    sleep 2
    for i in 1 2 3; do
        kill -0 "${PIDS[$((${#PIDS[@]} - i))]}" 2>/dev/null || {
            log "MooseFS: a chunk server exited:"
            tail -3 "$m"/cs*/log >&2
            return 1
        }
    done
    # The same kernel caching as the cairn mount's defaults (attr 1 s, entry 1 s).
    mfsmount "$m/mnt" -f -H 127.0.0.1 -P $((MFS_PORT + 2)) \
        -o mfsattrcacheto=1,mfsentrycacheto=1,allow_other >"$m/mount.log" 2>&1 &
    PIDS+=($!)
    MOUNTS+=("$m/mnt")
    wait_mount "$m/mnt" $! || {
        log "mfsmount failed:"
        tail "$m"/*.log >&2
        return 1
    }
    MFS_MNT="$m/mnt"
}

cairn_mount_up() {
    CAIRN_DIR="$ROOT/cairn"
    mkdir -p "$ROOT/cmnt"
    "$B/cairn" --cluster "$ROOT/cluster.link" cluster up --dir "$CAIRN_DIR" --metas 3 \
        --chunks 3 >"$ROOT/cairn-up.log" 2>&1 || {
        log "cairn cluster up failed:"
        tail "$ROOT/cairn-up.log" >&2
        return 1
    }
    "$B/cairn" --cluster "$CAIRN_DIR/cluster.conf" mount -f --allow-other "$ROOT/cmnt" \
        >"$ROOT/cairn-mount.log" 2>&1 &
    PIDS+=($!)
    MOUNTS+=("$ROOT/cmnt")
    wait_mount "$ROOT/cmnt" $! || {
        log "cairn mount failed:"
        tail "$ROOT/cairn-mount.log" >&2
        return 1
    }
    CAIRN_MNT="$ROOT/cmnt"
}

run_fs() {
    log "MooseFS: master + 3 chunk servers + mfsmount"
    mfs_up || return 1
    log "cairn: cluster up (3 meta + 3 chunk) + cairn mount"
    cairn_mount_up || return 1
    local files=${FILES:-10000} p sys d
    : >"$ROOT/fs.txt"
    for p in 1 4; do
        for sys in cairn moosefs; do
            if [ $sys = cairn ]; then d="$CAIRN_MNT/b$p"; else d="$MFS_MNT/b$p"; fi
            mkdir "$d" || return 1
            log "$sys: bench_fsmeta, $p process(es), $files files"
            "$B/bench/bench_fsmeta" "$d" --procs $p --files "$files" --label $sys |
                tee -a "$ROOT/fs.txt" >&2
        done
    done
    say ""
    say "| operation | processes | cairn ops/s | MooseFS ops/s | cairn / MooseFS | errors (cairn, MooseFS) |"
    say "|---|---|---|---|---|---|"
    local op c e ec em
    for p in 1 4; do
        for op in create stat readdir unlink mkdir rmdir; do
            c=$(rowval "$ROOT/fs.txt" "^\| cairn \| $op \| $p \|" 5)
            e=$(rowval "$ROOT/fs.txt" "^\| moosefs \| $op \| $p \|" 5)
            ec=$(rowval "$ROOT/fs.txt" "^\| cairn \| $op \| $p \|" 7)
            em=$(rowval "$ROOT/fs.txt" "^\| moosefs \| $op \| $p \|" 7)
            say "| $op | $p | $c | $e | $(ratio "$c" "$e") | $ec, $em |"
        done
    done
    say "($files files in one directory; readdir: entries/s, each process lists the whole" \
        "directory; mkdir/rmdir: a 1,111-directory tree per process)"
}

say "# cairn vs etcd / MooseFS, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores," \
    "load $(cut -d' ' -f1-3 /proc/loadavg)"

case "$WHAT" in
etcd) run_etcd ;;
fs) run_fs ;;
all) run_etcd && run_fs ;;
*)
    echo "usage: $0 [all|etcd|fs] [SECONDS]" >&2
    exit 2
    ;;
esac
