/*
 * pf_report.c — see pf_report.h.
 */
#include "pf_report.h"

#include <errno.h>
#include <inttypes.h>

const char *const pf_mode_names[PF_MODE_COUNT] = {
    [PF_MODE_PRODUCE] = "produce",
    [PF_MODE_CONSUME] = "consume",
    [PF_MODE_E2E] = "e2e",
};

const char *const pf_keys_names[PF_KEYS_COUNT] = {
    [PF_KEYS_NONE] = "none",
    [PF_KEYS_RANDOM] = "random",
    [PF_KEYS_SEQ] = "seq",
};

const char *const pf_engine_names[PF_ENGINE_COUNT] = {
    [PF_ENGINE_RDKAFKA] = "rdkafka",
    [PF_ENGINE_NATIVE] = "native",
};

/* Percentiles reported for every latency histogram, and their labels. */
static const double pf_report_pcts[] = {50.0, 99.0, 99.9, 99.99};
static const char *const pf_report_pct_names[] = {"p50", "p99", "p99.9", "p99.99"};
_Static_assert(SL_ARRAY_SIZE(pf_report_pcts) == SL_ARRAY_SIZE(pf_report_pct_names),
               "one label per percentile");

#define PF_NS_PER_MS 1e6

int pf_result_init(pf_result_t *r)
{
    memset(r, 0, sizeof(*r));
    if (pf_hist_init(&r->ack_latency, PF_LAT_LOWEST_NS, PF_LAT_HIGHEST_NS, PF_LAT_DIGITS) != 0)
        return -ENOMEM;
    if (pf_hist_init(&r->e2e_latency, PF_LAT_LOWEST_NS, PF_LAT_HIGHEST_NS, PF_LAT_DIGITS) != 0) {
        pf_hist_destroy(&r->ack_latency);
        return -ENOMEM;
    }
    return 0;
}

void pf_result_destroy(pf_result_t *r)
{
    pf_hist_destroy(&r->ack_latency);
    pf_hist_destroy(&r->e2e_latency);
}

static double pf_rate(uint64_t n, double seconds)
{
    return seconds > 0.0 ? (double)n / seconds : 0.0;
}

static bool pf_mode_produces(pf_mode_t m)
{
    return m == PF_MODE_PRODUCE || m == PF_MODE_E2E;
}

static bool pf_mode_consumes(pf_mode_t m)
{
    return m == PF_MODE_CONSUME || m == PF_MODE_E2E;
}

static void pf_report_print_latency(FILE *out, const char *label, const pf_hist_t *h)
{
    fprintf(out, "%-22s", label);
    if (pf_hist_count(h) == 0) {
        fprintf(out, "no samples\n");
        return;
    }
    for (size_t i = 0; i < SL_ARRAY_SIZE(pf_report_pcts); i++)
        fprintf(out, " %s=%.3f", pf_report_pct_names[i],
                (double)pf_hist_percentile(h, pf_report_pcts[i]) / PF_NS_PER_MS);
    fprintf(out, " max=%.3f ms (samples=%" PRIu64 ")\n", (double)pf_hist_max(h) / PF_NS_PER_MS,
            pf_hist_count(h));
}

