/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

#include "strata-image.h"

G_BEGIN_DECLS

/*
 * One qcow2 cluster at a time, in the exact shapes QEMU reads: raw deflate (no zlib header,
 * which QEMU inflates in one call per cluster) or one zstd frame per cluster. A compressor
 * keeps its state between calls and is used by one thread at a time; the convert pipeline
 * gives each worker thread its own.
 */
typedef struct _StrataCompressor StrataCompressor;

/* The deflate level used when the caller does not ask for one. On 64 KiB clusters of real
 * Debian files libdeflate level 2 gives 4.7% less output than QEMU's zlib level 6 (4 KiB
 * window) at 3.3x its speed per core; level 1 is 1.8x faster still but only 2.3% smaller,
 * level 3 1% smaller and 10% slower (tests/bench/README.md has the table). */
#define STRATA_DEFLATE_DEFAULT_LEVEL 2
/* QEMU uses zstd's default level; matching it keeps the output no larger than qemu-img's. */
#define STRATA_ZSTD_DEFAULT_LEVEL    3

/* @level <= 0 selects the default level of @type. */
StrataCompressor *strata_compressor_new      (StrataCompression  type,
                                              int                level);
/* Deflate inside a zlib stream (2-byte header, Adler-32 trailer): the shape of the grains of
 * a streamOptimized VMDK, which QEMU and VMware inflate with zlib's uncompress(). */
StrataCompressor *strata_compressor_new_zlib (int                level);
/* The most bytes a zlib-stream compressor can produce from @len bytes: a destination this
 * large never makes strata_compressor_compress() fail. */
gsize             strata_compress_zlib_bound (gsize              len);
void              strata_compressor_free     (StrataCompressor  *self);
StrataCompression strata_compressor_get_type (StrataCompressor  *self);

/* Compresses @src into @dst. Returns the compressed length, or 0 when it does not fit in
 * @dst_size bytes (pass cluster_size - 1 to get QEMU's rule: a cluster that does not shrink
 * is stored uncompressed). */
gsize             strata_compressor_compress (StrataCompressor  *self,
                                              const void        *src,
                                              gsize              src_len,
                                              void              *dst,
                                              gsize              dst_size);

/* Decompresses one cluster as QEMU does: exactly @dst_len bytes must come out of @src;
 * bytes after the end of the stream in @src (sector padding) are ignored. */
gboolean          strata_decompress          (StrataCompression  type,
                                              const void        *src,
                                              gsize              src_len,
                                              void              *dst,
                                              gsize              dst_len);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (StrataCompressor, strata_compressor_free)

G_END_DECLS
