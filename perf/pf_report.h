/*
 * pf_report.h — what a sluice-perf run was asked to do (pf_config_t), what it
 * measured (pf_result_t), and the final report: a text report on stdout and
 * the same figures as one JSON object (--json FILE).
 *
 * Units: times in ns inside the structs, printed in ms with 3 decimals;
 * throughput in records/s and MB/s, where MB = 10^6 bytes of record payload
 * (key + value; no protocol or batch overhead). Throughput and latency cover
 * the measurement window only: the warm-up is excluded (see pf_rdk.h for
 * exactly how).
 *
 * Ownership: the caller owns both structs; the histograms in pf_result_t are
 * initialised and destroyed by the caller (pf_result_init / pf_result_destroy).
 * The string fields of pf_config_t point into argv and are never freed.
 * Single-threaded: printing runs after every worker thread has been joined.
 */
#ifndef PF_REPORT_H
#define PF_REPORT_H

#include "sl_base.h"
#include "pf_hist.h"
#include "pf_findrate.h"

#include <sys/types.h>

typedef enum pf_mode { PF_MODE_PRODUCE, PF_MODE_CONSUME, PF_MODE_E2E, PF_MODE_COUNT } pf_mode_t;

typedef enum pf_engine {
    PF_ENGINE_RDKAFKA, /* librdkafka clients (pf_rdk.h) */
    PF_ENGINE_NATIVE,  /* the protocol spoken directly over io_uring (pf_native.h) */
    PF_ENGINE_COUNT
} pf_engine_t;

typedef enum pf_keys {
    PF_KEYS_NONE,   /* null key: librdkafka's partitioner spreads records at random */
    PF_KEYS_RANDOM, /* 8 random bytes per record */
    PF_KEYS_SEQ,    /* the record's global sequence number, 8 bytes big-endian */
    PF_KEYS_COUNT
} pf_keys_t;

extern const char *const pf_mode_names[PF_MODE_COUNT];
extern const char *const pf_keys_names[PF_KEYS_COUNT];
extern const char *const pf_engine_names[PF_ENGINE_COUNT];

/* Latency histograms: 1 ns .. 1 hour, 3 significant digits (264 KiB each). */
#define PF_LAT_LOWEST_NS 1
#define PF_LAT_HIGHEST_NS (3600ULL * 1000000000ULL)
#define PF_LAT_DIGITS 3

typedef struct pf_config {
    pf_mode_t mode;
    pf_engine_t engine;
    const char *bootstrap;
    const char *topic;
    const char *group;       /* consume / e2e: NULL = assign every partition, no group */
    const char *acks;        /* "0", "1" or "all" */
    const char *compression; /* none, lz4, zstd, snappy, gzip */
    const char *json_path;   /* NULL: no JSON */
    int32_t partitions;      /* > 0: create the topic with that many if missing; 0: must exist */
    uint32_t record_size;    /* value bytes, >= 8 (the send time is embedded) */
    pf_keys_t keys;
    int64_t batch_size; /* bytes: librdkafka batch.size; native: as many records
                         * per batch as fit in it (at least 1) */
    int64_t linger_ms;  /* librdkafka linger.ms; native (with --rate): the same rule */
    int producers;      /* librdkafka producer instances, one thread each */
    int connections;    /* native: producer (and consumer) connections per thread */
    int inflight;       /* native: requests in flight per connection */
    int threads;        /* native: threads, one io_uring each */
    uint64_t rate;      /* records/s over all producers; 0 = as fast as possible */
    int64_t duration_s; /* measured seconds after warm-up; 0 when --count is used */
    uint64_t count;     /* records to produce (or consume); 0 when --duration is used */
    int64_t warmup_s;   /* seconds excluded from the figures */
    pid_t broker_pid;   /* 0: broker CPU not measured */
    /* Rate discovery (--find-rate): steps of step_duration_s at rising rates. */
    bool find_rate;
    double p99_max_ms;       /* the bound on ack (produce) or e2e (e2e) p99 */
    int64_t step_duration_s; /* measured seconds per step */
    int max_steps;
} pf_config_t;

typedef struct pf_result {
    int32_t partition_count; /* of the topic as used */
    double wall_s;           /* whole run, warm-up and drain included */
    bool interrupted;        /* SIGINT/SIGTERM ended the run early */
    /* Produce (PRODUCE, E2E); the counts cover the whole run. */
    uint64_t produce_sent;             /* handed to librdkafka */
    uint64_t produce_acked;            /* delivery reports without error */
    uint64_t produce_errors;           /* failed delivery reports + local rejections */
    uint64_t produce_measured_records; /* acked during the measurement window */
    uint64_t produce_measured_bytes;
    double produce_measured_s;
    pf_hist_t ack_latency; /* delivery report time - intended send time */
    /* Consume (CONSUME, E2E). */
    uint64_t consume_records;
    uint64_t consume_errors;
    uint64_t consume_measured_records;
    uint64_t consume_measured_bytes;
    double consume_measured_s;
    pf_hist_t e2e_latency; /* E2E only: receive time - embedded send time */
    /* Broker CPU over the measurement window (have_broker_cpu false without
     * --broker-pid or when /proc could not be read). */
    bool have_broker_cpu;
    double broker_cpu_s;
    double broker_cpu_s_per_gb; /* per 10^9 bytes produced + consumed; 0 if none moved */
} pf_result_t;

/* Zeroes r and allocates its histograms. Returns 0 or -ENOMEM (r then holds
 * nothing to free). */
int pf_result_init(pf_result_t *r);
void pf_result_destroy(pf_result_t *r);

/* Writes the text report. Returns 0, or -EIO when the stream reports an error. */
int pf_report_print(FILE *out, const pf_config_t *c, const pf_result_t *r);

/* Writes the report as one JSON object to `path` (created or truncated);
 * with fr (rate discovery) it adds "find_rate": the bound, every step and the
 * answer, r being the best passing step. Returns 0, or -errno when the file
 * cannot be written. */
int pf_report_write_json(const char *path, const pf_config_t *c, const pf_result_t *r,
                         const pf_findrate_t *fr);

#endif /* PF_REPORT_H */
