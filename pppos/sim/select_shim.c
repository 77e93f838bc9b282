/*
 * LD_PRELOAD shim for Debian's slirp 1.0.17 (used by pppos.sim.slirp).
 *
 * slirp's main_loop() passes select() a struct timeval whose tv_sec was never initialised and,
 * when no TCP timer is due, tv_usec = (u_int)-1 (4294967295). glibc rejects such a timeout with
 * EINVAL before making the syscall, and slirp treats that as fatal and exits with status 1.
 *
 * slirp's "-b BAUD" throttle releases at most a time-based budget of bytes to the tty per loop
 * turn, but that pending output is not reflected in the timeout it computes: with a long timeout
 * slirp sits in select() with queued output until some other fd wakes it. So this wrapper clamps
 * every timeout (garbage, negative or merely long) to at most PPPOS_MAX_USEC, which bounds how
 * long queued tty output can wait. The default can be changed (for measurements) with the
 * environment variable PPPOS_SLIRP_SELECT_USEC (1..500000). A NULL timeout (block forever) is
 * passed through unchanged.
 *
 * slirp's port redirections ("redir tcp PORT to ADDR:PORT") listen on INADDR_ANY, which would offer
 * the simulated network to every host that can reach this machine. bind() is wrapped so that an
 * IPv4 bind to INADDR_ANY with a fixed port (a listener) binds to 127.0.0.1 instead. Binds to port 0
 * (slirp's outgoing UDP and TCP sockets) are left alone so they can still reach the host's resolver.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/select.h>
#include <sys/time.h>

#define PPPOS_MAX_USEC 2000L

typedef int (*select_fn)(int, fd_set *, fd_set *, fd_set *, struct timeval *);

int select(int nfds, fd_set *readfds, fd_set *writefds, fd_set *exceptfds, struct timeval *timeout)
{
    static select_fn real_select = NULL;
    static long max_usec = -1;
    if (real_select == NULL) {
        real_select = (select_fn)dlsym(RTLD_NEXT, "select");
    }
    if (max_usec < 0) {
        const char *env = getenv("PPPOS_SLIRP_SELECT_USEC");
        long value = env != NULL ? strtol(env, NULL, 10) : 0;
        max_usec = (value >= 1 && value <= 500000L) ? value : PPPOS_MAX_USEC;
    }
    if (timeout != NULL) {
        if (timeout->tv_sec < 0 || timeout->tv_usec < 0 || timeout->tv_usec >= 1000000L ||
            timeout->tv_sec > 0 || timeout->tv_usec > max_usec) {
            timeout->tv_sec = 0;
            timeout->tv_usec = max_usec;
        }
    }
    return real_select(nfds, readfds, writefds, exceptfds, timeout);
}

typedef int (*bind_fn)(int, const struct sockaddr *, socklen_t);

int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
    static bind_fn real_bind = NULL;
    if (real_bind == NULL) {
        real_bind = (bind_fn)dlsym(RTLD_NEXT, "bind");
    }
    if (addr != NULL && len >= (socklen_t)sizeof(struct sockaddr_in) && addr->sa_family == AF_INET) {
        struct sockaddr_in local;
        memcpy(&local, addr, sizeof(local));
        if (local.sin_addr.s_addr == htonl(INADDR_ANY) && local.sin_port != 0) {
            local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            return real_bind(fd, (const struct sockaddr *)&local, sizeof(local));
        }
    }
    return real_bind(fd, addr, len);
}
