/* Loading static ELF32 i386 executables (the user programs) into an address
 * space.  Only what the user programs need: ET_EXEC, PT_LOAD segments. */
#pragma once

#include "mm/vmm.h"
#include "types.h"

/* Maps and fills every PT_LOAD segment of the image [image, image + size) into
 * dir, user-accessible, read-only unless the segment is writable, frames owned
 * by dir.  Returns 0 and sets *entry and *end (the page-aligned end of the
 * highest segment); -EINVAL (ENOEXEC) for a malformed image or a segment
 * outside [USER_BASE, USER_HIGH_BASE), or W^X broken: a segment both PF_W and
 * PF_X, or a page shared by a writable and an executable segment, refused
 * with one record
 *   ELF error=write-and-exec segment=<i> va=<page> flags=<p_flags hex>
 * -ENOMEM when frames run out (what was
 * mapped stays owned by dir, which the caller destroys).  *pages counts the
 * frames used. */
int elf_load(page_directory_t *dir, const uint8_t *image, uint32_t size, vaddr_t *entry,
             vaddr_t *end, uint32_t *pages);
