#include "agent/sd_notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Fill `addr` from NOTIFY_SOCKET's value; *ret_len is the address length to pass to sendto.
 * An abstract name ('@' first) starts with a NUL byte and is not NUL-terminated: its length
 * is part of the name, so the length must not include any padding. */
static int notify_address(const char *name, struct sockaddr_un *addr, socklen_t *ret_len)
{
    size_t len = strlen(name);
    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    if (name[0] == '@') {
        if (len > sizeof(addr->sun_path))
            return -EINVAL;
        memcpy(addr->sun_path + 1, name + 1, len - 1);
        *ret_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
        return 0;
    }
    if (name[0] != '/')
        return -EAFNOSUPPORT;
    if (len >= sizeof(addr->sun_path))
        return -EINVAL;
    memcpy(addr->sun_path, name, len + 1);
    *ret_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
    return 0;
}

int sd_notify_send(const char *state)
{
    if (!state || !state[0])
        return -EINVAL;
    const char *name = getenv("NOTIFY_SOCKET");
    if (!name || !name[0])
        return 0;

    struct sockaddr_un addr;
    socklen_t addr_len = 0;
    int r = notify_address(name, &addr, &addr_len);
    if (r != 0)
        return r;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    size_t len = strlen(state);
    ssize_t sent;
    do {
        sent = sendto(fd, state, len, MSG_NOSIGNAL, (const struct sockaddr *)&addr, addr_len);
    } while (sent < 0 && errno == EINTR);
    r = sent < 0 ? -errno : (size_t)sent == len ? 0 : -EMSGSIZE;
    close(fd);
    return r;
}
