/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-img.h"
#include "strata-img-output.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

enum
{
  OPT_OUTPUT = STRATA_IMG_OPT_FIRST_OWN,
  OPT_START_OFFSET,
  OPT_MAX_LENGTH,
};

/* One line of `qemu-img map`. */
typedef struct
{
  guint64     start;
  guint64     length;
  int         depth;
  gboolean    present;
  gboolean    zero;
  gboolean    data;
  gboolean    has_offset;
  guint64     offset;
  const char *filename; /* the file holding the bytes when the offset is known */
} MapEntry;

static gboolean
entry_from_status (MapEntry                *e,
                   guint64                  start,
                   const StrataChainStatus *st,
                   GError                 **error)
{
  gboolean is_vmdk;

  memset (e, 0, sizeof *e);
  e->start = start;
  e->length = st->length;
  e->depth = st->depth;
  /* A range no layer has reads as zeros: qemu-img shows it as zero, not present. */
  e->present = st->kind != STRATA_BLOCK_UNALLOCATED;
  e->zero = st->kind != STRATA_BLOCK_DATA;
  e->data = st->kind == STRATA_BLOCK_DATA;
  /* A hole in a VMDK flat extent: the format calls it data, the extent file below calls it
   * zero, and qemu-img shows both. A raw hole lies in the image file itself: data false. */
  if (st->kind == STRATA_BLOCK_ZERO && st->has_host_offset && st->layer != NULL &&
      st->host_file != NULL && st->host_file != strata_image_get_file (st->layer))
    e->data = TRUE;
  e->has_offset = st->has_host_offset;
  e->offset = st->host_offset;
  if (st->has_host_offset && st->host_file != NULL)
    e->filename = strata_file_get_path (st->host_file);

  /* QEMU asks the file under a flat VMDK extent (not under the grains of a sparse one: a
   * VMDK of flat extents only has no grain size) (and under a qcow2 image it takes for
   * metadata-preallocated) whether the bytes are a hole and then reports them as data that
   * reads as zeros ("zero": true, "data": true); do the same so the runs match. A zero run
   * with a host offset in a VMDK is such a hole (zeroed grains of sparse extents have no
   * offset). */
  if (!st->has_host_offset || st->host_file == NULL || st->compressed || st->layer == NULL)
    return TRUE;
  is_vmdk = strcmp (strata_image_get_format (st->layer), "vmdk") == 0;

  if (is_vmdk && st->kind == STRATA_BLOCK_ZERO)
    e->data = TRUE;
  else if (st->kind == STRATA_BLOCK_DATA &&
           ((is_vmdk && strata_image_get_cluster_size (st->layer) == 0) || st->recurse))
    {
      gboolean is_data;
      guint64 pnum;

      if (!strata_file_seek_data (st->host_file, st->host_offset, st->length, &is_data, &pnum,
                                  error))
        return FALSE;
      e->zero = !is_data;
      e->length = MAX (MIN (pnum, st->length), 1);
    }
  return TRUE;
}

/* qemu-img merges the next run into the current one when nothing but the length (and a
 * host offset that continues exactly) would differ. */
static gboolean
entry_mergeable (const MapEntry *curr,
                 const MapEntry *next)
{
  if (curr->length == 0)
    return FALSE;
  if (curr->zero != next->zero || curr->data != next->data || curr->depth != next->depth ||
      curr->present != next->present || (curr->filename != NULL) != (next->filename != NULL) ||
      curr->has_offset != next->has_offset)
    return FALSE;
  if (curr->filename != NULL && strcmp (curr->filename, next->filename) != 0)
    return FALSE;
  if (curr->has_offset && curr->offset + curr->length != next->offset)
    return FALSE;
  return TRUE;
}

static gboolean
dump_entry (GString        *out,
            gboolean        json,
            const MapEntry *e,
            MapEntry       *next,
            const char     *image)
{
  if (!json)
    {
      if (e->data && !e->has_offset)
        {
          strata_img_error ("%s: File contains external, encrypted or compressed clusters.",
                            image);
          return FALSE;
        }
      if (e->data && !e->zero)
        {
          char a[32], b[32], c[32];

          /* printf's "%#x" prints 0 without the 0x prefix; so does qemu-img. */
          g_snprintf (a, sizeof a, "%#" G_GINT64_MODIFIER "x", e->start);
          g_snprintf (b, sizeof b, "%#" G_GINT64_MODIFIER "x", e->length);
          g_snprintf (c, sizeof c, "%#" G_GINT64_MODIFIER "x", e->has_offset ? e->offset : 0);
          g_string_append_printf (out, "%-16s%-16s%-16s%s\n", a, b, c,
                                  e->filename ? e->filename : "");
        }
      /* The table does not tell zero from unallocated, so let those runs merge. */
      if (next != NULL && (!next->data || next->zero))
        {
          next->data = FALSE;
          next->zero = TRUE;
        }
      return TRUE;
    }

  g_string_append_printf (out,
                          "{ \"start\": %" G_GUINT64_FORMAT ", \"length\": %" G_GUINT64_FORMAT
                          ", \"depth\": %d, \"present\": %s, \"zero\": %s, \"data\": %s",
                          e->start, e->length, e->depth, e->present ? "true" : "false",
                          e->zero ? "true" : "false", e->data ? "true" : "false");
  if (e->has_offset)
    g_string_append_printf (out, ", \"offset\": %" G_GUINT64_FORMAT, e->offset);
  g_string_append_c (out, '}');
  if (next != NULL)
    g_string_append (out, ",\n");
  return TRUE;
}

