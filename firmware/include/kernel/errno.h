/* Error numbers.  Kernel functions that can fail return 0 or a positive value
 * on success and a negated one of these on failure, as Linux does.  Calls
 * that return user addresses (which are >= 2 GiB, so negative as int32_t)
 * fail with a value IS_ERR_VALUE recognises. */
#pragma once

#define EPERM 1    /* not allowed */
#define ENOENT 2   /* no such object */
#define ESRCH 3    /* no such process */
#define EIO 5      /* the device reported an error */
#define ENXIO 6    /* no such device */
#define E2BIG 7    /* too big (a page that does not compress) */
#define EBADF 9    /* not an open descriptor, or not open for that */
#define ECHILD 10  /* no child to wait for */
#define EAGAIN 11  /* limit reached, try later */
#define ENOMEM 12  /* out of memory */
#define EACCES 13  /* permission denied (a writable and executable mapping) */
#define EFAULT 14  /* bad address */
#define EBUSY 16   /* in use */
#define EEXIST 17  /* already exists */
#define EINVAL 22  /* invalid argument */
#define EMFILE 24  /* every descriptor of the process is in use */
#define ENOSPC 28  /* no space left (swap slots, the compressed pool) */
#define EROFS 30   /* the file system is read-only */
#define ENAMETOOLONG 36
#define ENOSYS 38  /* no such system call */
#define ETIMEDOUT 110 /* a device did not answer in time */

#define MAX_ERRNO 4095
#define IS_ERR_VALUE(x) ((uint32_t)(x) >= (uint32_t)-MAX_ERRNO)
