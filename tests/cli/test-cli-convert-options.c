/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * convert's options for overlays, existing targets, sparseness, damaged sources and
 * preallocation (-B/-F, -o backing_file, -n, -S, --salvage, -C, -o preallocation=),
 * differentially: the same command line runs through qemu-img and strata-img on copies of
 * the same images. Same stdout, same exit code (stderr too where a case says so,
 * "qemu-img: " read as "strata-img: "); the outputs are identical for `qemu-img compare`,
 * clean for `qemu-img check`, identical to the source where the case names one, and
 * allocated alike (`qemu-img map`, host offsets aside, or with them for preallocation)
 * where it matters. A refused command leaves nothing behind in strata-img's folder
 * (qemu-img, for some, leaves the half-made target).
 */
#include "cli-util.h"
#include "test-util.h"

#include <glib/gstdio.h>
#include <string.h>

typedef enum
{
  SAME_STDERR = 1 << 0, /* stderr must match too */
  SAME_MAP    = 1 << 1, /* the same allocation: `qemu-img map` without host offsets */
  NO_CHECK    = 1 << 2, /* the output is raw: compare only */
  SALVAGE     = 1 << 3, /* both warn about what they could not read (in their own words) */
  SAME_LAYOUT = 1 << 4, /* the same host offsets in `qemu-img map`, the same file length
                         * and "Image end offset", about the same blocks on disk */
} CaseFlags;

typedef struct
{
  const char *name;
  const char *setup;   /* shell, run once; each case works on copies */
  const char *args;    /* after "convert" */
  const char *output;  /* compared between the folders and checked, or NULL */
  const char *source;  /* what the output must hold (`qemu-img compare`), or NULL */
  CaseFlags   flags;
} Case;

/*
 * base (4M) under ov (10M: larger than its backing), with data, zero clusters (one over
 * the base's data), a compressed cluster and a cluster equal to the base's; ov flattened
 * to qcow2, compressed qcow2, raw and VMDK; overlays of base with 4k and 2M clusters; an
 * overlay smaller than its backing (big, 20M); top over ov (a chain of three); empty and
 * tiny images; targets for -n.
 */
#define IMAGES \
  "qemu-img create -q -f qcow2 base.qcow2 4M && " \
  "qemu-io -c 'write -P 1 0 1M' -c 'write -P 2 3M 512k' base.qcow2 >/dev/null && " \
  "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 ov.qcow2 10M && " \
  "qemu-io -c 'write -P 3 2M 64k' -c 'write -z 512k 64k' -c 'write -z 3M 64k' " \
  "-c 'write -P 5 6M 100k' -c 'write -P 1 128k 64k' -c 'write -c -P 4 4M 128k' " \
  "ov.qcow2 >/dev/null && " \
  "qemu-img convert -O qcow2 ov.qcow2 full.qcow2 && " \
  "qemu-img convert -c -O qcow2 ov.qcow2 fullc.qcow2 && " \
  "qemu-img convert -O raw ov.qcow2 full.raw && " \
  "qemu-img convert -O vmdk ov.qcow2 full.vmdk && " \
  "qemu-img create -q -f qcow2 -o cluster_size=4k -b base.qcow2 -F qcow2 ov4k.qcow2 10M && " \
  "qemu-io -c 'write -P 3 2M 6k' -c 'write -z 8k 4k' -c 'write -P 6 9M 1k' ov4k.qcow2 " \
  ">/dev/null && " \
  "qemu-img create -q -f qcow2 -o cluster_size=2M -b base.qcow2 -F qcow2 ov2m.qcow2 10M && " \
  "qemu-io -c 'write -P 3 2M 64k' -c 'write -z 0 2M' ov2m.qcow2 >/dev/null && " \
  "qemu-img create -q -f qcow2 big.qcow2 20M && " \
  "qemu-io -c 'write -P 1 0 1M' -c 'write -P 7 15M 1M' big.qcow2 >/dev/null && " \
  "qemu-img create -q -f qcow2 -b big.qcow2 -F qcow2 small-ov.qcow2 10M && " \
  "qemu-io -c 'write -P 3 1M 64k' -c 'write -z 0 64k' small-ov.qcow2 >/dev/null && " \
  "qemu-img create -q -f qcow2 -b ov.qcow2 -F qcow2 top.qcow2 && " \
  "qemu-io -c 'write -P 8 5M 1M' -c 'write -z 6M 64k' top.qcow2 >/dev/null && " \
  "qemu-img create -q -f qcow2 empty.qcow2 0 && " \
  "qemu-img create -q -f qcow2 tiny.qcow2 512 && " \
  "qemu-io -c 'write -P 9 0 512' tiny.qcow2 >/dev/null && " \
  "mkdir sub && cp base.qcow2 sub/b.qcow2 && " \
  "qemu-img create -q -f qcow2 t10.qcow2 10M && " \
  "qemu-io -c 'write -P 9 0 10M' t10.qcow2 >/dev/null && " \
  "qemu-img create -q -f qcow2 t12.qcow2 12M && " \
  "qemu-io -c 'write -P 9 0 12M' t12.qcow2 >/dev/null && " \
  "qemu-img create -q -f qcow2 t5.qcow2 5M && qemu-img create -q -f qcow2 e10.qcow2 10M && " \
  "qemu-img create -q -f raw t12.raw 12M && " \
  "qemu-io -f raw -c 'write -P 9 0 12M' t12.raw >/dev/null && " \
  "qemu-img create -q -f qcow2 b9.qcow2 10M && " \
  "qemu-io -c 'write -P 9 0 10M' b9.qcow2 >/dev/null && " \
  "qemu-img create -q -f qcow2 -b b9.qcow2 -F qcow2 tb.qcow2 && " \
  "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 tov.qcow2 10M && " \
  "qemu-io -c 'write -P 9 1M 2M' tov.qcow2 >/dev/null && " \
  "qemu-img create -q -f qcow2 -o compat=0.10 tv2.qcow2 10M && " \
  "qemu-io -c 'write -P 9 0 10M' tv2.qcow2 >/dev/null"

