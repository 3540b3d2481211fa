/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * strata-img as a drop-in for qemu-img: the same command line runs through both tools on
 * copies of the same images (two folders, the same setup). What they print on stdout must
 * be the same, byte for byte, and so must the exit code; where a case says so, stderr too
 * (with "qemu-img: " read as "strata-img: "). The images both leave behind must be
 * identical for `qemu-img compare` and clean for `qemu-img check`.
 */
#include "cli-util.h"
#include "test-util.h"

#include <glib/gstdio.h>
#include <string.h>

typedef enum
{
  SAME_STDOUT = 0,
  SAME_STDERR = 1 << 0,  /* stderr must match too */
  LIVE_PROGRESS = 1 << 1, /* qemu-img's own -p output depends on timing (commit) */
  NO_CHECK = 1 << 2,     /* the images are not qcow2: compare only */
  SAME_MAP = 1 << 3,     /* `qemu-img map` of the images must match too */
  FIRST_UNCHANGED = 1 << 4, /* the first image is byte for byte what the setup made */
} CaseFlags;

typedef struct
{
  const char *name;
  const char *setup;   /* shell, run in both folders */
  const char *args;    /* after the program name */
  const char *images;  /* space-separated: compared between the folders and checked */
  CaseFlags   flags;
} Case;

/* A small chain: base (data at 0 and 100M), mid (data at 50M and a sliver at 201M), top
 * (larger than its base, data at 2M, 120M and across the end of the base). */
#define CHAIN \
  "qemu-img create -q -f qcow2 base.qcow2 300M && " \
  "qemu-io -c 'write -P 1 0 10M' -c 'write -P 3 100M 20M' base.qcow2 >/dev/null && " \
  "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 mid.qcow2 && " \
  "qemu-io -c 'write -P 2 50M 7M' -c 'write -P 4 201M 33k' mid.qcow2 >/dev/null && " \
  "qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 top.qcow2 350M && " \
  "qemu-io -c 'write -P 6 2M 5M' -c 'write -P 7 120M 1M' -c 'write -P 8 299M 3M' " \
  "top.qcow2 >/dev/null && " \
  "qemu-img create -q -f qcow2 nb.qcow2 200M && qemu-img create -q -f qcow2 nb2.qcow2 333M"

/* Sources of every shape qemu-img walks differently: small and large clusters, extended
 * L2, compressed clusters, zero clusters, a sparse raw file, sparse and streamOptimized
 * VMDK, a size that is not a multiple of the cluster size. */
#define SOURCES \
  "qemu-img create -q -f qcow2 a.qcow2 300M && " \
  "qemu-io -c 'write -P 1 0 1M' -c 'write -P 2 5M 64k' -c 'write -P 3 100M 37M' " \
  "-c 'write -z 150M 10M' -c 'write -P 4 200M 3M' -c 'write -P 5 1M 4k' a.qcow2 >/dev/null && " \
  "qemu-img create -q -f qcow2 -o cluster_size=512 c512.qcow2 3M && " \
  "qemu-io -c 'write -P 1 0 1M' -c 'write -P 2 1500k 300k' c512.qcow2 >/dev/null && " \
  "qemu-img create -q -f qcow2 -o cluster_size=2M c2m.qcow2 30M && " \
  "qemu-io -c 'write -P 1 0 1M' -c 'write -P 3 11M 7M' c2m.qcow2 >/dev/null && " \
  "qemu-img create -q -f qcow2 -o extended_l2=on ext.qcow2 50M && " \
  "qemu-io -c 'write -P 1 0 3k' -c 'write -P 2 1M 20k' -c 'write -P 3 3M 3M' ext.qcow2 " \
  ">/dev/null && " \
  "truncate -s 50M sp.raw && " \
  "dd if=/dev/urandom of=sp.raw bs=1M seek=3 count=5 conv=notrunc 2>/dev/null && " \
  "dd if=/dev/urandom of=sp.raw bs=1k seek=20000 count=77 conv=notrunc 2>/dev/null && " \
  "qemu-img create -q -f qcow2 odd.qcow2 12345678 && " \
  "qemu-io -c 'write -P 1 0 12345600' odd.qcow2 >/dev/null && " \
  "qemu-img convert -c -O qcow2 a.qcow2 comp.qcow2 && " \
  "qemu-img convert -O vmdk sp.raw sp.vmdk && " \
  "qemu-img convert -O vmdk -o subformat=streamOptimized c2m.qcow2 so.vmdk"

/* Broken images: a missing backing file (directly and one level down), a loop, unknown
 * incompatible qcow2 features (one named in the feature table, one not), a raw file, an
 * image whose backing file lacks a format. */
/* Persistent bitmaps: none, one, three (512 B, 64 KiB, 2 MiB, one disabled). */
#define BITMAPS \
  "qemu-img create -q -f qcow2 b0.qcow2 100M && " \
  "qemu-img create -q -f qcow2 -o cluster_size=4k b1.qcow2 1G && " \
  "qemu-img bitmap --add b1.qcow2 only && " \
  "qemu-io -c 'write -P 1 0 1M' b1.qcow2 >/dev/null && " \
  "qemu-img create -q -f qcow2 -o cluster_size=2M b3.qcow2 3000M && " \
  "qemu-img bitmap --add -g 512 b3.qcow2 fine && " \
  "qemu-img bitmap --add -g 64k b3.qcow2 a-longer-bitmap-name && " \
  "qemu-img bitmap --add -g 2M --disable b3.qcow2 off"

