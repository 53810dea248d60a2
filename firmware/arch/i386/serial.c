#include "kernel/serial.h"
#include "arch/i386/io.h"

#define COM1 0x3F8
#define COM2 0x2F8
#define UART_DATA 0         /* THR on write, RBR on read (DLAB=0) */
#define UART_IER 1          /* interrupt enable (DLAB=0), divisor high (DLAB=1) */
#define UART_FCR 2          /* FIFO control */
#define UART_LCR 3          /* line control */
#define UART_MCR 4          /* modem control */
#define UART_LSR 5          /* line status */
#define UART_SCRATCH 7      /* a byte of storage, nothing else: present UARTs keep it */
#define LCR_8N1 0x03
#define LCR_DLAB 0x80
#define FCR_ENABLE_CLEAR 0xC7 /* enable FIFOs, clear them, 14-byte threshold */
#define MCR_DTR_RTS_OUT2 0x0B
#define LSR_DATA_READY 0x01
#define LSR_THR_EMPTY 0x20
#define LSR_TX_EMPTY 0x40   /* holding register and shift register both empty */
#define BAUD_DIVISOR 1      /* 115200 baud */

static bool record_uart;
static bool console_line_start = true;

static void uart_init(uint16_t port) {
  outb(port + UART_IER, 0x00); /* polled: no interrupts */
  outb(port + UART_LCR, LCR_DLAB);
  outb(port + UART_DATA, BAUD_DIVISOR & 0xFF);
  outb(port + UART_IER, BAUD_DIVISOR >> 8);
  outb(port + UART_LCR, LCR_8N1);
  outb(port + UART_FCR, FCR_ENABLE_CLEAR);
  outb(port + UART_MCR, MCR_DTR_RTS_OUT2);
}

/* An absent port reads as 0xFF whatever was written: two patterns written to
 * the scratch register and read back tell a UART from nothing. */
static bool uart_present(uint16_t port) {
  outb(port + UART_SCRATCH, 0x5A);
  if (inb(port + UART_SCRATCH) != 0x5A) return false;
  outb(port + UART_SCRATCH, 0xA5);
  return inb(port + UART_SCRATCH) == 0xA5;
}

void serial_init(void) {
  uart_init(COM1);
  record_uart = uart_present(COM2);
  if (record_uart) uart_init(COM2);
}

bool serial_record_channel(void) { return record_uart; }

static void put_raw(uint16_t port, char c) {
  while (!(inb(port + UART_LSR) & LSR_THR_EMPTY)) {
  }
  outb(port + UART_DATA, (uint8_t)c);
}

void serial_putc(char c) {
  if (c == '\n') put_raw(COM1, '\r');
  put_raw(COM1, c);
  console_line_start = c == '\n';
}

void serial_write(const char *s, size_t n) {
  while (n--) serial_putc(*s++);
}

void serial_line_start(void) {
  if (!console_line_start) serial_putc('\n');
}

void serial_record_putc(char c) {
  if (record_uart) put_raw(COM2, c);
}

void serial_record_flush(void) {
  if (!record_uart) return;
  while (!(inb(COM2 + UART_LSR) & LSR_TX_EMPTY)) {
  }
}

int serial_getc_nonblock(void) {
  if (!(inb(COM1 + UART_LSR) & LSR_DATA_READY)) return -1;
  return inb(COM1 + UART_DATA);
}