int pf_report_print(FILE *out, const pf_config_t *c, const pf_result_t *r)
{
    fprintf(out, "sluice-perf %s  engine=%s\n", pf_mode_names[c->mode], pf_engine_names[c->engine]);
    fprintf(out, "settings: bootstrap=%s topic=%s partitions=%" PRId32 "\n", c->bootstrap, c->topic,
            r->partition_count);
    if (pf_mode_produces(c->mode))
        fprintf(out,
                "          record-size=%" PRIu32 " keys=%s acks=%s compression=%s"
                " batch-size=%" PRId64 " linger-ms=%" PRId64 " producers=%d rate=%s",
                c->record_size, pf_keys_names[c->keys], c->acks, c->compression, c->batch_size,
                c->linger_ms, c->producers, c->rate == 0 ? "max" : "");
    if (pf_mode_produces(c->mode) && c->rate > 0)
        fprintf(out, "%" PRIu64 " msg/s", c->rate);
    if (pf_mode_produces(c->mode))
        fprintf(out, "\n");
    if (c->engine == PF_ENGINE_NATIVE)
        fprintf(out, "          threads=%d connections=%d inflight=%d\n", c->threads,
                c->connections, c->inflight);
    if (pf_mode_consumes(c->mode))
        fprintf(out, "          group=%s\n", c->group != NULL ? c->group : "(none: assign)");
    if (c->count > 0)
        fprintf(out, "          count=%" PRIu64, c->count);
    else
        fprintf(out, "          duration=%" PRId64 " s", c->duration_s);
    if (c->find_rate)
        fprintf(out, " (find-rate step)");
    fprintf(out, " warmup=%" PRId64 " s broker-pid=%ld wall=%.2f s%s\n", c->warmup_s,
            (long)c->broker_pid, r->wall_s, r->interrupted ? " INTERRUPTED" : "");

    if (pf_mode_produces(c->mode)) {
        fprintf(out,
                "produce: %.0f msg/s  %.2f MB/s  (%" PRIu64 " records acked in %.3f s "
                "measured; sent %" PRIu64 ", acked %" PRIu64 ", delivery errors %" PRIu64 ")\n",
                pf_rate(r->produce_measured_records, r->produce_measured_s),
                pf_rate(r->produce_measured_bytes, r->produce_measured_s) / 1e6,
                r->produce_measured_records, r->produce_measured_s, r->produce_sent,
                r->produce_acked, r->produce_errors);
        pf_report_print_latency(out, "ack latency (ms):", &r->ack_latency);
    }
    if (pf_mode_consumes(c->mode)) {
        fprintf(out,
                "consume: %.0f msg/s  %.2f MB/s  (%" PRIu64 " records in %.3f s measured; "
                "received %" PRIu64 ", errors %" PRIu64 ")\n",
                pf_rate(r->consume_measured_records, r->consume_measured_s),
                pf_rate(r->consume_measured_bytes, r->consume_measured_s) / 1e6,
                r->consume_measured_records, r->consume_measured_s, r->consume_records,
                r->consume_errors);
    }
    if (c->mode == PF_MODE_E2E)
        pf_report_print_latency(out, "e2e latency (ms):", &r->e2e_latency);
    if (r->have_broker_cpu)
        fprintf(out, "broker cpu: %.2f s  %.2f cpu-s/GB moved (produced + consumed, %.3f GB)\n",
                r->broker_cpu_s, r->broker_cpu_s_per_gb,
                (double)(r->produce_measured_bytes + r->consume_measured_bytes) / 1e9);
    else
        fprintf(out, "broker cpu: not measured%s\n",
                c->broker_pid > 0 ? " (/proc/PID/stat unreadable)" : " (no --broker-pid)");
    fflush(out);
    return ferror(out) ? -EIO : 0;
}

/* Writes s as a JSON string literal. */
static void pf_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void pf_json_latency(FILE *f, const char *name, const pf_hist_t *h)
{
    fprintf(f, ",\n  \"%s\": {\"samples\": %" PRIu64, name, pf_hist_count(h));
    for (size_t i = 0; i < SL_ARRAY_SIZE(pf_report_pcts); i++)
        fprintf(f, ", \"%s_ms\": %.6f", pf_report_pct_names[i],
                (double)pf_hist_percentile(h, pf_report_pcts[i]) / PF_NS_PER_MS);
    fprintf(f, ", \"max_ms\": %.6f}", (double)pf_hist_max(h) / PF_NS_PER_MS);
}

