#!/bin/sh
# Symbol table for panic backtraces (lib/ksyms.h), as assembly for the .ksyms section.
#   ksyms.sh --empty              an empty table (link pass 1)
#   ksyms.sh ELF                  the text symbols of ELF, sorted by address
#   ksyms.sh --check PASS1 FINAL  fail if any text symbol moved between the two passes
set -eu
text_syms() {
	# function symbols only; the linker script's __*_start/__*_end markers would shadow the
	# first function of a section
	nm -n --defined-only "$1" | awk '$2 ~ /^[tTwW]$/ && $3 !~ /^(\.L|__.*_(start|end)$)/ { print $1, $3 }'
}
case "${1:-}" in
--check)
	a=$(text_syms "$2")
	if [ -z "$a" ] || [ "$a" != "$(text_syms "$3")" ]; then
		echo "ksyms.sh: text symbols moved between link passes; keep .ksyms after .text" >&2
		exit 1
	fi
	exit 0
	;;
--empty) syms= ;;
*) syms=$(text_syms "$1") ;;
esac
printf '\t.section .ksyms, "a"\n\t.balign 8\n'
printf '\t.globl ksyms_count, ksyms_addr, ksyms_name_off, ksyms_names\n'
echo "$syms" | awk 'BEGIN { n = 0 }
	NF == 2 { addr[n] = $1; name[n] = $2; n++ }
	END {
		printf "ksyms_count:\n\t.quad %d\nksyms_addr:\n", n
		for (i = 0; i < n; i++) printf "\t.quad 0x%s\n", addr[i]
		printf "ksyms_name_off:\n"
		off = 0
		for (i = 0; i < n; i++) { printf "\t.long %d\n", off; off += length(name[i]) + 1 }
		printf "ksyms_names:\n"
		for (i = 0; i < n; i++) printf "\t.asciz \"%s\"\n", name[i]
		printf "\t.byte 0\n"
	}'
printf '\t.section .note.GNU-stack, "", @progbits\n'
