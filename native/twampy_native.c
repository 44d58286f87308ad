/*
 * twampy native socket layer (Linux): a UDP socket driven by libuv's event loop through a
 * uv_poll_t on its fd, so Node's loop sleeps in epoll when idle and no thread is added.
 *
 * What node:dgram cannot do and this file does:
 *   - per-socket and per-packet TOS / traffic class (IP_TOS, IPV6_TCLASS, as cmsg on send),
 *   - TTL / hop limit (IP_TTL, IPV6_UNICAST_HOPS), Don't Fragment (IP_PMTUDISC_DO, IPV6_DONTFRAG),
 *   - the received TTL / hop limit and TOS / traffic class of every packet,
 *   - kernel receive timestamps (SO_TIMESTAMPNS, CLOCK_REALTIME),
 *   - batched receive and send (recvmmsg / sendmmsg).
 *
 * Data crosses into JavaScript without a copy and without one JS call per packet: the caller
 * hands in ArrayBuffers (receive slots, receive metadata, receive timestamps, send arena, send
 * metadata, send status); one readable event drains the socket with recvmmsg into the slots and
 * calls JS once per batch with the count. JS then presents each datagram to its handler and queues
 * replies into the send arena, which one sendmmsg flushes. Layouts are the TW_* constants below;
 * src/transport/native.ts reads the same constants from the exports, so the two cannot drift.
 *
 * Plain C N-API (node_api.h) only, no node-addon-api: it ships with Node's headers.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Bump when a layout or an export changes; native.ts refuses an addon with another value. */
#define TW_ABI 6

#ifndef TW_RX_BATCH
#define TW_RX_BATCH 32      /* datagrams per recvmmsg */
#endif
#define TW_RX_SLOT 65536    /* bytes per receive slot: any UDP payload fits, so no truncation */
#define TW_RX_ROUNDS 8      /* recvmmsg batches per readable event before yielding to the loop */
#define TW_RX_META 16       /* int32 per received datagram */
#define TW_RX_TEXT 64       /* bytes of address text per received IPv6 datagram */
#define TW_TX_MAX 256       /* datagrams per sendmmsg flush */
#define TW_TX_BYTES 262144  /* send arena bytes */
#define TW_TX_META 12       /* int32 per queued datagram */
#define TW_TX_STATUS 132    /* int32: consumed, again, nerr, then nerr (index, errno) pairs */
#define TW_TX_MAXERR 64

/* Receive metadata, int32 index within a datagram's row. */
enum { RM_LEN, RM_PORT, RM_FAMILY, RM_TTL, RM_TOS, RM_KERNEL_TS, RM_FLAGS, RM_TEXTLEN, RM_V4, RM_DROPS = 12 };
/* Send metadata, int32 index within a datagram's row; the 16 address bytes start at int 8. */
enum { TM_OFFSET, TM_LEN, TM_PORT, TM_FAMILY, TM_TOS, TM_SCOPE, TM_ADDR = 8 };
/* Events delivered to the JS callback. */
enum { EV_RX = 0, EV_WRITABLE = 1, EV_ERROR = 2, EV_CLOSED = 3 };

#define CTL_SPACE 256

typedef struct tw_sock {
  napi_env env;
  int fd;
  int family; /* AF_INET or AF_INET6 */
  int refs;   /* the JS external and the open poll handle each hold one */
  int closing;
  int env_gone; /* the environment is being torn down (worker exit): no more calls into JS */
  int want_writable;
  napi_async_cleanup_hook_handle cleanup;
  int64_t rx_offset; /* added to every receive stamp: moves CLOCK_REALTIME into the session clock's timebase */
  uv_poll_t poll;
  napi_ref cb;          /* function(kind, n) */
  napi_ref buffers[6];  /* keeps the shared ArrayBuffers alive */
  napi_async_context actx;
  uint8_t *rx_data;
  int32_t *rx_meta;
  int64_t *rx_ts;
  char *rx_text;
  uint8_t *tx_data;
  int32_t *tx_meta;
  int32_t *tx_status;
  struct mmsghdr rx_msgs[TW_RX_BATCH];
  struct iovec rx_iov[TW_RX_BATCH];
  struct sockaddr_storage rx_addr[TW_RX_BATCH];
  char rx_ctl[TW_RX_BATCH][CTL_SPACE] __attribute__((aligned(8)));
  struct mmsghdr tx_msgs[TW_TX_MAX];
  struct iovec tx_iov[TW_TX_MAX];
  struct sockaddr_in6 tx_addr[TW_TX_MAX];
  char tx_ctl[TW_TX_MAX][CMSG_SPACE(sizeof(int))] __attribute__((aligned(8)));
} tw_sock;

