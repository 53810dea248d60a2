"""Which x86 paging mode a CPU is in, read from its control registers, and
the walker for that mode: legacy 32-bit paging (harness/decode/paging.py)
or PAE (harness/decode/pae.py)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.decode import paging
from harness.decode.pae import DEFAULT_MAXPHYADDR, PaeAddressSpace, walk_pae

CR4_PSE = 1 << 4
CR4_PAE = 1 << 5
EFER_NXE = 1 << 11


@dataclass(frozen=True)
class PagingMode:
    """The switches that change how a CR3 is walked.  The default is the
    legacy mode the walker has always assumed (no PSE, no PAE)."""

    pae: bool = False
    pse: bool = False          # CR4.PSE: 4 MiB pages (legacy only; PAE ignores it)
    nxe: bool = False          # EFER.NXE: bit 63 is execute-disable (PAE only)
    maxphyaddr: int = DEFAULT_MAXPHYADDR

    @classmethod
    def from_registers(cls, cr4: int, efer: int = 0,
                       maxphyaddr: int = DEFAULT_MAXPHYADDR) -> PagingMode:
        return cls(pae=bool(cr4 & CR4_PAE), pse=bool(cr4 & CR4_PSE),
                   nxe=bool(efer & EFER_NXE), maxphyaddr=maxphyaddr)


def walk(reader: paging.PhysReader, cr3: int,
         mode: PagingMode = PagingMode()) -> paging.AddressSpace | PaeAddressSpace:
    """The address space at ``cr3`` as a CPU in ``mode`` sees it."""
    if mode.pae:
        return walk_pae(reader, cr3, nxe=mode.nxe, maxphyaddr=mode.maxphyaddr)
    return paging.walk(reader, cr3, pse=mode.pse)
