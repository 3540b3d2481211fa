/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-create.h"
#include "strata-size.h"
#include "strata-target.h"
#include "strata-driver.h"
#include "strata-error.h"
#include "strata-qcow2-private.h"
#include "strata-qcow2-prealloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

/*
 * qcow2 creation with qemu-img's options and defaults. The layout is qemu-img's: header in
 * cluster 0, refcount table from cluster 1, refcount blocks after it, then the L1 table.
 */

gboolean
strata_prealloc_from_string (const char     *value,
                             StrataPrealloc *mode)
{
  static const char *const modes[] = { "off", "metadata", "falloc", "full", NULL };

  g_return_val_if_fail (mode != NULL, FALSE);

  for (guint m = 0; value != NULL && modes[m] != NULL; m++)
    if (strcmp (value, modes[m]) == 0)
      {
        *mode = (StrataPrealloc) m;
        return TRUE;
      }
  return FALSE;
}

gboolean
strata_raw_preallocate (StrataFile      *file,
                        StrataPrealloc   mode,
                        guint64          from,
                        guint64          to,
                        GError         **error)
{
  g_return_val_if_fail (file != NULL, FALSE);
  g_return_val_if_fail (from <= to, FALSE);

  if (mode == STRATA_PREALLOC_FALLOC && to > from)
    {
      int r = posix_fallocate (strata_file_get_fd (file), (off_t) from, (off_t) (to - from));

      if (r != 0)
        {
          g_set_error_literal (error, STRATA_ERROR, STRATA_ERROR_IO, g_strerror (r));
          return FALSE;
        }
    }
  else if (mode == STRATA_PREALLOC_FULL)
    {
      g_autofree guint8 *zeros = g_malloc0 (1024 * 1024);

      for (guint64 off = from; off < to; off += 1024 * 1024)
        if (!strata_file_pwrite (file, zeros, MIN (1024 * 1024, to - off), off, error))
          return FALSE;
    }
  return TRUE;
}

void
strata_create_options_init (StrataCreateOptions *opts)
{
  memset (opts, 0, sizeof *opts);
  opts->cluster_size = 65536;
  opts->compat = 3;
  opts->refcount_bits = 16;
  opts->compression_type = STRATA_COMPRESSION_ZLIB;
}

static gboolean
parse_size (const char *value,
            guint64    *out)
{
  return strata_parse_size (value, out, NULL) == STRATA_SIZE_OK;
}

#define SIZE_EXPECTED \
  "expects a non-negative number below 2^64\n" \
  "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n" \
  "and exabytes, respectively."

static gboolean
parse_bool (const char *value,
            gboolean   *out)
{
  if (value == NULL || g_str_equal (value, "on") || g_str_equal (value, "true"))
    *out = TRUE;
  else if (g_str_equal (value, "off") || g_str_equal (value, "false"))
    *out = FALSE;
  else
    return FALSE;
  return TRUE;
}

GPtrArray *
strata_create_options_split (const char *options)
{
  GPtrArray *items = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GString) cur = g_string_new (NULL);

  if (options == NULL)
    return items;

  /* qemu's option syntax: "," separates, ",," is a literal comma. */
  for (const char *p = options; ; p++)
    {
      if (*p == ',' && p[1] == ',')
        {
          g_string_append_c (cur, ',');
          p++;
        }
      else if (*p == ',' || *p == '\0')
        {
          if (cur->len > 0)
            g_ptr_array_add (items, g_strdup (cur->str));
          g_string_truncate (cur, 0);
          if (*p == '\0')
            break;
        }
      else
        g_string_append_c (cur, *p);
    }

  return items;
}

