/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/*
 * The format-driver interface. Private to the engine: operations use the StrataImage API,
 * drivers fill in this table. A driver sees one layer; the chain logic lives in
 * strata-image.c.
 */

#include "strata-image.h"

G_BEGIN_DECLS

typedef struct _StrataDriver StrataDriver;

struct _StrataImage
{
  gatomicrefcount      ref_count;
  const StrataDriver  *driver;
  StrataFile          *file;            /* the image file (a VMDK descriptor for flat VMDK) */
  char                *filename;        /* as given by the caller */
  StrataOpenFlags      flags;
  guint64              virtual_size;
  char                *backing_name;    /* as stored, byte for byte; NULL if none */
  char                *backing_format;  /* as stored; NULL if none */
  char                *backing_path;    /* resolved; NULL if none */
  StrataImage         *backing;
  gboolean             in_use;          /* force-shared while another process holds it */
  gpointer             priv;            /* driver state */
};

struct _StrataDriver
{
  const char *name;

  /* Returns a score 0..100 that @buf (the first @len bytes of the file) is this format. */
  int       (*probe)          (const guint8 *buf, gsize len, const char *filename);

  /* Parses the header: sets virtual_size, backing_name/format and priv. self->file is open
   * (read-only, or read-write with STRATA_OPEN_WRITE). Errors name the file. */
  gboolean  (*open)           (StrataImage *self, GError **error);
  void      (*close)          (StrataImage *self);

  gboolean  (*block_status)   (StrataImage *self, guint64 offset, guint64 length,
                               StrataBlockStatus *status, GError **error);
  /* Reads a range that block_status reported as DATA in this layer. */
  gboolean  (*read)           (StrataImage *self, guint64 offset, gsize length, void *buf,
                               GError **error);
  void      (*fill_info)      (StrataImage *self, StrataImageInfo *info);

  /* Optional: writing. */
  gboolean  (*write)          (StrataImage *self, guint64 offset, gsize length,
                               const void *buf, GError **error);
  gboolean  (*write_zeroes)   (StrataImage *self, guint64 offset, guint64 length,
                               GError **error);
  /* Optional, for formats with backing files: zeroes that hide whatever backing lies below,
   * even a backing set later (see strata_image_write_zeroes_masking()). */
  gboolean  (*write_zeroes_masking) (StrataImage *self, guint64 offset, guint64 length,
                                     GError **error);
  gboolean  (*discard)        (StrataImage *self, guint64 offset, guint64 length,
                               GError **error);
  gboolean  (*write_compressed) (StrataImage *self, guint64 offset, const void *data,
                                 gsize length, GError **error);
  gboolean  (*flush)          (StrataImage *self, GError **error);
  gboolean  (*truncate)       (StrataImage *self, guint64 size, GError **error);
  gboolean  (*set_backing)    (StrataImage *self, const char *name, const char *format,
                               GError **error);
  /* Clean close of a writable image (write back caches, clear the dirty bit). */
  gboolean  (*close_clean)    (StrataImage *self, GError **error);
  guint64   (*get_cluster_size) (StrataImage *self);
  StrataCompression (*get_compression) (StrataImage *self);
  /* Optional: adds every file this layer reads besides self->file (VMDK extents) to @files
   * (StrataFile *, not referenced). */
  void      (*list_files)     (StrataImage *self, GPtrArray *files);
};

extern const StrataDriver strata_raw_driver;
extern const StrataDriver strata_qcow2_driver;
extern const StrataDriver strata_vmdk_driver;

G_END_DECLS
