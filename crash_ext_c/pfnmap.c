/* pfnmap: the hot loops of the kdump-compressed reader.
 *
 * (a) Descriptor index of a page = number of dumpable pages before it.
 *     One pass over the 2nd bitmap keeps a running count per block
 *     (pfnmap_block_counts); a lookup then reads the block that holds the
 *     page and adds the set bits before it (pfnmap_rank).
 * (b) Batch decompression of many pages in one call, with a result code
 *     per page so that one corrupt page does not hide the others.
 * (c) Flattened files: the record-header walk and the overlap merge.
 */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <lzo/lzo1x.h>
#include <snappy-c.h>
#include <zstd.h>

#include "pfnmap.h"

static inline __attribute__((always_inline))
uint64_t popcount_loop(const uint8_t *buf, size_t nbytes)
{
    uint64_t total = 0;
    size_t i = 0;
    for (; i + 8 <= nbytes; i += 8) {
        uint64_t v;
        memcpy(&v, buf + i, 8);      /* bit order does not matter for a count */
        total += (uint64_t)__builtin_popcountll(v);
    }
    for (; i < nbytes; i++)
        total += (uint64_t)__builtin_popcount(buf[i]);
    return total;
}

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
/* Baseline x86-64 has no POPCNT instruction: gcc then counts with a bit-trick
 * routine, ~10x slower over a 32 MiB bitmap.  Use the instruction when the
 * CPU has it. */
__attribute__((target("popcnt")))
static uint64_t popcount_hw(const uint8_t *buf, size_t nbytes)
{
    return popcount_loop(buf, nbytes);
}
#define HAVE_POPCOUNT_HW 1
#endif

uint64_t pfnmap_popcount(const uint8_t *buf, size_t nbytes)
{
#ifdef HAVE_POPCOUNT_HW
    static int hw = -1;
    if (hw < 0) {
        __builtin_cpu_init();
        hw = __builtin_cpu_supports("popcnt") ? 1 : 0;
    }
    if (hw)
        return popcount_hw(buf, nbytes);
#endif
    return popcount_loop(buf, nbytes);
}

/* Set bits of bit positions [from, to) of buf; the caller checks to <= nbytes * 8. */
static uint64_t count_range(const uint8_t *buf, uint64_t from, uint64_t to)
{
    uint64_t total = 0, lo = from >> 3, hi = to >> 3;
    if (from >= to)
        return 0;
    if (lo == hi)          /* both ends inside one byte */
        return (uint64_t)__builtin_popcount(buf[lo] & (0xffu << (from & 7))
                                            & ((1u << (to & 7)) - 1));
    total += (uint64_t)__builtin_popcount(buf[lo] & (0xffu << (from & 7)) & 0xffu);
    total += pfnmap_popcount(buf + lo + 1, (size_t)(hi - lo - 1));
    if (to & 7)
        total += (uint64_t)__builtin_popcount(buf[hi] & ((1u << (to & 7)) - 1));
    return total;
}

/* Running counts, one per block: out[i] = run + set bits in
 * buf[0, min((i + 1) * block_bytes, nbytes)).  This is the one counting pass
 * over the 2nd bitmap; the counts let a later lookup read one block only.
 * Returns the number of blocks written, or -1 if out is too small. */
int64_t pfnmap_block_counts(const uint8_t *buf, size_t nbytes, size_t block_bytes,
                            uint64_t run, uint64_t *out, size_t nout)
{
    size_t blocks, i;
    if (block_bytes == 0)
        return -1;
    blocks = nbytes / block_bytes + (nbytes % block_bytes != 0);
    if (nout < blocks)
        return -1;
    for (i = 0; i < blocks; i++) {
        size_t lo = i * block_bytes;
        size_t len = nbytes - lo < block_bytes ? nbytes - lo : block_bytes;
        run += pfnmap_popcount(buf + lo, len);
        out[i] = run;
    }
    return (int64_t)blocks;
}

