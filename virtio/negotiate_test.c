/* The status handshake against a fake device that records every status write. */
#include <string.h>

#include "lib/errno.h"
#include "tools/unit/unit.h"
#include "virtio/virtio.h"

struct fake_dev {
	struct virtio_dev d;
	uint8_t status;
	uint64_t offered, accepted;
	bool refuse; /* FEATURES_OK does not stick */
	uint8_t writes[16];
	unsigned nwrites;
	unsigned resets;
};

#define FD(d) container_of(d, struct fake_dev, d)

static uint8_t get_status(struct virtio_dev *d)
{
	return FD(d)->status;
}

static void set_status(struct virtio_dev *d, uint8_t s)
{
	struct fake_dev *f = FD(d);

	if (f->refuse)
		s &= (uint8_t)~VIRTIO_CONFIG_S_FEATURES_OK;
	f->status = s;
	if (f->nwrites < 16)
		f->writes[f->nwrites++] = s;
}

static uint64_t get_features(struct virtio_dev *d)
{
	return FD(d)->offered;
}

static void set_features(struct virtio_dev *d, uint64_t v)
{
	FD(d)->accepted = v;
}

static void reset(struct virtio_dev *d)
{
	FD(d)->status = 0;
	FD(d)->resets++;
}

static const struct virtio_transport fake = {
	.get_status = get_status,
	.set_status = set_status,
	.get_features = get_features,
	.set_features = set_features,
	.reset = reset,
};

#define V1 (1ull << VIRTIO_F_VERSION_1)
#define ACK VIRTIO_CONFIG_S_ACKNOWLEDGE
#define DRV VIRTIO_CONFIG_S_DRIVER
#define FOK VIRTIO_CONFIG_S_FEATURES_OK
#define FAILED VIRTIO_CONFIG_S_FAILED

static void setup(struct fake_dev *f, bool modern, uint64_t offered)
{
	memset(f, 0, sizeof(*f));
	f->d.t = &fake;
	f->d.modern = modern;
	f->offered = offered;
	f->status = 0x7f; /* whatever a previous driver left */
}

TEST(virtio_negotiate_modern)
{
	struct fake_dev f;
	const char *why = NULL;

	setup(&f, true, V1 | 0x5 | 1ull << 40);
	CHECK_EQ(virtio_negotiate(&f.d, 0x3, 0x1, &why), 0);
	CHECK_EQ(f.resets, 1);
	CHECK_EQ(f.nwrites, 3);
	CHECK_EQ(f.writes[0], ACK);
	CHECK_EQ(f.writes[1], ACK | DRV);
	CHECK_EQ(f.writes[2], ACK | DRV | FOK);
	CHECK_EQ(f.accepted, V1 | 0x1); /* only what both sides want; VERSION_1 always */
	CHECK_EQ(f.d.features, V1 | 0x1);
}

TEST(virtio_negotiate_legacy_has_no_features_ok)
{
	struct fake_dev f;
	const char *why = NULL;

	setup(&f, false, 0x7);
	CHECK_EQ(virtio_negotiate(&f.d, V1 | 0x6, 0, &why), 0);
	CHECK_EQ(f.accepted, 0x6);
	CHECK_EQ(f.nwrites, 2);
	CHECK_EQ(f.status, ACK | DRV);
}

TEST(virtio_negotiate_failed)
{
	struct fake_dev f;
	const char *why = NULL;

	/* a required feature missing: FAILED, nothing accepted */
	setup(&f, true, V1 | 0x1);
	CHECK_EQ(virtio_negotiate(&f.d, 0x3, 0x2, &why), -EOPNOTSUPP);
	CHECK(why != NULL);
	CHECK(f.status & FAILED);
	CHECK(!(f.status & FOK));
	CHECK_EQ(f.accepted, 0);
	CHECK_EQ(f.d.features, 0);
	/* a modern device without VERSION_1 */
	setup(&f, true, 0x3);
	CHECK_EQ(virtio_negotiate(&f.d, 0x3, 0, &why), -EOPNOTSUPP);
	CHECK(f.status & FAILED);
	/* the device refuses the set: FEATURES_OK does not read back */
	setup(&f, true, V1 | 0x3);
	f.refuse = true;
	why = NULL;
	CHECK_EQ(virtio_negotiate(&f.d, 0x3, 0, &why), -EOPNOTSUPP);
	CHECK(why != NULL);
	CHECK(f.status & FAILED);
	CHECK_EQ(f.d.features, 0);
}

/* a feature whose needs are not all offered is not taken, nor one that needs it in turn
 * (virtio-net: GUEST_TSO4 needs GUEST_CSUM, and our MRG_RXBUF; HOST_TSO4 needs CSUM) */
TEST(virtio_negotiate_dependencies)
{
	static const struct virtio_dep deps[] = {
		{ 3, 1ull << 1 },	      /* 3 needs 1 */
		{ 4, 1ull << 3 | 1ull << 2 }, /* 4 needs 3 and 2 */
		{ 5, 1ull << 2 },	      /* 5 needs 2 */
	};
	struct fake_dev f;
	const char *why = NULL;

	setup(&f, true, V1 | 0x3c); /* 2, 3, 4, 5: 1 missing */
	f.d.deps = deps;
	f.d.ndeps = 3;
	CHECK_EQ(virtio_negotiate(&f.d, 0x3f, 0, &why), 0);
	CHECK_EQ(f.accepted, V1 | 1ull << 2 | 1ull << 5); /* 3 lacks 1, so 4 lacks 3 */
	setup(&f, true, V1 | 0x3e); /* all offered */
	f.d.deps = deps;
	f.d.ndeps = 3;
	CHECK_EQ(virtio_negotiate(&f.d, 0x3f, 0, &why), 0);
	CHECK_EQ(f.accepted, V1 | 0x3e);
	setup(&f, true, V1 | 0x3e); /* not wanted is not there */
	f.d.deps = deps;
	f.d.ndeps = 3;
	CHECK_EQ(virtio_negotiate(&f.d, 0x3f & ~(1ull << 2), 0, &why), 0);
	CHECK_EQ(f.accepted, V1 | 1ull << 1 | 1ull << 3);
}