/* Damaged sources: a compressed image with 200 bytes of garbage inside its clusters (an
 * overlay of it too), and an uncompressed one cut short. */
#define DAMAGED \
  "qemu-img create -q -f qcow2 s.qcow2 4M && " \
  "qemu-io -c 'write -P 1 0 4M' s.qcow2 >/dev/null && " \
  "qemu-img convert -c -O qcow2 s.qcow2 sc.qcow2 && cp sc.qcow2 bad.qcow2 && " \
  "head -c 200 /dev/zero | tr '\\000' '\\377' | " \
  "dd of=bad.qcow2 bs=1 seek=328000 conv=notrunc 2>/dev/null && " \
  "qemu-img create -q -f qcow2 -b bad.qcow2 -F qcow2 badov.qcow2 && " \
  "qemu-io -c 'write -P 2 256k 64k' badov.qcow2 >/dev/null && " \
  "cp s.qcow2 tr.qcow2 && truncate -s 1500000 tr.qcow2"

#define B "-B base.qcow2 -F qcow2 "

static const Case cases[] = {
  /* -B: only what the source's top layer holds; its zero clusters stay zero clusters
   * where the backing would show through. */
  { "backing-overlay", IMAGES, B "-O qcow2 ov.qcow2 o.qcow2", "o.qcow2", "ov.qcow2",
    SAME_MAP },
  { "backing-overlay-compressed", IMAGES, B "-c -O qcow2 ov.qcow2 o.qcow2", "o.qcow2",
    "ov.qcow2", SAME_MAP },
  { "backing-flat-source", IMAGES, B "-O qcow2 full.qcow2 o.qcow2", "o.qcow2", "ov.qcow2",
    SAME_MAP },
  { "backing-flat-compressed", IMAGES, B "-c -O qcow2 full.qcow2 o.qcow2", "o.qcow2",
    "ov.qcow2", SAME_MAP },
  { "backing-from-compressed", IMAGES, B "-O qcow2 fullc.qcow2 o.qcow2", "o.qcow2",
    "ov.qcow2", SAME_MAP },
  { "backing-from-raw", IMAGES, B "-f raw -O qcow2 full.raw o.qcow2", "o.qcow2", "ov.qcow2",
    SAME_MAP },
  { "backing-from-vmdk", IMAGES, B "-O qcow2 full.vmdk o.qcow2", "o.qcow2", "ov.qcow2",
    SAME_MAP },
  { "backing-4k-source", IMAGES, B "-O qcow2 ov4k.qcow2 o.qcow2", "o.qcow2", "ov4k.qcow2",
    SAME_MAP },
  { "backing-4k-target", IMAGES, B "-O qcow2 -o cluster_size=4k ov.qcow2 o.qcow2", "o.qcow2",
    "ov.qcow2", SAME_MAP },
  { "backing-2m-source", IMAGES, B "-O qcow2 ov2m.qcow2 o.qcow2", "o.qcow2", "ov2m.qcow2",
    SAME_MAP },
  { "backing-2m-target-compressed", IMAGES, B "-c -O qcow2 -o cluster_size=2M ov.qcow2 "
    "o.qcow2", "o.qcow2", "ov.qcow2", SAME_MAP },
  { "backing-larger-than-source", IMAGES, "-B big.qcow2 -F qcow2 -O qcow2 small-ov.qcow2 "
    "o.qcow2", "o.qcow2", "small-ov.qcow2", SAME_MAP },
  { "backing-chain", IMAGES, "-B ov.qcow2 -F qcow2 -O qcow2 top.qcow2 o.qcow2", "o.qcow2",
    "top.qcow2", SAME_MAP },
  { "backing-chain-compressed", IMAGES, "-c -B ov.qcow2 -F qcow2 -O qcow2 top.qcow2 o.qcow2",
    "o.qcow2", "top.qcow2", SAME_MAP },
  { "backing-relative", IMAGES, "-B ../base.qcow2 -F qcow2 -O qcow2 ov.qcow2 sub/o.qcow2",
    "sub/o.qcow2", "ov.qcow2", SAME_MAP },
  { "backing-relative-o", IMAGES, "-o backing_file=b.qcow2,backing_fmt=qcow2 -O qcow2 "
    "ov.qcow2 sub/o.qcow2", "sub/o.qcow2", "ov.qcow2", SAME_MAP },
  { "backing-copy", IMAGES, "-B sub/b.qcow2 -F qcow2 -O qcow2 ov.qcow2 o.qcow2", "o.qcow2",
    "ov.qcow2", SAME_MAP },
  { "backing-o", IMAGES, "-o backing_file=base.qcow2,backing_fmt=qcow2 -O qcow2 ov.qcow2 "
    "o.qcow2", "o.qcow2", "ov.qcow2", SAME_MAP },
  { "backing-B-wins", IMAGES, B "-o backing_file=sub/b.qcow2 -O qcow2 ov.qcow2 o.qcow2",
    "o.qcow2", "ov.qcow2", SAME_MAP },
  { "backing-fmt-o", IMAGES, "-B base.qcow2 -o backing_fmt=qcow2 -O qcow2 ov.qcow2 o.qcow2",
    "o.qcow2", "ov.qcow2", SAME_MAP },
  { "backing-v2-target", IMAGES, B "-O qcow2 -o compat=0.10 ov.qcow2 o.qcow2", "o.qcow2",
    "ov.qcow2" },
  { "backing-tiny", IMAGES, B "-O qcow2 tiny.qcow2 o.qcow2", "o.qcow2", NULL, SAME_MAP },
  { "backing-empty", IMAGES, B "-O qcow2 empty.qcow2 o.qcow2", "o.qcow2", "empty.qcow2",
    SAME_MAP },
  { "backing-S0", IMAGES, B "-S 0 -O qcow2 ov.qcow2 o.qcow2", "o.qcow2", "ov.qcow2",
    SAME_MAP },
  { "backing-C", IMAGES, B "-C -O qcow2 ov.qcow2 o.qcow2", "o.qcow2", "ov.qcow2", SAME_MAP },

  /* -B refused in qemu-img's words. */
  { "backing-no-format", IMAGES, "-B base.qcow2 -O qcow2 ov.qcow2 o.qcow2", NULL, NULL,
    SAME_STDERR },
  { "backing-o-no-format", IMAGES, "-o backing_file=base.qcow2 -O qcow2 ov.qcow2 o.qcow2",
    NULL, NULL, SAME_STDERR },
  { "backing-missing", IMAGES, "-B nothere.qcow2 -F qcow2 -O qcow2 ov.qcow2 o.qcow2", NULL,
    NULL, SAME_STDERR },
  { "backing-missing-relative", IMAGES, B "-O qcow2 ov.qcow2 sub/o.qcow2", NULL, NULL,
    SAME_STDERR },
  { "backing-raw-target", IMAGES, B "-O raw ov.qcow2 o.raw", NULL, NULL, SAME_STDERR },
  { "backing-raw-target-c", IMAGES, B "-c -O raw ov.qcow2 o.raw", NULL, NULL, SAME_STDERR },
  { "backing-raw-target-o", IMAGES, "-O raw -o backing_file=base.qcow2,backing_fmt=qcow2 "
    "ov.qcow2 o.raw", NULL, NULL, SAME_STDERR },
  { "backing-fmt-raw-target", IMAGES, "-F qcow2 -O raw ov.qcow2 o.raw", NULL, NULL,
    SAME_STDERR },
  { "backing-fmt-alone", IMAGES, "-F qcow2 -O qcow2 ov.qcow2 o.qcow2", NULL, NULL,
    SAME_STDERR },
  { "backing-fmt-o-alone", IMAGES, "-o backing_fmt=qcow2 -O qcow2 ov.qcow2 o.qcow2", NULL,
    NULL, SAME_STDERR },
  { "backing-fmt-unknown", IMAGES, "-B base.qcow2 -F xyz -O qcow2 ov.qcow2 o.qcow2", NULL,
    NULL, SAME_STDERR },
  { "backing-vmdk-target", IMAGES, B "-O vmdk ov.qcow2 o.vmdk", NULL, NULL, SAME_STDERR },
  { "backing-missing-source", IMAGES, B "-O qcow2 nothere.qcow2 o.qcow2", NULL, NULL,
    SAME_STDERR },

  /* -n: into what is there, zeroing what the source reads as zeros. */
  { "n-qcow2", IMAGES, "-n -O qcow2 ov.qcow2 t10.qcow2", "t10.qcow2", "ov.qcow2",
    SAME_MAP },
  { "n-qcow2-larger", IMAGES, "-n -O qcow2 full.qcow2 t12.qcow2", "t12.qcow2", NULL,
    SAME_MAP },
  { "n-qcow2-compressed", IMAGES, "-n -c -O qcow2 full.qcow2 e10.qcow2", "e10.qcow2",
    "ov.qcow2", SAME_MAP },
  { "n-qcow2-v2", IMAGES, "-n -O qcow2 ov.qcow2 tv2.qcow2", "tv2.qcow2", "ov.qcow2" },
  { "n-target-with-backing", IMAGES, "-n -O qcow2 full.qcow2 tb.qcow2", "tb.qcow2",
    "ov.qcow2", SAME_MAP },
  { "n-backing", IMAGES, B "-n -O qcow2 ov.qcow2 tov.qcow2", "tov.qcow2", NULL, SAME_MAP },
  { "n-raw", IMAGES, "-n -O raw ov.qcow2 t12.raw", "t12.raw", NULL, NO_CHECK | SAME_MAP },
  { "n-raw-from-vmdk", IMAGES, "-n -O raw full.vmdk t12.raw", "t12.raw", NULL,
    NO_CHECK | SAME_MAP },
  { "n-S0", IMAGES, "-n -S 0 -O qcow2 ov.qcow2 t10.qcow2", "t10.qcow2", "ov.qcow2",
    SAME_MAP },
  { "n-tiny", IMAGES, "-n -O qcow2 tiny.qcow2 t10.qcow2", "t10.qcow2", NULL, SAME_MAP },
  { "n-empty", IMAGES, "-n -O qcow2 empty.qcow2 t5.qcow2", "t5.qcow2", NULL, SAME_MAP },
  { "n-C", IMAGES, "-n -C -O qcow2 ov.qcow2 t10.qcow2", "t10.qcow2", "ov.qcow2", SAME_MAP },
  { "n-too-small", IMAGES, "-n -O qcow2 ov.qcow2 t5.qcow2", NULL, NULL, SAME_STDERR },
  { "n-too-small-raw", IMAGES, "-n -O raw top.qcow2 full.raw", NULL, NULL, SAME_STDERR },
  { "n-missing", IMAGES, "-n -O qcow2 ov.qcow2 nothere.qcow2", NULL, NULL, SAME_STDERR },
  { "n-directory", IMAGES, "-n -O qcow2 ov.qcow2 sub", NULL, NULL, SAME_STDERR },
  { "n-options", IMAGES, "-n -o cluster_size=4k -O qcow2 ov.qcow2 t10.qcow2", NULL, NULL,
    SAME_STDERR },
  { "n-missing-source", IMAGES, "-n -O qcow2 nothere.qcow2 t10.qcow2", NULL, NULL,
    SAME_STDERR },

  /* -S: qemu-img's sizes and words; 0 allocates everything. */
  { "S0-qcow2", IMAGES, "-S 0 -O qcow2 ov.qcow2 o.qcow2", "o.qcow2", "ov.qcow2", SAME_MAP },
  { "S0-compressed", IMAGES, "-S 0 -c -O qcow2 ov.qcow2 o.qcow2", "o.qcow2", "ov.qcow2",
    SAME_MAP },
  { "S0-raw", IMAGES, "-S 0 -O raw ov.qcow2 o.raw", "o.raw", "ov.qcow2",
    NO_CHECK | SAME_MAP },
  { "S0-from-vmdk", IMAGES, "-S 0 -O qcow2 full.vmdk o.qcow2", "o.qcow2", "ov.qcow2",
    SAME_MAP },
  { "S0-empty", IMAGES, "-S 0 -O qcow2 empty.qcow2 o.qcow2", "o.qcow2", "empty.qcow2",
    SAME_MAP },
  { "S-512", IMAGES, "-S 512 -O qcow2 ov4k.qcow2 o.qcow2", "o.qcow2", "ov4k.qcow2",
    SAME_MAP },
  { "S-hex", IMAGES, "-S 0x200 -O qcow2 ov.qcow2 o.qcow2", "o.qcow2", "ov.qcow2", SAME_MAP },
  { "S-16M", IMAGES, "-S 16M -O qcow2 ov.qcow2 o.qcow2", "o.qcow2", "ov.qcow2" },
  { "S-last-wins", IMAGES, "-S 0 -S 4k -O qcow2 ov.qcow2 o.qcow2", "o.qcow2", "ov.qcow2",
    SAME_MAP },
  { "S-not-512", IMAGES, "-S 1000 -O qcow2 ov.qcow2 o.qcow2", NULL, NULL, SAME_STDERR },
  { "S-too-large", IMAGES, "-S 16777728 -O qcow2 ov.qcow2 o.qcow2", NULL, NULL,
    SAME_STDERR },
  { "S-text", IMAGES, "-S abc -O qcow2 ov.qcow2 o.qcow2", NULL, NULL, SAME_STDERR },
  { "S-negative", IMAGES, "-S -1 -O qcow2 ov.qcow2 o.qcow2", NULL, NULL, SAME_STDERR },
  { "S-bad-suffix", IMAGES, "-S 1k5 -O qcow2 ov.qcow2 o.qcow2", NULL, NULL, SAME_STDERR },

  /* -C: accepted where qemu-img accepts it, refused with its words. */
  { "C-qcow2", IMAGES, "-C -O qcow2 ov.qcow2 o.qcow2", "o.qcow2", "ov.qcow2", SAME_MAP },
  { "C-raw", IMAGES, "-C -O raw ov.qcow2 o.raw", "o.raw", "ov.qcow2", NO_CHECK | SAME_MAP },
  { "C-compressed", IMAGES, "-C -c -O qcow2 ov.qcow2 o.qcow2", NULL, NULL, SAME_STDERR },
  { "C-compressed-and-S", IMAGES, "-S 0 -c -C -O qcow2 ov.qcow2 o.qcow2", NULL, NULL,
    SAME_STDERR },
  { "C-S", IMAGES, "-C -S 4k -O qcow2 ov.qcow2 o.qcow2", NULL, NULL, SAME_STDERR },
  { "C-salvage", IMAGES, "-C --salvage -O qcow2 ov.qcow2 o.qcow2", NULL, NULL, SAME_STDERR },

  /* --salvage: unreadable clusters become zeros; the rest is copied. */
  { "salvage-compressed", DAMAGED, "--salvage -O qcow2 bad.qcow2 o.qcow2", "o.qcow2", NULL,
    SAME_MAP | SALVAGE },
  { "salvage-compressed-raw", DAMAGED, "--salvage -O raw bad.qcow2 o.raw", "o.raw", NULL,
    NO_CHECK | SAME_MAP | SALVAGE },
  { "salvage-compressed-c", DAMAGED, "--salvage -c -O qcow2 bad.qcow2 o.qcow2", "o.qcow2",
    NULL, SAME_MAP | SALVAGE },
  { "salvage-backing", DAMAGED, "--salvage -O qcow2 badov.qcow2 o.qcow2", "o.qcow2", NULL,
    SAME_MAP | SALVAGE },
  { "salvage-truncated", DAMAGED, "--salvage -O qcow2 tr.qcow2 o.qcow2", "o.qcow2", NULL,
    SAME_MAP },
  { "salvage-n", DAMAGED, "--salvage -n -O qcow2 bad.qcow2 sc.qcow2", "sc.qcow2", NULL,
    SAME_MAP | SALVAGE },
  { "salvage-clean-source", DAMAGED, "--salvage -O qcow2 sc.qcow2 o.qcow2", "o.qcow2",
    "s.qcow2", SAME_MAP },
  { "no-salvage", DAMAGED, "-O qcow2 bad.qcow2 o.qcow2", NULL, NULL },

  /* -o preallocation=: the target laid out as create lays it out, then the data written
   * into its clusters (what reads as zeros is not written). */
  { "prealloc-off", IMAGES, "-O qcow2 -o preallocation=off ov.qcow2 o.qcow2", "o.qcow2",
    "ov.qcow2", SAME_MAP },
  { "prealloc-metadata", IMAGES, "-O qcow2 -o preallocation=metadata ov.qcow2 o.qcow2",
    "o.qcow2", "ov.qcow2", SAME_MAP | SAME_LAYOUT },
  { "prealloc-falloc", IMAGES, "-O qcow2 -o preallocation=falloc ov.qcow2 o.qcow2",
    "o.qcow2", "ov.qcow2", SAME_MAP | SAME_LAYOUT },
  { "prealloc-full", IMAGES, "-O qcow2 -o preallocation=full ov.qcow2 o.qcow2", "o.qcow2",
    "ov.qcow2", SAME_MAP | SAME_LAYOUT },
  { "prealloc-metadata-from-raw", IMAGES, "-f raw -O qcow2 -o preallocation=metadata "
    "full.raw o.qcow2", "o.qcow2", "ov.qcow2", SAME_MAP | SAME_LAYOUT },
  { "prealloc-metadata-from-compressed", IMAGES, "-O qcow2 -o preallocation=metadata "
    "fullc.qcow2 o.qcow2", "o.qcow2", "ov.qcow2", SAME_MAP | SAME_LAYOUT },
  { "prealloc-full-from-vmdk", IMAGES, "-O qcow2 -o preallocation=full full.vmdk o.qcow2",
    "o.qcow2", "ov.qcow2", SAME_MAP | SAME_LAYOUT },
  { "prealloc-metadata-4k", IMAGES, "-O qcow2 -o preallocation=metadata,cluster_size=4k "
    "ov4k.qcow2 o.qcow2", "o.qcow2", "ov4k.qcow2", SAME_MAP | SAME_LAYOUT },
  { "prealloc-falloc-2m", IMAGES, "-O qcow2 -o preallocation=falloc,cluster_size=2M "
    "ov.qcow2 o.qcow2", "o.qcow2", "ov.qcow2", SAME_MAP | SAME_LAYOUT },
  { "prealloc-metadata-v2", IMAGES, "-O qcow2 -o compat=0.10,preallocation=metadata "
    "ov.qcow2 o.qcow2", "o.qcow2", "ov.qcow2", SAME_MAP | SAME_LAYOUT },
  { "prealloc-metadata-empty", IMAGES, "-O qcow2 -o preallocation=metadata empty.qcow2 "
    "o.qcow2", "o.qcow2", "empty.qcow2", SAME_MAP | SAME_LAYOUT },
  { "prealloc-backing-extl2", IMAGES, B "-O qcow2 -o preallocation=metadata,extended_l2=on "
    "ov.qcow2 o.qcow2", "o.qcow2", "ov.qcow2", SAME_MAP | SAME_LAYOUT },
  { "prealloc-compressed-off", IMAGES, "-c -O qcow2 -o preallocation=off ov.qcow2 o.qcow2",
    "o.qcow2", "ov.qcow2", SAME_MAP },
  { "prealloc-raw-falloc", IMAGES, "-O raw -o preallocation=falloc ov.qcow2 o.raw", "o.raw",
    "ov.qcow2", NO_CHECK | SAME_MAP | SAME_LAYOUT },
  { "prealloc-raw-full", IMAGES, "-O raw -o preallocation=full ov.qcow2 o.raw", "o.raw",
    "ov.qcow2", NO_CHECK | SAME_MAP | SAME_LAYOUT },
  { "prealloc-raw-last-wins", IMAGES, "-O raw -o preallocation=full,preallocation=off "
    "ov.qcow2 o.raw", "o.raw", "ov.qcow2", NO_CHECK | SAME_MAP | SAME_LAYOUT },

  /* -o preallocation= refused in qemu-img's words. */
  { "prealloc-compressed", IMAGES, "-c -O qcow2 -o preallocation=metadata ov.qcow2 o.qcow2",
    NULL, NULL, SAME_STDERR },
  { "prealloc-compressed-full", IMAGES, "-c -O qcow2 -o preallocation=full,cluster_size=3 "
    "ov.qcow2 o.qcow2", NULL, NULL, SAME_STDERR },
  { "prealloc-compressed-bad-mode", IMAGES, "-c -O qcow2 -o preallocation=xyz ov.qcow2 "
    "o.qcow2", NULL, NULL, SAME_STDERR },
  { "prealloc-bad-mode", IMAGES, "-O qcow2 -o preallocation=xyz ov.qcow2 o.qcow2", NULL,
    NULL, SAME_STDERR },
  { "prealloc-backing", IMAGES, B "-O qcow2 -o preallocation=metadata ov.qcow2 o.qcow2",
    NULL, NULL, SAME_STDERR },
  { "prealloc-n", IMAGES, "-n -O qcow2 -o preallocation=full ov.qcow2 t10.qcow2", NULL,
    NULL, SAME_STDERR },
  { "prealloc-raw-metadata", IMAGES, "-O raw -o preallocation=metadata ov.qcow2 o.raw",
    NULL, NULL, SAME_STDERR },
  { "prealloc-raw-bad-mode", IMAGES, "-O raw -o preallocation=xyz ov.qcow2 o.raw", NULL,
    NULL, SAME_STDERR },
  { "prealloc-raw-bad-key", IMAGES, "-O raw -o preallocation=xyz,cluster_size=4k ov.qcow2 "
    "o.raw", NULL, NULL, SAME_STDERR },
};

