/* `aantafel tenant ...`: the provider's commands for the registry. They
 * write through the owner role; every running daemon sees the change
 * through the registry's NOTIFY within moments, without a restart. */
#ifndef AANTAFEL_TENANT_CMD_H
#define AANTAFEL_TENANT_CMD_H

#include <stdbool.h>
#include <stddef.h>

/* argv[0] is "tenant". Returns the exit code. */
int tenant_cmd(int argc, char **argv, const char *config_path);
extern const char tenant_cmd_usage[];


/* `aantafel check`: reads PLUGINS_DIR and checks every bundle in the
 * folders of TENANTS_DIR against it; prints "ok: DIR" or each problem.
 * A missing TENANTS_DIR is an error only when REQUIRED. Returns the exit
 * code. */
int tenant_check_bundles(const char *plugins_dir, const char *tenants_dir, bool required);

#endif
