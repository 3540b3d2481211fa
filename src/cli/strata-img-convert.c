/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-img.h"
#include "strata-img-output.h"
#include "strata-img-progress.h"

#include "strata-convert.h"
#include "strata-error.h"

#include <getopt.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/*
 * strata-img convert [-p] [-q] [-c] [-n] [-C] [-f FMT] -O qcow2|raw|vmdk [-o OPTIONS]
 *                    [-B BACKING -F BACKING_FMT] [-S SIZE] [--salvage] [-m N] [-W] [-U]
 *                    SRC DST
 *
 * Like qemu-img, it prints nothing on success unless -p is given; with -p it prints the
 * lines qemu-img prints ("    (12.34/100%)", see strata-img-progress.h). --sizes adds one
 * summary line on stdout (sizes and the saving). SIGINT and SIGTERM cancel the conversion:
 * the temporary file is removed and nothing is left under DST (with -n, DST keeps what was
 * written so far: it is written in place).
 */

#define CONVERT_USAGE \
  "Usage: strata-img convert [-p] [-q] [-c] [-n] [-C] [-f FMT] -O qcow2|raw|vmdk [-o OPTIONS]\n" \
  "                          [-B BACKING -F BACKING_FMT] [-S SIZE] [--salvage] [-m N]\n" \
  "                          [-W] [-U] [--sizes] SRC DST\n" \
  "  -p          show progress as qemu-img does\n" \
  "  --sizes     then print a one-line summary (sizes and saving)\n" \
  "  -q          quiet\n" \
  "  -c          compress the target (qcow2, or vmdk with subformat=streamOptimized)\n" \
  "  -f FMT      source format (default: probe)\n" \
  "  -O FMT      target format: raw (default, sparse), qcow2 or vmdk\n" \
  "  -o OPTIONS  qcow2 options: cluster_size=,compression_type=zlib|zstd,compat=,\n" \
  "              backing_file=,backing_fmt=,preallocation=off|metadata|falloc|full,...\n" \
  "              raw options: preallocation=off|falloc|full\n" \
  "              vmdk options: subformat=monolithicSparse|streamOptimized,\n" \
  "                            adapter_type=ide|lsilogic|buslogic|legacyESX,hwversion=N\n" \
  "  -B BACKING  the target is an overlay of BACKING (qcow2): only what the source's\n" \
  "              top layer holds is written\n" \
  "  -F FMT      the format of BACKING\n" \
  "  -n          write into the existing DST (no creation; it must be large enough)\n" \
  "  -S SIZE     zero runs this long are not written (default 4k; 0: write everything)\n" \
  "  --salvage   go on after read errors, writing zeros for what cannot be read\n" \
  "  -C          accepted for compatibility (copy offloading; not with -c or -S)\n" \
  "  -m N        compressor threads (default: the number of CPUs)\n" \
  "  -W          accepted for compatibility (writes are always in order)\n" \
  "  -U          open the source even if a running VM holds it\n"

enum { OPT_SIZES = 256, OPT_SALVAGE };

/* qemu-img's largest -S: its buffer of 32768 sectors. */
#define SPARSE_SIZE_MAX (16 * 1024 * 1024)

typedef struct
{
  GMainLoop           *loop;
  GCancellable        *cancellable;
  StrataJob           *job;
  gboolean             progress;
  StrataImgProgress   *plan;
  gboolean             done;
  gboolean             ok;
  GError              *error;
  StrataConvertResult  result;
} ConvertRun;

static gboolean
progress_tick_cb (gpointer user_data)
{
  ConvertRun *run = user_data;

  strata_img_progress_play (run->plan, strata_job_get_fraction (run->job));
  return G_SOURCE_CONTINUE;
}

/* qemu-img's -p lines for this conversion, worked out from the source's layout. */
static StrataImgProgress *
plan_progress (const char                 *source,
               const StrataConvertOptions *opts,
               GError                    **error)
{
  g_autoptr(StrataImgProgress) plan = strata_img_progress_new (1.0f);
  g_autoptr(StrataImage) image = NULL;
  guint64 cluster = 0;

  image = strata_image_open (source, opts->source_format,
                             opts->force_share ? STRATA_OPEN_FORCE_SHARE : 0, error);
  if (image == NULL)
    return NULL;
  if (opts->compress)
    cluster = opts->qcow2.cluster_size;
  strata_img_progress_step (plan, 0, 100);
  if (!strata_img_progress_plan_convert (plan, image, cluster, opts->sparse_size,
                                         error))
    return NULL;
  return g_steal_pointer (&plan);
}