static void
usage (FILE *out)
{
  fprintf (out, "Usage: strata-img map [-f FMT] [-U] [--start-offset=OFFSET] "
                "[--max-length=LEN] [--output=human|json] FILE\n");
}

int
strata_img_map (int argc, char **argv)
{
  static const struct option long_options[] = {
    { "help", no_argument, NULL, 'h' },
    { "format", required_argument, NULL, 'f' },
    { "output", required_argument, NULL, OPT_OUTPUT },
    { "force-share", no_argument, NULL, 'U' },
    { "start-offset", required_argument, NULL, OPT_START_OFFSET },
    { "max-length", required_argument, NULL, OPT_MAX_LENGTH },
    { "image-opts", no_argument, NULL, STRATA_IMG_OPT_IMAGE_OPTS },
    { NULL, 0, NULL, 0 },
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(StrataImage) image = NULL;
  g_autoptr(GString) out = g_string_new (NULL);
  StrataOpenFlags flags = STRATA_OPEN_READ_ONLY;
  const char *format = NULL;
  const char *filename;
  gboolean json = FALSE;
  guint64 start = 0;
  guint64 max_length = G_MAXUINT64;
  guint64 end;
  MapEntry curr = { 0 };
  MapEntry next;
  int c;

  while ((c = getopt_long (argc, argv, ":hf:U", long_options, NULL)) != -1)
    {
      switch (c)
        {
        case 'h':
          usage (stdout);
          return 0;
        case 'f':
          format = optarg;
          break;
        case 'U':
          flags |= STRATA_OPEN_FORCE_SHARE;
          break;
        case OPT_OUTPUT:
          if (!strata_img_parse_output (optarg, &json))
            return 1;
          break;
        case OPT_START_OFFSET:
          if (!strata_img_parse_size (optarg, &start))
            {
              strata_img_error ("Invalid start offset specified! You may use k, M, G, T, P "
                                "or E suffixes for");
              return 1;
            }
          break;
        case OPT_MAX_LENGTH:
          if (!strata_img_parse_size (optarg, &max_length))
            {
              strata_img_error ("Invalid length specified! You may use k, M, G, T, P or E "
                                "suffixes for");
              return 1;
            }
          break;
        default:
          return strata_img_bad_option (c, argv, usage);
        }
    }

  if (!(filename = strata_img_one_file (argc, argv, usage)))
    return 1;

  if (!(image = strata_image_open (filename, format, flags, &error)))
    {
      strata_img_report_open_error (filename, error);
      return 1;
    }

  end = strata_image_get_size (image);
  if (max_length < end - MIN (start, end))
    end = start + max_length;

  if (json)
    g_string_append_c (out, '[');
  else
    g_string_append_printf (out, "%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to",
                            "File");

  curr.start = start;
  while (curr.start + curr.length < end)
    {
      guint64 offset = curr.start + curr.length;
      StrataChainStatus st;

      if (!strata_image_chain_status (image, offset, end - offset, &st, &error))
        {
          strata_img_report_error (filename, error);
          return 1;
        }
      if (!entry_from_status (&next, offset, &st, &error))
        {
          strata_img_report_error (filename, error);
          return 1;
        }

      if (entry_mergeable (&curr, &next))
        {
          curr.length += next.length;
          continue;
        }

      if (curr.length > 0 && !dump_entry (out, json, &curr, &next, filename))
        {
          fwrite (out->str, 1, out->len, stdout);
          return 1;
        }
      curr = next;
    }

  /* Like qemu-img, the last run is printed even when empty (an image of size 0). */
  if (!dump_entry (out, json, &curr, NULL, filename))
    {
      fwrite (out->str, 1, out->len, stdout);
      return 1;
    }
  if (json)
    g_string_append (out, "]\n");

  fwrite (out->str, 1, out->len, stdout);
  return fflush (stdout) == 0 ? 0 : 1;
}
