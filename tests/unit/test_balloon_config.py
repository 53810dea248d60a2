"""The balloon device on QEMU's command line (no QEMU started)."""

from harness.machine import balloon
from harness.machine.qemu import QemuConfig, build_argv


def devices(cfg: QemuConfig, tmp_path) -> list[str]:
    argv = build_argv(cfg, tmp_path, "/usr/bin/qemu-system-i386")
    return [argv[i + 1] for i, a in enumerate(argv) if a == "-device"]


def test_no_balloon_unless_asked(tmp_path):
    cfg = QemuConfig(kernel=tmp_path / "k")
    assert not [d for d in devices(cfg, tmp_path) if "balloon" in d]


def test_the_balloon_is_one_device_at_the_path_the_qom_helpers_use(tmp_path):
    cfg = QemuConfig(kernel=tmp_path / "k", balloon=True)
    assert [d for d in devices(cfg, tmp_path) if "balloon" in d] == \
        ["virtio-balloon-pci,id=balloon0"]
    assert balloon.DEVICE_PATH == "/machine/peripheral/balloon0"


def test_a_machine_with_the_balloon_is_another_machine(tmp_path):
    """The pool keys snapshots by config: one with the device never restores
    one without."""
    plain, ballooned = QemuConfig(kernel=tmp_path / "k"), QemuConfig(kernel=tmp_path / "k",
                                                                    balloon=True)
    assert plain != ballooned and hash(plain) != hash(ballooned)
