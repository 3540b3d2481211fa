/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-convert.h"
#include "strata-error.h"
#include "strata-image.h"
#include "convert-fixture.h"
#include "test-util.h"

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

/*
 * convert, judged by QEMU: every source (made by qemu-img/qemu-io) is converted with every
 * compression and cluster size; `qemu-img check` must find the result clean and
 * `qemu-img compare` identical to the source. Then the ways a conversion can end early:
 * cancellation half-way, a full filesystem, an unreadable source, a target that must not
 * be replaced. In every case the source's bytes must stay the same.
 */

/* Virtual size not a multiple of any cluster size: the last cluster is partial. */
#define CONTENT_SIZE (24 * 1024 * 1024 + 4608)

/* A guest disk with real (compressible) file data, incompressible random data, zeros
 * written explicitly, a pattern, and holes. */
static const char *
content (void)
{
  return cf_content (CONTENT_SIZE, "-c 'write -P 0x11 24M 4608' -c 'write -P 0x22 20000k 7k'");
}

typedef struct
{
  const char *name;
  /* Shell commands making the source "%1$s" from content.raw "%2$s". */
  const char *make;
  const char *file;
  gboolean    needs_vmdk;
  const char *glob;   /* every file of the source (chain, extents), checksummed */
} SourceKind;

static const SourceKind sources[] = {
  { "raw", "cp --sparse=always %2$s %1$s", "src-raw.img", FALSE, "src-raw.img" },
  { "qcow2", "qemu-img convert -O qcow2 %2$s %1$s", "src.qcow2", FALSE, "src.qcow2" },
  { "qcow2-zlib", "qemu-img convert -c -O qcow2 %2$s %1$s", "src-zlib.qcow2", FALSE,
    "src-zlib.qcow2" },
  { "qcow2-zstd", "qemu-img convert -c -O qcow2 -o compression_type=zstd %2$s %1$s",
    "src-zstd.qcow2", FALSE, "src-zstd.qcow2" },
  { "qcow2-4k-v2", "qemu-img convert -O qcow2 -o cluster_size=4k,compat=0.10 %2$s %1$s",
    "src-4k-v2.qcow2", FALSE, "src-4k-v2.qcow2" },
  { "qcow2-extl2", "qemu-img convert -O qcow2 -o extended_l2=on,cluster_size=128k %2$s %1$s "
    "&& qemu-io -f qcow2 -c 'write -P 0x77 1028k 4k' -c 'write -z 13M 64k' %1$s >/dev/null",
    "src-extl2.qcow2", FALSE, "src-extl2.qcow2" },
  /* Three images: base (data), mid (overwrites, zero clusters over base data), top. */
  { "chain", "qemu-img convert -O qcow2 %2$s chain-base.qcow2 && "
    "qemu-img create -q -f qcow2 -b chain-base.qcow2 -F qcow2 -o cluster_size=4k "
    "chain-mid.qcow2 && "
    "qemu-io -f qcow2 -c 'write -P 0x33 100k 300k' -c 'write -z 1M 512k' "
    "-c 'write -z 13M 128k' chain-mid.qcow2 >/dev/null && "
    "qemu-img create -q -f qcow2 -b chain-mid.qcow2 -F qcow2 %1$s && "
    "qemu-io -f qcow2 -c 'write -P 0x44 200k 8k' -c 'write -P 0x45 22M 1M' %1$s >/dev/null",
    "chain-top.qcow2", FALSE, "chain-*" },
  { "vmdk-monolithicSparse", "qemu-img convert -O vmdk -o subformat=monolithicSparse "
    "%2$s %1$s", "src-ms.vmdk", TRUE, "src-ms*" },
  { "vmdk-streamOptimized", "qemu-img convert -O vmdk -o subformat=streamOptimized "
    "%2$s %1$s", "src-so.vmdk", TRUE, "src-so*" },
  { "vmdk-monolithicFlat", "qemu-img convert -O vmdk -o subformat=monolithicFlat "
    "%2$s %1$s", "src-mf.vmdk", TRUE, "src-mf*" },
  { "vmdk-twoGbMaxExtentSparse", "qemu-img convert -O vmdk -o subformat=twoGbMaxExtentSparse "
    "%2$s %1$s", "src-2gs.vmdk", TRUE, "src-2gs*" },
  { "vmdk-twoGbMaxExtentFlat", "qemu-img convert -O vmdk -o subformat=twoGbMaxExtentFlat "
    "%2$s %1$s", "src-2gf.vmdk", TRUE, "src-2gf*" },
};

