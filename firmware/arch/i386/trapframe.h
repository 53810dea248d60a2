/* The registers saved on the kernel stack when a trap enters the kernel, in
 * the order isr.S pushes them (lowest address first). */
#pragma once

#include "types.h"

struct trapframe {
  uint32_t gs, fs, es, ds;                         /* pushed by isr.S */
  uint32_t edi, esi, ebp, esp_at_pusha, ebx, edx, ecx, eax; /* pusha */
  uint32_t vector, err;                            /* stub; err is 0 if the CPU pushes none */
  uint32_t eip, cs, eflags;                        /* pushed by the CPU */
  uint32_t user_esp, user_ss;                      /* only when entering from ring 3 */
};

#define TRAP_FROM_USER(tf) (((tf)->cs & 3) == 3)

/* Exception vectors (Intel SDM vol. 3A, 6.3). */
enum {
  VEC_DIVIDE = 0, VEC_DEBUG = 1, VEC_NMI = 2, VEC_BREAKPOINT = 3, VEC_OVERFLOW = 4,
  VEC_BOUND = 5, VEC_INVALID_OPCODE = 6, VEC_NO_FPU = 7, VEC_DOUBLE_FAULT = 8,
  VEC_INVALID_TSS = 10, VEC_SEGMENT_NOT_PRESENT = 11, VEC_STACK_FAULT = 12,
  VEC_GENERAL_PROTECTION = 13, VEC_PAGE_FAULT = 14, VEC_FPU_ERROR = 16,
  VEC_ALIGNMENT = 17, VEC_MACHINE_CHECK = 18, VEC_SIMD = 19,
  VEC_EXCEPTIONS = 32,  /* 0-31 are reserved for exceptions */
  VEC_IRQ_BASE = 32,    /* the PIC's 16 lines are remapped here */
  VEC_SYSCALL = 0x80,
  /* The local APIC's own vectors (kernel/ipi.h): priority class 0xE-0xF, above
   * every 8259 line, so an IPI is never held back behind a device. */
  VEC_LAPIC_TIMER = 0xEF, /* arch/i386/lapic_timer.h */
  VEC_IPI_FIRST = 0xF0,
  VEC_IPI_LAST = 0xF2,
  VEC_SPURIOUS = 0xFF,   /* the local APIC's spurious vector: ignored, no EOI */
};
