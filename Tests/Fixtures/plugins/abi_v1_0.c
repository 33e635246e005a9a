/* Fixture "fixture_abi_v1_0": built against the frozen 1.0 header
 * (Tests/Fixtures/ABI/gw_plugin_v1_0.h, compile with -I Tests/Fixtures/ABI).
 * It proves that a plugin built for ABI 1.0 still loads and runs in the
 * current host: it adds the response header "x-abi-v1-0: ok". */
#include "gw_plugin_v1_0.h"

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

static gw_status on_response_headers(void *filter, gw_stream *s, bool end_of_stream) {
  (void)filter;
  (void)end_of_stream;
  g_host->header_set(s, GW_RESPONSE, (gw_str)GW_STR("x-abi-v1-0"), (gw_str)GW_STR("ok"));
  return GW_CONTINUE;
}

static const gw_plugin_v1 descriptor = {
    .struct_size = sizeof(gw_plugin_v1), /* the 1.0 size, whatever the host's is */
    .abi_major = GW_ABI_MAJOR,
    .abi_minor = GW_ABI_MINOR, /* 0 in the frozen header */
    .name = GW_STR("fixture_abi_v1_0"),
    .version = GW_STR("1.0.0"),
    .build_info = GW_STR("lang=c abi=1.0-frozen"),
    .config_new = config_new,
    .config_destroy = config_destroy,
    .filter_new = filter_new,
    .filter_destroy = filter_destroy,
    .on_response_headers = on_response_headers,
};

GW_EXPORT const gw_plugin_v1 *gw_plugin_entry_v1(const gw_host_v1 *host, gw_plugin_handle *p) {
  (void)p;
  if (host->abi_major != GW_ABI_MAJOR) return NULL;
  g_host = host;
  return &descriptor;
}