static const char *
make_source (const SourceKind *kind)
{
  return cf_make_source (kind->file, kind->make, content ());
}

/* Every file of the source's chain (and extents), to prove they stay byte-identical. */
static char *
checksum_source (const SourceKind *kind)
{
  return tu_run_ok ("cd '%s' && sha256sum %s", tu_dir (), kind->glob);
}

typedef struct
{
  const SourceKind *source;
  const char       *compression; /* "zlib", "zstd", NULL (uncompressed) or "raw" (target) */
  guint             cluster_size;
} MatrixCase;

static void
test_matrix (gconstpointer data)
{
  const MatrixCase *mc = data;
  g_autoptr(GError) error = NULL;
  g_autofree char *name = NULL;
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  g_autofree char *info = NULL;
  StrataConvertOptions opts;
  StrataConvertResult result;
  const char *src;
  const char *dst;
  gboolean raw_target = g_strcmp0 (mc->compression, "raw") == 0;

  if (mc->source->needs_vmdk)
    {
      g_autoptr(GError) probe_error = NULL;
      g_autoptr(StrataImage) image = NULL;

      src = make_source (mc->source);
      image = strata_image_open (src, NULL, STRATA_OPEN_READ_ONLY, &probe_error);
      if (image == NULL &&
          g_error_matches (probe_error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED))
        {
          g_test_skip ("the VMDK driver is not in this build");
          return;
        }
    }

  src = make_source (mc->source);
  name = g_strdup_printf ("out-%s-%s-%u.%s", mc->source->name,
                          mc->compression ? mc->compression : "none", mc->cluster_size,
                          raw_target ? "raw" : "qcow2");
  dst = tu_path (name);
  before = checksum_source (mc->source);

  strata_convert_options_init (&opts);
  if (raw_target)
    opts.target_format = "raw";
  else
    {
      opts.qcow2.cluster_size = mc->cluster_size;
      opts.compress = mc->compression != NULL;
      if (g_strcmp0 (mc->compression, "zstd") == 0)
        opts.qcow2.compression_type = STRATA_COMPRESSION_ZSTD;
    }
  opts.threads = 3; /* more workers than cores: chunks finish out of order */

  g_assert_true (strata_convert_sync (src, dst, &opts, NULL, &result, NULL, &error));
  g_assert_no_error (error);

  if (!raw_target)
    tu_assert_qemu_check_clean (dst);
  tu_assert_qemu_compare (src, dst);

  info = tu_run_ok ("qemu-img info --output=json '%s'", dst);
  if (raw_target)
    {
      g_assert_nonnull (strstr (info, "\"format\": \"raw\""));
      /* Sparse: the holes and zeros of the source are holes. */
      g_assert_cmpuint (result.target_size, <, CONTENT_SIZE);
    }
  else
    {
      g_autofree char *cs = g_strdup_printf ("\"cluster-size\": %u", mc->cluster_size);

      g_assert_nonnull (strstr (info, cs));
      if (g_strcmp0 (mc->compression, "zstd") == 0)
        g_assert_nonnull (strstr (info, "\"compression-type\": \"zstd\""));
      /* Compression must actually have happened: the content is mostly compressible
       * (a third of it is random and stays as is). */
      if (mc->compression != NULL)
        g_assert_cmpuint (result.target_size, <, result.data_bytes * 4 / 5);
    }

  after = checksum_source (mc->source);
  g_assert_cmpstr (before, ==, after);
  g_unlink (dst);
}

