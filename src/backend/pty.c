#include "autoconfig.h"

#include "backend/pty.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

int pty_open(int *master, int *slave)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC), s = -1;
    char name[64];
    if (m < 0) return errno;
    if (grantpt(m) < 0 || unlockpt(m) < 0) goto failed;
    int rc = ptsname_r(m, name, sizeof name);
    if (rc) {
        errno = rc;
        goto failed;
    }
    s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (s < 0) goto failed;
    struct termios t;
    if (tcgetattr(s, &t) < 0) goto failed;
    cfmakeraw(&t);
    struct winsize ws = {.ws_row = 24, .ws_col = 80};
    if (tcsetattr(s, TCSANOW, &t) < 0 || ioctl(s, TIOCSWINSZ, &ws) < 0) goto failed;
    int fl = fcntl(m, F_GETFL);
    if (fl < 0 || fcntl(m, F_SETFL, fl | O_NONBLOCK) < 0) goto failed;
    *master = m;
    *slave = s;
    return 0;
failed:;
    int err = errno ? errno : EIO;
    if (s >= 0) close(s);
    close(m);
    return err;
}