/* One setup folder per setup text, made once. */
static const char *
setup_dir (const char *setup)
{
  static GHashTable *dirs;
  const char *dir;

  if (dirs == NULL)
    dirs = g_hash_table_new (g_direct_hash, g_direct_equal);
  dir = g_hash_table_lookup (dirs, setup);
  if (dir == NULL)
    {
      g_autofree char *leaf = g_strdup_printf ("convert-options-setup-%u",
                                               g_hash_table_size (dirs));
      char *path = g_build_filename (tu_dir (), leaf, NULL);

      g_assert_cmpint (g_mkdir (path, 0755), ==, 0);
      g_free (tu_run_ok ("cd '%s' && %s", path, setup));
      g_hash_table_insert (dirs, (gpointer) setup, path);
      dir = path;
    }
  return dir;
}

static char *
case_dir (const char *name,
          const char *tool,
          const char *setup)
{
  g_autofree char *leaf = g_strdup_printf ("convert-options-%s-%s", name, tool);
  char *dir = g_build_filename (tu_dir (), leaf, NULL);

  g_free (tu_run_ok ("cp -a '%s' '%s'", setup_dir (setup), dir));
  return dir;
}

/*
 * `qemu-img map --output=json` without host offsets, with the runs that are then alike
 * and adjacent merged (where Strata lays the clusters out differently, qemu-img splits a
 * run that it reports whole for its own file).
 */
