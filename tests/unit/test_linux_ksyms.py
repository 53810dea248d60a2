"""Linux symbols and page faults without a symbol file: the pure parts (no
QEMU, no packages)."""

from __future__ import annotations

import pytest

from harness.targets.linux import kernel, ksyms


def test_kallsyms_lines_parse_and_the_echo_does_not() -> None:
    text = ("mmv# grep -E ' (exc_page_fault|pipe_read)$' /proc/kallsyms\n"
            "c12d7760 t pipe_read\r\n"
            "c190de10 T exc_page_fault\n"
            "c190de10 t exc_page_fault\n"           # a second, static one: the first wins
            "f8001000 t foo_init\t[foo]\n")         # a module's symbol
    assert ksyms.parse_kallsyms(text) == {"pipe_read": 0xC12D7760,
                                          "exc_page_fault": 0xC190DE10,
                                          "foo_init": 0xF8001000}


def test_the_grep_names_exactly_the_symbols_and_refuses_anything_else() -> None:
    assert (ksyms.kallsyms_command(["pipe_read", "_stext"])
            == "grep -E ' (_stext|pipe_read)$' /proc/kallsyms")
    with pytest.raises(ValueError, match="not a kernel symbol name"):
        ksyms.kallsyms_command(["a;reboot"])


def test_an_image_without_an_xz_payload_is_refused() -> None:
    with pytest.raises(ValueError, match="no XZ payload"):
        ksyms.vmlinux_from_bzimage(b"MZ" + bytes(1000))


class FakeMachine:
    """Registers and memory at exc_page_fault's entry (regparm: EAX = regs)."""

    def __init__(self, regs: dict[str, int], memory: dict[int, bytes]) -> None:
        self.regs, self.memory = regs, memory

    def registers(self, *names: str) -> dict[str, int]:
        return {n: self.regs[n] for n in names}

    def read(self, addr: int, size: int) -> bytes:
        return self.memory[addr][:size]


def test_the_fault_is_read_from_cr2_edx_and_pt_regs() -> None:
    regs_at = 0xC23CFFB4
    pt_ip_cs = (0x080490CC).to_bytes(4, "little") + (0x73).to_bytes(4, "little")
    m = FakeMachine({"eax": regs_at, "edx": 0x6, "cr2": 0},
                    {regs_at + kernel.PT_REGS_IP: pt_ip_cs})
    fault = kernel.read_page_fault(m)
    assert (fault.addr, fault.err, fault.eip, fault.cs) == (0, 0x6, 0x080490CC, 0x73)
    assert fault.write and fault.user and not fault.present
