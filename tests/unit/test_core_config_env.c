/* Unit tests for core/sl_config_env.c: SLUICE_<NAME> variables as settings,
 * named as Apache Kafka's docker image names KAFKA_<NAME>, and the start-up
 * errors for names and values that do not fit. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <unistd.h>

#include "sl_config.h"

/* Arrays, not pointers: Criterion may run the test in a re-executed process
 * where the parent's pointers mean nothing. */
typedef struct {
    char var[64];
    char key[40];
} env_case_t;

ParameterizedTestParameters(config_env, maps_names_like_kafkas_image)
{
    static env_case_t cases[] = {
        {"SLUICE_LOG_RETENTION_HOURS", "log.retention.hours"},
        {"SLUICE_ADVERTISED_LISTENERS=PLAINTEXT://myhost:9092", "advertised.listeners"},
        {"SLUICE_LOG_RETENTION_CHECK_INTERVAL_MS=1000", "log.retention.check.interval.ms"},
        {"SLUICE_OFFSETS_TOPIC_NUM_PARTITIONS", "offsets.topic.num.partitions"},
        {"SLUICE_NODE_ID=", "node.id"},
        {"SLUICE_num_Partitions", "num.partitions"},
        {"SLUICE_A__B", "a_b"},
        {"SLUICE_A___B", "a-b"},
        {"SLUICE_A____B", "a-.b"}, /* undefined in Kafka: groups of three first */
        {"SLUICE_A______B", "a--b"},
        {"SLUICE_X", "x"},
        {"SLUICE__X", ".x"},
        {"SLUICE_X_=1=2", "x."}, /* the name ends at the first '=' */
    };
    return cr_make_param_array(env_case_t, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(env_case_t *tc, config_env, maps_names_like_kafkas_image)
{
    char key[64];
    cr_assert_eq(sl_config_env_to_key(tc->var, key, sizeof(key)), 0, "%s", tc->var);
    cr_assert_str_eq(key, tc->key, "%s", tc->var);
}

Test(config_env, rejects_names_without_a_setting_part_or_too_long)
{
    char key[16];
    cr_assert_eq(sl_config_env_to_key("SLUICE_", key, sizeof(key)), SL_ERR_PROTO);
    cr_assert_eq(sl_config_env_to_key("SLUICE_=1", key, sizeof(key)), SL_ERR_PROTO);
    cr_assert_eq(sl_config_env_to_key("KAFKA_NUM_PARTITIONS", key, sizeof(key)), SL_ERR_PROTO);
    cr_assert_eq(sl_config_env_to_key("SLUICE_LOG_RETENTION_HOURS", key, sizeof(key)),
                 SL_ERR_LIMIT);
    cr_assert_str_eq(key, "");
    cr_assert_eq(sl_config_env_to_key("SLUICE_0123456789ABCDE", key, sizeof(key)), 0);
    cr_assert_str_eq(key, "0123456789abcde");
}

Test(config_env, every_setting_has_an_environment_name_that_maps_back)
{
    for (size_t i = 0; i < sl_config_desc_count; i++) {
        const char *name = sl_config_descs[i].name;
        char var[256], key[256];
        int n = snprintf(var, sizeof(var), "SLUICE_");
        for (const char *p = name; *p; p++)
            var[n++] = *p == '.' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
        var[n] = 0;
        cr_assert_eq(sl_config_env_to_key(var, key, sizeof(key)), 0, "%s", var);
        cr_assert_str_eq(key, name, "%s", var);
        cr_assert_not(sl_config_env_reserved(var), "%s", var);
    }
}

Test(config_env, applies_settings_and_the_kafka_example_values)
{
    sl_config_t c;
    sl_config_defaults(&c);
    char *env[] = {"HOME=/root",
                   "SLUICE_LOG_RETENTION_HOURS=24",
                   "SLUICE_ADVERTISED_LISTENERS=PLAINTEXT://myhost:9092",
                   "SLUICE_LISTENERS=PLAINTEXT://:19092",
                   "SLUICE_AUTO_CREATE_TOPICS_ENABLE=false",
                   "SLUICE_LOG_DIRS=/var/lib/sluice/data",
                   NULL};
    char err[512] = "";
    cr_assert_eq(sl_config_load_env(&c, env, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(sl_config_finish(&c, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(c.log_retention_ms, 24 * 3600000LL);
    cr_assert_str_eq(c.advertised_listeners, "PLAINTEXT://myhost:9092");
    cr_assert_str_eq(c.listeners, "PLAINTEXT://:19092");
    cr_assert_not(c.auto_create_topics_enable);
    cr_assert_eq(c.log_dir_count, 1);
    cr_assert_str_eq(c.log_dirs[0], "/var/lib/sluice/data");
    cr_assert(sl_config_is_set(&c, "log.retention.hours"));
    cr_assert_not(sl_config_is_set(&c, "num.partitions"));
}

Test(config_env, environment_wins_over_the_file)
{
    char path[64];
    snprintf(path, sizeof(path), "/tmp/sluice-config-env-test-%d.properties", (int)getpid());
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("num.partitions=3\nlog.retention.hours=1\n", f);
    fclose(f);
    sl_config_t c;
    sl_config_defaults(&c);
    char err[512] = "";
    cr_assert_eq(sl_config_load_file(&c, path, err, sizeof(err)), 0, "%s", err);
    char *env[] = {"SLUICE_NUM_PARTITIONS=8", NULL};
    cr_assert_eq(sl_config_load_env(&c, env, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(c.num_partitions, 8);
    cr_assert_eq(c.log_retention_hours, 1,
                 "a setting the environment does not name keeps the "
                 "file's value");
    remove(path);
}

Test(config_env, unknown_name_stops_with_the_variable_and_the_setting_it_meant)
{
    sl_config_t c;
    sl_config_defaults(&c);
    char *env[] = {"SLUICE_NUM_PARTITIONS=2", "SLUICE_LOG_RETENTION_HOUR=24", NULL};
    char err[512] = "";
    cr_assert_eq(sl_config_load_env(&c, env, err, sizeof(err)), SL_ERR_PROTO);
    cr_assert(strstr(err, "SLUICE_LOG_RETENTION_HOUR") != NULL, "%s", err);
    cr_assert(strstr(err, "'log.retention.hour'") != NULL, "%s", err);
    cr_assert(strstr(err, "=24") == NULL, "the message names the variable: %s", err);

    char *empty[] = {"SLUICE_=1", NULL};
    cr_assert_eq(sl_config_load_env(&c, empty, err, sizeof(err)), SL_ERR_PROTO);
    cr_assert(strstr(err, "SLUICE_") != NULL, "%s", err);

    char *escaped[] = {"SLUICE_NUM__PARTITIONS=2", NULL};
    cr_assert_eq(sl_config_load_env(&c, escaped, err, sizeof(err)), SL_ERR_PROTO);
    cr_assert(strstr(err, "'num_partitions'") != NULL, "%s", err);
}

Test(config_env, bad_values_stop_with_the_variable_and_the_reason)
{
    static const struct {
        char *var;
        const char *reason;
    } cases[] = {
        {"SLUICE_NUM_PARTITIONS=zero", "not an integer"},
        {"SLUICE_NUM_PARTITIONS=0", "outside"},
        {"SLUICE_NUM_PARTITIONS=", "not an integer"},
        {"SLUICE_LOG_RETENTION_HOURS=99999999999", "outside"},
        {"SLUICE_AUTO_CREATE_TOPICS_ENABLE=yes", "not true or false"},
        {"SLUICE_LOG_LEVEL=loud", "not one of"},
        {"SLUICE_COMPRESSION_TYPE=0123456789012345678901234567890123", "longer than"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sl_config_t c;
        sl_config_defaults(&c);
        char *env[] = {cases[i].var, NULL};
        char err[512] = "";
        cr_assert_eq(sl_config_load_env(&c, env, err, sizeof(err)), SL_ERR_PROTO, "%s",
                     cases[i].var);
        size_t name_len = (size_t)(strchr(cases[i].var, '=') - cases[i].var);
        cr_assert(strncmp(err, "environment ", 12) == 0, "%s", err);
        cr_assert(strncmp(err + 12, cases[i].var, name_len) == 0, "%s", err);
        cr_assert(strstr(err, cases[i].reason) != NULL, "%s: %s", cases[i].var, err);
    }
}

Test(config_env, reserved_names_of_the_image_and_tests_are_skipped)
{
    cr_assert(sl_config_env_reserved("SLUICE_HEALTHCHECK_BOOTSTRAP=127.0.0.1:9092"));
    cr_assert(sl_config_env_reserved("SLUICE_BOOTSTRAP=127.0.0.1:9092"));
    cr_assert(sl_config_env_reserved("SLUICE_CLI"));
    cr_assert(sl_config_env_reserved("SLUICE_IT_ONLY=cli"));
    cr_assert_not(sl_config_env_reserved("SLUICE_IT_"), "a prefix alone names nothing");
    cr_assert_not(sl_config_env_reserved("SLUICE_CLIENT=x"), "exact names are exact");
    cr_assert_not(sl_config_env_reserved("SLUICE_NUM_PARTITIONS=1"));

    sl_config_t c;
    sl_config_defaults(&c);
    char *env[] = {"SLUICE_BOOTSTRAP=127.0.0.1:1",
                   "SLUICE_STATE_DIR=/tmp/x",
                   "SLUICE_DATA_DIR=/tmp/y",
                   "SLUICE_RECORD_COUNT=10",
                   "SLUICE_AUTO_PARTITIONS=4",
                   "SLUICE_IT_BUDGET_S=60",
                   "SLUICE_HEALTHCHECK_BOOTSTRAP=localhost:9092",
                   "SLUICE_NUM_PARTITIONS=5",
                   NULL};
    char err[512] = "";
    cr_assert_eq(sl_config_load_env(&c, env, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(c.num_partitions, 5);
}

Test(config_env, variables_of_other_programs_are_ignored)
{
    sl_config_t c;
    sl_config_defaults(&c);
    char *env[] = {"PATH=/usr/bin",           "KAFKA_NUM_PARTITIONS=9", "SLUICEX=1",
                   "sluice_num_partitions=7", "SLUICE_NO_EQUALS_SIGN",  NULL};
    char err[512] = "";
    cr_assert_eq(sl_config_load_env(&c, env, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(c.num_partitions, 1);
    cr_assert_eq(sl_config_load_env(&c, NULL, err, sizeof(err)), 0);
}
