/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The malformed-image corpus. Base images are made with qemu-img, then one thing is broken
 * in each: a header field out of range, a structure cut short, a table entry pointing past
 * the end, a corrupt compressed stream, a hostile descriptor, a backing loop. Every case is
 * put through the engine in-process (the fuzz targets' walk, then a full open with the
 * backing chain) and through `strata-img info`, `map`, `check` and `convert -O raw|qcow2`
 * under `timeout` and a memory limit. Each must end quickly with a clear error naming a
 * file, or give the answer QEMU gives; never a signal, never a hang, and never write
 * anything: every input keeps its checksum and no file is left behind.
 *
 * QEMU is the oracle: when `qemu-img info` refuses a file, so must Strata; when both convert
 * it, the guest data must be identical; when `qemu-img check` finds damage, Strata's check
 * must not call the image clean.
 *
 * Commands still printing "not implemented yet" are skipped per case, with the reason;
 * known bugs in other people's code are listed in known_issues[] and reported as
 * incomplete instead of failing.
 */
#include "strata-error.h"
#include "strata-fuzz.h"
#include "strata-image.h"
#include "test-util.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

typedef enum
{
  AT_ABS,   /* from the start of the file */
  AT_EXT,   /* qcow2: the header extension area (header_length) */
  AT_L1,    /* qcow2: the L1 table */
  AT_RT,    /* qcow2: the refcount table */
  AT_RB,    /* qcow2: the first refcount block */
  AT_L2,    /* qcow2: the first L2 table */
  AT_DATA,  /* qcow2: the first data cluster (or compressed data) */
  AT_BNAME, /* qcow2: the backing file name */
  AT_GD,    /* vmdk: the grain directory */
  AT_GT,    /* vmdk: the first grain table */
  AT_GRAIN, /* vmdk: the first grain (a marker in streamOptimized) */
  AT_END,   /* from the end of the file */
} Anchor;

typedef enum
{
  OP_NONE,
  OP_U8,
  OP_U16,
  OP_U32,
  OP_U64,
  OP_TRUNCATE, /* cut the file at the position */
  OP_GARBAGE,  /* 512 pseudo-random bytes at the position */
  OP_NOISE,    /* pseudo-random bytes from the position to the end */
} Op;

enum
{
  F_NONE      = 0,
  F_MUST_FAIL = 1 << 0, /* Strata must refuse the image, whatever QEMU says */
  F_QEMU_HANGS = 1 << 2, /* QEMU loops or blocks on it: only `qemu-img info` is asked */
  F_BAD_DATA  = 1 << 1, /* the header is fine, the guest data cannot be read: reading it
                         * (the engine walk, convert) must fail */
};

typedef struct
{
  const char *name;
  const char *base;   /* a key of bases[], or NULL: @setup makes everything */
  Anchor      anchor;
  gint64      rel;
  Op          op;
  guint64     value;
  const char *setup;  /* shell run in the case folder after the patch */
  guint       flags;
  const char *image;  /* the file the commands get; default img.qcow2 / img.vmdk */
} MalformedCase;

typedef struct
{
  const char *key;
  const char *file;   /* in the bases folder */
  gboolean    vmdk;   /* little-endian fields */
  const char *make;   /* shell, run in the bases folder */
  const char *extra;  /* a companion file copied into the case folder too */
} Base;

#define PATTERN "yes 'strata malformed corpus 0123456789' | head -c 1048576 > pat.raw"

static const Base bases[] = {
  { "qcow2", "b.qcow2", FALSE,
    "qemu-img create -q -f qcow2 b.qcow2 1M && qemu-io -c 'write -P 0xa5 0 64k' "
    "-c 'write -P 0x5a 512k 64k' -c 'write -z 192k 64k' b.qcow2 >/dev/null", NULL },
  { "v2", "b2.qcow2", FALSE,
    "qemu-img create -q -f qcow2 -o compat=0.10 b2.qcow2 1M && "
    "qemu-io -c 'write -P 0xa5 0 64k' b2.qcow2 >/dev/null", NULL },
  { "zlib", "bz.qcow2", FALSE, PATTERN " && qemu-img convert -c -O qcow2 pat.raw bz.qcow2",
    NULL },
  { "zstd", "bs.qcow2", FALSE,
    PATTERN " && qemu-img convert -c -O qcow2 -o compression_type=zstd pat.raw bs.qcow2",
    NULL },
  { "back", "bo.qcow2", FALSE,
    "qemu-img create -q -f qcow2 base.qcow2 1M && qemu-io -c 'write -P 0x77 0 1M' "
    "base.qcow2 >/dev/null && qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 bo.qcow2 && "
    "qemu-io -c 'write -P 0x33 64k 64k' bo.qcow2 >/dev/null", "base.qcow2" },
  { "vmdk", "bv.vmdk", TRUE, PATTERN " && qemu-img convert -O vmdk pat.raw bv.vmdk", NULL },
  { "stream", "bt.vmdk", TRUE,
    PATTERN " && qemu-img convert -O vmdk -o subformat=streamOptimized pat.raw bt.vmdk", NULL },
};

/* A monolithicFlat descriptor for img-flat.vmdk, with room for one broken line. */
#define DESC(extent_line, extra) \
  "printf '# Disk DescriptorFile\\nversion=1\\nCID=12345678\\nparentCID=ffffffff\\n" \
  "createType=\"monolithicFlat\"\\n" extra "\\n# Extent description\\n" extent_line "\\n' " \
  "> img.vmdk && truncate -s 1M img-flat.vmdk"
#define FLAT_OK "RW 2048 FLAT \"img-flat.vmdk\" 0"

