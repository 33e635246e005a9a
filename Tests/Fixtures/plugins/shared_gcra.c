/* Fixture "fixture_shared_gcra": the ABI 1.1 shared store from plain C.
 *
 *   on_request_headers  key = request header "x-key" (default "k").
 *                       "x-op: incr": shared_incr(key, +1, ttl 60 s);
 *                       "x-op: set": shared_set(key, header x-value, ttl 60 s), no event:
 *                       replies 200 "set" at once; "x-op: get": shared_get(key).
 *                       otherwise shared_gcra(key, 5 per minute, burst 5).
 *                       Returns GW_PAUSE; the answer comes as an async event.
 *   on_async_event      replies locally: 200 "admitted ahead_ms=N" / "value=N",
 *                       429 "refused wait_ms=N", 503 "unavailable",
 *                       get: 200 "got=<value>" or 404 "absent".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_plugin.h"

#define EVENT_GCRA 1
#define EVENT_INCR 2
#define EVENT_GET 3

static const gw_host_v1 *g_host;

static void *config_new(void *state, gw_config_handle *c, gw_str name, gw_bytes cfg) {
  (void)state; (void)name; (void)cfg;
  if (!GW_HAS_FIELD(g_host, gw_host_v1, shared_incr) || (g_host->features & GW_FEATURE_SHARED_STORE) == 0) {
    g_host->config_error(c, (gw_str)GW_STR("this host has no shared store (ABI 1.1)"));
    return NULL;
  }
  static int token;
  return &token;
}
static void config_destroy(void *cfg) { (void)cfg; }
static void *filter_new(void *cfg, gw_stream *s) { (void)s; return cfg; }
static void filter_destroy(void *f) { (void)f; }

static void reply(gw_stream *s, uint32_t status, const char *text) {
  g_host->send_local_reply(s, status, NULL, 0, (gw_bytes){(const uint8_t *)text, strlen(text)}, (gw_str)GW_STR(""));
}

static gw_status on_request_headers(void *fp, gw_stream *s, bool end_of_stream) {
  (void)fp; (void)end_of_stream;
  gw_str key = GW_STR("k");
  gw_str value;
  if (g_host->header_get(s, GW_REQUEST, (gw_str)GW_STR("x-key"), 0, &value, NULL) == GW_OK) key = value;
  gw_str op;
  int has_op = g_host->header_get(s, GW_REQUEST, (gw_str)GW_STR("x-op"), 0, &op, NULL) == GW_OK;
  int incr = has_op && op.len == 4 && memcmp(op.ptr, "incr", 4) == 0;
  gw_result rc;
  if (has_op && op.len == 3 && memcmp(op.ptr, "set", 3) == 0) {
    gw_str v = GW_STR("");
    g_host->header_get(s, GW_REQUEST, (gw_str)GW_STR("x-value"), 0, &v, NULL);
    rc = g_host->shared_set(s, key, (gw_bytes){(const uint8_t *)v.ptr, v.len}, 60000, 0);
    reply(s, rc == GW_OK ? 200 : 500, rc == GW_OK ? "set" : "set refused");
    return GW_STOP;
  }
  if (has_op && op.len == 3 && memcmp(op.ptr, "get", 3) == 0) {
    rc = g_host->shared_get(s, key, EVENT_GET);
  } else if (incr) {
    rc = g_host->shared_incr(s, key, 1, 60000, EVENT_INCR);
  } else {
    const uint64_t minute = 60ULL * 1000000000ULL;
    gw_gcra_limit limit = {minute / 5, minute}; /* 5 per minute, burst 5 */
    rc = g_host->shared_gcra(s, key, &limit, 1, 1, EVENT_GCRA);
  }
  if (rc != GW_OK) {
    reply(s, 500, "shared store call refused");
    return GW_STOP;
  }
  return GW_PAUSE;
}

static void on_async_event(void *fp, gw_stream *s, uint64_t event_id, void *data) {
  (void)fp;
  const gw_shared_result *r = data;
  char text[96];
  if (r == NULL || r->struct_size < sizeof(gw_shared_result)) {
    reply(s, 500, "no result");
    return;
  }
  if (r->status == GW_E_UNAVAILABLE) {
    reply(s, 503, "unavailable");
  } else if (event_id == EVENT_GET) {
    if (r->value == 1) {
      snprintf(text, sizeof text, "got=%.*s", (int)(r->data.len > 80 ? 80 : r->data.len), (const char *)r->data.ptr);
      reply(s, 200, text);
    } else {
      reply(s, 404, "absent");
    }
  } else if (event_id == EVENT_INCR) {
    snprintf(text, sizeof text, "value=%lld", (long long)r->value);
    reply(s, 200, text);
  } else if (r->value == 1 && r->count == 1 && r->ahead_ns != NULL) {
    snprintf(text, sizeof text, "admitted ahead_ms=%llu", (unsigned long long)(r->ahead_ns[0] / 1000000));
    reply(s, 200, text);
  } else {
    snprintf(text, sizeof text, "refused wait_ms=%llu by=%u", (unsigned long long)(r->wait_ns / 1000000), r->refused_by);
    reply(s, 429, text);
  }
}

static const gw_plugin_v1 descriptor = {
    .struct_size = sizeof(gw_plugin_v1),
    .abi_major = GW_ABI_MAJOR,
    .abi_minor = GW_ABI_MINOR,
    .name = GW_STR("fixture_shared_gcra"),
    .version = GW_STR("0.0.1"),
    .build_info = GW_STR("lang=c fixture"),
    .config_new = config_new,
    .config_destroy = config_destroy,
    .filter_new = filter_new,
    .filter_destroy = filter_destroy,
    .on_request_headers = on_request_headers,
    .on_async_event = on_async_event,
};

GW_EXPORT const gw_plugin_v1 *gw_plugin_entry_v1(const gw_host_v1 *host, gw_plugin_handle *p) {
  (void)p;
  if (host->abi_major != GW_ABI_MAJOR) return NULL;
  g_host = host;
  return &descriptor;
}
