/*
 * UDP load generator for the responder benchmark: sends 41-octet TWAMP-Test requests to
 * 127.0.0.1:PORT at RATE packets/s for SECONDS, from one socket, in sendmmsg batches paced every
 * 100 us, while draining replies with recvmmsg; then waits DRAIN ms and prints "sent received".
 * Written for this benchmark so that the generator is not the bottleneck a Node one would be.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define PKT 41

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long drain(int fd, struct mmsghdr *rmsgs) {
  long got = 0;
  for (;;) {
    int n = recvmmsg(fd, rmsgs, BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) return got;
    got += n;
  }
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: loadgen PORT RATE SECONDS [DRAIN_MS]\n");
    return 2;
  }
  int port = atoi(argv[1]);
  double rate = atof(argv[2]);
  double seconds = atof(argv[3]);
  int drain_ms = argc > 4 ? atoi(argv[4]) : 300;
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  int buf = 16 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  if (connect(fd, (struct sockaddr *)&to, sizeof to) != 0) {
    perror("connect");
    return 1;
  }
  static uint8_t out[BATCH][PKT], in[BATCH][2048];
  struct iovec siov[BATCH], riov[BATCH];
  struct mmsghdr smsgs[BATCH], rmsgs[BATCH];
  memset(smsgs, 0, sizeof smsgs);
  memset(rmsgs, 0, sizeof rmsgs);
  for (int i = 0; i < BATCH; i++) {
    memset(out[i], 0, PKT);
    out[i][13] = 1; /* error estimate multiplier 1 */
    siov[i].iov_base = out[i];
    siov[i].iov_len = PKT;
    smsgs[i].msg_hdr.msg_iov = &siov[i];
    smsgs[i].msg_hdr.msg_iovlen = 1;
    riov[i].iov_base = in[i];
    riov[i].iov_len = sizeof in[i];
    rmsgs[i].msg_hdr.msg_iov = &riov[i];
    rmsgs[i].msg_hdr.msg_iovlen = 1;
  }
  long total = (long)(rate * seconds), sent = 0, received = 0;
  uint32_t seq = 0;
  double start = now_s();
  struct timespec tick = {0, 100000};
  while (sent < total) {
    long due = (long)((now_s() - start) * rate);
    if (due > total) due = total;
    while (sent < due) {
      int n = due - sent > BATCH ? BATCH : (int)(due - sent);
      for (int i = 0; i < n; i++) {
        uint32_t s = htonl(seq++);
        memcpy(out[i], &s, 4);
      }
      int k = sendmmsg(fd, smsgs, n, 0);
      if (k <= 0) break;
      sent += k;
    }
    received += drain(fd, rmsgs);
    nanosleep(&tick, NULL);
  }
  double end = now_s() + drain_ms / 1000.0;
  while (now_s() < end) {
    received += drain(fd, rmsgs);
    nanosleep(&tick, NULL);
  }
  printf("%ld %ld\n", sent, received);
  return 0;
}
