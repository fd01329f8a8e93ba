/*
 * cordon-enter: the process tier's first program inside the sandbox. bwrap runs it once the
 * sandbox is built (namespaces, mounts, ids, its own seccomp filter), so that the watcher's
 * filter covers the command and nothing of bwrap's set-up (some 70 path calls that would
 * each pass by the host for nothing).
 *
 *     cordon-enter FILTER_FD SOCKET_FD PROGRAM [ARG...]
 *
 * Reads the watcher's BPF program (struct sock_filter[], from offset 0: the descriptor is
 * shared by concurrent calls) from FILTER_FD, installs it with a listener
 * (SECCOMP_FILTER_FLAG_NEW_LISTENER), sends the listener to the host over the Unix socket
 * SOCKET_FD (SCM_RIGHTS), closes every descriptor it was given (its own executable's too:
 * the command sees none of them) and executes PROGRAM with its arguments. Any failure ends
 * it with status 125 and a line on stderr: the command never runs unwatched.
 *
 * Built statically by build.rs (it runs inside a root that holds only /usr) and embedded in
 * cordon-native; the host hands it over as a sealed memfd, executed as /proc/self/fd/N.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/uio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define FAILED 125

/* One write(2), no stdio: after the filter is installed, a call it watches would wait on a
 * listener the host does not have yet. */
static void fail(const char *what) {
    const char *why = strerror(errno);
    struct iovec parts[] = {
        {.iov_base = "cordon-enter: ", .iov_len = 14},
        {.iov_base = (void *)what, .iov_len = strlen(what)},
        {.iov_base = ": ", .iov_len = 2},
        {.iov_base = (void *)why, .iov_len = strlen(why)},
        {.iov_base = "\n", .iov_len = 1},
    };
    writev(2, parts, 5);
    _exit(FAILED);
}

static int descriptor(const char *arg) {
    char *end;
    long fd = strtol(arg, &end, 10);
    if (*arg == '\0' || *end != '\0' || fd < 0 || fd > 1024) {
        errno = EINVAL;
        fail("a descriptor argument");
    }
    return (int)fd;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        errno = EINVAL;
        fail("usage: cordon-enter FILTER_FD SOCKET_FD PROGRAM [ARG...]");
    }
    int filter_fd = descriptor(argv[1]);
    int socket_fd = descriptor(argv[2]);

    /* One instruction more than the kernel takes: a longer filter is an error, not cut. */
    static struct sock_filter program[BPF_MAXINSNS + 1];
    ssize_t got = pread(filter_fd, program, sizeof program, 0);
    if (got <= 0 || got % sizeof program[0] != 0 || got > BPF_MAXINSNS * (ssize_t)sizeof program[0]) {
        if (got >= 0)
            errno = EINVAL;
        fail("reading the watcher's filter");
    }
    struct sock_fprog fprog = {
        .len = (unsigned short)(got / sizeof program[0]),
        .filter = program,
    };
    /* bwrap has set it already; a filter needs it without CAP_SYS_ADMIN. */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        fail("no_new_privs");
    long listener = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                            SECCOMP_FILTER_FLAG_NEW_LISTENER, &fprog);
    if (listener < 0)
        fail("installing the watcher's filter");

    char byte = 0;
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union {
        struct cmsghdr header;
        char bytes[CMSG_SPACE(sizeof(int))];
    } control;
    memset(&control, 0, sizeof control);
    struct msghdr msg = {
        .msg_iov = &iov,
        .msg_iovlen = 1,
        .msg_control = control.bytes,
        .msg_controllen = sizeof control.bytes,
    };
    struct cmsghdr *header = CMSG_FIRSTHDR(&msg);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int));
    int sent = (int)listener;
    memcpy(CMSG_DATA(header), &sent, sizeof sent);
    if (sendmsg(socket_fd, &msg, MSG_NOSIGNAL) != 1)
        fail("sending the listener to the host");

    /* What the command must not hold: the listener (it would answer its own calls), the
     * socket, the filter, and this program's own memfd (any other descriptor above
     * stderr that reached here). */
    if (close_range(3, ~0U, 0) != 0)
        for (int fd = 3; fd < 1024; fd++)
            close(fd);
    execv(argv[3], argv + 3);
    fail(argv[3]);
    return FAILED;
}