#define BROKEN \
  "qemu-img create -q -f qcow2 -u -b gone.qcow2 -F qcow2 miss.qcow2 1M && " \
  "mkdir sub && qemu-img create -q -f qcow2 -u -b gone.qcow2 -F qcow2 sub/m2.qcow2 1M && " \
  "qemu-img create -q -f qcow2 -u -b m2.qcow2 -F qcow2 sub/t2.qcow2 1M && " \
  "qemu-img create -q -f qcow2 l1.qcow2 1M && " \
  "qemu-img create -q -f qcow2 -b l1.qcow2 -F qcow2 l2.qcow2 && " \
  "qemu-img rebase -u -b l2.qcow2 -F qcow2 l1.qcow2 && " \
  "qemu-img create -q -f raw r.raw 1M && " \
  "qemu-img create -q -f qcow2 b.qcow2 1M && " \
  "qemu-img create -q -f qcow2 f.qcow2 1M && " \
  "printf '\\000\\012fancy feature' | dd of=f.qcow2 bs=1 seek=120 conv=notrunc " \
  "2>/dev/null && printf '\\024' | dd of=f.qcow2 bs=1 seek=78 conv=notrunc 2>/dev/null && " \
  "qemu-img create -q -f qcow2 -u -b ../f.qcow2 -F qcow2 sub/t3.qcow2 1M"

/* Images to resize: raw full of random data, qcow2 full, an overlay smaller than its
 * base, a qcow2 v2 image with 4k clusters. */
#define RESIZE \
  "qemu-img create -q -f raw r.raw 10M && " \
  "dd if=/dev/urandom of=r.raw bs=1M count=10 conv=notrunc 2>/dev/null && " \
  "qemu-img create -q -f qcow2 a.qcow2 10M && " \
  "qemu-io -c 'write -P 1 0 10M' a.qcow2 >/dev/null && " \
  "qemu-img create -q -f qcow2 big.qcow2 20M && " \
  "qemu-io -c 'write -P 3 0 20M' big.qcow2 >/dev/null && " \
  "qemu-img create -q -f qcow2 -b big.qcow2 -F qcow2 ov.qcow2 5M && " \
  "qemu-io -c 'write -P 4 1M 100k' ov.qcow2 >/dev/null && " \
  "qemu-img create -q -f qcow2 -o compat=0.10,cluster_size=4k v2.qcow2 3M && " \
  "qemu-io -c 'write -P 5 0 3M' v2.qcow2 >/dev/null"

/* Four layers of different sizes and cluster sizes: b0 (4k clusters, 64M), b1 (512-byte
 * clusters, 32M, compressed clusters and zero clusters), b2 (2M clusters, 80M), top (64k,
 * 96M, zero clusters over data below, data across the end of b1). b2 and top live in their
 * own folders, with relative backing names. A raw chain: r.raw under two overlays. */
#define CHAIN4 \
  "qemu-img create -q -f qcow2 -o cluster_size=4k b0.qcow2 64M && " \
  "qemu-io -c 'write -P 1 0 8M' -c 'write -P 2 30M 4M' -c 'write -P 3 60M 4M' b0.qcow2 " \
  ">/dev/null && " \
  "qemu-img create -q -f qcow2 -o cluster_size=512 -b b0.qcow2 -F qcow2 b1.qcow2 32M && " \
  "qemu-io -c 'write -c -P 4 1M 1M' -c 'write -z 4M 1M' -c 'write -P 5 31M 1M' b1.qcow2 " \
  ">/dev/null && mkdir s t && " \
  "qemu-img create -q -f qcow2 -o cluster_size=2M -b ../b1.qcow2 -F qcow2 s/b2.qcow2 80M && " \
  "qemu-io -c 'write -P 6 2M 2M' -c 'write -z 30M 4M' -c 'write -P 7 70M 3M' s/b2.qcow2 " \
  ">/dev/null && " \
  "qemu-img create -q -f qcow2 -b ../s/b2.qcow2 -F qcow2 t/top.qcow2 96M && " \
  "qemu-io -c 'write -P 8 3M 64k' -c 'write -z 0 512k' -c 'write -c -P 9 40M 1M' " \
  "-c 'write -P 10 90M 2M' t/top.qcow2 >/dev/null && " \
  "truncate -s 20M r.raw && dd if=/dev/urandom of=r.raw bs=1M count=6 conv=notrunc " \
  "2>/dev/null && " \
  "qemu-img create -q -f qcow2 -b r.raw -F raw r1.qcow2 24M && " \
  "qemu-io -c 'write -P 11 1M 1M' -c 'write -z 3M 1M' r1.qcow2 >/dev/null && " \
  "qemu-img create -q -f qcow2 -b r1.qcow2 -F qcow2 r2.qcow2 && " \
  "qemu-io -c 'write -P 12 1536k 1M' -c 'write -P 13 22M 1M' r2.qcow2 >/dev/null"
#define CHAIN4_IMAGES "t/top.qcow2 s/b2.qcow2 b1.qcow2 b0.qcow2"