static const MalformedCase cases[] = {
  /* qcow2 header fields. A bad magic probes as raw, which is the right answer. */
  { "magic", "qcow2", AT_ABS, 3, OP_U8, 0 },
  /* QEMU probes versions 0 and 1 away from qcow2: 0 reads as raw, 1 as qcow (v1). */
  { "version-0", "qcow2", AT_ABS, 4, OP_U32, 0 },
  { "version-1", "qcow2", AT_ABS, 4, OP_U32, 1, NULL, F_MUST_FAIL },
  { "version-4", "qcow2", AT_ABS, 4, OP_U32, 4, NULL, F_MUST_FAIL },
  { "version-huge", "qcow2", AT_ABS, 4, OP_U32, 0xffffffff, NULL, F_MUST_FAIL },
  { "cluster-bits-8", "qcow2", AT_ABS, 20, OP_U32, 8, NULL, F_MUST_FAIL },
  { "cluster-bits-22", "qcow2", AT_ABS, 20, OP_U32, 22, NULL, F_MUST_FAIL },
  { "cluster-bits-0", "qcow2", AT_ABS, 20, OP_U32, 0, NULL, F_MUST_FAIL },
  { "cluster-bits-64", "qcow2", AT_ABS, 20, OP_U32, 64, NULL, F_MUST_FAIL },
  { "cluster-bits-9", "qcow2", AT_ABS, 20, OP_U32, 9 },
  { "cluster-bits-21", "qcow2", AT_ABS, 20, OP_U32, 21 },
  { "size-huge", "qcow2", AT_ABS, 24, OP_U64, G_MAXUINT64 },
  { "size-2p62", "qcow2", AT_ABS, 24, OP_U64, G_GUINT64_CONSTANT (1) << 62 },
  { "size-zero", "qcow2", AT_ABS, 24, OP_U64, 0 },
  { "size-odd", "qcow2", AT_ABS, 24, OP_U64, 1048577 },
  { "crypt-aes", "qcow2", AT_ABS, 32, OP_U32, 1 },
  { "crypt-luks-no-ext", "qcow2", AT_ABS, 32, OP_U32, 2 },
  { "crypt-method-9", "qcow2", AT_ABS, 32, OP_U32, 9, NULL, F_MUST_FAIL },
  { "l1-size-huge", "qcow2", AT_ABS, 36, OP_U32, 0x7fffffff, NULL, F_MUST_FAIL },
  { "l1-size-32m", "qcow2", AT_ABS, 36, OP_U32, (32u << 20) / 8 + 1, NULL, F_MUST_FAIL },
  { "l1-size-past-eof", "qcow2", AT_ABS, 36, OP_U32, 1u << 20 },
  { "l1-size-zero", "qcow2", AT_ABS, 36, OP_U32, 0 },
  { "l1-offset-past-eof", "qcow2", AT_ABS, 40, OP_U64, 0x40000000 },
  { "l1-offset-misaligned", "qcow2", AT_ABS, 40, OP_U64, 0x30008, NULL, F_MUST_FAIL },
  { "l1-offset-huge", "qcow2", AT_ABS, 40, OP_U64, G_GUINT64_CONSTANT (0xffffffffffff0000) },
  { "l1-offset-zero", "qcow2", AT_ABS, 40, OP_U64, 0 },
  { "rt-offset-past-eof", "qcow2", AT_ABS, 48, OP_U64, 0x40000000 },
  { "rt-offset-misaligned", "qcow2", AT_ABS, 48, OP_U64, 0x10008, NULL, F_MUST_FAIL },
  { "rt-offset-zero", "qcow2", AT_ABS, 48, OP_U64, 0 },
  { "rt-clusters-huge", "qcow2", AT_ABS, 56, OP_U32, 0xffffffff, NULL, F_MUST_FAIL },
  { "rt-clusters-8m", "qcow2", AT_ABS, 56, OP_U32, 129, NULL, F_MUST_FAIL },
  { "rt-clusters-zero", "qcow2", AT_ABS, 56, OP_U32, 0 },
  { "snapshots-huge", "qcow2", AT_ABS, 60, OP_U32, 0xffffffff },
  { "snapshots-past-eof", "qcow2", AT_ABS, 60, OP_U32, 3,
    "printf '\\0\\0\\0\\0\\x40\\0\\0\\0' | dd of=img.qcow2 bs=1 seek=64 conv=notrunc "
    "status=none" },
  { "incompat-unknown-bit", "qcow2", AT_ABS, 72, OP_U64, G_GUINT64_CONSTANT (1) << 40,
    NULL, F_MUST_FAIL },
  { "incompat-all-bits", "qcow2", AT_ABS, 72, OP_U64, G_MAXUINT64, NULL, F_MUST_FAIL },
  { "incompat-dirty", "qcow2", AT_ABS, 72, OP_U64, 1 },
  { "incompat-corrupt", "qcow2", AT_ABS, 72, OP_U64, 2 },
  { "incompat-data-file", "qcow2", AT_ABS, 72, OP_U64, 4 },
  { "incompat-compression-bit", "qcow2", AT_ABS, 72, OP_U64, 8 },
  { "incompat-extended-l2-64k", "qcow2", AT_ABS, 72, OP_U64, 16 },
  { "autoclear-all", "qcow2", AT_ABS, 88, OP_U64, G_MAXUINT64 },
  { "refcount-order-7", "qcow2", AT_ABS, 96, OP_U32, 7, NULL, F_MUST_FAIL },
  { "refcount-order-255", "qcow2", AT_ABS, 96, OP_U32, 255, NULL, F_MUST_FAIL },
  { "header-length-odd", "qcow2", AT_ABS, 100, OP_U32, 105, NULL, F_MUST_FAIL },
  { "header-length-small", "qcow2", AT_ABS, 100, OP_U32, 64, NULL, F_MUST_FAIL },
  { "header-length-zero", "qcow2", AT_ABS, 100, OP_U32, 0, NULL, F_MUST_FAIL },
  { "header-length-huge", "qcow2", AT_ABS, 100, OP_U32, 0xfffffff8, NULL, F_MUST_FAIL },
  { "header-length-cluster", "qcow2", AT_ABS, 100, OP_U32, 65536 + 8, NULL, F_MUST_FAIL },
  { "compression-type-9", "qcow2", AT_ABS, 72, OP_U64, 8,
    "printf '\\x09' | dd of=img.qcow2 bs=1 seek=104 conv=notrunc status=none", F_MUST_FAIL },
  { "compression-zstd-no-bit", "qcow2", AT_ABS, 104, OP_U8, 1, NULL, F_MUST_FAIL },
  { "v2-header-length", "v2", AT_ABS, 100, OP_U32, 8 },

  /* Header extensions: the first one's length overruns the cluster, the file, 32 bits. */
  { "ext-length-huge", "qcow2", AT_EXT, 4, OP_U32, 0xffffffff, NULL, F_MUST_FAIL },
  { "ext-length-cluster", "qcow2", AT_EXT, 4, OP_U32, 65536, NULL, F_MUST_FAIL },
  { "ext-length-odd", "qcow2", AT_EXT, 4, OP_U32, 47 },
  { "ext-unknown-type", "qcow2", AT_EXT, 0, OP_U32, 0x12345678 },
  { "ext-no-end", "qcow2", AT_EXT, 0, OP_NOISE, 0 },
  { "ext-backing-format-long", "back", AT_EXT, 4, OP_U32, 0xfff0, NULL, F_MUST_FAIL },
  { "ext-feature-table-partial", "qcow2", AT_EXT, 4, OP_U32, 100 },

  /* Backing name fields. */
  { "backing-offset-past-eof", "back", AT_ABS, 8, OP_U64, 0x40000000, NULL, F_MUST_FAIL },
  { "backing-offset-huge", "back", AT_ABS, 8, OP_U64, G_MAXUINT64 - 4, NULL, F_MUST_FAIL },
  { "backing-size-1024", "back", AT_ABS, 16, OP_U32, 1024, NULL, F_MUST_FAIL },
  { "backing-size-huge", "back", AT_ABS, 16, OP_U32, 0xffffffff, NULL, F_MUST_FAIL },
  { "backing-size-zero", "back", AT_ABS, 16, OP_U32, 0 },
  { "backing-name-garbage", "back", AT_BNAME, 0, OP_U32, 0x01ff0a00 },
  { "backing-missing", "back", AT_ABS, 0, OP_NONE, 0, "rm base.qcow2" },
  { "backing-self", "qcow2", AT_ABS, 0, OP_NONE, 0,
    "qemu-img rebase -u -b img.qcow2 -F qcow2 img.qcow2", F_QEMU_HANGS },
  { "backing-loop", "qcow2", AT_ABS, 0, OP_NONE, 0,
    "qemu-img create -q -f qcow2 -u -b img.qcow2 -F qcow2 other.qcow2 1M && "
    "qemu-img rebase -u -b other.qcow2 -F qcow2 img.qcow2", F_QEMU_HANGS },
  { "backing-json", "qcow2", AT_ABS, 0, OP_NONE, 0,
    "qemu-img rebase -u -b 'json:{\"file.filename\":\"/etc/passwd\"}' -F raw img.qcow2" },
  { "backing-nbd", "qcow2", AT_ABS, 0, OP_NONE, 0,
    "qemu-img rebase -u -b 'nbd://127.0.0.1:1/x' -F raw img.qcow2" },
  { "backing-file-protocol", "qcow2", AT_ABS, 0, OP_NONE, 0,
    "qemu-img rebase -u -b 'file:/etc/passwd' -F raw img.qcow2" },
  { "backing-directory", "qcow2", AT_ABS, 0, OP_NONE, 0,
    "mkdir sub && qemu-img rebase -u -b sub -F raw img.qcow2" },
  { "backing-fifo", "qcow2", AT_ABS, 0, OP_NONE, 0,
    "mkfifo fifo && qemu-img rebase -u -b fifo -F raw img.qcow2", F_QEMU_HANGS },
  { "backing-dev-zero", "qcow2", AT_ABS, 0, OP_NONE, 0,
    "qemu-img rebase -u -b /dev/zero -F raw img.qcow2" },
  { "backing-deep-chain", NULL, AT_ABS, 0, OP_NONE, 0,
    /* Deeper than the engine's limit (256); names of one width so that sed can rename. */
    "qemu-img create -q -f qcow2 c000.qcow2 64k && "
    "qemu-img create -q -f qcow2 -u -b cXXX.qcow2 -F qcow2 t.qcow2 64k && "
    "for i in $(seq 1 259); do sed \"s/cXXX/$(printf c%03d $((i-1)))/\" t.qcow2 "
    "> $(printf c%03d $i).qcow2; done && rm t.qcow2 && mv c259.qcow2 img.qcow2",
    F_QEMU_HANGS },

  /* Truncation inside every structure. */
  { "trunc-empty", "qcow2", AT_ABS, 0, OP_TRUNCATE },
  { "trunc-header", "qcow2", AT_ABS, 50, OP_TRUNCATE, 0, NULL, F_MUST_FAIL },
  { "trunc-header-v3", "qcow2", AT_ABS, 90, OP_TRUNCATE, 0, NULL, F_MUST_FAIL },
  { "trunc-extensions", "qcow2", AT_EXT, 6, OP_TRUNCATE },
  { "trunc-rt", "qcow2", AT_RT, 4, OP_TRUNCATE },
  { "trunc-rb", "qcow2", AT_RB, 100, OP_TRUNCATE },
  { "trunc-l1", "qcow2", AT_L1, 4, OP_TRUNCATE },
  { "trunc-l2", "qcow2", AT_L2, 100, OP_TRUNCATE },
  { "trunc-data", "qcow2", AT_DATA, 1000, OP_TRUNCATE },
  { "trunc-compressed", "zlib", AT_DATA, 100, OP_TRUNCATE },

  /* Table entries. */
  { "l1-entry-past-eof", "qcow2", AT_L1, 0, OP_U64, G_GUINT64_CONSTANT (0x8000000100000000) },
  { "l1-entry-misaligned", "qcow2", AT_L1, 0, OP_U64, G_GUINT64_CONSTANT (0x8000000000030200) },
  { "l1-entry-reserved", "qcow2", AT_L1, 0, OP_U64, G_GUINT64_CONSTANT (0x7f00000000000000) },
  { "l1-entry-header", "qcow2", AT_L1, 0, OP_U64, G_GUINT64_CONSTANT (0x8000000000000000) | 0 },
  { "l2-entry-past-eof", "qcow2", AT_L2, 0, OP_U64, G_GUINT64_CONSTANT (0x8000000100000000) },
  { "l2-entry-misaligned", "qcow2", AT_L2, 0, OP_U64, G_GUINT64_CONSTANT (0x8000000000050200) },
  { "l2-entry-reserved", "qcow2", AT_L2, 0, OP_U64, G_GUINT64_CONSTANT (0x8100000000050000) },
  { "l2-entry-at-header", "qcow2", AT_L2, 0, OP_U64, G_GUINT64_CONSTANT (0x8000000000000000) },
  { "l2-entry-huge", "qcow2", AT_L2, 0, OP_U64, G_GUINT64_CONSTANT (0x80fffffffffe0000) },
  { "l2-garbage", "qcow2", AT_L2, 0, OP_GARBAGE },
  { "l1-garbage", "qcow2", AT_L1, 0, OP_GARBAGE },
  { "rt-garbage", "qcow2", AT_RT, 0, OP_GARBAGE },
  { "rt-entry-past-eof", "qcow2", AT_RT, 0, OP_U64, 0x100000000 },
  { "compressed-past-eof", "zlib", AT_L2, 0, OP_U64, G_GUINT64_CONSTANT (0x4000000100000000) },
  { "compressed-huge-count", "zlib", AT_L2, 0, OP_U8, 0x7f },
  { "compressed-zero-length", "zlib", AT_L2, 0, OP_U64, G_GUINT64_CONSTANT (0x4000000000000000) },
  { "deflate-corrupt", "zlib", AT_DATA, 0, OP_GARBAGE, 0, NULL, F_BAD_DATA },
  { "deflate-corrupt-tail", "zlib", AT_DATA, 40, OP_GARBAGE, 0, NULL, F_BAD_DATA },
  { "zstd-corrupt", "zstd", AT_DATA, 0, OP_GARBAGE, 0, NULL, F_BAD_DATA },
  { "zstd-corrupt-tail", "zstd", AT_DATA, 40, OP_GARBAGE, 0, NULL, F_BAD_DATA },
  { "random-after-magic", "qcow2", AT_ABS, 8, OP_NOISE },
  { "random-after-header", "qcow2", AT_ABS, 104, OP_NOISE },

  /* VMDK sparse header (little-endian): grain size, capacity, tables. */
  { "vmdk-version-9", "vmdk", AT_ABS, 4, OP_U32, 9, NULL, F_MUST_FAIL },
  { "vmdk-grain-0", "vmdk", AT_ABS, 20, OP_U64, 0, NULL, F_MUST_FAIL },
  { "vmdk-grain-1", "vmdk", AT_ABS, 20, OP_U64, 1 },
  { "vmdk-grain-3", "vmdk", AT_ABS, 20, OP_U64, 3 },
  { "vmdk-grain-huge", "vmdk", AT_ABS, 20, OP_U64, G_GUINT64_CONSTANT (1) << 40, NULL,
    F_MUST_FAIL },
  { "vmdk-capacity-huge", "vmdk", AT_ABS, 12, OP_U64, G_GUINT64_CONSTANT (1) << 60 },
  { "vmdk-capacity-max", "vmdk", AT_ABS, 12, OP_U64, G_MAXUINT64 },
  { "vmdk-capacity-zero", "vmdk", AT_ABS, 12, OP_U64, 0 },
  { "vmdk-gtes-0", "vmdk", AT_ABS, 44, OP_U32, 0, NULL, F_MUST_FAIL },
  { "vmdk-gtes-huge", "vmdk", AT_ABS, 44, OP_U32, 0x40000000, NULL, F_MUST_FAIL },
  { "vmdk-gd-past-eof", "vmdk", AT_ABS, 56, OP_U64, 0x1000000 },
  { "vmdk-gd-huge", "vmdk", AT_ABS, 56, OP_U64, G_MAXUINT64 / 2 },
  { "vmdk-rgd-past-eof", "vmdk", AT_ABS, 48, OP_U64, 0x1000000 },
  { "vmdk-gd-entry-past-eof", "vmdk", AT_GD, 0, OP_U32, 0x10000000 },
  { "vmdk-gt-entry-past-eof", "vmdk", AT_GT, 0, OP_U32, 0x10000000 },
  { "vmdk-gt-entry-one", "vmdk", AT_GT, 0, OP_U32, 1 },
  { "vmdk-gt-garbage", "vmdk", AT_GT, 0, OP_GARBAGE },
  { "vmdk-desc-offset-past-eof", "vmdk", AT_ABS, 28, OP_U64, 0x100000 },
  { "vmdk-desc-size-huge", "vmdk", AT_ABS, 36, OP_U64, G_GUINT64_CONSTANT (1) << 40 },
  { "vmdk-desc-garbage", "vmdk", AT_ABS, 512, OP_GARBAGE },
  { "vmdk-trunc-header", "vmdk", AT_ABS, 30, OP_TRUNCATE, 0, NULL, F_MUST_FAIL },
  { "vmdk-trunc-gd", "vmdk", AT_GD, 2, OP_TRUNCATE },
  { "vmdk-trunc-gt", "vmdk", AT_GT, 100, OP_TRUNCATE },
  { "vmdk-trunc-grain", "vmdk", AT_GRAIN, 100, OP_TRUNCATE },
  { "vmdk-random-after-magic", "vmdk", AT_ABS, 8, OP_NOISE },

  /* streamOptimized: markers and compressed grains. */
  { "stream-compress-algo-9", "stream", AT_ABS, 77, OP_U16, 9 },
  { "stream-marker-size-huge", "stream", AT_GRAIN, 8, OP_U32, 0xffffffff },
  { "stream-marker-lba-huge", "stream", AT_GRAIN, 0, OP_U64, G_MAXUINT64 / 2 },
  { "stream-grain-corrupt", "stream", AT_GRAIN, 12, OP_GARBAGE, 0, NULL, F_BAD_DATA },
  { "stream-gd-footer-missing", "stream", AT_ABS, 56, OP_U64, G_MAXUINT64 },
  { "stream-trunc-grain", "stream", AT_GRAIN, 40, OP_TRUNCATE },
  { "stream-trunc-end", "stream", AT_END, -700, OP_TRUNCATE },

  /* VMDK descriptors. */
  { "desc-ok", NULL, AT_ABS, 0, OP_NONE, 0, DESC (FLAT_OK, "") },
  { "desc-missing-extent", NULL, AT_ABS, 0, OP_NONE, 0,
    DESC (FLAT_OK, "") " && rm img-flat.vmdk", F_MUST_FAIL },
  { "desc-huge-extent", NULL, AT_ABS, 0, OP_NONE, 0,
    DESC ("RW 99999999999999999999 FLAT \"img-flat.vmdk\" 0", "") },
  { "desc-extent-2p62", NULL, AT_ABS, 0, OP_NONE, 0,
    DESC ("RW 4611686018427387904 FLAT \"img-flat.vmdk\" 0", "") },
  { "desc-negative-extent", NULL, AT_ABS, 0, OP_NONE, 0,
    DESC ("RW -5 FLAT \"img-flat.vmdk\" 0", "") },
  { "desc-extent-offset-huge", NULL, AT_ABS, 0, OP_NONE, 0,
    DESC ("RW 2048 FLAT \"img-flat.vmdk\" 18446744073709551615", "") },
  { "desc-extent-no-quotes", NULL, AT_ABS, 0, OP_NONE, 0,
    DESC ("RW 2048 FLAT img-flat.vmdk 0", "") },
  { "desc-extent-unterminated", NULL, AT_ABS, 0, OP_NONE, 0,
    DESC ("RW 2048 FLAT \"img-flat.vmdk 0", "") },
  { "desc-extent-type-bogus", NULL, AT_ABS, 0, OP_NONE, 0,
    DESC ("RW 2048 BOGUS \"img-flat.vmdk\" 0", "") },
  { "desc-extent-self", NULL, AT_ABS, 0, OP_NONE, 0,
    DESC ("RW 2048 SPARSE \"img.vmdk\"", ""), F_MUST_FAIL },
  { "desc-extent-qcow2", NULL, AT_ABS, 0, OP_NONE, 0,
    DESC ("RW 2048 SPARSE \"x.qcow2\"", "") " && qemu-img create -q -f qcow2 x.qcow2 1M",
    F_MUST_FAIL },
  { "desc-extent-fifo", NULL, AT_ABS, 0, OP_NONE, 0,
    DESC ("RW 2048 FLAT \"fifo\" 0", "") " && mkfifo fifo", F_MUST_FAIL | F_QEMU_HANGS },
  { "desc-extent-dev-zero", NULL, AT_ABS, 0, OP_NONE, 0,
    DESC ("RW 2048 FLAT \"/dev/zero\" 0", ""), F_MUST_FAIL },
  /* Allowed by the format (QEMU reads it): an image from elsewhere can make convert copy a
   * local file into the output. Only robustness is checked here; see the report. */
  { "desc-extent-absolute", NULL, AT_ABS, 0, OP_NONE, 0,
    DESC ("RW 2048 FLAT \"/etc/passwd\" 0", "") },
  { "desc-no-extents", NULL, AT_ABS, 0, OP_NONE, 0,
    "printf '# Disk DescriptorFile\\nversion=1\\ncreateType=\"monolithicFlat\"\\n' "
    "> img.vmdk", F_MUST_FAIL },
  { "desc-create-type-bogus", NULL, AT_ABS, 0, OP_NONE, 0,
    DESC (FLAT_OK, "createType=\"bogus\"") },
  { "desc-long-line", NULL, AT_ABS, 0, OP_NONE, 0,
    DESC (FLAT_OK, "") " && head -c 200000 /dev/zero | tr '\\0' x >> img.vmdk" },
  { "desc-binary", NULL, AT_ABS, 0, OP_NONE, 0,
    "printf '# Disk DescriptorFile\\n' > img.vmdk && head -c 4000 /dev/urandom >> img.vmdk" },
  { "desc-parent-self", NULL, AT_ABS, 0, OP_NONE, 0,
    DESC (FLAT_OK, "parentFileNameHint=\"img.vmdk\""), F_QEMU_HANGS },
  { "desc-parent-json", NULL, AT_ABS, 0, OP_NONE, 0,
    DESC (FLAT_OK, "parentFileNameHint=\"json:{}\"") },
  { "desc-parent-missing", NULL, AT_ABS, 0, OP_NONE, 0,
    DESC (FLAT_OK, "parentFileNameHint=\"nope.vmdk\"") },
  { "desc-many-extents", NULL, AT_ABS, 0, OP_NONE, 0,
    DESC (FLAT_OK, "") " && for i in $(seq 1 2000); do echo 'RW 1 ZERO' >> img.vmdk; done" },
};

