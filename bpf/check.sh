#!/bin/bash
# Developer check: compile bpf/saker.bpf.c with clang and load every program
# through the verifier with bpftool (no Rust build needed). Needs root.
cd "$(dirname "$0")/.." && clang -O2 -g -target bpf -D__TARGET_ARCH_x86 -Ibpf -c bpf/saker.bpf.c -o /tmp/saker.bpf.o || exit 1
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
d=/sys/fs/bpf/chk$$; rm -rf $d
bpftool prog loadall /tmp/saker.bpf.o $d > /tmp/load$$.log 2>&1; rc=$?
if [ $rc != 0 ]; then grep -B30 "END PROG LOAD LOG" /tmp/load$$.log | tail -40; grep "failed to load" /tmp/load$$.log; else ls $d | tr '\n' ' '; echo; echo LOAD OK; fi
rm -rf $d /tmp/load$$.log
