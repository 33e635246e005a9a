/* Fixture "fixture_init_fails": plugin_init returns GW_E_INTERNAL, so the
 * load must fail after the descriptor was accepted and before any config_new. */
#include "gw_plugin.h"

static gw_result plugin_init(gw_plugin_handle *p, void **state_out) {
  (void)p;
  *state_out = NULL;
  return GW_E_INTERNAL; /* the point of this fixture */
}

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

static const gw_plugin_v1 descriptor = {
    .struct_size = sizeof(gw_plugin_v1),
    .abi_major = GW_ABI_MAJOR,
    .abi_minor = GW_ABI_MINOR,
    .name = GW_STR("fixture_init_fails"),
    .version = GW_STR("0.0.1"),
    .build_info = GW_STR("lang=c fixture"),
    .plugin_init = plugin_init,
    .config_new = config_new,
    .config_destroy = config_destroy,
    .filter_new = filter_new,
    .filter_destroy = filter_destroy,
};

GW_EXPORT const gw_plugin_v1 *gw_plugin_entry_v1(const gw_host_v1 *host, gw_plugin_handle *p) {
  (void)p;
  if (host->abi_major != GW_ABI_MAJOR) return NULL;
  return &descriptor;
}