/* Batch rank (bitmap bit -> descriptor index).  buf is seen as blocks of
 * block_bits bits (a multiple of 8); base[k] is the index of the first set
 * bit of block k.  For query i:
 *   out[i] = base[k] + set bits from the start of block k to bit[i]   when set,
 *            0                when set and base is NULL (a plain bit test),
 *            PFNMAP_CLEAR     when clear,
 *            PFNMAP_OUT_RANGE when bit[i] is outside buf or block k has no base.
 * Returns 0, or -1 for a bad block_bits. */
int pfnmap_rank(const uint8_t *buf, size_t nbytes, uint64_t block_bits,
                const int64_t *base, size_t nbase,
                const uint64_t *bit, size_t n, int64_t *out)
{
    size_t i;
    if (block_bits == 0 || block_bits % 8)
        return -1;
    for (i = 0; i < n; i++) {
        uint64_t b = bit[i], k = b / block_bits;
        if (b >= (uint64_t)nbytes * 8 || (base != NULL && k >= nbase))
            out[i] = PFNMAP_OUT_RANGE;
        else if (!(buf[b >> 3] & (1u << (b & 7))))
            out[i] = PFNMAP_CLEAR;
        else if (base == NULL)
            out[i] = 0;
        else
            out[i] = base[k] + (int64_t)count_range(buf, k * block_bits, b);
    }
    return 0;
}

/* Decoder state kept across the pages of one batch: setting a decoder up
 * costs more than inflating a typical 4 KiB page. */
struct codecs {
    z_stream z;
    int z_ready;
    ZSTD_DCtx *zstd;
};

static int32_t inflate_page(struct codecs *cs, const uint8_t *src, uint32_t size,
                            uint32_t page_size, uint8_t *dst)
{
    int rc;
    if (!cs->z_ready) {
        memset(&cs->z, 0, sizeof(cs->z));
        if (inflateInit(&cs->z) != Z_OK)
            return PFNMAP_E_CORRUPT;
        cs->z_ready = 1;
    } else if (inflateReset(&cs->z) != Z_OK) {
        return PFNMAP_E_CORRUPT;
    }
    cs->z.next_in = (Bytef *)src;
    cs->z.avail_in = size;
    cs->z.next_out = dst;
    cs->z.avail_out = page_size;
    rc = inflate(&cs->z, Z_FINISH);
    if (rc == Z_STREAM_END)
        return cs->z.total_out == page_size ? PFNMAP_OK : PFNMAP_E_LENGTH;
    /* Output full before the end of the stream: more than a page. */
    if (rc == Z_BUF_ERROR && cs->z.avail_out == 0)
        return PFNMAP_E_LENGTH;
    return PFNMAP_E_CORRUPT;
}

static int32_t one_page(const uint8_t *src, uint32_t size, uint32_t flags,
                        uint32_t page_size, uint8_t *dst, struct codecs *cs)
{
    uint32_t codec = flags & (PFNMAP_ZLIB | PFNMAP_LZO | PFNMAP_SNAPPY | PFNMAP_ZSTD);

    if (size == 0 || size > page_size)
        return PFNMAP_E_SIZE;
    switch (codec) {
    case 0:
        if (size != page_size)
            return PFNMAP_E_LENGTH;
        memcpy(dst, src, page_size);
        return PFNMAP_OK;
    case PFNMAP_ZLIB:
        return inflate_page(cs, src, size, page_size, dst);
    case PFNMAP_LZO: {
        lzo_uint len = page_size;
        int rc = lzo1x_decompress_safe(src, size, dst, &len, NULL);
        if (rc == LZO_E_OUTPUT_OVERRUN)
            return PFNMAP_E_LENGTH;
        if (rc != LZO_E_OK)
            return PFNMAP_E_CORRUPT;
        return len == page_size ? PFNMAP_OK : PFNMAP_E_LENGTH;
    }
    case PFNMAP_SNAPPY: {
        size_t len;
        if (snappy_uncompressed_length((const char *)src, size, &len) != SNAPPY_OK)
            return PFNMAP_E_CORRUPT;
        if (len != page_size)
            return PFNMAP_E_LENGTH;
        if (snappy_uncompress((const char *)src, size, (char *)dst, &len) != SNAPPY_OK)
            return PFNMAP_E_CORRUPT;
        return len == page_size ? PFNMAP_OK : PFNMAP_E_LENGTH;
    }
    case PFNMAP_ZSTD: {
        size_t len;
        if (cs->zstd == NULL && (cs->zstd = ZSTD_createDCtx()) == NULL)
            return PFNMAP_E_CORRUPT;
        len = ZSTD_decompressDCtx(cs->zstd, dst, page_size, src, size);
        if (ZSTD_isError(len))
            return PFNMAP_E_CORRUPT;
        return len == page_size ? PFNMAP_OK : PFNMAP_E_LENGTH;
    }
    default:
        return PFNMAP_E_FLAGS;
    }
}

