/* Fixture "fixture_header_names": what the header and request-line setters accept.
 *   on_request_headers  tries header_set / header_add / header_remove with valid
 *                       and invalid names, and reports each result code in the
 *                       request header "x-results" (comma-separated); then
 *                       attribute_set of the path, query and authority with values
 *                       that would garble the request line or Host, in "x-attr-results". */
#include <stdio.h>
#include <string.h>

#include "gw_plugin.h"

static const gw_host_v1 *g_host;

static void *config_new(void *state, gw_config_handle *c, gw_str filter_name, gw_bytes config) {
  (void)state; (void)c; (void)filter_name; (void)config;
  static int token;
  return &token;
}
static void config_destroy(void *config) { (void)config; }
static void *filter_new(void *config, gw_stream *s) { (void)s; return config; }
static void filter_destroy(void *filter) { (void)filter; }

#define STR(literal) ((gw_str){literal, sizeof(literal) - 1})

static gw_status on_request_headers(void *f, gw_stream *s, bool eos) {
  (void)f; (void)eos;
  gw_result r[8];
  r[0] = g_host->header_set(s, GW_REQUEST, STR("x-dup"), STR("z"));          /* replaces both values */
  r[1] = g_host->header_set(s, GW_REQUEST, STR("bad name"), STR("v"));       /* space */
  r[2] = g_host->header_set(s, GW_REQUEST, STR("x:y"), STR("v"));            /* colon */
  r[3] = g_host->header_set(s, GW_REQUEST, STR("\xc3\xbc"), STR("v"));       /* outside ASCII */
  r[4] = g_host->header_add(s, GW_REQUEST, STR(""), STR("v"));               /* empty */
  r[5] = g_host->header_add(s, GW_REQUEST, STR("x-new"), STR("1"));
  r[6] = g_host->header_remove(s, GW_REQUEST, STR("x-absent"));              /* absent: still OK */
  r[7] = g_host->header_remove(s, GW_REQUEST, STR("X-GONE"));                /* any case */
  char text[64];
  int n = snprintf(text, sizeof text, "%d,%d,%d,%d,%d,%d,%d,%d", r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
  g_host->header_set(s, GW_REQUEST, STR("x-results"), (gw_str){text, (size_t)n});
  gw_result a[6];
  a[0] = g_host->attribute_set(s, GW_ATTR_PATH, STR("/a\tb"));        /* tab: splits the request line */
  a[1] = g_host->attribute_set(s, GW_ATTR_PATH, STR("/a#b"));         /* fragment */
  a[2] = g_host->attribute_set(s, GW_ATTR_QUERY, STR("a=\x7f"));      /* DEL */
  a[3] = g_host->attribute_set(s, GW_ATTR_QUERY, STR("a=\xc3\xbc"));  /* outside ASCII */
  a[4] = g_host->attribute_set(s, GW_ATTR_AUTHORITY, STR("evil/x"));  /* a path in Host */
  a[5] = g_host->attribute_set(s, GW_ATTR_QUERY, STR("ok=1"));        /* valid */
  n = snprintf(text, sizeof text, "%d,%d,%d,%d,%d,%d", a[0], a[1], a[2], a[3], a[4], a[5]);
  g_host->header_set(s, GW_REQUEST, STR("x-attr-results"), (gw_str){text, (size_t)n});
  return GW_CONTINUE;
}

static const gw_plugin_v1 descriptor = {
    .struct_size = sizeof(gw_plugin_v1),
    .abi_major = GW_ABI_MAJOR,
    .abi_minor = GW_ABI_MINOR,
    .name = GW_STR("fixture_header_names"),
    .version = GW_STR("0.0.1"),
    .build_info = GW_STR("lang=c fixture"),
    .config_new = config_new,
    .config_destroy = config_destroy,
    .filter_new = filter_new,
    .filter_destroy = filter_destroy,
    .on_request_headers = on_request_headers,
};

GW_EXPORT const gw_plugin_v1 *gw_plugin_entry_v1(const gw_host_v1 *host, gw_plugin_handle *p) {
  (void)p;
  if (host->abi_major != GW_ABI_MAJOR) return NULL;
  g_host = host;
  return &descriptor;
}