/* Cancellation half-way, from the progress callback. */
typedef struct
{
  GCancellable *cancellable;
  StrataJob    *job;
  double        fraction_at_cancel;
  guint         calls;
} CancelState;

static void
cancel_halfway_cb (guint64 done, guint64 total, gpointer user_data)
{
  CancelState *s = user_data;

  s->calls++;
  if (!g_cancellable_is_cancelled (s->cancellable) && done * 2 >= total)
    {
      s->fraction_at_cancel = strata_job_get_fraction (s->job);
      g_cancellable_cancel (s->cancellable);
    }
}

static void
run_cancel_case (const char *target_format,
                 gboolean    compress)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(StrataJob) job = strata_job_new ("convert");
  g_autofree char *list_before = NULL;
  g_autofree char *list_after = NULL;
  g_autofree char *sum_before = NULL;
  g_autofree char *sum_after = NULL;
  const char *src = make_source (&sources[0]);
  const char *dst = tu_path ("cancelled.img");
  StrataConvertOptions opts;
  CancelState state = { cancellable, job, -1, 0 };

  list_before = tu_list_dir (tu_dir ());
  sum_before = tu_file_checksum (src);

  strata_convert_options_init (&opts);
  opts.target_format = target_format;
  opts.compress = compress;
  opts.threads = 2;
  opts.progress = cancel_halfway_cb;
  opts.progress_data = &state;

  g_assert_false (strata_convert_sync (src, dst, &opts, job, NULL, cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpfloat (state.fraction_at_cancel, >, 0.0);
  g_assert_cmpfloat (state.fraction_at_cancel, <, 1.0);
  /* Checked once per chunk: the writer stops at the next chunk. */
  g_assert_cmpfloat (strata_job_get_fraction (job), <, 1.0);

  list_after = tu_list_dir (tu_dir ());
  g_assert_cmpstr (list_before, ==, list_after);
  g_assert_false (tu_file_exists (dst));
  sum_after = tu_file_checksum (src);
  g_assert_cmpstr (sum_before, ==, sum_after);
}

static void
test_cancel_halfway_qcow2 (void)
{
  run_cancel_case ("qcow2", TRUE);
}

static void
test_cancel_halfway_raw (void)
{
  run_cancel_case ("raw", FALSE);
}

/* Cancellation at an exact write: the N-th write of the target fails. */
static void
test_write_error_midway (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *list_before = NULL;
  g_autofree char *list_after = NULL;
  const char *src = make_source (&sources[0]);
  const char *dst = tu_path ("failed.qcow2");
  StrataConvertOptions opts;
  StrataIoHooks hooks = { 0 };

  list_before = tu_list_dir (tu_dir ());
  strata_convert_options_init (&opts);
  opts.compress = TRUE;

  hooks.fail_after_ops = 40;
  strata_io_set_hooks (&hooks);
  g_assert_false (strata_convert_sync (src, dst, &opts, NULL, NULL, NULL, &error));
  strata_io_set_hooks (NULL);

  g_assert_error (error, STRATA_ERROR, STRATA_ERROR_IO);
  g_assert_nonnull (strstr (error->message, dst));
  list_after = tu_list_dir (tu_dir ());
  g_assert_cmpstr (list_before, ==, list_after);
}

static void
async_done_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  GAsyncResult **out = user_data;

  *out = g_object_ref (result);
}

