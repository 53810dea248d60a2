/* The virtio balloon driver (see dev/balloon.h). */
#include "dev/balloon.h"
#include "arch/i386/pic.h"
#include "dev/virtio.h"
#include "kernel/errno.h"
#include "kernel/kprintf.h"
#include "lib/string.h"
#include "memlayout.h"
#include "mm/fault.h"
#include "mm/frame.h"
#include "mm/pmm.h"
#include "mm/reclaim.h"
#include "mm/swap.h"

enum { Q_INFLATE, Q_DEFLATE, Q_STATS, Q_COUNT };
#define BALLOON_STAT_COUNT 6

struct balloon_stats balloon_stats;
uint8_t balloon_irq_line = 0xFF;

static struct virtio_device dev;
static struct virtq queues[Q_COUNT];
static bool stats_queue;             /* STATS_VQ negotiated and its queue set up */
static bool stopped_short;           /* the last inflation ran out of frames */
/* One page shared with the device: the frame numbers of the buffer in flight,
 * then the statistics. */
static paddr_t buf_phys;
static uint32_t *pfns;
static struct virtio_balloon_stat *stats;
static pfn_t deflate_cursor; /* where the next search for balloon frames starts */

static void balloon_error(const char *kind, uint32_t value) {
  balloon_stats.errors++;
  krecord("BALLOON error=%s value=%u\n", kind, value);
}

static void fill_stats(void) {
  uint32_t majors = swap_stats.swap_ins; /* see dev/balloon.h: file pages count as minor */
  uint32_t minors = fault_stats.total > majors ? fault_stats.total - majors : 0;
  const struct virtio_balloon_stat values[BALLOON_STAT_COUNT] = {
      {VIRTIO_BALLOON_S_SWAP_IN, (uint64_t)swap_stats.swap_ins * FRAME_SIZE},
      {VIRTIO_BALLOON_S_SWAP_OUT, (uint64_t)swap_stats.swap_outs * FRAME_SIZE},
      {VIRTIO_BALLOON_S_MAJFLT, majors},
      {VIRTIO_BALLOON_S_MINFLT, minors},
      {VIRTIO_BALLOON_S_MEMFREE, (uint64_t)pmm_stats.free_frames * FRAME_SIZE},
      /* As Linux's totalram: the memory the guest has, the balloon's not. */
      {VIRTIO_BALLOON_S_MEMTOT,
       (uint64_t)(pmm_stats.usable_frames - balloon_stats.actual) * FRAME_SIZE},
  };
  memcpy(stats, values, sizeof(values));
}

static void send_stats(void) {
  fill_stats();
  balloon_stats.stats_updates++;
  virtio_queue_submit(&dev, &queues[Q_STATS], buf_phys + BALLOON_BATCH * sizeof(uint32_t),
                      BALLOON_STAT_COUNT * sizeof(struct virtio_balloon_stat), false);
}

/* The PIC line, when the firmware routed one the kernel does not use
 * otherwise (the timer, the cascade, the clock and the IDE lines stay as
 * their drivers keep them); otherwise the safe points read the ISR. */
static void unmask_line(uint8_t line) {
  if (line == 0xFF || line == 0 || line == IRQ_CASCADE || line == 8 || line >= 14) return;
  balloon_irq_line = line;
  pic_unmask(line);
}

