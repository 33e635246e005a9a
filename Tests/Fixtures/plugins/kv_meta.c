/* Fixture "fixture_kv_meta": shared KV, per-stream metadata and attributes.
 *   on_request_headers   kv_incr("hits") -> request header "x-hits: <n>";
 *                        metadata fixture/seen = "yes";
 *                        route name -> "x-route", request id -> "x-seen-request-id"
 *   on_response_headers  metadata fixture/seen -> response "x-meta-seen" */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_plugin.h"

static const gw_host_v1 *g_host;
static gw_plugin_handle *g_plugin;

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

/* Copy an attribute into a request header. The attribute view is hook-borrowed
 * and may live in the very header map we are about to mutate (the request id
 * is a header), so copy it to our own memory first. */
static void attribute_to_header(gw_stream *s, gw_attribute attr, gw_str header) {
  gw_str v;
  if (g_host->attribute_get(s, attr, &v) != GW_OK) return;
  char *copy = malloc(v.len + 1);
  if (copy == NULL) return;
  if (v.len) memcpy(copy, v.ptr, v.len);
  g_host->header_set(s, GW_REQUEST, header, (gw_str){copy, v.len});
  free(copy);
}

static gw_status on_request_headers(void *f, gw_stream *s, bool end_of_stream) {
  (void)f;
  (void)end_of_stream;
  int64_t hits = 0;
  if (g_host->kv_incr(g_plugin, (gw_str)GW_STR("hits"), 1, 0, &hits) == GW_OK) {
    char buf[24];
    int n = snprintf(buf, sizeof buf, "%lld", (long long)hits);
    if (n > 0) g_host->header_set(s, GW_REQUEST, (gw_str)GW_STR("x-hits"), (gw_str){buf, (size_t)n});
  }
  static const uint8_t yes[] = {'y', 'e', 's'};
  g_host->metadata_set(s, (gw_str)GW_STR("fixture"), (gw_str)GW_STR("seen"), (gw_bytes){yes, sizeof yes});
  attribute_to_header(s, GW_ATTR_ROUTE_NAME, (gw_str)GW_STR("x-route"));
  attribute_to_header(s, GW_ATTR_REQUEST_ID, (gw_str)GW_STR("x-seen-request-id"));
  return GW_CONTINUE;
}

static gw_status on_response_headers(void *f, gw_stream *s, bool end_of_stream) {
  (void)f;
  (void)end_of_stream;
  gw_bytes seen; /* hook-borrowed; the metadata map is not the header map */
  if (g_host->metadata_get(s, (gw_str)GW_STR("fixture"), (gw_str)GW_STR("seen"), &seen) == GW_OK)
    g_host->header_set(s, GW_RESPONSE, (gw_str)GW_STR("x-meta-seen"),
                       (gw_str){(const char *)seen.ptr, seen.len});
  return GW_CONTINUE;
}

static const gw_plugin_v1 descriptor = {
    .struct_size = sizeof(gw_plugin_v1),
    .abi_major = GW_ABI_MAJOR,
    .abi_minor = GW_ABI_MINOR,
    .name = GW_STR("fixture_kv_meta"),
    .version = GW_STR("0.0.1"),
    .build_info = GW_STR("lang=c fixture"),
    .required_features = GW_FEATURE_SHARED_KV,
    .config_new = config_new,
    .config_destroy = config_destroy,
    .filter_new = filter_new,
    .filter_destroy = filter_destroy,
    .on_request_headers = on_request_headers,
    .on_response_headers = on_response_headers,
};

GW_EXPORT const gw_plugin_v1 *gw_plugin_entry_v1(const gw_host_v1 *host, gw_plugin_handle *p) {
  if (host->abi_major != GW_ABI_MAJOR) return NULL;
  g_host = host;
  g_plugin = p;
  return &descriptor;
}