static void
test_async (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(StrataJob) job = strata_job_new ("convert");
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  const char *src = make_source (&sources[0]);
  const char *dst = tu_path ("async.qcow2");
  StrataConvertOptions opts;
  StrataConvertResult res;

  strata_convert_options_init (&opts);
  opts.compress = TRUE;
  opts.qcow2.compression_type = STRATA_COMPRESSION_ZSTD;

  strata_convert_async (src, dst, &opts, job, cancellable, async_done_cb, &result);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);

  g_assert_true (strata_convert_finish (result, &res, &error));
  g_assert_no_error (error);
  g_assert_cmpfloat (strata_job_get_fraction (job), ==, 1.0);
  g_assert_cmpuint (res.target_size, >, 0);
  g_assert_cmpuint (res.source_allocated, >, res.target_size);
  tu_assert_qemu_check_clean (dst);
  tu_assert_qemu_compare (src, dst);
  g_unlink (dst);

  /* Cancelled before it starts: fails at once, leaves nothing. */
  g_clear_object (&result);
  g_cancellable_cancel (cancellable);
  strata_convert_async (src, dst, &opts, job, cancellable, async_done_cb, &result);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);
  g_assert_false (strata_convert_finish (result, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_false (tu_file_exists (dst));
}

typedef struct
{
  GError *error;
  char   *listing;
  char   *cli_err;
  int     cli_rc;
} NoSpaceOutcome;

/* Runs both conversions with the tmpfs mounted, then unmounts before any assertion so a
 * failing test does not leave a mount behind. */
static void
convert_onto_full_fs (const char     *target_format,
                      const char     *src,
                      const char     *mnt,
                      const char     *dst,
                      NoSpaceOutcome *o)
{
  StrataConvertOptions opts;

  strata_convert_options_init (&opts);
  opts.target_format = target_format;
  opts.compress = g_strcmp0 (target_format, "qcow2") == 0;
  (void) strata_convert_sync (src, dst, &opts, NULL, NULL, NULL, &o->error);
  o->listing = tu_list_dir (mnt);
  o->cli_rc = tu_run (NULL, &o->cli_err, "%s convert %s -O %s '%s' '%s' && ls -A '%s'",
                      tu_strata_img (), opts.compress ? "-c" : "", target_format, src, dst,
                      mnt);
}

static void
assert_no_space_outcome (NoSpaceOutcome *o,
                         const char     *dst)
{
  g_autofree char *base = g_path_get_basename (dst);
  g_autofree char *cli_msg = g_strdup_printf ("%s: no space", base);

  g_assert_error (o->error, STRATA_ERROR, STRATA_ERROR_NO_SPACE);
  g_assert_nonnull (strstr (o->error->message, dst));
  g_assert_nonnull (strstr (o->error->message, "no space"));
  g_assert_cmpstr (o->listing, ==, "");
  /* The same through the CLI: one clear line, exit status 1, nothing left. */
  g_assert_cmpint (o->cli_rc, ==, 1);
  g_assert_nonnull (strstr (o->cli_err, cli_msg));
  g_clear_error (&o->error);
  g_free (o->listing);
  g_free (o->cli_err);
}

static void
test_no_space (void)
{
  g_autofree char *sum_before = NULL;
  g_autofree char *sum_after = NULL;
  g_autofree char *after = NULL;
  const char *mnt = tu_path ("mnt");
  const char *src = tu_path ("random.raw");
  const char *dst_q = tu_path ("mnt/full.qcow2");
  const char *dst_r = tu_path ("mnt/full.raw");
  NoSpaceOutcome oq = { 0 };
  NoSpaceOutcome orw = { 0 };

  if (geteuid () != 0)
    {
      g_test_skip ("mounting a small tmpfs needs root");
      return;
    }

  /* Random data does not compress: 6 MiB cannot fit in 2 MiB. */
  g_free (tu_run_ok ("mkdir -p '%s' && head -c 6M /dev/urandom > '%s'", mnt, src));
  if (tu_run (NULL, NULL, "mount -t tmpfs -o size=2M tmpfs '%s'", mnt) != 0)
    {
      g_test_skip ("could not mount a tmpfs (no CAP_SYS_ADMIN in this container?)");
      return;
    }
  sum_before = tu_file_checksum (src);

  convert_onto_full_fs ("qcow2", src, mnt, dst_q, &oq);
  convert_onto_full_fs ("raw", src, mnt, dst_r, &orw);
  after = tu_list_dir (mnt);
  g_free (tu_run_ok ("umount '%s'", mnt));

  assert_no_space_outcome (&oq, dst_q);
  assert_no_space_outcome (&orw, dst_r);
  g_assert_cmpstr (after, ==, "");

  sum_after = tu_file_checksum (src);
  g_assert_cmpstr (sum_before, ==, sum_after);
  g_unlink (src);
}

static void
test_unreadable_source (void)
{
  g_autofree char *err = NULL;
  g_autofree char *listing = NULL;
  const char *dir = tu_path ("ro");
  const char *src = tu_path ("ro/secret.raw");
  const char *dst = tu_path ("ro/out.qcow2");
  int rc;

  g_free (tu_run_ok ("mkdir -p '%s' && chmod 0777 '%s' && chmod 0711 '%s' && "
                     "head -c 1M /dev/urandom > '%s' && chmod 0600 '%s'",
                     dir, dir, tu_dir (), src, src));
  if (!tu_nobody_can_run (dir))
    return;
  rc = tu_run (NULL, &err, TU_AS_NOBODY " %s convert -O qcow2 '%s' '%s'", tu_strata_img (), src, dst);
  g_assert_cmpint (rc, ==, 1);
  g_assert_nonnull (strstr (err, "secret.raw"));
  g_assert_nonnull (strstr (err, "Permission denied"));
  listing = tu_list_dir (dir);
  g_assert_cmpstr (listing, ==, "secret.raw");
}

static void
test_refuse_source_and_chain (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *sum_before = NULL;
  g_autofree char *sum_after = NULL;
  const char *src = make_source (&sources[0]);
  const char *link = tu_path ("link-to-src.img");
  StrataConvertOptions opts;

  strata_convert_options_init (&opts);
  sum_before = tu_file_checksum (src);

  g_assert_false (strata_convert_sync (src, src, &opts, NULL, NULL, NULL, &error));
  g_assert_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "source"));
  g_clear_error (&error);

  /* Another name for the same file is the same file. */
  g_assert_cmpint (symlink (src, link), ==, 0);
  g_assert_false (strata_convert_sync (src, link, &opts, NULL, NULL, NULL, &error));
  g_assert_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_unlink (link);

  sum_after = tu_file_checksum (src);
  g_assert_cmpstr (sum_before, ==, sum_after);
}