/* Failures that are known bugs in code this test does not own: "case/command" (or just
 * "case" for the in-process engine checks) and the reason with its owner. */
static const struct
{
  const char *what;
  const char *reason;
} known_issues[] = {
  { NULL, NULL },
};

static const char *mem_limit = "prlimit --as=2147483648";
static char *bases_dir;
static gboolean qcow2_landed, vmdk_landed;

typedef struct
{
  const MalformedCase *c;
  char                *dir;
  char                *image;
  GPtrArray           *failures;
  GPtrArray           *skipped;
  GHashTable          *sums; /* file name -> sha256, before any command ran */
  char                *listing;
} Run;

static void
fail (Run *run, const char *what, const char *fmt, ...) G_GNUC_PRINTF (3, 4);

static void
fail (Run *run, const char *what, const char *fmt, ...)
{
  g_autofree char *msg = NULL;
  va_list args;

  va_start (args, fmt);
  msg = g_strdup_vprintf (fmt, args);
  va_end (args);
  g_ptr_array_add (run->failures, g_strdup_printf ("%s/%s|%s", run->c->name, what, msg));
}

static const Base *
find_base (const char *key)
{
  for (guint i = 0; i < G_N_ELEMENTS (bases); i++)
    if (g_strcmp0 (bases[i].key, key) == 0)
      return &bases[i];
  g_assert_not_reached ();
}