static const Case cases[] = {
  /* Errors in qemu-img's words and order. */
  { "error-missing-backing", BROKEN, "convert -O raw miss.qcow2 o.raw", NULL, SAME_STDERR },
  { "error-missing-backing-deep", BROKEN, "convert -O raw sub/t2.qcow2 o.raw", NULL,
    SAME_STDERR },
  { "error-missing-backing-chain", BROKEN, "info --backing-chain sub/t2.qcow2", NULL,
    SAME_STDERR },
  { "error-missing-backing-map", BROKEN, "map miss.qcow2", NULL, SAME_STDERR },
  { "error-missing-backing-check", BROKEN, "check miss.qcow2", NULL, SAME_STDERR },
  { "error-missing-backing-commit", BROKEN, "commit miss.qcow2", NULL, SAME_STDERR },
  { "error-missing-backing-compare", BROKEN, "compare miss.qcow2 r.raw", NULL, SAME_STDERR },
  { "error-missing-backing-rebase", BROKEN, "rebase -b b.qcow2 -F qcow2 miss.qcow2", NULL,
    SAME_STDERR },
  { "error-missing-new-backing", BROKEN, "rebase -b nothere.qcow2 -F qcow2 b.qcow2", NULL,
    SAME_STDERR },
  { "error-missing-before-format", BROKEN, "rebase -b nothere.qcow2 b.qcow2", NULL,
    SAME_STDERR },
  { "error-create-missing-before-format", BROKEN,
    "create -f qcow2 -b nothere.qcow2 top.qcow2 1M", NULL, SAME_STDERR },
  { "error-create-no-format", BROKEN, "create -f qcow2 -b b.qcow2 top.qcow2", NULL,
    SAME_STDERR },
  { "error-loop", BROKEN, "info --backing-chain l1.qcow2", NULL, SAME_STDERR },
  { "error-no-checks", BROKEN, "check r.raw", NULL, SAME_STDERR },
  { "error-features-info", BROKEN, "info f.qcow2", NULL, SAME_STDERR },
  { "error-features-check", BROKEN, "check f.qcow2", NULL, SAME_STDERR },
  { "error-features-backing", BROKEN, "convert -O raw sub/t3.qcow2 o.raw", NULL,
    SAME_STDERR },
  { "error-cluster-size", NULL, "create -f qcow2 -o cluster_size=1000 a.qcow2 1M", NULL,
    SAME_STDERR },
  { "error-cluster-size-text", NULL, "create -f qcow2 -o cluster_size=abc a.qcow2 1M", NULL,
    SAME_STDERR },
  { "error-refcount-bits", NULL, "create -f qcow2 -o refcount_bits=3 a.qcow2 1M", NULL,
    SAME_STDERR },
  { "error-refcount-bits-text", NULL, "create -f qcow2 -o refcount_bits=x a.qcow2 1M", NULL,
    SAME_STDERR },
  { "error-compat", NULL, "create -f qcow2 -o compat=9 a.qcow2 1M", NULL, SAME_STDERR },
  { "error-lazy", NULL, "create -f qcow2 -o lazy_refcounts=maybe a.qcow2 1M", NULL,
    SAME_STDERR },
  { "error-lazy-v2", NULL, "create -f qcow2 -o compat=0.10,lazy_refcounts=on a.qcow2 1M",
    NULL, SAME_STDERR },
  { "error-refcount-v2", NULL, "create -f qcow2 -o compat=0.10,refcount_bits=8 a.qcow2 1M",
    NULL, SAME_STDERR },
  { "error-zstd-v2", NULL, "create -f qcow2 -o compat=0.10,compression_type=zstd a.qcow2 1M",
    NULL, SAME_STDERR },
  { "error-extended-l2", NULL, "create -f qcow2 -o extended_l2=on,cluster_size=4k a.qcow2 1M",
    NULL, SAME_STDERR },
  { "error-compression", NULL, "create -f qcow2 -o compression_type=lz4 a.qcow2 1M", NULL,
    SAME_STDERR },
  { "error-prealloc", NULL, "create -f qcow2 -o preallocation=bogus a.qcow2 1M", NULL,
    SAME_STDERR },
  { "error-backing-fmt-alone", NULL, "create -f qcow2 -o backing_fmt=qcow2 a.qcow2 1M", NULL,
    SAME_STDERR },
  { "error-size-option", NULL, "create -f qcow2 -o size=abc a.qcow2 1M", NULL, SAME_STDERR },
  { "error-size", NULL, "create -f raw a.raw 1.5", NULL, SAME_STDERR },
  { "error-size-range", NULL, "create -f raw a.raw 8E", NULL, SAME_STDERR },
  { "error-raw-prealloc", NULL, "create -f raw -o preallocation=bogus a.raw 1M", NULL,
    SAME_STDERR },

  { "error-convert-cluster", SOURCES, "convert -O qcow2 -o cluster_size=1000 a.qcow2 o.qcow2",
    NULL, SAME_STDERR },
  { "error-convert-compat", SOURCES, "convert -O qcow2 -o compat=9 a.qcow2 o.qcow2", NULL,
    SAME_STDERR },
  { "error-convert-switch", SOURCES, "convert -O qcow2 -o lazy_refcounts=maybe a.qcow2 "
    "o.qcow2", NULL, SAME_STDERR },
  { "error-convert-option", SOURCES, "convert -O qcow2 -o foo=1 a.qcow2 o.qcow2", NULL,
    SAME_STDERR },
  { "error-convert-v2", SOURCES, "convert -O qcow2 -o compat=0.10,refcount_bits=8 a.qcow2 "
    "o.qcow2", NULL, SAME_STDERR },

  /* info: qemu-img's keys and nothing else (Strata's own only with --strata-keys). */
  { "info-json-qcow2", SOURCES, "info --output=json a.qcow2", NULL, SAME_STDERR },
  { "info-json-extended-l2", SOURCES, "info --output=json ext.qcow2", NULL, SAME_STDERR },
  { "info-json-raw", SOURCES, "info --output=json sp.raw", NULL },
  { "info-json-vmdk", SOURCES, "info --output=json sp.vmdk", NULL, SAME_STDERR },
  { "info-json-chain", CHAIN, "info --output=json --backing-chain top.qcow2", NULL,
    SAME_STDERR },
  { "info-human-chain", CHAIN, "info --backing-chain top.qcow2", NULL, SAME_STDERR },
  { "info-human-compressed", SOURCES, "info comp.qcow2", NULL, SAME_STDERR },

  /* measure: qemu-img's numbers, human and JSON, from sizes and from every source shape. */
  { "measure-size-raw", NULL, "measure --size 1000", NULL, SAME_STDERR },
  { "measure-size-qcow2", NULL, "measure -O qcow2 --size 1G", NULL, SAME_STDERR },
  { "measure-size-qcow2-json", NULL, "measure -O qcow2 --size 1.5T --output=json", NULL,
    SAME_STDERR },
  { "measure-size-options", NULL, "measure -O qcow2 -o cluster_size=512,refcount_bits=1 "
    "--size 3G", NULL, SAME_STDERR },
  { "measure-size-extended-l2", NULL, "measure -O qcow2 -o cluster_size=2M,extended_l2=on,"
    "refcount_bits=64 --size 100T --output=json", NULL, SAME_STDERR },
  { "measure-size-falloc", NULL, "measure -O qcow2 -o preallocation=falloc --size 5G", NULL,
    SAME_STDERR },
  { "measure-size-metadata", NULL, "measure -O qcow2 -o preallocation=metadata --size 5G",
    NULL, SAME_STDERR },
  { "measure-qcow2", SOURCES, "measure -O qcow2 a.qcow2", NULL, SAME_STDERR },
  { "measure-qcow2-json", SOURCES, "measure -O qcow2 --output=json a.qcow2", NULL,
    SAME_STDERR },
  { "measure-raw", SOURCES, "measure -O raw a.qcow2", NULL, SAME_STDERR },
  { "measure-default", SOURCES, "measure --output=json sp.raw", NULL, SAME_STDERR },
  { "measure-4k", SOURCES, "measure -O qcow2 -o cluster_size=4k c512.qcow2", NULL,
    SAME_STDERR },
  { "measure-2m", SOURCES, "measure -O qcow2 -o cluster_size=2M odd.qcow2", NULL,
    SAME_STDERR },
  { "measure-compressed", SOURCES, "measure -O qcow2 comp.qcow2", NULL, SAME_STDERR },
  { "measure-extended-l2", SOURCES, "measure -O qcow2 -o extended_l2=on ext.qcow2", NULL,
    SAME_STDERR },
  { "measure-sparse-raw", SOURCES, "measure -O qcow2 sp.raw", NULL, SAME_STDERR },
  { "measure-vmdk", SOURCES, "measure -O qcow2 sp.vmdk", NULL, SAME_STDERR },
  { "measure-stream-vmdk", SOURCES, "measure -O qcow2 so.vmdk", NULL, SAME_STDERR },
  { "measure-chain", CHAIN, "measure -O qcow2 top.qcow2", NULL, SAME_STDERR },
  { "measure-v2-target", CHAIN, "measure -O qcow2 -o compat=0.10 --output=json top.qcow2",
    NULL, SAME_STDERR },
  { "measure-full", CHAIN, "measure -O qcow2 -o preallocation=full top.qcow2", NULL,
    SAME_STDERR },
  { "measure-bitmaps-none", BITMAPS, "measure -O qcow2 b0.qcow2", NULL, SAME_STDERR },
  { "measure-bitmaps-one", BITMAPS, "measure -O qcow2 b1.qcow2", NULL, SAME_STDERR },
  { "measure-bitmaps-one-512", BITMAPS, "measure -O qcow2 -o cluster_size=512 b1.qcow2", NULL,
    SAME_STDERR },
  { "measure-bitmaps-three", BITMAPS, "measure -O qcow2 b3.qcow2", NULL, SAME_STDERR },
  { "measure-bitmaps-three-json", BITMAPS,
    "measure -O qcow2 -o cluster_size=4k --output=json b3.qcow2", NULL, SAME_STDERR },
  { "measure-bitmaps-2m", BITMAPS, "measure -O qcow2 -o cluster_size=2M b1.qcow2", NULL,
    SAME_STDERR },
  { "measure-bitmaps-raw", BITMAPS, "measure -O raw --output=json b3.qcow2", NULL,
    SAME_STDERR },
  { "measure-bitmaps-v2-target", BITMAPS, "measure -O qcow2 -o compat=0.10 b3.qcow2", NULL,
    SAME_STDERR },
  { "measure-error-both", CHAIN, "measure --size 1G top.qcow2", NULL, SAME_STDERR },
  { "measure-error-none", NULL, "measure", NULL, SAME_STDERR },
  { "measure-error-format", CHAIN, "measure -O vmdk top.qcow2", NULL, SAME_STDERR },
  { "measure-error-cluster", NULL, "measure -O qcow2 -o cluster_size=1000 --size 1G", NULL,
    SAME_STDERR },
  { "measure-error-l1", NULL, "measure -O qcow2 -o cluster_size=512 --size 1.5T", NULL,
    SAME_STDERR },
  { "measure-error-compat", NULL, "measure -O qcow2 -o compat=9 --size 1G", NULL,
    SAME_STDERR },
  { "measure-error-option", NULL, "measure -O qcow2 -o foo=1 --size 1G", NULL, SAME_STDERR },
  { "measure-error-missing", BROKEN, "measure -O qcow2 miss.qcow2", NULL, SAME_STDERR },

  /* resize: raw and qcow2, growing and shrinking, over a larger backing file. */
  { "resize-raw-grow", RESIZE, "resize -f raw r.raw 20M", "r.raw", SAME_STDERR | NO_CHECK },
  { "resize-raw-plus", RESIZE, "resize -f raw r.raw +1000", "r.raw", SAME_STDERR | NO_CHECK },
  { "resize-raw-no-shrink", RESIZE, "resize -f raw r.raw -2M", "r.raw",
    SAME_STDERR | NO_CHECK },
  { "resize-raw-shrink", RESIZE, "resize -f raw --shrink r.raw -2M", "r.raw",
    SAME_STDERR | NO_CHECK },
  { "resize-raw-shrink-odd", RESIZE, "resize -f raw --shrink r.raw 3333", "r.raw",
    SAME_STDERR | NO_CHECK },
  { "resize-raw-full", RESIZE, "resize -f raw --preallocation=full r.raw +3M", "r.raw",
    SAME_STDERR | NO_CHECK | SAME_MAP },
  { "resize-raw-falloc", RESIZE, "resize -f raw --preallocation=falloc r.raw +3M", "r.raw",
    SAME_STDERR | NO_CHECK | SAME_MAP },
  { "resize-raw-metadata", RESIZE, "resize -f raw --preallocation=metadata r.raw +3M",
    "r.raw", SAME_STDERR | NO_CHECK },
  { "resize-bad-prealloc", RESIZE, "resize -f raw --preallocation=bogus r.raw +3M", "r.raw",
    SAME_STDERR | NO_CHECK },
  { "resize-qcow2-grow", RESIZE, "resize a.qcow2 +1G", "a.qcow2", SAME_STDERR },
  { "resize-qcow2-grow-l1", RESIZE, "resize a.qcow2 100T", "a.qcow2", SAME_STDERR },
  { "resize-qcow2-not-512", RESIZE, "resize a.qcow2 +1000", "a.qcow2", SAME_STDERR },
  { "resize-qcow2-no-shrink", RESIZE, "resize a.qcow2 5M", "a.qcow2", SAME_STDERR },
  { "resize-qcow2-shrink", RESIZE, "resize --shrink a.qcow2 5M", "a.qcow2", SAME_STDERR },
  { "resize-qcow2-shrink-minus", RESIZE, "resize --shrink a.qcow2 -3000k", "a.qcow2",
    SAME_STDERR },
  { "resize-qcow2-shrink-tiny", RESIZE, "resize --shrink a.qcow2 1536", "a.qcow2",
    SAME_STDERR },
  { "resize-qcow2-zero", RESIZE, "resize a.qcow2 0", "a.qcow2", SAME_STDERR },
  { "resize-qcow2-bad-size", RESIZE, "resize a.qcow2 abc", "a.qcow2", SAME_STDERR },
  { "resize-quiet", RESIZE, "resize -q a.qcow2 +1M", "a.qcow2", SAME_STDERR },
  { "resize-overlay-grow", RESIZE, "resize ov.qcow2 +10M", "ov.qcow2", SAME_STDERR },
  { "resize-overlay-shrink", RESIZE, "resize --shrink ov.qcow2 1M", "ov.qcow2",
    SAME_STDERR },
  { "resize-v2-grow", RESIZE, "resize v2.qcow2 +5G", "v2.qcow2", SAME_STDERR },
  { "resize-v2-shrink", RESIZE, "resize --shrink v2.qcow2 1M", "v2.qcow2", SAME_STDERR },
  { "resize-shrink-grow", RESIZE, "resize --shrink a.qcow2 1M && "
    "PROGRAM resize a.qcow2 10M", "a.qcow2", SAME_STDERR },
  { "resize-missing", NULL, "resize nothere.qcow2 1M", NULL, SAME_STDERR },

  /* create: sizes in every form qemu-img takes, raw preallocation, encryption=off. */
  { "create-size-fraction", NULL, "create -f qcow2 a.qcow2 1024.0", "a.qcow2" },
  { "create-size-hex", NULL, "create -f qcow2 a.qcow2 0x10000", "a.qcow2" },
  { "create-size-hex-suffix", NULL, "create -f raw a.raw 0x10k", "a.raw",
    SAME_STDERR | NO_CHECK },
  { "create-size-k-fraction", NULL, "create -f qcow2 a.qcow2 1.5k", "a.qcow2" },
  { "create-size-e", NULL, "create -f qcow2 a.qcow2 1.5T", "a.qcow2" },
  { "create-size-blank-plus", NULL, "create -f raw a.raw ' +1M'", "a.raw", NO_CHECK },
  { "create-cluster-hex", NULL, "create -f qcow2 -o cluster_size=0x10000 a.qcow2 1M",
    "a.qcow2" },
  { "create-cluster-fraction", NULL, "create -f qcow2 -o cluster_size=0.5k a.qcow2 1M",
    "a.qcow2" },
  { "create-encryption-off", NULL, "create -f qcow2 -o encryption=off a.qcow2 1M",
    "a.qcow2" },
  { "create-raw", NULL, "create -f raw a.raw 3M", "a.raw", NO_CHECK },
  { "create-raw-prealloc-off", NULL, "create -f raw -o preallocation=off a.raw 3M", "a.raw",
    NO_CHECK | SAME_MAP },
  { "create-raw-prealloc-falloc", NULL, "create -f raw -o preallocation=falloc a.raw 3M",
    "a.raw", NO_CHECK | SAME_MAP },
  { "create-raw-prealloc-full", NULL, "create -f raw -o preallocation=full a.raw 3M",
    "a.raw", NO_CHECK | SAME_MAP },
  { "create-raw-encryption-off", NULL, "create -f raw -o encryption=off a.raw 1M", NULL,
    SAME_STDERR },

  /* convert -p: qemu-img's lines at each step, nothing else. */
  { "convert-p-qcow2", SOURCES, "convert -p -O qcow2 a.qcow2 out.qcow2", "out.qcow2" },
  { "convert-p-raw", SOURCES, "convert -p -O raw a.qcow2 out.raw", "out.raw", NO_CHECK },
  { "convert-p-compressed", SOURCES, "convert -p -c -O qcow2 a.qcow2 out.qcow2",
    "out.qcow2" },
  { "convert-p-compressed-4k", SOURCES,
    "convert -p -c -O qcow2 -o cluster_size=4k ext.qcow2 out.qcow2", "out.qcow2" },
  { "convert-p-c512", SOURCES, "convert -p -O qcow2 c512.qcow2 out.qcow2", "out.qcow2" },
  { "convert-p-c2m", SOURCES, "convert -p -O qcow2 c2m.qcow2 out.qcow2", "out.qcow2" },
  { "convert-p-extended-l2", SOURCES, "convert -p -O qcow2 ext.qcow2 out.qcow2",
    "out.qcow2" },
  { "convert-p-sparse-raw", SOURCES, "convert -p -f raw -O qcow2 sp.raw out.qcow2",
    "out.qcow2" },
  { "convert-p-odd-size", SOURCES, "convert -p -O qcow2 odd.qcow2 out.qcow2", "out.qcow2" },
  { "convert-p-from-compressed", SOURCES, "convert -p -O qcow2 comp.qcow2 out.qcow2",
    "out.qcow2" },
  { "convert-p-from-vmdk", SOURCES, "convert -p -O qcow2 sp.vmdk out.qcow2", "out.qcow2" },
  { "convert-p-from-stream-vmdk", SOURCES, "convert -p -O qcow2 so.vmdk out.qcow2",
    "out.qcow2" },
  { "convert-p-chain", CHAIN, "convert -p -O qcow2 top.qcow2 out.qcow2", "out.qcow2" },
  { "convert-quiet", SOURCES, "convert -O qcow2 a.qcow2 out.qcow2", "out.qcow2" },

  /* rebase -p: qemu-img's 2% steps over what it compares. */
  { "rebase-p", CHAIN, "rebase -p -b nb.qcow2 -F qcow2 top.qcow2", "top.qcow2" },
  { "rebase-p-larger-new", CHAIN, "rebase -p -b nb2.qcow2 -F qcow2 top.qcow2",
    "top.qcow2" },
  { "rebase-p-in-chain", CHAIN, "rebase -p -b base.qcow2 -F qcow2 top.qcow2", "top.qcow2" },
  { "rebase-p-no-backing", CHAIN, "rebase -p -b '' top.qcow2", "top.qcow2" },
  { "rebase-p-unsafe", CHAIN, "rebase -p -u -b nb.qcow2 -F qcow2 top.qcow2", "top.qcow2" },

  /* commit: exactly "Image committed."; -p ends with qemu-img's lines. */
  { "commit", CHAIN, "commit top.qcow2", "top.qcow2 mid.qcow2" },
  { "commit-p", CHAIN, "commit -p top.qcow2", "top.qcow2 mid.qcow2", LIVE_PROGRESS },
  { "commit-q", CHAIN, "commit -q mid.qcow2", "mid.qcow2 base.qcow2" },

  /* A base that grows over a longer backing file of its own reads zeros there. */
  { "commit-grow-over-longer-backing", CHAIN4, "commit s/b2.qcow2",
    "s/b2.qcow2 b1.qcow2 b0.qcow2" },

  /* commit -b: everything above BASE goes into BASE, no layer above it changes. */
  { "commit-b-3", CHAIN, "commit -b base.qcow2 top.qcow2", "top.qcow2 mid.qcow2 base.qcow2",
    SAME_STDERR | FIRST_UNCHANGED },
  { "commit-b-immediate", CHAIN, "commit -b mid.qcow2 top.qcow2",
    "top.qcow2 mid.qcow2 base.qcow2", SAME_STDERR | FIRST_UNCHANGED },
  { "commit-b-d", CHAIN, "commit -d -b base.qcow2 top.qcow2",
    "top.qcow2 mid.qcow2 base.qcow2", SAME_STDERR | FIRST_UNCHANGED },
  { "commit-b-q", CHAIN, "commit -q -b base.qcow2 top.qcow2",
    "top.qcow2 mid.qcow2 base.qcow2", SAME_STDERR | FIRST_UNCHANGED },
  { "commit-b-p", CHAIN, "commit -p -b base.qcow2 top.qcow2",
    "top.qcow2 mid.qcow2 base.qcow2", LIVE_PROGRESS | FIRST_UNCHANGED },
  { "commit-b-absolute", CHAIN, "commit -b \"$PWD/base.qcow2\" top.qcow2",
    "top.qcow2 mid.qcow2 base.qcow2", SAME_STDERR | FIRST_UNCHANGED },
  { "commit-b-dot", CHAIN, "commit -b ./base.qcow2 top.qcow2",
    "top.qcow2 mid.qcow2 base.qcow2", SAME_STDERR | FIRST_UNCHANGED },
  { "commit-b-4", CHAIN4, "commit -b b0.qcow2 t/top.qcow2", CHAIN4_IMAGES,
    SAME_STDERR | FIRST_UNCHANGED },
  { "commit-b-4-mid", CHAIN4, "commit -b ../b1.qcow2 t/top.qcow2", CHAIN4_IMAGES,
    SAME_STDERR | FIRST_UNCHANGED },
  /* A relative BASE is looked up against each layer's folder: b0.qcow2 is found from
   * b1's folder, ../b1.qcow2 from top's; b1.qcow2 matches no layer. */
  { "commit-b-4-from-mid", CHAIN4, "commit -b b0.qcow2 s/b2.qcow2",
    "s/b2.qcow2 b1.qcow2 b0.qcow2", SAME_STDERR | FIRST_UNCHANGED },
  { "commit-b-4-absolute", CHAIN4, "commit -b \"$PWD/b1.qcow2\" t/top.qcow2", CHAIN4_IMAGES,
    SAME_STDERR | FIRST_UNCHANGED },
  { "commit-b-raw-base", CHAIN4, "commit -b r.raw r2.qcow2", "r2.qcow2 r1.qcow2 r.raw",
    SAME_STDERR | FIRST_UNCHANGED },
  { "error-commit-b-not-in-chain", CHAIN4, "commit -b b1.qcow2 t/top.qcow2", NULL,
    SAME_STDERR },
  { "error-commit-b-cwd-relative", CHAIN4, "commit -b s/b2.qcow2 t/top.qcow2", NULL,
    SAME_STDERR },
  { "error-commit-b-itself", CHAIN4, "commit -b top.qcow2 t/top.qcow2", NULL, SAME_STDERR },
  { "error-commit-b-missing", CHAIN, "commit -b nothere.qcow2 top.qcow2", NULL,
    SAME_STDERR },
  { "error-commit-b-no-backing", CHAIN, "commit -b base.qcow2 nb.qcow2", NULL, SAME_STDERR },
};