static void
test_refuse_chain_member (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) probe_error = NULL;
  g_autoptr(StrataImage) probe = NULL;
  g_autofree char *sum_before = NULL;
  g_autofree char *sum_after = NULL;
  const char *top = make_source (&sources[6]);
  const char *base = tu_path ("chain-base.qcow2");
  StrataConvertOptions opts;

  probe = strata_image_open (top, NULL, STRATA_OPEN_READ_ONLY, &probe_error);
  if (probe == NULL)
    {
      g_test_skip ("the qcow2 driver is not in this build");
      return;
    }
  g_clear_pointer (&probe, strata_image_unref);

  strata_convert_options_init (&opts);
  sum_before = tu_file_checksum (base);
  g_assert_false (strata_convert_sync (top, base, &opts, NULL, NULL, NULL, &error));
  g_assert_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "backing chain"));
  sum_after = tu_file_checksum (base);
  g_assert_cmpstr (sum_before, ==, sum_after);
}

static void
test_refuse_target_in_use (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *sum_before = NULL;
  g_autofree char *sum_after = NULL;
  const char *src = make_source (&sources[0]);
  const char *dst = tu_path ("in-use.raw");
  StrataConvertOptions opts;
  TuHolder *h;

  /* qemu-io holds the image's locks, like a running VM. */
  g_free (tu_run_ok ("truncate -s 1M '%s'", dst));
  h = tu_hold_with_qemu_io (tu_dir (), dst, "raw");
  sum_before = tu_file_checksum (dst);

  strata_convert_options_init (&opts);
  opts.target_format = "raw";
  g_assert_false (strata_convert_sync (src, dst, &opts, NULL, NULL, NULL, &error));
  g_assert_error (error, STRATA_ERROR, STRATA_ERROR_LOCKED);
  g_assert_nonnull (strstr (error->message, dst));

  sum_after = tu_file_checksum (dst);
  g_assert_cmpstr (sum_before, ==, sum_after);
  tu_holder_release (h);
}