static guint64
get_be (const guint8 *p, guint width)
{
  guint64 v = 0;

  for (guint i = 0; i < width; i++)
    v = (v << 8) | p[i];
  return v;
}

static guint64
get_le (const guint8 *p, guint width)
{
  guint64 v = 0;

  for (guint i = width; i > 0; i--)
    v = (v << 8) | p[i - 1];
  return v;
}

static void
put (guint8 *p, guint width, guint64 v, gboolean little)
{
  for (guint i = 0; i < width; i++)
    p[little ? i : width - 1 - i] = (v >> (8 * i)) & 0xff;
}

/* Finds where an anchor lies in a base image QEMU made; every anchor used by a case exists
 * in its base, so a miss is a bug in this table. */
static guint64
resolve_anchor (const Base *base, const guint8 *d, gsize len, Anchor anchor)
{
  const guint64 mask = G_GUINT64_CONSTANT (0x00fffffffffffe00);
  guint64 off = 0;

  switch (anchor)
    {
    case AT_ABS:
      return 0;
    case AT_END:
      return len;
    case AT_EXT:
      return get_be (d + 4, 4) >= 3 ? get_be (d + 100, 4) : 72;
    case AT_L1:
      return get_be (d + 40, 8);
    case AT_RT:
      return get_be (d + 48, 8);
    case AT_RB:
      return get_be (d + get_be (d + 48, 8), 8);
    case AT_L2:
      return get_be (d + get_be (d + 40, 8), 8) & mask;
    case AT_DATA:
      {
        guint64 l2e = get_be (d + (get_be (d + get_be (d + 40, 8), 8) & mask), 8);
        guint cluster_bits = get_be (d + 20, 4);

        if (l2e & (G_GUINT64_CONSTANT (1) << 62))
          return l2e & ((G_GUINT64_CONSTANT (1) << (62 - (cluster_bits - 8))) - 1);
        return l2e & mask;
      }
    case AT_BNAME:
      return get_be (d + 8, 8);
    case AT_GD:
      return get_le (d + 56, 8) * 512;
    case AT_GT:
      return get_le (d + get_le (d + 56, 8) * 512, 4) * 512;
    case AT_GRAIN:
      off = get_le (d + get_le (d + 56, 8) * 512, 4) * 512;
      return get_le (d + off, 4) * 512;
    default:
      g_assert_not_reached ();
    }
}

