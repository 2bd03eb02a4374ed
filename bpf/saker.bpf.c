// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/*
 * The one BPF object the agent loads. Each sensor area lives in its own
 * <area>.bpf.c; they are compiled as one unit so they share the maps in
 * common.h (one ring buffer, one config, one loss table).
 */
#include "common.h"

char LICENSE[] SEC("license") = "GPL";

#include "process.bpf.c"
#include "file.bpf.c"
#include "net.bpf.c"
#include "dns.bpf.c"
#include "kernel.bpf.c"
