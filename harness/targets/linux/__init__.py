"""The Linux target: stock Debian Linux i386 (linux-image-686, non-PAE) with a
busybox initramfs, booted with -kernel/-initrd/-append and driven with no
symbol file.

    profile.py    the TargetProfile (LINUX) and qemu_config() for a test's machine
    assets.py     Debian's kernel and busybox (apt-get download, cached in build/linux/),
                  our probe program, the initramfs (python -m harness.targets.linux.assets)
    initramfs.py  the newc cpio writer and reader (standard library only)
    kernel.py     symbols (/proc/kallsyms, the image's ksymtab), swapper_pg_dir,
                  the page fault at exc_page_fault
    ksyms.py      the pure parts: kallsyms lines, the bzImage's ksymtab
    shell.py      the busybox shell on the serial console
    guest/        mmvprobe.c, the static i386 program the tests run
"""