static void
make_case_files (Run *run)
{
  const MalformedCase *c = run->c;
  g_autoptr(GError) error = NULL;
  g_autoptr(GRand) rand = g_rand_new_with_seed (g_str_hash (c->name));

  g_assert_cmpint (g_mkdir_with_parents (run->dir, 0755), ==, 0);

  if (c->base != NULL)
    {
      const Base *base = find_base (c->base);
      g_autofree char *src = g_build_filename (bases_dir, base->file, NULL);
      g_autofree char *data = NULL;
      gsize len;
      guint64 pos;
      guint8 *d;

      g_file_get_contents (src, &data, &len, &error);
      g_assert_no_error (error);
      d = (guint8 *) data;

      pos = resolve_anchor (base, d, len, c->anchor) + c->rel;
      g_assert_cmpuint (pos, <=, len);

      switch (c->op)
        {
        case OP_NONE:
          break;
        case OP_U8: case OP_U16: case OP_U32: case OP_U64:
          {
            guint width = c->op == OP_U8 ? 1 : c->op == OP_U16 ? 2 : c->op == OP_U32 ? 4 : 8;

            g_assert_cmpuint (pos + width, <=, len);
            put (d + pos, width, c->value, base->vmdk);
          }
          break;
        case OP_TRUNCATE:
          len = pos;
          break;
        case OP_GARBAGE:
          for (guint64 i = pos; i < MIN (len, pos + 512); i++)
            d[i] = g_rand_int (rand) & 0xff;
          break;
        case OP_NOISE:
          for (guint64 i = pos; i < len; i++)
            d[i] = g_rand_int (rand) & 0xff;
          break;
        }

      g_file_set_contents (run->image, data, len, &error);
      g_assert_no_error (error);

      if (base->extra != NULL)
        g_free (tu_run_ok ("cp '%s/%s' '%s/'", bases_dir, base->extra, run->dir));
    }

  if (c->setup != NULL)
    g_free (tu_run_ok ("cd '%s' && %s", run->dir, c->setup));
}

