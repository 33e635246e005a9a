/* Fixture "fixture_reject_config": config_new refuses a config whose bytes
 * contain "limit":0 or "limit":- with the message
 * "limit must be a positive integer"; any other config is accepted. */
#include <string.h>

#include "gw_plugin.h"

static const gw_host_v1 *g_host;

/* True if `needle` occurs in the (not NUL-terminated) bytes. */
static bool contains(gw_bytes hay, const char *needle) {
  size_t n = strlen(needle);
  if (hay.ptr == NULL || hay.len < n) return false;
  for (size_t i = 0; i + n <= hay.len; i++)
    if (memcmp(hay.ptr + i, needle, n) == 0) return true;
  return false;
}

static void *config_new(void *state, gw_config_handle *c, gw_str filter_name, gw_bytes config) {
  (void)state;
  (void)filter_name;
  if (contains(config, "\"limit\":0") || contains(config, "\"limit\":-")) {
    g_host->config_error(c, (gw_str)GW_STR("limit must be a positive integer"));
    return NULL;
  }
  static int token; /* no state: any non-NULL pointer will do */
  return &token;
}
static void config_destroy(void *config) { (void)config; }
static void *filter_new(void *config, gw_stream *s) { (void)s; return config; }
static void filter_destroy(void *filter) { (void)filter; }

static const gw_plugin_v1 descriptor = {
    .struct_size = sizeof(gw_plugin_v1),
    .abi_major = GW_ABI_MAJOR,
    .abi_minor = GW_ABI_MINOR,
    .name = GW_STR("fixture_reject_config"),
    .version = GW_STR("0.0.1"),
    .build_info = GW_STR("lang=c fixture"),
    .config_new = config_new,
    .config_destroy = config_destroy,
    .filter_new = filter_new,
    .filter_destroy = filter_destroy,
};

GW_EXPORT const gw_plugin_v1 *gw_plugin_entry_v1(const gw_host_v1 *host, gw_plugin_handle *p) {
  (void)p;
  if (host->abi_major != GW_ABI_MAJOR) return NULL;
  g_host = host;
  return &descriptor;
}
