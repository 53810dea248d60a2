/* Trap dispatch: exceptions, interrupts and system calls all arrive in trap().
 *
 * Every exception is first reported as one record on COM1:
 *   EXC vec=<n> name=<#XX> err=<hex> eip=<hex> cs=<hex> eflags=<hex> [cr2=<hex>]
 * then handled: page faults go to the page-fault handler (mm/fault.c); any
 * other exception in kernel mode is a panic. */
#pragma once

#include "arch/i386/trapframe.h"

struct cpu;
void trap_init(void);
/* c's double-fault task: runs on stack_top, in the current address space. */
void trap_init_double_fault(struct cpu *c, vaddr_t stack_top);
void trap(struct trapframe *tf);
const char *exception_name(uint32_t vector);
/* Writes the EXC record for tf (cr2 is included for page faults). */
void exception_report(const struct trapframe *tf, uint32_t cr2);