static char *
case_dir (const char *name,
          const char *tool)
{
  g_autofree char *leaf = g_strdup_printf ("compat-%s-%s", name, tool);
  char *dir = g_build_filename (tu_dir (), leaf, NULL);

  g_assert_cmpint (g_mkdir (dir, 0755), ==, 0);
  return dir;
}

/* qemu-img's commit -p prints 0% until its block job starts and then whatever it finds at
 * each poll, 100% as often as it polls after the end: keep the first and the last line. */
static char *
normalize_live_progress (const char *out)
{
  g_auto(GStrv) parts = g_strsplit (out, "\r", -1);
  guint n = g_strv_length (parts);
  GString *s = g_string_new (NULL);

  if (n < 2)
    return g_strdup (out);
  g_string_append_printf (s, "%s\r%s\r%s", parts[0], parts[n - 2], parts[n - 1]);
  return g_string_free (s, FALSE);
}

static void
assert_same_images (const char *qdir,
                    const char *sdir,
                    const Case *c)
{
  g_auto(GStrv) images = g_strsplit (c->images, " ", -1);

  for (guint i = 0; images[i] != NULL; i++)
    {
      g_autofree char *q = g_build_filename (qdir, images[i], NULL);
      g_autofree char *s = g_build_filename (sdir, images[i], NULL);

      tu_assert_qemu_compare (q, s);
      if (i == 0 && (c->flags & FIRST_UNCHANGED))
        g_free (tu_run_ok ("cmp '%s' '%s'", q, s));
      if (!(c->flags & NO_CHECK) && !g_str_has_suffix (images[i], ".raw"))
        tu_assert_qemu_check_clean (s);
      if (c->flags & SAME_MAP)
        {
          g_autofree char *qmap = tu_run_ok ("qemu-img map --output=json '%s'", q);
          g_autofree char *smap = tu_run_ok ("qemu-img map --output=json '%s'", s);

          g_assert_cmpstr (smap, ==, qmap);
        }
    }
}

