/* Fixture "fixture_skip_hooks": config_skip_hooks (ABI 1.2). Every hook is in
 * the table; the config's "skip" (a decimal mask of GW_HOOK_* bits) says which
 * this filter does without, and each hook leaves a visible trace when called:
 *   on_request_headers   sets request header "x-skip-request-headers: 1", and
 *                        "x-skip-late-call: wrong-context" when config_skip_hooks
 *                        called from a hook is refused (as it must be)
 *   on_request_body      replaces every 'a' by 'b' in each chunk
 *   on_response_headers  sets "x-skip-response-headers: 1"
 *   on_response_body     replaces every 'x' by 'y' in each chunk
 * config_new also tries the call on a host that may lack the slot (GW_HAS_FIELD),
 * as a plugin built against 1.2 must. */
#include <stdlib.h>
#include <string.h>

#include "gw_plugin.h"

static const gw_host_v1 *g_host;
/* The last config handle, to show that config_skip_hooks is refused after config_new. */
static gw_config_handle *g_config;

static void *config_new(void *state, gw_config_handle *c, gw_str filter_name, gw_bytes config) {
  (void)state;
  (void)filter_name;
  uint64_t skip = 0;
  const char *key = "\"skip\":";
  size_t key_len = strlen(key);
  for (size_t i = 0; i + key_len <= config.len; i++) {
    if (memcmp(config.ptr + i, key, key_len) != 0) continue;
    for (size_t j = i + key_len; j < config.len && config.ptr[j] >= '0' && config.ptr[j] <= '9'; j++)
      skip = skip * 10 + (uint64_t)(config.ptr[j] - '0');
    break;
  }
  if (skip != 0) {
    if (!GW_HAS_FIELD(g_host, gw_host_v1, config_skip_hooks) || g_host->config_skip_hooks == NULL) {
      g_host->config_error(c, (gw_str)GW_STR("this host has no config_skip_hooks"));
      return NULL;
    }
    if (g_host->config_skip_hooks(c, skip) != GW_OK) return NULL;
  }
  g_config = c;
  static int token;
  return &token;
}
static void config_destroy(void *config) { (void)config; }
static void *filter_new(void *config, gw_stream *s) { (void)s; return config; }
static void filter_destroy(void *filter) { (void)filter; }

static gw_status replace_byte(gw_stream *s, gw_direction dir, uint8_t from, uint8_t to) {
  gw_bytes body;
  if (g_host->body_get(s, dir, &body) != GW_OK || body.len == 0) return GW_CONTINUE;
  uint8_t *copy = malloc(body.len);
  if (copy == NULL) return GW_CONTINUE;
  memcpy(copy, body.ptr, body.len);
  for (size_t i = 0; i < body.len; i++)
    if (copy[i] == from) copy[i] = to;
  g_host->body_replace(s, dir, (gw_bytes){copy, body.len});
  free(copy);
  return GW_CONTINUE;
}

static gw_status on_request_headers(void *f, gw_stream *s, bool end_of_stream) {
  (void)f;
  (void)end_of_stream;
  g_host->header_set(s, GW_REQUEST, (gw_str)GW_STR("x-skip-request-headers"), (gw_str)GW_STR("1"));
  /* Too late: outside config_new the call is refused and changes nothing. */
  gw_result late = g_host->config_skip_hooks(g_config, GW_HOOK_RESPONSE_HEADERS | GW_HOOK_RESPONSE_BODY);
  g_host->header_set(s, GW_REQUEST, (gw_str)GW_STR("x-skip-late-call"),
                     late == GW_E_WRONG_CONTEXT ? (gw_str)GW_STR("wrong-context") : (gw_str)GW_STR("accepted"));
  return GW_CONTINUE;
}

static gw_status on_request_body(void *f, gw_stream *s, gw_bytes chunk, bool end_of_stream) {
  (void)f;
  (void)chunk;
  (void)end_of_stream;
  return replace_byte(s, GW_REQUEST, 'a', 'b');
}

static gw_status on_response_headers(void *f, gw_stream *s, bool end_of_stream) {
  (void)f;
  (void)end_of_stream;
  g_host->header_set(s, GW_RESPONSE, (gw_str)GW_STR("x-skip-response-headers"), (gw_str)GW_STR("1"));
  return GW_CONTINUE;
}

static gw_status on_response_body(void *f, gw_stream *s, gw_bytes chunk, bool end_of_stream) {
  (void)f;
  (void)chunk;
  (void)end_of_stream;
  return replace_byte(s, GW_RESPONSE, 'x', 'y');
}

static const gw_plugin_v1 descriptor = {
    .struct_size = sizeof(gw_plugin_v1),
    .abi_major = GW_ABI_MAJOR,
    .abi_minor = GW_ABI_MINOR,
    .name = GW_STR("fixture_skip_hooks"),
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