int pf_report_write_json(const char *path, const pf_config_t *c, const pf_result_t *r,
                         const pf_findrate_t *fr)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -errno;
    fprintf(f, "{\n  \"engine\": \"%s\",\n  \"mode\": \"%s\",\n  \"settings\": {",
            pf_engine_names[c->engine], pf_mode_names[c->mode]);
    fprintf(f, "\"engine\": \"%s\", ", pf_engine_names[c->engine]);
    fprintf(f, "\"bootstrap\": ");
    pf_json_string(f, c->bootstrap);
    fprintf(f, ", \"topic\": ");
    pf_json_string(f, c->topic);
    fprintf(f, ", \"partitions\": %" PRId32, r->partition_count);
    if (pf_mode_produces(c->mode))
        fprintf(f,
                ", \"record_size\": %" PRIu32 ", \"keys\": \"%s\", \"acks\": \"%s\""
                ", \"compression\": \"%s\", \"batch_size\": %" PRId64 ", \"linger_ms\": %" PRId64
                ", \"producers\": %d, \"rate\": %" PRIu64,
                c->record_size, pf_keys_names[c->keys], c->acks, c->compression, c->batch_size,
                c->linger_ms, c->producers, c->rate);
    if (pf_mode_consumes(c->mode)) {
        fprintf(f, ", \"group\": ");
        if (c->group != NULL)
            pf_json_string(f, c->group);
        else
            fprintf(f, "null");
    }
    fprintf(f,
            ", \"duration_s\": %" PRId64 ", \"count\": %" PRIu64 ", \"warmup_s\": %" PRId64
            ", \"broker_pid\": %ld",
            c->duration_s, c->count, c->warmup_s, (long)c->broker_pid);
    if (c->engine == PF_ENGINE_NATIVE)
        fprintf(f, ", \"threads\": %d, \"connections\": %d, \"inflight\": %d", c->threads,
                c->connections, c->inflight);
    fprintf(f, "}");
    fprintf(f, ",\n  \"wall_s\": %.6f,\n  \"interrupted\": %s", r->wall_s,
            r->interrupted ? "true" : "false");
    if (pf_mode_produces(c->mode)) {
        fprintf(f,
                ",\n  \"produce\": {\"msg_per_s\": %.3f, \"mb_per_s\": %.6f, "
                "\"measured_records\": %" PRIu64 ", \"measured_bytes\": %" PRIu64
                ", \"measured_s\": %.6f, \"sent\": %" PRIu64 ", \"acked\": %" PRIu64
                ", \"delivery_errors\": %" PRIu64 "}",
                pf_rate(r->produce_measured_records, r->produce_measured_s),
                pf_rate(r->produce_measured_bytes, r->produce_measured_s) / 1e6,
                r->produce_measured_records, r->produce_measured_bytes, r->produce_measured_s,
                r->produce_sent, r->produce_acked, r->produce_errors);
        pf_json_latency(f, "ack_latency", &r->ack_latency);
    }
    if (pf_mode_consumes(c->mode))
        fprintf(f,
                ",\n  \"consume\": {\"msg_per_s\": %.3f, \"mb_per_s\": %.6f, "
                "\"measured_records\": %" PRIu64 ", \"measured_bytes\": %" PRIu64
                ", \"measured_s\": %.6f, \"received\": %" PRIu64 ", \"errors\": %" PRIu64 "}",
                pf_rate(r->consume_measured_records, r->consume_measured_s),
                pf_rate(r->consume_measured_bytes, r->consume_measured_s) / 1e6,
                r->consume_measured_records, r->consume_measured_bytes, r->consume_measured_s,
                r->consume_records, r->consume_errors);
    if (c->mode == PF_MODE_E2E)
        pf_json_latency(f, "e2e_latency", &r->e2e_latency);
    if (r->have_broker_cpu)
        fprintf(f, ",\n  \"broker_cpu\": {\"cpu_s\": %.3f, \"cpu_s_per_gb\": %.6f}",
                r->broker_cpu_s, r->broker_cpu_s_per_gb);
    else
        fprintf(f, ",\n  \"broker_cpu\": null");
    if (fr != NULL) {
        fprintf(f,
                ",\n  \"find_rate\": {\"metric\": \"%s\", \"p99_max_ms\": %.6f, "
                "\"step_duration_s\": %" PRId64 ", \"max_rate_msg_per_s\": %" PRIu64
                ", \"steps\": [",
                c->mode == PF_MODE_E2E ? "e2e_p99" : "ack_p99", fr->p99_max_ms, c->step_duration_s,
                pf_findrate_result(fr));
        for (int i = 0; i < fr->step_count; i++)
            fprintf(f,
                    "%s\n    {\"rate\": %" PRIu64 ", \"achieved_msg_per_s\": %.3f, "
                    "\"p99_ms\": %.6f, \"errors\": %" PRIu64 ", \"passed\": %s}",
                    i == 0 ? "" : ",", fr->steps[i].rate, fr->steps[i].achieved_msg_s,
                    fr->steps[i].p99_ms, fr->steps[i].errors,
                    fr->steps[i].passed ? "true" : "false");
        fprintf(f, "]}");
    }
    fprintf(f, "\n}\n");
    int rc = ferror(f) ? -EIO : 0;
    if (fclose(f) != 0 && rc == 0)
        rc = -errno;
    return rc;
}