void balloon_init(void) {
  if (virtio_open(&dev, VIRTIO_DEVICE_BALLOON) != 0) return;
  uint32_t offered = virtio_device_features(&dev);
  /* STATS_VQ when offered.  Not DEFLATE_ON_OOM: the host's target holds
   * under pressure, and the OOM rule picks a process instead.  Not
   * MUST_TELL_HOST either, though the driver tells the host before it
   * reuses a frame anyway. */
  uint32_t accepted = offered & (1u << VIRTIO_BALLOON_F_STATS_VQ);
  virtio_accept(&dev, accepted);
  void *page = allocate_page();
  if (!page) {
    balloon_error("no-memory", 0);
    virtio_fail(&dev);
    return;
  }
  buf_phys = (paddr_t)page;
  pfns = P2V(buf_phys);
  memset(pfns, 0, FRAME_SIZE);
  stats = (struct virtio_balloon_stat *)(pfns + BALLOON_BATCH);
  uint32_t count = accepted ? Q_COUNT : Q_STATS;
  for (uint32_t q = 0; q < count; q++) {
    if (virtio_queue_init(&dev, &queues[q], (uint16_t)q) != 0) {
      balloon_error("queue", q);
      virtio_fail(&dev); /* first: the device forgets the queues set up so far */
      for (uint32_t i = 0; i < q; i++) free_pages((void *)queues[i].phys, queues[i].frames);
      free_page(page);
      return;
    }
  }
  stats_queue = accepted != 0;
  virtio_ready(&dev);
  balloon_stats.present = 1;
  if (stats_queue) send_stats(); /* the device keeps it until the host polls */
  unmask_line(dev.irq);
  krecord("BALLOON device=ready features=0x%x queue=%u irq=%u\n", accepted, queues[0].size,
          balloon_irq_line);
}

/* One frame for the balloon.  On a NUMA machine, from the node with the most
 * free frames (the lowest such node on a tie), so that the balloon shrinks
 * every node alike rather than emptying the first one (the kernel's, and
 * the local node of every process with the default policy) before it
 * touches the next.  Not through numa_alloc_user_frame: the balloon has no
 * policy, and frames from another node are no fallback. */
static pfn_t balloon_alloc(void) {
  if (pmm_node_count <= 1) return pmm_alloc_user_frame();
  uint32_t best = 0;
  for (uint32_t n = 1; n < pmm_node_count; n++)
    if (pmm_node_free(n) > pmm_node_free(best)) best = n;
  return pmm_alloc_user_frame_node(best);
}

/* Takes up to `want` frames for the balloon into pfns[]: how many.  Below
 * the reserve it reclaims first, and stops when reclaim frees nothing. */
static uint32_t take_frames(uint32_t want) {
  uint32_t n = 0;
  while (n < want) {
    if (pmm_stats.free_frames <= RECLAIM_RESERVE &&
        (reclaim_frames(RECLAIM_BATCH) == 0 || pmm_stats.free_frames <= RECLAIM_RESERVE))
      break;
    pfn_t pfn = balloon_alloc();
    if (!pfn) break;
    frame_ref(pfn); /* a fresh frame: cannot fail */
    frame_table[pfn].flags |= FRAME_BALLOON;
    pfns[n++] = pfn;
  }
  return n;
}

/* Gives the frames in pfns[0..n) back to the PMM (they never reached the host,
 * or the host has been told). */
static void release_frames(uint32_t n) {
  for (uint32_t i = 0; i < n; i++) frame_unref(pfns[i]);
}

/* The device did not return a buffer in time: it may still own it and the
 * queue.  Reset it first, so that it can no longer read a frame number (and
 * discard a frame the guest uses again), then give every balloon frame back,
 * the buffer in flight included: with the device gone a discarded frame only
 * reads back as zeros.  The safe points stop polling it (present = 0). */
static void device_failed(const char *kind, uint32_t n) {
  virtio_fail(&dev);
  balloon_stats.present = 0;
  balloon_error(kind, n);
  uint32_t released = 0;
  for (pfn_t pfn = 0; pfn < frame_table_frames; pfn++)
    if (frame_table[pfn].flags & FRAME_BALLOON) {
      frame_unref(pfn);
      released++;
    }
  balloon_stats.actual = 0;
  krecord("BALLOON device=reset released=%u\n", released);
}

/* What one buffer came to. */
enum batch { BATCH_DONE, BATCH_SHORT /* no frame to be had */, BATCH_FAILED /* the device */ };

static enum batch inflate_batch(uint32_t want) {
  uint32_t n = take_frames(want < BALLOON_BATCH ? want : BALLOON_BATCH);
  if (n == 0) return BATCH_SHORT;
  if (virtio_queue_send(&dev, &queues[Q_INFLATE], buf_phys, n * sizeof(uint32_t)) != 0) {
    device_failed("inflate-timeout", n); /* flagged already: released with the rest */
    return BATCH_FAILED;
  }
  balloon_stats.batches++;
  balloon_stats.inflated += n;
  balloon_stats.actual += n;
  return BATCH_DONE;
}

