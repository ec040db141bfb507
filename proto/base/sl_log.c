/* sl_log.c — see sl_log.h. */
#include "sl_base.h"
#include "sl_log.h"

#include <stdarg.h>
#include <strings.h>
#include <time.h>
#include <stdlib.h>
#include <unistd.h>

static volatile sl_log_level_t g_level = SL_LOG_INFO;
static _Thread_local int t_shard_id = -1;
static const char *const level_names[SL_LOG_LEVEL_COUNT] = {"DEBUG", "INFO", "WARN", "ERROR"};

void sl_log_set_level(sl_log_level_t level)
{
    ASSERT(level < SL_LOG_LEVEL_COUNT);
    g_level = level;
}

sl_log_level_t sl_log_get_level(void)
{
    return g_level;
}

int sl_log_parse_level(const char *name)
{
    for (int i = 0; i < SL_LOG_LEVEL_COUNT; i++)
        if (strcasecmp(name, level_names[i]) == 0)
            return i;
    if (strcasecmp(name, "warning") == 0)
        return SL_LOG_WARN;
    return -1;
}

void sl_log_set_thread_shard(int shard_id)
{
    t_shard_id = shard_id;
}

void sl_log_write(sl_log_level_t level, const char *fmt, ...)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, level_names[level]);
    if (t_shard_id >= 0)
        n += snprintf(line + n, sizeof(line) - (size_t)n, "[shard %d] ", t_shard_id);
    else
        n += snprintf(line + n, sizeof(line) - (size_t)n, "[main] ");
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    n += SL_MIN(m, (int)sizeof(line) - n - 2);
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}

void sl_assert_fail(const char *expr, const char *file, int line, const char *func)
{
    char msg[1024];
    int n = snprintf(msg, sizeof(msg), "ASSERTION FAILED: %s at %s:%d in %s()\n", expr, file,
                     line, func);
    ssize_t w = write(STDERR_FILENO, msg, (size_t)SL_MIN(n, (int)sizeof(msg) - 1));
    (void)w;
    abort();
}
