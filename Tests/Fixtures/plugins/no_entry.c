/* Fixture "fixture_no_entry": a valid shared library without gw_plugin_entry_v1.
 * It exports gw_plugin_entry_v0 instead (a name the host never looks up), so
 * the host must fail the load with a "missing entry symbol" error. */
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
    .abi_major = GW_ABI_MAJOR,
    .abi_minor = GW_ABI_MINOR,
    .name = GW_STR("fixture_no_entry"),
    .version = GW_STR("0.0.1"),
    .build_info = GW_STR("lang=c fixture"),
    .config_new = config_new,
    .config_destroy = config_destroy,
    .filter_new = filter_new,
    .filter_destroy = filter_destroy,
};

/* Deliberately the wrong name. Declared here because no header declares it. */
GW_EXPORT const gw_plugin_v1 *gw_plugin_entry_v0(const gw_host_v1 *host, gw_plugin_handle *p);
GW_EXPORT const gw_plugin_v1 *gw_plugin_entry_v0(const gw_host_v1 *host, gw_plugin_handle *p) {
  (void)host;
  (void)p;
  return &descriptor;
}