/* ---- helpers ---------------------------------------------------------------------------- */

#define NAPI_CALL(env, call)                                   \
  do {                                                         \
    if ((call) != napi_ok) {                                   \
      napi_throw_error((env), "ERR_TWAMPY_NATIVE", #call);     \
      return NULL;                                             \
    }                                                          \
  } while (0)

/* Throws a JS Error carrying `code` (the errno name is derived in JS from `errno`). */
static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value m, e, n;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, NULL, m, &e);
  napi_create_int32(env, err, &n);
  napi_set_named_property(env, e, "errno", n);
  napi_throw(env, e);
  return NULL;
}

static void sock_unref(tw_sock *s) {
  if (--s->refs == 0) free(s);
}

static void ext_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  sock_unref((tw_sock *)data);
}

static tw_sock *get_sock(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || p == NULL) {
    napi_throw_type_error(env, "ERR_TWAMPY_NATIVE", "not a native socket handle");
    return NULL;
  }
  return (tw_sock *)p;
}

static void *get_ab(napi_env env, napi_value v, size_t need) {
  void *data = NULL;
  size_t len = 0;
  bool is_ab = false;
  if (napi_is_arraybuffer(env, v, &is_ab) != napi_ok || !is_ab) return NULL;
  if (napi_get_arraybuffer_info(env, v, &data, &len) != napi_ok || len < need) return NULL;
  return data;
}

static int32_t opt_int(napi_env env, napi_value obj, const char *name, int32_t dflt) {
  bool has = false;
  napi_value v;
  napi_valuetype t;
  if (napi_has_named_property(env, obj, name, &has) != napi_ok || !has) return dflt;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok) return dflt;
  if (napi_typeof(env, v, &t) != napi_ok) return dflt;
  if (t == napi_boolean) {
    bool b;
    napi_get_value_bool(env, v, &b);
    return b ? 1 : 0;
  }
  if (t != napi_number) return dflt;
  int32_t out = dflt;
  napi_get_value_int32(env, v, &out);
  return out;
}

/* Calls the socket's JS callback inside a proper callback scope (microtasks run after it);
 * an exception thrown by JS becomes an uncaught exception, as it would from a dgram handler. */
static void call_js(tw_sock *s, int kind, int n) {
  napi_env env = s->env;
  napi_value fn, global, argv[2];
  if (s->cb == NULL) return;
  if (napi_get_reference_value(env, s->cb, &fn) != napi_ok || fn == NULL) return;
  napi_get_global(env, &global);
  napi_create_int32(env, kind, &argv[0]);
  napi_create_int32(env, n, &argv[1]);
  napi_status st = napi_make_callback(env, s->actx, global, fn, 2, argv, NULL);
  if (st == napi_pending_exception) {
    napi_value exc;
    if (napi_get_and_clear_last_exception(env, &exc) == napi_ok) napi_fatal_exception(env, exc);
  }
}

/* ---- socket options ------------------------------------------------------------------- */

static int set_int(int fd, int level, int name, int value) {
  return setsockopt(fd, level, name, &value, sizeof value);
}

/* Outgoing TOS: on an IPv6 socket both options are set, since IPv4-mapped traffic uses IP_TOS. */
static int apply_tos(tw_sock *s, int tos) {
  if (s->family == AF_INET6) {
    if (set_int(s->fd, IPPROTO_IPV6, IPV6_TCLASS, tos) < 0) return -1;
    (void)set_int(s->fd, IPPROTO_IP, IP_TOS, tos);
    return 0;
  }
  return set_int(s->fd, IPPROTO_IP, IP_TOS, tos);
}

static int apply_ttl(tw_sock *s, int ttl) {
  if (s->family == AF_INET6) {
    if (set_int(s->fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, ttl) < 0) return -1;
    (void)set_int(s->fd, IPPROTO_IP, IP_TTL, ttl);
    return 0;
  }
  return set_int(s->fd, IPPROTO_IP, IP_TTL, ttl);
}

static int apply_df(tw_sock *s, int on) {
  if (s->family == AF_INET6) {
    if (set_int(s->fd, IPPROTO_IPV6, IPV6_DONTFRAG, on) < 0) return -1;
    if (on && set_int(s->fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_DO) < 0) return -1;
    (void)set_int(s->fd, IPPROTO_IP, IP_MTU_DISCOVER, on ? IP_PMTUDISC_DO : IP_PMTUDISC_DONT);
    return 0;
  }
  return set_int(s->fd, IPPROTO_IP, IP_MTU_DISCOVER, on ? IP_PMTUDISC_DO : IP_PMTUDISC_DONT);
}

