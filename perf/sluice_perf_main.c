/*
 * sluice_perf_main.c — `sluice-perf`, the load generator (BENCHMARKS.md "What
 * the load generator must do"): command line, run orchestration, per-second
 * progress on stderr, final report on stdout (and --json), rate discovery.
 *
 * Engines: --engine rdkafka drives the broker through librdkafka (pf_rdk.h),
 * what a real client gets; --engine native speaks the protocol itself over
 * io_uring with pre-encoded batches (pf_native.h), so the generator is not
 * the bottleneck. Both share the run model of pf_run.h (timing model without
 * coordinated omission, warm-up) and the report of pf_report.h.
 *
 * One run (perf_run_once): prepare the engine (topic, clients / connections),
 * fix the start time, start, print progress each second until every worker is
 * done, join, collect the figures. Rate discovery (--find-rate, pf_findrate.h)
 * runs a series of such runs of --step-duration seconds at the rates the
 * search asks for, prints one line per step and the answer, and reports the
 * best passing step. A step that falls far behind its schedule is cut at
 * twice its duration (it fails anyway: its latency counts from intended
 * times).
 *
 * Exit status: 0 run completed without delivery or consume errors (find-rate:
 * a passing rate was found); 1 the broker or a delivery failed, e2e records
 * went missing, or a signal cut the run short (the report is still printed,
 * marked INTERRUPTED); 2 bad usage.
 */
#include "sl_base.h"
#include "pf_cpu.h"
#include "pf_findrate.h"
#include "pf_native.h"
#include "pf_rdk.h"
#include "pf_report.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <time.h>

#define PERF_EXIT_OK 0
#define PERF_EXIT_FAIL 1
#define PERF_EXIT_USAGE 2

#define PERF_MAX_RECORD_BYTES 1000000 /* librdkafka's default message.max.bytes */
#define PERF_MAX_RATE 1000000000ULL   /* keeps (g % rate) * 1e9 inside 64 bits */
#define PERF_MAX_PARTITIONS 100000
#define PERF_MAX_SECONDS 86400
#define PERF_DEFAULT_DURATION_S 10
#define PERF_TICK_NS 1000000000ULL
#define PERF_NAP_NS 50000000ULL /* the main loop looks at signals / completion this often */
#define PERF_ASSIGN_TIMEOUT_MS 30000
#define PERF_DEFAULT_STEP_S 5
/* Native consume without --threads: two consumer threads (at most one per
 * partition). One thread's receive copy, not the broker, bounded the
 * 1 KiB page-cache read on the 2-core machine (README "Performance"). */
#define PERF_CONSUME_DEFAULT_THREADS 2

static volatile sig_atomic_t perf_signalled;

static void perf_on_signal(int sig)
{
    (void)sig;
    perf_signalled = 1;
}

enum {
    OPT_BOOTSTRAP = 256,
    OPT_TOPIC,
    OPT_PARTITIONS,
    OPT_RECORD_SIZE,
    OPT_KEYS,
    OPT_ACKS,
    OPT_COMPRESSION,
    OPT_BATCH_SIZE,
    OPT_LINGER_MS,
    OPT_PRODUCERS,
    OPT_RATE,
    OPT_DURATION,
    OPT_COUNT,
    OPT_WARMUP,
    OPT_BROKER_PID,
    OPT_JSON,
    OPT_GROUP,
    OPT_ENGINE,
    OPT_CONNECTIONS,
    OPT_INFLIGHT,
    OPT_THREADS,
    OPT_FIND_RATE,
    OPT_P99_MAX_MS,
    OPT_STEP_DURATION,
    OPT_MAX_STEPS,
};

