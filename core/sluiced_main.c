/*
 * sluiced_main.c — the broker process: configuration, start-up, shards,
 * signals, clean shutdown.
 *
 *   sluiced [server.properties] [--override key=value ...]
 *
 * Start-up: settings (file, then SLUICE_* environment, then --override; any
 * mistake exits with status 2 and a message), io_uring probed, log dirs
 * created, clean-shutdown markers taken (absent in a non-empty dir => the logs
 * are recovered; the log says which), the metadata log replayed, then one
 * shard thread per core. The main thread then only waits for SIGTERM/SIGINT;
 * on the first it asks every shard to stop (closing connections, finishing
 * in-flight writes, closing logs cleanly) and, if all went well, writes the
 * clean-shutdown markers.
 */
#include "sl_base.h"
#include "sl_config.h"
#include "sl_controller.h"
#include "sl_log.h"
#include "sl_shard.h"
#include "sl_topic_config.h"
#include "st_store.h"

#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* How long start-up waits for a log dir lock or the listener address held by
 * another process: long enough for a killed broker to finish dying (its
 * io_uring teardown can keep the socket a moment), short enough to fail
 * clearly when another broker really runs. */
#define START_WAIT_FOR_PREVIOUS_S 15

/* Kafka's log dir lock: <dir>/.lock held with flock(2) for the life of the
 * process (the fd is never closed). Returns 0, -EWOULDBLOCK when another
 * process holds it after START_WAIT_FOR_PREVIOUS_S, or -errno. */
static int lock_log_dir(const char *dir)
{
    char path[SL_MAX_PATH + 8];
    snprintf(path, sizeof(path), "%s/.lock", dir);
    int fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    for (int i = 0; i < START_WAIT_FOR_PREVIOUS_S * 10; i++) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            return 0;
        if (errno != EWOULDBLOCK) {
            int err = -errno;
            close(fd);
            return err;
        }
        if (i == 0)
            LOG_WARN("log dir %s is locked by another process; waiting up to %d s", dir,
                     START_WAIT_FOR_PREVIOUS_S);
        usleep(100000);
    }
    close(fd);
    return -EWOULDBLOCK;
}

/* True if dir holds nothing but a .lock: a new log dir (a fresh volume), which
 * has no clean-shutdown marker yet nothing to recover either. */
static bool log_dir_is_empty(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return false;
    bool empty = true;
    struct dirent *de;
    while (empty && (de = readdir(d)) != NULL)
        empty = strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
                strcmp(de->d_name, ".lock") == 0;
    closedir(d);
    return empty;
}

#define SLUICE_VERSION "0.1.0"

static void usage(FILE *f)
{
    fprintf(f, "usage: sluiced [server.properties] [--override key=value ...]\n"
               "       sluiced --help | --version\n\n"
               "Settings use Kafka's names (listeners, advertised.listeners, log.dirs,\n"
               "num.partitions, auto.create.topics.enable, socket.request.max.bytes, ...) plus\n"
               "num.shards (0 = one shard per core) and log.level.\n\n"
               "Precedence: defaults < the file < environment < --override. An environment\n"
               "variable SLUICE_<NAME> sets the setting NAME lower-cased with '_' read as '.'\n"
               "('__' as '_', '___' as '-'): SLUICE_LOG_RETENTION_HOURS=24 sets\n"
               "log.retention.hours. A SLUICE_ variable that names no setting stops start-up.\n");
}

static int mkdir_p(const char *path)
{
    char tmp[SL_MAX_PATH];
    int n = snprintf(tmp, sizeof(tmp), "%s", path);
    if (n <= 0 || (size_t)n >= sizeof(tmp))
        return -ENAMETOOLONG;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static int online_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0)
        return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* Every partition holds one descriptor (its active .log) and every connection
 * one: raise the soft RLIMIT_NOFILE to the hard limit, as Kafka's users do by
 * hand, and say what it allows. */
static void raise_fd_limit(const sl_config_t *c)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t was = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            rl.rlim_cur = was;
    }
    uint64_t slots = (uint64_t)c->max_connections_per_shard * (uint64_t)online_cpus();
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 4096 + slots)
        LOG_INFO("open files limit %llu (hard %llu): partitions plus connections must stay "
                 "below it (one descriptor each); raise it with ulimit -n / --ulimit nofile",
                 (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
}

/* Registered buffers (registered.buffer.bytes per shard) are pinned memory
 * and count against RLIMIT_MEMLOCK: raise the soft limit to the hard one. A
 * shard registers less, or none, when it still does not fit (sl_shard.c). */
static void raise_memlock_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_MEMLOCK, &rl);
    }
}

