/* The vDSO (hp/vdso/, built by the Makefile into VDSO_SO) kept in the kernel image, on
 * pages of its own: hp/app.c maps them into every app, read-only. */
	.section .rodata.vdso, "a"
	.balign 4096
	.globl	vdso_image
vdso_image:
	.incbin	VDSO_SO
	.balign 4096
	.globl	vdso_image_end
vdso_image_end:

	.section .note.GNU-stack, "", @progbits