static void perf_usage(FILE *out)
{
    fprintf(out,
            "Usage: sluice-perf produce|consume|e2e --topic T [options]\n\n"
            "  produce  open-loop producers at --rate (or max rate); ack latency\n"
            "  consume  one consumer (native: over --threads threads) reads --count\n"
            "           records or for --duration seconds\n"
            "  e2e      producers and one consumer in this process; ack and end-to-end\n"
            "           latency (receive time - send time embedded in the record)\n\n"
            "Options:\n"
            "  --bootstrap-server H:P  broker (default localhost:9092)\n"
            "  --topic T               topic (required)\n"
            "  --partitions N          create T with N partitions if it is missing\n"
            "                          (without it T must exist)\n"
            "  --engine rdkafka|native rdkafka: librdkafka clients (default); native: the\n"
            "                          protocol over io_uring, pre-encoded batches, on\n"
            "                          --threads threads (uncompressed only, no --group)\n"
            "  --duration S            measured seconds after the warm-up (default %d)\n"
            "  --count N               records to produce (consume: to read) instead\n"
            "  --warmup S              first S seconds left out of the figures (default 0)\n"
            "  --broker-pid PID        report the broker's CPU seconds and CPU-s per GB\n"
            "  --json FILE             also write the report as JSON\n"
            " produce / e2e:\n"
            "  --record-size B         value bytes, 8..%d (default 100); the first 8\n"
            "                          carry the intended send time\n"
            "  --keys none|random|seq  8-byte keys (default none; native: keys do not\n"
            "                          choose the partition, batches go round-robin)\n"
            "  --acks 0|1|all          (default 1)\n"
            "  --compression none|lz4|zstd|snappy|gzip   (default none; native: none only)\n"
            "  --batch-size B          bytes per batch (default 1000000): librdkafka\n"
            "                          batch.size; native: as many records as fit in B\n"
            "                          bytes (at least 1) per batch, one batch a request\n"
            "  --linger-ms MS          linger.ms (default 5): a batch that is not full waits\n"
            "                          at most MS for more records (native: with --rate)\n"
            "  --producers N           rdkafka: producer instances, one thread each, 1..%d\n"
            "                          (default 1)\n"
            "  --rate R                records/s over all producers; 0 = max (default 0)\n"
            " native engine:\n"
            "  --connections N         connections per thread, 1..%d (default 1); a\n"
            "                          consumer thread opens as many\n"
            "  --inflight N            requests in flight per connection, 1..%d (default 5);\n"
            "                          consume: fetch streams per connection (e2e: one)\n"
            "  --threads N             threads, one io_uring each, 1..%d (default 1;\n"
            "                          consume: %d); produce / e2e: each sends its share\n"
            "                          of the records; consume / e2e: the consumer reads\n"
            "                          partition p on thread p %% C, C = min(N, partitions)\n"
            "                          (consume starts only C)\n"
            " consume / e2e:\n"
            "  --group G               rdkafka: consume in group G (default: no group, every\n"
            "                          partition assigned; consume reads from the start,\n"
            "                          e2e from the end; e2e with a group should use a new\n"
            "                          group, read from the latest offset)\n"
            " rate discovery (produce / e2e):\n"
            "  --find-rate             steps at rising rates (from --rate, default %d/s;\n"
            "                          doubling, then bisection) to find the highest rate\n"
            "                          whose p99 (ack for produce, e2e for e2e) stays\n"
            "                          within --p99-max-ms and that is reached (>= %.0f%%)\n"
            "                          without errors\n"
            "  --p99-max-ms X          the bound (required with --find-rate)\n"
            "  --step-duration S       measured seconds per step (default 5)\n"
            "  --max-steps N           at most N steps, 1..%d (default %d)\n\n"
            "Throughput counts record payload (key + value), MB = 10^6 bytes.\n\n"
            "Exit status: 0 done without errors, 1 delivery/consume errors, e2e records\n"
            "missing, interrupted (the report is still printed), or no rate found;\n"
            "2 bad usage.\n",
            PERF_DEFAULT_DURATION_S, PERF_MAX_RECORD_BYTES, PF_MAX_PRODUCERS,
            PF_NATIVE_MAX_CONNECTIONS, PF_NATIVE_MAX_INFLIGHT, PF_NATIVE_MAX_THREADS,
            PERF_CONSUME_DEFAULT_THREADS, PF_FINDRATE_DEFAULT_START,
            PF_FINDRATE_MIN_ACHIEVED * 100.0, PF_FINDRATE_MAX_STEPS, PF_FINDRATE_DEFAULT_STEPS);
}

static int perf_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int perf_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "sluice-perf: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nRun 'sluice-perf --help' for usage.\n");
    va_end(ap);
    return PERF_EXIT_USAGE;
}

