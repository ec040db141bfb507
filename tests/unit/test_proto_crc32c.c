/* test_proto_crc32c.c — CRC-32C: catalogue vectors, chaining, every short length and
 * alignment against the table implementation, and a printed throughput figure. */
#include "sl_base.h"
#include "kp_crc32c.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <time.h>

/* Bit-at-a-time reference, independent of every table and instruction. */
static uint32_t crc_bitwise(uint32_t crc, const uint8_t *p, size_t len)
{
    crc = ~crc;
    for (size_t i = 0; i < len; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
    }
    return ~crc;
}

static void fill_random(uint8_t *p, size_t len, uint32_t seed)
{
    uint64_t x = 0x9E3779B97F4A7C15ull ^ seed;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (uint8_t)x;
    }
}

Test(crc32c, matches_the_catalogue_check_value)
{
    cr_assert_eq(kp_crc32c(0, "123456789", 9), 0xE3069283u);
    for (int i = 0; i < KP_CRC32C_IMPL_COUNT; i++)
        if (kp_crc32c_impl_supported(i))
            cr_assert_eq(kp_crc32c_with(i, 0, "123456789", 9), 0xE3069283u, "impl %s",
                         kp_crc32c_impl_name(i));
}

Test(crc32c, matches_rfc3720_iscsi_vectors)
{
    /* RFC 3720 appendix B.4. */
    uint8_t buf[48];
    memset(buf, 0, 32);
    cr_assert_eq(kp_crc32c(0, buf, 32), 0x8A9136AAu);
    memset(buf, 0xFF, 32);
    cr_assert_eq(kp_crc32c(0, buf, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)i;
    cr_assert_eq(kp_crc32c(0, buf, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)(31 - i);
    cr_assert_eq(kp_crc32c(0, buf, 32), 0x113FDB5Cu);
    static const uint8_t iscsi_read[48] = {
        0x01, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
        0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    };
    cr_assert_eq(kp_crc32c(0, iscsi_read, 48), 0xD9963A56u);
}

Test(crc32c, empty_input_keeps_the_crc)
{
    cr_assert_eq(kp_crc32c(0, NULL, 0), 0u);
    cr_assert_eq(kp_crc32c(0xDEADBEEFu, "", 0), 0xDEADBEEFu);
}

Test(crc32c, chaining_equals_one_pass)
{
    static uint8_t buf[100000];
    fill_random(buf, sizeof(buf), 7);
    uint32_t whole = kp_crc32c(0, buf, sizeof(buf));
    static const size_t cuts[] = {0, 1, 7, 8, 9, 255, 767, 768, 769, 24575, 24576, 50001, 99999};
    for (size_t i = 0; i < SL_ARRAY_SIZE(cuts); i++) {
        uint32_t c = kp_crc32c(0, buf, cuts[i]);
        c = kp_crc32c(c, buf + cuts[i], sizeof(buf) - cuts[i]);
        cr_assert_eq(c, whole, "cut at %zu", cuts[i]);
    }
}

Test(crc32c, every_length_and_alignment_matches_the_table)
{
    static uint8_t buf[300 + 16];
    fill_random(buf, sizeof(buf), 42);
    for (size_t align = 0; align < 16; align++) {
        for (size_t len = 0; len <= 300; len++) {
            const uint8_t *p = buf + align;
            uint32_t want = kp_crc32c_with(KP_CRC32C_TABLE, 0, p, len);
            if (align == 0 || align == 5)
                cr_assert_eq(want, crc_bitwise(0, p, len), "table vs bitwise len %zu", len);
            for (int impl = 0; impl < KP_CRC32C_IMPL_COUNT; impl++) {
                if (!kp_crc32c_impl_supported(impl))
                    continue;
                cr_assert_eq(kp_crc32c_with(impl, 0, p, len), want, "%s len %zu align %zu",
                             kp_crc32c_impl_name(impl), len, align);
                cr_assert_eq(kp_crc32c_with(impl, 0x12345678u, p, len),
                             kp_crc32c_with(KP_CRC32C_TABLE, 0x12345678u, p, len));
            }
        }
    }
}

Test(crc32c, long_buffers_through_the_three_way_path_match_the_table)
{
    /* Lengths around the 3 x 256 and 3 x 8192 chunk sizes, and odd large ones. */
    static const size_t lens[] = {767,   768,   769,   1000,  1536,  2304,   4096,   24575,
                                  24576, 24577, 25344, 49152, 65536, 100003, 1 << 20};
    size_t max = 1 << 20;
    uint8_t *buf = malloc(max + 16);
    cr_assert(buf);
    fill_random(buf, max + 16, 99);
    for (size_t i = 0; i < SL_ARRAY_SIZE(lens); i++) {
        for (size_t align = 0; align < 8; align += 3) {
            uint32_t want = kp_crc32c_with(KP_CRC32C_TABLE, 0, buf + align, lens[i]);
            for (int impl = 1; impl < KP_CRC32C_IMPL_COUNT; impl++)
                if (kp_crc32c_impl_supported(impl))
                    cr_assert_eq(kp_crc32c_with(impl, 0, buf + align, lens[i]), want, "%s len %zu",
                                 kp_crc32c_impl_name(impl), lens[i]);
        }
    }
    free(buf);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

Test(crc32c, prints_throughput)
{
    /* A figure, not an assertion (BENCHMARKS.md): 64 KiB buffer stays in L2. */
    size_t len = 64 * 1024;
    uint8_t *buf = malloc(len);
    cr_assert(buf);
    fill_random(buf, len, 1);
    for (int impl = 0; impl < KP_CRC32C_IMPL_COUNT; impl++) {
        if (!kp_crc32c_impl_supported(impl))
            continue;
        uint32_t c = 0;
        size_t total = 0;
        double t0 = now_s(), t;
        do {
            for (int i = 0; i < 64; i++)
                c = kp_crc32c_with(impl, c, buf, len);
            total += 64 * len;
            t = now_s();
        } while (t - t0 < 0.2);
        printf("crc32c %-22s %7.2f GB/s (64 KiB buffers, crc %08x)%s\n", kp_crc32c_impl_name(impl),
               (double)total / (t - t0) / 1e9, c,
               impl == (int)kp_crc32c_impl() ? "  <- selected" : "");
    }
#if defined(__SANITIZE_ADDRESS__)
    printf("crc32c (AddressSanitizer build: loads are instrumented; a release build shows the "
           "real figure)\n");
#endif
    fflush(stdout);
    free(buf);
}