static GHashTable *
checksum_dir (const char *dir)
{
  GHashTable *sums = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);

      if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
        g_hash_table_insert (sums, g_strdup (name), tu_file_checksum (path));
    }
  return sums;
}

/* Nothing was written: same files, same bytes. */
static void
check_untouched (Run *run, const char *what)
{
  g_autoptr(GHashTable) now = checksum_dir (run->dir);
  g_autofree char *listing = tu_list_dir (run->dir);
  GHashTableIter iter;
  gpointer key, value;

  if (g_strcmp0 (listing, run->listing) != 0)
    fail (run, what, "the folder changed: before \"%s\", after \"%s\"", run->listing, listing);

  g_hash_table_iter_init (&iter, run->sums);
  while (g_hash_table_iter_next (&iter, &key, &value))
    if (g_strcmp0 (g_hash_table_lookup (now, key), value) != 0)
      fail (run, what, "%s was modified", (char *) key);
}

/* An error must say which file is at fault: the image or one of its companions. */
static gboolean
names_a_file (Run *run, const char *message)
{
  g_autoptr(GDir) d = g_dir_open (run->dir, 0, NULL);
  const char *name;

  if (message == NULL)
    return FALSE;
  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    if (strstr (message, name) != NULL)
      return TRUE;
  /* A backing name that does not exist as a file (json:, nbd://) is named as stored. */
  return strstr (message, "json:") != NULL || strstr (message, "://") != NULL ||
         strstr (message, "nope.vmdk") != NULL || strstr (message, "/dev/") != NULL ||
         strstr (message, "/etc/passwd") != NULL;
}

typedef struct
{
  int   rc;
  char *out;
  char *err;
} Result;

static void
result_clear (Result *r)
{
  g_clear_pointer (&r->out, g_free);
  g_clear_pointer (&r->err, g_free);
}

static void
run_cmd (Run *run, Result *r, const char *limit, const char *fmt, ...) G_GNUC_PRINTF (4, 5);

static void
run_cmd (Run *run, Result *r, const char *limit, const char *fmt, ...)
{
  g_autofree char *cmd = NULL;
  va_list args;

  va_start (args, fmt);
  cmd = g_strdup_vprintf (fmt, args);
  va_end (args);

  r->rc = tu_run (&r->out, &r->err, "cd '%s' && %s %s", run->dir, limit, cmd);
}

static gboolean
not_implemented (Run *run, const char *what, Result *r)
{
  if (r->err != NULL && strstr (r->err, "not implemented yet") != NULL)
    {
      g_ptr_array_add (run->skipped, g_strdup (what));
      return TRUE;
    }
  return FALSE;
}