static char *
allocation (const char *path,
            gboolean    raw)
{
  g_autofree char *map = tu_run_ok ("qemu-img map -U %s --output=json '%s'",
                                    raw ? "-f raw" : "", path);
  g_autoptr(GRegex) re = g_regex_new ("\"start\": ([0-9]+), \"length\": ([0-9]+), (.*?)"
                                      "(, \"offset\": [0-9]+)?}", 0, 0, NULL);
  g_auto(GStrv) lines = g_strsplit (map, "\n", -1);
  GString *out = g_string_new (NULL);
  g_autofree char *rest = NULL;
  guint64 start = 0, end = 0;

  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_autoptr(GMatchInfo) m = NULL;
      g_autofree char *s = NULL, *l = NULL, *r = NULL;

      if (!g_regex_match (re, lines[i], 0, &m))
        continue;
      s = g_match_info_fetch (m, 1);
      l = g_match_info_fetch (m, 2);
      r = g_match_info_fetch (m, 3);
      if (rest != NULL && g_str_equal (rest, r) && g_ascii_strtoull (s, NULL, 10) == end)
        {
          end += g_ascii_strtoull (l, NULL, 10);
          continue;
        }
      if (rest != NULL)
        g_string_append_printf (out, "%" G_GUINT64_FORMAT "+%" G_GUINT64_FORMAT " %s\n",
                                start, end - start, rest);
      g_free (rest);
      rest = g_steal_pointer (&r);
      start = g_ascii_strtoull (s, NULL, 10);
      end = start + g_ascii_strtoull (l, NULL, 10);
    }
  if (rest != NULL)
    g_string_append_printf (out, "%" G_GUINT64_FORMAT "+%" G_GUINT64_FORMAT " %s\n", start,
                            end - start, rest);
  return g_string_free (out, FALSE);
}

