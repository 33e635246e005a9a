/* Fixture "fixture_async_pause": pauses every request and resumes it from a
 * thread of its own, after `delay_ms` (config, default 20).
 *
 *   on_request_headers   sets "x-paused: 1", takes a gw_async handle, starts a
 *                        detached thread and returns GW_PAUSE.
 *   the thread           sleeps, then either async_resume (request header
 *                        "x-resume-mode: direct") or async_post(event 42),
 *                        then async_release. It touches only the gw_async
 *                        handle and its own job struct: never `s`, never the
 *                        filter (the stream may be gone by then).
 *   on_async_event(42)   sets "x-resumed-by: async-event", stream_continue.
 *   on_response_headers  sets "x-async-plugin: 1".
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw_plugin.h"

#define RESUME_EVENT 42

static const gw_host_v1 *g_host;
static gw_plugin_handle *g_plugin;

typedef struct config {
  unsigned delay_ms;
} config;

/* Per-stream state, owned by the loop thread. */
typedef struct filter {
  const config *cfg;
  bool direct; /* request said x-resume-mode: direct */
} filter;

/* What the thread owns: a copy of what it needs, freed by the thread. */
typedef struct job {
  gw_async *async;
  unsigned delay_ms;
  bool direct;
} job;

/* Simple scan for "delay_ms": <digits>; anything unexpected keeps the default. */
static unsigned parse_delay_ms(gw_bytes cfg) {
  static const char key[] = "\"delay_ms\"";
  const size_t klen = sizeof key - 1;
  for (size_t i = 0; cfg.ptr != NULL && i + klen <= cfg.len; i++) {
    if (memcmp(cfg.ptr + i, key, klen) != 0) continue;
    size_t j = i + klen;
    while (j < cfg.len && (cfg.ptr[j] == ' ' || cfg.ptr[j] == ':')) j++;
    unsigned v = 0;
    size_t digits = 0;
    while (j < cfg.len && cfg.ptr[j] >= '0' && cfg.ptr[j] <= '9' && digits < 7) {
      v = v * 10 + (unsigned)(cfg.ptr[j++] - '0');
      digits++;
    }
    return digits > 0 ? v : 20;
  }
  return 20;
}

static void *config_new(void *state, gw_config_handle *c, gw_str filter_name, gw_bytes cfg) {
  (void)state;
  (void)filter_name;
  config *conf = malloc(sizeof *conf);
  if (conf == NULL) {
    g_host->config_error(c, (gw_str)GW_STR("out of memory"));
    return NULL;
  }
  conf->delay_ms = parse_delay_ms(cfg);
  return conf;
}
static void config_destroy(void *cfg) { free(cfg); }

static void *filter_new(void *cfg, gw_stream *s) {
  (void)s;
  filter *f = calloc(1, sizeof *f);
  if (f != NULL) f->cfg = cfg;
  return f; /* NULL is reported by the host as a plugin failure */
}
static void filter_destroy(void *f) { free(f); }

/* [ANY] The worker: uses the gw_async handle only. */
static void *worker(void *arg) {
  job *j = arg;
  struct timespec ts = {(time_t)(j->delay_ms / 1000), (long)(j->delay_ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
  if (j->direct)
    g_host->async_resume(j->async);
  else
    g_host->async_post(j->async, RESUME_EVENT, NULL, 0);
  /* GW_E_STREAM_GONE above is fine: the stream finished, nothing to do. */
  g_host->async_release(j->async);
  free(j);
  return NULL;
}

static gw_status on_request_headers(void *fp, gw_stream *s, bool end_of_stream) {
  (void)end_of_stream;
  filter *f = fp;
  gw_str mode; /* hook-borrowed: compare now, keep only the answer */
  f->direct = g_host->header_get(s, GW_REQUEST, (gw_str)GW_STR("x-resume-mode"), 0, &mode, NULL) == GW_OK &&
              mode.len == 6 && memcmp(mode.ptr, "direct", 6) == 0;
  g_host->header_set(s, GW_REQUEST, (gw_str)GW_STR("x-paused"), (gw_str)GW_STR("1"));

  job *j = malloc(sizeof *j);
  if (j == NULL) return GW_CONTINUE;
  j->async = g_host->async_acquire(s);
  if (j->async == NULL) { /* the stream is finishing */
    free(j);
    return GW_CONTINUE;
  }
  j->delay_ms = f->cfg->delay_ms;
  j->direct = f->direct;

  pthread_attr_t attr;
  pthread_t tid;
  int rc = pthread_attr_init(&attr);
  if (rc == 0) {
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&tid, &attr, worker, j);
    pthread_attr_destroy(&attr);
  }
  if (rc != 0) { /* no thread: do not pause, log it */
    g_host->async_release(j->async);
    free(j);
    g_host->log(g_plugin, GW_LOG_ERROR, (gw_str)GW_STR("pthread_create failed; not pausing"));
    return GW_CONTINUE;
  }
  return GW_PAUSE;
}

static void on_async_event(void *fp, gw_stream *s, uint64_t event_id, void *data) {
  (void)fp;
  (void)data;
  if (event_id != RESUME_EVENT) return;
  g_host->header_set(s, GW_REQUEST, (gw_str)GW_STR("x-resumed-by"), (gw_str)GW_STR("async-event"));
  g_host->stream_continue(s);
}

static gw_status on_response_headers(void *fp, gw_stream *s, bool end_of_stream) {
  (void)fp;
  (void)end_of_stream;
  g_host->header_set(s, GW_RESPONSE, (gw_str)GW_STR("x-async-plugin"), (gw_str)GW_STR("1"));
  return GW_CONTINUE;
}

static const gw_plugin_v1 descriptor = {
    .struct_size = sizeof(gw_plugin_v1),
    .abi_major = GW_ABI_MAJOR,
    .abi_minor = GW_ABI_MINOR,
    .name = GW_STR("fixture_async_pause"),
    .version = GW_STR("0.0.1"),
    .build_info = GW_STR("lang=c fixture"),
    .config_new = config_new,
    .config_destroy = config_destroy,
    .filter_new = filter_new,
    .filter_destroy = filter_destroy,
    .on_request_headers = on_request_headers,
    .on_response_headers = on_response_headers,
    .on_async_event = on_async_event,
};

GW_EXPORT const gw_plugin_v1 *gw_plugin_entry_v1(const gw_host_v1 *host, gw_plugin_handle *p) {
  if (host->abi_major != GW_ABI_MAJOR) return NULL;
  g_host = host;
  g_plugin = p;
  return &descriptor;
}
