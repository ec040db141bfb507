/* kp_crc32c.c — CRC-32C: table fallback, SSE4.2 single stream, SSE4.2 + PCLMUL
 * three streams. See kp_crc32c.h for the contract. */
#include "sl_base.h"
#include "kp_crc32c.h"

#include <pthread.h>

/* The checksum runs over every produced and recovered byte; keep the hot loops
 * optimised in debug builds too, so that debug-build tests and figures (recovery
 * MB/s) measure the storage code rather than unoptimised intrinsics. */
#if !defined(__OPTIMIZE__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O2")
#endif

#if defined(__x86_64__)
#include <nmmintrin.h> /* _mm_crc32_* (SSE4.2) */
#include <wmmintrin.h> /* _mm_clmulepi64_si128 (PCLMUL) */
#define KP_CRC_X86 1
#endif

/* CRC-32C polynomial, bit-reflected: bit i stands for x^(31 - i). */
#define CRC32C_POLY_REFLECTED 0x82F63B78u

/* Stream lengths of the three-way hardware loop. A chunk is 3 * len bytes; the
 * long block amortises the two multiplies per chunk to nothing, the short block
 * serves buffers of a few KiB (typical batches). */
#define CRC_LONG_BYTES 8192u
#define CRC_SHORT_BYTES 256u

static uint32_t g_table[8][256];
static kp_crc32c_impl_t g_impl = KP_CRC32C_TABLE;
static bool g_supported[KP_CRC32C_IMPL_COUNT];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* Multipliers that shift a CRC register forward over n zero bytes in one carry-less
 * multiply: k(n) = x^(8n - 33) mod P (see crc_shift). Filled by crc_init. */
static uint32_t g_k_long1, g_k_long2, g_k_short1, g_k_short2;

static const char *const g_impl_names[KP_CRC32C_IMPL_COUNT] = {
    [KP_CRC32C_TABLE] = "table (slicing-by-8)",
    [KP_CRC32C_SSE42] = "sse4.2",
    [KP_CRC32C_SSE42_PCLMUL] = "sse4.2+pclmul 3-way",
};

/* --- portable table implementation ------------------------------------------ */

static void table_build(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ CRC32C_POLY_REFLECTED : c >> 1;
        g_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            g_table[t][i] = (g_table[t - 1][i] >> 8) ^ g_table[0][g_table[t - 1][i] & 0xFF];
}

/* Works on the raw register (no init/xorout). */
static uint32_t crc_table_raw(uint32_t c, const uint8_t *p, size_t len)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    while (len > 0 && ((uintptr_t)p & 7) != 0) {
        c = (c >> 8) ^ g_table[0][(c ^ *p++) & 0xFF];
        len--;
    }
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        w ^= c;
        c = g_table[7][w & 0xFF] ^ g_table[6][(w >> 8) & 0xFF] ^ g_table[5][(w >> 16) & 0xFF] ^
            g_table[4][(w >> 24) & 0xFF] ^ g_table[3][(w >> 32) & 0xFF] ^
            g_table[2][(w >> 40) & 0xFF] ^ g_table[1][(w >> 48) & 0xFF] ^ g_table[0][w >> 56];
        p += 8;
        len -= 8;
    }
#endif
    while (len > 0) {
        c = (c >> 8) ^ g_table[0][(c ^ *p++) & 0xFF];
        len--;
    }
    return c;
}

static uint32_t crc_table(uint32_t crc, const uint8_t *p, size_t len)
{
    return ~crc_table_raw(~crc, p, len);
}

/* --- hardware implementations ----------------------------------------------- */

#ifdef KP_CRC_X86
static inline uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

__attribute__((target("sse4.2"))) static uint32_t crc_sse42(uint32_t crc, const uint8_t *p,
                                                            size_t len)
{
    uint64_t c = (uint32_t)~crc;
    while (len > 0 && ((uintptr_t)p & 7) != 0) {
        c = _mm_crc32_u8((uint32_t)c, *p++);
        len--;
    }
    while (len >= 8) {
        c = _mm_crc32_u64(c, load64(p));
        p += 8;
        len -= 8;
    }
    while (len > 0) {
        c = _mm_crc32_u8((uint32_t)c, *p++);
        len--;
    }
    return ~(uint32_t)c;
}

/* Returns crc * x^(8n) mod P, given k = x^(8n - 33) mod P.
 * Why it works: the carry-less product of two bit-reflected 32-bit values, read as
 * a 64-bit reflected value (bit i = x^(63 - i)), is (crc * k) * x; feeding those 64
 * bits to `crc32` from a zero register multiplies by x^32 and reduces mod P. So the
 * result is crc * k * x^33 = crc * x^(8n). */
__attribute__((target("sse4.2,pclmul"))) static inline uint64_t crc_shift(uint64_t crc, uint32_t k)
{
    __m128i a = _mm_cvtsi32_si128((int)(uint32_t)crc);
    __m128i b = _mm_cvtsi32_si128((int)k);
    uint64_t prod = (uint64_t)_mm_cvtsi128_si64(_mm_clmulepi64_si128(a, b, 0x00));
    return _mm_crc32_u64(0, prod);
}

