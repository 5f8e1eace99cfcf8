/* Xen's shared-ring macros (xen/io/ring.h) with the barriers they leave to the guest. On
 * x86 loads are not reordered with loads nor stores with stores, so read and write
 * barriers only stop the compiler; the full barrier (a store then a load of the other
 * side's index) is a real fence. */
#ifndef HV_XEN_RING_H
#define HV_XEN_RING_H

#include <stddef.h>
#include <stdint.h>

#include <xen/xen.h>
#include <xen/grant_table.h>

#define xen_mb() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define xen_rmb() __asm__ __volatile__("" ::: "memory")
#define xen_wmb() __asm__ __volatile__("" ::: "memory")

#include <xen/io/ring.h>

#endif
