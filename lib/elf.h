/* ELF64 executables for the HP-mode loader: the file structures (from the System V gABI
 * and the x86-64 psABI) and one checker that every image passes before anything of it is
 * used. Pure code, host-tested with corrupt images (lib/elf_test.c). */
#ifndef LIB_ELF_H
#define LIB_ELF_H

#include "lib/compiler.h"

#define ELF_ET_EXEC    2
#define ELF_ET_DYN     3
#define ELF_EM_X86_64  62
#define ELF_PT_LOAD    1
#define ELF_PT_DYNAMIC 2
#define ELF_PT_INTERP  3
#define ELF_PT_PHDR    6
#define ELF_PT_TLS     7
#define ELF_PF_X       1
#define ELF_PF_W       2
#define ELF_PF_R       4

struct elf64_ehdr {
	uint8_t ident[16];
	uint16_t type, machine;
	uint32_t version;
	uint64_t entry, phoff, shoff;
	uint32_t flags;
	uint16_t ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};

struct elf64_phdr {
	uint32_t type, flags;
	uint64_t offset, vaddr, paddr, filesz, memsz, align;
};

/* Where an app may live: above the never-mapped first 64 KiB and below this (the low half
 * of the address space, minus room for the stack and mmap areas the loader places above). */
#define ELF_USER_MIN 0x10000ull
#define ELF_USER_MAX 0x0000700000000000ull
/* where a static-PIE (ET_DYN) image is placed */
#define ELF_PIE_BASE  0x0000000001000000ull
#define ELF_MAX_LOADS 16

struct elf_load {
	uint64_t vaddr, memsz; /* in memory, after the PIE bias */
	uint64_t offset, filesz;
	uint32_t flags; /* ELF_PF_* */
};

struct elf_image {
	uint64_t bias;	/* 0 for ET_EXEC, ELF_PIE_BASE for ET_DYN */
	uint64_t entry; /* biased */
	uint64_t phdr;	/* where the program headers are in memory (AT_PHDR), biased */
	uint16_t phnum, phent;
	uint64_t lo, hi; /* the loaded range, page-rounded */
	unsigned nloads;
	struct elf_load loads[ELF_MAX_LOADS];
};

/* Checks the image of `len` bytes at `img` and describes it in *out. Returns 0, or
 * -ENOEXEC with a one-line reason in err: bad magic or class, not x86-64, dynamically
 * linked, headers or segments outside the file, filesz > memsz, a segment outside the
 * user range, overlapping segments, misaligned offset/vaddr, an entry point outside the
 * executable segments. The image need not be aligned. */
int elf_check(const void *img, size_t len, struct elf_image *out, char *err, size_t errlen);

#endif
