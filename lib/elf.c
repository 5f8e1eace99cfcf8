/* ELF64 checking for the HP-mode loader (lib/elf.h). Every field is checked against the
 * file's length and the user range before the loader may use it; arithmetic that could
 * overflow is done with explicit bounds. */
#include "lib/elf.h"
#include "lib/errno.h"
#include "lib/format.h"
#include "lib/string.h"

#define PAGE 4096ull

static int fail(char *err, size_t errlen, const char *msg, uint64_t a, uint64_t b)
{
	ksnprintf(err, errlen, msg, (unsigned long)a, (unsigned long)b);
	return -ENOEXEC;
}

/* [off, off + n) inside a file of len bytes, without overflow */
static bool in_file(uint64_t off, uint64_t n, size_t len)
{
	return off <= len && n <= len - off;
}

int elf_check(const void *img, size_t len, struct elf_image *out, char *err, size_t errlen)
{
	struct elf64_ehdr eh;
	const uint8_t *p = img;

	memset(out, 0, sizeof(*out));
	if (len < sizeof(eh))
		return fail(err, errlen, "file too short for an ELF header (%lu bytes)", len, 0);
	memcpy(&eh, p, sizeof(eh));
	if (memcmp(eh.ident, "\177ELF", 4))
		return fail(err, errlen, "bad magic: not an ELF file", 0, 0);
	if (eh.ident[4] != 2 || eh.ident[5] != 1)
		return fail(err, errlen, "not a 64-bit little-endian ELF (class %lu, data %lu)",
			    eh.ident[4], eh.ident[5]);
	if (eh.machine != ELF_EM_X86_64)
		return fail(err, errlen, "not an x86-64 ELF (machine %lu)", eh.machine, 0);
	if (eh.type != ELF_ET_EXEC && eh.type != ELF_ET_DYN)
		return fail(err, errlen, "not an executable (ELF type %lu)", eh.type, 0);
	if (eh.phentsize != sizeof(struct elf64_phdr) || eh.phnum == 0 || eh.phnum > 64)
		return fail(err, errlen, "bad program header table (entry size %lu, count %lu)",
			    eh.phentsize, eh.phnum);
	if (!in_file(eh.phoff, (uint64_t)eh.phnum * sizeof(struct elf64_phdr), len))
		return fail(err, errlen, "program headers at %#lx run past the end of the file",
			    eh.phoff, 0);

	out->bias = eh.type == ELF_ET_DYN ? ELF_PIE_BASE : 0;
	out->phnum = eh.phnum;
	out->phent = eh.phentsize;
	out->lo = UINT64_MAX;
	bool have_phdr = false, dyn_seen = false;

	for (unsigned i = 0; i < eh.phnum; i++) {
		struct elf64_phdr ph;

		memcpy(&ph, p + eh.phoff + i * sizeof(ph), sizeof(ph));
		if (ph.type == ELF_PT_INTERP)
			return fail(
			    err, errlen,
			    "dynamically linked (has an interpreter): needs a static binary", 0, 0);
		if (ph.type == ELF_PT_DYNAMIC)
			dyn_seen = true;
		if (ph.type == ELF_PT_PHDR) {
			out->phdr = ph.vaddr + out->bias;
			have_phdr = true;
		}
		if (ph.type != ELF_PT_LOAD || ph.memsz == 0)
			continue;
		if (out->nloads == ELF_MAX_LOADS)
			return fail(err, errlen, "more than %lu loadable segments", ELF_MAX_LOADS,
				    0);
		if (ph.filesz > ph.memsz)
			return fail(err, errlen, "segment %lu: file size larger than memory size",
				    i, 0);
		if (!in_file(ph.offset, ph.filesz, len))
			return fail(err, errlen,
				    "segment %lu is truncated: it runs past the end "
				    "of the file (%#lx)",
				    i, len);
		if ((ph.vaddr - ph.offset) % PAGE)
			return fail(err, errlen,
				    "segment %lu: address and file offset differ "
				    "modulo the page size (%#lx)",
				    i, ph.vaddr);
		uint64_t va = ph.vaddr + out->bias;

		if (va < ph.vaddr || va < ELF_USER_MIN || va >= ELF_USER_MAX ||
		    ph.memsz > ELF_USER_MAX - va)
			return fail(err, errlen, "segment %lu at %#lx is outside the user range", i,
				    va);
		for (unsigned j = 0; j < out->nloads; j++) {
			const struct elf_load *o = &out->loads[j];

			if (va < o->vaddr + o->memsz && o->vaddr < va + ph.memsz)
				return fail(err, errlen, "segment %lu overlaps segment at %#lx", i,
					    o->vaddr);
		}
		out->loads[out->nloads++] = (struct elf_load){
		    .vaddr = va,
		    .memsz = ph.memsz,
		    .offset = ph.offset,
		    .filesz = ph.filesz,
		    .flags = ph.flags & 7,
		};
		if (va < out->lo)
			out->lo = va & ~(PAGE - 1);
		if (va + ph.memsz > out->hi)
			out->hi = (va + ph.memsz + PAGE - 1) & ~(PAGE - 1);
		if (!have_phdr && eh.phoff >= ph.offset && eh.phoff - ph.offset < ph.filesz)
			out->phdr = va + (eh.phoff - ph.offset);
	}
	if (!out->nloads)
		return fail(err, errlen, "no loadable segment", 0, 0);
	if (eh.type == ELF_ET_DYN && !dyn_seen)
		return fail(err, errlen, "position-independent but without a dynamic section", 0,
			    0);
	out->entry = eh.entry + out->bias;
	bool entry_ok = false;

	for (unsigned i = 0; i < out->nloads; i++) {
		const struct elf_load *l = &out->loads[i];

		if ((l->flags & ELF_PF_X) && out->entry >= l->vaddr &&
		    out->entry < l->vaddr + l->filesz)
			entry_ok = true;
	}
	if (!entry_ok)
		return fail(err, errlen, "entry point %#lx is outside the executable segments",
			    out->entry, 0);
	if (!out->phdr)
		return fail(err, errlen, "program headers are not in a loaded segment", 0, 0);
	return 0;
}
