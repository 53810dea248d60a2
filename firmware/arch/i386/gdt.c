#include "arch/i386/gdt.h"
#include "kernel/smp.h"

#define ACCESS_PRESENT 0x80
#define ACCESS_DPL3 0x60
#define ACCESS_CODE_DATA 0x10 /* S=1: code or data, not a system segment */
#define ACCESS_EXEC 0x08
#define ACCESS_RW 0x02        /* readable code / writable data */
#define ACCESS_TSS32 0x09     /* available 32-bit TSS */
#define FLAGS_4K_32BIT 0xC0   /* G=1 (limit in pages), D/B=1 (32-bit) */
#define FLAGS_BYTE_32BIT 0x40 /* G=0 (limit in bytes), D/B=1 */

static void set_entry(struct gdt_entry *gdt, int i, uint32_t base, uint32_t limit,
                      uint8_t access, uint8_t flags) {
  gdt[i] = (struct gdt_entry){
      .limit_low = limit & 0xFFFF,
      .base_low = base & 0xFFFF,
      .base_mid = (base >> 16) & 0xFF,
      .access = access,
      .flags_limit_high = (uint8_t)(flags | ((limit >> 16) & 0x0F)),
      .base_high = (uint8_t)(base >> 24),
  };
}

/* Only the fields every TSS needs: the rest starts zero (cpus[] is static)
 * or was filled before this CPU loads its GDT (an AP's double-fault task,
 * set up by the BSP before the SIPI). */
static void set_tss(struct gdt_entry *gdt, int i, struct tss *t) {
  t->ss0 = SEG_KDATA;
  t->iomap_base = sizeof(*t); /* no I/O permission bitmap: ring 3 gets no ports */
  set_entry(gdt, i, (uint32_t)t, sizeof(*t) - 1, ACCESS_PRESENT | ACCESS_TSS32, 0);
}

void gdt_load(struct cpu *c) {
  const uint8_t code = ACCESS_PRESENT | ACCESS_CODE_DATA | ACCESS_EXEC | ACCESS_RW;
  const uint8_t data = ACCESS_PRESENT | ACCESS_CODE_DATA | ACCESS_RW;
  struct gdt_entry *gdt = c->gdt;
  set_entry(gdt, 0, 0, 0, 0, 0);
  set_entry(gdt, SEG_KCODE >> 3, 0, 0xFFFFF, code, FLAGS_4K_32BIT);
  set_entry(gdt, SEG_KDATA >> 3, 0, 0xFFFFF, data, FLAGS_4K_32BIT);
  set_entry(gdt, SEG_UCODE >> 3, 0, 0xFFFFF, code | ACCESS_DPL3, FLAGS_4K_32BIT);
  set_entry(gdt, SEG_UDATA >> 3, 0, 0xFFFFF, data | ACCESS_DPL3, FLAGS_4K_32BIT);
  set_tss(gdt, SEG_TSS >> 3, &c->tss);
  set_tss(gdt, SEG_DF_TSS >> 3, &c->df_tss);
  /* Only as long as the struct: a stray %gs offset faults instead of
   * reading whatever follows. */
  set_entry(gdt, SEG_KPERCPU >> 3, (uint32_t)c, sizeof(*c) - 1, data, FLAGS_BYTE_32BIT);

  struct {
    uint16_t limit;
    uint32_t base;
  } __attribute__((packed)) gdtr = {sizeof(c->gdt) - 1, (uint32_t)gdt};
  __asm__ volatile(
      "lgdt %0\n\t"
      "ljmp %1, $1f\n"
      "1:\n\t"
      "mov %2, %%ax\n\t"
      "mov %%ax, %%ds\n\t"
      "mov %%ax, %%es\n\t"
      "mov %%ax, %%fs\n\t"
      "mov %%ax, %%ss\n\t"
      "mov %3, %%ax\n\t"
      "mov %%ax, %%gs\n\t"
      "mov %4, %%ax\n\t"
      "ltr %%ax"
      :
      : "m"(gdtr), "i"(SEG_KCODE), "i"(SEG_KDATA), "i"(SEG_KPERCPU), "i"(SEG_TSS)
      : "eax", "memory");
}

void gdt_init(void) { gdt_load(&cpus[0]); }

void tss_set_kernel_stack(vaddr_t esp0) { this_cpu()->tss.esp0 = esp0; }