/* Where the file's data lies: `qemu-img map` with host offsets, the file's length and,
 * for qcow2, check's "Image end offset". */
static char *
layout (const char *path,
        gboolean    raw)
{
  g_autofree char *map = tu_run_ok ("qemu-img map -U %s --output=json '%s'",
                                    raw ? "-f raw" : "", path);
  g_autofree char *check = raw ? g_strdup ("")
                               : tu_run_ok ("qemu-img check -U '%s' | grep 'end offset'",
                                            path);
  GStatBuf st;

  g_assert_cmpint (g_stat (path, &st), ==, 0);
  return g_strdup_printf ("%slength %" G_GINT64_FORMAT "\n%s", map, (gint64) st.st_size,
                          check);
}

/* The blocks a file takes; the file system's own extent blocks may add a few. */
static void
assert_same_blocks (const char *qemu_file,
                    const char *strata_file)
{
  GStatBuf q, s;

  g_assert_cmpint (g_stat (qemu_file, &q), ==, 0);
  g_assert_cmpint (g_stat (strata_file, &s), ==, 0);
  g_assert_cmpint (ABS ((gint64) q.st_blocks - (gint64) s.st_blocks) * 512, <=, 64 * 1024);
}

static void
test_case (gconstpointer data)
{
  const Case *c = data;
  g_autofree char *qdir = case_dir (c->name, "qemu", c->setup);
  g_autofree char *sdir = case_dir (c->name, "strata", c->setup);
  g_autofree char *before = tu_list_dir (sdir);
  g_autofree char *qargs = g_strdup_printf ("convert %s", c->args);
  g_auto(CliResult) q = { 0 };
  g_auto(CliResult) s = { 0 };

  cli_run_qemu (&q, qdir, qargs);
  cli_run_strata (&s, sdir, qargs);
  if (q.rc != s.rc)
    g_error ("%s: qemu-img exit %d (%s), strata-img exit %d (%s)", c->args, q.rc, q.err,
             s.rc, s.err);
  g_assert_cmpstr (s.out, ==, q.out);

  if (c->flags & SAME_STDERR)
    {
      g_autoptr(GString) qerr = g_string_new (q.err);

      g_string_replace (qerr, "qemu-img: ", "strata-img: ", 0);
      g_assert_cmpstr (s.err, ==, qerr->str);
    }
  if (c->flags & SALVAGE)
    {
      g_assert_nonnull (strstr (q.err, "warning: error while reading"));
      g_assert_nonnull (strstr (s.err, "warning: error while reading"));
    }

  if (s.rc != 0)
    {
      /* Refused or failed: nothing new, nothing half-written, in strata-img's folder. */
      g_autofree char *after = tu_list_dir (sdir);

      g_assert_cmpstr (after, ==, before);
      return;
    }

  if (c->output != NULL)
    {
      g_autofree char *qo = g_build_filename (qdir, c->output, NULL);
      g_autofree char *so = g_build_filename (sdir, c->output, NULL);

      tu_assert_qemu_compare (qo, so);
      if (!(c->flags & NO_CHECK))
        tu_assert_qemu_check_clean (so);
      if (c->source != NULL)
        {
          g_autofree char *src = g_build_filename (sdir, c->source, NULL);

          tu_assert_qemu_compare (src, so);
        }
      if (c->flags & SAME_MAP)
        {
          g_autofree char *qmap = allocation (qo, c->flags & NO_CHECK);
          g_autofree char *smap = allocation (so, c->flags & NO_CHECK);

          g_assert_cmpstr (smap, ==, qmap);
        }
      if (c->flags & SAME_LAYOUT)
        {
          g_autofree char *ql = layout (qo, c->flags & NO_CHECK);
          g_autofree char *sl = layout (so, c->flags & NO_CHECK);

          g_assert_cmpstr (sl, ==, ql);
          assert_same_blocks (qo, so);
        }
    }
}