/* Page i: src[src_off[i] .. +src_size[i]) -> dst[i*page_size .. +page_size).
 * err[i] gets a PFNMAP_* code; a failed page's output is zero-filled.
 * Returns the number of failed pages, or -1 if dst is too small. */
int pfnmap_decompress(size_t n, const uint8_t *src, size_t src_len,
                      const uint64_t *src_off, const uint32_t *src_size,
                      const uint32_t *flags, uint32_t page_size,
                      uint8_t *dst, size_t dst_len, int32_t *err)
{
    static int lzo_ready;
    struct codecs cs;
    size_t i;
    int failed = 0;

    if (page_size == 0 || n > dst_len / page_size)
        return -1;
    memset(&cs, 0, sizeof(cs));
    if (!lzo_ready)
        lzo_ready = lzo_init() == LZO_E_OK;
    for (i = 0; i < n; i++) {
        uint8_t *out = dst + i * (size_t)page_size;
        uint64_t off = src_off[i], size = src_size[i];
        if (off > src_len || size > src_len - off)
            err[i] = PFNMAP_E_RANGE;
        else
            err[i] = one_page(src + off, (uint32_t)size, flags[i], page_size, out, &cs);
        if (err[i] != PFNMAP_OK) {
            memset(out, 0, page_size);
            failed++;
        }
    }
    if (cs.z_ready)
        inflateEnd(&cs.z);
    if (cs.zstd)
        ZSTD_freeDCtx(cs.zstd);
    return failed;
}

const char *pfnmap_codec_error(int32_t code)
{
    switch (code) {
    case PFNMAP_OK: return "ok";
    case PFNMAP_E_SIZE: return "stored size is 0 or larger than a page";
    case PFNMAP_E_RANGE: return "stored data lies outside what was read";
    case PFNMAP_E_CORRUPT: return "compressed data is corrupt";
    case PFNMAP_E_LENGTH: return "data does not decompress to exactly one page";
    case PFNMAP_E_FLAGS: return "several compression flags set";
    default: return "unknown error";
    }
}

/* (c) Flattened files (makedumpfile -F): walk the record headers held in a
 *     window of the file, and merge overlapping records (the later wins, as
 *     makedumpfile -R leaves them).  Per-record work in C: a stream of a
 *     million tiny records costs milliseconds, not seconds. */

static int64_t be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return (int64_t)v;
}

size_t pfnmap_flat_walk(const uint8_t *buf, size_t len, int64_t buf_at, int64_t *pos,
                        int64_t file_size, int64_t max_offset,
                        int64_t *starts, int64_t *ends, int64_t *foffs, size_t max,
                        int32_t *why)
{
    size_t n = 0;
    *why = PFNMAP_FLAT_WINDOW;
    while (n < max) {
        int64_t rel = *pos - buf_at;
        if (rel < 0 || (uint64_t)rel > len || len - (uint64_t)rel < 16)
            return n;                       /* the next header is not in the window */
        int64_t off = be64(buf + rel), size = be64(buf + rel + 8);
        if (off == -1 && size == -1) {
            *why = PFNMAP_FLAT_END;
            return n;
        }
        if (off < 0 || off > max_offset || size <= 0 || size > max_offset) {
            *why = PFNMAP_FLAT_BAD;
            return n;
        }
        int64_t data = *pos + 16;
        if (data > file_size || size > file_size - data) {
            *why = PFNMAP_FLAT_PAST;
            return n;
        }
        starts[n] = off;
        ends[n] = off + size;
        foffs[n] = data;
        n++;
        *pos = data + size;
    }
    return n;
}

