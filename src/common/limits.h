/*
 * limits.h: every limit of cairn, in one place, each with the reason for its
 * value (in the manner of SQLite's sqliteLimit.h).
 *
 * A limit is enforced where input enters (decoders, RPC, API calls) and the
 * violation is an operating error (a negative cairn_err), never a crash.
 * Relations between limits are checked at compile time at the bottom.
 */
#ifndef CAIRN_COMMON_LIMITS_H
#define CAIRN_COMMON_LIMITS_H

#include <stdint.h>

/* --- files and names ---------------------------------------------------- */

/* POSIX NAME_MAX on Linux; FUSE and every local file system agree. */
#define CAIRN_NAME_MAX 255u
/* Longest path the CLI and library accept: Linux PATH_MAX. */
#define CAIRN_PATH_MAX 4096u
/* Deepest directory nesting a path may name: bounds resolution work per call
 * (each component is one lookup) well above any real tree. */
#define CAIRN_PATH_DEPTH_MAX 256u
/* Longest symlink target: PATH_MAX, as Linux. */
#define CAIRN_SYMLINK_MAX 4096u
/* Symlinks followed in one resolution before ELOOP: Linux's MAXSYMLINKS. */
#define CAIRN_SYMLINK_FOLLOW_MAX 40u
/* Hard links per inode: nlink is stored in 32 bits; Linux ext4 uses 65000. */
#define CAIRN_LINK_MAX 65000u
/* xattr name: Linux XATTR_NAME_MAX. */
#define CAIRN_XATTR_NAME_MAX 255u
/* xattr value: 64 KiB as Linux XATTR_SIZE_MAX; metadata stays small. */
#define CAIRN_XATTR_VALUE_MAX (64u * 1024u)
/* xattrs per inode: keeps one inode's metadata within one frame. */
#define CAIRN_XATTR_COUNT_MAX 128u

/* --- data ------------------------------------------------------------- */

/* Chunk size: large chunks keep the chunk map small (GFS, MooseFS use 64 MiB). */
#define CAIRN_CHUNK_SIZE (64u * 1024u * 1024u)
/* Checksum block: the unit of CRC32C verification on disk and of read I/O. */
#define CAIRN_BLOCK_SIZE (64u * 1024u)
/* Largest file: 2^16 chunks of 64 MiB = 4 TiB keeps chunk indexes in 16 bits
 * of headroom below 2^32 while being above any file this project targets. */
#define CAIRN_FILE_SIZE_MAX ((uint64_t)CAIRN_CHUNK_SIZE * 65536u)
/* Replication goal: 1..9 copies, as MooseFS goals. */
#define CAIRN_GOAL_MAX 9u
/* Staged (prepared, not yet committed or aborted) versions of one chunk on one chunk server:
 * normally one write is pending per chunk; a few more cover writes whose abort is still in the
 * metadata outbox. Bounds the files and index space one chunk can pin. */
#define CAIRN_CHUNK_STAGED_MAX 8u
/* Chunks whose newest fencing token a chunk server keeps (memory and its DATA/fences file,
 * 20 bytes a record, compacted): 256Ki chunks = 16 TiB written under locks per server, about
 * 10 MiB of map and 5 MiB of file at worst. Beyond it the oldest tokens are forgotten (the
 * metadata group checks tokens too). */
#define CAIRN_CHUNKD_FENCES_MAX (256u * 1024u)

/* --- wire and RPC ------------------------------------------------------ */

/* Largest frame payload: one 1 MiB data piece plus headers, or a batch of
 * Raft entries / a snapshot piece. Bounds the memory one connection can pin. */
#define CAIRN_FRAME_PAYLOAD_MAX (4u * 1024u * 1024u)
/* Requests in flight per client connection: back-pressure instead of an
 * unbounded queue; enough to pipeline a 64-client benchmark over one link. */
#define CAIRN_RPC_INFLIGHT_MAX 1024u
/* Connections one server accepts at once: bounds server memory at
 * CONN_MAX * FRAME_PAYLOAD_MAX in the worst case of all reading a frame. */
#define CAIRN_RPC_CONN_MAX 1024u
/* A connection that has started a frame must finish it within this time;
 * a slow or stalled client cannot pin a buffer forever. */
#define CAIRN_RPC_FRAME_TIMEOUT_MS 10000u
/* The authentication handshake must complete within this time. */
#define CAIRN_RPC_AUTH_TIMEOUT_MS 5000u
/* Bytes queued for writing on one connection before the server stops reading
 * from it (a client that does not read its replies is not served more). */
