/* The CMOS real-time clock (ports 0x70/0x71): its periodic interrupt and its
 * time of day.  See dev/rtc.h for why this is the clock that always runs. */
#include "dev/rtc.h"
#include "arch/i386/io.h"
#include "arch/i386/pic.h"

#define CMOS_INDEX 0x70
#define CMOS_DATA 0x71
#define CMOS_NMI_OFF 0x80
#define REG_SECONDS 0x00
#define REG_MINUTES 0x02
#define REG_HOURS 0x04
#define REG_A 0x0A
#define REG_B 0x0B
#define REG_C 0x0C
#define A_UPDATING 0x80
#define B_PIE 0x40
#define B_BINARY 0x04
#define B_24H 0x02
#define RATE_8HZ 13
#define DAY_SECONDS 86400u

volatile uint32_t rtc_ticks;

static uint8_t cmos_read(uint8_t reg) {
  outb(CMOS_INDEX, CMOS_NMI_OFF | reg);
  return inb(CMOS_DATA);
}

static void cmos_write(uint8_t reg, uint8_t value) {
  outb(CMOS_INDEX, CMOS_NMI_OFF | reg);
  outb(CMOS_DATA, value);
}

void rtc_init(void) {
  cmos_write(REG_A, (cmos_read(REG_A) & 0xF0) | RATE_8HZ);
  cmos_write(REG_B, cmos_read(REG_B) | B_PIE);
  rtc_rearm();
}

void rtc_rearm(void) { cmos_read(REG_C); }

void rtc_irq(void) {
  rtc_rearm();
  rtc_ticks++;
  pic_eoi(IRQ_RTC);
}

static uint32_t from_bcd(uint8_t v, bool binary) { return binary ? v : (v >> 4) * 10 + (v & 15); }

/* One read of the time registers: three index/data pairs, which an update
 * may fall between (the update-in-progress flag promises only 244 us). */
static uint32_t read_time(void) {
  while (cmos_read(REG_A) & A_UPDATING) {} /* the registers change during an update */
  uint8_t b = cmos_read(REG_B);
  bool binary = b & B_BINARY;
  uint8_t raw_hours = cmos_read(REG_HOURS);
  uint32_t hours = from_bcd(raw_hours & 0x7F, binary);
  if (!(b & B_24H) && raw_hours & 0x80) hours = (hours % 12) + 12; /* pm */
  else if (!(b & B_24H) && hours == 12) hours = 0;                /* 12 am */
  return hours * 3600 + from_bcd(cmos_read(REG_MINUTES), binary) * 60 +
         from_bcd(cmos_read(REG_SECONDS), binary);
}

uint32_t rtc_seconds(void) {
  /* Two equal reads in a row: a vCPU preempted between the minutes and the
   * seconds at a minute's end would read M:00 for M+1:00, a minute back. */
  uint32_t now = read_time();
  for (uint32_t again = read_time(); again != now; again = read_time()) now = again;
  return now;
}

bool rtc_elapsed(uint32_t since, uint32_t seconds) {
  uint32_t now = rtc_seconds();
  uint32_t passed;
  if (now >= since) passed = now - since;
  else if (since - now > DAY_SECONDS / 2) passed = now + DAY_SECONDS - since; /* midnight */
  else passed = 0; /* the clock stepped back (set, or a torn read): nothing has passed */
  return passed >= seconds;
}
