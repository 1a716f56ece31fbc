#include "collectors/tail_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* pread exactly len bytes at off; -ENODATA when the file is shorter. */
static int pread_full(int fd, uint8_t *buf, size_t len, uint64_t off)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(fd, buf + got, len - got, (off_t)(off + got));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -ENODATA;
        got += (size_t)n;
    }
    return 0;
}

static int hash_range(int fd, uint64_t off, uint32_t len, uint64_t *ret)
{
    uint8_t buf[CHECKPOINT_FP_BYTES];
    if (len > sizeof(buf))
        return -EINVAL;
    int r = pread_full(fd, buf, len, off);
    if (r == 0)
        *ret = checkpoint_hash(buf, len);
    return r;
}

int tail_fp_head(int fd, uint64_t size, struct tail_fp *ret)
{
    uint32_t len = size < CHECKPOINT_FP_BYTES ? (uint32_t)size : CHECKPOINT_FP_BYTES;
    ret->len = len;
    return hash_range(fd, 0, len, &ret->hash);
}

int tail_fp_tail(int fd, uint64_t offset, struct tail_fp *ret)
{
    uint32_t len = offset < CHECKPOINT_FP_BYTES ? (uint32_t)offset : CHECKPOINT_FP_BYTES;
    ret->len = len;
    return hash_range(fd, offset - len, len, &ret->hash);
}

bool tail_fp_verify(int fd, uint64_t size, const struct checkpoint_entry *e)
{
    if (e->offset > size || e->head_len > size || e->tail_len > e->offset)
        return false;
    uint64_t h;
    if (hash_range(fd, 0, e->head_len, &h) != 0 || h != e->head_hash)
        return false;
    if (hash_range(fd, e->offset - e->tail_len, e->tail_len, &h) != 0 || h != e->tail_hash)
        return false;
    return true;
}

int tail_file_open(const char *path, struct tail_file **ret)
{
    struct tail_file *f = calloc(1, sizeof(*f));
    if (!f)
        return -ENOMEM;
    f->fd = -1;
    f->path = strdup(path);
    if (!f->path) {
        free(f);
        return -ENOMEM;
    }
    int r;
    f->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (f->fd < 0) {
        r = -errno;
        goto fail;
    }
    struct stat st;
    if (fstat(f->fd, &st) != 0) {
        r = -errno;
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        r = -EINVAL;
        goto fail;
    }
    f->dev = (uint64_t)st.st_dev;
    f->ino = (uint64_t)st.st_ino;
    f->size = (uint64_t)st.st_size;
    r = tail_fp_head(f->fd, f->size, &f->head);
    if (r == -ENODATA) /* shrank between fstat and pread: fingerprint what is there */
        r = tail_fp_head(f->fd, 0, &f->head);
    if (r != 0)
        goto fail;
    *ret = f;
    return 0;
fail:
    tail_file_close(f);
    return r;
}

void tail_file_close(struct tail_file *f)
{
    if (!f)
        return;
    if (f->fd >= 0)
        close(f->fd);
    if (f->buf)
        log_lines_release(&f->lines);
    log_event_builder_free(f->builder);
    free(f->buf);
    free(f->path);
    free(f->group);
    free(f->stream);
    free(f);
}

int tail_file_probe(struct tail_file *f, struct tail_probe *ret)
{
    memset(ret, 0, sizeof(*ret));
    struct stat st;
    if (fstat(f->fd, &st) != 0)
        return -errno;
    ret->size = (uint64_t)st.st_size;
    ret->unlinked = st.st_nlink == 0;
    struct stat pst;
    ret->path_moved = stat(f->path, &pst) != 0 || (uint64_t)pst.st_dev != f->dev ||
                      (uint64_t)pst.st_ino != f->ino;
    if (f->head.len > 0) {
        uint64_t h;
        int r = hash_range(f->fd, 0, f->head.len, &h);
        ret->head_changed = r == -ENODATA || (r == 0 && h != f->head.hash);
    }
    return 0;
}

int tail_file_grow_head(struct tail_file *f)
{
    if (f->head.len >= CHECKPOINT_FP_BYTES || f->size <= f->head.len)
        return 0;
    struct tail_fp fp;
    int r = tail_fp_head(f->fd, f->size, &fp);
    if (r == 0)
        f->head = fp;
    return r == -ENODATA ? 0 : r;
}
