/*
 * The limit for mio-echo's UDP echo: as tight a UDP echo as C makes it.
 * One blocking socket, recvmmsg(2) of up to 32 datagrams (waiting for the
 * first only), then one sendmmsg(2) sending each back to its source. No
 * poll, no guards, no counters: what is left is the kernel's work.
 *
 *   cc -O2 -o udp-echo udp_echo.c && ./udp-echo 127.0.0.1:0
 *
 * With a second argument `epoll`, the same loop the way a readiness-based
 * server must run it (mio-echo's: src/udp/echo.rs): a non-blocking socket,
 * edge-triggered epoll_wait(2) to sleep, then recvmmsg/sendmmsg until a
 * batch comes back short. What the two differ by is the cost of sleeping
 * and waking in epoll instead of in recvmmsg.
 *
 * Prints "listening on ADDR" as mio-echo serve does; stops on SIGTERM.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 32
#define SLOT 65536

static unsigned char slots[BATCH][SLOT];
static struct sockaddr_storage sources[BATCH];
static struct iovec iov[BATCH];
static struct mmsghdr msgs[BATCH];

int main(int argc, char **argv) {
    const char *spec = argc > 1 ? argv[1] : "127.0.0.1:0";
    char host[64];
    const char *colon = strrchr(spec, ':');
    if (!colon || (size_t)(colon - spec) >= sizeof host) {
        fprintf(stderr, "usage: %s HOST:PORT (IPv4)\n", argv[0]);
        return 2;
    }
    memcpy(host, spec, colon - spec);
    host[colon - spec] = 0;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        fprintf(stderr, "not an IPv4 address: %s\n", host);
        return 2;
    }
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        perror("bind");
        return 1;
    }
    socklen_t len = sizeof addr;
    getsockname(fd, (struct sockaddr *)&addr, &len);
    printf("listening on %s:%d\n", host, ntohs(addr.sin_port));
    fflush(stdout);
    int use_epoll = argc > 2 && strcmp(argv[2], "epoll") == 0;
    int ep = -1;
    if (use_epoll) {
        struct epoll_event interest = {.events = EPOLLIN | EPOLLET};
        ep = epoll_create1(0);
        if (ep < 0 || fcntl(fd, F_SETFL, O_NONBLOCK) < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &interest) < 0) {
            perror("epoll");
            return 1;
        }
    }
    int drained = 1;
    for (;;) {
        if (use_epoll && drained) {
            struct epoll_event event;
            if (epoll_wait(ep, &event, 1, -1) < 0 && errno != EINTR) {
                perror("epoll_wait");
                return 1;
            }
            drained = 0;
        }
        for (int i = 0; i < BATCH; i++) {
            iov[i].iov_base = slots[i];
            iov[i].iov_len = SLOT;
            msgs[i].msg_hdr = (struct msghdr){
                .msg_name = &sources[i],
                .msg_namelen = sizeof sources[i],
                .msg_iov = &iov[i],
                .msg_iovlen = 1,
            };
        }
        int n = recvmmsg(fd, msgs, BATCH, use_epoll ? MSG_DONTWAIT : MSG_WAITFORONE, NULL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (use_epoll && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                drained = 1;
                continue;
            }
            perror("recvmmsg");
            return 1;
        }
        /* A short batch emptied the queue: the next datagram is a new edge. */
        drained = use_epoll && n < BATCH;
        for (int i = 0; i < n; i++)
            iov[i].iov_len = msgs[i].msg_len;
        for (int sent = 0; sent < n;) {
            int m = sendmmsg(fd, msgs + sent, n - sent, 0);
            if (m < 0) {
                if (errno == EINTR)
                    continue;
                sent++; /* this reply failed (an ICMP error): skip it */
            } else {
                sent += m;
            }
        }
    }
}