gboolean
strata_create_options_parse (StrataCreateOptions  *opts,
                             const char           *options,
                             GError              **error)
{
  g_autoptr(GPtrArray) items = NULL;

  g_return_val_if_fail (opts != NULL, FALSE);

  items = strata_create_options_split (options);

  for (guint i = 0; i < items->len; i++)
    {
      char *item = g_ptr_array_index (items, i);
      char *value = strchr (item, '=');
      const char *key = item;
      gboolean ok = TRUE;
      /* qemu-img's explanation of a value it does not take (see the end of the loop). */
      const char *expects = NULL;

      if (value != NULL)
        *value++ = '\0';

      if (g_str_equal (key, "size"))
        {
          ok = parse_size (value, &opts->size) && (opts->has_size = TRUE);
          expects = SIZE_EXPECTED;
        }
      else if (g_str_equal (key, "cluster_size"))
        {
          guint64 v = 0;

          ok = parse_size (value, &v);
          /* Too large is the power-of-two check's business, as in qemu-img. */
          opts->cluster_size = v <= G_MAXUINT ? v : 3;
          expects = SIZE_EXPECTED;
        }
      else if (g_str_equal (key, "compat"))
        {
          if (g_strcmp0 (value, "0.10") == 0 || g_strcmp0 (value, "v2") == 0)
            opts->compat = 2;
          else if (g_strcmp0 (value, "1.1") == 0 || g_strcmp0 (value, "v3") == 0)
            opts->compat = 3;
          else
            ok = FALSE;
          key = "version";
        }
      else if (g_str_equal (key, "refcount_bits"))
        {
          guint64 v = 0;

          ok = value != NULL && g_ascii_string_to_unsigned (value, 10, 0, G_MAXUINT64, &v,
                                                            NULL);
          /* Any number is taken; the width check explains what is wrong with it. */
          opts->refcount_bits = v <= 64 ? v : 3;
          expects = "expects a number";
        }
      else if (g_str_equal (key, "lazy_refcounts"))
        {
          ok = parse_bool (value, &opts->lazy_refcounts);
          expects = "expects 'on' or 'off'";
        }
      else if (g_str_equal (key, "extended_l2"))
        {
          ok = parse_bool (value, &opts->extended_l2);
          expects = "expects 'on' or 'off'";
        }
      else if (g_str_equal (key, "compression_type"))
        {
          if (g_strcmp0 (value, "zlib") == 0)
            opts->compression_type = STRATA_COMPRESSION_ZLIB;
          else if (g_strcmp0 (value, "zstd") == 0)
            opts->compression_type = STRATA_COMPRESSION_ZSTD;
          else
            ok = FALSE;
          key = "compression-type";
        }
      else if (g_str_equal (key, "backing_file"))
        opts->backing_file = value != NULL ? g_intern_string (value) : NULL;
      else if (g_str_equal (key, "backing_fmt"))
        opts->backing_format = value != NULL ? g_intern_string (value) : NULL;
      else if (g_str_equal (key, "preallocation"))
        {
          ok = strata_prealloc_from_string (value, &opts->preallocation);
        }
      else if (g_str_equal (key, "encryption") &&
               (g_strcmp0 (value, "off") == 0 || g_strcmp0 (value, "false") == 0))
        ; /* not encrypted: what we create anyway */
      else if (g_str_equal (key, "encryption") || g_str_has_prefix (key, "encrypt"))
        {
          g_set_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED,
                       "creating encrypted images is not supported (option \"%s\")", key);
          return FALSE;
        }
      else
        {
          g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                       "invalid option \"%s\" for the qcow2 format", key);
          return FALSE;
        }

      /* In qemu-img's words: they name the option and what it takes. */
      if (!ok && expects != NULL)
        {
          g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                       "Parameter '%s' %s", key, expects);
          return FALSE;
        }
      if (!ok)
        {
          g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                       "Parameter '%s' does not accept value '%s'", key,
                       value != NULL ? value : "");
          return FALSE;
        }
    }

  return TRUE;
}

static gboolean
check_options (const char                *filename,
               const StrataCreateOptions *opts,
               GError                   **error)
{
  const char *why = NULL;

  if (opts->cluster_size < 512 || opts->cluster_size > 2 * 1024 * 1024 ||
      (opts->cluster_size & (opts->cluster_size - 1)) != 0)
    why = "Cluster size must be a power of two between 512 and 2048k";
  else if (opts->compat != 2 && opts->compat != 3)
    why = "compat must be 0.10 or 1.1";
  else if (opts->refcount_bits == 0 || opts->refcount_bits > 64 ||
           (opts->refcount_bits & (opts->refcount_bits - 1)) != 0)
    why = "Refcount width must be a power of two and may not exceed 64 bits";
  else if (opts->compat < 3 && opts->refcount_bits != 16)
    why = "Different refcount widths than 16 bits require compatibility level 1.1 or above "
          "(use version=v3 or greater)";
  else if (opts->compat < 3 && opts->lazy_refcounts)
    why = "Lazy refcounts only supported with compatibility level 1.1 and above "
          "(use version=v3 or greater)";
  else if (opts->compat < 3 && opts->extended_l2)
    why = "Extended L2 entries are only supported with compatibility level 1.1 and above "
          "(use version=v3 or greater)";
  else if (opts->compat < 3 && opts->compression_type != STRATA_COMPRESSION_ZLIB)
    why = "Non-zlib compression type is only supported with compatibility level 1.1 and "
          "above (use version=v3 or greater)";
  else if (opts->extended_l2 && opts->cluster_size < 16384)
    why = "Extended L2 entries are only supported with cluster sizes of at least 16384 "
          "bytes";
  else if (opts->backing_file != NULL && strlen (opts->backing_file) > QCOW2_MAX_BACKING_NAME)
    why = "the backing file name is longer than 1023 bytes";
  else if (opts->backing_file != NULL && opts->preallocation != STRATA_PREALLOC_OFF &&
           !opts->extended_l2)
    why = "Backing file and preallocation can only be used at the same time if extended_l2 "
          "is on";
  else if (opts->backing_file == NULL && opts->backing_format != NULL)
    why = "Backing format cannot be used without backing file";
  else if (opts->backing_file == NULL && !opts->has_size)
    why = "Image creation needs a size parameter";

  if (why != NULL && filename == NULL)
    {
      g_set_error_literal (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT, why);
      return FALSE;
    }
  if (why != NULL)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT, "%s: %s", filename,
                   why);
      return FALSE;
    }
  return TRUE;
}