/* ---- receive path --------------------------------------------------------------------- */

static void parse_rx(tw_sock *s, int i, int64_t user_ns) {
  struct msghdr *h = &s->rx_msgs[i].msg_hdr;
  int32_t *m = s->rx_meta + (size_t)i * TW_RX_META;
  unsigned len = s->rx_msgs[i].msg_len;
  m[RM_LEN] = (int32_t)(len > TW_RX_SLOT ? TW_RX_SLOT : len);
  m[RM_TTL] = -1;
  m[RM_TOS] = -1;
  m[RM_KERNEL_TS] = 0;
  m[RM_FLAGS] = (h->msg_flags & MSG_TRUNC) ? 1 : 0;
  m[RM_TEXTLEN] = 0;
  m[RM_DROPS] = -1;
  s->rx_ts[i] = user_ns + s->rx_offset;

  struct sockaddr_storage *ss = &s->rx_addr[i];
  if (ss->ss_family == AF_INET) {
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    m[RM_FAMILY] = 4;
    m[RM_PORT] = ntohs(a->sin_port);
    m[RM_V4] = (int32_t)ntohl(a->sin_addr.s_addr);
  } else if (ss->ss_family == AF_INET6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
    m[RM_PORT] = ntohs(a->sin6_port);
    if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
      /* Presented as plain IPv4, as the interface promises (no ::ffff: prefix). */
      uint32_t v4;
      memcpy(&v4, &a->sin6_addr.s6_addr[12], 4);
      m[RM_FAMILY] = 4;
      m[RM_V4] = (int32_t)ntohl(v4);
    } else {
      char *t = s->rx_text + (size_t)i * TW_RX_TEXT;
      m[RM_FAMILY] = 6;
      memcpy(&m[RM_V4], a->sin6_addr.s6_addr, 16);
      if (inet_ntop(AF_INET6, &a->sin6_addr, t, TW_RX_TEXT - 18) != NULL) {
        size_t n = strlen(t);
        if (a->sin6_scope_id != 0) {
          char ifn[IF_NAMESIZE];
          if (if_indextoname(a->sin6_scope_id, ifn) != NULL)
            n += (size_t)snprintf(t + n, TW_RX_TEXT - n, "%%%s", ifn);
          else
            n += (size_t)snprintf(t + n, TW_RX_TEXT - n, "%%%u", a->sin6_scope_id);
        }
        m[RM_TEXTLEN] = (int32_t)(n < TW_RX_TEXT ? n : TW_RX_TEXT - 1);
      }
    }
  } else {
    m[RM_FAMILY] = 0;
    m[RM_PORT] = 0;
  }

  for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c != NULL; c = CMSG_NXTHDR(h, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
      struct timespec ts;
      memcpy(&ts, CMSG_DATA(c), sizeof ts);
      s->rx_ts[i] = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec + s->rx_offset;
      m[RM_KERNEL_TS] = 1;
    } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
      /* Datagrams the kernel dropped on this socket (receive buffer full) before this one was queued. */
      uint32_t d;
      memcpy(&d, CMSG_DATA(c), sizeof d);
      m[RM_DROPS] = (int32_t)(d & 0x7fffffff);
    } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL) {
      int v;
      memcpy(&v, CMSG_DATA(c), sizeof v);
      m[RM_TTL] = v;
    } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS) {
      /* IP_RECVTOS delivers a single byte. */
      m[RM_TOS] = *(unsigned char *)CMSG_DATA(c);
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT) {
      int v;
      memcpy(&v, CMSG_DATA(c), sizeof v);
      m[RM_TTL] = v;
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_TCLASS) {
      int v;
      memcpy(&v, CMSG_DATA(c), sizeof v);
      m[RM_TOS] = v & 0xff;
    }
  }
}

static void drain(tw_sock *s) {
  for (int round = 0; round < TW_RX_ROUNDS && !s->closing; round++) {
    for (int i = 0; i < TW_RX_BATCH; i++) {
      struct msghdr *h = &s->rx_msgs[i].msg_hdr;
      h->msg_name = &s->rx_addr[i];
      h->msg_namelen = sizeof s->rx_addr[i];
      h->msg_iov = &s->rx_iov[i];
      h->msg_iovlen = 1;
      h->msg_control = s->rx_ctl[i];
      h->msg_controllen = CTL_SPACE;
      h->msg_flags = 0;
      s->rx_iov[i].iov_base = s->rx_data + (size_t)i * TW_RX_SLOT;
      s->rx_iov[i].iov_len = TW_RX_SLOT;
    }
    int n = recvmmsg(s->fd, s->rx_msgs, TW_RX_BATCH, MSG_DONTWAIT, NULL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) call_js(s, EV_ERROR, errno);
      return;
    }
    if (n == 0) return;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t user_ns = (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec;
    for (int i = 0; i < n; i++) parse_rx(s, i, user_ns);
    call_js(s, EV_RX, n);
    if (n < TW_RX_BATCH) return; /* drained: the level-triggered poll fires again if more came */
  }
}

