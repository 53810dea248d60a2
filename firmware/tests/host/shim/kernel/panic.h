/* Host build: a panic ends the test with its message. */
#pragma once

#define PANIC(...) host_panic(__func__, __VA_ARGS__)
__attribute__((noreturn)) void host_panic(const char *where, const char *fmt, ...);
