/*
 * Reference tools for bench/native.ts, compiled by the benchmark itself with the system C compiler.
 *
 *   udpbench reflect                         C reference reflector: recvmmsg/sendmmsg echo on
 *                                            127.0.0.1, prints its port, runs until killed.
 *   udpbench load PORT SECONDS window W      closed loop: keeps W TWAMP-Light requests in flight,
 *                                            prints {"sent","received","seconds"} as JSON.
 *   udpbench load PORT SECONDS rate R        open loop at R requests/s (1 ms ticks).
 *   udpbench pingpong PORT COUNT RATE        one request at a time at RATE/s, blocking receive,
 *                                            prints the RTT median / p99 in ns (CLOCK_MONOTONIC).
 *   udpbench tsreflect SECONDS               the C reflector with kernel receive timestamps
 *                                            (SO_TIMESTAMPNS) for SECONDS, then prints the medians
 *                                            of kernel stamp -> recvmmsg returned and kernel stamp
 *                                            -> just before sendmmsg (a C reflector's "T3-T2").
 *
 * The requests are 41-octet TWAMP-Light sender packets (RFC 5357 4.1.2: sequence number,
 * timestamp, error estimate, 27 octets of padding), so the Node reflector does its full work.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define PKT 41
#define SLOT 2048

static int64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int udp_socket(int port) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) { perror("socket"); exit(1); }
  int big = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons((uint16_t)port);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) { perror("bind"); exit(1); }
  return fd;
}

static int reflect(void) {
  int fd = udp_socket(0);
  struct sockaddr_in a;
  socklen_t al = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &al);
  printf("{\"port\":%d}\n", ntohs(a.sin_port));
  fflush(stdout);
  static char bufs[BATCH][SLOT];
  static struct mmsghdr m[BATCH];
  static struct iovec iov[BATCH];
  static struct sockaddr_in from[BATCH];
  for (;;) {
    for (int i = 0; i < BATCH; i++) {
      iov[i].iov_base = bufs[i];
      iov[i].iov_len = SLOT;
      memset(&m[i].msg_hdr, 0, sizeof m[i].msg_hdr);
      m[i].msg_hdr.msg_iov = &iov[i];
      m[i].msg_hdr.msg_iovlen = 1;
      m[i].msg_hdr.msg_name = &from[i];
      m[i].msg_hdr.msg_namelen = sizeof from[i];
    }
    int n = recvmmsg(fd, m, BATCH, MSG_WAITFORONE, NULL);
    if (n <= 0) continue;
    for (int i = 0; i < n; i++) iov[i].iov_len = m[i].msg_len;
    int off = 0;
    while (off < n) {
      int r = sendmmsg(fd, m + off, (unsigned)(n - off), 0);
      if (r <= 0) break;
      off += r;
    }
  }
  return 0;
}

static int64_t real_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cmp64(const void *a, const void *b);

static int tsreflect(double seconds) {
  int fd = udp_socket(0);
  int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
  struct timeval tv = {0, 100000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  struct sockaddr_in a;
  socklen_t al = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &al);
  printf("{\"port\":%d}\n", ntohs(a.sin_port));
  fflush(stdout);
  static char bufs[BATCH][SLOT], ctl[BATCH][256];
  static struct mmsghdr m[BATCH];
  static struct iovec iov[BATCH];
  static struct sockaddr_in from[BATCH];
  static int64_t kts[BATCH];
  size_t cap = 1 << 20, n_rec = 0;
  int64_t *wake = calloc(cap, sizeof *wake), *proc = calloc(cap, sizeof *proc);
  int64_t end = mono_ns() + (int64_t)(seconds * 1e9);
  while (mono_ns() < end) {
    for (int i = 0; i < BATCH; i++) {
      iov[i].iov_base = bufs[i];
      iov[i].iov_len = SLOT;
      memset(&m[i].msg_hdr, 0, sizeof m[i].msg_hdr);
      m[i].msg_hdr.msg_iov = &iov[i];
      m[i].msg_hdr.msg_iovlen = 1;
      m[i].msg_hdr.msg_name = &from[i];
      m[i].msg_hdr.msg_namelen = sizeof from[i];
      m[i].msg_hdr.msg_control = ctl[i];
      m[i].msg_hdr.msg_controllen = sizeof ctl[i];
    }
    int n = recvmmsg(fd, m, BATCH, MSG_WAITFORONE, NULL);
    if (n <= 0) continue;
    int64_t t_user = real_ns();
    for (int i = 0; i < n; i++) {
      kts[i] = 0;
      for (struct cmsghdr *c = CMSG_FIRSTHDR(&m[i].msg_hdr); c; c = CMSG_NXTHDR(&m[i].msg_hdr, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
          struct timespec ts;
          memcpy(&ts, CMSG_DATA(c), sizeof ts);
          kts[i] = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
        }
      }
      iov[i].iov_len = m[i].msg_len;
      m[i].msg_hdr.msg_control = NULL;
      m[i].msg_hdr.msg_controllen = 0;
    }
    int64_t t3 = real_ns();
    for (int i = 0; i < n && n_rec < cap; i++) {
      if (kts[i] == 0) continue;
      wake[n_rec] = t_user - kts[i];
      proc[n_rec++] = t3 - kts[i];
    }
    int off = 0;
    while (off < n) {
      int r = sendmmsg(fd, m + off, (unsigned)(n - off), 0);
      if (r <= 0) break;
      off += r;
    }
  }
  qsort(wake, n_rec, sizeof *wake, cmp64);
  qsort(proc, n_rec, sizeof *proc, cmp64);
  printf("{\"count\":%zu,\"wakeMedianNs\":%lld,\"medianNs\":%lld,\"p99Ns\":%lld}\n", n_rec,
         n_rec ? (long long)wake[n_rec / 2] : -1LL, n_rec ? (long long)proc[n_rec / 2] : -1LL,
         n_rec ? (long long)proc[(size_t)(n_rec * 0.99)] : -1LL);
  free(wake);
  free(proc);
  return 0;
}

static void fill(char *p, uint32_t seq) {
  memset(p, 0, PKT);
  uint32_t s = htonl(seq);
  memcpy(p, &s, 4);
  p[13] = 1; /* error estimate: multiplier 1 */
}

