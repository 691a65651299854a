// The sandbox's terminal (--tty): a new pseudo-terminal whose replica the program gets, and the
// window-size ioctls the relay uses (variadic ioctl is not callable from Swift).
#define _GNU_SOURCE
#include "launcher_shims.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

int sbx_open_pty(int *primary, int *replica, char *name, size_t name_len) {
    int fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return -1;
    if (grantpt(fd) < 0 || unlockpt(fd) < 0) goto fail;
    if (ptsname_r(fd, name, name_len) != 0) goto fail;
    int peer = ioctl(fd, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (peer < 0) goto fail;
    *primary = fd;
    *replica = peer;
    return 0;
fail: {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
}

int sbx_get_winsize(int fd, unsigned short *rows, unsigned short *cols) {
    struct winsize ws;
    if (ioctl(fd, TIOCGWINSZ, &ws) < 0) return -1;
    *rows = ws.ws_row;
    *cols = ws.ws_col;
    return 0;
}

int sbx_set_winsize(int fd, unsigned short rows, unsigned short cols) {
    struct winsize ws;
    memset(&ws, 0, sizeof ws);
    ws.ws_row = rows;
    ws.ws_col = cols;
    return ioctl(fd, TIOCSWINSZ, &ws);
}
