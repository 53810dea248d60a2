/* The two 8259 PICs (master lines 0-7, slave lines 8-15 cascaded on the
 * master's line 2): their ports and the two operations drivers share.
 * timer_init programs them and masks every line; each driver opens its own. */
#pragma once

#include "arch/i386/io.h"
#include "types.h"

#define PIC1_CMD 0x20
#define PIC1_DATA 0x21 /* the master's mask */
#define PIC2_CMD 0xA0
#define PIC2_DATA 0xA1 /* the slave's mask */
#define PIC_EOI 0x20
#define IRQ_CASCADE 2  /* the master's line the slave raises */

/* Opens `line` (0-15); a slave line needs the cascade open as well. */
static inline void pic_unmask(uint8_t line) {
  if (line < 8) {
    outb(PIC1_DATA, inb(PIC1_DATA) & ~(1u << line));
  } else {
    outb(PIC2_DATA, inb(PIC2_DATA) & ~(1u << (line - 8)));
    outb(PIC1_DATA, inb(PIC1_DATA) & ~(1u << IRQ_CASCADE));
  }
}

/* Ends `line`'s interrupt: a slave line needs an EOI on both PICs. */
static inline void pic_eoi(uint8_t line) {
  if (line >= 8) outb(PIC2_CMD, PIC_EOI);
  outb(PIC1_CMD, PIC_EOI);
}
