/* An LZ77-family compressor for 4 KiB pages (the compressed swap pool,
 * mm/zswap.h): greedy matching through hash chains of 4-byte sequences (the
 * longest of up to LZ_CHAIN_DEPTH earlier positions, at distances below
 * LZ_WINDOW), matches of at least LZ_MIN_MATCH bytes.
 *
 * Format: a sequence of tokens.  Each token is one byte: the high nibble is
 * the literal count, the low nibble the match length minus LZ_MIN_MATCH; a
 * nibble of 15 continues in following bytes (each adds 0..255, a byte below
 * 255 ends it).  Then the literals, then (unless the input ends there) a
 * 2-byte little-endian match distance.  The last token has literals only.
 * harness/decode/lz.py reads the same format (the host-side tests compare). */
#pragma once

#include "types.h"

#define LZ_MIN_MATCH 4
#define LZ_HASH_BITS 12
#define LZ_WINDOW 4096u      /* matches reach back less than this */
#define LZ_CHAIN_DEPTH 8     /* earlier positions tried per position */

/* Scratch space.  Never needs clearing: an entry is only a hint, checked
 * against the data before it is used. */
struct lz_work {
  uint16_t table[1u << LZ_HASH_BITS]; /* last position of each 4-byte hash */
  uint16_t chain[LZ_WINDOW];          /* [pos % LZ_WINDOW]: the position before pos with its hash */
};

/* Compresses n bytes of src into dst (room for cap bytes).  The compressed
 * length, or 0 when it does not fit in cap (the caller keeps the page as it
 * is).  n at most 65536. */
uint32_t lz_compress(const uint8_t *src, uint32_t n, uint8_t *dst, uint32_t cap,
                     struct lz_work *work);
/* Decompresses n bytes of src into dst (room for cap bytes): the length
 * produced, or -1 when src is malformed (a distance before the start, a token
 * running past either buffer).  Never writes outside dst. */
int32_t lz_decompress(const uint8_t *src, uint32_t n, uint8_t *dst, uint32_t cap);
