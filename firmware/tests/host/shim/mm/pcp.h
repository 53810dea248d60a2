/* The host build has no CPUs and no per-CPU frame caches: the PMM runs as
 * with `pcp=off`, which is what buddy_test.c checks. */
#pragma once

#include "types.h"

#define pcp_enabled false
static inline void pcp_init(void) {}
static inline void *pcp_alloc(void) { return NULL; }
static inline void pcp_free_from(void *page, vaddr_t caller) { (void)page, (void)caller; }