static int load_config(sl_broker_t *b, int argc, char **argv, char **envp)
{
    char err[1024];
    sl_config_t *c = &b->config;
    sl_config_defaults(c);
    int i = 1;
    if (i < argc && argv[i][0] != '-') {
        int rc = sl_config_load_file(c, argv[i], err, sizeof(err));
        if (rc != 0) {
            fprintf(stderr, "sluiced: %s\n", err);
            return -1;
        }
        i++;
    }
    if (sl_config_load_env(c, envp, err, sizeof(err)) != 0) {
        fprintf(stderr, "sluiced: %s\n", err);
        return -1;
    }
    for (; i < argc; i++) {
        const char *kv = NULL;
        if (strcmp(argv[i], "--override") == 0 && i + 1 < argc)
            kv = argv[++i];
        else if (strncmp(argv[i], "--override=", 11) == 0)
            kv = argv[i] + 11;
        if (!kv) {
            fprintf(stderr, "sluiced: unexpected argument '%s'\n", argv[i]);
            usage(stderr);
            return -1;
        }
        const char *eq = strchr(kv, '=');
        if (!eq || eq == kv) {
            fprintf(stderr, "sluiced: --override expects key=value, got '%s'\n", kv);
            return -1;
        }
        char key[256];
        size_t kl = (size_t)(eq - kv);
        if (kl >= sizeof(key)) {
            fprintf(stderr, "sluiced: setting name too long\n");
            return -1;
        }
        memcpy(key, kv, kl);
        key[kl] = 0;
        int rc = sl_config_set(c, key, eq + 1, err, sizeof(err));
        if (rc == 1) {
            fprintf(stderr, "sluiced: --override: unknown setting '%s'\n", key);
            return -1;
        }
        if (rc != 0) {
            fprintf(stderr, "sluiced: --override: %s\n", err);
            return -1;
        }
    }
    if (sl_config_finish(c, err, sizeof(err)) != 0) {
        fprintf(stderr, "sluiced: %s\n", err);
        return -1;
    }
    /* The broker's log.* defaults obey the same rules as topic overrides. */
    for (size_t k = 0; k < sl_topic_config_count; k++) {
        const sl_topic_config_desc_t *d = &sl_topic_configs[k];
        char buf[32], why[256];
        const char *v = sl_topic_config_default(c, d, buf, sizeof(buf));
        if (sl_topic_config_validate(d->name, strlen(d->name), v, strlen(v), why, sizeof(why)) !=
            0) {
            fprintf(stderr, "sluiced: %s (the default of topic config %s): %s\n",
                    d->broker_synonym, d->name, why);
            return -1;
        }
    }
    if (io_endpoint_parse(c->listeners, &b->listener, err, sizeof(err)) != 0 ||
        io_endpoint_parse(c->advertised_listeners, &b->advertised, err, sizeof(err)) != 0) {
        fprintf(stderr, "sluiced: listeners: %s\n", err);
        return -1;
    }
    if (!b->advertised.host[0] || strcmp(b->advertised.host, "0.0.0.0") == 0) {
        if (gethostname(b->advertised.host, sizeof(b->advertised.host)) != 0)
            snprintf(b->advertised.host, sizeof(b->advertised.host), "localhost");
    }
    return 0;
}

