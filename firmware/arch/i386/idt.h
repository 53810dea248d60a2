/* The interrupt descriptor table. */
#pragma once

#include "types.h"

void idt_init(void);
/* Loads the (already built) IDT on the calling CPU. */
void idt_load(void);
