"""Several-vCPU machines' command lines (no QEMU): -smp N, multi-threaded TCG
on request, and the configurations QEMU would refuse refused first, with
the reason."""

import pytest

from harness.errors import ConfigError
from harness.machine.qemu import QemuConfig, build_argv
from tests.unit.argv import values


def test_one_cpu_adds_no_option(kernel, tmp_path):
    argv = build_argv(QemuConfig(kernel=kernel), tmp_path, "qemu-system-i386")
    assert values(argv, "-smp") == [] and values(argv, "-accel") == []


def test_smp_and_mttcg_options(kernel, tmp_path):
    cfg = QemuConfig(kernel=kernel, smp=4, mttcg=True)
    cfg.validate()
    argv = build_argv(cfg, tmp_path, "qemu-system-i386")
    assert values(argv, "-smp") == ["4"]
    assert values(argv, "-accel") == ["tcg,thread=multi"]


def test_smp_with_icount_is_one_thread(kernel, tmp_path):
    cfg = QemuConfig(kernel=kernel, smp=2, icount=True)
    cfg.validate()
    argv = build_argv(cfg, tmp_path, "qemu-system-i386")
    assert values(argv, "-smp") == ["2"] and values(argv, "-accel") == []
    assert values(argv, "-icount") == ["shift=0,align=off,sleep=off"]


@pytest.mark.parametrize(("smp", "mttcg", "icount", "message"), [
    (0, False, False, "smp=0: 1 to 8"),
    (9, False, False, "smp=9: 1 to 8"),
    (True, False, False, "smp=True"),
    (2, True, True, "mttcg and icount cannot be combined"),
])
def test_refused(kernel, smp, mttcg, icount, message):
    with pytest.raises(ConfigError, match=message):
        QemuConfig(kernel=kernel, smp=smp, mttcg=mttcg, icount=icount).validate()


def test_configs_differ_by_cpus(kernel):
    """The pool keys machines by config: an smp=2 machine is never handed
    to an smp=1 test."""
    assert QemuConfig(kernel=kernel, smp=2) != QemuConfig(kernel=kernel)
    assert hash(QemuConfig(kernel=kernel, smp=2)) != hash(QemuConfig(kernel=kernel, smp=4))