static gboolean
signal_cb (gpointer user_data)
{
  ConvertRun *run = user_data;

  g_cancellable_cancel (run->cancellable);
  return G_SOURCE_CONTINUE;
}

static void
convert_done_cb (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  ConvertRun *run = user_data;

  run->ok = strata_convert_finish (result, &run->result, &run->error);
  run->done = TRUE;
  g_main_loop_quit (run->loop);
}

/* --salvage: each region replaced by zeros, as qemu-img warns (its words, one line a region
 * instead of one a sector). */
static void
salvage_warning_cb (const char *message,
                    gpointer    user_data)
{
  fprintf (stderr, "strata-img: warning: %s\n", message);
}

/* -S SIZE, checked as qemu-img checks it, when it is given. */
static gboolean
parse_sparse_size (const char *text,
                   guint64    *size)
{
  if (!strata_img_parse_size (text, size))
    {
      strata_img_error ("Invalid buffer size for sparse output specified. You may use k, M, G, "
                        "T, P or E suffixes for");
      strata_img_error ("kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.");
      return FALSE;
    }
  if (*size % 512 != 0 || *size > SPARSE_SIZE_MAX)
    {
      strata_img_error ("Invalid buffer size for sparse output specified. Valid sizes are "
                        "multiples of 512 up to %d. Select 0 to disable sparse detection "
                        "(fully allocates output).", SPARSE_SIZE_MAX);
      return FALSE;
    }
  return TRUE;
}

/*
 * -B copies only the source's top layer and leaves the rest to BACKING, as qemu-img does,
 * without comparing: right when BACKING holds what the source's backing holds. qemu-img
 * says nothing when it is another file; strata-img says so (a copy of the base is fine).
 */
static void
warn_other_backing (StrataImage *src,
                    StrataImage *base,
                    const char  *name)
{
  StrataImage *old = strata_image_get_backing (src);
  struct stat a, b;

  if (old == NULL ||
      (fstat (strata_file_get_fd (strata_image_get_file (old)), &a) == 0 &&
       fstat (strata_file_get_fd (strata_image_get_file (base)), &b) == 0 &&
       a.st_dev == b.st_dev && a.st_ino == b.st_ino))
    return;
  fprintf (stderr, "strata-img: warning: the source's backing file is %s, not %s: what the "
           "source leaves to it is left to %s, which must hold the same data\n",
           strata_image_get_filename (old), name, name);
}

/*
 * The checks qemu-img makes of -B/-F, -o backing_file and -n once the source is open, in
 * its order and words, so that nothing is started that qemu-img would refuse. The engine
 * checks again; these only choose the words.
 */
