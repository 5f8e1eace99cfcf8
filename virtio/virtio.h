/* virtio devices on the PC platforms (kvm, qemu): one device model over three transports
 * (PCI modern, PCI legacy, MMIO v1/v2), and the drivers above it (net, blk).
 *
 * A driver calls virtio_start (reset, ACKNOWLEDGE, DRIVER, feature negotiation,
 * FEATURES_OK, or FAILED when the device lacks what it needs), virtio_queue for each queue
 * (ring memory, interrupt), then virtio_ready (DRIVER_OK). At shutdown every device is
 * reset (its driver's stop first). */
#ifndef VIRTIO_VIRTIO_H
#define VIRTIO_VIRTIO_H

#include "common/hal.h"
#include "lib/compiler.h"
#include "virtio/virtq.h"

#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>

#define VIRTIO_MAX_QUEUES 4

struct virtio_dev;

struct virtio_transport {
	uint8_t (*get_status)(struct virtio_dev *d);
	void (*set_status)(struct virtio_dev *d, uint8_t s);
	uint64_t (*get_features)(struct virtio_dev *d);
	void (*set_features)(struct virtio_dev *d, uint64_t f);
	/* device-specific configuration (little-endian fields), len 1, 2, 4 or 8 */
	uint64_t (*config)(struct virtio_dev *d, unsigned off, unsigned len);
	/* the queue's largest size (0: no such queue); legacy transports also take no other */
	unsigned (*queue_max)(struct virtio_dev *d, unsigned idx);
	bool fixed_size; /* legacy: the queue size is the device's, not ours */
	/* tells the device where the ring is, routes its interrupt, enables it */
	int (*queue_enable)(struct virtio_dev *d, struct virtq *q);
	void (*notify)(struct virtio_dev *d, struct virtq *q);
	/* the device back to status 0; its interrupts unbound */
	void (*reset)(struct virtio_dev *d);
};

/* a feature the driver takes only with others (the spec's dependencies, or its own) */
struct virtio_dep {
	unsigned feature; /* a bit number */
	uint64_t needs;	  /* a mask */
};

struct virtio_dev {
	const struct virtio_transport *t;
	const struct virtio_dep *deps; /* the driver's, before virtio_start; ndeps of them */
	unsigned ndeps;
	uint32_t type;	   /* VIRTIO_ID_NET, VIRTIO_ID_BLOCK */
	bool modern;	   /* the 1.x interface (PCI modern, MMIO v2), else legacy */
	uint64_t offered;  /* what the device offered */
	uint64_t features; /* negotiated */
	char where[48];	   /* "pci 00:02.0 modern, MSI-X" */
	struct virtq *vq[VIRTIO_MAX_QUEUES];
	void (*vq_fn[VIRTIO_MAX_QUEUES])(void *arg); /* a queue's interrupt, interrupt context */
	void *vq_arg[VIRTIO_MAX_QUEUES];
	void (*stop)(struct virtio_dev *d); /* the driver's, before the reset at shutdown */
	void *driver;
	uint64_t kicks;
	struct virtio_dev *next;
	/* the transport's */
	void *tp;
};

/* The driver side. virtio_start: reset, ACKNOWLEDGE, DRIVER, features (wanted & offered;
 * the modern interface adds VERSION_1 to both; less each feature whose d->deps are not all
 * there, until none is left out), FEATURES_OK; FAILED and -EOPNOTSUPP when
 * the device lacks a required feature or refuses the set. virtio_negotiate does the same
 * without printing, *why saying what went wrong (negotiate.c, host-tested). */
int virtio_start(struct virtio_dev *d, uint64_t wanted, uint64_t required);
int virtio_negotiate(struct virtio_dev *d, uint64_t wanted, uint64_t required, const char **why);
/* Queue idx with at most `num` entries (the device may offer fewer; legacy dictates its
 * own), indirect descriptors if negotiated and asked for, fn(arg) on its interrupts. */
int virtio_queue(struct virtio_dev *d, unsigned idx, struct virtq *q, unsigned num,
		 bool indirect, void (*fn)(void *arg), void *arg);
void virtio_ready(struct virtio_dev *d);
/* Publishes what was added to q and notifies the device if it asked for it. */
void virtio_kick(struct virtio_dev *d, struct virtq *q);
/* Guest physical address of a kernel virtual address (RAM in the direct map or the
 * kernel image). */
uint64_t virtio_pa(const void *va);

/* The transports hand every device they find here; it goes to its driver. */
void virtio_found(struct virtio_dev *d);
/* A shared interrupt (MMIO, legacy INTx): every queue's handler. */
void virtio_all_queues(struct virtio_dev *d);

/* The drivers */
int virtio_net_probe(struct virtio_dev *d);
int virtio_blk_probe(struct virtio_dev *d);

/* The transports' discovery, and the HAL's entry points (hv_kvm) */
void virtio_pci_probe(const char *cmdline);
void virtio_mmio_probe(const char *cmdline, uint64_t rsdp);
void virtio_probe(const char *cmdline, uint64_t rsdp);
void virtio_stop(void);
unsigned virtio_count(void);

#endif