static void
test_replace_existing (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *listing = NULL;
  const char *src = make_source (&sources[0]);
  const char *dst = tu_path ("existing.raw");
  const char *link = tu_path ("link.raw");
  const char *fifo = tu_path ("fifo.raw");
  g_autofree char *sum_before = NULL;
  g_autofree char *sum_after = NULL;
  StrataConvertOptions opts;

  g_free (tu_run_ok ("head -c 100k /dev/urandom > '%s'", dst));
  strata_convert_options_init (&opts);
  opts.target_format = "raw";
  g_assert_true (strata_convert_sync (src, dst, &opts, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  tu_assert_qemu_compare (src, dst);

  /* A symbolic link is neither written through (as qemu-img does) nor silently replaced:
   * it is refused, and the file it points to stays as it was. */
  g_free (tu_run_ok ("head -c 100k /dev/urandom > '%s' && ln -s existing.raw '%s'", dst,
                     link));
  sum_before = tu_file_checksum (dst);
  g_assert_false (strata_convert_sync (src, link, &opts, NULL, NULL, NULL, &error));
  g_assert_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "symbolic link"));
  g_clear_error (&error);
  g_assert_true (g_file_test (link, G_FILE_TEST_IS_SYMLINK));
  sum_after = tu_file_checksum (dst);
  g_assert_cmpstr (sum_before, ==, sum_after);
  listing = tu_run_ok ("cd '%s' && ls -A | grep -c strata- || true", tu_dir ());
  g_assert_cmpstr (listing, ==, "0\n");

  /* Never rename over something that is not a regular file (a FIFO here; a device node
   * in real life). */
  g_free (tu_run_ok ("mkfifo '%s'", fifo));
  g_assert_false (strata_convert_sync (src, fifo, &opts, NULL, NULL, NULL, &error));
  g_assert_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT);
  g_assert_true (tu_run (NULL, NULL, "test -p '%s'", fifo) == 0);

  g_unlink (fifo);
  g_unlink (link);
  g_unlink (dst);
}

