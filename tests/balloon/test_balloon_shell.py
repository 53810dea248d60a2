"""The balloon while the debug shell runs a program: the shell's `run`
turns the timer on and off to watch for Ctrl-C, and must leave the cascade
the balloon's line comes through open; the shell's wait for input is a safe
point."""

import pytest

from tests.balloon.test_balloon import RAM_MIB, balloon_frames, balloon_stats
from tests.shell.test_shell import CTRL_C, PROMPT, Shell

pytestmark = pytest.mark.machine(memory="128M", balloon=True, modules=["user/*"],
                                 cmdline="shell aslr=off")


def test_a_change_during_a_shell_run_interrupts_the_program_and_is_carried_out_after(
        machine, userland, kernel):
    main = userland.symbol("forever", "main")
    sh = Shell(machine)
    sh.start()
    sh.stop()
    # Twice: the second run begins after the first one's timer_unwatch.
    for turn, mib in enumerate((64, RAM_MIB), start=1):
        machine.break_at(main)
        sh.resume()
        machine.console.sendline("run forever")
        assert machine.wait_stopped().addr == main  # the run's timer watch is on
        machine.delete_breakpoints()
        machine.balloon(mib)  # raises the line; the program is about to spin in user mode
        sh.resume()
        machine.console.send(CTRL_C)
        machine.expect(PROMPT)
        sh.stop()
        machine.run_until_balloon(mib)  # the shell waits for a line: its loop is a safe point
        stats = balloon_stats(kernel)
        assert stats["irqs"] == turn, "the change interrupted the spinning program"
        held = (RAM_MIB - mib) * 256
        assert stats["actual"] == held and len(balloon_frames(kernel)) == held
