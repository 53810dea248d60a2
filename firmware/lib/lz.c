/* The page compressor of the compressed swap pool (format in lib/lz.h).
 *
 * Compression: at each position the hash of the next 4 bytes leads through a
 * chain of earlier positions with the same hash; of those whose bytes really
 * match (the tables are never cleared, so an entry may be stale or from an
 * earlier call: it is only a hint) the longest match is taken, unless the
 * next position has a longer one (lazy matching).  Every position looked at
 * is hashed, and so are those inside matches; after every 32 positions
 * without a match the step grows by one, and the positions it steps over
 * are not hashed, so a page of random bytes is given up on quickly (it ends
 * above the caller's cap).
 *
 * Decompression is on the swap-in path the bench measures (swap_in_insns),
 * so its common tokens go through a loop of fixed word moves; its cost is
 * about 40 instructions a token, and better matching (fewer, longer tokens)
 * is what brings a page of text under 20000.  Measured on the bench's text
 * pages: depth 8 gives 2.52:1 and 492 tokens a page, 16 gives 2.73:1 and 455,
 * 32 gives 2.88:1 and 433 for 25% more compression time. */
#include "lib/lz.h"

#include "lib/string.h"

#define NIBBLE_MAX 15u
#define SKIP_SHIFT 5   /* misses before the step grows */

static inline uint32_t read32(const uint8_t *p) {
  uint32_t v;
  __builtin_memcpy(&v, p, 4); /* one unaligned load (-fno-builtin: ask by name) */
  return v;
}

/* Copies len bytes forward a word at a time: right for disjoint buffers, and
 * for a match whose source ends at least 4 bytes before dst (each word is read
 * before it could be written).  memcpy would go byte by byte when unaligned. */
static inline void copy_forward(uint8_t *dst, const uint8_t *src, uint32_t len) {
  uint32_t i = 0;
  for (; i + 4 <= len; i += 4) __builtin_memcpy(dst + i, src + i, 4);
  for (; i < len; i++) dst[i] = src[i];
}

static inline uint32_t hash4(uint32_t v) {
  return (v * 2654435761u) >> (32 - LZ_HASH_BITS);
}

/* Writes the extension bytes of a length whose nibble was NIBBLE_MAX. */
static uint8_t *put_length(uint8_t *op, const uint8_t *end, uint32_t rest) {
  while (rest >= 255) {
    if (op >= end) return NULL;
    *op++ = 255;
    rest -= 255;
  }
  if (op >= end) return NULL;
  *op++ = (uint8_t)rest;
  return op;
}

/* One token: literals [lit, lit + nlit), then (if mlen) a match of mlen bytes
 * at distance dist.  The new output position, or NULL when cap is reached. */
static uint8_t *put_token(uint8_t *op, const uint8_t *end, const uint8_t *lit, uint32_t nlit,
                          uint32_t mlen, uint32_t dist) {
  if (op >= end) return NULL;
  uint32_t mcode = mlen ? mlen - LZ_MIN_MATCH : 0;
  uint8_t *token = op++;
  *token = (uint8_t)((MIN(nlit, NIBBLE_MAX) << 4) | MIN(mcode, NIBBLE_MAX));
  if (nlit >= NIBBLE_MAX && !(op = put_length(op, end, nlit - NIBBLE_MAX))) return NULL;
  if ((uint32_t)(end - op) < nlit) return NULL;
  memcpy(op, lit, nlit);
  op += nlit;
  if (!mlen) return op;
  if (end - op < 2) return NULL;
  *op++ = (uint8_t)dist;
  *op++ = (uint8_t)(dist >> 8);
  if (mcode >= NIBBLE_MAX && !(op = put_length(op, end, mcode - NIBBLE_MAX))) return NULL;
  return op;
}

/* Enters pos into the hash chains; the previous position with its hash. */
static inline uint32_t insert(const uint8_t *src, uint32_t pos, struct lz_work *work) {
  uint32_t h = hash4(read32(src + pos));
  uint32_t cand = work->table[h];
  work->table[h] = (uint16_t)pos;
  work->chain[pos % LZ_WINDOW] = (uint16_t)cand;
  return cand;
}

/* Enters pos into the hash chains and finds the longest earlier match for
 * the bytes at pos (pos + LZ_MIN_MATCH <= n): its length (0: none) and, in
 * *from, where it starts. */
static uint32_t longest_match(const uint8_t *src, uint32_t n, uint32_t pos, struct lz_work *work,
                              uint32_t *from) {
  uint32_t v = read32(src + pos);
  uint32_t cand = insert(src, pos, work);
  uint32_t best_len = 0;
  for (uint32_t depth = 0; depth < LZ_CHAIN_DEPTH; depth++) {
    if (cand >= pos || pos - cand >= LZ_WINDOW) break;
    /* Only a candidate that also matches the byte the best match stops at
     * can be longer: that one byte rules most of them out. */
    if (pos + best_len < n && src[cand + best_len] == src[pos + best_len] &&
        read32(src + cand) == v) {
      uint32_t len = LZ_MIN_MATCH;
      while (pos + len + 4 <= n && read32(src + cand + len) == read32(src + pos + len)) len += 4;
      while (pos + len < n && src[cand + len] == src[pos + len]) len++;
      if (len > best_len) *from = cand, best_len = len;
    }
    cand = work->chain[cand % LZ_WINDOW];
  }
  return best_len;
}

