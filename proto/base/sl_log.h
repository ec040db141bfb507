/*
 * sl_log.h — leveled logging to stderr, safe from any shard.
 *
 * Each line: "2026-11-24T19:09:00.123Z LEVEL [shard N] message". One write(2)
 * per line so lines from different shards never interleave. The level is a
 * process-wide setting read without locks (set once at start-up).
 */
#ifndef SL_LOG_H
#define SL_LOG_H

typedef enum {
    SL_LOG_DEBUG = 0,
    SL_LOG_INFO,
    SL_LOG_WARN,
    SL_LOG_ERROR,
    SL_LOG_LEVEL_COUNT
} sl_log_level_t;

void sl_log_set_level(sl_log_level_t level);
sl_log_level_t sl_log_get_level(void);
/* Parses "debug", "info", "warn", "error" (any case). Returns -1 if unknown. */
int sl_log_parse_level(const char *name);
/* The calling thread's shard id for log lines; -1 (the default) for "main". */
void sl_log_set_thread_shard(int shard_id);

void sl_log_write(sl_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define SL_LOG(level, ...)                                                                 \
    do {                                                                                   \
        if ((level) >= sl_log_get_level())                                                 \
            sl_log_write((level), __VA_ARGS__);                                            \
    } while (0)
#define LOG_DEBUG(...) SL_LOG(SL_LOG_DEBUG, __VA_ARGS__)
#define LOG_INFO(...) SL_LOG(SL_LOG_INFO, __VA_ARGS__)
#define LOG_WARN(...) SL_LOG(SL_LOG_WARN, __VA_ARGS__)
#define LOG_ERROR(...) SL_LOG(SL_LOG_ERROR, __VA_ARGS__)

#endif /* SL_LOG_H */
