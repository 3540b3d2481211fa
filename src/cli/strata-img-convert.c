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

/*
 * strata-img convert [-p] [-q] [-c] [-f FMT] -O qcow2|raw|vmdk [-o OPTIONS] [-m N] [-W] [-U]
 *                    SRC DST
 *
 * Like qemu-img, it prints nothing on success unless -p is given; with -p it prints the
 * lines qemu-img prints ("    (12.34/100%)", see strata-img-progress.h). --sizes adds one
 * summary line on stdout (sizes and the saving). SIGINT and SIGTERM cancel the conversion: the temporary file is removed and
 * nothing is left under DST.
 */

#define CONVERT_USAGE \
  "Usage: strata-img convert [-p] [-q] [-c] [-f FMT] -O qcow2|raw|vmdk [-o OPTIONS] [-m N]\n" \
  "                          [-W] [-U] [--sizes] SRC DST\n" \
  "  -p          show progress as qemu-img does\n" \
  "  --sizes     then print a one-line summary (sizes and saving)\n" \
  "  -q          quiet\n" \
  "  -c          compress the target (qcow2, or vmdk with subformat=streamOptimized)\n" \
  "  -f FMT      source format (default: probe)\n" \
  "  -O FMT      target format: raw (default, sparse), qcow2 or vmdk\n" \
  "  -o OPTIONS  qcow2 options: cluster_size=,compression_type=zlib|zstd,compat=,...\n" \
  "              vmdk options: subformat=monolithicSparse|streamOptimized,\n" \
  "                            adapter_type=ide|lsilogic|buslogic|legacyESX,hwversion=N\n" \
  "  -m N        compressor threads (default: the number of CPUs)\n" \
  "  -W          accepted for compatibility (writes are always in order)\n" \
  "  -U          open the source even if a running VM holds it\n"

enum { OPT_SIZES = 256 };

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
  if (!strata_img_progress_plan_convert (plan, image, cluster, 4096, error))
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
  gboolean quiet = FALSE, sizes = FALSE;
  guint sigint_id, sigterm_id, tick_id = 0;
  int c;

  strata_convert_options_init (&opts);
  opts.target_format = NULL;

  optind = 1;
  while ((c = getopt_long (argc, argv, "hpqcf:O:o:m:WUt:T:", long_options, NULL)) != -1)
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
        default:
          fputs (CONVERT_USAGE, stderr);
          return 1;
        }
    }

  if (argc - optind != 2)
    {
      strata_img_error ("Expecting a source and a target file name");
      fputs (CONVERT_USAGE, stderr);
      return 1;
    }
  source = argv[optind];
  target = argv[optind + 1];

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
  else if (opts.compress && strcmp (opts.target_format, "qcow2") != 0)
    {
      strata_img_error ("Compression not supported for the %s format", opts.target_format);
      return 1;
    }
  else if (create_opts->len > 0)
    {
      if (strcmp (opts.target_format, "qcow2") != 0)
        {
          strata_img_error ("-o options are only supported for qcow2 and vmdk targets");
          return 1;
        }
      if (!strata_img_convert_check_options (target, create_opts->str, &opts.qcow2))
        return 1;
      if (opts.qcow2.backing_file != NULL)
        {
          strata_img_error ("convert does not support backing_file: the target is the "
                            "whole chain, flattened");
          return 1;
        }
    }

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