/* Parses a whole decimal integer in [min, max]. Returns 0 or -1. */
static int perf_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (s[0] == '\0')
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int perf_one_of(const char *s, const char *const *names, int count)
{
    for (int i = 0; i < count; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

/* Fills c from argv. Returns -1 to continue, or an exit code. */
static int perf_parse(int argc, char **argv, pf_config_t *c)
{
    static const struct option longopts[] = {
        {"bootstrap-server", required_argument, NULL, OPT_BOOTSTRAP},
        {"topic", required_argument, NULL, OPT_TOPIC},
        {"partitions", required_argument, NULL, OPT_PARTITIONS},
        {"record-size", required_argument, NULL, OPT_RECORD_SIZE},
        {"keys", required_argument, NULL, OPT_KEYS},
        {"acks", required_argument, NULL, OPT_ACKS},
        {"compression", required_argument, NULL, OPT_COMPRESSION},
        {"batch-size", required_argument, NULL, OPT_BATCH_SIZE},
        {"linger-ms", required_argument, NULL, OPT_LINGER_MS},
        {"producers", required_argument, NULL, OPT_PRODUCERS},
        {"rate", required_argument, NULL, OPT_RATE},
        {"duration", required_argument, NULL, OPT_DURATION},
        {"count", required_argument, NULL, OPT_COUNT},
        {"warmup", required_argument, NULL, OPT_WARMUP},
        {"broker-pid", required_argument, NULL, OPT_BROKER_PID},
        {"json", required_argument, NULL, OPT_JSON},
        {"group", required_argument, NULL, OPT_GROUP},
        {"engine", required_argument, NULL, OPT_ENGINE},
        {"connections", required_argument, NULL, OPT_CONNECTIONS},
        {"inflight", required_argument, NULL, OPT_INFLIGHT},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"find-rate", no_argument, NULL, OPT_FIND_RATE},
        {"p99-max-ms", required_argument, NULL, OPT_P99_MAX_MS},
        {"step-duration", required_argument, NULL, OPT_STEP_DURATION},
        {"max-steps", required_argument, NULL, OPT_MAX_STEPS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const char *const acks[] = {"0", "1", "all"};
    static const char *const codecs[] = {"none", "lz4", "zstd", "snappy", "gzip"};
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        perf_usage(stdout);
        return PERF_EXIT_OK;
    }
    if (argc < 2)
        return perf_usage_error("a mode is required: produce, consume or e2e");
    int mode = perf_one_of(argv[1], pf_mode_names, PF_MODE_COUNT);
    if (mode < 0)
        return perf_usage_error("unknown mode '%s' (produce, consume or e2e)", argv[1]);
    c->mode = (pf_mode_t)mode;

    const char *produce_only = NULL; /* first producer option seen, for the error */
    const char *native_only = NULL;  /* first native-engine option seen */
    const char *rdkafka_only = NULL; /* first rdkafka-engine option seen */
    bool have_duration = false;
    bool have_threads = false;
    int64_t v;
    int opt;
    opterr = 0;
    optind = 2;
    while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (opt) {
        case OPT_BOOTSTRAP:
            c->bootstrap = optarg;
            break;
        case OPT_TOPIC:
            if (optarg[0] == '\0')
                return perf_usage_error("--topic must not be empty");
            c->topic = optarg;
            break;
        case OPT_PARTITIONS:
            if (perf_parse_i64(optarg, 1, PERF_MAX_PARTITIONS, &v) != 0)
                return perf_usage_error("--partitions must be 1..%d", PERF_MAX_PARTITIONS);
            c->partitions = (int32_t)v;
            break;
        case OPT_RECORD_SIZE:
            if (perf_parse_i64(optarg, 8, PERF_MAX_RECORD_BYTES, &v) != 0)
                return perf_usage_error("--record-size must be 8..%d", PERF_MAX_RECORD_BYTES);
            c->record_size = (uint32_t)v;
            produce_only = "--record-size";
            break;
        case OPT_KEYS: {
            int k = perf_one_of(optarg, pf_keys_names, PF_KEYS_COUNT);
            if (k < 0)
                return perf_usage_error("--keys must be none, random or seq");
            c->keys = (pf_keys_t)k;
            produce_only = "--keys";
            break;
        }
        case OPT_ACKS: {
            int k = perf_one_of(optarg, acks, (int)SL_ARRAY_SIZE(acks));
            if (k < 0)
                return perf_usage_error("--acks must be 0, 1 or all");
            c->acks = acks[k];
            produce_only = "--acks";
            break;
        }
        case OPT_COMPRESSION: {
            int k = perf_one_of(optarg, codecs, (int)SL_ARRAY_SIZE(codecs));
            if (k < 0)
                return perf_usage_error("--compression must be none, lz4, zstd, snappy or gzip");
            c->compression = codecs[k];
            produce_only = "--compression";
            break;
        }
        case OPT_BATCH_SIZE:
            if (perf_parse_i64(optarg, 1, 2147483647, &v) != 0)
                return perf_usage_error("--batch-size must be a positive byte count");
            c->batch_size = v;
            produce_only = "--batch-size";
            break;
        case OPT_LINGER_MS:
            if (perf_parse_i64(optarg, 0, 900000, &v) != 0)
                return perf_usage_error("--linger-ms must be 0..900000");
            c->linger_ms = v;
            produce_only = "--linger-ms";
            break;
        case OPT_PRODUCERS:
            if (perf_parse_i64(optarg, 1, PF_MAX_PRODUCERS, &v) != 0)
                return perf_usage_error("--producers must be 1..%d", PF_MAX_PRODUCERS);
            c->producers = (int)v;
            produce_only = "--producers";
            rdkafka_only = "--producers";
            break;
        case OPT_RATE:
            if (perf_parse_i64(optarg, 0, (int64_t)PERF_MAX_RATE, &v) != 0)
                return perf_usage_error("--rate must be 0..%llu records/s",
                                        (unsigned long long)PERF_MAX_RATE);
            c->rate = (uint64_t)v;
            produce_only = "--rate";
            break;
        case OPT_DURATION:
            if (perf_parse_i64(optarg, 1, PERF_MAX_SECONDS, &v) != 0)
                return perf_usage_error("--duration must be 1..%d seconds", PERF_MAX_SECONDS);
            c->duration_s = v;
            have_duration = true;
            break;
        case OPT_COUNT:
            if (perf_parse_i64(optarg, 1, INT64_MAX, &v) != 0)
                return perf_usage_error("--count must be a positive number of records");
            c->count = (uint64_t)v;
            break;
        case OPT_WARMUP:
            if (perf_parse_i64(optarg, 0, PERF_MAX_SECONDS, &v) != 0)
                return perf_usage_error("--warmup must be 0..%d seconds", PERF_MAX_SECONDS);
            c->warmup_s = v;
            break;
        case OPT_BROKER_PID:
            if (perf_parse_i64(optarg, 1, INT32_MAX, &v) != 0)
                return perf_usage_error("--broker-pid must be a process id");
            c->broker_pid = (pid_t)v;
            break;
        case OPT_JSON:
            c->json_path = optarg;
            break;
        case OPT_GROUP:
            if (optarg[0] == '\0')
                return perf_usage_error("--group must not be empty");
            c->group = optarg;
            break;
        case OPT_ENGINE: {
            int k = perf_one_of(optarg, pf_engine_names, PF_ENGINE_COUNT);
            if (k < 0)
                return perf_usage_error("--engine must be rdkafka or native");
            c->engine = (pf_engine_t)k;
            break;
        }
        case OPT_CONNECTIONS:
            if (perf_parse_i64(optarg, 1, PF_NATIVE_MAX_CONNECTIONS, &v) != 0)
                return perf_usage_error("--connections must be 1..%d", PF_NATIVE_MAX_CONNECTIONS);
            c->connections = (int)v;
            native_only = "--connections";
            break;
        case OPT_INFLIGHT:
            if (perf_parse_i64(optarg, 1, PF_NATIVE_MAX_INFLIGHT, &v) != 0)
                return perf_usage_error("--inflight must be 1..%d", PF_NATIVE_MAX_INFLIGHT);
            c->inflight = (int)v;
            native_only = "--inflight";
            break;
        case OPT_THREADS:
            if (perf_parse_i64(optarg, 1, PF_NATIVE_MAX_THREADS, &v) != 0)
                return perf_usage_error("--threads must be 1..%d", PF_NATIVE_MAX_THREADS);
            c->threads = (int)v;
            have_threads = true;
            native_only = "--threads";
            break;
        case OPT_FIND_RATE:
            c->find_rate = true;
            break;
        case OPT_P99_MAX_MS: {
            char *end;
            errno = 0;
            double x = strtod(optarg, &end);
            if (errno != 0 || *end != '\0' || end == optarg || !(x > 0.0) || x > 3600000.0)
                return perf_usage_error("--p99-max-ms must be a positive number of ms");
            c->p99_max_ms = x;
            break;
        }
        case OPT_STEP_DURATION:
            if (perf_parse_i64(optarg, 1, PERF_MAX_SECONDS, &v) != 0)
                return perf_usage_error("--step-duration must be 1..%d seconds", PERF_MAX_SECONDS);
            c->step_duration_s = v;
            break;
        case OPT_MAX_STEPS:
            if (perf_parse_i64(optarg, 1, PF_FINDRATE_MAX_STEPS, &v) != 0)
                return perf_usage_error("--max-steps must be 1..%d", PF_FINDRATE_MAX_STEPS);
            c->max_steps = (int)v;
            break;
        case 'h':
            perf_usage(stdout);
            return PERF_EXIT_OK;
        case ':':
            return perf_usage_error("%s needs a value", argv[optind - 1]);
        default:
            return perf_usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return perf_usage_error("unexpected argument '%s'", argv[optind]);
    if (c->topic == NULL)
        return perf_usage_error("--topic is required");
    if (have_duration && c->count > 0)
        return perf_usage_error("--duration and --count exclude each other");
    if (!have_duration && c->count == 0)
        c->duration_s = PERF_DEFAULT_DURATION_S;
    if (!have_threads && c->mode == PF_MODE_CONSUME && c->engine == PF_ENGINE_NATIVE)
        c->threads = PERF_CONSUME_DEFAULT_THREADS;
    if (c->mode == PF_MODE_CONSUME && produce_only != NULL)
        return perf_usage_error("%s is a producer option; consume mode has no producer",
                                produce_only);
    if (c->mode == PF_MODE_PRODUCE && c->group != NULL)
        return perf_usage_error("--group is for consume and e2e");
    if (native_only != NULL && c->engine != PF_ENGINE_NATIVE)
        return perf_usage_error("%s is an option of --engine native", native_only);
    if (rdkafka_only != NULL && c->engine == PF_ENGINE_NATIVE)
        return perf_usage_error("%s is an option of --engine rdkafka (native: --threads)",
                                rdkafka_only);
    if (c->find_rate) {
        if (c->mode == PF_MODE_CONSUME)
            return perf_usage_error("--find-rate is for produce and e2e");
        if (c->p99_max_ms <= 0.0)
            return perf_usage_error("--find-rate needs --p99-max-ms");
        if (c->count > 0 || have_duration)
            return perf_usage_error("--find-rate runs steps of --step-duration; no --count "
                                    "or --duration");
    } else if (c->p99_max_ms > 0.0 || c->step_duration_s != PERF_DEFAULT_STEP_S ||
               c->max_steps != PF_FINDRATE_DEFAULT_STEPS) {
        return perf_usage_error("--p99-max-ms, --step-duration and --max-steps go with "
                                "--find-rate");
    }
    if (c->engine == PF_ENGINE_NATIVE && pf_native_check_config(c) != 0)
        return PERF_EXIT_USAGE;
    return -1;
}

/* Sum of a counter over the producers. */
static uint64_t perf_producers_sum(pf_run_t *run, size_t offset)
{
    uint64_t sum = 0;
    for (int i = 0; i < run->producer_count; i++)
        sum += atomic_load_explicit((_Atomic uint64_t *)((char *)&run->producers[i] + offset),
                                    memory_order_relaxed);
    return sum;
}

#define PERF_SUM(run, field) perf_producers_sum((run), offsetof(pf_worker_t, field))

static uint64_t perf_consumer_get(pf_run_t *run, _Atomic uint64_t *field)
{
    return run->have_consumer ? atomic_load_explicit(field, memory_order_relaxed) : 0;
}

/* Moves w's interval histogram into dst and resets it. */
static void perf_take_interval(pf_worker_t *w, pf_hist_t *dst)
{
    pthread_mutex_lock(&w->interval_lock);
    pf_hist_merge(dst, &w->interval_hist);
    pf_hist_reset(&w->interval_hist);
    pthread_mutex_unlock(&w->interval_lock);
}

/* Cumulative counters at one instant. */
typedef struct {
    uint64_t at_ns;
    uint64_t produced, produced_bytes, consumed, consumed_bytes, errors;
} perf_snap_t;

static void perf_snap(pf_run_t *run, perf_snap_t *s)
{
    s->at_ns = pf_now_ns();
    s->produced = PERF_SUM(run, records);
    s->produced_bytes = PERF_SUM(run, bytes);
    s->errors = PERF_SUM(run, errors) + perf_consumer_get(run, &run->consumer.errors);
    s->consumed = perf_consumer_get(run, &run->consumer.records);
    s->consumed_bytes = perf_consumer_get(run, &run->consumer.bytes);
}

static bool perf_all_finished(pf_run_t *run)
{
    for (int i = 0; i < run->producer_count; i++)
        if (!atomic_load(&run->producers[i].finished))
            return false;
    return !run->have_consumer || atomic_load(&run->consumer.finished);
}

/* Prints one progress line covering (prev, now]. */
static void perf_progress(pf_run_t *run, const perf_snap_t *prev, const perf_snap_t *now,
                          pf_hist_t *ack, pf_hist_t *e2e)
{
    const pf_config_t *c = run->config;
    double dt = (double)(now->at_ns - prev->at_ns) / 1e9;
    double elapsed = (double)(now->at_ns - run->start_ns) / 1e9;
    if (dt <= 0.0)
        return;
    pf_hist_reset(ack);
    pf_hist_reset(e2e);
    for (int i = 0; i < run->producer_count; i++)
        perf_take_interval(&run->producers[i], ack);
    if (run->have_consumer)
        perf_take_interval(&run->consumer, e2e);
    fprintf(stderr, "[%7.1fs]%s", elapsed, prev->at_ns < run->warm_end_ns ? " warm-up" : "");
    if (c->mode != PF_MODE_CONSUME)
        fprintf(stderr, " produce %9.0f msg/s %8.2f MB/s ack p50 %.3f p99 %.3f ms",
                (double)(now->produced - prev->produced) / dt,
                (double)(now->produced_bytes - prev->produced_bytes) / dt / 1e6,
                (double)pf_hist_percentile(ack, 50.0) / 1e6,
                (double)pf_hist_percentile(ack, 99.0) / 1e6);
    if (c->mode != PF_MODE_PRODUCE)
        fprintf(stderr, "%s consume %9.0f msg/s %8.2f MB/s", c->mode == PF_MODE_E2E ? " |" : "",
                (double)(now->consumed - prev->consumed) / dt,
                (double)(now->consumed_bytes - prev->consumed_bytes) / dt / 1e6);
    if (c->mode == PF_MODE_E2E)
        fprintf(stderr, " e2e p50 %.3f p99 %.3f ms", (double)pf_hist_percentile(e2e, 50.0) / 1e6,
                (double)pf_hist_percentile(e2e, 99.0) / 1e6);
    fprintf(stderr, " | errors %" PRIu64 "\n", now->errors);
}

static void perf_sleep_until(uint64_t target_ns)
{
    struct timespec ts = {.tv_sec = (time_t)(target_ns / 1000000000ULL),
                          .tv_nsec = (long)(target_ns % 1000000000ULL)};
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

/* Runs the progress loop until every worker thread is done. Takes the
 * measurement-start snapshot (and broker CPU) at the end of the warm-up. */
static void perf_monitor(pf_run_t *run, perf_snap_t *warm, double *cpu_start, bool *have_cpu)
{
    const pf_config_t *c = run->config;
    pf_hist_t ack, e2e;
    ASSERT(pf_hist_init(&ack, PF_LAT_LOWEST_NS, PF_LAT_HIGHEST_NS, PF_LAT_DIGITS) == 0);
    ASSERT(pf_hist_init(&e2e, PF_LAT_LOWEST_NS, PF_LAT_HIGHEST_NS, PF_LAT_DIGITS) == 0);
    perf_snap_t prev;
    perf_snap(run, &prev);
    bool warm_taken = false;
    uint64_t next_tick = run->start_ns + PERF_TICK_NS;
    for (;;) {
        if (perf_signalled)
            atomic_store(&run->stop, true);
        uint64_t now = pf_now_ns();
        if (!warm_taken && now >= run->warm_end_ns) {
            perf_snap(run, warm);
            if (c->broker_pid > 0)
                *have_cpu = pf_cpu_read_seconds(c->broker_pid, cpu_start) == 0;
            warm_taken = true;
        }
        if (now >= next_tick) {
            perf_snap_t cur;
            perf_snap(run, &cur);
            perf_progress(run, &prev, &cur, &ack, &e2e);
            prev = cur;
            next_tick += PERF_TICK_NS;
        }
        if (perf_all_finished(run))
            break;
        /* A find-rate step far behind its schedule has failed already. */
        if (c->find_rate && c->count == 0 &&
            now >= run->send_end_ns + (uint64_t)c->duration_s * PERF_TICK_NS)
            atomic_store(&run->stop, true);
        uint64_t wake = SL_MIN(next_tick, now + PERF_NAP_NS);
        if (!warm_taken)
            wake = SL_MIN(wake, run->warm_end_ns);
        perf_sleep_until(wake);
    }
    if (!warm_taken) { /* everything ended inside the warm-up: nothing is measured */
        perf_snap(run, warm);
        warm->at_ns = UINT64_MAX;
    }
    pf_hist_destroy(&ack);
    pf_hist_destroy(&e2e);
}

/* Fills r from the joined run. */
static void perf_collect(pf_run_t *run, const perf_snap_t *warm, pf_result_t *r)
{
    perf_snap_t end;
    perf_snap(run, &end);
    r->partition_count = run->partition_count;
    r->wall_s = (double)(end.at_ns - run->start_ns) / 1e9;
    r->produce_sent = PERF_SUM(run, sent);
    r->produce_acked = end.produced;
    r->produce_errors = PERF_SUM(run, errors);
    uint64_t last_ack = 0;
    for (int i = 0; i < run->producer_count; i++) {
        pf_hist_merge(&r->ack_latency, &run->producers[i].final_hist);
        last_ack = SL_MAX(last_ack, atomic_load(&run->producers[i].last_ns));
    }
    if (warm->at_ns != UINT64_MAX && last_ack > warm->at_ns) {
        r->produce_measured_records = end.produced - warm->produced;
        r->produce_measured_bytes = end.produced_bytes - warm->produced_bytes;
        r->produce_measured_s = (double)(last_ack - warm->at_ns) / 1e9;
    }
    if (run->have_consumer) {
        r->consume_records = end.consumed;
        r->consume_errors = atomic_load(&run->consumer.errors);
        pf_hist_merge(&r->e2e_latency, &run->consumer.final_hist);
        uint64_t last = atomic_load(&run->consumer.last_ns);
        if (warm->at_ns != UINT64_MAX && last > warm->at_ns) {
            r->consume_measured_records = end.consumed - warm->consumed;
            r->consume_measured_bytes = end.consumed_bytes - warm->consumed_bytes;
            /* A consumer that runs for a duration is measured over all of
             * it: ending at its last record would hide a final stall. */
            uint64_t window_end = run->config->mode == PF_MODE_CONSUME && run->config->count == 0
                                      ? run->send_end_ns
                                      : last;
            r->consume_measured_s = (double)(window_end - warm->at_ns) / 1e9;
        }
    }
}

/* One run of configuration c into r (initialised by the caller). Returns
 * 0 when the run took place (r filled; its errors are in r), or
 * PERF_EXIT_FAIL when the engine could not be set up (printed). */
static int perf_run_once(const pf_config_t *c, pf_result_t *r)
{
    bool native = c->engine == PF_ENGINE_NATIVE;
    /* pf_run_t holds PF_MAX_PRODUCERS workers: too large for the stack. */
    pf_run_t *run = calloc(1, sizeof(*run));
    if (run == NULL || pf_run_init(run, c, native ? c->threads : c->producers) != 0) {
        fprintf(stderr, "sluice-perf: out of memory\n");
        free(run);
        return PERF_EXIT_FAIL;
    }
    int rc = PERF_EXIT_FAIL;
    if (native) {
        if (pf_native_prepare(run) != 0)
            goto out;
    } else {
        if (pf_rdk_topic_prepare(run) != 0)
            goto out;
        if (run->producer_count > 0 && pf_rdk_producers_create(run) != 0)
            goto out;
        if (run->have_consumer && pf_rdk_consumer_create(run) != 0)
            goto out;
        if (run->have_consumer && c->group != NULL &&
            pf_rdk_consumer_wait_assigned(run, PERF_ASSIGN_TIMEOUT_MS) != 0)
            goto out;
    }

    run->realtime_offset_ns = pf_realtime_ns() - (int64_t)pf_now_ns();
    run->start_ns = pf_now_ns();
    run->warm_end_ns = run->start_ns + (uint64_t)c->warmup_s * 1000000000ULL;
    run->send_end_ns =
        c->count > 0 ? UINT64_MAX : run->warm_end_ns + (uint64_t)c->duration_s * 1000000000ULL;
    bool started = true;
    if (native) {
        pf_native_start(run);
    } else {
        if (run->have_consumer && pf_rdk_consumer_start(run) != 0)
            started = false;
        if (started && run->producer_count > 0 && pf_rdk_producers_start(run) != 0)
            started = false;
    }
    if (!started) {
        atomic_store(&run->stop, true);
        pf_rdk_join(run);
        goto out;
    }

    perf_snap_t warm = {0};
    double cpu_start = 0.0, cpu_end = 0.0;
    bool have_cpu = false;
    perf_monitor(run, &warm, &cpu_start, &have_cpu);
    if (native)
        pf_native_join(run);
    else
        pf_rdk_join(run);
    if (have_cpu && pf_cpu_read_seconds(c->broker_pid, &cpu_end) != 0)
        have_cpu = false;

    perf_collect(run, &warm, r);
    r->interrupted = perf_signalled != 0;
    if (have_cpu) {
        r->have_broker_cpu = true;
        r->broker_cpu_s = cpu_end - cpu_start;
        uint64_t moved = r->produce_measured_bytes + r->consume_measured_bytes;
        r->broker_cpu_s_per_gb = moved > 0 ? r->broker_cpu_s / ((double)moved / 1e9) : 0.0;
    }
    rc = 0;
out:
    if (native) {
        pf_native_join(run);
        pf_native_release(run);
    } else {
        pf_rdk_release(run);
    }
    pf_run_destroy(run);
    free(run);
    return rc;
}

/* Exit status of a completed run. */
static int perf_exit_status(const pf_config_t *c, const pf_result_t *r)
{
    if (r->produce_errors > 0 || r->consume_errors > 0 || r->interrupted)
        return PERF_EXIT_FAIL;
    if (c->mode == PF_MODE_E2E && r->consume_records < r->produce_acked)
        return PERF_EXIT_FAIL;
    return PERF_EXIT_OK;
}

static void perf_write_json(const pf_config_t *c, const pf_result_t *r, const pf_findrate_t *fr)
{
    if (c->json_path == NULL)
        return;
    int err = pf_report_write_json(c->json_path, c, r, fr);
    if (err != 0)
        fprintf(stderr, "sluice-perf: cannot write %s: %s\n", c->json_path, strerror(-err));
}

/* Rate discovery: steps until the search is over; reports the best step. */
static int perf_find_rate(const pf_config_t *c)
{
    pf_findrate_t *fr = calloc(1, sizeof(*fr));
    pf_result_t best, step;
    if (fr == NULL || pf_result_init(&best) != 0) {
        fprintf(stderr, "sluice-perf: out of memory\n");
        free(fr);
        return PERF_EXIT_FAIL;
    }
    pf_findrate_init(fr, c->p99_max_ms, c->rate > 0 ? c->rate : PF_FINDRATE_DEFAULT_START,
                     c->max_steps);
    bool e2e = c->mode == PF_MODE_E2E;
    pf_config_t best_config = *c;
    bool have_best = false;
    int rc = PERF_EXIT_OK;
    uint64_t rate;
    while ((rate = pf_findrate_next(fr)) != 0 && !perf_signalled) {
        pf_config_t sc = *c;
        sc.rate = rate;
        sc.duration_s = c->step_duration_s;
        sc.count = 0;
        fprintf(stderr, "sluice-perf: find-rate step %d: %" PRIu64 " msg/s for %" PRId64 " s\n",
                fr->step_count + 1, rate, sc.duration_s);
        if (pf_result_init(&step) != 0) {
            rc = PERF_EXIT_FAIL;
            break;
        }
        if (perf_run_once(&sc, &step) != 0) {
            pf_result_destroy(&step);
            rc = PERF_EXIT_FAIL;
            break;
        }
        const pf_hist_t *h = e2e ? &step.e2e_latency : &step.ack_latency;
        double p99_ms = pf_hist_count(h) > 0 ? (double)pf_hist_percentile(h, 99.0) / 1e6 : 1e12;
        double achieved =
            e2e ? (step.consume_measured_s > 0
                       ? (double)step.consume_measured_records / step.consume_measured_s
                       : 0.0)
                : (step.produce_measured_s > 0
                       ? (double)step.produce_measured_records / step.produce_measured_s
                       : 0.0);
        uint64_t errors = step.produce_errors + step.consume_errors;
        if (e2e && step.consume_records < step.produce_acked)
            errors += step.produce_acked - step.consume_records;
        bool passed = pf_findrate_record(fr, rate, p99_ms, achieved, errors);
        printf("find-rate step %2d: rate %10" PRIu64 " msg/s  achieved %10.0f msg/s  %s p99 "
               "%10.3f ms  errors %" PRIu64 "  %s\n",
               fr->step_count, rate, achieved, e2e ? "e2e" : "ack", p99_ms, errors,
               passed ? "pass" : "FAIL");
        fflush(stdout);
        if (passed && rate == pf_findrate_result(fr)) {
            pf_result_destroy(&best);
            best = step;
            best_config = sc;
            have_best = true;
        } else {
            pf_result_destroy(&step);
        }
    }
    printf("max rate under p99 <= %.3f ms (%s): %" PRIu64 " msg/s (%d steps)\n", c->p99_max_ms,
           e2e ? "e2e" : "ack", pf_findrate_result(fr), fr->step_count);
    if (have_best) {
        printf("report of the best step:\n");
        pf_report_print(stdout, &best_config, &best);
    }
    perf_write_json(&best_config, &best, fr);
    if (pf_findrate_result(fr) == 0 || perf_signalled)
        rc = PERF_EXIT_FAIL;
    pf_result_destroy(&best);
    free(fr);
    return rc;
}

int main(int argc, char **argv)
{
    pf_config_t c = {
        .engine = PF_ENGINE_RDKAFKA,
        .bootstrap = "localhost:9092",
        .acks = "1",
        .compression = "none",
        .record_size = 100,
        .keys = PF_KEYS_NONE,
        .batch_size = 1000000,
        .linger_ms = 5,
        .producers = 1,
        .connections = 1,
        .inflight = 5,
        .threads = 1,
        .step_duration_s = PERF_DEFAULT_STEP_S,
        .max_steps = PF_FINDRATE_DEFAULT_STEPS,
    };
    int rc = perf_parse(argc, argv, &c);
    if (rc >= 0)
        return rc;
    if (c.broker_pid > 0) {
        double probe;
        int err = pf_cpu_read_seconds(c.broker_pid, &probe);
        if (err != 0) {
            fprintf(stderr, "sluice-perf: cannot read /proc/%ld/stat: %s\n", (long)c.broker_pid,
                    err < 0 && err > -4096 ? strerror(-err) : "unparseable");
            return PERF_EXIT_USAGE;
        }
    }
    struct sigaction sa = {.sa_handler = perf_on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (c.find_rate)
        return perf_find_rate(&c);

    pf_result_t r;
    if (pf_result_init(&r) != 0) {
        fprintf(stderr, "sluice-perf: out of memory\n");
        return PERF_EXIT_FAIL;
    }
    rc = perf_run_once(&c, &r);
    if (rc == 0) {
        pf_report_print(stdout, &c, &r);
        perf_write_json(&c, &r, NULL);
        rc = perf_exit_status(&c, &r);
    }
    pf_result_destroy(&r);
    return rc;
}
