/* lib/elf.c: elf_check on an arbitrary file. The image is copied to a heap block of exactly
 * its length, one byte off alignment (the checker promises not to need alignment), so ASan
 * sees any read past the file. An image it accepts must be one the loader can map as is. */
#include "fuzz/fuzz.h"
#include "lib/elf.h"
#include "lib/errno.h"

#define PAGE 4096ull

static void check_image(const struct elf_image *im, size_t len)
{
	bool entry_ok = false;

	FUZZ_CHECK(im->nloads >= 1 && im->nloads <= ELF_MAX_LOADS);
	FUZZ_CHECK(im->bias == 0 || im->bias == ELF_PIE_BASE);
	FUZZ_CHECK(im->phent == sizeof(struct elf64_phdr) && im->phnum >= 1);
	FUZZ_CHECK(im->lo % PAGE == 0 && im->hi % PAGE == 0 && im->lo < im->hi);
	FUZZ_CHECK(im->lo >= (ELF_USER_MIN & ~(PAGE - 1)) && im->hi <= ELF_USER_MAX);
	FUZZ_CHECK(im->phdr != 0);
	for (unsigned i = 0; i < im->nloads; i++) {
		const struct elf_load *l = &im->loads[i];

		/* the file part lies in the file, and the memory part in the user range */
		FUZZ_CHECK(l->offset <= len && l->filesz <= len - l->offset);
		FUZZ_CHECK(l->filesz <= l->memsz && l->memsz > 0);
		FUZZ_CHECK(l->vaddr >= ELF_USER_MIN && l->vaddr < ELF_USER_MAX);
		FUZZ_CHECK(l->memsz <= ELF_USER_MAX - l->vaddr);
		FUZZ_CHECK((l->vaddr - l->offset) % PAGE == 0);
		FUZZ_CHECK(l->vaddr >= im->lo && l->vaddr + l->memsz <= im->hi);
		FUZZ_CHECK((l->flags & ~7u) == 0);
		for (unsigned j = 0; j < i; j++) {
			const struct elf_load *o = &im->loads[j];

			FUZZ_CHECK(l->vaddr >= o->vaddr + o->memsz ||
				   o->vaddr >= l->vaddr + l->memsz);
		}
		if ((l->flags & ELF_PF_X) && im->entry >= l->vaddr &&
		    im->entry - l->vaddr < l->filesz)
			entry_ok = true;
	}
	FUZZ_CHECK(entry_ok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *block = malloc(size + 1);
	uint8_t *img = block + 1;
	struct elf_image im;
	char err[96];

	memcpy(img, data, size);
	memset(err, 0x55, sizeof(err));
	int rc = elf_check(img, size, &im, err, sizeof(err));

	if (rc == 0)
		check_image(&im, size);
	else
		FUZZ_CHECK(rc == -ENOEXEC && memchr(err, 0, sizeof(err)) && err[0]);
	/* a short error buffer is cut, never overrun */
	if (rc) {
		char small[8];

		FUZZ_CHECK(elf_check(img, size, &im, small, sizeof(small)) == rc);
		FUZZ_CHECK(strlen(small) < sizeof(small));
	}
	free(block);
	return 0;
}
