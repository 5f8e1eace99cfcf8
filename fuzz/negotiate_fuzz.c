/* virtio/negotiate.c: the status handshake against a device that says whatever the input
 * says: its offered features, and the status it reads back after each write. Whatever it
 * says, the negotiated set must be within what both sides want, contain what is required,
 * follow the VERSION_1 rule, be what the device was told, and a failure must leave FAILED
 * written and nothing negotiated. */
#include "fuzz/fuzz.h"
#include "lib/errno.h"
#include "virtio/virtio.h"

#define V1 (1ull << VIRTIO_F_VERSION_1)

struct lying_dev {
	struct virtio_dev d;
	struct fz in;
	uint8_t last_write, last_read, all_writes;
	unsigned writes, feature_sets, resets;
	bool failed_added;
	uint64_t told;
};

#define LD(d) container_of(d, struct lying_dev, d)

static uint8_t get_status(struct virtio_dev *d)
{
	struct lying_dev *l = LD(d);
	uint8_t b = fz_u8(&l->in);

	/* an odd byte: the honest read-back; an even one: a lie */
	l->last_read = b & 1 ? l->last_write : b;
	return l->last_read;
}

static void set_status(struct virtio_dev *d, uint8_t s)
{
	struct lying_dev *l = LD(d);

	/* the driver writes back what it read with its own bits added (virtio 1.2, 3.1.1),
	 * so a device's lie comes back to it; what the driver adds is checked */
	uint8_t added = s & ~l->last_read;

	FUZZ_CHECK(l->resets == 1);			  /* the handshake starts from a reset */
	FUZZ_CHECK(!(added & VIRTIO_CONFIG_S_DRIVER_OK)); /* that is virtio_ready's */
	l->last_write = s;
	l->all_writes |= s;
	l->writes++;
	l->failed_added |= added & VIRTIO_CONFIG_S_FAILED;
}

static uint64_t get_features(struct virtio_dev *d)
{
	return fz_u64(&LD(d)->in);
}

static void set_features(struct virtio_dev *d, uint64_t v)
{
	LD(d)->told = v;
	LD(d)->feature_sets++;
}

static void reset(struct virtio_dev *d)
{
	LD(d)->resets++;
}

static const struct virtio_transport lying = {
    .get_status = get_status,
    .set_status = set_status,
    .get_features = get_features,
    .set_features = set_features,
    .reset = reset,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lying_dev l = {.d = {.t = &lying}, .in = {data, size}};
	const char *why = NULL;
	uint8_t flags = fz_u8(&l.in);
	uint64_t wanted = fz_u64(&l.in), required = fz_u64(&l.in) & (flags & 2 ? ~0ull : wanted);

	l.d.modern = flags & 1;
	l.d.features = 0xdeadbeef;
	int rc = virtio_negotiate(&l.d, wanted, required, &why);
	uint64_t f = l.d.features, w = l.d.modern ? wanted | V1 : wanted & ~V1;

	FUZZ_CHECK(l.resets == 1);
	FUZZ_CHECK(rc == 0 || rc == -EOPNOTSUPP);
	if (rc) {
		FUZZ_CHECK(why && f == 0);
		FUZZ_CHECK(l.last_write & VIRTIO_CONFIG_S_FAILED);
		return 0;
	}
	FUZZ_CHECK(!l.failed_added);
	FUZZ_CHECK(f == (l.d.offered & w));
	FUZZ_CHECK((f & required) == required);
	FUZZ_CHECK(l.d.modern ? (f & V1) != 0 : (f & V1) == 0);
	FUZZ_CHECK(l.feature_sets == 1 && l.told == f);
	/* each step was written, whatever the device read back in between */
	FUZZ_CHECK(l.all_writes & VIRTIO_CONFIG_S_ACKNOWLEDGE);
	FUZZ_CHECK(l.all_writes & VIRTIO_CONFIG_S_DRIVER);
	if (l.d.modern)
		FUZZ_CHECK(l.last_write & VIRTIO_CONFIG_S_FEATURES_OK);
	return 0;
}
