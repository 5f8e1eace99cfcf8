/* The smallest PVH kernel (bench/run.py's QEMU floor): "floor" on COM1, then QEMU's
 * isa-debug-exit. How long QEMU takes from its start to this line, with the same machine
 * and devices as the guests', is the part of every `boot` figure that no kernel can cut. */
	.section .note.Xen, "a"
	.align 4
	.long 4, 4, 18		/* name size, descriptor size, XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.long _start

	.text
	.code32
	.globl _start
_start:
	mov $0x3f8, %dx
	mov $msg, %esi
	mov $len, %ecx
1:	lodsb
	out %al, %dx
	loop 1b
	mov $0xf4, %dx
	xor %eax, %eax
	out %eax, %dx
2:	hlt
	jmp 2b
msg:	.ascii "floor\r\n"
	.set len, . - msg