static void
test_cli (void)
{
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  const char *src = make_source (&sources[0]);
  const char *dst = tu_path ("cli.qcow2");
  const char *big = tu_path ("cli-random.raw");
  int rc;

  /* Quiet by default, like qemu-img. */
  rc = tu_run (&out, &err, "%s convert -c -O qcow2 -m 2 -W '%s' '%s'", tu_strata_img (),
               src, dst);
  g_assert_cmpint (rc, ==, 0);
  g_assert_cmpstr (out, ==, "");
  tu_assert_qemu_check_clean (dst);
  tu_assert_qemu_compare (src, dst);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* -p: progress in qemu-img's format; --sizes adds one summary line. */
  rc = tu_run (&out, &err, "%s convert -p --sizes -c -o compression_type=zstd,cluster_size=4k "
               "-O qcow2 '%s' '%s'", tu_strata_img (), src, dst);
  g_assert_cmpint (rc, ==, 0);
  g_assert_nonnull (strstr (out, "    (100.00/100%)"));
  g_assert_nonnull (strstr (out, "saved"));
  tu_assert_qemu_check_clean (dst);
  tu_assert_qemu_compare (src, dst);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* SIGINT cancels: nothing under the target name, no temporary file. */
  g_unlink (dst);
  /* Random data (slow to compress); the signal is sent once the temporary file exists, however
   * long a loaded machine takes to get there (the wait ends if the convert ends). */
  g_free (tu_run_ok ("head -c 48M /dev/urandom > '%s'", big));
  rc = tu_run (&out, &err, "cd '%s' && { %s convert -c -m 1 -O qcow2 '%s' '%s' & pid=$!; "
               "while kill -0 $pid 2>/dev/null && ! ls -A | grep -q '^\\.cli.qcow2.strata-'; "
               "do sleep 0.01; done; kill -INT $pid; wait $pid; }", tu_dir (), tu_strata_img (),
               big, dst);
  g_assert_cmpint (rc, ==, 1);
  g_assert_nonnull (strstr (err, "cancelled"));
  g_assert_false (tu_file_exists (dst));
  g_clear_pointer (&out, g_free);
  out = tu_run_ok ("ls -a '%s' | grep -c strata- || true", tu_dir ());
  g_assert_cmpstr (out, ==, "0\n");
  g_unlink (dst);
  g_unlink (big);

  /* Bad usage. */
  rc = tu_run (NULL, NULL, "%s convert -c -O raw '%s' x.raw", tu_strata_img (), src);
  g_assert_cmpint (rc, ==, 1);
}

int
main (int argc, char **argv)
{
  static const char *compressions[] = { "zlib", "zstd", NULL };
  static const guint cluster_sizes[] = { 4096, 65536, 2 * 1024 * 1024 };
  g_autoptr(GPtrArray) cases = g_ptr_array_new_with_free_func (g_free);

  tu_init (&argc, &argv);

  for (guint s = 0; s < G_N_ELEMENTS (sources); s++)
    {
      for (guint c = 0; c < G_N_ELEMENTS (compressions); c++)
        for (guint k = 0; k < G_N_ELEMENTS (cluster_sizes); k++)
          {
            MatrixCase *mc = g_new0 (MatrixCase, 1);
            g_autofree char *path = NULL;

            mc->source = &sources[s];
            mc->compression = compressions[c];
            mc->cluster_size = cluster_sizes[k];
            g_ptr_array_add (cases, mc);
            path = g_strdup_printf ("/convert/matrix/%s/%s/%uk", sources[s].name,
                                    compressions[c] ? compressions[c] : "none",
                                    cluster_sizes[k] / 1024);
            g_test_add_data_func (path, mc, test_matrix);
          }

      {
        MatrixCase *mc = g_new0 (MatrixCase, 1);
        g_autofree char *path = g_strdup_printf ("/convert/matrix/%s/raw-target",
                                                 sources[s].name);

        mc->source = &sources[s];
        mc->compression = "raw";
        g_ptr_array_add (cases, mc);
        g_test_add_data_func (path, mc, test_matrix);
      }
    }

  g_test_add_func ("/convert/cancel-halfway/qcow2", test_cancel_halfway_qcow2);
  g_test_add_func ("/convert/cancel-halfway/raw", test_cancel_halfway_raw);
  g_test_add_func ("/convert/write-error-midway", test_write_error_midway);
  g_test_add_func ("/convert/async", test_async);
  g_test_add_func ("/convert/no-space", test_no_space);
  g_test_add_func ("/convert/unreadable-source", test_unreadable_source);
  g_test_add_func ("/convert/refuse-source", test_refuse_source_and_chain);
  g_test_add_func ("/convert/refuse-chain-member", test_refuse_chain_member);
  g_test_add_func ("/convert/refuse-target-in-use", test_refuse_target_in_use);
  g_test_add_func ("/convert/replace-existing", test_replace_existing);
  g_test_add_func ("/convert/cli", test_cli);

  return g_test_run ();
}
