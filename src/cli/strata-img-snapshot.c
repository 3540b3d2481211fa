/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * strata-img snapshot [-q] [-U] [-l | -a SNAPSHOT | -c SNAPSHOT | -d SNAPSHOT] FILE
 *
 * Internal snapshots of qcow2 images, with qemu-img's output, messages and exit codes:
 * -l lists them (the table `info` shows), -c takes one, -a applies one (found by ID, then
 * by name), -d deletes one (found by name).
 */
#include "strata-img.h"
#include "strata-img-output.h"

#include "strata-error.h"
#include "strata-snapshot.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

typedef enum
{
  ACTION_NONE,
  ACTION_LIST,
  ACTION_APPLY,
  ACTION_CREATE,
  ACTION_DELETE,
} Action;

static void
usage (FILE *out)
{
  fprintf (out, "Usage: strata-img snapshot [-q] [-U] [-l | -a SNAPSHOT | -c SNAPSHOT | "
           "-d SNAPSHOT] FILE\n");
}

/* Whether @error is about the snapshot operation, not about opening the file. */
static gboolean
is_snapshot_error (const GError *error)
{
  return g_error_matches (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT) ||
         g_error_matches (error, STRATA_ERROR, STRATA_ERROR_NO_SNAPSHOT) ||
         g_error_matches (error, STRATA_ERROR, STRATA_ERROR_NO_SNAPSHOTS);
}

static void
report_open (const char   *filename,
             const GError *error,
             gboolean      write)
{
  if (g_error_matches (error, STRATA_ERROR, STRATA_ERROR_NOT_FOUND))
    strata_img_report_open_error (filename, error);
  else if (write)
    strata_img_report_for_write (filename, error);
  else
    strata_img_report_error (filename, error);
}

static int
run (Action       action,
     const char  *name,
     const char  *filename,
     gboolean     force_share)
{
  g_autoptr(GError) error = NULL;

  switch (action)
    {
    case ACTION_LIST:
      {
        g_autoptr(GPtrArray) list = strata_snapshot_list_sync (filename, force_share, &error);
        g_autoptr(GString) out = g_string_new (NULL);

        if (list == NULL)
          {
            report_open (filename, error, FALSE);
            return 1;
          }
        strata_img_snapshot_table (out, list);
        fwrite (out->str, 1, out->len, stdout);
        return fflush (stdout) == 0 ? 0 : 1;
      }

    case ACTION_CREATE:
      if (strata_snapshot_create_sync (filename, name, &error))
        return 0;
      if (!is_snapshot_error (error))
        report_open (filename, error, TRUE);
      else if (error->code != STRATA_ERROR_NO_SNAPSHOTS)
        strata_img_error ("Could not create snapshot '%s': -22 (Invalid argument)", name);
      else
        strata_img_error ("Could not create snapshot '%s': -95 (Operation not supported)",
                          name);
      return 1;

    case ACTION_APPLY:
      if (strata_snapshot_apply_sync (filename, name, &error))
        return 0;
      if (!is_snapshot_error (error))
        report_open (filename, error, TRUE);
      else if (error->code != STRATA_ERROR_NO_SNAPSHOTS)
        strata_img_error ("Could not apply snapshot '%s': Failed to load snapshot: No such "
                          "file or directory", name);
      else
        strata_img_error ("Could not apply snapshot '%s': Block driver does not support "
                          "snapshots", name);
      return 1;

    case ACTION_DELETE:
      if (strata_snapshot_delete_sync (filename, name, &error))
        return 0;
      if (!is_snapshot_error (error))
        report_open (filename, error, TRUE);
      else
        strata_img_error ("Could not delete snapshot '%s': snapshot not found", name);
      return 1;

    case ACTION_NONE:
    default:
      {
        /* qemu-img opens the image read-write and does nothing else. */
        g_autoptr(StrataImage) image = strata_image_open (filename, NULL, STRATA_OPEN_WRITE,
                                                          &error);

        if (image == NULL || !strata_image_close (image, &error))
          {
            report_open (filename, error, TRUE);
            return 1;
          }
        return 0;
      }
    }
}

int
strata_img_snapshot (int argc, char **argv)
{
  static const struct option long_options[] = {
    { "help", no_argument, NULL, 'h' },
    { "force-share", no_argument, NULL, 'U' },
    { "object", required_argument, NULL, STRATA_IMG_OPT_OBJECT },
    { "image-opts", no_argument, NULL, STRATA_IMG_OPT_IMAGE_OPTS },
    { NULL, 0, NULL, 0 },
  };
  Action action = ACTION_NONE;
  const char *name = NULL, *filename;
  gboolean force_share = FALSE;
  int c;

  optind = 1;
  while ((c = getopt_long (argc, argv, ":la:c:d:hqU", long_options, NULL)) != -1)
    {
      switch (c)
        {
        case 'h':
          usage (stdout);
          return 0;
        case 'l':
        case 'a':
        case 'c':
        case 'd':
          if (action != ACTION_NONE)
            {
              strata_img_error ("Cannot mix '-l', '-a', '-c', '-d'");
              usage (stderr);
              return 1;
            }
          action = c == 'l' ? ACTION_LIST : c == 'a' ? ACTION_APPLY
                   : c == 'c' ? ACTION_CREATE : ACTION_DELETE;
          name = optarg;
          break;
        case 'q':
          /* qemu-img prints nothing on success either way. */
          break;
        case 'U':
          force_share = TRUE;
          break;
        default:
          return strata_img_bad_option (c, argv, usage);
        }
    }

  if (!(filename = strata_img_one_file (argc, argv, usage)))
    return 1;

  if (force_share && action != ACTION_LIST)
    {
      strata_img_error ("Could not open '%s': force-share=on can only be used with read-only "
                        "images", filename);
      return 1;
    }

  return run (action, name, filename, force_share);
}
