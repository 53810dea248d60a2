/* The exception table: instructions allowed to fault in kernel mode.
 *
 * An inline asm statement puts the instruction that may fault at local label
 * 1, sets its output operand %0 to 0 after it, and ends with
 * EXTABLE_EFAULT("%N"), where operand N is the error to return (an "i"
 * operand, -EFAULT).  The macro records the pair (1b, fixup) in .extable;
 * when that instruction faults and nothing resolves the fault, the page-fault
 * handler resumes at the fixup, which loads the error into %0 and continues
 * after the statement.  %0 must be an early-clobber output ("=&r"). */
#pragma once

#define EXTABLE_EFAULT(error_operand)   \
  "2:\n\t"                              \
  ".pushsection .extable, \"a\"\n\t"    \
  ".long 1b, 3f\n\t"                    \
  ".popsection\n\t"                     \
  ".pushsection .text.fixup, \"ax\"\n"  \
  "3: movl " error_operand ", %0\n\t"   \
  "jmp 2b\n\t"                          \
  ".popsection"
