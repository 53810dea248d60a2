/* The virtio memory balloon (QEMU's virtio-balloon-pci, legacy interface).
 *
 * The host sets a target: the number of 4 KiB frames it wants the guest to
 * give up (QMP `balloon`: RAM size minus the new size).  The kernel inflates
 * toward it by taking frames from the PMM (pmm_alloc_user_frame; on a NUMA
 * machine pmm_alloc_user_frame_node, the node with the most free frames; after
 * reclaim_frames when the free count is down to RECLAIM_RESERVE; it never
 * takes the reserve itself), each flagged FRAME_BALLOON with one reference
 * (the balloon's; frame.h), never mapped, and tells the host their numbers
 * through the inflate queue, BALLOON_BATCH a buffer.  It deflates by telling
 * the host through the deflate queue, then dropping its reference (the frame
 * returns to the PMM).  When a change is done (or stopped short) the driver
 * writes its record, then the device's `actual`: how many frames the balloon
 * holds, which QMP `query-balloon` reports.  A host that sees the new size
 * therefore sees a guest that has finished the change.
 *
 * The work never runs in an interrupt handler.  The config-change interrupt
 * (INTx, on the line the chipset's PIRQ routing gives the device; the kernel
 * mostly runs with interrupts off, so it arrives while a program runs) is
 * acknowledged by reading the ISR and counted, and a program it interrupts
 * yields to the scheduler, so that a program that never traps cannot hold a
 * change back; balloon_poll() compares the
 * device's target with what the balloon holds and does the work at the
 * kernel's safe points (the idle loop after kernel_ready, the shell's wait
 * for input, between processes in the scheduler).  Comparing rather than
 * trusting a flag means no change is lost to an ISR read at the wrong time.  An inflation that runs out of frames
 * stops where it is and tries again at a later safe point once frames are
 * free, or at the next target change.
 *
 * A buffer the device does not return within VIRTIO_SEND_SECONDS (dev/virtio.c)
 * means a device that may still own it: the driver resets the device, gives
 * every balloon frame back (the batch in flight included) and stops using
 * the device (present = 0) for the rest of the boot.
 *
 * The stats queue answers the host's polls (guest-stats-polling-interval)
 * with: swap in/out (bytes), major faults, minor faults (the other page
 * faults), free memory and total memory (bytes: the RAM the guest has,
 * the balloon's frames not, as Linux's totalram).  Major faults are the
 * swap-ins only: a fault on a file page maps it from the page cache, and
 * the kernel does not count separately the ones whose miss read the disk.
 *
 * Records: after balloon_init when the device is there
 *   BALLOON device=ready features=<hex> queue=<size> irq=<line, 255: none>
 * and when a change of target has been carried out (or stopped short)
 *   BALLOON target=<frames> actual=<frames> inflated=<n> deflated=<n> short=<0|1>
 * Errors: one record `BALLOON error=<kind> value=<n>` and balloon_stats.errors;
 * after a timeout (inflate-timeout, deflate-timeout) also
 *   BALLOON device=reset released=<frames given back> */
#pragma once

#include "types.h"

#define VIRTIO_DEVICE_BALLOON 0x1002 /* the transitional (legacy) device id */
#define BALLOON_BATCH 256u           /* frame numbers per inflate/deflate buffer */

/* Feature bits (only STATS_VQ is accepted; balloon_init says why not the others). */
#define VIRTIO_BALLOON_F_MUST_TELL_HOST 0
#define VIRTIO_BALLOON_F_STATS_VQ 1
#define VIRTIO_BALLOON_F_DEFLATE_ON_OOM 2

/* Configuration offsets (little endian, 32 bits). */
#define VIRTIO_BALLOON_CFG_NUM_PAGES 0 /* the host's target, frames */
#define VIRTIO_BALLOON_CFG_ACTUAL 4    /* frames the guest has given, written by the guest */

/* Statistics tags (virtio spec, 5.5.6.3). */
#define VIRTIO_BALLOON_S_SWAP_IN 0
#define VIRTIO_BALLOON_S_SWAP_OUT 1
#define VIRTIO_BALLOON_S_MAJFLT 2
#define VIRTIO_BALLOON_S_MINFLT 3
#define VIRTIO_BALLOON_S_MEMFREE 4
#define VIRTIO_BALLOON_S_MEMTOT 5

struct virtio_balloon_stat {
  uint16_t tag;
  uint64_t val;
} __attribute__((packed));

/* What the harness reads. */
struct balloon_stats {
  uint32_t present;       /* the device is there and set up (0 again after a timeout) */
  uint32_t target;        /* frames the host asked for, as last read */
  uint32_t actual;        /* frames in the balloon now */
  uint32_t inflated;      /* frames given to the host, in total */
  uint32_t deflated;      /* frames taken back, in total */
  uint32_t batches;       /* inflate and deflate buffers the device returned */
  uint32_t changes;       /* target changes carried out (one record each) */
  uint32_t irqs;          /* config-change interrupts taken */
  uint32_t stats_updates; /* stats buffers sent to the host */
  uint32_t short_of_memory; /* inflations stopped for want of frames (not device errors) */
  uint32_t errors;
};
extern struct balloon_stats balloon_stats;
extern uint8_t balloon_irq_line; /* the PCI line whose interrupt is the balloon's; 0xFF: none */

/* Finds and sets up the device (after pci_init and swap_init); nothing
 * without one. */
void balloon_init(void);
/* A safe point: carries out a changed target and answers a stats poll. */
void balloon_poll(void);
/* The interrupt: acknowledges it (the ISR read lowers the line) and counts it;
 * the next safe point sees the new target (trap() yields a program it
 * interrupted, to reach one). */
void balloon_irq(void);
