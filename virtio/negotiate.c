/* The device status handshake and feature negotiation (virtio 1.2, 3.1.1), over the
 * transport's operations only: pure, so the host tests run it against a fake device. */
#include "virtio/virtio.h"

#include "lib/errno.h"

static void add_status(struct virtio_dev *d, uint8_t bits)
{
	d->t->set_status(d, d->t->get_status(d) | bits);
}

int virtio_negotiate(struct virtio_dev *d, uint64_t wanted, uint64_t required, const char **why)
{
	/* the modern interface is virtio 1.x: a device there offers VERSION_1 and a driver
	 * must take it; the legacy one has no room for it */
	if (d->modern) {
		wanted |= 1ull << VIRTIO_F_VERSION_1;
		required |= 1ull << VIRTIO_F_VERSION_1;
	} else {
		wanted &= ~(1ull << VIRTIO_F_VERSION_1);
	}
	d->t->reset(d);
	add_status(d, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	add_status(d, VIRTIO_CONFIG_S_DRIVER);
	d->offered = d->t->get_features(d);
	uint64_t f = d->offered & wanted;

	for (bool dropped = true; dropped;) { /* a dropped feature may be another's need */
		dropped = false;
		for (unsigned i = 0; i < d->ndeps; i++) {
			uint64_t bit = 1ull << d->deps[i].feature;

			if ((f & bit) && (f & d->deps[i].needs) != d->deps[i].needs) {
				f &= ~bit;
				dropped = true;
			}
		}
	}
	d->features = 0;
	if ((f & required) != required) {
		*why = "the device lacks features we need";
		add_status(d, VIRTIO_CONFIG_S_FAILED);
		return -EOPNOTSUPP;
	}
	d->t->set_features(d, f);
	if (d->modern) {
		add_status(d, VIRTIO_CONFIG_S_FEATURES_OK);
		if (!(d->t->get_status(d) & VIRTIO_CONFIG_S_FEATURES_OK)) {
			*why = "the device did not accept our features (FEATURES_OK)";
			add_status(d, VIRTIO_CONFIG_S_FAILED);
			return -EOPNOTSUPP;
		}
	}
	d->features = f;
	return 0;
}