gboolean
strata_create_options_check (const StrataCreateOptions *opts,
                             GError                   **error)
{
  StrataCreateOptions sized;

  g_return_val_if_fail (opts != NULL, FALSE);

  /* The size is the caller's business (convert takes the source's). */
  sized = *opts;
  sized.has_size = TRUE;
  return check_options (NULL, &sized, error);
}

static guint
log2_of (guint64 v)
{
  guint n = 0;

  while ((1ull << n) < v)
    n++;
  return n;
}

/* Fills in the backing format (probed) and the size (from the backing) when not given. */
static gboolean
resolve_backing (const char                *filename,
                 const StrataCreateOptions *opts,
                 char                     **format,
                 guint64                   *size,
                 GError                   **error)
{
  g_autofree char *path = NULL;
  g_autoptr(StrataImage) backing = NULL;
  g_autoptr(GError) local_error = NULL;

  *format = g_strdup (opts->backing_format);
  *size = opts->size;
  if (opts->backing_file == NULL || (*format != NULL && opts->has_size))
    return TRUE;

  path = strata_resolve_backing_name (filename, opts->backing_file, error);
  if (path == NULL)
    return FALSE;

  backing = strata_image_open (path, *format, STRATA_OPEN_READ_ONLY | STRATA_OPEN_NO_BACKING |
                               STRATA_OPEN_FORCE_SHARE, &local_error);
  if (backing == NULL)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_BACKING,
                   "%s: could not open the backing file \"%s\": %s", filename,
                   opts->backing_file, local_error->message);
      return FALSE;
    }

  if (*format == NULL)
    *format = g_strdup (strata_image_get_format (backing));
  if (!opts->has_size)
    *size = strata_image_get_size (backing);
  return TRUE;
}