static void
test_case (gconstpointer data)
{
  const Case *c = data;
  g_autofree char *qdir = case_dir (c->name, "qemu");
  g_autofree char *sdir = case_dir (c->name, "strata");
  g_auto(CliResult) q = { 0 };
  g_auto(CliResult) s = { 0 };

  /* One setup, copied: the images hold random data. */
  if (c->setup != NULL)
    {
      g_autofree char *setup = case_dir (c->name, "setup");

      g_free (tu_run_ok ("cd '%s' && %s && cp -a . '%s' && cp -a . '%s'", setup, c->setup,
                         qdir, sdir));
    }

  /* "PROGRAM" in a command line stands for the tool itself (a second command). */
  {
    g_autoptr(GString) qargs = g_string_new (c->args);
    g_autoptr(GString) sargs = g_string_new (c->args);
    g_autofree char *quoted = g_shell_quote (tu_strata_img ());

    g_string_replace (qargs, "PROGRAM", "qemu-img", 0);
    g_string_replace (sargs, "PROGRAM", quoted, 0);
    cli_run_qemu (&q, qdir, qargs->str);
    cli_run_strata (&s, sdir, sargs->str);
  }
  if (q.rc != s.rc)
    g_error ("%s: qemu-img exit %d (%s), strata-img exit %d (%s)", c->args, q.rc, q.err,
             s.rc, s.err);

  if (c->flags & LIVE_PROGRESS)
    {
      g_autofree char *qn = normalize_live_progress (q.out);
      g_autofree char *sn = normalize_live_progress (s.out);

      g_assert_cmpstr (sn, ==, qn);
      /* Every line strata-img printed is a progress line, increasing. */
      g_assert_true (g_str_has_prefix (s.out, "    (0.00/100%)\r"));
    }
  else
    {
      g_autoptr(GString) out = g_string_new (s.out);

      g_string_replace (out, sdir, qdir, 0);
      g_assert_cmpstr (out->str, ==, q.out);
    }

  if (c->flags & SAME_STDERR)
    {
      g_autoptr(GString) qerr = g_string_new (q.err);
      g_autoptr(GString) serr = g_string_new (s.err);

      g_string_replace (qerr, "qemu-img: ", "strata-img: ", 0);
      g_string_replace (qerr, qdir, "DIR", 0);
      g_string_replace (serr, sdir, "DIR", 0);
      g_assert_cmpstr (serr->str, ==, qerr->str);
    }

  if (c->images != NULL && q.rc == 0)
    assert_same_images (qdir, sdir, c);
}