#define CAIRN_RPC_WRITE_QUEUE_MAX (16u * 1024u * 1024u)
/* Reconnect backoff bounds for clients. */
#define CAIRN_RPC_BACKOFF_MIN_MS 10u
#define CAIRN_RPC_BACKOFF_MAX_MS 2000u
/* Addresses a client may be given (metadata group members). */
#define CAIRN_RPC_ADDRS_MAX 16u
/* Cluster secret file: at least 16 bytes of secret, at most 4 KiB. */
#define CAIRN_SECRET_MIN 16u
#define CAIRN_SECRET_MAX 4096u

/* --- consensus -------------------------------------------------------- */

/* Voters + learners in one Raft group: metadata groups are 3..7 voters. */
#define CAIRN_RAFT_NODES_MAX 16u
/* Entries in one append message: batching with a bound per message. */
#define CAIRN_RAFT_APPEND_ENTRIES_MAX 1024u
/* Bytes of entries in one append message: stays below the frame limit. */
#define CAIRN_RAFT_APPEND_BYTES_MAX (1024u * 1024u)
/* Append messages in flight to one follower (pipelining window). */
#define CAIRN_RAFT_INFLIGHT_MAX 256u
/* Largest single proposal. */
#define CAIRN_RAFT_PROPOSAL_MAX (1024u * 1024u)
/* Pending ReadIndex requests on a leader. */
#define CAIRN_RAFT_READS_MAX 4096u

/* --- sessions and locks ----------------------------------------------- */

/* Client sessions the metadata group tracks at once. */
#define CAIRN_SESSIONS_MAX 65536u
/* Lock name length. */
#define CAIRN_LOCK_NAME_MAX 255u
/* Operations in one metadata transaction: one Raft entry, one frame. */
#define CAIRN_TXN_OPS_MAX 128u
/* Locks (named, flock and byte-range objects) that exist at once: each costs
 * a small record on every replica; far above what clients of one cluster
 * hold (a lock object goes away when nobody holds or waits for it). */
#define CAIRN_LOCKS_MAX 65536u
/* Held ranges and waiters over all locks: bounds lock memory (~64 B each)
 * at ~16 MiB. A waiter promoted into a byte-range split may pass it by one. */
#define CAIRN_LOCK_ENTRIES_MAX 262144u
/* Held ranges plus waiters on one lock: promotion compares each waiter with
 * the holders and the waiters ahead of it (quadratic), so one hot lock
 * stays cheap to apply. */
#define CAIRN_LOCK_QUEUE_MAX 1024u
/* Lock-delay after a holder's session expires: no longer than the longest
 * session lease, beyond which a delay protects nothing a lease would not. */
#define CAIRN_LOCK_DELAY_MAX_MS 600000u
/* Locks described in one LOCK_LIST reply, and the reply's byte budget (a
 * lock with many holders and waiters is ~100 KiB): well inside a frame. */
#define CAIRN_LOCK_LIST_MAX 256u
#define CAIRN_LOCK_LIST_BYTES_MAX (1024u * 1024u)

/* --- metadata state machine (src/meta) ---------------------------------- */

/* Supplementary groups carried with each request's credentials: Linux FUSE
 * and NFS AUTH_SYS (16) callers rarely have more; bounds every command. */
#define CAIRN_GROUPS_MAX 32u
/* Inode numbers stay below 2^48 so (inode, chunk index < 2^16) packs into one
 * u64 key; at a million creates per second that lasts for 8 years. */
#define CAIRN_INO_MAX (1ull << 48)
/* Entries in one readdir reply: bounds the reply (about 270 KiB at most). */
#define CAIRN_READDIR_MAX 1024u
/* Chunk-map entries in one reply (64 GiB of file per call). */
#define CAIRN_CHUNKS_QUERY_MAX 1024u
/* Chunk servers in the node registry. */
#define CAIRN_NODES_MAX 4096u
/* A chunk server's address ("host:port") and rack/zone label. */
#define CAIRN_NODE_ADDR_MAX 255u
#define CAIRN_NODE_LABEL_MAX 64u
/* Chunk writes pending (allocated, not yet committed or aborted) at once. */
#define CAIRN_PENDING_WRITES_MAX 65536u
/* Outbox ids acknowledged by one command. */
#define CAIRN_OUTBOX_ACK_MAX 1024u
/* Session lease bounds: shorter would expire sessions on a GC pause, longer
 * keeps a dead client's locks and dedup state for too long. */
#define CAIRN_SESSION_LEASE_MIN_MS 1000u
#define CAIRN_SESSION_LEASE_MAX_MS 600000u
/* Open-file holds (INODE_HOLD) of one session, counting repeats: a FUSE
 * mount holds one per open handle, and the kernel's default open-file limit
 * per process is far below this. */
#define CAIRN_SESSION_HOLDS_MAX 65536u
/* Holds over all sessions: two small map entries each (~50 B) on every
 * replica, so at most ~50 MiB; sessions times the per-session limit would
 * allow 2^32. */