static void on_poll(uv_poll_t *handle, int status, int events) {
  tw_sock *s = (tw_sock *)handle->data;
  if (s->closing) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(s->env, &scope) != napi_ok) return;
  if (status < 0) {
    call_js(s, EV_ERROR, -status); /* libuv errors are negated errno values on Linux */
  } else {
    if ((events & UV_WRITABLE) && !s->closing) call_js(s, EV_WRITABLE, 0);
    if ((events & UV_READABLE) && !s->closing) drain(s);
  }
  napi_close_handle_scope(s->env, scope);
}

/* ---- exported functions --------------------------------------------------------------- */

static void on_env_cleanup(napi_async_cleanup_hook_handle handle, void *arg);

/* open(family 4|6, address string, port, options, buffers[6], callback) -> external handle */
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 6) {
    napi_throw_type_error(env, NULL, "open(family, address, port, options, buffers, callback)");
    return NULL;
  }
  int32_t fam = 0, port = 0;
  napi_get_value_int32(env, argv[0], &fam);
  napi_get_value_int32(env, argv[2], &port);
  char addr[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  size_t alen = 0;
  if (napi_get_value_string_utf8(env, argv[1], addr, sizeof addr, &alen) != napi_ok) {
    napi_throw_type_error(env, NULL, "address must be a string");
    return NULL;
  }
  if ((fam != 4 && fam != 6) || port < 0 || port > 65535) {
    napi_throw_range_error(env, NULL, "bad family or port");
    return NULL;
  }

  static const size_t sizes[6] = {
      (size_t)TW_RX_BATCH * TW_RX_SLOT, (size_t)TW_RX_BATCH * TW_RX_META * 4, (size_t)TW_RX_BATCH * 8,
      (size_t)TW_RX_BATCH * TW_RX_TEXT, (size_t)TW_TX_BYTES,
      (size_t)TW_TX_MAX * TW_TX_META * 4 + (size_t)TW_TX_STATUS * 4};
  void *ptrs[6];
  for (int i = 0; i < 6; i++) {
    napi_value b;
    napi_get_element(env, argv[4], (uint32_t)i, &b);
    ptrs[i] = get_ab(env, b, sizes[i]);
    if (ptrs[i] == NULL) {
      napi_throw_type_error(env, NULL, "buffers: wrong ArrayBuffer set");
      return NULL;
    }
  }

  int af = fam == 6 ? AF_INET6 : AF_INET;
  int fd = socket(af, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);

  tw_sock *s = (tw_sock *)calloc(1, sizeof *s);
  if (s == NULL) {
    close(fd);
    return throw_errno(env, "calloc", ENOMEM);
  }
  s->env = env;
  s->fd = fd;
  s->family = af;
  s->rx_data = ptrs[0];
  s->rx_meta = ptrs[1];
  s->rx_ts = ptrs[2];
  s->rx_text = ptrs[3];
  s->tx_data = ptrs[4];
  s->tx_meta = ptrs[5];
  s->tx_status = s->tx_meta + (size_t)TW_TX_MAX * TW_TX_META;

  napi_value opts = argv[3];
  int err = 0;
  const char *what = NULL;

  /* Receive-side ancillary data: every packet carries its kernel timestamp, TTL and TOS. */
  if (set_int(fd, SOL_SOCKET, SO_TIMESTAMPNS, 1) < 0) { err = errno; what = "SO_TIMESTAMPNS"; }
  (void)set_int(fd, SOL_SOCKET, SO_RXQ_OVFL, 1); /* drop counter: diagnostics only, optional */
  if (!err && af == AF_INET6) {
    if (set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, opt_int(env, opts, "v6only", 0)) < 0) { err = errno; what = "IPV6_V6ONLY"; }
    else if (set_int(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1) < 0) { err = errno; what = "IPV6_RECVHOPLIMIT"; }
    else if (set_int(fd, IPPROTO_IPV6, IPV6_RECVTCLASS, 1) < 0) { err = errno; what = "IPV6_RECVTCLASS"; }
    /* IPv4-mapped packets on a dual-stack socket report through the IPv4 options. */
    (void)set_int(fd, IPPROTO_IP, IP_RECVTTL, 1);
    (void)set_int(fd, IPPROTO_IP, IP_RECVTOS, 1);
  } else if (!err) {
    if (set_int(fd, IPPROTO_IP, IP_RECVTTL, 1) < 0) { err = errno; what = "IP_RECVTTL"; }
    else if (set_int(fd, IPPROTO_IP, IP_RECVTOS, 1) < 0) { err = errno; what = "IP_RECVTOS"; }
  }
  int32_t v;
  if (!err && (v = opt_int(env, opts, "recvBufferSize", 0)) > 0 &&
      set_int(fd, SOL_SOCKET, SO_RCVBUF, v) < 0) { err = errno; what = "SO_RCVBUF"; }
  if (!err && (v = opt_int(env, opts, "sendBufferSize", 0)) > 0 &&
      set_int(fd, SOL_SOCKET, SO_SNDBUF, v) < 0) { err = errno; what = "SO_SNDBUF"; }
  if (!err && (v = opt_int(env, opts, "tos", -1)) >= 0 && apply_tos(s, v) < 0) { err = errno; what = "setting TOS"; }
  if (!err && (v = opt_int(env, opts, "ttl", -1)) >= 0 && apply_ttl(s, v) < 0) { err = errno; what = "setting TTL"; }
  if (!err && (v = opt_int(env, opts, "dontFragment", -1)) >= 0 && apply_df(s, v) < 0) { err = errno; what = "setting Don't Fragment"; }
  if (!err && opt_int(env, opts, "reuseAddr", 0) == 1 && set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1) < 0) { err = errno; what = "SO_REUSEADDR"; }

  if (!err) {
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof ss);
    if (af == AF_INET) {
      struct sockaddr_in *a = (struct sockaddr_in *)&ss;
      a->sin_family = AF_INET;
      a->sin_port = htons((uint16_t)port);
      if (inet_pton(AF_INET, addr, &a->sin_addr) != 1) { err = EINVAL; what = "bad IPv4 bind address"; }
      sl = sizeof *a;
    } else {
      struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
      a->sin6_family = AF_INET6;
      a->sin6_port = htons((uint16_t)port);
      char *pct = strchr(addr, '%');
      if (pct != NULL) {
        *pct = 0;
        a->sin6_scope_id = if_nametoindex(pct + 1);
        if (a->sin6_scope_id == 0) a->sin6_scope_id = (uint32_t)strtoul(pct + 1, NULL, 10);
      }
      if (inet_pton(AF_INET6, addr, &a->sin6_addr) != 1) { err = EINVAL; what = "bad IPv6 bind address"; }
      sl = sizeof *a;
    }
    if (!err && bind(fd, (struct sockaddr *)&ss, sl) < 0) { err = errno; what = "bind"; }
  }
  if (err) {
    close(fd);
    free(s);
    return throw_errno(env, what, err);
  }

  uv_loop_t *loop = NULL;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || uv_poll_init(loop, &s->poll, fd) != 0) {
    close(fd);
    free(s);
    napi_throw_error(env, NULL, "uv_poll_init failed");
    return NULL;
  }
  s->poll.data = s;
  s->refs = 2;
  napi_create_reference(env, argv[5], 1, &s->cb);
  for (int i = 0; i < 6; i++) {
    napi_value b;
    napi_get_element(env, argv[4], (uint32_t)i, &b);
    napi_create_reference(env, b, 1, &s->buffers[i]);
  }
  napi_value resource_name, resource;
  napi_create_string_utf8(env, "TWAMPY_UDP", NAPI_AUTO_LENGTH, &resource_name);
  napi_create_object(env, &resource);
  napi_async_init(env, resource, resource_name, &s->actx);
  uv_poll_start(&s->poll, UV_READABLE, on_poll);
  napi_add_async_cleanup_hook(env, on_env_cleanup, s, &s->cleanup);

  napi_value ext;
  NAPI_CALL(env, napi_create_external(env, s, ext_finalize, NULL, &ext));
  return ext;
}

