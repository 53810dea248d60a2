/* Processes.  Until the first user process runs, the kernel itself is pid 0. */
#pragma once

#include "types.h"

uint32_t current_pid(void);
