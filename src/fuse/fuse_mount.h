/*
 * fuse_mount.h: `cairn mount`, the FUSE 3 low-level daemon that shows a
 * cairn cluster as a local directory (DESIGN.md §7, docs/fuse.md).
 *
 * The entry point parses the command's flags, connects to the cluster,
 * mounts, and serves requests until the file system is unmounted
 * (fusermount3 -u, umount, or SIGTERM / SIGINT / SIGHUP, which unmount it
 * cleanly). Unless -f is given it returns to the shell as a daemon once the
 * mount is up, so connection and mount errors are still printed on the
 * terminal.
 *
 * Threads and memory: everything is owned by the call; call it once per
 * process, from main. Errors: the return value is the process exit code
 * (0 after a clean unmount, 1 on an error, 2 on bad usage, 3 when the
 * cluster is unreachable), with a message on stderr.
 */
#ifndef CAIRN_FUSE_MOUNT_H
#define CAIRN_FUSE_MOUNT_H

/* argv: the arguments after "mount". cluster_file: the cairn-wide
 * --cluster given before the command, or NULL (then --cluster among the
 * arguments, $CAIRN_CLUSTER or ~/.cairn/cluster). */
int fuse_mount_main(int argc, char **argv, const char *cluster_file);

extern const char fuse_mount_usage[];

#endif