/* localAddress(h) -> [family, address, port] */
static napi_value js_local_address(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  tw_sock *s = get_sock(env, argv[0]);
  if (s == NULL) return NULL;
  if (s->closing) return throw_errno(env, "getsockname", EBADF);
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  if (getsockname(s->fd, (struct sockaddr *)&ss, &sl) < 0) return throw_errno(env, "getsockname", errno);
  char text[INET6_ADDRSTRLEN];
  int port = 0, fam = 4;
  if (ss.ss_family == AF_INET6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
    port = ntohs(a->sin6_port);
    fam = 6;
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
    port = ntohs(a->sin_port);
  }
  napi_value arr, e;
  napi_create_array_with_length(env, 3, &arr);
  napi_create_int32(env, fam, &e);
  napi_set_element(env, arr, 0, e);
  napi_create_string_latin1(env, text, NAPI_AUTO_LENGTH, &e);
  napi_set_element(env, arr, 1, e);
  napi_create_int32(env, port, &e);
  napi_set_element(env, arr, 2, e);
  return arr;
}

/* Builds the destination of queued datagram i; returns the sockaddr length, 0 when invalid. */
static socklen_t tx_dest(tw_sock *s, const int32_t *m, struct sockaddr_in6 *out) {
  const uint8_t *a = (const uint8_t *)&m[TM_ADDR];
  memset(out, 0, sizeof *out);
  if (s->family == AF_INET) {
    if (m[TM_FAMILY] != 4) return 0;
    struct sockaddr_in *o = (struct sockaddr_in *)out;
    o->sin_family = AF_INET;
    o->sin_port = htons((uint16_t)m[TM_PORT]);
    memcpy(&o->sin_addr, a, 4);
    return sizeof *o;
  }
  out->sin6_family = AF_INET6;
  out->sin6_port = htons((uint16_t)m[TM_PORT]);
  if (m[TM_FAMILY] == 4) {
    /* An IPv4 destination from a dual-stack socket goes out as an IPv4-mapped address. */
    out->sin6_addr.s6_addr[10] = 0xff;
    out->sin6_addr.s6_addr[11] = 0xff;
    memcpy(&out->sin6_addr.s6_addr[12], a, 4);
  } else {
    memcpy(&out->sin6_addr, a, 16);
    out->sin6_scope_id = (uint32_t)m[TM_SCOPE];
  }
  return sizeof *out;
}