struct flat_rec { int64_t start; int64_t idx; };

static int by_start(const void *a, const void *b)
{
    const struct flat_rec *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int by_value(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* max-heap of stream indices: the latest record on top */
static void heap_push(int64_t *h, size_t *n, int64_t v)
{
    size_t i = (*n)++;
    while (i && h[(i - 1) / 2] < v) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = v;
}

static void heap_pop(int64_t *h, size_t *n)
{
    int64_t v = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && h[c + 1] > h[c])
            c++;
        if (h[c] <= v)
            break;
        h[i] = h[c];
        i = c;
    }
    if (*n)
        h[i] = v;
}

int64_t pfnmap_last_writer_wins(size_t n, const int64_t *starts, const int64_t *ends,
                                const int64_t *foffs, int64_t *out_s, int64_t *out_e,
                                int64_t *out_f, size_t out_max)
{
    if (n == 0)
        return 0;
    struct flat_rec *rec = malloc(n * sizeof *rec);
    int64_t *last = malloc(n * sizeof *last);
    int64_t *heap = malloc(n * sizeof *heap);
    int64_t out = 0;
    if (!rec || !last || !heap) {
        out = -2;
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        rec[i].start = starts[i];
        rec[i].idx = (int64_t)i;
        last[i] = ends[i];
    }
    qsort(rec, n, sizeof *rec, by_start);
    qsort(last, n, sizeof *last, by_value);
    size_t k = 0, j = 0, hn = 0;
    int64_t pos = rec[0].start;
    for (;;) {
        while (k < n && rec[k].start <= pos)
            heap_push(heap, &hn, rec[k++].idx);
        while (hn && ends[heap[0]] <= pos)
            heap_pop(heap, &hn);
        while (j < n && last[j] <= pos)
            j++;
        if (k >= n && j >= n)
            break;
        int64_t nxt = k < n && (j >= n || rec[k].start < last[j]) ? rec[k].start : last[j];
        if (hn) {
            int64_t i = heap[0];
            int64_t f = foffs[i] + pos - starts[i];
            if (out && out_e[out - 1] == pos && out_f[out - 1] + pos - out_s[out - 1] == f) {
                out_e[out - 1] = nxt;
            } else {
                if ((size_t)out >= out_max) {
                    out = -1;
                    goto done;
                }
                out_s[out] = pos;
                out_e[out] = nxt;
                out_f[out] = f;
                out++;
            }
        }
        pos = nxt;
    }
done:
    free(rec);
    free(last);
    free(heap);
    return out;
}

int64_t pfnmap_compress_page(uint32_t flags, const uint8_t *src, uint32_t page_size,
                             uint8_t *dst, size_t dst_len)
{
    size_t out = 0;
    switch (flags) {
    case PFNMAP_ZLIB: {
        uLongf len = (uLongf)dst_len;
        if (compress2(dst, &len, src, page_size, Z_BEST_SPEED) != Z_OK)
            return 0;
        out = len;
        break;
    }
    case PFNMAP_LZO: {
        lzo_align_t wrk[(LZO1X_1_MEM_COMPRESS + sizeof(lzo_align_t) - 1) / sizeof(lzo_align_t)];
        lzo_uint len = 0;
        /* lzo1x_1 may write page_size + page_size/16 + 67 bytes */
        if (dst_len < (size_t)page_size + page_size / 16 + 67 || lzo_init() != LZO_E_OK)
            return 0;
        if (lzo1x_1_compress(src, page_size, dst, &len, wrk) != LZO_E_OK)
            return 0;
        out = len;
        break;
    }
    case PFNMAP_SNAPPY: {
        size_t len = dst_len;
        if (dst_len < snappy_max_compressed_length(page_size))
            return 0;
        if (snappy_compress((const char *)src, page_size, (char *)dst, &len) != SNAPPY_OK)
            return 0;
        out = len;
        break;
    }
    case PFNMAP_ZSTD: {
        size_t len = ZSTD_compress(dst, dst_len, src, page_size, 1);
        if (ZSTD_isError(len))
            return 0;
        out = len;
        break;
    }
    default:
        return -1;
    }
    return out < page_size ? (int64_t)out : 0;
}
