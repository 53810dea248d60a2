/* The interrupt descriptor table. */
#pragma once

#include "types.h"

void idt_init(void);