/* The common verdict for one strata-img run: no hang, no signal, an allowed exit code, and
 * an error that names a file. Returns FALSE when the command is not implemented yet. */
static gboolean
judge (Run *run, const char *what, Result *r, const int *allowed)
{
  gboolean ok = FALSE;

  if (not_implemented (run, what, r))
    return FALSE;

  if (r->rc == 124 || r->rc == 137)
    {
      fail (run, what, "did not finish within 20 s (a hang or a runaway loop)");
      return TRUE;
    }
  if (r->rc >= 128)
    {
      fail (run, what, "killed by signal %d\n%s", r->rc - 128, r->err);
      return TRUE;
    }
  for (guint i = 0; allowed[i] >= 0; i++)
    ok |= r->rc == allowed[i];
  if (!ok)
    fail (run, what, "unexpected exit code %d\n%s", r->rc, r->err);
  if (r->rc == 1 && !names_a_file (run, r->err))
    fail (run, what, "the error does not name the file: \"%s\"", g_strstrip (r->err));
  return TRUE;
}

static int
qemu (Run *run, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static int
qemu (Run *run, const char *fmt, ...)
{
  g_autofree char *cmd = NULL;
  va_list args;

  va_start (args, fmt);
  cmd = g_strdup_vprintf (fmt, args);
  va_end (args);

  /* QEMU itself loops forever on some of these (convert of an image naming itself). */
  return tu_run (NULL, NULL, "cd '%s' && timeout -k 2 4 %s >/dev/null 2>&1", run->dir, cmd);
}

static void
check_engine (Run *run, gboolean qemu_refuses)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(StrataImage) image = NULL;
  gboolean ok;

  /* The fuzz targets' walk: no backing, bounded reads over every run. */
  ok = strata_fuzz_exercise_file (run->image, NULL, TRUE, &error);
  if (!ok && !names_a_file (run, error->message))
    fail (run, "engine", "the error does not name the file: \"%s\"", error->message);
  if (ok && (run->c->flags & F_BAD_DATA))
    fail (run, "engine", "read the whole disk without noticing the corrupt data");
  g_clear_error (&error);

  /* The full open, chain included, as every command does it. */
  image = strata_image_open (run->image, NULL, STRATA_OPEN_READ_ONLY, &error);
  if (image == NULL)
    {
      if (g_error_matches (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED) &&
          strstr (error->message, "not supported yet") != NULL)
        {
          g_ptr_array_add (run->skipped, g_strdup ("engine (driver not landed)"));
          return;
        }
      if (!names_a_file (run, error->message))
        fail (run, "engine", "the error does not name the file: \"%s\"", error->message);
      return;
    }

  if (qemu_refuses || (run->c->flags & F_MUST_FAIL))
    {
      g_autoptr(StrataImageInfo) info = strata_image_get_info (image, &error);

      /* Opening is where refusal belongs, but an info that fails is a refusal too. */
      if (info != NULL && !ok)
        return;
      if (info != NULL)
        fail (run, "engine", "opened an image that %s refuses (format %s, %" G_GUINT64_FORMAT
              " bytes)", qemu_refuses ? "qemu-img info" : "the specification",
              info->format, info->virtual_size);
    }
}

static void
check_cli (Run *run, gboolean qemu_refuses)
{
  static const int info_codes[] = { 0, 1, -1 };
  static const int check_codes[] = { 0, 1, 2, 3, 63, -1 };
  const char *strata = tu_strata_img ();
  const char *img = run->c->image != NULL ? run->c->image
                    : g_str_has_suffix (run->image, ".vmdk") ? "img.vmdk" : "img.qcow2";
  g_autofree char *qemu_raw = g_strdup_printf ("%s.qemu.raw", run->dir);
  int qemu_convert_rc;
  Result r = { 0 };

  /* info, both outputs. */
  run_cmd (run, &r, mem_limit, "timeout -k 5 20 %s info %s", strata, img);
  if (judge (run, "info", &r, info_codes))
    {
      if ((qemu_refuses || (run->c->flags & F_MUST_FAIL)) && r.rc == 0)
        fail (run, "info", "accepted an image that %s refuses:\n%s",
              qemu_refuses ? "qemu-img info" : "the specification", r.out);
      check_untouched (run, "info");
    }
  result_clear (&r);

  run_cmd (run, &r, mem_limit, "timeout -k 5 20 %s info --output=json %s", strata, img);
  if (judge (run, "info-json", &r, info_codes) && r.rc == 0)
    {
      g_autoptr(JsonParser) parser = json_parser_new ();
      g_autoptr(GError) error = NULL;

      if (!json_parser_load_from_data (parser, r.out, -1, &error))
        fail (run, "info-json", "invalid JSON (%s):\n%s", error->message, r.out);
    }
  result_clear (&r);

  run_cmd (run, &r, mem_limit, "timeout -k 5 20 %s map --output=json %s", strata, img);
  if (judge (run, "map", &r, info_codes))
    check_untouched (run, "map");
  result_clear (&r);

  run_cmd (run, &r, mem_limit, "timeout -k 5 20 %s check %s", strata, img);
  if (judge (run, "check", &r, check_codes))
    {
      int qrc = (run->c->flags & F_QEMU_HANGS) ? 0 : qemu (run, "qemu-img check %s", img);

      if (r.rc == 0 && (qrc == 2 || qrc == 3))
        fail (run, "check", "says clean where qemu-img check exits %d", qrc);
      check_untouched (run, "check");
    }
  result_clear (&r);

  qemu_convert_rc = (run->c->flags & F_QEMU_HANGS) ? 1
                    : qemu (run, "qemu-img convert -O raw %s '%s'", img, qemu_raw);
  for (guint i = 0; i < 2; i++)
    {
      const char *fmt = i == 0 ? "raw" : "qcow2";
      g_autofree char *what = g_strdup_printf ("convert-%s", fmt);
      g_autofree char *out = g_strdup_printf ("%s/out.%s", run->dir, fmt);

      run_cmd (run, &r, mem_limit, "timeout -k 5 20 %s convert -O %s %s out.%s",
               strata, fmt, img, fmt);
      if (judge (run, what, &r, info_codes))
        {
          if (r.rc == 0)
            {
              if (run->c->flags & F_BAD_DATA)
                fail (run, what, "converted corrupt data without an error");
              if (!tu_file_exists (out))
                fail (run, what, "exit 0 but no out.%s", fmt);
              else if (qemu_convert_rc == 0 &&
                       tu_run (NULL, NULL, "qemu-img compare -q -f raw -F %s '%s' '%s'",
                               fmt, qemu_raw, out) != 0)
                fail (run, what, "the guest data differs from what qemu-img convert reads");
              else if (i == 1 && tu_run (NULL, NULL, "qemu-img check -q '%s'", out) != 0)
                fail (run, what, "qemu-img check finds errors in the output");
              g_unlink (out);
            }
          else if (qemu_convert_rc == 0 && (run->c->flags & F_MUST_FAIL) == 0)
            g_test_message ("%s/%s: Strata refuses what qemu-img converts: %s",
                            run->c->name, what, g_strstrip (r.err));
          check_untouched (run, what);
        }
      result_clear (&r);
    }
  g_unlink (qemu_raw);
}

