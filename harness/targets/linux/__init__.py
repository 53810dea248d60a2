"""The Linux target: stock Debian Linux i386 (linux-image-686, non-PAE) with a
busybox initramfs, booted with -kernel/-initrd and driven with no symbol file.

    assets.py     Debian's kernel and busybox (apt-get download, cached in build/linux/),
                  our probe program, the initramfs
    initramfs.py  the newc cpio writer and reader (standard library only)
    guest/        mmvprobe.c, the static i386 program the tests run
"""