static int load(int port, double seconds, int window, int rate) {
  int fd = udp_socket(0);
  struct sockaddr_in to;
  memset(&to, 0, sizeof to);
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  to.sin_port = htons((uint16_t)port);
  if (connect(fd, (struct sockaddr *)&to, sizeof to) < 0) { perror("connect"); return 1; }
  static char tx[BATCH][PKT], rx[BATCH][SLOT];
  static struct mmsghdr tm[BATCH], rm[BATCH];
  static struct iovec tiov[BATCH], riov[BATCH];
  for (int i = 0; i < BATCH; i++) {
    tiov[i].iov_base = tx[i];
    tiov[i].iov_len = PKT;
    tm[i].msg_hdr.msg_iov = &tiov[i];
    tm[i].msg_hdr.msg_iovlen = 1;
    riov[i].iov_base = rx[i];
    riov[i].iov_len = SLOT;
    rm[i].msg_hdr.msg_iov = &riov[i];
    rm[i].msg_hdr.msg_iovlen = 1;
  }
  uint32_t seq = 0;
  long sent = 0, received = 0;
  int inflight = 0;
  int64_t start = mono_ns(), end = start + (int64_t)(seconds * 1e9), last_rx = start;
  int64_t next_tick = start;
  while (mono_ns() < end) {
    int want = 0;
    if (window > 0) {
      if (mono_ns() - last_rx > 20000000LL) { inflight = 0; last_rx = mono_ns(); } /* lost: refill */
      want = window - inflight;
    } else {
      int64_t now = mono_ns();
      if (now >= next_tick) {
        long due = (long)((now - start) / 1000000LL + 1) * rate / 1000 - sent;
        want = due > 0 ? (int)due : 0;
        next_tick += 1000000LL;
      }
    }
    while (want > 0) {
      int k = want > BATCH ? BATCH : want;
      for (int i = 0; i < k; i++) fill(tx[i], seq++);
      int r = sendmmsg(fd, tm, (unsigned)k, 0);
      if (r <= 0) break;
      sent += r;
      inflight += r;
      want -= r;
    }
    struct pollfd p = {fd, POLLIN, 0};
    int timeout = window > 0 ? 5 : (int)((next_tick - mono_ns()) / 1000000LL);
    if (timeout < 0) timeout = 0;
    if (poll(&p, 1, timeout) <= 0) continue;
    for (;;) {
      int n = recvmmsg(fd, rm, BATCH, MSG_DONTWAIT, NULL);
      if (n <= 0) break;
      received += n;
      inflight -= n;
      if (inflight < 0) inflight = 0;
      last_rx = mono_ns();
      if (n < BATCH) break;
    }
  }
  /* Collect stragglers for 100 ms so the open-loop loss figure is fair. */
  int64_t drain_end = mono_ns() + 100000000LL;
  while (mono_ns() < drain_end) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 10) <= 0) continue;
    int n = recvmmsg(fd, rm, BATCH, MSG_DONTWAIT, NULL);
    if (n > 0) received += n;
  }
  printf("{\"sent\":%ld,\"received\":%ld,\"seconds\":%.3f}\n", sent, received, seconds);
  return 0;
}

