/* sl_config_env.c — SLUICE_<NAME> environment variables as settings; see
 * sl_config.h for the naming rule and the precedence. */
#include "sl_base.h"
#include "sl_config.h"

#include <ctype.h>

#define ENV_PREFIX_LEN (sizeof(SL_CONFIG_ENV_PREFIX) - 1)
/* Longest setting name accepted from the environment: every name in
 * sl_config_descs is far shorter. */
#define ENV_KEY_MAX 256

/* SLUICE_ variables that are not settings. A name matches the whole variable
 * name (SLUICE_CLI does not cover SLUICE_CLIENT); a prefix matches the names
 * that are longer than it and start with it. */
static const struct {
    const char *name;
    bool is_prefix;
    const char *reader; /* who reads it: why the broker must not refuse it */
} env_reserved[] = {
    {"SLUICE_HEALTHCHECK_BOOTSTRAP", false, "the image's health check (docker/)"},
    {"SLUICE_BOOTSTRAP", false, "integration tests: the broker to test"},
    {"SLUICE_CLI", false, "integration tests: the sluice binary"},
    {"SLUICE_STATE_DIR", false, "integration tests: scratch directory"},
    {"SLUICE_DATA_DIR", false, "integration tests: the tested broker's log.dirs"},
    {"SLUICE_RECORD_COUNT", false, "integration tests: records per client test"},
    {"SLUICE_AUTO_PARTITIONS", false, "integration tests: the tested broker's num.partitions"},
    {"SLUICE_IT_", true, "tests/integration/run.sh options"},
};

static size_t env_name_len(const char *var)
{
    const char *eq = strchr(var, '=');
    return eq ? (size_t)(eq - var) : strlen(var);
}

/* Who reads the reserved variable var, or NULL if var is not reserved. */
static const char *env_reserved_reader(const char *var)
{
    size_t n = env_name_len(var);
    for (size_t i = 0; i < SL_ARRAY_SIZE(env_reserved); i++) {
        size_t rn = strlen(env_reserved[i].name);
        if (env_reserved[i].is_prefix ? n > rn && strncmp(var, env_reserved[i].name, rn) == 0
                                      : n == rn && strncmp(var, env_reserved[i].name, n) == 0)
            return env_reserved[i].reader;
    }
    return NULL;
}

bool sl_config_env_reserved(const char *var)
{
    ASSERT(var != NULL);
    return env_reserved_reader(var) != NULL;
}

int sl_config_env_to_key(const char *var, char *key, size_t key_len)
{
    ASSERT(var != NULL && key != NULL && key_len > 0);
    key[0] = 0;
    size_t n = env_name_len(var);
    if (n <= ENV_PREFIX_LEN || strncmp(var, SL_CONFIG_ENV_PREFIX, ENV_PREFIX_LEN) != 0)
        return SL_ERR_PROTO;
    size_t out = 0;
    for (size_t i = ENV_PREFIX_LEN; i < n;) {
        char ch;
        if (var[i] != '_') {
            ch = (char)tolower((unsigned char)var[i]);
            i++;
        } else {
            /* A run of underscores. Kafka's images (the `ub` tool's
             * ConvertKey) read one as '.', two as '_' and three as '-', and
             * leave four or more undefined; here such a run is groups of
             * three from the left, each '-', then two left over are '_' and
             * one is '.', so every name maps somewhere (and, as no setting
             * has '-' or '_', to an error that names it). */
            size_t run = 0;
            while (i + run < n && var[i + run] == '_')
                run++;
            size_t take = run >= 3 ? 3 : run;
            ch = take == 3 ? '-' : take == 2 ? '_' : '.';
            i += take;
        }
        if (out + 1 >= key_len) {
            key[0] = 0;
            return SL_ERR_LIMIT;
        }
        key[out++] = ch;
    }
    key[out] = 0;
    ASSERT(out > 0 && out < key_len);
    return 0;
}

int sl_config_load_env(sl_config_t *c, char *const *envp, char *err, size_t err_len)
{
    ASSERT(c != NULL);
    char why[512];
    for (char *const *e = envp; e && *e; e++) {
        const char *var = *e;
        if (strncmp(var, SL_CONFIG_ENV_PREFIX, ENV_PREFIX_LEN) != 0 || !strchr(var, '='))
            continue;
        int name_len = (int)env_name_len(var);
        const char *reader = env_reserved_reader(var);
        if (reader) {
            LOG_DEBUG("config: %.*s is not a setting (read by %s); skipped", name_len, var, reader);
            continue;
        }
        const char *value = var + name_len + 1;
        char key[ENV_KEY_MAX];
        int rc = sl_config_env_to_key(var, key, sizeof(key));
        if (rc != 0) {
            if (err)
                snprintf(err, err_len,
                         "environment %.*s: %s; use SLUICE_<SETTING> with the setting's name "
                         "upper-cased and '.' written as '_' (e.g. SLUICE_LOG_RETENTION_HOURS)",
                         name_len > 300 ? 300 : name_len, var,
                         rc == SL_ERR_LIMIT ? "name too long" : "no setting name after SLUICE_");
            return SL_ERR_PROTO;
        }
        rc = sl_config_set(c, key, value, why, sizeof(why));
        if (rc == 1) {
            if (err)
                snprintf(err, err_len,
                         "environment %.*s: no setting named '%s' (SLUICE_<NAME>: upper case, "
                         "'_' for '.', '__' for '_', '___' for '-'); unset it or fix the name",
                         name_len, var, key);
            return SL_ERR_PROTO;
        }
        if (rc != 0) {
            if (err)
                snprintf(err, err_len, "environment %.*s: %s", name_len, var, why);
            return SL_ERR_PROTO;
        }
        LOG_INFO("config: %s=%s from the environment (%.*s)", key, value, name_len, var);
    }
    return 0;
}
