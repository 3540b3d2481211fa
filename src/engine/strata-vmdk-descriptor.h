/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * The text descriptor of a VMDK image ("# Disk DescriptorFile"): a separate small file for
 * the flat and split formats, or embedded in a sparse file. This parser only checks syntax;
 * the driver decides what is supported. It takes a plain buffer so it can be fuzzed alone.
 */

typedef enum
{
  STRATA_VMDK_ACCESS_RW,
  STRATA_VMDK_ACCESS_RDONLY,
  STRATA_VMDK_ACCESS_NOACCESS,
} StrataVmdkAccess;

typedef enum
{
  STRATA_VMDK_EXTENT_SPARSE,
  STRATA_VMDK_EXTENT_FLAT,
  STRATA_VMDK_EXTENT_ZERO,
  STRATA_VMDK_EXTENT_VMFS,
  STRATA_VMDK_EXTENT_VMFSSPARSE,
  STRATA_VMDK_EXTENT_SESPARSE,
  STRATA_VMDK_EXTENT_OTHER,
} StrataVmdkExtentType;

typedef struct
{
  StrataVmdkAccess     access;
  guint64              sectors;   /* > 0 */
  StrataVmdkExtentType type;
  char                *type_name; /* as written: "SPARSE", "FLAT", ... */
  char                *filename;  /* as written, between the quotes; NULL for ZERO */
  guint64              offset;    /* in sectors; FLAT only */
  guint                line;      /* 1-based, for messages */
} StrataVmdkExtentDesc;

typedef struct
{
  gboolean   has_cid;
  guint32    cid;
  gboolean   has_parent_cid;
  guint32    parent_cid;
  char      *create_type;   /* NULL if absent */
  char      *parent_hint;   /* parentFileNameHint, byte for byte; NULL if absent */
  GPtrArray *extents;       /* of StrataVmdkExtentDesc */
} StrataVmdkDescriptor;

/* Longest parentFileNameHint accepted (QEMU's limit for a backing name). */
#define STRATA_VMDK_MAX_PARENT_HINT 1023
/* More extents than this is not a disk anyone made on purpose. */
#define STRATA_VMDK_MAX_EXTENTS 4096

/* Parses @len bytes of @buf (a NUL byte ends the text early, as in a sparse file's padded
 * descriptor area). Errors are STRATA_ERROR_CORRUPT and start with @filename. */
StrataVmdkDescriptor *strata_vmdk_descriptor_parse (const char  *buf,
                                                    gsize        len,
                                                    const char  *filename,
                                                    GError     **error);
void                  strata_vmdk_descriptor_free  (StrataVmdkDescriptor *desc);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (StrataVmdkDescriptor, strata_vmdk_descriptor_free)

G_END_DECLS
