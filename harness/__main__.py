"""Command line: ``python -m harness {build,bench,demo,debug,iso,mutate} ...``."""

from __future__ import annotations

import sys


def main() -> int:
    commands = {
        "build": "build the firmware (incremental)",
        "bench": "measure the performance numbers (see harness/bench.py)",
        "demo": "boot the firmware and show the memory manager under GDB",
        "debug": "QEMU paused at reset with an interactive GDB attached",
        "iso": "build a bootable GRUB image with the kernel and every user program",
        "mutate": "mutants of the firmware's C: --list, --show ID, --apply ID --to DIR",
    }
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print("usage: python -m harness COMMAND [options]\n")
        for name, text in commands.items():
            print(f"  {name:8} {text}")
        return 2
    command, rest = sys.argv[1], sys.argv[2:]
    if command == "build":
        from harness.targets.mmverify.build import build

        print(build().kernel)
        return 0
    if command == "bench":
        from harness.cli.bench import main as bench_main

        return bench_main(rest)
    if command == "iso":
        from harness.targets.mmverify.build import build
        from harness.targets.mmverify.iso import build_iso

        artifacts = build()
        modules = tuple(str(p) for p in sorted(artifacts.user_dir.glob("*.elf")))
        iso = build_iso(artifacts.kernel, modules, " ".join(rest), artifacts.build_dir / "iso")
        target = artifacts.build_dir / "mmverify.iso"
        target.unlink(missing_ok=True)
        target.symlink_to(iso.relative_to(artifacts.build_dir))
        print(target)
        return 0
    if command == "mutate":
        from harness.mutate.cli import main as mutate_main

        return mutate_main(rest)
    if command == "debug":
        from harness.cli.debug import main as debug_main

        return debug_main(rest)
    from harness.cli.demo import main as demo_main

    return demo_main(rest)


if __name__ == "__main__":
    sys.exit(main())
