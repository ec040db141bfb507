/*
 * cli_coordinator_records.c — see cli_coordinator_records.h. The records are
 * decoded with the generated codecs and printed generically as JSON through
 * the generated reflection schema (kp_data_schemas[]): field names are Kafka's,
 * bytes print as base64, uuids as Kafka's base64url text.
 */
#include "sl_base.h"
#include "cli_coordinator_records.h"
#include "kp_codec.h"
#include "kp_messages.h"

#include <inttypes.h>
#include <string.h>

#define PRINT_ARENA_BYTES (64u << 20)

static void print_json_string(FILE *out, const char *p, int32_t len)
{
    fputc('"', out);
    for (int32_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static void print_base64(FILE *out, const uint8_t *p, int32_t len, bool url)
{
    static const char std_alpha[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    static const char url_alpha[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *a = url ? url_alpha : std_alpha;
    fputc('"', out);
    int32_t i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = ((uint32_t)p[i] << 16) | ((uint32_t)p[i + 1] << 8) | p[i + 2];
        fprintf(out, "%c%c%c%c", a[v >> 18], a[(v >> 12) & 63], a[(v >> 6) & 63], a[v & 63]);
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        fprintf(out, "%c%c%s", a[v >> 18], a[(v >> 12) & 63], url ? "" : "==");
    } else if (len - i == 2) {
        uint32_t v = ((uint32_t)p[i] << 16) | ((uint32_t)p[i + 1] << 8);
        fprintf(out, "%c%c%c%s", a[v >> 18], a[(v >> 12) & 63], a[(v >> 6) & 63], url ? "" : "=");
    }
    fputc('"', out);
}

static void print_struct(FILE *out, const kp_struct_desc_t *d, const void *m, int16_t v);

static void print_value(FILE *out, const kp_field_desc_t *f, const void *p, int16_t v)
{
    switch (f->type) {
    case KP_TYPE_INT8:
        fprintf(out, "%d", *(const int8_t *)p);
        break;
    case KP_TYPE_INT16:
        fprintf(out, "%d", *(const int16_t *)p);
        break;
    case KP_TYPE_INT32:
        fprintf(out, "%" PRId32, *(const int32_t *)p);
        break;
    case KP_TYPE_INT64:
        fprintf(out, "%" PRId64, *(const int64_t *)p);
        break;
    case KP_TYPE_UINT16:
        fprintf(out, "%u", *(const uint16_t *)p);
        break;
    case KP_TYPE_UINT32:
        fprintf(out, "%" PRIu32, *(const uint32_t *)p);
        break;
    case KP_TYPE_FLOAT64:
        fprintf(out, "%g", *(const double *)p);
        break;
    case KP_TYPE_BOOL:
        fputs(*(const bool *)p ? "true" : "false", out);
        break;
    case KP_TYPE_STRING: {
        const kp_str_t *s = p;
        if (kp_str_is_null(*s))
            fputs("null", out);
        else
            print_json_string(out, s->ptr, s->len);
        break;
    }
    case KP_TYPE_BYTES:
    case KP_TYPE_RECORDS: {
        const kp_bytes_t *b = p;
        if (b->len < 0)
            fputs("null", out);
        else
            print_base64(out, b->ptr, b->len, false);
        break;
    }
    case KP_TYPE_UUID:
        print_base64(out, ((const kp_uuid_t *)p)->b, 16, true);
        break;
    case KP_TYPE_STRUCT:
        if (f->is_ptr) {
            const void *sp = *(const void *const *)p;
            if (!sp)
                fputs("null", out);
            else
                print_struct(out, f->sub, sp, v);
        } else {
            print_struct(out, f->sub, p, v);
        }
        break;
    case KP_TYPE_COUNT:
        fputs("null", out);
        break;
    }
}

static size_t elem_size(const kp_field_desc_t *f)
{
    switch (f->type) {
    case KP_TYPE_INT8:
    case KP_TYPE_BOOL:
        return 1;
    case KP_TYPE_INT16:
    case KP_TYPE_UINT16:
        return 2;
    case KP_TYPE_INT32:
    case KP_TYPE_UINT32:
        return 4;
    case KP_TYPE_INT64:
    case KP_TYPE_FLOAT64:
        return 8;
    case KP_TYPE_STRING:
        return sizeof(kp_str_t);
    case KP_TYPE_BYTES:
    case KP_TYPE_RECORDS:
        return sizeof(kp_bytes_t);
    case KP_TYPE_UUID:
        return sizeof(kp_uuid_t);
    case KP_TYPE_STRUCT:
        return f->sub->size;
    case KP_TYPE_COUNT:
        break;
    }
    return 0;
}

static void print_struct(FILE *out, const kp_struct_desc_t *d, const void *m, int16_t v)
{
    const uint8_t *base = m;
    bool first = true;
    fputc('{', out);
    for (size_t i = 0; i < d->field_count; i++) {
        const kp_field_desc_t *f = &d->fields[i];
        if (v < f->min_version || v > f->max_version)
            continue;
        if (!first)
            fputc(',', out);
        first = false;
        fprintf(out, "\"%s\":", f->name);
        if (!f->is_array) {
            print_value(out, f, base + f->offset, v);
            continue;
        }
        const uint8_t *elems = *(const uint8_t *const *)(base + f->offset);
        int32_t count = *(const int32_t *)(base + f->count_offset);
        if (count < 0) {
            fputs("null", out);
            continue;
        }
        fputc('[', out);
        size_t es = elem_size(f);
        for (int32_t k = 0; k < count; k++) {
            if (k)
                fputc(',', out);
            kp_field_desc_t ef = *f;
            ef.is_ptr = false;
            print_value(out, &ef, elems + (size_t)k * es, v);
        }
        fputc(']', out);
    }
    fputc('}', out);
}

static const kp_data_schema_t *find_schema(int16_t type, const char *suffix)
{
    for (size_t i = 0; i < kp_data_schema_count; i++) {
        const kp_data_schema_t *s = &kp_data_schemas[i];
        size_t n = strlen(s->name), sn = strlen(suffix);
        if (s->record_type == type && n > sn && strcmp(s->name + n - sn, suffix) == 0)
            return s;
    }
    return NULL;
}

/* Decodes and prints one part (key or value). Returns false if it does not decode. */
static bool print_part(FILE *out, const kp_data_schema_t *s, int16_t version, const uint8_t *p,
                       size_t len, kp_arena_t *arena)
{
    if (version < s->min_version || version > s->max_version)
        return false;
    void *m = kp_arena_alloc(arena, s->schema.desc->size);
    if (!m)
        return false;
    kp_reader_t r;
    kp_reader_init(&r, p, len);
    if (s->schema.decode(&r, arena, version, m) != 0)
        return false;
    fprintf(out, "{\"type\":\"%d\",\"data\":", s->record_type);
    print_struct(out, s->schema.desc, m, version);
    fputc('}', out);
    return true;
}

void cli_print_coordinator_record(FILE *out, const kp_record_t *rec)
{
    if (!rec->key || rec->key_len < 2) {
        fputs(" key: (not a coordinator record)", out);
        return;
    }
    int16_t type = (int16_t)((rec->key[0] << 8) | rec->key[1]);
    int16_t key_type = type == 0 ? 1 : type; /* 0: the legacy offset commit key */
    const kp_data_schema_t *ks = find_schema(key_type, "Key");
    const kp_data_schema_t *vs = find_schema(key_type, "Value");
    kp_arena_t arena;
    kp_arena_init(&arena, PRINT_ARENA_BYTES);
    fputs(" key: ", out);
    if (!ks || !print_part(out, ks, 0, rec->key + 2, (size_t)rec->key_len - 2, &arena)) {
        fprintf(out, "(unknown record type %d)", type);
        kp_arena_destroy(&arena);
        return;
    }
    fputs(" payload: ", out);
    if (!rec->value) {
        fputs("null", out);
    } else if (rec->value_len < 2 || !vs) {
        fputs("(undecodable)", out);
    } else {
        int16_t version = (int16_t)((rec->value[0] << 8) | rec->value[1]);
        fprintf(out, "{\"version\":\"%d\",\"data\":", version);
        kp_reader_t r;
        kp_reader_init(&r, rec->value + 2, (size_t)rec->value_len - 2);
        void *m = kp_arena_alloc(&arena, vs->schema.desc->size);
        if (m && version >= vs->min_version && version <= vs->max_version &&
            vs->schema.decode(&r, &arena, version, m) == 0)
            print_struct(out, vs->schema.desc, m, version);
        else
            fputs("\"(undecodable)\"", out);
        fputc('}', out);
    }
    kp_arena_destroy(&arena);
}
