/* Unit tests for core/sl_config: Kafka-style properties, environment and
 * validation with clear errors. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "sl_config.h"

static const char *write_props(const char *text)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/sluice-config-test-%d.properties", getpid());
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

Test(config, defaults_follow_kafka)
{
    sl_config_t c;
    sl_config_defaults(&c);
    cr_assert_eq(c.num_partitions, 1);
    cr_assert(c.auto_create_topics_enable);
    cr_assert_eq(c.socket_request_max_bytes, 104857600);
    cr_assert_eq(c.log_segment_bytes, 1073741824LL);
    cr_assert_eq(c.message_max_bytes, 1048588);
    cr_assert_eq(c.num_shards, 0);
}

Test(config, reads_properties_with_comments_separators_and_continuations)
{
    const char *p = write_props("# a comment\n! another\n\n"
                                "listeners = PLAINTEXT://127.0.0.1:19092\n"
                                "num.partitions: 6\n"
                                "log.dirs=/tmp/a,\\\n    /tmp/b\n"
                                "auto.create.topics.enable=FALSE\n"
                                "some.unknown.setting=1\n");
    sl_config_t c;
    sl_config_defaults(&c);
    char err[256] = "";
    cr_assert_eq(sl_config_load_file(&c, p, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(c.listeners, "PLAINTEXT://127.0.0.1:19092");
    cr_assert_eq(c.num_partitions, 6);
    cr_assert_not(c.auto_create_topics_enable);
    cr_assert_eq(sl_config_finish(&c, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(c.log_dir_count, 2);
    cr_assert_str_eq(c.log_dirs[0], "/tmp/a");
    cr_assert_str_eq(c.log_dirs[1], "/tmp/b");
    cr_assert_str_eq(c.advertised_listeners, c.listeners);
    unlink(p);
}

Test(config, invalid_value_names_the_file_line_and_reason)
{
    const char *p = write_props("num.partitions=6\nnum.partitions=zero\n");
    sl_config_t c;
    sl_config_defaults(&c);
    char err[256] = "";
    cr_assert_eq(sl_config_load_file(&c, p, err, sizeof(err)), SL_ERR_PROTO);
    cr_assert(strstr(err, ":2:") != NULL, "%s", err);
    cr_assert(strstr(err, "num.partitions") != NULL, "%s", err);
    unlink(p);
}

Test(config, rejects_out_of_range_and_bad_booleans)
{
    sl_config_t c;
    sl_config_defaults(&c);
    char err[256];
    cr_assert_eq(sl_config_set(&c, "num.partitions", "0", err, sizeof(err)), SL_ERR_PROTO);
    cr_assert_eq(sl_config_set(&c, "socket.request.max.bytes", "99999999999", err, sizeof(err)),
                 SL_ERR_PROTO);
    cr_assert_eq(sl_config_set(&c, "auto.create.topics.enable", "yes", err, sizeof(err)),
                 SL_ERR_PROTO);
    cr_assert_eq(sl_config_set(&c, "log.level", "loud", err, sizeof(err)), SL_ERR_PROTO);
    cr_assert_eq(sl_config_set(&c, "no.such.key", "1", err, sizeof(err)), 1);
    cr_assert_eq(c.num_partitions, 1, "a rejected value must not change the setting");
}

Test(config, environment_overrides_use_upper_case_and_underscores)
{
    sl_config_t c;
    sl_config_defaults(&c);
    char *env[] = {"SLUICE_NUM_PARTITIONS=12", "SLUICE_LOG_SEGMENT_BYTES=1048576",
                   "PATH=/usr/bin", NULL};
    char err[256] = "";
    cr_assert_eq(sl_config_load_env(&c, env, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(c.num_partitions, 12);
    cr_assert_eq(c.log_segment_bytes, 1048576);
    char *bad[] = {"SLUICE_NUM_PARTITIONS=-3", NULL};
    cr_assert_eq(sl_config_load_env(&c, bad, err, sizeof(err)), SL_ERR_PROTO);
    cr_assert(strstr(err, "SLUICE_NUM_PARTITIONS") != NULL, "%s", err);
}

Test(config, missing_file_is_an_errno)
{
    sl_config_t c;
    sl_config_defaults(&c);
    char err[256];
    cr_assert_eq(sl_config_load_file(&c, "/nonexistent/server.properties", err, sizeof(err)),
                 -ENOENT);
}
