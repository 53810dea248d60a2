# i386 freestanding cross toolchain.
#
# Prefers a real cross compiler (i686-elf-gcc and friends) when one is on PATH;
# otherwise drives the host gcc and binutils in 32-bit mode, which is all a
# Debian/Ubuntu machine has by default.  Either way the result is a static,
# freestanding ELF32 for i386 with no libc and no libgcc.
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR i386)

find_program(MMV_CROSS_GCC i686-elf-gcc)
if(MMV_CROSS_GCC)
  set(CMAKE_C_COMPILER ${MMV_CROSS_GCC})
  set(CMAKE_ASM_COMPILER ${MMV_CROSS_GCC})
  set(MMV_TARGET_FLAGS "")
  set(MMV_LINK_FLAGS "")
else()
  find_program(MMV_HOST_GCC NAMES gcc cc REQUIRED)
  set(CMAKE_C_COMPILER ${MMV_HOST_GCC})
  set(CMAKE_ASM_COMPILER ${MMV_HOST_GCC})
  # -m32 makes the host gcc emit i386 code and pass "-m elf_i386" to ld.
  set(MMV_TARGET_FLAGS "-m32")
  set(MMV_LINK_FLAGS "-m32 -Wl,-m,elf_i386")
endif()

# Code generation shared by the kernel and the user programs: no PIC (the
# images are linked at fixed addresses), no SSE/MMX/x87 state the kernel would
# have to save, and i486 as the oldest CPU the kernel supports.
set(MMV_COMMON_FLAGS
    "${MMV_TARGET_FLAGS} -march=i486 -mtune=generic -ffreestanding -fno-pic -fno-pie \
-mno-sse -mno-mmx -mno-80387 -fno-asynchronous-unwind-tables -fno-builtin")
set(CMAKE_C_FLAGS_INIT "${MMV_COMMON_FLAGS}")
set(CMAKE_ASM_FLAGS_INIT "${MMV_TARGET_FLAGS}")
set(CMAKE_EXE_LINKER_FLAGS_INIT "${MMV_LINK_FLAGS} -nostdlib -static -no-pie -Wl,--build-id=none")

# Nothing from the host may leak into a freestanding build.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