#define EXT_BACKING_FORMAT 0xe2792acau
#define EXT_FEATURE_TABLE  0x6803f857u
#define EXT_OTHER          0x12345678u

static guint32
ld32 (const guint8 *p)
{
  return (guint32) p[0] << 24 | (guint32) p[1] << 16 | (guint32) p[2] << 8 | p[3];
}

static void
st32 (guint8 *p, guint32 v)
{
  p[0] = v >> 24;
  p[1] = v >> 16;
  p[2] = v >> 8;
  p[3] = v;
}

/* The header extension types of a qcow2 v3 file, in file order, as "%08x " words. */
static char *
extension_types (const char *path)
{
  g_autofree guint8 *data = NULL;
  gsize len;
  GString *out = g_string_new (NULL);
  guint32 off;

  g_assert_true (g_file_get_contents (path, (char **) &data, &len, NULL));
  off = ld32 (data + 100);
  while (off + 8 <= len && ld32 (data + off) != 0)
    {
      g_string_append_printf (out, "%08x ", ld32 (data + off));
      off += 8 + ((ld32 (data + off + 4) + 7) & ~7u);
    }
  return g_string_free (out, FALSE);
}

/* Rewrites the extensions of @path as: feature table, an extension QEMU does not know,
 * backing format (QEMU itself writes the backing format first). */
