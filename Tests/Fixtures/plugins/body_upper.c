/* Fixture "fixture_body_upper": body access (requires request and response
 * body features).
 *   on_request_headers   GW_BUFFER: get the whole request body in one call
 *   on_request_body      upper-cases ASCII letters of the whole body
 *   on_response_headers  sets "x-body-upper: 1"
 *   on_response_body     streams; replaces every 'x' by 'y' in each chunk
 * Both rewrites keep the size, so Content-Length stays right. */
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

/* body_get -> private copy -> transform -> body_replace. The view from
 * body_get is hook-borrowed and dies with body_replace, hence the copy. */
static gw_status rewrite_body(gw_stream *s, gw_direction dir, void (*transform)(uint8_t *, size_t)) {
  gw_bytes body;
  if (g_host->body_get(s, dir, &body) != GW_OK || body.len == 0) return GW_CONTINUE;
  uint8_t *copy = malloc(body.len);
  if (copy == NULL) return GW_CONTINUE; /* leave the body alone */
  memcpy(copy, body.ptr, body.len);
  transform(copy, body.len);
  g_host->body_replace(s, dir, (gw_bytes){copy, body.len});
  free(copy); /* the host copied it */
  return GW_CONTINUE;
}

static void to_upper(uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i] >= 'a' && p[i] <= 'z') p[i] = (uint8_t)(p[i] - 'a' + 'A');
}

static void x_to_y(uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i] == 'x') p[i] = 'y';
}

static gw_status on_request_headers(void *f, gw_stream *s, bool end_of_stream) {
  (void)f;
  (void)s;
  /* No body follows: nothing to buffer. */
  return end_of_stream ? GW_CONTINUE : GW_BUFFER;
}

/* Called once, with end_of_stream = true, because the headers hook buffered. */
static gw_status on_request_body(void *f, gw_stream *s, gw_bytes chunk, bool end_of_stream) {
  (void)f;
  (void)chunk;
  (void)end_of_stream;
  return rewrite_body(s, GW_REQUEST, to_upper);
}

static gw_status on_response_headers(void *f, gw_stream *s, bool end_of_stream) {
  (void)f;
  (void)end_of_stream;
  g_host->header_set(s, GW_RESPONSE, (gw_str)GW_STR("x-body-upper"), (gw_str)GW_STR("1"));
  return GW_CONTINUE;
}

/* Called per chunk; GW_CONTINUE passes each (rewritten) chunk on at once. */
static gw_status on_response_body(void *f, gw_stream *s, gw_bytes chunk, bool end_of_stream) {
  (void)f;
  (void)chunk;
  (void)end_of_stream;
  return rewrite_body(s, GW_RESPONSE, x_to_y);
}

static const gw_plugin_v1 descriptor = {
    .struct_size = sizeof(gw_plugin_v1),
    .abi_major = GW_ABI_MAJOR,
    .abi_minor = GW_ABI_MINOR,
    .name = GW_STR("fixture_body_upper"),
    .version = GW_STR("0.0.1"),
    .build_info = GW_STR("lang=c fixture"),
    .required_features = GW_FEATURE_REQUEST_BODY | GW_FEATURE_RESPONSE_BODY,
    .config_new = config_new,
    .config_destroy = config_destroy,
    .filter_new = filter_new,
    .filter_destroy = filter_destroy,
    .on_request_headers = on_request_headers,
    .on_request_body = on_request_body,
    .on_response_headers = on_response_headers,
    .on_response_body = on_response_body,
};

GW_EXPORT const gw_plugin_v1 *gw_plugin_entry_v1(const gw_host_v1 *host, gw_plugin_handle *p) {
  (void)p;
  if (host->abi_major != GW_ABI_MAJOR) return NULL;
  g_host = host;
  return &descriptor;
}
