#!/usr/bin/env bash
# demo.sh: the tour of `make demo`. Starts a local cairn cluster (3 metadata
# servers, 3 chunk servers) in a temporary directory, copies a real directory
# tree in, shows it, kills a chunk server and shows every file still reads
# back byte-identical while the replication goal is restored, kills the
# metadata leader and shows a new leader serving, then stops the cluster.
#
# Every step checks its result; the script exits non-zero at the first one
# that fails. Whatever happens, the cluster's processes are stopped (trap),
# by pid from the cluster file. Bounded in time: every wait has a limit.
#
# usage: scripts/demo.sh [PATH-TO-cairn]      (default build/cairn)
set -u

CAIRN=${1:-build/cairn}
case $CAIRN in /*) ;; *) CAIRN=$PWD/$CAIRN ;; esac
[ -x "$CAIRN" ] || { echo "demo: no cairn binary at $CAIRN (run make first)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/cairn-demo.XXXXXX)
CLUSTER=$WORK/cluster
export CAIRN_CLUSTER=$CLUSTER/cluster.conf # nothing under ~/.cairn is touched
export CAIRN_TIMEOUT=20
STEP=0
STEPS=7
FAILED=0

if [ -t 1 ]; then B=$'\e[1m' G=$'\e[32m' R=$'\e[31m' N=$'\e[0m'; else B='' G='' R='' N=''; fi

step() { STEP=$((STEP + 1)); printf '\n%s==> Step %d/%d: %s%s\n' "$B" "$STEP" "$STEPS" "$*" "$N"; }
ok() { printf '%sok:%s %s\n' "$G" "$N" "$*"; }
fail() {
    printf '%sFAILED (step %d):%s %s\n' "$R" "$STEP" "$N" "$*" >&2
    FAILED=1
    exit 1
}
# Show a command as a user would type it, then run it.
run() {
    printf '%s$ cairn %s%s\n' "$B" "$*" "$N"
    "$CAIRN" "$@"
}
pid_of() { # KIND ID -> pid from the cluster file
    awk -v k="$1" -v i="$2" '$1 == "proc" && $3 == k && $4 == i { print $6 }' "$CAIRN_CLUSTER"
}
json_num() { # KEY < json -> number
    grep -o "\"$1\":[0-9]*" | head -n 1 | cut -d: -f2
}

cleanup() {
    local code=$?
    if [ -f "$CAIRN_CLUSTER" ]; then
        "$CAIRN" cluster down --dir "$CLUSTER" --timeout 5 >/dev/null 2>&1
        # belt and braces: anything the file names that still runs
        for p in $(awk '$1 == "proc" { print $6 }' "$CAIRN_CLUSTER"); do
            if grep -qs -- "$CLUSTER" "/proc/$p/cmdline" 2>/dev/null; then kill -9 "$p" 2>/dev/null; fi
        done
    fi
    if [ "$FAILED" = 1 ] || [ "$code" != 0 ]; then
        echo "demo: FAILED; logs of every daemon are kept in $CLUSTER/*.log" >&2
        exit 1
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

echo "${B}cairn demo${N}: a distributed file system on this machine, in $WORK"

# ----------------------------------------------------------------------------
step "start a local cluster: 3 metadata servers (Raft) and 3 chunk servers"
run cluster up --dir "$CLUSTER" --metas 3 --chunks 3 --timeout 60 || fail "cluster up"
run cluster status || fail "cluster status"
ok "a leader is elected and every chunk server has registered"

# ----------------------------------------------------------------------------
step "copy a real directory tree in"
SRC=/usr/include/linux
[ -d "$SRC" ] && [ "$(find "$SRC" -type f | wc -l)" -ge 100 ] || SRC=$(cd "$(dirname "$0")/.." && pwd)/src
# a frozen copy: the comparison later must not race with edits of the source
cp -a "$SRC" "$WORK/source" || fail "copy $SRC"
FILES=$(find "$WORK/source" -type f | wc -l)
BYTES=$(du -sb "$WORK/source" | cut -f1)
echo "source: $SRC ($FILES files, $BYTES bytes)"
run mkdir /demo || fail "mkdir"
run put -r "$WORK/source" /demo/tree || fail "put -r"
run ls /demo/tree | head -n 8
echo "..."
run ls -l /demo/tree | head -n 4
ENTRIES=$("$CAIRN" ls /demo/tree | wc -l)
[ "$ENTRIES" -ge 1 ] || fail "ls shows nothing"
ok "$FILES files copied in (each committed on its replicas before the next)"

# ----------------------------------------------------------------------------
step "cluster status: leader, terms, servers, capacity, replication"
run status || fail "status"
run df || fail "df"
STATUS=$("$CAIRN" status --json) || fail "status --json"
[ "$(echo "$STATUS" | json_num under_replicated)" = 0 ] || fail "chunks under-replicated"
ok "every chunk has its 2 copies"

# ----------------------------------------------------------------------------
step "kill a chunk server (SIGKILL) and read every file back"
VICTIM=$(pid_of chunk 1)
[ -n "$VICTIM" ] || fail "no chunk server 1 in the cluster file"
echo "kill -9 $VICTIM   (chunk server 1)"
kill -9 "$VICTIM" || fail "kill"
run get -r /demo/tree "$WORK/readback" || fail "get -r"
diff -r "$WORK/source" "$WORK/readback" >/dev/null || fail "files differ after the chunk server died"
ok "all $FILES files read back byte-identical (diff -r against the source)"

# ----------------------------------------------------------------------------
step "the cluster restores the replication goal by itself"
echo "(the leader marks the silent server down, then copies its chunks elsewhere)"
DONE=0
for i in $(seq 1 90); do
    STATUS=$("$CAIRN" status --json 2>/dev/null) || { sleep 1; continue; }
    UNDER=$(echo "$STATUS" | json_num under_replicated)
    MISSING=$(echo "$STATUS" | json_num missing)
    DOWN=$(echo "$STATUS" | grep -o '"state":"down"' | wc -l)
    printf '  after %2ds: chunk servers down %s, chunks under-replicated %s, missing %s\n' \
        "$i" "$DOWN" "${UNDER:-?}" "${MISSING:-?}"
    if [ "$DOWN" = 1 ] && [ "$UNDER" = 0 ] && [ "$MISSING" = 0 ]; then DONE=1; break; fi
    sleep 1
done
[ "$DONE" = 1 ] || fail "the goal was not restored within 90 s"
run fsck || fail "fsck reports problems"
ok "every chunk has 2 copies again, on the 2 live chunk servers"

# ----------------------------------------------------------------------------
step "kill the metadata leader (SIGKILL): a new leader serves"
LEADER=$("$CAIRN" status --json | grep -o '"leader":{"id":[0-9]*' | cut -d: -f3)
[ -n "$LEADER" ] || fail "no leader"
LPID=$(pid_of meta "$LEADER")
echo "kill -9 $LPID   (metadata server $LEADER, the leader)"
kill -9 "$LPID" || fail "kill"
run mkdir /demo/after-failover || fail "mkdir after the leader died"
echo "written after the failover" >"$WORK/note.txt"
run put "$WORK/note.txt" /demo/after-failover/note.txt || fail "put after the leader died"
[ "$("$CAIRN" cat /demo/after-failover/note.txt)" = "written after the failover" ] ||
    fail "cat after the failover"
NEW=$("$CAIRN" status --json | grep -o '"leader":{"id":[0-9]*' | cut -d: -f3)
[ -n "$NEW" ] && [ "$NEW" != "$LEADER" ] || fail "no new leader (was $LEADER, now ${NEW:-none})"
run status | head -n 9
ok "metadata server $NEW leads now; creates and reads go on"

# ----------------------------------------------------------------------------
step "stop the cluster"
run cluster down --dir "$CLUSTER" || fail "cluster down"
for p in $(awk '$1 == "proc" { print $6 }' "$CAIRN_CLUSTER"); do
    if grep -qs -- "$CLUSTER" "/proc/$p/cmdline" 2>/dev/null; then fail "process $p still runs"; fi
done
ok "every process of the cluster is gone"

printf '\n%sdemo passed%s: try it yourself with `build/cairn cluster up` and `build/cairn --help`.\n' "$G" "$N"
