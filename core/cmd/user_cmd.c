/* `aantafel user create --tenant SLUG --email E --role ROLE [--name N]`
 * reads the password from standard input (one line), checks it against
 * the password rules, hashes it with the configured scrypt parameters and
 * stores the account with its role, e-mail counted as verified (the
 * provider vouches for it). As the owner role, in one call of
 * platform.account_provision (sql/code/provider.sql), which enters the
 * tenant, so row-level security applies as to the daemon. */
#include "user_cmd.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "password.h"
#include "utf8.h"

static const char *WHO = "aantafel user";

const char user_cmd_usage[] =
	"usage: aantafel user create --tenant SLUG --email EMAIL --role ROLE [--name NAME] [-c FILE]\n\n"
	"Creates an account of tenant SLUG with ROLE (admin, facilitator or member)\n"
	"and reads its password from standard input (one line; at least 12\n"
	"characters, not a common password). The e-mail address counts as\n"
	"verified. NAME defaults to the part of EMAIL before the @. An existing\n"
	"account with that e-mail gets the role added and keeps its password.\n\n"
	"  -c, --config FILE  configuration file (owner_database_url, scrypt_*)\n";

struct uopts {
	const char *tenant, *email, *role, *name;
};

static int parse(int argc, char **argv, struct uopts *o)
{
	for (int i = 2; i < argc; i++) {
		const char **slot = NULL;
		if (strcmp(argv[i], "--tenant") == 0)
			slot = &o->tenant;
		else if (strcmp(argv[i], "--email") == 0)
			slot = &o->email;
		else if (strcmp(argv[i], "--role") == 0)
			slot = &o->role;
		else if (strcmp(argv[i], "--name") == 0)
			slot = &o->name;
		if (!slot || i + 1 >= argc) {
			fprintf(stderr, "%s: unknown or incomplete option '%s'\n%s", WHO, argv[i], user_cmd_usage);
			return -1;
		}
		*slot = argv[++i];
	}
	if (!o->tenant || !o->email || !o->role) {
		fprintf(stderr, "%s create: --tenant, --email and --role are required\n", WHO);
		return -1;
	}
	return 0;
}

/* Lower-cases EMAIL into OUT and checks its shape: one @, something on
 * both sides, a dot in the domain, no spaces or control characters. */
static int normalise_email(const char *email, char *out, size_t outlen)
{
	size_t n = strlen(email);
	if (n < 3 || n >= outlen || n > 254)
		return -1;
	const char *at = strchr(email, '@');
	if (!at || at == email || strchr(at + 1, '@') || !strchr(at + 1, '.') || at[1] == '.' || email[n - 1] == '.')
		return -1;
	for (size_t i = 0; i <= n; i++) {
		unsigned char c = (unsigned char)email[i];
		if (i < n && (c <= ' ' || c == 0x7f || c == '<' || c == '>' || c == ',' || c == ';' || c == '"'))
			return -1;
		out[i] = (char)tolower(c);
	}
	return 0;
}

/* One line from standard input without its line end. */
static int read_password(char *buf, size_t len)
{
	if (isatty(STDIN_FILENO))
		fprintf(stderr, "Password (at least %d characters): ", PW_MIN_CHARS);
	if (!fgets(buf, (int)len, stdin))
		return -1;
	size_t n = strcspn(buf, "\r\n");
	if (buf[n] == '\0' && n == len - 1)
		return -1;      /* longer than we take */
	buf[n] = '\0';
	return 0;
}

static int do_create(const struct config *cfg, const struct uopts *o)
{
	char email[256];
	if (normalise_email(o->email, email, sizeof(email)) != 0) {
		fprintf(stderr, "%s create: '%s' is not an e-mail address\n", WHO, o->email);
		return 1;
	}
	if (strcmp(o->role, "admin") != 0 && strcmp(o->role, "facilitator") != 0 && strcmp(o->role, "member") != 0) {
		fprintf(stderr, "%s create: role must be admin, facilitator or member, not '%s'\n", WHO, o->role);
		return 2;
	}
	char name[401];
	if (o->name) {
		long chars = utf8_count(o->name, strlen(o->name));
		if (chars < 1 || chars > 100) {
			fprintf(stderr, "%s create: the name must be 1 to 100 characters of UTF-8\n", WHO);
			return 1;
		}
		snprintf(name, sizeof(name), "%s", o->name);
	} else {
		snprintf(name, sizeof(name), "%.*s", (int)(strchr(email, '@') - email), email);
	}
	char pw[PW_MAX_BYTES + 2];
	if (read_password(pw, sizeof(pw)) != 0) {
		fprintf(stderr, "%s create: no password on standard input (or longer than %d bytes)\n", WHO,
			PW_MAX_BYTES);
		return 1;
	}
	const char *why = password_policy(pw, strlen(pw), "en");
	if (why) {
		fprintf(stderr, "%s create: %s\n", WHO, why);
		return 1;
	}
	struct pw_params params = {(uint64_t)cfg->scrypt_n, (uint32_t)cfg->scrypt_r, (uint32_t)cfg->scrypt_p,
				   (uint64_t)cfg->scrypt_maxmem};
	char hash[PW_HASH_MAX];
	if (password_hash(pw, strlen(pw), &params, hash, sizeof(hash)) != 0) {
		fprintf(stderr, "%s create: hashing failed (scrypt parameters and scrypt_maxmem)\n", WHO);
		return 1;
	}
	memset(pw, 0, sizeof(pw));

	PGconn *pg = admin_connect(cfg, WHO);
	if (!pg)
		return 1;
	/* One call, one transaction: the tenant entered, the account made or
	 * found, the role given (platform.account_provision). */
	const char *v[] = {o->tenant, email, name, hash, o->role};
	PGresult *r = admin_exec(pg, WHO,
				 "SELECT account_id, created FROM platform.account_provision($1, $2, $3, $4, $5)", 5, v);
	PQfinish(pg);
	if (!r)
		return 1;
	bool created = PQgetvalue(r, 0, 1)[0] == 't';
	PQclear(r);
	if (created)
		printf("%s: account %s (%s) created with role %s\n", o->tenant, email, name, o->role);
	else
		printf("%s: account %s exists; role %s granted, password unchanged\n", o->tenant, email, o->role);
	return 0;
}

int user_cmd(int argc, char **argv, const char *config_path)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(user_cmd_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "create") != 0) {
		fprintf(stderr, "%s: unknown subcommand '%s'\n%s", WHO, argv[1], user_cmd_usage);
		return 2;
	}
	struct uopts o = {0};
	if (parse(argc, argv, &o) != 0)
		return 2;
	struct config *cfg = admin_config(config_path, WHO);
	if (!cfg)
		return 1;
	char err[512];
	int rc;
	if (password_load_common(cfg->common_passwords_file, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", WHO, err);
		rc = 1;
	} else {
		rc = do_create(cfg, &o);
		password_free_common();
	}
	config_unref(cfg);
	return rc;
}
