/* Per-CPU data and AP bring-up: see kernel/smp.h. */
#include "kernel/smp.h"
#include "memlayout.h"

struct cpu cpus[CPU_MAX] = {
    [0] = {.self = &cpus[0], .index = 0, .online = 1, .stack_top = (vaddr_t)boot_stack_top},
};
volatile uint32_t cpu_online_mask = 1;