/* flush(h, count): sends queued datagrams 0..count-1 with sendmmsg; writes the outcome to the
 * status area: [consumed, again, nerr, (index, errno)...]. A datagram that fails (EMSGSIZE under
 * Don't Fragment, ENETUNREACH, ...) is reported and skipped; EAGAIN stops and reports `again`. */
static napi_value js_flush(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  tw_sock *s = get_sock(env, argv[0]);
  if (s == NULL) return NULL;
  int32_t count = 0;
  napi_get_value_int32(env, argv[1], &count);
  int32_t *st = s->tx_status;
  st[0] = 0;
  st[1] = 0;
  st[2] = 0;
  if (s->closing || count <= 0) return NULL;
  if (count > TW_TX_MAX) count = TW_TX_MAX;

  for (int i = 0; i < count; i++) {
    const int32_t *m = s->tx_meta + (size_t)i * TW_TX_META;
    struct msghdr *h = &s->tx_msgs[i].msg_hdr;
    memset(h, 0, sizeof *h);
    int32_t off = m[TM_OFFSET], len = m[TM_LEN];
    if (off < 0 || len < 0 || (int64_t)off + len > TW_TX_BYTES) off = 0, len = 0;
    s->tx_iov[i].iov_base = s->tx_data + off;
    s->tx_iov[i].iov_len = (size_t)len;
    h->msg_iov = &s->tx_iov[i];
    h->msg_iovlen = 1;
    h->msg_name = &s->tx_addr[i];
    h->msg_namelen = tx_dest(s, m, &s->tx_addr[i]);
    if (m[TM_TOS] >= 0) {
      /* Per-packet TOS (e.g. a reflector copying the request's DSCP) as ancillary data. */
      h->msg_control = s->tx_ctl[i];
      h->msg_controllen = CMSG_SPACE(sizeof(int));
      struct cmsghdr *c = CMSG_FIRSTHDR(h);
      int v6dest = s->family == AF_INET6 && m[TM_FAMILY] == 6;
      c->cmsg_level = v6dest ? IPPROTO_IPV6 : IPPROTO_IP;
      c->cmsg_type = v6dest ? IPV6_TCLASS : IP_TOS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      int tos = m[TM_TOS] & 0xff;
      memcpy(CMSG_DATA(c), &tos, sizeof tos);
    }
  }

  int i = 0;
  while (i < count) {
    if (s->tx_msgs[i].msg_hdr.msg_namelen == 0) {
      if (st[2] < TW_TX_MAXERR) {
        st[3 + 2 * st[2]] = i;
        st[4 + 2 * st[2]] = EAFNOSUPPORT;
        st[2]++;
      }
      i++;
      continue;
    }
    int r = sendmmsg(s->fd, &s->tx_msgs[i], (unsigned)(count - i), MSG_DONTWAIT);
    if (r > 0) {
      i += r;
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
      st[1] = 1;
      break;
    }
    if (st[2] < TW_TX_MAXERR) {
      st[3 + 2 * st[2]] = i;
      st[4 + 2 * st[2]] = r < 0 ? errno : EIO;
      st[2]++;
    }
    i++;
  }
  st[0] = i;
  return NULL;
}

