/* Compiles the ABI header as real C inside the package and freezes the v1.0
 * layout: any reorder or type change of a 1.0 field fails the build. */
#include "gw_plugin.h"

#define GW_CHECK_OFFSET(type, field, off) \
  _Static_assert(offsetof(type, field) == (off), #type "." #field " moved: ABI break")

GW_CHECK_OFFSET(gw_str, len, 8);
GW_CHECK_OFFSET(gw_header, value, 16);
GW_CHECK_OFFSET(gw_sse_event, data, 40);
GW_CHECK_OFFSET(gw_host_v1, features, 24);
GW_CHECK_OFFSET(gw_host_v1, log_enabled, 40);
GW_CHECK_OFFSET(gw_plugin_v1, required_features, 56);
GW_CHECK_OFFSET(gw_plugin_v1, plugin_init, 80);
GW_CHECK_OFFSET(gw_plugin_v1, config_new, 88);

/* A symbol so the object file is not empty. */
int gw_plugin_abi_check_v1_0(void) { return GW_ABI_MAJOR * 1000 + GW_ABI_MINOR; }
