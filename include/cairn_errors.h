/*
 * cairn_errors.h: the one error enum of cairn, shared by the public API and
 * every internal module.
 *
 * Every function that can fail returns 0 (CAIRN_OK) or a negative code from
 * this table. Codes that have a POSIX meaning are equal to -errno, so a caller
 * that speaks errno can use them directly; codes that are cairn's own live
 * below -1000 and map to the nearest errno through cairn_err_to_errno().
 *
 * The table is an X-macro (as libuv's UV_ERRNO_MAP): X(name, code, errno,
 * message). Add a row here and the enum, the names and the messages follow.
 * Thread safety: all functions are pure and may be called from any thread.
 */
#ifndef CAIRN_ERRORS_H
#define CAIRN_ERRORS_H

#include <errno.h>

#define CAIRN_ERRNO_MAP(X)                                             \
    X(EPERM, -EPERM, EPERM, "operation not permitted")                 \
    X(ENOENT, -ENOENT, ENOENT, "no such file or directory")            \
    X(EIO, -EIO, EIO, "input/output error")                            \
    X(EBADF, -EBADF, EBADF, "bad file descriptor")                     \
    X(EAGAIN, -EAGAIN, EAGAIN, "resource temporarily unavailable")     \
    X(ENOMEM, -ENOMEM, ENOMEM, "out of memory")                        \
    X(EACCES, -EACCES, EACCES, "permission denied")                    \
    X(EBUSY, -EBUSY, EBUSY, "resource busy")                           \
    X(EEXIST, -EEXIST, EEXIST, "file exists")                          \
    X(EXDEV, -EXDEV, EXDEV, "cross-device link")                       \
    X(ENOTDIR, -ENOTDIR, ENOTDIR, "not a directory")                   \
    X(EISDIR, -EISDIR, EISDIR, "is a directory")                       \
    X(EINVAL, -EINVAL, EINVAL, "invalid argument")                     \
    X(EMFILE, -EMFILE, EMFILE, "too many open files")                  \
    X(EFBIG, -EFBIG, EFBIG, "file too large")                          \
    X(ENOSPC, -ENOSPC, ENOSPC, "no space left on device")              \
    X(EROFS, -EROFS, EROFS, "read-only file system")                   \
    X(EMLINK, -EMLINK, EMLINK, "too many links")                       \
    X(ERANGE, -ERANGE, ERANGE, "result too large")                     \
    X(ENAMETOOLONG, -ENAMETOOLONG, ENAMETOOLONG, "file name too long") \
    X(ENOSYS, -ENOSYS, ENOSYS, "function not implemented")             \
    X(ENOTEMPTY, -ENOTEMPTY, ENOTEMPTY, "directory not empty")         \
    X(ELOOP, -ELOOP, ELOOP, "too many levels of symbolic links")       \
    X(ENODATA, -ENODATA, ENODATA, "no data available")                 \
    X(EPROTO, -EPROTO, EPROTO, "protocol error")                       \
    X(EMSGSIZE, -EMSGSIZE, EMSGSIZE, "message too long")               \
    X(ENOTSUP, -ENOTSUP, ENOTSUP, "operation not supported")           \
    X(EADDRINUSE, -EADDRINUSE, EADDRINUSE, "address already in use")   \
    X(ECONNRESET, -ECONNRESET, ECONNRESET, "connection reset by peer") \
    X(ECONNREFUSED, -ECONNREFUSED, ECONNREFUSED, "connection refused") \
    X(ETIMEDOUT, -ETIMEDOUT, ETIMEDOUT, "timed out")                   \
    X(ECANCELED, -ECANCELED, ECANCELED, "operation canceled")          \
    X(ESTALE, -ESTALE, ESTALE, "stale handle")                         \
    X(EDQUOT, -EDQUOT, EDQUOT, "quota exceeded")                       \
    X(CORRUPT, -1001, EIO, "data corrupt: checksum mismatch")          \
    X(BADMAGIC, -1002, EPROTO, "bad frame magic")                      \
    X(BADVERSION, -1003, EPROTO, "unsupported protocol version")       \
    X(BADCRC, -1004, EPROTO, "frame checksum mismatch")                \
    X(TOOBIG, -1005, EMSGSIZE, "frame larger than the limit")          \
    X(TRUNCATED, -1006, EPROTO, "message truncated")                   \
    X(BADMSG, -1007, EPROTO, "malformed message")                      \
    X(UNKNOWNTYPE, -1008, EPROTO, "unknown message type")              \
    X(AUTH, -1009, EACCES, "authentication failed")                    \
    X(NOTLEADER, -1010, EAGAIN, "not the leader")                      \
    X(CONFLICT, -1011, ESTALE, "version conflict")                     \
    X(FENCED, -1012, ESTALE, "stale fencing token")                    \
    X(CLOSED, -1013, ECONNRESET, "connection closed")                  \
    X(SESSION, -1014, ESTALE, "session expired or unknown")            \
    X(WRONGCLUSTER, -1015, EINVAL, "data belongs to another cluster")  \
    X(LIMIT, -1016, EAGAIN, "limit reached")                           \
    X(STALEVERSION, -1017, ESTALE, "stale chunk version")              \
    X(NOQUORUM, -1018, EAGAIN, "no quorum")                            \
    X(UNAVAILABLE, -1019, EAGAIN, "service unavailable")               \
    X(SHUTDOWN, -1020, ECANCELED, "shutting down")

enum cairn_err {
    CAIRN_OK = 0,
#define CAIRN_ERR_ENUM_(name, code, errno_, msg) CAIRN_##name = (code),
    CAIRN_ERRNO_MAP(CAIRN_ERR_ENUM_)
#undef CAIRN_ERR_ENUM_
};

/* "ENOENT", "CORRUPT", ... or "UNKNOWN" for a value not in the table. */
const char *cairn_err_name(int err);
/* Human message, e.g. "no such file or directory"; "success" for 0. */
const char *cairn_strerror(int err);
/* Positive errno for a negative cairn code (EIO for unknown ones), 0 for 0. */
int cairn_err_to_errno(int err);
/* The cairn code of a positive errno value (CAIRN_EIO if not in the table). */
int cairn_err_from_errno(int errno_value);

#endif
