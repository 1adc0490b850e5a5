/*
 * The limit for mio-echo's UDP echo: as tight a UDP echo as C makes it.
 * One blocking socket, recvmmsg(2) of up to 32 datagrams (waiting for the
 * first only), then one sendmmsg(2) sending each back to its source. No
 * poll, no guards, no counters: what is left is the kernel's work.
 *
 *   cc -O2 -o udp-echo udp_echo.c && ./udp-echo 127.0.0.1:0
 *
 * Prints "listening on ADDR" as mio-echo serve does; stops on SIGTERM.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    for (;;) {
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
        int n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("recvmmsg");
            return 1;
        }
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
