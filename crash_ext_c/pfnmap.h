/* pfnmap: bitmap -> page-descriptor index translation and batch page
 * decompression for kdump-compressed dumps.  Every size comes from the
 * caller, which got it from an untrusted file: nothing here reads or writes
 * outside the buffers described by the arguments. */
#ifndef PCICRASH_PFNMAP_H
#define PCICRASH_PFNMAP_H

#include <stddef.h>
#include <stdint.h>

/* Results of pfnmap_rank() other than an index. */
#define PFNMAP_CLEAR      (-1)   /* the bit is clear (page not stored) */
#define PFNMAP_OUT_RANGE  (-3)   /* bit position outside the given bytes */

/* Compression flags of a page descriptor (makedumpfile diskdump_mod.h). */
#define PFNMAP_ZLIB    0x01
#define PFNMAP_LZO     0x02
#define PFNMAP_SNAPPY  0x04
#define PFNMAP_ZSTD    0x20

/* Per-page result codes of pfnmap_decompress(). */
#define PFNMAP_OK            0
#define PFNMAP_E_SIZE        1   /* compressed size 0 or above the limit */
#define PFNMAP_E_RANGE       2   /* source slice outside the source buffer */
#define PFNMAP_E_CORRUPT     3   /* decompressor reported an error */
#define PFNMAP_E_LENGTH      4   /* output is not exactly page_size bytes */
#define PFNMAP_E_FLAGS       5   /* unknown or several compression flags */

uint64_t pfnmap_popcount(const uint8_t *buf, size_t nbytes);
int64_t pfnmap_block_counts(const uint8_t *buf, size_t nbytes, size_t block_bytes,
                            uint64_t run, uint64_t *out, size_t nout);
int pfnmap_rank(const uint8_t *buf, size_t nbytes, uint64_t block_bits,
                const int64_t *base, size_t nbase,
                const uint64_t *bit, size_t n, int64_t *out);
int pfnmap_decompress(size_t n, const uint8_t *src, size_t src_len,
                      const uint64_t *src_off, const uint32_t *src_size,
                      const uint32_t *flags, uint32_t page_size,
                      uint8_t *dst, size_t dst_len, int32_t *err);
const char *pfnmap_codec_error(int32_t code);
/* Compress one page with one codec (flags: one PFNMAP_* bit) as makedumpfile
 * writes it: zlib level 1, lzo1x_1, snappy, zstd level 1.  Returns the
 * compressed size when it is smaller than page_size and fits dst_len, 0 when
 * the page is to be stored uncompressed, -1 for an unknown codec. */
int64_t pfnmap_compress_page(uint32_t flags, const uint8_t *src, uint32_t page_size,
                             uint8_t *dst, size_t dst_len);

/* Why pfnmap_flat_walk() stopped. */
#define PFNMAP_FLAT_WINDOW  0   /* the next header is not in the window (or max reached) */
#define PFNMAP_FLAT_END     1   /* the end record (-1, -1) */
#define PFNMAP_FLAT_BAD     2   /* a header that is neither a record nor the end record */
#define PFNMAP_FLAT_PAST    3   /* the record's data runs past file_size */

size_t pfnmap_flat_walk(const uint8_t *buf, size_t len, int64_t buf_at, int64_t *pos,
                        int64_t file_size, int64_t max_offset,
                        int64_t *starts, int64_t *ends, int64_t *foffs, size_t max,
                        int32_t *why);
int64_t pfnmap_last_writer_wins(size_t n, const int64_t *starts, const int64_t *ends,
                                const int64_t *foffs, int64_t *out_s, int64_t *out_e,
                                int64_t *out_f, size_t out_max);

#endif