uint32_t lz_compress(const uint8_t *src, uint32_t n, uint8_t *dst, uint32_t cap,
                     struct lz_work *work) {
  if (n > 65536) return 0;
  uint8_t *op = dst;
  const uint8_t *end = dst + cap;
  uint32_t anchor = 0; /* first byte not yet emitted */
  uint32_t pos = 0;
  uint32_t misses = 0;
  uint32_t last = n >= LZ_MIN_MATCH ? n - LZ_MIN_MATCH : 0; /* the last position a match can start */
  while (n >= LZ_MIN_MATCH && pos <= last) {
    uint32_t from = 0;
    uint32_t len = longest_match(src, n, pos, work, &from);
    if (!len) {
      pos += 1 + (misses++ >> SKIP_SHIFT);
      continue;
    }
    misses = 0;
    /* Lazy matching: a longer match one byte on is worth a literal (fewer,
     * longer tokens are also what makes decompression cheap). */
    uint32_t next_from = 0, next_len;
    while (pos < last && (next_len = longest_match(src, n, pos + 1, work, &next_from)) > len) {
      pos++;
      len = next_len;
      from = next_from;
    }
    op = put_token(op, end, src + anchor, pos - anchor, len, pos - from);
    if (!op) return 0;
    /* The positions inside the match are entered too: later matches can start there. */
    for (uint32_t p = pos + 2; p < pos + len && p <= last; p++) insert(src, p, work);
    pos += len;
    anchor = pos;
  }
  op = put_token(op, end, src + anchor, n - anchor, 0, 0);
  return op ? (uint32_t)(op - dst) : 0;
}

/* Reads a length's extension bytes into *len; false when src runs out. */
static bool get_length(const uint8_t **ip, const uint8_t *end, uint32_t *len) {
  uint8_t b;
  do {
    if (*ip >= end) return false;
    b = *(*ip)++;
    *len += b;
  } while (b == 255);
  return true;
}

/* Copies 4 bytes: one unaligned load and store. */
static inline void copy4(uint8_t *dst, const uint8_t *src) { __builtin_memcpy(dst, src, 4); }

int32_t lz_decompress(const uint8_t *src, uint32_t n, uint8_t *dst, uint32_t cap) {
  const uint8_t *ip = src, *iend = src + n;
  uint8_t *op = dst, *oend = dst + cap;
  while (ip < iend) {
    /* The fast loop.  Most tokens of a compressible page have at most 7
     * literals and a match of at most 18 bytes at a distance of 4 or more
     * (token & 0x8F below 0x0F).  Such a token reads at most 10 input bytes
     * and, copied with fixed word moves (8 bytes of literals, 12 or 20 of
     * match, the bytes past each run rewritten by what follows), writes at
     * most 27 output bytes.  `safe` tokens of that kind surely fit in both
     * buffers, so the loop checks no length; the first other token, and every
     * token near either end, takes the general path below. */
    uint32_t in_room = iend - ip > 16 ? (uint32_t)(iend - ip - 16) / 16 : 0;
    uint32_t out_room = oend - op > 32 ? (uint32_t)(oend - op - 32) / 32 : 0;
    for (uint32_t safe = MIN(in_room, out_room); safe; safe--) {
      uint32_t token = *ip;
      if ((token & 0x8F) >= NIBBLE_MAX) break;
      uint32_t nlit = token >> 4;
      ip++;
      if (nlit) { /* most matches follow the last one at once */
        copy4(op, ip);
        copy4(op + 4, ip + 4);
        op += nlit;
        ip += nlit;
      }
      uint32_t dist = ip[0] | (uint32_t)ip[1] << 8;
      ip += 2;
      uint32_t mlen = (token & NIBBLE_MAX) + LZ_MIN_MATCH;
      const uint8_t *from = op - dist;
      if (from < dst) return -1;
      if (dist < 4) {
        if (!dist) return -1;
        for (uint32_t i = 0; i < mlen; i++) op[i] = from[i];
      } else {
        copy4(op, from);
        copy4(op + 4, from + 4);
        copy4(op + 8, from + 8);
        if (mlen > 12) {
          copy4(op + 12, from + 12);
          copy4(op + 16, from + 16);
        }
      }
      op += mlen;
    }
    if (ip == iend) break;
    uint32_t token = *ip++;
    uint32_t nlit = token >> 4;
    if (nlit) {
      if (nlit == NIBBLE_MAX && !get_length(&ip, iend, &nlit)) return -1;
      if ((uint32_t)(iend - ip) < nlit || (uint32_t)(oend - op) < nlit) return -1;
      copy_forward(op, ip, nlit);
      op += nlit;
      ip += nlit;
    }
    if (ip == iend) break; /* the last token: literals only */
    if (iend - ip < 2) return -1;
    uint32_t dist = ip[0] | (uint32_t)ip[1] << 8;
    ip += 2;
    uint32_t mlen = token & NIBBLE_MAX;
    if (mlen == NIBBLE_MAX && !get_length(&ip, iend, &mlen)) return -1;
    mlen += LZ_MIN_MATCH;
    if (dist == 0 || dist > (uint32_t)(op - dst) || (uint32_t)(oend - op) < mlen) return -1;
    const uint8_t *from = op - dist;
    if (dist >= 4) {
      copy_forward(op, from, mlen);
    } else { /* a run of a 1-3 byte pattern: each byte repeats one written just before */
      for (uint32_t i = 0; i < mlen; i++) op[i] = from[i];
    }
    op += mlen;
  }
  return (int32_t)(op - dst);
}
