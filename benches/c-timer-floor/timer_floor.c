/* The floor under any sleeping pacer on this machine: a loop asleep in
 * epoll_wait on a periodic timerfd (timer slack 1 ns), woken every PERIOD
 * nanoseconds, and how late each wake-up is past its tick. Nothing else runs
 * in it, so no load generator that sleeps between sends can send earlier
 * after its due time than this. Prints "p50_us p90_us p99_us".
 *   timer_floor PERIOD_NS COUNT */
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int by_value(const void *a, const void *b) {
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: timer_floor PERIOD_NS COUNT\n");
        return 2;
    }
    long long period = atoll(argv[1]);
    int count = atoi(argv[2]);
    if (period < 1000 || period > 1000000000 || count < 10) {
        fprintf(stderr, "timer_floor: PERIOD_NS from 1000 to 1e9, COUNT at least 10\n");
        return 2;
    }
    prctl(PR_SET_TIMERSLACK, 1);
    int timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    int poll = epoll_create1(0);
    struct epoll_event interest = {.events = EPOLLIN};
    if (timer < 0 || poll < 0 || epoll_ctl(poll, EPOLL_CTL_ADD, timer, &interest) < 0) {
        perror("timer_floor");
        return 1;
    }
    long long start = now_ns() + 10 * period;
    struct itimerspec spec = {{period / 1000000000, period % 1000000000},
                              {start / 1000000000, start % 1000000000}};
    if (timerfd_settime(timer, TFD_TIMER_ABSTIME, &spec, NULL) < 0) {
        perror("timer_floor");
        return 1;
    }
    long long *late = malloc(sizeof(long long) * count);
    struct epoll_event ready[4];
    for (int i = 0; i < count; i++) {
        if (epoll_wait(poll, ready, 4, -1) < 1) {
            i--;
            continue;
        }
        long long now = now_ns();
        unsigned long long expiries;
        /* A periodic timerfd runs on only once its expiries are read. */
        if (read(timer, &expiries, sizeof expiries) < 0) {
            perror("timer_floor");
            return 1;
        }
        late[i] = now - (start + (now - start) / period * period);
    }
    qsort(late, count, sizeof(long long), by_value);
    printf("%.1f %.1f %.1f\n", late[count / 2] / 1e3, late[count * 9 / 10] / 1e3, late[count * 99 / 100] / 1e3);
    return 0;
}
