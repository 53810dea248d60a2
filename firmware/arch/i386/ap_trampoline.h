/* The AP trampoline's page and its parameter block (ap_trampoline.S).
 *
 * A started AP begins in real mode at the SIPI vector's page: 0x8000
 * (vector 0x08), a page both BIOSes leave zero and the PMM never hands out
 * (the first MiB stays reserved).  The BSP copies the trampoline there and
 * fills the parameter block at its end before each start. */
#pragma once

#define AP_TRAMPOLINE_PHYS 0x8000
#define AP_SIPI_VECTOR (AP_TRAMPOLINE_PHYS >> 12)

/* struct ap_params, offsets from the label ap_params (kernel/smp.c checks
 * them against the struct). */
#define AP_PARAM_CR0 0        /* the BSP's CR0: PE, PG, WP and the rest */
#define AP_PARAM_CR3 4        /* the boot tables: this page at its own address + the kernel */
#define AP_PARAM_CR4 8        /* the BSP's CR4 (PAE, PGE, SMEP, ... as the BSP has them) */
#define AP_PARAM_EFER_NXE 12  /* nonzero: set EFER.NXE before paging (PAE tables with NX) */
#define AP_PARAM_ENTRY 16     /* ap_main, in the higher half */
#define AP_PARAM_STACK 20     /* the AP's stack top */
#define AP_PARAM_CPU 24       /* its struct cpu *, ap_main's argument */
#define AP_PARAM_CLAIM 28     /* the awaited AP's APIC ID + 1; it takes it (cmpxchg to 0) */
#define AP_PARAMS_SIZE 32
