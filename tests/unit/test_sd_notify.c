/* sd_notify: datagrams to a real AF_UNIX socket (a path and an abstract name), the exact
 * bytes and the sender's pid (systemd checks it), and every error the contract names. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/sd_notify.h"

struct receiver {
    int fd;
    char dir[64];
    char name[128]; /* the NOTIFY_SOCKET value */
};

/* A datagram socket that asks for the sender's credentials, as the service manager does. */
static int receiver_socket(void)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    int on = 1;
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)), 0);
    struct timeval tv = {.tv_sec = 5};
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    return fd;
}

static void receiver_open_path(struct receiver *r)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->dir, sizeof(r->dir), "/tmp/osprey-sdnotify-XXXXXX");
    assert_non_null(mkdtemp(r->dir));
    snprintf(r->name, sizeof(r->name), "%s/notify", r->dir);
    r->fd = receiver_socket();
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    assert_true(strlen(r->name) < sizeof(addr.sun_path));
    memcpy(addr.sun_path, r->name, strlen(r->name) + 1);
    assert_int_equal(bind(r->fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
}

static void receiver_open_abstract(struct receiver *r)
{
    memset(r, 0, sizeof(*r));
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(r->name, sizeof(r->name), "@osprey/test-sd-notify/%ld/%ld", (long)getpid(),
             (long)ts.tv_nsec);
    r->fd = receiver_socket();
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    size_t len = strlen(r->name);
    memcpy(addr.sun_path + 1, r->name + 1, len - 1); /* sun_path[0] stays NUL */
    socklen_t addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    assert_int_equal(bind(r->fd, (struct sockaddr *)&addr, addr_len), 0);
}

static void receiver_close(struct receiver *r)
{
    close(r->fd);
    if (r->dir[0]) {
        unlink(r->name);
        rmdir(r->dir);
    }
}

/* Receive one datagram; its bytes go to `buf` (NUL-terminated) and the sender's pid is
 * returned. A truncated datagram fails the test. */
static pid_t receive(struct receiver *r, char *buf, size_t cap)
{
    union {
        char bytes[CMSG_SPACE(sizeof(struct ucred))];
        struct cmsghdr align;
    } control;
    struct iovec iov = {.iov_base = buf, .iov_len = cap - 1};
    struct msghdr msg = {
        .msg_iov = &iov,
        .msg_iovlen = 1,
        .msg_control = control.bytes,
        .msg_controllen = sizeof(control.bytes),
    };
    ssize_t n = recvmsg(r->fd, &msg, 0);
    assert_true(n >= 0);
    assert_false(msg.msg_flags & MSG_TRUNC);
    buf[n] = '\0';
    pid_t pid = -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
            struct ucred cred;
            memcpy(&cred, CMSG_DATA(c), sizeof(cred));
            pid = cred.pid;
        }
    }
    return pid;
}

/* Nothing else may be waiting: one call sends exactly one datagram. */
static void assert_queue_empty(struct receiver *r)
{
    char byte;
    ssize_t n = recv(r->fd, &byte, 1, MSG_DONTWAIT);
    assert_int_equal(n, -1);
    assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
}

static void test_unset_is_not_an_error(void **state)
{
    (void)state;
    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(sd_notify_send("READY=1"), 0);
    setenv("NOTIFY_SOCKET", "", 1);
    assert_int_equal(sd_notify_send("READY=1"), 0);
    unsetenv("NOTIFY_SOCKET");
}