gboolean
strata_create_qcow2_in_file (StrataFile                *file,
                             const StrataCreateOptions *opts,
                             GError                   **error)
{
  const char *filename;
  g_autofree char *backing_format = NULL;
  g_autoptr(GByteArray) header = NULL;
  g_autofree guint8 *table = NULL;
  g_autofree guint8 *block = NULL;
  Qcow2State s = { 0 };
  guint64 size, cs, l2_entries, per_l1, l1_size, l1_clusters, epb;
  guint64 rt_clusters = 1, rb_count = 1, total;

  g_return_val_if_fail (file != NULL, FALSE);
  g_return_val_if_fail (opts != NULL, FALSE);

  filename = strata_file_get_path (file);
  if (!check_options (filename, opts, error) ||
      !resolve_backing (filename, opts, &backing_format, &size, error))
    return FALSE;

  /* qemu-img rounds the size up to whole sectors. */
  if (size > G_MAXUINT64 - 511)
    size = G_MAXUINT64;
  size = (size + 511) & ~511ull;

  cs = opts->cluster_size;
  l2_entries = cs / (opts->extended_l2 ? 16 : 8);
  per_l1 = cs * l2_entries;
  l1_size = size / per_l1 + (size % per_l1 != 0);
  if (l1_size > QCOW2_MAX_L1_BYTES / 8)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                   "%s: the image size is too large for a cluster size of %u", filename,
                   opts->cluster_size);
      return FALSE;
    }
  l1_clusters = (l1_size * 8 + cs - 1) / cs;

  /* Refcount table and blocks large enough to count themselves and everything else. */
  epb = cs * 8 / opts->refcount_bits;
  for (;;)
    {
      guint64 need_rb, need_rt;

      total = 1 + rt_clusters + rb_count + l1_clusters;
      need_rb = (total + epb - 1) / epb;
      need_rt = (need_rb * 8 + cs - 1) / cs;
      if (need_rb <= rb_count && need_rt <= rt_clusters)
        break;
      rb_count = MAX (rb_count, need_rb);
      rt_clusters = MAX (rt_clusters, need_rt);
    }
  if (rt_clusters * cs > QCOW2_MAX_REFTABLE_BYTES)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                   "%s: the image size is too large for these options", filename);
      return FALSE;
    }

  s.filename = filename;
  s.version = opts->compat;
  s.cluster_bits = log2_of (cs);
  s.cluster_size = cs;
  s.l1_size = l1_size;
  s.refcount_table_offset = cs;
  s.refcount_table_clusters = rt_clusters;
  s.l1_table_offset = (1 + rt_clusters + rb_count) * cs;
  s.refcount_order = log2_of (opts->refcount_bits);
  s.compression = opts->compression_type;
  if (opts->extended_l2)
    s.incompatible_features |= QCOW2_INCOMPAT_EXTL2;
  if (opts->compression_type != STRATA_COMPRESSION_ZLIB)
    s.incompatible_features |= QCOW2_INCOMPAT_COMPRESSION;
  if (opts->lazy_refcounts)
    s.compatible_features |= QCOW2_COMPAT_LAZY_REFCOUNTS;

  if (opts->preallocation != STRATA_PREALLOC_OFF)
    return qcow2_create_preallocated (file, &s, size, opts->backing_file,
                                      opts->backing_file != NULL ? backing_format : NULL,
                                      opts->preallocation, error);

  header = qcow2_build_header (&s, size, opts->backing_file,
                               opts->backing_file != NULL ? backing_format : NULL, error);
  if (header == NULL)
    return FALSE;

  /* Refcount table, then the blocks (all clusters of the layout have refcount 1). */
  table = g_malloc0 (rt_clusters * cs);
  for (guint64 i = 0; i < rb_count; i++)
    qcow2_stq (table + i * 8, (1 + rt_clusters + i) * cs);

  block = g_malloc0 (rb_count * cs);
  for (guint64 c = 0; c < total; c++)
    {
      guint64 bit = c * opts->refcount_bits;

      /* A refcount of 1: the lowest bit of the entry, big-endian for wide entries. */
      if (opts->refcount_bits < 8)
        block[bit / 8] |= 1u << (bit % 8);
      else
        block[(bit + opts->refcount_bits) / 8 - 1] = 1;
    }

  if (!strata_file_pwrite (file, header->data, header->len, 0, error) ||
      !strata_file_pwrite (file, table, rt_clusters * cs, cs, error) ||
      !strata_file_pwrite (file, block, rb_count * cs, (1 + rt_clusters) * cs, error) ||
      !strata_file_truncate (file, s.l1_table_offset + l1_size * 8, error) ||
      !strata_file_flush (file, error))
    return FALSE;

  return TRUE;
}

gboolean
strata_create_qcow2 (const char                *filename,
                     const StrataCreateOptions *opts,
                     GError                   **error)
{
  g_autoptr(StrataFile) file = NULL;
  guint mode = 0;

  g_return_val_if_fail (filename != NULL, FALSE);
  g_return_val_if_fail (opts != NULL, FALSE);

  if (!strata_target_check_replace (filename, NULL, &mode, error))
    return FALSE;

  file = strata_file_create_temp (filename, error);
  if (file == NULL)
    return FALSE;
  strata_target_apply_mode (file, mode);

  if (!strata_create_qcow2_in_file (file, opts, error) ||
      !strata_file_commit_rename (file, filename, error))
    {
      strata_file_unlink (file);
      if (error != NULL && *error != NULL)
        {
          /* Name the file the user asked for, not our temporary one. */
          const char *tmp = strata_file_get_path (file);
          char *pos = strstr ((*error)->message, tmp);

          if (pos != NULL)
            {
              g_autofree char *msg = g_strconcat (filename, pos + strlen (tmp), NULL);

              g_free ((*error)->message);
              (*error)->message = g_steal_pointer (&msg);
            }
        }
      return FALSE;
    }

  return TRUE;
}