int main(int argc, char **argv, char **envp)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("sluiced %s\n", SLUICE_VERSION);
            return 0;
        }
    }
    static sl_broker_t broker;
    sl_broker_t *b = &broker;
    if (load_config(b, argc, argv, envp) != 0)
        return 2;
    sl_log_set_level((sl_log_level_t)b->config.log_level);
    raise_fd_limit(&b->config);
    raise_memlock_limit();

    /* The main thread's ring (it rings the shards' doorbells at shutdown) is
     * also the probe for io_uring: a kernel or sandbox without it fails here,
     * before anything is touched, with the fix instead of one error per shard.
     * Static, so that the early returns below leak nothing. */
    static io_ring_t main_ring;
    int ring_rc = io_ring_init(&main_ring, 64, 64);
    if (ring_rc != 0) {
        LOG_ERROR("io_uring is not available: %s. sluiced needs it. In a container, the "
                  "default seccomp profile of Docker 25+ and Podman blocks it: run with "
                  "--security-opt seccomp=unconfined, or a profile that allows io_uring_setup, "
                  "io_uring_enter and io_uring_register. On the host, check the sysctl "
                  "kernel.io_uring_disabled (must be 0).",
                  strerror(-ring_rc));
        return 1;
    }

    /* A log dir that cannot be used is reported and taken offline; the broker
     * runs on the others and stops only when none is usable (as Kafka does). */
    int online = 0;
    b->metadata_log_dir = -1;
    for (int i = 0; i < b->config.log_dir_count; i++) {
        const char *dir = b->config.log_dirs[i];
        int rc = mkdir_p(dir);
        bool clean = false, empty = false;
        if (rc == 0) {
            rc = lock_log_dir(dir);
            if (rc == -EWOULDBLOCK) {
                LOG_ERROR("failed to acquire the lock on %s/.lock: another sluiced (or Kafka) "
                          "process is using this log dir", dir);
                return 1;
            }
        }
        if (rc == 0) {
            empty = log_dir_is_empty(dir);
            rc = st_clean_marker_take(dir, &clean);
        }
        if (rc == 0 && access(dir, W_OK) != 0)
            rc = -errno;
        if (rc != 0) {
            LOG_ERROR("log dir %s is offline: %s; its partitions answer KAFKA_STORAGE_ERROR and "
                      "new partitions go to the other dirs",
                      dir, rc < 0 && rc > -4096 ? strerror(-rc) : "unusable");
            b->log_dirs_offline[i] = true;
            continue;
        }
        online++;
        if (b->metadata_log_dir < 0)
            b->metadata_log_dir = i;
        b->log_dirs_clean[i] = clean;
        LOG_INFO("log dir %s: %s", dir,
                 clean   ? "clean shutdown, no recovery needed"
                 : empty ? "new and empty, no recovery needed"
                         : "no clean-shutdown marker: logs will be recovered");
    }
    if (online == 0) {
        LOG_ERROR("no usable log dir among log.dirs=%s", b->config.log_dirs_raw);
        return 1;
    }
    /* Shards listen with SO_REUSEPORT, which would also let a second broker share
     * the port unnoticed: refuse an address another process listens on. */
    for (int i = 0;; i++) {
        int prc = io_listen_check_free(&b->listener);
        if (prc != -EADDRINUSE)
            break;
        if (i == START_WAIT_FOR_PREVIOUS_S * 10) {
            LOG_ERROR("cannot listen on %s:%u: the address is in use by another process",
                      b->listener.host[0] ? b->listener.host : "*", b->listener.port);
            return 1;
        }
        if (i == 0)
            LOG_WARN("%s:%u is in use; waiting up to %d s for it to be released",
                     b->listener.host[0] ? b->listener.host : "*", b->listener.port,
                     START_WAIT_FOR_PREVIOUS_S);
        usleep(100000);
    }

    b->shard_count = b->config.num_shards > 0 ? b->config.num_shards : online_cpus();
    if (b->shard_count > SL_MAX_SHARDS)
        b->shard_count = SL_MAX_SHARDS;
    if (sl_controller_open(b, &b->controller) != 0)
        return 1;

    b->shards = calloc((size_t)b->shard_count, sizeof(*b->shards));
    ASSERT(b->shards);
    for (int i = 0; i < b->shard_count; i++) {
        sl_shard_t *s = &b->shards[i];
        s->id = i;
        s->broker = b;
        s->config = &b->config;
        atomic_init(&s->ring_fd, -1);
        for (int j = 0; j < b->shard_count; j++)
            if (j != i && io_spsc_init(&s->inbox[j], SL_CROSS_SHARD_QUEUE_DEPTH) != 0) {
                LOG_ERROR("out of memory for cross-shard queues");
                return 1;
            }
    }

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    for (int i = 0; i < b->shard_count; i++) {
        if (pthread_create(&b->shards[i].thread, NULL, sl_shard_main, &b->shards[i]) != 0) {
            LOG_ERROR("cannot start shard %d", i);
            return 1;
        }
    }
    while (atomic_load(&b->shards_serving) + atomic_load(&b->shards_failed) < b->shard_count)
        usleep(1000);
    bool failed = atomic_load(&b->shards_failed) > 0;
    if (!failed)
        LOG_INFO("sluiced %s started: %d shards, listening on %s:%u, advertising %s:%u",
                 SLUICE_VERSION, b->shard_count, b->listener.host[0] ? b->listener.host : "*",
                 b->listener.port, b->advertised.host, b->advertised.port);

    if (!failed) {
        int sig = 0;
        while (sigwait(&sigs, &sig) != 0)
            ;
        LOG_INFO("received %s: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    }
    atomic_store(&b->stop, true);
    for (int i = 0; i < b->shard_count; i++) {
        int fd = atomic_load(&b->shards[i].ring_fd);
        if (fd >= 0)
            io_doorbell_ring(&main_ring, fd, -1);
    }
    io_ring_submit(&main_ring);
    for (int i = 0; i < b->shard_count; i++)
        pthread_join(b->shards[i].thread, NULL);
    io_ring_destroy(&main_ring);
    failed = failed || atomic_load(&b->shards_failed) > 0;
    sl_controller_close(b->controller);
    sl_meta_unref(b->initial_meta);
    for (int i = 0; i < b->shard_count; i++)
        for (int j = 0; j < b->shard_count; j++)
            if (j != i)
                io_spsc_destroy(&b->shards[i].inbox[j]);
    bool needs_recovery = false;
    for (int i = 0; i < b->shard_count; i++)
        needs_recovery |= b->shards[i].storage_needs_recovery;
    free(b->shards);
    if (needs_recovery) {
        LOG_WARN("a log lost durability (failed write or sync): no clean-shutdown marker, the "
                 "next start recovers every log");
        return 1;
    }
    if (failed) {
        LOG_ERROR("sluiced failed to start");
        return 1;
    }
    for (int i = 0; i < b->config.log_dir_count; i++)
        if (!b->log_dirs_offline[i] && st_clean_marker_write(b->config.log_dirs[i]) != 0)
            LOG_WARN("could not write the clean-shutdown marker in %s", b->config.log_dirs[i]);
    LOG_INFO("sluiced stopped cleanly");
    return 0;
}