/* wantWritable(h, bool): also poll for writability while a flush is held back by EAGAIN. */
static napi_value js_want_writable(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  tw_sock *s = get_sock(env, argv[0]);
  if (s == NULL) return NULL;
  bool on = false;
  napi_get_value_bool(env, argv[1], &on);
  if (!s->closing && (int)on != s->want_writable) {
    s->want_writable = on;
    uv_poll_start(&s->poll, on ? (UV_READABLE | UV_WRITABLE) : UV_READABLE, on_poll);
  }
  return NULL;
}

/* setOption(h, name, value): name 0 = TOS, 1 = TTL, 2 = Don't Fragment. */
static napi_value js_set_option(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  tw_sock *s = get_sock(env, argv[0]);
  if (s == NULL) return NULL;
  int32_t name = -1, value = 0;
  napi_get_value_int32(env, argv[1], &name);
  napi_get_value_int32(env, argv[2], &value);
  if (s->closing) return throw_errno(env, "setsockopt", EBADF);
  int r = name == 0 ? apply_tos(s, value) : name == 1 ? apply_ttl(s, value) : name == 2 ? apply_df(s, value) : (errno = EINVAL, -1);
  if (r < 0) return throw_errno(env, "setsockopt", errno);
  return NULL;
}

static void on_closed(uv_handle_t *handle) {
  tw_sock *s = (tw_sock *)handle->data;
  napi_env env = s->env;
  napi_handle_scope scope;
  close(s->fd);
  s->fd = -1;
  if (!s->env_gone && napi_open_handle_scope(env, &scope) == napi_ok) {
    call_js(s, EV_CLOSED, 0);
    napi_close_handle_scope(env, scope);
  }
  if (s->cleanup != NULL) {
    /* Tells Node this socket's teardown is complete (also on a normal close). */
    napi_remove_async_cleanup_hook(s->cleanup);
    s->cleanup = NULL;
  }
  napi_delete_reference(env, s->cb);
  s->cb = NULL;
  for (int i = 0; i < 6; i++) napi_delete_reference(env, s->buffers[i]);
  napi_async_destroy(env, s->actx);
  sock_unref(s);
}

/* Environment teardown (a worker thread exiting with the socket open): close the poll handle so
 * the worker's loop can close, and finish in on_closed. Without this Node aborts the process with
 * "uv_loop_close() while having open handles". */
static void on_env_cleanup(napi_async_cleanup_hook_handle handle, void *arg) {
  tw_sock *s = (tw_sock *)arg;
  (void)handle;
  s->env_gone = 1;
  if (!s->closing) {
    s->closing = 1;
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, on_closed);
  }
}

/* close(h): stops polling and closes the fd; the callback gets EV_CLOSED once libuv is done. */
static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  tw_sock *s = get_sock(env, argv[0]);
  if (s == NULL) return NULL;
  if (!s->closing) {
    s->closing = 1;
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, on_closed);
  }
  return NULL;
}

/* parseAddress(text) -> [family, Buffer(16), scope] or null. */
static napi_value js_parse_address(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out = NULL;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char text[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  size_t len = 0;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], text, sizeof text, &len) != napi_ok ||
      len >= sizeof text - 1) {
    napi_get_null(env, &out);
    return out;
  }
  uint8_t bytes[16];
  memset(bytes, 0, sizeof bytes);
  int fam = 0;
  uint32_t scope = 0;
  if (inet_pton(AF_INET, text, bytes) == 1) {
    fam = 4;
  } else {
    char *pct = strchr(text, '%');
    if (pct != NULL) {
      *pct = 0;
      scope = if_nametoindex(pct + 1);
      if (scope == 0) {
        char *end = NULL;
        scope = (uint32_t)strtoul(pct + 1, &end, 10);
        if (end == pct + 1 || *end != 0) scope = UINT32_MAX;
      }
    }
    if (scope != UINT32_MAX && inet_pton(AF_INET6, text, bytes) == 1) {
      fam = 6;
      if (IN6_IS_ADDR_V4MAPPED((struct in6_addr *)bytes)) {
        memmove(bytes, bytes + 12, 4);
        memset(bytes + 4, 0, 12);
        fam = 4;
      }
    }
  }
  if (fam == 0) {
    napi_get_null(env, &out);
    return out;
  }
  napi_value f, b, sc;
  void *data;
  napi_create_int32(env, fam, &f);
  napi_create_buffer_copy(env, 16, bytes, &data, &b);
  napi_create_uint32(env, scope, &sc);
  napi_create_array_with_length(env, 3, &out);
  napi_set_element(env, out, 0, f);
  napi_set_element(env, out, 1, b);
  napi_set_element(env, out, 2, sc);
  return out;
}

