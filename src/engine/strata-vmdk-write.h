/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

#include "strata-file.h"

G_BEGIN_DECLS

/*
 * Writing a new VMDK, one pass in guest order, for convert: a hosted sparse extent with the
 * descriptor embedded, either monolithicSparse (grain tables preallocated at the front, as
 * VMware and QEMU create them, so either can later write to it) or streamOptimized
 * (zlib-compressed grains with markers, grain tables after their grains, the grain
 * directory, footer and end-of-stream marker at the end, as VMware's specification has it).
 *
 * The grain size is always 64 KiB, as qemu-img writes it.
 */

#define STRATA_VMDK_GRAIN_SIZE 65536

typedef enum
{
  STRATA_VMDK_MONOLITHIC_SPARSE,
  STRATA_VMDK_STREAM_OPTIMIZED,
} StrataVmdkSubformat;

typedef enum
{
  STRATA_VMDK_ADAPTER_IDE,
  STRATA_VMDK_ADAPTER_LSILOGIC,
  STRATA_VMDK_ADAPTER_BUSLOGIC,
  STRATA_VMDK_ADAPTER_LEGACY_ESX,
} StrataVmdkAdapter;

/* VMDK creation options; defaults are qemu-img's. */
typedef struct
{
  StrataVmdkSubformat subformat;  /* default monolithicSparse */
  StrataVmdkAdapter   adapter;    /* default ide */
  guint               hwversion;  /* ddb.virtualHWVersion; default 4 */
  /* A child of a VMDK parent: the parent's CID and the name the child records for it
   * (parentFileNameHint, as given, relative to the child's folder); NULL: no parent. */
  guint32             parent_cid;  /* default 0xffffffff */
  const char         *parent_hint;
} StrataVmdkOptions;

void     strata_vmdk_options_init  (StrataVmdkOptions *opts);
/* Parses qemu-img's "-o" options for vmdk: subformat=, adapter_type=, hwversion=,
 * compat6= (hwversion 6) and preallocation=off. */
gboolean strata_vmdk_options_parse (StrataVmdkOptions *opts,
                                    const char        *options,
                                    GError           **error);
const char *strata_vmdk_subformat_name (StrataVmdkSubformat subformat);

/* The largest virtual size a sparse extent can address: 32-bit sector offsets. */
#define STRATA_VMDK_MAX_SIZE (G_GUINT64_CONSTANT (0xffffffff) * 512)

/* Bytes the file takes before the first grain (header, descriptor, and for
 * monolithicSparse the grain directories and tables); 0 if @size is too large. */
guint64  strata_vmdk_metadata_size (guint64                  size,
                                    const StrataVmdkOptions *opts);

typedef struct _StrataVmdkWriter StrataVmdkWriter;

/* Writes the header and descriptor into the empty writable @file. @extent_name is the name
 * the descriptor gives the extent (the final file's base name, not a temporary one). The
 * virtual size is @size rounded up to whole sectors. @level is the deflate level of grains
 * the writer compresses itself (<= 0: the default). */
StrataVmdkWriter *strata_vmdk_writer_new   (StrataFile              *file,
                                            const char              *extent_name,
                                            guint64                  size,
                                            const StrataVmdkOptions *opts,
                                            int                      level,
                                            GError                 **error);
void              strata_vmdk_writer_free  (StrataVmdkWriter        *self);
gboolean          strata_vmdk_writer_is_compressed (StrataVmdkWriter *self);

/* Stores whole grains from @offset (grain-aligned, after every grain written before):
 * @len is a multiple of the grain size, except that the last grain of the disk may be cut
 * at the virtual size. A streamOptimized writer compresses them here. */
gboolean          strata_vmdk_writer_write (StrataVmdkWriter        *self,
                                            guint64                  offset,
                                            const void              *buf,
                                            gsize                    len,
                                            GError                 **error);
/* Stores one grain at @offset already compressed into a zlib stream (streamOptimized). */
gboolean          strata_vmdk_writer_write_compressed (StrataVmdkWriter *self,
                                                       guint64           offset,
                                                       const void       *data,
                                                       gsize             len,
                                                       GError          **error);
/* Writes the remaining grain tables (and for streamOptimized the grain directory, footer
 * and end-of-stream marker) and flushes the file. */
gboolean          strata_vmdk_writer_finish (StrataVmdkWriter       *self,
                                             GError                **error);

/* Writes an empty image into the empty writable @file, in the shape qemu-img creates: a
 * streamOptimized one gets the grain directories and tables of monolithicSparse up front
 * and no footer, so that QEMU can append grains to it (the writer's own stream layout,
 * with a footer, is one QEMU can only read). */
gboolean          strata_vmdk_create_empty (StrataFile              *file,
                                            const char              *extent_name,
                                            guint64                  size,
                                            const StrataVmdkOptions *opts,
                                            GError                 **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (StrataVmdkWriter, strata_vmdk_writer_free)

G_END_DECLS
