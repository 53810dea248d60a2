/* Host build: records are collected by the test (buddy_test.c). */
#pragma once

void krecord(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
