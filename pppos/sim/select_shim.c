/*
 * LD_PRELOAD shim for Debian's slirp 1.0.17 (used by pppos.sim.slirp).
 *
 * slirp's main_loop() passes select() a struct timeval whose tv_sec was never initialised.
 * glibc rejects a negative or out-of-range timeout with EINVAL before making the syscall, and
 * slirp treats that as fatal and exits with status 1. This wrapper clamps any timeout that is
 * negative, has tv_usec outside [0, 1e6), or is longer than 0.5 s to at most 0.5 s, then calls
 * the real select(). A NULL timeout (block forever) is passed through unchanged.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <sys/select.h>
#include <sys/time.h>

#define PPPOS_MAX_USEC 500000L

typedef int (*select_fn)(int, fd_set *, fd_set *, fd_set *, struct timeval *);

int select(int nfds, fd_set *readfds, fd_set *writefds, fd_set *exceptfds, struct timeval *timeout)
{
    static select_fn real_select = NULL;
    if (real_select == NULL) {
        real_select = (select_fn)dlsym(RTLD_NEXT, "select");
    }
    if (timeout != NULL) {
        if (timeout->tv_sec < 0 || timeout->tv_usec < 0 || timeout->tv_usec >= 1000000L ||
            timeout->tv_sec > 0 || timeout->tv_usec > PPPOS_MAX_USEC) {
            timeout->tv_sec = 0;
            timeout->tv_usec = PPPOS_MAX_USEC;
        }
    }
    return real_select(nfds, readfds, writefds, exceptfds, timeout);
}
