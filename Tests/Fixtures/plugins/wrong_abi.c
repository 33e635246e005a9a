/* Fixture "fixture_wrong_abi": a well-formed descriptor that claims ABI major 2.
 * The host must refuse to load it (abi_major != 1), even though the entry
 * symbol is the v1 one and every required slot is present. */
#include "gw_plugin.h"

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
    .abi_major = 2, /* the point of this fixture */
    .abi_minor = GW_ABI_MINOR,
    .name = GW_STR("fixture_wrong_abi"),
    .version = GW_STR("0.0.1"),
    .build_info = GW_STR("lang=c fixture"),
    .config_new = config_new,
    .config_destroy = config_destroy,
    .filter_new = filter_new,
    .filter_destroy = filter_destroy,
};

GW_EXPORT const gw_plugin_v1 *gw_plugin_entry_v1(const gw_host_v1 *host, gw_plugin_handle *p) {
  (void)host;
  (void)p;
  return &descriptor;
}