/* One chunk of three streams of block bytes each, starting from register c0.
 * Registers are linear in their input: CRC(s, A||B||C) = s*x^(8*3b) + CRC(0, A)*x^(8*2b)
 * + ... so streams 2 and 3 start at zero and the three are shifted and xored. */
#define CRC_THREE_WAY(block, k1, k2)                                                               \
    while (len >= 3 * (block)) {                                                                   \
        uint64_t c1 = 0, c2 = 0;                                                                   \
        const uint8_t *end = p + (block);                                                          \
        do {                                                                                       \
            c0 = _mm_crc32_u64(c0, load64(p));                                                     \
            c1 = _mm_crc32_u64(c1, load64(p + (block)));                                           \
            c2 = _mm_crc32_u64(c2, load64(p + 2 * (block)));                                       \
            c0 = _mm_crc32_u64(c0, load64(p + 8));                                                 \
            c1 = _mm_crc32_u64(c1, load64(p + (block) + 8));                                       \
            c2 = _mm_crc32_u64(c2, load64(p + 2 * (block) + 8));                                   \
            p += 16;                                                                               \
        } while (p < end);                                                                         \
        c0 = crc_shift(c0, (k2)) ^ crc_shift(c1, (k1)) ^ c2;                                       \
        p += 2 * (block);                                                                          \
        len -= 3 * (block);                                                                        \
    }

__attribute__((target("sse4.2,pclmul"))) static uint32_t
crc_sse42_pclmul(uint32_t crc, const uint8_t *p, size_t len)
{
    uint64_t c0 = (uint32_t)~crc;
    while (len > 0 && ((uintptr_t)p & 7) != 0) {
        c0 = _mm_crc32_u8((uint32_t)c0, *p++);
        len--;
    }
    CRC_THREE_WAY(CRC_LONG_BYTES, g_k_long1, g_k_long2)
    CRC_THREE_WAY(CRC_SHORT_BYTES, g_k_short1, g_k_short2)
    while (len >= 8) {
        c0 = _mm_crc32_u64(c0, load64(p));
        p += 8;
        len -= 8;
    }
    while (len > 0) {
        c0 = _mm_crc32_u8((uint32_t)c0, *p++);
        len--;
    }
    return ~(uint32_t)c0;
}
#endif /* KP_CRC_X86 */

/* x^(8n - 33) mod P, reflected. Multiplying by x is a right shift (bit i, x^(31-i),
 * becomes x^(32-i) = bit i-1) with x^32 folded back as P's low terms. */
static uint32_t crc_shift_constant(size_t n_bytes)
{
    ASSERT(n_bytes * 8 > 33);
    uint32_t a = 0x80000000u; /* x^0 */
    for (size_t i = 0; i < n_bytes * 8 - 33; i++)
        a = (a & 1) ? (a >> 1) ^ CRC32C_POLY_REFLECTED : a >> 1;
    return a;
}

static void crc_init(void)
{
    table_build();
    g_supported[KP_CRC32C_TABLE] = true;
    g_impl = KP_CRC32C_TABLE;
#ifdef KP_CRC_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2")) {
        g_supported[KP_CRC32C_SSE42] = true;
        g_impl = KP_CRC32C_SSE42;
        if (__builtin_cpu_supports("pclmul")) {
            g_k_long1 = crc_shift_constant(CRC_LONG_BYTES);
            g_k_long2 = crc_shift_constant(2 * CRC_LONG_BYTES);
            g_k_short1 = crc_shift_constant(CRC_SHORT_BYTES);
            g_k_short2 = crc_shift_constant(2 * CRC_SHORT_BYTES);
            g_supported[KP_CRC32C_SSE42_PCLMUL] = true;
            g_impl = KP_CRC32C_SSE42_PCLMUL;
        }
    }
#endif
}

static uint32_t crc_dispatch(kp_crc32c_impl_t impl, uint32_t crc, const uint8_t *p, size_t len)
{
    switch (impl) {
#ifdef KP_CRC_X86
    case KP_CRC32C_SSE42_PCLMUL:
        return crc_sse42_pclmul(crc, p, len);
    case KP_CRC32C_SSE42:
        return crc_sse42(crc, p, len);
#endif
    default:
        return crc_table(crc, p, len);
    }
}

uint32_t kp_crc32c_with(kp_crc32c_impl_t impl, uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&g_once, crc_init);
    ASSERT(impl < KP_CRC32C_IMPL_COUNT && g_supported[impl]);
    ASSERT(buf != NULL || len == 0);
    return crc_dispatch(impl, crc, buf, len);
}

uint32_t kp_crc32c(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&g_once, crc_init);
    return crc_dispatch(g_impl, crc, buf, len);
}

kp_crc32c_impl_t kp_crc32c_impl(void)
{
    pthread_once(&g_once, crc_init);
    return g_impl;
}

const char *kp_crc32c_impl_name(kp_crc32c_impl_t impl)
{
    ASSERT(impl < KP_CRC32C_IMPL_COUNT);
    return g_impl_names[impl];
}

bool kp_crc32c_impl_supported(kp_crc32c_impl_t impl)
{
    pthread_once(&g_once, crc_init);
    return impl < KP_CRC32C_IMPL_COUNT && g_supported[impl];
}