/* -B with a source whose top layer holds everything: every cluster is written, and the new
 * overlay records the backing byte for byte (as given, relative to the target). */
static void
test_backing_recorded (void)
{
  g_autofree char *dir = case_dir ("recorded", "strata", IMAGES);
  g_autofree char *info = NULL;

  g_free (tu_run_ok ("cd '%s' && '%s' convert -B ../base.qcow2 -F qcow2 -O qcow2 full.qcow2 "
                     "sub/o.qcow2", dir, tu_strata_img ()));
  info = tu_run_ok ("cd '%s' && qemu-img info --output=json sub/o.qcow2", dir);
  g_assert_nonnull (strstr (info, "\"backing-filename\": \"../base.qcow2\""));
  g_assert_nonnull (strstr (info, "\"backing-filename-format\": \"qcow2\""));
}

/* -n into a protected image is refused from its mode bits (root ignores them), and the
 * image is left as it was. */
static void
test_n_protected (void)
{
  g_autofree char *dir = case_dir ("n-protected", "strata", IMAGES);
  g_autofree char *t10 = g_build_filename (dir, "t10.qcow2", NULL);
  g_autofree char *sum = tu_file_checksum (t10);
  g_autofree char *after = NULL;
  g_auto(CliResult) s = { 0 };

  g_assert_cmpint (g_chmod (t10, 0444), ==, 0);
  cli_run_strata (&s, dir, "convert -n -O qcow2 ov.qcow2 t10.qcow2");
  g_assert_cmpint (s.rc, ==, 1);
  g_assert_nonnull (strstr (s.err, "protected"));
  after = tu_file_checksum (t10);
  g_assert_cmpstr (after, ==, sum);
}