static void test_path_socket(void **state)
{
    (void)state;
    struct receiver r;
    receiver_open_path(&r);
    setenv("NOTIFY_SOCKET", r.name, 1);
    char buf[256];

    assert_int_equal(sd_notify_send("READY=1"), 0);
    assert_int_equal(receive(&r, buf, sizeof(buf)), getpid());
    assert_string_equal(buf, "READY=1");
    assert_queue_empty(&r);

    /* Several assignments travel in one datagram, byte for byte. */
    assert_int_equal(sd_notify_send("RELOADING=1\nSTATUS=re-reading /etc/osprey/osprey.json"), 0);
    assert_int_equal(receive(&r, buf, sizeof(buf)), getpid());
    assert_string_equal(buf, "RELOADING=1\nSTATUS=re-reading /etc/osprey/osprey.json");
    assert_queue_empty(&r);

    /* The variable stays set for later notifications. */
    assert_string_equal(getenv("NOTIFY_SOCKET"), r.name);
    assert_int_equal(sd_notify_send("STOPPING=1"), 0);
    assert_int_equal(receive(&r, buf, sizeof(buf)), getpid());
    assert_string_equal(buf, "STOPPING=1");

    unsetenv("NOTIFY_SOCKET");
    receiver_close(&r);
}

static void test_abstract_socket(void **state)
{
    (void)state;
    struct receiver r;
    receiver_open_abstract(&r);
    setenv("NOTIFY_SOCKET", r.name, 1);
    char buf[256];
    assert_int_equal(sd_notify_send("READY=1\nSTATUS=running"), 0);
    assert_int_equal(receive(&r, buf, sizeof(buf)), getpid());
    assert_string_equal(buf, "READY=1\nSTATUS=running");
    assert_queue_empty(&r);

    /* The abstract name's length is part of the name: a prefix of it is another socket. */
    char shorter[sizeof(r.name)];
    snprintf(shorter, sizeof(shorter), "%.*s", (int)strlen(r.name) - 1, r.name);
    setenv("NOTIFY_SOCKET", shorter, 1);
    assert_int_equal(sd_notify_send("READY=1"), -ECONNREFUSED);
    assert_queue_empty(&r);

    unsetenv("NOTIFY_SOCKET");
    receiver_close(&r);
}

static void test_errors(void **state)
{
    (void)state;
    struct receiver r;
    receiver_open_path(&r);
    setenv("NOTIFY_SOCKET", r.name, 1);
    assert_int_equal(sd_notify_send(""), -EINVAL);
    assert_int_equal(sd_notify_send(NULL), -EINVAL);
    assert_queue_empty(&r);

    /* A bound path nobody reads any more. */
    close(r.fd);
    r.fd = -1;
    assert_int_equal(sd_notify_send("READY=1"), -ECONNREFUSED);
    unlink(r.name);
    assert_int_equal(sd_notify_send("READY=1"), -ENOENT);
    rmdir(r.dir);

    setenv("NOTIFY_SOCKET", "vsock:2:1234", 1);
    assert_int_equal(sd_notify_send("READY=1"), -EAFNOSUPPORT);
    setenv("NOTIFY_SOCKET", "relative/notify", 1);
    assert_int_equal(sd_notify_send("READY=1"), -EAFNOSUPPORT);

    /* Longer than sun_path can hold: refused, not truncated to another name. */
    struct sockaddr_un probe;
    char long_name[sizeof(probe.sun_path) + 8];
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    long_name[0] = '/';
    setenv("NOTIFY_SOCKET", long_name, 1);
    assert_int_equal(sd_notify_send("READY=1"), -EINVAL);
    long_name[0] = '@';
    setenv("NOTIFY_SOCKET", long_name, 1); /* setenv copies: set it again after each change */
    assert_int_equal(sd_notify_send("READY=1"), -EINVAL);
    /* The longest path that fits (with its NUL) is accepted: it is just absent. */
    long_name[0] = '/';
    long_name[sizeof(probe.sun_path) - 1] = '\0';
    setenv("NOTIFY_SOCKET", long_name, 1);
    assert_int_equal(sd_notify_send("READY=1"), -ENOENT);
    unsetenv("NOTIFY_SOCKET");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unset_is_not_an_error),
        cmocka_unit_test(test_path_socket),
        cmocka_unit_test(test_abstract_socket),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
