/* Fixture "fixture_callout_metrics": HTTP call-outs, metrics and logging.
 *   config {"url": "http://127.0.0.1:PORT/path"}
 *   config_new           defines counter "fixture_requests_total" with label "route"
 *   on_request_headers   records 1 for the route, logs a line, starts a GET call-out
 *                        to `url`, returns GW_PAUSE
 *   on_callout_done      sets request headers "x-callout-status: <status>" and
 *                        "x-callout-body: <first 64 bytes of the body>" (or
 *                        "x-callout-result: <code>" on failure), then stream_continue */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_plugin.h"

static const gw_host_v1 *g_host;
static gw_plugin_handle *g_plugin;

typedef struct config {
  gw_config_handle *handle;
  uint32_t counter;
  char url[512];
  size_t url_len;
} config;

static void *config_new(void *state, gw_config_handle *c, gw_str filter_name, gw_bytes bytes) {
  (void)state;
  (void)filter_name;
  config *cfg = calloc(1, sizeof *cfg);
  if (cfg == NULL) return NULL;
  cfg->handle = c;
  /* Find "url":"..." with a plain scan (the test controls the config). */
  const char *text = (const char *)bytes.ptr;
  const char *key = "\"url\":\"";
  size_t key_len = strlen(key);
  for (size_t i = 0; bytes.len >= key_len && i + key_len <= bytes.len; i++) {
    if (memcmp(text + i, key, key_len) == 0) {
      size_t start = i + key_len, end = start;
      while (end < bytes.len && text[end] != '"') end++;
      if (end - start < sizeof cfg->url) {
        memcpy(cfg->url, text + start, end - start);
        cfg->url_len = end - start;
      }
      break;
    }
  }
  if (cfg->url_len == 0) {
    g_host->config_error(c, (gw_str)GW_STR("url is required"));
    free(cfg);
    return NULL;
  }
  gw_str label = GW_STR("route");
  if (g_host->metric_define(c, GW_METRIC_COUNTER, (gw_str)GW_STR("fixture_requests_total"), &label, 1, &cfg->counter) != GW_OK) {
    g_host->config_error(c, (gw_str)GW_STR("metric_define failed"));
    free(cfg);
    return NULL;
  }
  return cfg;
}
static void config_destroy(void *c) { free(c); }
static void *filter_new(void *c, gw_stream *s) { (void)s; return c; }
static void filter_destroy(void *f) { (void)f; }

static gw_status on_request_headers(void *f, gw_stream *s, bool end_of_stream) {
  (void)end_of_stream;
  config *cfg = f;
  gw_str route;
  if (g_host->attribute_get(s, GW_ATTR_ROUTE_NAME, &route) == GW_OK) {
    g_host->metric_record(cfg->handle, cfg->counter, &route, 1, 1.0);
  }
  g_host->log(g_plugin, GW_LOG_INFO, (gw_str)GW_STR("fixture_callout_metrics: calling out"));
  uint64_t id = 0;
  gw_result rc = g_host->http_callout(s, (gw_str)GW_STR("GET"), (gw_str){cfg->url, cfg->url_len}, NULL, 0,
                                      (gw_bytes){NULL, 0}, 2000, &id);
  if (rc != GW_OK) return GW_CONTINUE;
  return GW_PAUSE;
}

static void on_callout_done(void *f, gw_stream *s, uint64_t callout_id, gw_callout_result result, uint32_t status,
                            const gw_header *headers, size_t header_count, gw_bytes body) {
  (void)f;
  (void)callout_id;
  (void)headers;
  (void)header_count;
  char buf[80];
  if (result == GW_CALLOUT_OK) {
    int n = snprintf(buf, sizeof buf, "%u", status);
    g_host->header_set(s, GW_REQUEST, (gw_str)GW_STR("x-callout-status"), (gw_str){buf, (size_t)n});
    size_t len = body.len < 64 ? body.len : 64;
    char text[64];
    size_t out = 0;
    for (size_t i = 0; i < len; i++) {
      char ch = (char)body.ptr[i];
      if (ch >= 32 && ch < 127) text[out++] = ch;
    }
    g_host->header_set(s, GW_REQUEST, (gw_str)GW_STR("x-callout-body"), (gw_str){text, out});
  } else {
    int n = snprintf(buf, sizeof buf, "%d", (int)result);
    g_host->header_set(s, GW_REQUEST, (gw_str)GW_STR("x-callout-result"), (gw_str){buf, (size_t)n});
  }
  g_host->stream_continue(s);
}

static const gw_plugin_v1 descriptor = {
    .struct_size = sizeof(gw_plugin_v1),
    .abi_major = GW_ABI_MAJOR,
    .abi_minor = GW_ABI_MINOR,
    .name = GW_STR("fixture_callout_metrics"),
    .version = GW_STR("1.0.0"),
    .build_info = GW_STR("lang=c"),
    .required_features = GW_FEATURE_HTTP_CALLOUT | GW_FEATURE_METRICS,
    .config_new = config_new,
    .config_destroy = config_destroy,
    .filter_new = filter_new,
    .filter_destroy = filter_destroy,
    .on_request_headers = on_request_headers,
    .on_callout_done = on_callout_done,
};

GW_EXPORT const gw_plugin_v1 *gw_plugin_entry_v1(const gw_host_v1 *host, gw_plugin_handle *p) {
  if (host->abi_major != GW_ABI_MAJOR) return NULL;
  g_host = host;
  g_plugin = p;
  return &descriptor;
}
