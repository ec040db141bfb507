/*
 * rdk_crash_producer — the client side of tests/crash/crash_loop.sh.
 *
 *   rdk_crash_producer BOOTSTRAP TOPIC ACKED_FILE
 *
 * An idempotent (enable.idempotence=true, acks=all) librdkafka producer that
 * sends values "0", "1", "2", ... keyed "k<seq % 64>" until SIGTERM, then
 * flushes what is outstanding and exits. Every successful delivery report is
 * appended to ACKED_FILE as "partition offset seq". Exit 0 when the flush
 * completed and no record failed; 1 otherwise (failures are printed).
 */
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static FILE *acked;
static long failures;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err) {
        if (failures++ < 10)
            fprintf(stderr, "rdk_crash_producer: delivery failed: %s\n", rd_kafka_err2str(m->err));
        return;
    }
    fprintf(acked, "%d %lld %.*s\n", m->partition, (long long)m->offset, (int)m->len,
            (const char *)m->payload);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: rdk_crash_producer BOOTSTRAP TOPIC ACKED_FILE\n");
        return 2;
    }
    acked = fopen(argv[3], "w");
    if (!acked) {
        perror(argv[3]);
        return 2;
    }
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *settings[][2] = {
        {"bootstrap.servers", argv[1]}, {"enable.idempotence", "true"}, {"acks", "all"},
        {"linger.ms", "5"},             {"message.timeout.ms", "300000"},
        {"reconnect.backoff.ms", "50"}, {"reconnect.backoff.max.ms", "500"},
    };
    for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++)
        if (rd_kafka_conf_set(conf, settings[i][0], settings[i][1], err, sizeof(err)) !=
            RD_KAFKA_CONF_OK) {
            fprintf(stderr, "%s\n", err);
            return 2;
        }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    long seq = 0;
    while (!stop) {
        char key[16], value[24];
        int kl = snprintf(key, sizeof(key), "k%ld", seq % 64);
        int vl = snprintf(value, sizeof(value), "%ld", seq);
        rd_kafka_resp_err_t e =
            rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(argv[2]), RD_KAFKA_V_KEY(key, (size_t)kl),
                              RD_KAFKA_V_VALUE(value, (size_t)vl),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(rk, 10);
            continue;
        }
        if (e) {
            fprintf(stderr, "rdk_crash_producer: produce: %s\n", rd_kafka_err2str(e));
            failures++;
            break;
        }
        seq++;
        if (seq % 200 == 0) {
            rd_kafka_poll(rk, 0);
            struct timespec ts = {0, 20 * 1000 * 1000}; /* about 10k records/s */
            nanosleep(&ts, NULL);
        }
    }
    rd_kafka_resp_err_t fe = rd_kafka_flush(rk, 120000);
    rd_kafka_resp_err_t fatal = rd_kafka_fatal_error(rk, err, sizeof(err));
    if (fatal)
        fprintf(stderr, "rdk_crash_producer: fatal error: %s\n", err);
    fclose(acked);
    long left = rd_kafka_outq_len(rk);
    rd_kafka_destroy(rk);
    fprintf(stderr, "rdk_crash_producer: sent %ld records, %ld failed, %ld undelivered\n", seq,
            failures, left);
    return (fe || fatal || failures || left) ? 1 : 0;
}