static void unmap_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  munmap(data, (size_t)(uintptr_t)hint);
}

/* allocBuffer(bytes) -> ArrayBuffer on its own anonymous mapping. For the large receive slots and
 * send arena: pages are zero-filled on first touch, so resident memory follows the datagram sizes
 * actually seen, and munmap returns everything to the system when the buffer is collected (a
 * malloc'd buffer would be zeroed up front by calloc once glibc's mmap threshold has grown, and
 * stay resident in the heap after free). */
static napi_value js_alloc_buffer(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int64_t want = 0;
  if (argc < 1 || napi_get_value_int64(env, argv[0], &want) != napi_ok || want <= 0 || want > (1LL << 30)) {
    napi_throw_range_error(env, NULL, "allocBuffer: size must be 1..2^30");
    return NULL;
  }
  long page = sysconf(_SC_PAGESIZE);
  size_t mapped = ((size_t)want + (size_t)page - 1) / (size_t)page * (size_t)page;
  void *p = mmap(NULL, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return throw_errno(env, "mmap", errno);
  if (napi_create_external_arraybuffer(env, p, (size_t)want, unmap_finalize, (void *)(uintptr_t)mapped, &out) != napi_ok) {
    munmap(p, mapped);
    napi_throw_error(env, NULL, "napi_create_external_arraybuffer failed");
    return NULL;
  }
  return out;
}

/* setRxOffset(h, bigint): offset added to receive stamps from now on (see native.ts, ClockBridge). */
static napi_value js_set_rx_offset(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  tw_sock *s = get_sock(env, argv[0]);
  if (s == NULL) return NULL;
  int64_t v = 0;
  bool lossless = false;
  if (napi_get_value_bigint_int64(env, argv[1], &v, &lossless) != napi_ok || !lossless) {
    napi_throw_range_error(env, NULL, "setRxOffset: offset must be a bigint in int64 range");
    return NULL;
  }
  s->rx_offset = v;
  return NULL;
}

/* realtimeNs() -> bigint CLOCK_REALTIME, the clock the kernel stamps packets with. */
static napi_value js_realtime_ns(napi_env env, napi_callback_info info) {
  (void)info;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  napi_value out;
  napi_create_bigint_int64(env, (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec, &out);
  return out;
}

static void export_fn(napi_env env, napi_value exports, const char *name, napi_callback cb) {
  napi_value fn;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, NULL, &fn);
  napi_set_named_property(env, exports, name, fn);
}

static void export_int(napi_env env, napi_value exports, const char *name, int32_t v) {
  napi_value n;
  napi_create_int32(env, v, &n);
  napi_set_named_property(env, exports, name, n);
}

static napi_value init(napi_env env, napi_value exports) {
  export_fn(env, exports, "open", js_open);
  export_fn(env, exports, "localAddress", js_local_address);
  export_fn(env, exports, "flush", js_flush);
  export_fn(env, exports, "wantWritable", js_want_writable);
  export_fn(env, exports, "setOption", js_set_option);
  export_fn(env, exports, "close", js_close);
  export_fn(env, exports, "parseAddress", js_parse_address);
  export_fn(env, exports, "realtimeNs", js_realtime_ns);
  export_fn(env, exports, "allocBuffer", js_alloc_buffer);
  export_fn(env, exports, "setRxOffset", js_set_rx_offset);
  export_int(env, exports, "ABI", TW_ABI);
  export_int(env, exports, "RX_BATCH", TW_RX_BATCH);
  export_int(env, exports, "RX_SLOT", TW_RX_SLOT);
  export_int(env, exports, "RX_META", TW_RX_META);
  export_int(env, exports, "RX_TEXT", TW_RX_TEXT);
  export_int(env, exports, "TX_MAX", TW_TX_MAX);
  export_int(env, exports, "TX_BYTES", TW_TX_BYTES);
  export_int(env, exports, "TX_META", TW_TX_META);
  export_int(env, exports, "TX_STATUS", TW_TX_STATUS);
  return exports;
}

#ifndef NODE_GYP_MODULE_NAME
#define NODE_GYP_MODULE_NAME twampy_native
#endif
NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