#define CAIRN_HOLDS_MAX (1u << 20)

/* --- durable Raft storage (src/raftio) --------------------------------- */

/* WAL segment size: a segment is sealed once the next record would pass it.
 * 64 MiB as etcd: rollover (two fsyncs) is rare, compaction frees space in
 * useful steps, and recovery holds one segment in memory at a time. */
#define CAIRN_WAL_SEGMENT_BYTES (64u * 1024u * 1024u)
/* Largest segment size a caller may configure, and the largest segment file
 * recovery reads: bounds recovery memory against a damaged file size. */
#define CAIRN_WAL_SEGMENT_BYTES_MAX (1024u * 1024u * 1024u)
/* Largest snapshot file loaded at start: the metadata state of tens of
 * millions of files at under 200 bytes each, with room to spare. */
#define CAIRN_SNAPSHOT_BYTES_MAX (16ull * 1024u * 1024u * 1024u)
/* Snapshots kept on disk: the newest, and one older to fall back on if the
 * newest is found corrupt (the log is kept back to the older one). */
#define CAIRN_SNAPSHOTS_KEPT 2u
/* Bytes of entries queued to the raftio writer thread: the loop thread gets
 * CAIRN_LIMIT (back-pressure) instead of queueing without bound. */
#define CAIRN_RAFTIO_QUEUE_BYTES_MAX (64u * 1024u * 1024u)

/* --- metadata daemon (src/metad) and its transport ------------------------ */

/* A metadata member's address "host:port": numeric IPv4 or bracketed IPv6
 * with a port is at most 47 bytes; fits an error message (NOTLEADER hint). */
#define CAIRN_MEMBER_ADDR_MAX 64u
/* Client requests waiting in one metadata server (proposed and not yet
 * applied, or waiting for a ReadIndex round): back-pressure with
 * CAIRN_LIMIT beyond it; 64 clients x CAIRN_RPC_INFLIGHT_MAX would be far
 * more than one Raft group applies in a second. */
#define CAIRN_METAD_PENDING_MAX 65536u
/* Longest leaderless gap a new leader takes out of the state machine's clock
 * (src/metad/locks.h): far longer than any election, so sessions survive
 * leader changes; a cluster down for longer lets wall time expire them. */
#define CAIRN_METAD_CLOCK_PAUSE_MAX_MS 60000u
/* Snapshot transfers one receiver assembles at once (one per sender). */
#define CAIRN_SNAP_RECV_MAX 4u

/* --- chunk servers (src/chunkd) and their protocol ------------------------ */

/* Data in one CHUNK_WRITE / CHUNK_READ: 1 MiB pieces keep a 64 MiB chunk
 * pipelined in 64 frames, and one piece per connection in flight well below
 * the frame limit. */
#define CAIRN_CHUNK_IO_MAX (1024u * 1024u)
/* Entries in one CHUNK_REPORT piece (21 bytes each, ~690 KiB): a full report
 * of a large server is sent in several pieces, each well inside a frame. */
#define CAIRN_CHUNK_REPORT_MAX 32768u
/* Commands in one CHUNK_HEARTBEAT_REPLY (<= ~290 bytes each with a source
 * address): a backlog drains over several heartbeats instead of one frame. */
#define CAIRN_CHUNK_CMDS_MAX 1024u
/* Bad versions reported in one heartbeat: more wait for the next one. */
#define CAIRN_CHUNK_BAD_MAX 1024u

/* Items of one CHUNK_REPLICA command (17 bytes each): the stale versions of
 * one report piece are judged in a few log entries, each far below a frame. */
#define CAIRN_REPLICA_ITEMS_MAX 4096u
/* Nodes in one NODES reply (<= ~340 bytes each with address and label). */
#define CAIRN_NODES_QUERY_MAX 1024u

/* --- metadata client (src/client/metaclient) ------------------------------ */

/* Sessions one metadata client holds (= its mutations in flight, since a
 * session carries one at a time): each costs a session entry and a cached
 * reply on every replica; a process wanting more concurrency shares them. */
#define CAIRN_METACLIENT_SESSIONS_MAX 1024u
/* Named locks one lock client (include/cairn_lock.h) holds at once: it keeps
 * their names to release them at close; a program needing more opens more
 * handles. */
#define CAIRN_LOCKCLIENT_HELD_MAX 64u
/* Operations one metadata client accepts at once (waiting for a session or
 * in flight): back-pressure with CAIRN_LIMIT instead of an unbounded queue. */
#define CAIRN_METACLIENT_OPS_MAX 65536u
/* Longest wait between two attempts when no leader is known (an election is
 * running): well below an election timeout (200-400 ms by default,
 * docs/metad.md) so failover is not slowed. */
#define CAIRN_METACLIENT_BACKOFF_MAX_MS 100u