static int cmp64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

static int pingpong(int port, int count, int rate) {
  int fd = udp_socket(0);
  struct sockaddr_in to;
  memset(&to, 0, sizeof to);
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  to.sin_port = htons((uint16_t)port);
  if (connect(fd, (struct sockaddr *)&to, sizeof to) < 0) { perror("connect"); return 1; }
  struct timeval tv = {0, 200000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  int64_t *rtt = calloc((size_t)count, sizeof *rtt);
  int got = 0;
  char pkt[PKT], buf[SLOT];
  struct timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  for (int i = 0; i < count; i++) {
    fill(pkt, (uint32_t)i);
    int64_t t0 = mono_ns();
    if (send(fd, pkt, PKT, 0) != PKT) continue;
    ssize_t r = recv(fd, buf, sizeof buf, 0);
    int64_t t1 = mono_ns();
    if (r > 0) rtt[got++] = t1 - t0;
    next.tv_nsec += 1000000000L / rate;
    while (next.tv_nsec >= 1000000000L) { next.tv_nsec -= 1000000000L; next.tv_sec++; }
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
  }
  qsort(rtt, (size_t)got, sizeof *rtt, cmp64);
  printf("{\"count\":%d,\"medianNs\":%lld,\"p99Ns\":%lld}\n", got, got ? (long long)rtt[got / 2] : -1LL,
         got ? (long long)rtt[(int)(got * 0.99)] : -1LL);
  free(rtt);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "reflect") == 0) return reflect();
  if (argc >= 3 && strcmp(argv[1], "tsreflect") == 0) return tsreflect(atof(argv[2]));
  if (argc >= 6 && strcmp(argv[1], "load") == 0) {
    int v = atoi(argv[5]);
    return strcmp(argv[4], "window") == 0 ? load(atoi(argv[2]), atof(argv[3]), v, 0)
                                          : load(atoi(argv[2]), atof(argv[3]), 0, v);
  }
  if (argc >= 5 && strcmp(argv[1], "pingpong") == 0) return pingpong(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
  fprintf(stderr, "usage: udpbench reflect | load PORT SECONDS window|rate N | pingpong PORT COUNT RATE\n");
  return 2;
}
