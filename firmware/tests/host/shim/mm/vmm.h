/* Host build: the paging mode's physical limit, set by the test. */
#pragma once

#include "types.h"

uint64_t vmm_phys_limit(void);