/* Collects up to `want` balloon frames into pfns[], searching the frame
 * table from where the last search stopped. */
static uint32_t find_balloon_frames(uint32_t want) {
  uint32_t n = 0;
  for (uint32_t seen = 0; seen < frame_table_frames && n < want; seen++) {
    if (deflate_cursor >= frame_table_frames) deflate_cursor = 0;
    pfn_t pfn = deflate_cursor++;
    if (frame_table[pfn].flags & FRAME_BALLOON) pfns[n++] = pfn;
  }
  return n;
}

static enum batch deflate_batch(uint32_t want) {
  uint32_t n = find_balloon_frames(want < BALLOON_BATCH ? want : BALLOON_BATCH);
  if (n == 0) {
    balloon_error("lost-frames", balloon_stats.actual);
    balloon_stats.actual = 0;
    return BATCH_FAILED;
  }
  if (virtio_queue_send(&dev, &queues[Q_DEFLATE], buf_phys, n * sizeof(uint32_t)) != 0) {
    device_failed("deflate-timeout", n);
    return BATCH_FAILED;
  }
  release_frames(n);
  balloon_stats.batches++;
  balloon_stats.deflated += n;
  balloon_stats.actual -= n;
  return BATCH_DONE;
}

/* Moves the balloon toward the host's target, one buffer at a time, then
 * reports: the record first, the new size to the host last, so that a host
 * that sees the size sees a guest that has finished (its record written). */
static void adjust(void) {
  uint32_t inflated = balloon_stats.inflated, deflated = balloon_stats.deflated;
  enum batch result = BATCH_DONE;
  stopped_short = false;
  while (result == BATCH_DONE) {
    uint32_t target = virtio_config_read32(&dev, VIRTIO_BALLOON_CFG_NUM_PAGES);
    balloon_stats.target = target;
    if (target == balloon_stats.actual) break;
    result = target > balloon_stats.actual ? inflate_batch(target - balloon_stats.actual)
                                           : deflate_batch(balloon_stats.actual - target);
  }
  if (!balloon_stats.present) return; /* the device failed: reset, nothing to tell it */
  stopped_short = result == BATCH_SHORT;
  bool moved = balloon_stats.inflated != inflated || balloon_stats.deflated != deflated;
  if (!moved && !stopped_short) return; /* already at the target: nothing to report */
  if (stopped_short) balloon_stats.short_of_memory++;
  balloon_stats.changes++;
  krecord("BALLOON target=%u actual=%u inflated=%u deflated=%u short=%d\n", balloon_stats.target,
          balloon_stats.actual, balloon_stats.inflated - inflated,
          balloon_stats.deflated - deflated, stopped_short);
  virtio_config_write32(&dev, VIRTIO_BALLOON_CFG_ACTUAL, balloon_stats.actual);
}

void balloon_poll(void) {
  if (!balloon_stats.present) return;
  /* The interrupt status only says that something changed; the target itself
   * is compared, so no change is lost to a status read at the wrong time. */
  virtio_isr(&dev); /* acknowledges a config change (and deasserts the line) */
  if (stats_queue && virtio_queue_take(&queues[Q_STATS])) send_stats();
  uint32_t target = virtio_config_read32(&dev, VIRTIO_BALLOON_CFG_NUM_PAGES);
  if (target == balloon_stats.actual) {
    /* Reached, or a target stopped short of withdrawn: either way nothing is
     * pending, and the same target asked again later is a new request. */
    stopped_short = false;
    balloon_stats.target = target;
    return;
  }
  /* Short of memory at this target: try again once there are frames to take. */
  if (stopped_short && target == balloon_stats.target && pmm_stats.free_frames <= RECLAIM_RESERVE)
    return;
  adjust();
}

void balloon_irq(void) {
  balloon_stats.irqs++;
  if (balloon_stats.present) virtio_isr(&dev); /* deasserts the line; balloon_poll compares */
  pic_eoi(balloon_irq_line);
}
