"""mm balloon and the balloon row of mm pmm under a plain GDB: QEMU asked
for a 32 MiB guest (of 64) before the kernel boots; at kernel_ready GDB
calls the safe point, the driver inflates; the command shows 8192 frames
held and calls them consistent; then one frame's reference poked wrong,
which the audit must name, and a driver's count poked wrong, which mm pmm
shows beside the frames it counts in the frame table."""

import pytest

from harness.machine import balloon

pytestmark = pytest.mark.qemu

HELD = 32 * 256  # 32 MiB of frames


def test_mm_balloon_shows_the_frames_and_audits_them(run_gdb):
    t = run_gdb(["call balloon_poll()", "mm balloon", "mm pmm"], modules=(), cmdline="aslr=off",
                balloon=True, before=lambda qemu: balloon.set_size(qemu, 32))
    out = t["mm balloon"].splitlines()
    assert out[0] == f"balloon: target {HELD} frames (32 MiB), holds {HELD} frames (32 MiB)", out
    assert out[1] == (f"  inflated {HELD}, deflated 0, buffers {HELD // 256}, changes 1, "
                      "short of memory 0, irqs 0, stats updates 1, errors 0"), out
    # A notify per buffer: 32 inflate buffers and the stats buffer sent at boot.
    assert out.pop(2) == f"  virtio: notifies {HELD // 256 + 1}, completed {HELD // 256}, " \
        "timeouts 0, errors 0", out
    assert out[2].startswith("  queue inflate: size 128 at ") and \
        out[2].endswith(f"avail {HELD // 256}, used {HELD // 256}, consumed {HELD // 256}"), out
    assert out[3].startswith("  queue deflate: size 128 at ") and \
        out[3].endswith("avail 0, used 0, consumed 0"), out
    assert out[4].startswith("  queue stats: size 128 at ") and \
        out[4].endswith("avail 1, used 0, consumed 0"), out
    assert out[5].startswith(f"frames with FRAME_BALLOON: {HELD}: 0x"), out
    assert out[6:] == ["audit: consistent"], out
    assert [line.split() for line in t["mm pmm"].splitlines() if line.startswith("balloon ")] == \
        [["balloon", str(HELD), str(HELD * 4), "32.0"]]
    assert f"the driver's balloon count (balloon_stats.actual): {HELD}" in \
        t["mm pmm"].splitlines()
    first = int(out[5].split(": ")[2].split(",")[0], 16)
    t = run_gdb(["call balloon_poll()", f"set var frame_table[{first >> 12}].refs = 2",
                 "mm balloon", "set var balloon_stats.actual = 5", "mm pmm"],
                modules=(), cmdline="aslr=off", balloon=True,
                before=lambda qemu: balloon.set_size(qemu, 32))
    # The row counts the frame table: the driver's counter is shown beside it.
    assert [line.split() for line in t["mm pmm"].splitlines() if line.startswith("balloon ")] == \
        [["balloon", str(HELD), str(HELD * 4), "32.0"]]
    assert "the driver's balloon count (balloon_stats.actual): 5 DISAGREES with the frame table" \
        in t["mm pmm"].splitlines()
    assert t["mm balloon"].splitlines()[-2:] == [
        "audit: 1 problems",
        f"problem: frame {first:#x}: FRAME_BALLOON with refs=2 flags=balloon node=0 (the "
        "balloon's one reference expected)"]
