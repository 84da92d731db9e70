/* pfnmap: the hot loops of the kdump-compressed reader.
 *
 * (a) Descriptor index of a page = number of dumpable pages before it.
 *     The caller hands one chunk of the 2nd bitmap; pfnmap_prefix() counts
 *     set bits per 64-bit word once, after which each lookup is O(1).
 * (b) Batch decompression of many pages in one call, with a result code
 *     per page so that one corrupt page does not hide the others.
 */
#include <string.h>
#include <zlib.h>
#include <lzo/lzo1x.h>
#include <snappy-c.h>
#include <zstd.h>

#include "pfnmap.h"

/* Bitmap bit n lives in byte n / 8, bit n % 8 (LSB first), whatever the host. */
static uint64_t load_word(const uint8_t *buf, size_t nbytes, size_t word)
{
    uint64_t v = 0;
    size_t start = word * 8, i;
    for (i = 0; i < 8 && start + i < nbytes; i++)
        v |= (uint64_t)buf[start + i] << (8 * i);
    return v;
}

uint64_t pfnmap_popcount(const uint8_t *buf, size_t nbytes)
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

/* cum[i] = set bits in words [0, i); needs ncum >= words + 1. */
int pfnmap_prefix(const uint8_t *buf, size_t nbytes, uint32_t *cum, size_t ncum)
{
    size_t words = (nbytes + 7) / 8, i;
    uint32_t run = 0;
    if (ncum < words + 1)
        return -1;
    for (i = 0; i < words; i++) {
        cum[i] = run;
        run += (uint32_t)__builtin_popcountll(load_word(buf, nbytes, i));
    }
    cum[words] = run;
    return 0;
}

/* For each bit position: its index among the set bits of bm2 (>= 0), or a
 * PFNMAP_* code.  bm1 may be NULL (then a clear bm2 bit reads EXCLUDED). */
int pfnmap_lookup(const uint8_t *bm2, const uint8_t *bm1, size_t nbytes,
                  const uint32_t *cum, size_t ncum,
                  const uint64_t *bits, size_t n, int64_t *out)
{
    size_t words = (nbytes + 7) / 8, i;
    if (ncum < words + 1)
        return -1;
    for (i = 0; i < n; i++) {
        uint64_t b = bits[i];
        size_t byte = (size_t)(b >> 3);
        unsigned bit = (unsigned)(b & 7);
        if (b >= (uint64_t)nbytes * 8) {
            out[i] = PFNMAP_OUT_RANGE;
        } else if (bm2[byte] & (1u << bit)) {
            size_t w = (size_t)(b >> 6);
            uint64_t below = load_word(bm2, nbytes, w) & ((UINT64_C(1) << (b & 63)) - 1);
            out[i] = (int64_t)cum[w] + __builtin_popcountll(below);
        } else if (bm1 == NULL || (bm1[byte] & (1u << bit))) {
            out[i] = PFNMAP_EXCLUDED;
        } else {
            out[i] = PFNMAP_NOT_RAM;
        }
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