static gboolean
check_target_files (const char                 *source,
                    const char                 *target,
                    const StrataConvertOptions *opts)
{
  g_autoptr(StrataImage) src = NULL;
  g_autoptr(GError) error = NULL;

  src = strata_image_open (source, opts->source_format,
                           opts->force_share ? STRATA_OPEN_FORCE_SHARE : STRATA_OPEN_READ_ONLY,
                           &error);
  if (src == NULL)
    {
      strata_img_report (source, error);
      return FALSE;
    }

  if (opts->existing_target)
    {
      g_autoptr(StrataImage) dst = NULL;

      if (g_file_test (target, G_FILE_TEST_IS_DIR))
        {
          strata_img_error ("Could not open '%s': Could not open '%s': Is a directory", target,
                            target);
          return FALSE;
        }
      dst = strata_image_open (target, opts->target_format,
                               STRATA_OPEN_FORCE_SHARE | STRATA_OPEN_NO_BACKING, &error);
      if (dst == NULL)
        {
          strata_img_report_open_error (target, error);
          return FALSE;
        }
      if (strata_image_get_size (dst) < strata_image_get_size (src))
        {
          strata_img_error ("output file is smaller than input file");
          return FALSE;
        }
      return TRUE;
    }

  if (opts->qcow2.backing_file != NULL)
    {
      g_autofree char *path = NULL;
      const char *fmt = opts->qcow2.backing_format;
      g_autoptr(StrataImage) base = NULL;

      if (fmt == NULL)
        {
          strata_img_error ("Use of backing file requires explicit backing format");
          return FALSE;
        }
      if (strcmp (fmt, "qcow2") != 0 && strcmp (fmt, "raw") != 0 && strcmp (fmt, "vmdk") != 0)
        {
          strata_img_error ("%s: error while converting %s: Parameter 'backing-fmt' does not "
                            "accept value '%s'", target, opts->target_format, fmt);
          return FALSE;
        }
      if (strcmp (opts->target_format, "vmdk") == 0)
        {
          if (strcmp (fmt, "vmdk") != 0)
            strata_img_error ("%s: error while converting vmdk: backing_file must be a vmdk "
                              "image", target);
          else
            strata_img_error ("%s: error while converting vmdk: a VMDK target with a parent "
                              "is not supported (convert to qcow2)", target);
          return FALSE;
        }

      path = strata_resolve_backing_name (target, opts->qcow2.backing_file, &error);
      if (path != NULL)
        base = strata_image_open (path, fmt, STRATA_OPEN_FORCE_SHARE, &error);
      if (base == NULL)
        {
          if (g_error_matches (error, STRATA_ERROR, STRATA_ERROR_NOT_FOUND))
            strata_img_error ("Could not open '%s': Could not open backing file: Could not "
                              "open '%s': No such file or directory", target, path);
          else
            strata_img_error ("Could not open '%s': Could not open backing file: %s", target,
                              error->message);
          return FALSE;
        }
      warn_other_backing (src, base, opts->qcow2.backing_file);
    }
  else if (opts->qcow2.backing_format != NULL && strcmp (opts->target_format, "qcow2") == 0)
    {
      strata_img_error ("%s: error while converting qcow2: Backing format cannot be used "
                        "without backing file", target);
      return FALSE;
    }
  return TRUE;
}

static char *
format_size (guint64 bytes)
{
  return g_format_size_full (bytes, G_FORMAT_SIZE_IEC_UNITS);
}