/* --- data client (src/client/file.h) --------------------------------------- */

/* Chunk writes one file handle keeps open (allocated, not committed): the
 * one being written and the one before it, whose flush and commit overlap
 * the next chunk's stream. Each pins up to CAIRN_DATACLIENT_REPLAY_MAX. */
#define CAIRN_DATACLIENT_OPEN_WRITES_MAX 2u
/* Bytes of one chunk write kept by the client until it commits, so a write
 * whose every replica failed is redone on a new allocation without the
 * caller's buffers: one whole chunk (rewrites beyond it commit first). */
#define CAIRN_DATACLIENT_REPLAY_MAX ((size_t)CAIRN_CHUNK_SIZE)
/* Pieces in flight per chunk write (or per read): 64 MiB in 1 MiB pieces is
 * the most a chunk can use; beyond it only memory grows. */
#define CAIRN_DATACLIENT_WINDOW_MAX 64u
/* Allocations tried for one chunk write before the write fails. */
#define CAIRN_DATACLIENT_ATTEMPTS_MAX 32u
/* Bytes of CHUNK_WRITE one client keeps in flight to one head replica, over
 * all its chunk writes: the head forwards them down the chain through one
 * connection whose write queue holds CAIRN_RPC_WRITE_QUEUE_MAX; half of it
 * leaves room for other writers before a forward is refused. */
#define CAIRN_DATACLIENT_HEAD_BYTES_MAX ((size_t)CAIRN_RPC_WRITE_QUEUE_MAX / 2)

/* --- chunk write chain (src/chunkd/data.c) ------------------------------- */

/* Deadline of a forward down a write chain from the head of a chain of
 * CAIRN_GOAL_MAX replicas; each hop lower waits CAIRN_CHUNK_FORWARD_STEP_MS
 * less, so the server just above a stalled replica blames it and still
 * answers its own caller in time. The head's deadline must stay below the
 * data client's per-request timeout (DATACLIENT_IO_MS_DEFAULT, 10 s, in
 * src/client/file.h): otherwise the client times out on the head and
 * blames it (and every replica) instead of the stalled one. */
#define CAIRN_CHUNK_FORWARD_MS 8000u
#define CAIRN_CHUNK_FORWARD_STEP_MS 500u
/* The client's per-request timeout the chain must answer within (see above). */
#define CAIRN_CHUNK_CLIENT_IO_MS_MIN 10000u

_Static_assert(CAIRN_CHUNK_FORWARD_MS + CAIRN_CHUNK_FORWARD_STEP_MS <= CAIRN_CHUNK_CLIENT_IO_MS_MIN,
               "the head of a chain answers before the client gives up on it");
_Static_assert(CAIRN_CHUNK_FORWARD_MS > (CAIRN_GOAL_MAX - 1u) * CAIRN_CHUNK_FORWARD_STEP_MS + 2000u,
               "the last hop of the longest chain still waits over 2 s for a write");
_Static_assert(CAIRN_CHUNK_SIZE % CAIRN_BLOCK_SIZE == 0,
               "a chunk is a whole number of checksum blocks");
_Static_assert(CAIRN_RAFT_APPEND_BYTES_MAX < CAIRN_FRAME_PAYLOAD_MAX,
               "an append batch fits in one frame");
_Static_assert(CAIRN_RAFT_PROPOSAL_MAX < CAIRN_FRAME_PAYLOAD_MAX, "a proposal fits in one frame");
_Static_assert(CAIRN_XATTR_VALUE_MAX < CAIRN_FRAME_PAYLOAD_MAX, "an xattr value fits in one frame");
_Static_assert(CAIRN_RPC_BACKOFF_MIN_MS < CAIRN_RPC_BACKOFF_MAX_MS, "backoff range");
_Static_assert(CAIRN_FILE_SIZE_MAX / CAIRN_CHUNK_SIZE <= 65536u,
               "a chunk index fits in 16 bits beside a 48-bit inode number");
_Static_assert(CAIRN_RAFT_PROPOSAL_MAX + 64u < CAIRN_WAL_SEGMENT_BYTES,
               "one WAL record fits in a segment");
_Static_assert(CAIRN_WAL_SEGMENT_BYTES <= CAIRN_WAL_SEGMENT_BYTES_MAX, "segment size bounds");
_Static_assert(CAIRN_LOCK_LIST_BYTES_MAX < CAIRN_FRAME_PAYLOAD_MAX,
               "a lock list fits in one frame");
_Static_assert(CAIRN_LOCK_QUEUE_MAX <= CAIRN_LOCK_ENTRIES_MAX, "lock entry bounds");
_Static_assert(CAIRN_CHUNK_IO_MAX + 4096u < CAIRN_FRAME_PAYLOAD_MAX,
               "a chunk data piece and its header fit in one frame");

#endif
