/* Which kernel functions ran: the mutation runner's map from functions to the
 * tests that reach them (harness/mutate/testmap.py).  Built only into a
 * coverage image (cmake -DMMV_COVERAGE=ON), never into the one that ships or
 * that the tests and benchmarks run.
 *
 * -finstrument-functions makes every kernel function call
 * __cyg_profile_func_enter with its own address on entry (inlined copies too,
 * with the address of the out-of-line body), so one bit per byte of kernel
 * text is enough: the harness reads the bits from guest RAM after a test and
 * names the functions from the ELF's symbols.  The hooks themselves must not
 * be instrumented, and touch nothing but the bitmap: they run on every entry,
 * in trap handlers and before the heap exists. */

#include <stdint.h>

extern char __text_start[];

/* 512 KiB of text; the harness checks the ELF's text fits. */
uint8_t harness_coverage[64 * 1024];

__attribute__((no_instrument_function))
void __cyg_profile_func_enter(void *fn, void *call_site)
{
    (void)call_site;
    uintptr_t offset = (uintptr_t)fn - (uintptr_t)__text_start;
    if (offset < sizeof harness_coverage * 8)
        harness_coverage[offset >> 3] |= (uint8_t)(1u << (offset & 7));
}

__attribute__((no_instrument_function))
void __cyg_profile_func_exit(void *fn, void *call_site)
{
    (void)fn;
    (void)call_site;
}