static void
reorder_extensions (const char *path)
{
  g_autofree guint8 *data = NULL;
  g_autoptr(GByteArray) exts = g_byte_array_new ();
  const guint8 *fmt = NULL, *table = NULL;
  guint32 fmt_len = 0, table_len = 0, off, name_off, name_len;
  static const guint8 other[8] = { 's', 't', 'r', 'a', 't', 'a', '!', 0 };
  guint8 hdr[8];
  gsize len;

  g_assert_true (g_file_get_contents (path, (char **) &data, &len, NULL));
  name_off = ld32 (data + 12);
  name_len = ld32 (data + 16);
  off = ld32 (data + 100);
  while (ld32 (data + off) != 0)
    {
      guint32 type = ld32 (data + off), elen = ld32 (data + off + 4);

      if (type == EXT_BACKING_FORMAT)
        fmt = data + off + 8, fmt_len = elen;
      else if (type == EXT_FEATURE_TABLE)
        table = data + off + 8, table_len = elen;
      off += 8 + ((elen + 7) & ~7u);
    }
  g_assert_nonnull (fmt);
  g_assert_nonnull (table);

#define ADD(type, p, n) \
  G_STMT_START { \
    static const guint8 pad[8]; \
    st32 (hdr, type); st32 (hdr + 4, n); \
    g_byte_array_append (exts, hdr, 8); \
    g_byte_array_append (exts, p, n); \
    g_byte_array_append (exts, pad, ((n + 7) & ~7u) - n); \
  } G_STMT_END
  ADD (EXT_FEATURE_TABLE, table, table_len);
  ADD (EXT_OTHER, other, (guint32) sizeof other);
  ADD (EXT_BACKING_FORMAT, fmt, fmt_len);
  memset (hdr, 0, 8);
  g_byte_array_append (exts, hdr, 8);
#undef ADD
  {
    g_autofree char *name = g_strndup ((const char *) data + name_off, name_len);
    guint32 start = ld32 (data + 100);

    memcpy (data + start, exts->data, exts->len);
    memcpy (data + start + exts->len, name, name_len);
    /* Backing name offset (64-bit, high half zero). */
    st32 (data + 8, 0);
    st32 (data + 12, start + exts->len);
  }
  g_assert_true (g_file_set_contents (path, (const char *) data, len, NULL));
}

