/* The local APIC: each CPU's own interrupt controller, at the same physical
 * address on every CPU (each CPU sees its own registers there).  The kernel
 * maps that page once, uncached and kernel-only, at LAPIC_VA (the last page
 * of the address space, outside the direct map and the kmap windows); the
 * kernel half is shared, so every CPU reaches its own LAPIC there.
 *
 * Only for CPUs whose CPUID has the APIC and MSRs (cpu_features.apic/.msr):
 * lapic_present says whether the page is mapped. */
#pragma once

#include "types.h"

#define LAPIC_VA 0xFFFFF000u

/* Register offsets (Intel SDM vol. 3A, 10.4.1). */
#define LAPIC_ID 0x20        /* bits 31:24 */
#define LAPIC_EOI 0xB0
#define LAPIC_SVR 0xF0       /* spurious-interrupt vector register */
#define LAPIC_ICR_LOW 0x300  /* writing it sends the interrupt */
#define LAPIC_ICR_HIGH 0x310 /* destination APIC ID in bits 31:24 */
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_LINT1 0x360

/* ICR low bits. */
#define ICR_INIT 0x00000500u
#define ICR_STARTUP 0x00000600u   /* | the vector: the AP starts at vector << 12 */
#define ICR_PENDING 0x00001000u   /* delivery status: not yet accepted */
#define ICR_ASSERT 0x00004000u
#define ICR_FIXED 0x00000000u     /* | the vector: an ordinary interrupt */
#define ICR_NMI 0x00000400u       /* taken even with interrupts off (vector 2) */
#define ICR_ALL_BUT_SELF 0x000C0000u /* destination shorthand: every other CPU */

extern bool lapic_present;

/* On the BSP, from timer_init: maps the page, enables the LAPIC and sets up
 * the virtual wire (the 8259's interrupts through LINT0, NMI on LINT1).
 * Does nothing without an APIC. */
void lapic_init(void);
/* On an AP: software-enables its LAPIC (the virtual wire stays the BSP's). */
void lapic_enable(void);
uint32_t lapic_id(void);
void lapic_eoi(void);
/* Sends icr_low to the LAPIC with APIC ID `apic_id` and waits until it is
 * accepted (the delivery-status bit clears; QEMU clears it at once). */
void lapic_send(uint32_t apic_id, uint32_t icr_low);
/* The same to every CPU but the caller (the ICR's destination shorthand). */
void lapic_send_all_but_self(uint32_t icr_low);
