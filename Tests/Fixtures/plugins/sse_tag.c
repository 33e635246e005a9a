/* Fixture "fixture_sse_tag": rewrites Server-Sent Events (optional feature
 * GW_FEATURE_SSE_EVENTS; without it the host never calls the hook).
 *   data "[DROP]"   the event is dropped (replaced with nothing)
 *   otherwise       the event becomes  [event: <event>\n] data: tagged:<data>\n\n
 *                   (multi-line data keeps one "data:" line per line; the
 *                   "id:" and other fields are not kept)
 *   no data         (comments, the empty end-of-stream event) left alone */
#include <stdlib.h>
#include <string.h>

#include "gw_plugin.h"

static const gw_host_v1 *g_host;

static void *config_new(void *state, gw_config_handle *c, gw_str filter_name, gw_bytes config) {
  (void)state;
  (void)c;
  (void)filter_name;
  (void)config;
  static int token;
  return &token;
}
static void config_destroy(void *config) { (void)config; }
static void *filter_new(void *config, gw_stream *s) { (void)s; return config; }
static void filter_destroy(void *filter) { (void)filter; }

static size_t put(uint8_t *dst, size_t at, const void *src, size_t n) {
  if (n) memcpy(dst + at, src, n);
  return at + n;
}

static gw_status on_response_sse_event(void *f, gw_stream *s, const gw_sse_event *ev, bool end_of_stream) {
  (void)f;
  (void)end_of_stream;
  if (ev->data.len == 0) return GW_CONTINUE;
  if (ev->data.len == 6 && memcmp(ev->data.ptr, "[DROP]", 6) == 0) {
    g_host->body_replace(s, GW_RESPONSE, (gw_bytes){NULL, 0});
    return GW_CONTINUE;
  }
  /* Worst case: every data byte is '\n' and starts a new "data: " line. */
  size_t lines = 1;
  for (size_t i = 0; i < ev->data.len; i++) lines += ev->data.ptr[i] == '\n';
  size_t cap = 7 + ev->event.len + 1 + 13 + ev->data.len + lines * 6 + 2;
  uint8_t *out = malloc(cap);
  if (out == NULL) return GW_CONTINUE; /* leave the event unchanged */
  size_t n = 0;
  if (ev->event.len > 0) {
    n = put(out, n, "event: ", 7);
    n = put(out, n, ev->event.ptr, ev->event.len);
    n = put(out, n, "\n", 1);
  }
  n = put(out, n, "data: tagged:", 13);
  for (size_t i = 0; i < ev->data.len; i++) {
    out[n++] = ev->data.ptr[i];
    if (ev->data.ptr[i] == '\n') n = put(out, n, "data: ", 6);
  }
  n = put(out, n, "\n\n", 2);
  g_host->body_replace(s, GW_RESPONSE, (gw_bytes){out, n});
  free(out);
  return GW_CONTINUE;
}

static const gw_plugin_v1 descriptor = {
    .struct_size = sizeof(gw_plugin_v1),
    .abi_major = GW_ABI_MAJOR,
    .abi_minor = GW_ABI_MINOR,
    .name = GW_STR("fixture_sse_tag"),
    .version = GW_STR("0.0.1"),
    .build_info = GW_STR("lang=c fixture"),
    .optional_features = GW_FEATURE_SSE_EVENTS,
    .config_new = config_new,
    .config_destroy = config_destroy,
    .filter_new = filter_new,
    .filter_destroy = filter_destroy,
    .on_response_sse_event = on_response_sse_event,
};

GW_EXPORT const gw_plugin_v1 *gw_plugin_entry_v1(const gw_host_v1 *host, gw_plugin_handle *p) {
  (void)p;
  if (host->abi_major != GW_ABI_MAJOR) return NULL;
  g_host = host;
  return &descriptor;
}