/* A header rewrite (rebase -u, rebase, commit emptying the overlay) keeps the header
 * extensions in their order, the one QEMU does not know included. */
static void
test_extension_order (void)
{
  g_autofree char *dir = case_dir ("extension-order", "strata");
  g_autofree char *top = g_build_filename (dir, "top.qcow2", NULL);
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  g_autofree char *info = NULL;

  g_free (tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 base.qcow2 4M && "
                     "qemu-img create -q -f qcow2 base2.qcow2 4M && "
                     "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2 && "
                     "qemu-io -c 'write -P 7 1M 64k' top.qcow2 >/dev/null", dir));
  reorder_extensions (top);
  before = extension_types (top);
  g_assert_cmpstr (before, ==, "6803f857 12345678 e2792aca ");
  tu_assert_qemu_check_clean (top);

  g_free (tu_run_ok ("cd '%s' && '%s' rebase -u -b base2.qcow2 -F qcow2 top.qcow2", dir,
                     tu_strata_img ()));
  after = extension_types (top);
  g_assert_cmpstr (after, ==, before);
  tu_assert_qemu_check_clean (top);
  info = tu_run_ok ("cd '%s' && qemu-img info top.qcow2 && qemu-io -c 'read -P 7 1M 64k' "
                    "top.qcow2", dir);
  g_assert_nonnull (strstr (info, "backing file: base2.qcow2\n"));
  g_assert_null (strstr (info, "Pattern verification failed"));
  g_clear_pointer (&after, g_free);

  g_free (tu_run_ok ("cd '%s' && '%s' commit top.qcow2", dir, tu_strata_img ()));
  after = extension_types (top);
  g_assert_cmpstr (after, ==, before);
  tu_assert_qemu_check_clean (top);
}

/* Different from qemu-img on purpose: after a shrink to the middle of a cluster, qemu-img
 * keeps the bytes past the new end in that cluster and a later growth shows them again;
 * strata-img zeroes them, so deleted data stays deleted. QEMU judges the result. */
static void
test_shrink_tail_zeroed (void)
{
  g_autofree char *dir = case_dir ("shrink-tail", "strata");
  g_autofree char *path = g_build_filename (dir, "a.qcow2", NULL);
  g_autofree char *out = NULL;

  g_free (tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 a.qcow2 10M && "
                     "qemu-io -c 'write -P 1 0 10M' a.qcow2 >/dev/null && "
                     "'%s' resize --shrink a.qcow2 1000k && '%s' resize a.qcow2 10M",
                     dir, tu_strata_img (), tu_strata_img ()));
  tu_assert_qemu_check_clean (path);
  out = tu_run_ok ("qemu-io -c 'read -P 1 0 1000k' -c 'read -P 0 1000k 9240k' '%s'", path);
  g_assert_null (strstr (out, "Pattern verification failed"));
}

int
main (int argc, char **argv)
{
  tu_init (&argc, &argv);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/cli/qemu-compat/%s", cases[i].name);

      g_test_add_data_func (path, &cases[i], test_case);
    }
  g_test_add_func ("/cli/qemu-compat/extension-order", test_extension_order);
  g_test_add_func ("/cli/qemu-compat/shrink-tail-zeroed", test_shrink_tail_zeroed);
  return g_test_run ();
}
