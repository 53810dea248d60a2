#include "arch/i386/gdt.h"
#include "lib/string.h"

struct gdt_entry {
  uint16_t limit_low, base_low;
  uint8_t base_mid, access, flags_limit_high, base_high;
} __attribute__((packed));
_Static_assert(sizeof(struct gdt_entry) == 8, "a descriptor is 8 bytes");

#define ACCESS_PRESENT 0x80
#define ACCESS_DPL3 0x60
#define ACCESS_CODE_DATA 0x10 /* S=1: code or data, not a system segment */
#define ACCESS_EXEC 0x08
#define ACCESS_RW 0x02        /* readable code / writable data */
#define ACCESS_TSS32 0x09     /* available 32-bit TSS */
#define FLAGS_4K_32BIT 0xC0   /* G=1 (limit in pages), D/B=1 (32-bit) */

static struct gdt_entry gdt[7];
struct tss kernel_tss;
struct tss double_fault_tss;

static void set_entry(int i, uint32_t base, uint32_t limit, uint8_t access, uint8_t flags) {
  gdt[i] = (struct gdt_entry){
      .limit_low = limit & 0xFFFF,
      .base_low = base & 0xFFFF,
      .base_mid = (base >> 16) & 0xFF,
      .access = access,
      .flags_limit_high = (uint8_t)(flags | ((limit >> 16) & 0x0F)),
      .base_high = (uint8_t)(base >> 24),
  };
}

static void set_tss(int i, struct tss *t) {
  memset(t, 0, sizeof(*t));
  t->ss0 = SEG_KDATA;
  t->iomap_base = sizeof(*t); /* no I/O permission bitmap: ring 3 gets no ports */
  set_entry(i, (uint32_t)t, sizeof(*t) - 1, ACCESS_PRESENT | ACCESS_TSS32, 0);
}

void gdt_init(void) {
  const uint8_t code = ACCESS_PRESENT | ACCESS_CODE_DATA | ACCESS_EXEC | ACCESS_RW;
  const uint8_t data = ACCESS_PRESENT | ACCESS_CODE_DATA | ACCESS_RW;
  set_entry(0, 0, 0, 0, 0);
  set_entry(SEG_KCODE >> 3, 0, 0xFFFFF, code, FLAGS_4K_32BIT);
  set_entry(SEG_KDATA >> 3, 0, 0xFFFFF, data, FLAGS_4K_32BIT);
  set_entry(SEG_UCODE >> 3, 0, 0xFFFFF, code | ACCESS_DPL3, FLAGS_4K_32BIT);
  set_entry(SEG_UDATA >> 3, 0, 0xFFFFF, data | ACCESS_DPL3, FLAGS_4K_32BIT);
  set_tss(SEG_TSS >> 3, &kernel_tss);
  set_tss(SEG_DF_TSS >> 3, &double_fault_tss);

  struct {
    uint16_t limit;
    uint32_t base;
  } __attribute__((packed)) gdtr = {sizeof(gdt) - 1, (uint32_t)gdt};
  __asm__ volatile(
      "lgdt %0\n\t"
      "ljmp %1, $1f\n"
      "1:\n\t"
      "mov %2, %%ax\n\t"
      "mov %%ax, %%ds\n\t"
      "mov %%ax, %%es\n\t"
      "mov %%ax, %%fs\n\t"
      "mov %%ax, %%gs\n\t"
      "mov %%ax, %%ss\n\t"
      "mov %3, %%ax\n\t"
      "ltr %%ax"
      :
      : "m"(gdtr), "i"(SEG_KCODE), "i"(SEG_KDATA), "i"(SEG_TSS)
      : "eax", "memory");
}

void tss_set_kernel_stack(vaddr_t esp0) { kernel_tss.esp0 = esp0; }