int
strata_img_convert (int argc, char **argv)
{
  static const struct option long_options[] = {
    { "help", no_argument, NULL, 'h' },
    { "force-share", no_argument, NULL, 'U' },
    { "sizes", no_argument, NULL, OPT_SIZES },
    { "salvage", no_argument, NULL, OPT_SALVAGE },
    { NULL, 0, NULL, 0 },
  };
  g_autoptr(GString) create_opts = g_string_new (NULL);
  g_autoptr(GMainLoop) loop = NULL;
  g_autoptr(GCancellable) cancellable = NULL;
  g_autoptr(StrataJob) job = NULL;
  g_autoptr(GError) error = NULL;
  StrataConvertOptions opts;
  ConvertRun run = { 0 };
  const char *source;
  const char *target;
  g_autoptr(StrataImgProgress) plan = NULL;
  gboolean quiet = FALSE, sizes = FALSE, copy_offload = FALSE, explicit_sparse = FALSE;
  const char *backing = NULL, *backing_format = NULL;
  guint sigint_id, sigterm_id, tick_id = 0;
  int c;

  strata_convert_options_init (&opts);
  opts.target_format = NULL;

  optind = 1;
  while ((c = getopt_long (argc, argv, "hpqcnCf:O:o:m:WUt:T:B:F:S:", long_options, NULL)) != -1)
    {
      switch (c)
        {
        case 'h':
          fputs (CONVERT_USAGE, stdout);
          return 0;
        case 'p':
          run.progress = TRUE;
          break;
        case 'q':
          quiet = TRUE;
          break;
        case 'c':
          opts.compress = TRUE;
          break;
        case 'f':
          opts.source_format = optarg;
          break;
        case 'O':
          opts.target_format = optarg;
          break;
        case 'o':
          if (create_opts->len > 0)
            g_string_append_c (create_opts, ',');
          g_string_append (create_opts, optarg);
          break;
        case 'm':
          {
            guint64 n;

            if (!g_ascii_string_to_unsigned (optarg, 10, 1, 1024, &n, NULL))
              {
                strata_img_error ("Invalid number of threads \"%s\" (1 to 1024)", optarg);
                return 1;
              }
            opts.threads = (guint) n;
          }
          break;
        case 'W':
          /* qemu-img's out-of-order writes: our writer is in order and still faster. */
          break;
        case 't':
        case 'T':
          /* Cache modes: the target is flushed once at the end, whatever is asked. */
          break;
        case 'U':
          opts.force_share = TRUE;
          break;
        case OPT_SIZES:
          sizes = TRUE;
          break;
        case 'B':
          backing = optarg;
          break;
        case 'F':
          backing_format = optarg;
          break;
        case 'n':
          opts.existing_target = TRUE;
          break;
        case 'S':
          if (!parse_sparse_size (optarg, &opts.sparse_size))
            return 1;
          explicit_sparse = TRUE;
          break;
        case 'C':
          /* Copy offloading: the pipeline already copies only what holds data, in large
           * writes; where qemu-img refuses -C, so does strata-img. */
          copy_offload = TRUE;
          break;
        case OPT_SALVAGE:
          opts.salvage = TRUE;
          break;
        default:
          fputs (CONVERT_USAGE, stderr);
          return 1;
        }
    }

  if (copy_offload && opts.compress)
    {
      strata_img_error ("Cannot enable copy offloading when -c is used");
      return 1;
    }
  if (copy_offload && explicit_sparse)
    {
      strata_img_error ("Cannot enable copy offloading when -S is used");
      return 1;
    }
  if (copy_offload && opts.salvage)
    {
      strata_img_error ("Cannot use copy offloading in salvaging mode");
      return 1;
    }
  if (opts.existing_target && create_opts->len > 0)
    {
      strata_img_error ("-o has no effect when skipping image creation");
      return 1;
    }

  if (argc - optind != 2)
    {
      strata_img_error ("Expecting a source and a target file name");
      fputs (CONVERT_USAGE, stderr);
      return 1;
    }
  source = argv[optind];
  target = argv[optind + 1];

  if (opts.target_format == NULL && opts.existing_target)
    {
      const char *probed = strata_probe_format (target, NULL);

      /* qemu-img would write raw bytes over the image's own structures here. */
      if (probed != NULL && strcmp (probed, "raw") != 0)
        {
          strata_img_error ("%s: is a %s image, and -n without -O would write raw data over "
                            "it (give -O %s, or -O raw if that is really meant)", target,
                            probed, probed);
          return 1;
        }
    }
  if (opts.target_format == NULL)
    opts.target_format = "raw"; /* qemu-img's default output format */
  if (strcmp (opts.target_format, "qcow2") != 0 && strcmp (opts.target_format, "raw") != 0 &&
      strcmp (opts.target_format, "vmdk") != 0)
    {
      strata_img_error ("Unsupported output format \"%s\" (qcow2, raw or vmdk)",
                        opts.target_format);
      return 1;
    }
  if (strcmp (opts.target_format, "vmdk") == 0)
    {
      if (!strata_vmdk_options_parse (&opts.vmdk, create_opts->str, &error))
        {
          strata_img_error ("%s", error->message);
          return 1;
        }
      if (opts.compress && opts.vmdk.subformat != STRATA_VMDK_STREAM_OPTIMIZED)
        {
          strata_img_error ("Compression not supported for the vmdk subformat %s "
                            "(use -o subformat=streamOptimized)",
                            strata_vmdk_subformat_name (opts.vmdk.subformat));
          return 1;
        }
    }
  else if (strcmp (opts.target_format, "raw") == 0 && !opts.existing_target &&
           backing != NULL)
    {
      strata_img_error ("Backing file not supported for file format 'raw'");
      return 1;
    }
  else if (strcmp (opts.target_format, "raw") == 0 && !opts.existing_target &&
           backing_format != NULL)
    {
      strata_img_error ("Backing file format not supported for file format 'raw'");
      return 1;
    }
  else if (strcmp (opts.target_format, "raw") == 0 &&
           (strstr (create_opts->str, "backing_file") != NULL ||
            strstr (create_opts->str, "backing_fmt") != NULL))
    {
      strata_img_error ("Invalid parameter '%s'",
                        strstr (create_opts->str, "backing_file") != NULL ? "backing_file"
                                                                          : "backing_fmt");
      return 1;
    }
  else if (opts.compress && strcmp (opts.target_format, "qcow2") != 0)
    {
      strata_img_error ("Compression not supported for the %s format", opts.target_format);
      return 1;
    }
  else if (create_opts->len > 0 && strcmp (opts.target_format, "raw") == 0)
    {
      if (!strata_img_convert_check_raw_options (target, create_opts->str,
                                                 &opts.qcow2.preallocation))
        return 1;
    }
  else if (create_opts->len > 0)
    {
      /* With -B, -o backing_fmt alone is fine. */
      opts.qcow2.backing_file = backing;
      if (!strata_img_convert_check_options (target, create_opts->str, opts.compress,
                                             &opts.qcow2))
        return 1;
    }

  /* -B wins over -o backing_file, -F over -o backing_fmt, as in qemu-img. */
  if (backing != NULL)
    opts.qcow2.backing_file = backing;
  if (backing_format != NULL)
    opts.qcow2.backing_format = backing_format;
  if (opts.qcow2.backing_file != NULL && opts.qcow2.backing_file[0] == '\0')
    {
      strata_img_error ("Expecting a backing file name (-B is empty)");
      return 1;
    }
  if ((opts.existing_target || opts.qcow2.backing_file != NULL ||
       opts.qcow2.backing_format != NULL) &&
      !check_target_files (source, target, &opts))
    return 1;
  if (opts.salvage)
    opts.warning = salvage_warning_cb;

  /* Past RLIMIT_FSIZE the kernel kills the process with SIGXFSZ; ignored, the write fails
   * with EFBIG and the user gets an error naming the file instead of a core dump. */
  signal (SIGXFSZ, SIG_IGN);

  loop = g_main_loop_new (NULL, FALSE);
  cancellable = g_cancellable_new ();
  job = strata_job_new ("Converting");
  run.loop = loop;
  run.cancellable = cancellable;
  run.job = job;
  run.progress = run.progress && !quiet;
  if (run.progress)
    {
      plan = plan_progress (source, &opts, &error);
      if (plan == NULL)
        {
          strata_img_report_open_error (source, error);
          return 1;
        }
      run.plan = plan;
    }

  sigint_id = g_unix_signal_add (SIGINT, signal_cb, &run);
  sigterm_id = g_unix_signal_add (SIGTERM, signal_cb, &run);
  if (run.progress)
    {
      strata_img_progress_play (plan, 0.0);
      tick_id = g_timeout_add (100, progress_tick_cb, &run);
    }

  strata_convert_async (source, target, &opts, job, cancellable, convert_done_cb, &run);
  while (!run.done)
    g_main_loop_run (loop);

  g_source_remove (sigint_id);
  g_source_remove (sigterm_id);
  if (tick_id != 0)
    g_source_remove (tick_id);

  if (!run.ok)
    {
      if (run.progress)
        strata_img_progress_end (plan, FALSE);
      if (g_error_matches (run.error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        strata_img_error ("%s: conversion cancelled; nothing was written", target);
      else
        strata_img_report (source, run.error);
      g_clear_error (&run.error);
      return 1;
    }

  if (run.progress)
    strata_img_progress_end (plan, TRUE);
  if (sizes && !quiet)
    {
      g_autofree char *src_size = format_size (run.result.source_allocated);
      g_autofree char *dst_size = format_size (run.result.target_size);
      gint64 saved = (gint64) run.result.source_allocated - (gint64) run.result.target_size;
      double pct = run.result.source_allocated > 0
                     ? 100.0 * (double) saved / (double) run.result.source_allocated : 0.0;

      printf ("%s (%s on disk) -> %s (%s): %s %.1f%%\n", source, src_size, target,
              dst_size, saved >= 0 ? "saved" : "grew by", saved >= 0 ? pct : -pct);
    }

  return 0;
}
