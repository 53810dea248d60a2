"""The real-hardware path: a GRUB image with the kernel and user programs as
multiboot modules boots (SeaBIOS + GRUB), and the kernel finds its command
line and modules as on -kernel.  (`make test-iso` runs the boot, PMM and
process suites this way.)"""

from harness.machine.machine import Machine
from harness.machine.qemu import QemuConfig
from harness.targets.mmverify.iso import build_iso, grub_cfg
from harness.targets.mmverify.profile import profile


def test_grub_config_names_every_module_after_its_file():
    cfg = grub_cfg("aslr=off run=hello", [("hello.elf", "5"), ("demand.elf", "")])
    assert "multiboot /boot/kernel.elf aslr=off run=hello" in cfg
    assert "module /boot/user/hello.elf /boot/user/hello.elf 5" in cfg
    assert "module /boot/user/demand.elf /boot/user/demand.elf\n" in cfg
    assert "set timeout=0" in cfg


def test_grub_image_boots_and_runs_a_program(firmware):
    hello = firmware.user_program("hello")
    iso = build_iso(firmware.kernel, (f"{hello} 5",), "aslr=off run=hello",
                    firmware.build_dir / "iso")
    assert iso == build_iso(firmware.kernel, (f"{hello} 5",), "aslr=off run=hello",
                            firmware.build_dir / "iso"), "cached by content"
    with Machine(QemuConfig(kernel=firmware.kernel, target=profile(firmware), iso=iso)) as m:
        m.start()
        m.run_to("scenario_done", timeout=60)
        assert m.records("CMDLINE")[0]["raw"] == "aslr=off run=hello", "GRUB: no path first"
        assert [r["name"] for r in m.records("MODULE")] == ["hello"]
        [done] = m.records("EXIT")
        assert done["name"] == "hello" and done.int("status") == 5
        assert m.reg("cr0") & 0x80000001 == 0x80000001
