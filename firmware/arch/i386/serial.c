#include "kernel/serial.h"
#include "arch/i386/io.h"

#define COM1 0x3F8
#define UART_DATA 0         /* THR on write, RBR on read (DLAB=0) */
#define UART_IER 1          /* interrupt enable (DLAB=0), divisor high (DLAB=1) */
#define UART_FCR 2          /* FIFO control */
#define UART_LCR 3          /* line control */
#define UART_MCR 4          /* modem control */
#define UART_LSR 5          /* line status */
#define LCR_8N1 0x03
#define LCR_DLAB 0x80
#define FCR_ENABLE_CLEAR 0xC7 /* enable FIFOs, clear them, 14-byte threshold */
#define MCR_DTR_RTS_OUT2 0x0B
#define LSR_DATA_READY 0x01
#define LSR_THR_EMPTY 0x20
#define BAUD_DIVISOR 1      /* 115200 baud */

void serial_init(void) {
  outb(COM1 + UART_IER, 0x00); /* polled: no interrupts */
  outb(COM1 + UART_LCR, LCR_DLAB);
  outb(COM1 + UART_DATA, BAUD_DIVISOR & 0xFF);
  outb(COM1 + UART_IER, BAUD_DIVISOR >> 8);
  outb(COM1 + UART_LCR, LCR_8N1);
  outb(COM1 + UART_FCR, FCR_ENABLE_CLEAR);
  outb(COM1 + UART_MCR, MCR_DTR_RTS_OUT2);
}

static void put_raw(char c) {
  while (!(inb(COM1 + UART_LSR) & LSR_THR_EMPTY)) {
  }
  outb(COM1 + UART_DATA, (uint8_t)c);
}

void serial_putc(char c) {
  if (c == '\n') put_raw('\r');
  put_raw(c);
}

void serial_write(const char *s, size_t n) {
  while (n--) serial_putc(*s++);
}

int serial_getc_nonblock(void) {
  if (!(inb(COM1 + UART_LSR) & LSR_DATA_READY)) return -1;
  return inb(COM1 + UART_DATA);
}