static const char *
known_reason (const char *failure)
{
  for (guint i = 0; known_issues[i].what != NULL; i++)
    if (g_str_has_prefix (failure, known_issues[i].what) &&
        failure[strlen (known_issues[i].what)] == '|')
      return known_issues[i].reason;
  return NULL;
}

static void
test_case (gconstpointer data)
{
  const MalformedCase *c = data;
  g_autoptr(GString) incomplete = g_string_new (NULL);
  gboolean qemu_refuses;
  guint unexpected = 0;
  Run run = { 0 };

  run.c = c;
  run.dir = g_build_filename (tu_dir (), "cases", c->name, NULL);
  run.failures = g_ptr_array_new_with_free_func (g_free);
  run.skipped = g_ptr_array_new_with_free_func (g_free);
  {
    gboolean vmdk = c->base != NULL ? find_base (c->base)->vmdk
                    : c->setup != NULL && strstr (c->setup, "img.vmdk") != NULL;
    const char *img = c->image != NULL ? c->image : vmdk ? "img.vmdk" : "img.qcow2";

    run.image = g_build_filename (run.dir, img, NULL);
  }

  /* Until a driver lands, its images probe as raw and every verdict would be noise. */
  if (!(g_str_has_suffix (run.image, ".vmdk") ? vmdk_landed : qcow2_landed))
    {
      g_test_skip (g_str_has_suffix (run.image, ".vmdk") ? "the vmdk driver is not on main yet"
                   : "the qcow2 driver is not on main yet");
      g_ptr_array_unref (run.failures);
      g_ptr_array_unref (run.skipped);
      g_free (run.image);
      g_free (run.dir);
      return;
    }

  make_case_files (&run);
  run.sums = checksum_dir (run.dir);
  run.listing = tu_list_dir (run.dir);

  {
    g_autofree char *base = g_path_get_basename (run.image);

    int qrc = (c->flags & F_QEMU_HANGS) && c->base == NULL ? 0
              : qemu (&run, "qemu-img info %s", base);

    /* QEMU 7.2 itself crashes on some (LUKS without its header extension): no oracle. */
    qemu_refuses = qrc != 0 && qrc < 124;
  }

  check_engine (&run, qemu_refuses);
  check_untouched (&run, "engine");
  check_cli (&run, qemu_refuses);

  for (guint i = 0; i < run.failures->len; i++)
    {
      const char *f = run.failures->pdata[i];
      const char *reason = known_reason (f);

      g_test_message ("%s%s", reason ? "known issue: " : "", f);
      if (reason != NULL)
        g_string_append_printf (incomplete, "%s%s", incomplete->len ? "; " : "", reason);
      else
        unexpected++;
    }
  if (unexpected > 0)
    g_test_fail ();
  else if (incomplete->len > 0)
    g_test_incomplete (incomplete->str);
  else if (run.skipped->len > 0)
    {
      g_ptr_array_add (run.skipped, NULL);
      g_autofree char *list = g_strjoinv (", ", (char **) run.skipped->pdata);
      g_autofree char *msg = g_strdup_printf ("not implemented yet: %s", list);

      /* Partly run cases still pass; only a case where nothing ran is a skip. */
      if (run.skipped->len - 1 >= 7)
        g_test_skip (msg);
      else
        g_test_message ("%s: %s", c->name, msg);
    }

  g_hash_table_unref (run.sums);
  g_ptr_array_unref (run.failures);
  g_ptr_array_unref (run.skipped);
  g_free (run.listing);
  g_free (run.image);
  g_free (run.dir);
}

static void
make_bases (void)
{
  bases_dir = g_build_filename (tu_dir (), "bases", NULL);
  g_assert_cmpint (g_mkdir_with_parents (bases_dir, 0755), ==, 0);
  for (guint i = 0; i < G_N_ELEMENTS (bases); i++)
    g_free (tu_run_ok ("cd '%s' && %s", bases_dir, bases[i].make));

  {
    g_autofree char *q = g_build_filename (bases_dir, "b.qcow2", NULL);
    g_autofree char *v = g_build_filename (bases_dir, "bv.vmdk", NULL);

    qcow2_landed = g_strcmp0 (strata_probe_format (q, NULL), "qcow2") == 0;
    vmdk_landed = g_strcmp0 (strata_probe_format (v, NULL), "vmdk") == 0;
  }
  /* To debug the corpus itself before a driver lands. */
  if (g_strcmp0 (g_getenv ("STRATA_TEST_FORCE_DRIVERS"), "1") == 0)
    qcow2_landed = vmdk_landed = TRUE;
}

int
main (int argc, char **argv)
{
  tu_init (&argc, &argv);

  if (g_strcmp0 (g_getenv ("STRATA_TEST_SANITIZED"), "1") == 0)
    mem_limit = "";

  make_bases ();

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      gboolean vmdk = cases[i].base != NULL ? find_base (cases[i].base)->vmdk
                      : strstr (cases[i].setup, "img.vmdk") != NULL;
      /* Two halves, so that meson can run them on both cores. */
      g_autofree char *path = g_strdup_printf ("/malformed/%s/%s", vmdk ? "vmdk" : "qcow2",
                                               cases[i].name);

      g_test_add_data_func (path, &cases[i], test_case);
    }

  return g_test_run ();
}