/* -B naming another file than the source's backing: strata-img says what it assumes
 * (qemu-img says nothing); naming the source's own backing, it says nothing either. */
static void
test_backing_other_file (void)
{
  g_autofree char *dir = case_dir ("other-file", "strata", IMAGES);
  g_auto(CliResult) same = { 0 };
  g_auto(CliResult) other = { 0 };

  cli_run_strata (&same, dir, "convert -B base.qcow2 -F qcow2 -O qcow2 ov.qcow2 a.qcow2");
  g_assert_cmpint (same.rc, ==, 0);
  g_assert_cmpstr (same.err, ==, "");
  cli_run_strata (&other, dir, "convert -B sub/b.qcow2 -F qcow2 -O qcow2 ov.qcow2 b.qcow2");
  g_assert_cmpint (other.rc, ==, 0);
  g_assert_nonnull (strstr (other.err, "warning: the source's backing file is base.qcow2, "
                                       "not sub/b.qcow2"));
}

/* -n without -O on a qcow2 target: qemu-img would write raw bytes over the image's own
 * tables; strata-img refuses and leaves the target as it was. */
static void
test_n_without_format (void)
{
  g_autofree char *dir = case_dir ("n-no-format", "strata", IMAGES);
  g_autofree char *t10 = g_build_filename (dir, "t10.qcow2", NULL);
  g_autofree char *sum = tu_file_checksum (t10);
  g_autofree char *after = NULL;
  g_auto(CliResult) s = { 0 };

  cli_run_strata (&s, dir, "convert -n ov.qcow2 t10.qcow2");
  g_assert_cmpint (s.rc, ==, 1);
  g_assert_nonnull (strstr (s.err, "-O qcow2"));
  after = tu_file_checksum (t10);
  g_assert_cmpstr (after, ==, sum);
}

int
main (int argc, char **argv)
{
  tu_init (&argc, &argv);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/cli/convert-options/%s", cases[i].name);

      g_test_add_data_func (path, &cases[i], test_case);
    }
  g_test_add_func ("/cli/convert-options/backing-recorded", test_backing_recorded);
  g_test_add_func ("/cli/convert-options/n-without-format", test_n_without_format);
  g_test_add_func ("/cli/convert-options/backing-other-file", test_backing_other_file);
  g_test_add_func ("/cli/convert-options/n-protected", test_n_protected);
  return g_test_run ();
}
