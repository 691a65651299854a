// How the child path reports: one fixed-size record on the error pipe, then _exit. The
// launcher reads it (or EOF once the program was executed) and says which step failed.
#define _GNU_SOURCE
#include "child_path.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static void write_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        p += n;
        len -= (size_t)n;
    }
}

size_t sbx_bounded_copy(char *dst, size_t cap, const char *src) {
    size_t i = 0;
    if (src != NULL) {
        for (; i + 1 < cap && src[i] != '\0'; i++) dst[i] = src[i];
    }
    dst[i] = '\0';
    return i;
}

void sbx_fail(int error_fd, int err, int exec_failed, const char *step, const char *path) {
    struct sbx_child_error record;
    memset(&record, 0, sizeof record);
    record.error = err;
    record.exec_failed = exec_failed;
    sbx_bounded_copy(record.step, sizeof record.step, step);
    sbx_bounded_copy(record.path, sizeof record.path, path);
    write_all(error_fd, &record, sizeof record);
    if (exec_failed) _exit(err == ENOENT ? 127 : 126);
    _exit(125);
}
