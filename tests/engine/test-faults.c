/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Faults: a full filesystem, a read-only folder and mount, an unreadable source, a source
 * that shrinks or disappears while it is being converted, a target that is a symbolic link,
 * and a failure injected at every write or flush (StrataIoHooks.fail_after_ops) of every
 * writing operation on main. Each must end with a clear error naming the file, leave the
 * source byte-for-byte untouched, and leave no target (no file under the final name, no
 * hidden .NAME.strata-* temporary file).
 *
 * Tests run as root, which ignores permission bits, so permission errors are produced as
 * the user nobody (setpriv) or with a read-only mount. Mounting needs root: without it those
 * cases are skipped.
 *
 * Operations that are not on main yet are skipped: the CLI ones when strata-img prints "not
 * implemented yet", the engine ones when the symbol is not linked in (weak references).
 */
#include "strata-commit.h"
#include "strata-convert.h"
#include "strata-create.h"
#include "strata-error.h"
#include "strata-file.h"
#include "strata-image.h"
#include "strata-rebase.h"
#include "test-util.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

/* Declared in the headers; weak here so that this program links (and skips) before the
 * implementations land on main. */
#pragma weak strata_create_qcow2
#pragma weak strata_convert_sync

#define AS_NOBODY TU_AS_NOBODY

/* Failures that are known bugs in code this test does not own: test path and reason. */
static const struct
{
  const char *test;
  const char *reason;
} known_issues[] = {
  { NULL, NULL },
};

static char *full_mnt;   /* a 2 MiB tmpfs, when root */
static char *ro_mnt;     /* a read-only bind mount of a folder with a source in it */
/* Why they are missing (not root, or no CAP_SYS_ADMIN in this container). */
static char *full_mnt_why;
static char *ro_mnt_why;

static const char *
known_reason (void)
{
  for (guint i = 0; known_issues[i].test != NULL; i++)
    if (g_strcmp0 (known_issues[i].test, g_test_get_path ()) == 0)
      return known_issues[i].reason;
  return NULL;
}

/* Reports a broken expectation: a failure, or "incomplete" when it is a known bug. */
static void
problem (const char *fmt, ...) G_GNUC_PRINTF (1, 2);

static void
problem (const char *fmt, ...)
{
  g_autofree char *msg = NULL;
  const char *reason = known_reason ();
  va_list args;

  va_start (args, fmt);
  msg = g_strdup_vprintf (fmt, args);
  va_end (args);

  g_test_message ("%s%s", reason ? "known issue: " : "", msg);
  if (reason != NULL)
    g_test_incomplete (reason);
  else
    g_test_fail ();
}

static gboolean
cli_missing (const char *err)
{
  if (err != NULL && strstr (err, "not implemented yet") != NULL)
    {
      g_test_skip ("the command is not implemented on main yet");
      return TRUE;
    }
  return FALSE;
}

/* Files in @dir other than those in @allowed (space-separated) — temporary files included. */
static void
assert_nothing_left (const char *dir, const char *expected)
{
  g_autofree char *listing = tu_list_dir (dir);

  if (g_strcmp0 (listing, expected) != 0)
    problem ("%s: expected \"%s\", found \"%s\"", dir, expected, listing);
}

static void
assert_clear_error (int rc, const char *err, const char *name, const char *what)
{
  if (rc >= 124)
    problem ("%s: killed or timed out (exit %d): %s", what, rc, err);
  else if (rc != 1)
    problem ("%s: exit %d, expected 1: %s", what, rc, err);
  else if (strstr (err, name) == NULL)
    problem ("%s: the error does not name %s: %s", what, name, err);
}

static char *
make_dir (char *name, int mode)
{
  g_autofree char *owned = name;
  char *dir = g_build_filename (tu_dir (), owned, NULL);

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_assert_cmpint (g_chmod (dir, mode), ==, 0);
  return dir;
}

/* A 4 MiB source of data that does not compress, so that it cannot fit in 2 MiB. */
static const char *
random_source (void)
{
  const char *src = tu_path ("src.raw");

  if (!tu_file_exists (src))
    {
      g_free (tu_run_ok ("head -c 4194304 /dev/urandom > '%s' && chmod 644 '%s'", src, src));
      g_free (tu_run_ok ("qemu-img convert -O qcow2 '%s' '%s'", src, tu_path ("src.qcow2")));
      g_free (tu_run_ok ("chmod 644 '%s'", tu_path ("src.qcow2")));
    }
  return src;
}

/* --- a full filesystem ------------------------------------------------------------------ */

static void
test_full_convert (gconstpointer data)
{
  const char *fmt = data;
  const char *src = random_source ();
  g_autofree char *sum = tu_file_checksum (src);
  g_autofree char *err = NULL;
  g_autofree char *after = NULL;
  int rc;

  if (full_mnt == NULL)
    {
      g_test_skip (full_mnt_why);
      return;
    }

  rc = tu_run (NULL, &err, "timeout 60 %s convert -O %s '%s' '%s/out.%s'", tu_strata_img (),
               fmt, src, full_mnt, fmt);
  if (cli_missing (err))
    return;
  assert_clear_error (rc, err, "out.", "convert to a full filesystem");
  if (strstr (err, "space") == NULL)
    problem ("the error does not say the disk is full: %s", err);
  assert_nothing_left (full_mnt, "");
  after = tu_file_checksum (src);
  g_assert_cmpstr (sum, ==, after);
}

static void
test_full_create (void)
{
  g_autofree char *err = NULL;
  int rc;

  if (full_mnt == NULL)
    {
      g_test_skip (full_mnt_why);
      return;
    }

  /* Fill it to the last block, then ask for a few KiB of metadata. */
  g_free (tu_run_ok ("cat /dev/zero > '%s/filler' 2>/dev/null || true", full_mnt));
  rc = tu_run (NULL, &err, "timeout 60 %s create -f qcow2 '%s/new.qcow2' 1G", tu_strata_img (),
               full_mnt);
  {
    g_autofree char *filler = g_build_filename (full_mnt, "filler", NULL);

    g_unlink (filler);
  }
  if (cli_missing (err))
    return;
  assert_clear_error (rc, err, "new.qcow2", "create on a full filesystem");
  assert_nothing_left (full_mnt, "");
}

/* --- permissions ---------------------------------------------------------------------- */

static void
test_readonly_folder (void)
{
  g_autofree char *dir = make_dir (g_strdup ("ro"), 0755);
  const char *src = random_source ();
  g_autofree char *err = NULL;
  int rc;

  if (!tu_nobody_can_run (dir))
    return;
  /* nobody cannot write into root's 0755 folder. */
  rc = tu_run (NULL, &err, "%s %s convert -O qcow2 '%s' '%s/out.qcow2'", AS_NOBODY,
               tu_strata_img (), src, dir);
  if (cli_missing (err))
    return;
  assert_clear_error (rc, err, "out.qcow2", "convert into a read-only folder");
  assert_nothing_left (dir, "");
  g_clear_pointer (&err, g_free);

  rc = tu_run (NULL, &err, "%s %s create -f qcow2 '%s/new.qcow2' 1M", AS_NOBODY,
               tu_strata_img (), dir);
  if (cli_missing (err))
    return;
  assert_clear_error (rc, err, "new.qcow2", "create in a read-only folder");
  assert_nothing_left (dir, "");
}

static void
test_readonly_mount (void)
{
  g_autofree char *err = NULL;
  g_autofree char *src = NULL;
  g_autofree char *sum = NULL;
  g_autofree char *after = NULL;
  int rc;

  if (ro_mnt == NULL)
    {
      g_test_skip (ro_mnt_why);
      return;
    }
  src = g_build_filename (ro_mnt, "src.qcow2", NULL);
  sum = tu_file_checksum (src);

  /* Root ignores permission bits, not a read-only mount. */
  rc = tu_run (NULL, &err, "%s convert -O raw '%s' '%s/out.raw'", tu_strata_img (), src,
               ro_mnt);
  if (cli_missing (err))
    return;
  assert_clear_error (rc, err, "out.raw", "convert into a read-only mount");
  assert_nothing_left (ro_mnt, "src.qcow2");
  g_clear_pointer (&err, g_free);

  /* Reading from a read-only mount must work: nothing is opened for writing. */
  rc = tu_run (NULL, &err, "%s convert -O raw '%s' '%s'", tu_strata_img (), src,
               tu_path ("from-ro.raw"));
  if (!cli_missing (err) && rc != 0)
    problem ("converting from a read-only mount failed (exit %d): %s", rc, err);
  g_clear_pointer (&err, g_free);
  rc = tu_run (NULL, &err, "%s info '%s'", tu_strata_img (), src);
  if (!cli_missing (err) && rc != 0)
    problem ("info on a read-only mount failed (exit %d): %s", rc, err);

  after = tu_file_checksum (src);
  g_assert_cmpstr (sum, ==, after);
}

static void
test_unreadable_source (void)
{
  g_autofree char *dir = make_dir (g_strdup ("unreadable"), 0777);
  g_autofree char *src = g_build_filename (dir, "secret.qcow2", NULL);
  static const char *commands[] = { "info", "map", "check", "convert -O raw" };

  if (!tu_nobody_can_run (dir))
    return;
  g_free (tu_run_ok ("qemu-img create -q -f qcow2 '%s' 1M && chmod 000 '%s'", src, src));

  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    {
      g_autofree char *err = NULL;
      g_autofree char *what = g_strdup_printf ("%s of an unreadable file", commands[i]);
      gboolean convert = g_str_has_prefix (commands[i], "convert");
      int rc;

      rc = tu_run (NULL, &err, "cd '%s' && %s %s %s secret.qcow2 %s", dir, AS_NOBODY,
                   tu_strata_img (), commands[i], convert ? "out.raw" : "");
      if (err != NULL && strstr (err, "not implemented yet") != NULL)
        {
          g_test_message ("%s: not implemented yet", commands[i]);
          continue;
        }
      assert_clear_error (rc, err, "secret.qcow2", what);
      if (strstr (err, "ermission") == NULL)
        problem ("%s: the error does not say permission denied: %s", what, err);
    }
  assert_nothing_left (dir, "secret.qcow2");
}

/* --- the engine: injected failures and a source that changes underneath ------------------ */

typedef struct
{
  const char *victim;     /* a file to truncate or unlink */
  guint64     at_write;   /* on the N-th write to any file */
  guint64     writes;
  gboolean    unlink_it;
  guint64     new_size;
} MidwayHook;

static void
midway_write_cb (const char *path, guint64 offset, const void *buf, gsize len, gpointer data)
{
  MidwayHook *m = data;

  if (++m->writes != m->at_write)
    return;
  if (m->unlink_it)
    g_unlink (m->victim);
  else
    (void) !truncate (m->victim, m->new_size);
}

static gboolean
engine_convert (const char   *src,
                const char   *dst,
                const char   *fmt,
                gboolean      compress,
                GError      **error)
{
  StrataConvertOptions opts;

  strata_convert_options_init (&opts);
  opts.target_format = fmt;
  opts.compress = compress;
  opts.threads = 2;
  return strata_convert_sync (src, dst, &opts, NULL, NULL, NULL, error);
}

static gboolean
convert_missing (void)
{
  if (strata_convert_sync == NULL)
    {
      g_test_skip ("strata_convert_sync() is not on main yet");
      return TRUE;
    }
  return FALSE;
}

/* The source shrinks halfway through: the target must not be silently padded with zeros. */
static void
test_source_truncated_midway (gconstpointer data)
{
  const char *srcfmt = data;
  g_autofree char *dir = make_dir (g_strdup_printf ("trunc-%s", srcfmt), 0755);
  g_autofree char *src = g_build_filename (dir, srcfmt[0] == 'r' ? "s.raw" : "s.qcow2", NULL);
  g_autofree char *dst = g_build_filename (dir, "out.qcow2", NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *keep = g_strdup_printf ("%s.orig", dir);
  MidwayHook m = { src, 1, 0, FALSE, 0 };
  StrataIoHooks hooks = { .on_write = midway_write_cb, .data = &m };
  g_autofree char *base = g_path_get_basename (src);
  gboolean ok;

  if (convert_missing ())
    return;

  /* Big enough that the reader cannot have read it all before the first target write. */
  g_free (tu_run_ok ("head -c 16777216 /dev/urandom > '%s/r.raw' && "
                     "qemu-img convert -O %s '%s/r.raw' '%s' && "
                     "rm '%s/r.raw' && cp '%s' '%s'", dir, srcfmt, dir, src, dir, src, keep));
  {
    guint64 size = 0;
    g_autoptr(StrataFile) f = strata_file_open (src, STRATA_FILE_READ, NULL);

    g_assert_nonnull (f);
    g_assert_true (strata_file_get_size (f, &size, NULL));
    m.new_size = size / 2;
  }

  strata_io_set_hooks (&hooks);
  ok = engine_convert (src, dst, "qcow2", FALSE, &error);
  strata_io_set_hooks (NULL);

  if (m.writes < m.at_write)
    g_test_message ("the convert wrote only %" G_GUINT64_FORMAT " times", m.writes);
  if (ok && tu_run (NULL, NULL, "qemu-img compare -q '%s' '%s'", keep, dst) == 0)
    g_test_message ("the whole source was read before it was cut: inconclusive");
  else if (ok)
    problem ("converting a source that was cut in half midway succeeded: the target holds "
             "zeros where the data was");
  else if (strstr (error->message, base) == NULL)
    problem ("the error does not name the source: %s", error->message);
  {
    g_autofree char *expected = g_strdup_printf ("%s", base);

    if (!ok)
      assert_nothing_left (dir, expected);
  }
  g_unlink (keep);
}

/* The source is unlinked midway: the open file keeps its data, so the convert completes and
 * the target is exact. */
static void
test_source_unlinked_midway (void)
{
  g_autofree char *dir = make_dir (g_strdup ("unlinked"), 0755);
  g_autofree char *src = g_build_filename (dir, "s.qcow2", NULL);
  g_autofree char *keep = g_build_filename (tu_dir (), "unlinked-copy.qcow2", NULL);
  g_autofree char *dst = g_build_filename (dir, "out.qcow2", NULL);
  g_autoptr(GError) error = NULL;
  MidwayHook m = { src, 4, 0, TRUE, 0 };
  StrataIoHooks hooks = { .on_write = midway_write_cb, .data = &m };
  gboolean ok;

  if (convert_missing ())
    return;

  g_free (tu_run_ok ("head -c 4194304 /dev/urandom > '%s/r.raw' && "
                     "qemu-img convert -O qcow2 '%s/r.raw' '%s' && rm '%s/r.raw' && "
                     "cp '%s' '%s'", dir, dir, src, dir, src, keep));

  strata_io_set_hooks (&hooks);
  ok = engine_convert (src, dst, "qcow2", FALSE, &error);
  strata_io_set_hooks (NULL);

  g_assert_no_error (error);
  g_assert_true (ok);
  tu_assert_qemu_check_clean (dst);
  tu_assert_qemu_compare (keep, dst);
}

/* Counts the write-side operations of a successful run, then fails each of them in turn
 * (all of them when few, an even sample plus both ends when many). */
typedef gboolean (*Operation) (const char *target, GError **error);

static const char *op_source;

static gboolean
op_create (const char *target, GError **error)
{
  StrataCreateOptions opts;

  strata_create_options_init (&opts);
  opts.size = 1 << 30;
  opts.has_size = TRUE;
  return strata_create_qcow2 (target, &opts, error);
}

static gboolean
op_convert_qcow2 (const char *target, GError **error)
{
  return engine_convert (op_source, target, "qcow2", FALSE, error);
}

static gboolean
op_convert_compressed (const char *target, GError **error)
{
  return engine_convert (op_source, target, "qcow2", TRUE, error);
}

static gboolean
op_convert_raw (const char *target, GError **error)
{
  return engine_convert (op_source, target, "raw", FALSE, error);
}

typedef struct
{
  const char *name;
  Operation   run;
  gboolean    needs_convert;
} FaultOp;

static const FaultOp fault_ops[] = {
  { "create", op_create, FALSE },
  { "convert-qcow2", op_convert_qcow2, TRUE },
  { "convert-compressed", op_convert_compressed, TRUE },
  { "convert-raw", op_convert_raw, TRUE },
};

static void
test_fail_nth_op (gconstpointer data)
{
  const FaultOp *op = data;
  g_autofree char *dir = make_dir (g_strdup_printf ("nth-%s", op->name), 0755);
  g_autofree char *target = g_build_filename (dir, "target.img", NULL);
  g_autofree char *src = NULL;
  g_autofree char *sum = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) points = g_array_new (FALSE, FALSE, sizeof (guint64));
  StrataIoHooks hooks = { 0 };
  guint64 total;

  if (op->needs_convert ? convert_missing () : strata_create_qcow2 == NULL)
    {
      if (!op->needs_convert)
        g_test_skip ("strata_create_qcow2() is not on main yet");
      return;
    }

  if (op->needs_convert)
    {
      /* Mixed data: compressible text, random bytes, zeros, a hole. */
      src = g_build_filename (dir, "src.qcow2", NULL);
      g_free (tu_run_ok ("cd '%s' && { yes strata | head -c 1048576; "
                         "head -c 1048576 /dev/urandom; head -c 524288 /dev/zero; } > s.raw && "
                         "truncate -s 4M s.raw && qemu-img convert -O qcow2 s.raw src.qcow2 && "
                         "rm s.raw", dir));
      sum = tu_file_checksum (src);
      op_source = src;
    }

  /* A clean run, counted. */
  strata_io_set_hooks (&hooks);
  g_assert_true (op->run (target, &error));
  strata_io_set_hooks (NULL);
  g_assert_no_error (error);
  total = hooks.ops;
  g_assert_cmpuint (total, >, 0);
  g_test_message ("%s: %" G_GUINT64_FORMAT " writes and flushes", op->name, total);
  if (g_strcmp0 (op->name, "convert-raw") != 0)
    tu_assert_qemu_check_clean (target);
  g_unlink (target);

  for (guint64 n = 1; n <= total; n++)
    if (total <= 64 || n <= 16 || n > total - 16 || n % (total / 32) == 0)
      g_array_append_val (points, n);

  for (guint i = 0; i < points->len; i++)
    {
      guint64 n = g_array_index (points, guint64, i);
      StrataIoHooks fail_hooks = { .fail_after_ops = n };
      g_autofree char *listing = NULL;
      gboolean ok;

      strata_io_set_hooks (&fail_hooks);
      ok = op->run (target, &error);
      strata_io_set_hooks (NULL);

      if (ok)
        {
          problem ("%s: failing operation %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
                   " went unnoticed", op->name, n, total);
          g_unlink (target);
          continue;
        }
      if (!g_error_matches (error, STRATA_ERROR, STRATA_ERROR_IO) ||
          strstr (error->message, "target.img") == NULL)
        problem ("%s: failing operation %" G_GUINT64_FORMAT ": expected an I/O error naming "
                 "target.img, got: %s", op->name, n, error->message);
      g_clear_error (&error);

      listing = tu_list_dir (dir);
      if (g_strcmp0 (listing, src ? "src.qcow2" : "") != 0)
        {
          problem ("%s: failing operation %" G_GUINT64_FORMAT " left \"%s\"", op->name, n,
                   listing);
          g_free (tu_run_ok ("cd '%s' && rm -f target.img .target.img.strata-*", dir));
        }
    }

  if (sum != NULL)
    {
      g_autofree char *after = tu_file_checksum (src);

      g_assert_cmpstr (sum, ==, after);
    }
}

/* In-place operations (rebase, commit): a failure at any write or flush must leave every
 * file consistent for QEMU (leaks allowed, as after a crash) and the overlay's guest view
 * unchanged, with no temporary file behind. */
typedef gboolean (*InPlaceOperation) (const char *dir, GError **error);

static gboolean
op_rebase (const char *dir, GError **error)
{
  g_autofree char *top = g_build_filename (dir, "top.qcow2", NULL);
  StrataRebaseOptions opts = { .backing = "copy.qcow2", .backing_format = "qcow2" };

  return strata_rebase_sync (top, &opts, NULL, NULL, error);
}

static gboolean
op_commit (const char *dir, GError **error)
{
  g_autofree char *top = g_build_filename (dir, "top.qcow2", NULL);
  StrataCommitOptions opts = { .force = TRUE };
  StrataCommitResult result = { 0 };
  gboolean ok;

  ok = strata_commit_sync (top, &opts, NULL, &result, NULL, error);
  strata_commit_result_clear (&result);
  return ok;
}

typedef struct
{
  const char      *name;
  InPlaceOperation run;
} InPlaceOp;

static const InPlaceOp inplace_ops[] = {
  { "rebase", op_rebase },
  { "commit", op_commit },
};

static void
make_chain (const char *dir)
{
  g_free (tu_run_ok ("cd '%s' && rm -f *.qcow2 && "
                     "qemu-img create -q -f qcow2 base.qcow2 2M && "
                     "qemu-io -c 'write -P 0x11 0 1M' base.qcow2 >/dev/null && "
                     "cp base.qcow2 copy.qcow2 && "
                     "qemu-io -c 'write -P 0x22 256k 128k' copy.qcow2 >/dev/null && "
                     "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2 && "
                     "qemu-io -c 'write -P 0x33 64k 64k' -c 'write -P 0x44 1536k 64k' "
                     "top.qcow2 >/dev/null", dir));
}

static void
test_fail_nth_inplace (gconstpointer data)
{
  const InPlaceOp *op = data;
  g_autofree char *dir = make_dir (g_strdup_printf ("inplace-%s", op->name), 0755);
  g_autofree char *ref = g_strdup_printf ("%s.ref.raw", dir);
  g_autoptr(GError) error = NULL;
  StrataIoHooks hooks = { 0 };
  guint64 total;

  make_chain (dir);
  g_free (tu_run_ok ("cd '%s' && qemu-img convert -O raw top.qcow2 '%s'", dir, ref));

  strata_io_set_hooks (&hooks);
  g_assert_true (op->run (dir, &error));
  strata_io_set_hooks (NULL);
  g_assert_no_error (error);
  total = hooks.ops;
  g_test_message ("%s: %" G_GUINT64_FORMAT " writes and flushes", op->name, total);

  for (guint64 n = 1; n <= total; n++)
    {
      StrataIoHooks fail_hooks = { .fail_after_ops = n };
      g_autofree char *listing = NULL;
      gboolean ok;
      int rc;

      if (!(total <= 48 || n <= 16 || n > total - 16 || n % (total / 16) == 0))
        continue;

      make_chain (dir);
      strata_io_set_hooks (&fail_hooks);
      ok = op->run (dir, &error);
      strata_io_set_hooks (NULL);

      if (ok)
        problem ("%s: failing operation %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
                 " went unnoticed", op->name, n, total);
      else if (!g_error_matches (error, STRATA_ERROR, STRATA_ERROR_IO) ||
               strstr (error->message, ".qcow2") == NULL)
        problem ("%s: failing operation %" G_GUINT64_FORMAT ": expected an I/O error naming "
                 "the file, got: %s", op->name, n, error->message);
      g_clear_error (&error);

      for (guint i = 0; i < 3; i++)
        {
          static const char *files[] = { "top.qcow2", "base.qcow2", "copy.qcow2" };

          rc = tu_run (NULL, NULL, "cd '%s' && qemu-img check -q %s", dir, files[i]);
          if (rc != 0 && rc != 3)
            problem ("%s: after failing operation %" G_GUINT64_FORMAT ", qemu-img check %s "
                     "exits %d", op->name, n, files[i], rc);
        }
      rc = tu_run (NULL, NULL, "cd '%s' && qemu-img compare -q top.qcow2 '%s'", dir, ref);
      if (rc != 0)
        problem ("%s: after failing operation %" G_GUINT64_FORMAT ", the overlay's guest data "
                 "changed (qemu-img compare exits %d)", op->name, n, rc);
      listing = tu_list_dir (dir);
      if (g_strcmp0 (listing, "base.qcow2 copy.qcow2 top.qcow2") != 0)
        problem ("%s: failing operation %" G_GUINT64_FORMAT " left \"%s\"", op->name, n,
                 listing);
    }
  g_unlink (ref);
}

/* --- symbolic links and self-targets ---------------------------------------------------- */

/* DST is a symbolic link to a file elsewhere (think /etc/passwd). qemu-img follows it and
 * overwrites the file it points to. Strata writes a temporary file next to DST and renames
 * it over DST, which replaces the link itself: the file it pointed to is left alone. */
static void
test_target_symlink (void)
{
  g_autofree char *dir = make_dir (g_strdup ("symlink"), 0755);
  g_autofree char *victim = g_build_filename (tu_dir (), "victim.txt", NULL);
  g_autofree char *link = g_build_filename (dir, "out.qcow2", NULL);
  g_autofree char *err = NULL;
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  const char *src = random_source ();
  int rc;

  g_assert_true (g_file_set_contents (victim, "root:x:0:0:root:/root:/bin/bash\n", -1, NULL));
  before = tu_file_checksum (victim);
  g_assert_cmpint (symlink (victim, link), ==, 0);

  rc = tu_run (NULL, &err, "%s convert -O qcow2 '%s' '%s'", tu_strata_img (), src, link);
  if (cli_missing (err))
    return;

  after = tu_file_checksum (victim);
  if (g_strcmp0 (before, after) != 0)
    problem ("convert wrote through the symbolic link into the file it points to");
  if (rc == 0)
    {
      /* Replaced: out.qcow2 is now a regular file holding the image. */
      if (g_file_test (link, G_FILE_TEST_IS_SYMLINK))
        problem ("convert succeeded but out.qcow2 is still a symbolic link");
      else
        tu_assert_qemu_compare (src, link);
    }
  else
    assert_clear_error (rc, err, "out.qcow2", "convert onto a symbolic link");
  {
    g_autofree char *listing = tu_list_dir (dir);

    g_assert_cmpstr (listing, ==, "out.qcow2");
  }
}

/* A target that is the source, or part of its chain, is refused (DESIGN.md). */
static void
test_target_in_chain (void)
{
  g_autofree char *dir = make_dir (g_strdup ("chain"), 0755);
  g_autofree char *base = g_build_filename (dir, "base.qcow2", NULL);
  g_autofree char *top = g_build_filename (dir, "top.qcow2", NULL);
  g_autofree char *base_sum = NULL;
  g_autofree char *top_sum = NULL;
  static const char *targets[] = { "top.qcow2", "base.qcow2", "./base.qcow2", "link.qcow2" };

  g_free (tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 base.qcow2 1M && "
                     "qemu-io -c 'write -P 0x42 0 64k' base.qcow2 >/dev/null && "
                     "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2 && "
                     "ln -s base.qcow2 link.qcow2", dir));
  base_sum = tu_file_checksum (base);
  top_sum = tu_file_checksum (top);

  for (guint i = 0; i < G_N_ELEMENTS (targets); i++)
    {
      g_autofree char *err = NULL;
      g_autofree char *what = g_strdup_printf ("convert top.qcow2 onto %s", targets[i]);
      g_autofree char *a = NULL;
      g_autofree char *b = NULL;
      int rc;

      rc = tu_run (NULL, &err, "cd '%s' && %s convert -O qcow2 top.qcow2 %s", dir,
                   tu_strata_img (), targets[i]);
      if (cli_missing (err))
        return;
      assert_clear_error (rc, err, "qcow2", what);
      a = tu_file_checksum (base);
      b = tu_file_checksum (top);
      if (g_strcmp0 (a, base_sum) != 0 || g_strcmp0 (b, top_sum) != 0)
        problem ("%s changed the chain", what);
      assert_nothing_left (dir, "base.qcow2 link.qcow2 top.qcow2");
    }
}

/* --- set-up ----------------------------------------------------------------------------- */

static void
unmount_all (void)
{
  if (full_mnt != NULL)
    umount2 (full_mnt, MNT_DETACH);
  if (ro_mnt != NULL)
    umount2 (ro_mnt, MNT_DETACH);
}

static void
mount_filesystems (void)
{
  g_autofree char *full = g_build_filename (tu_dir (), "full", NULL);
  g_autofree char *ro = g_build_filename (tu_dir (), "ro-mnt", NULL);

  if (geteuid () != 0)
    {
      full_mnt_why = g_strdup ("mounting a small tmpfs needs root");
      ro_mnt_why = g_strdup ("a read-only bind mount needs root");
      return;
    }

  g_mkdir_with_parents (full, 0755);
  if (mount ("tmpfs", full, "tmpfs", 0, "size=2m,mode=0755") == 0)
    full_mnt = g_steal_pointer (&full);
  else
    full_mnt_why = g_strdup_printf ("could not mount a tmpfs (no CAP_SYS_ADMIN in this "
                                    "container?): %s", g_strerror (errno));

  g_mkdir_with_parents (ro, 0755);
  g_free (tu_run_ok ("qemu-img create -q -f qcow2 '%s/src.qcow2' 1M && "
                     "qemu-io -c 'write -P 0x42 0 64k' '%s/src.qcow2' >/dev/null", ro, ro));
  if (mount (ro, ro, NULL, MS_BIND, NULL) != 0)
    ro_mnt_why = g_strdup_printf ("could not make a bind mount (no CAP_SYS_ADMIN in this "
                                  "container?): %s", g_strerror (errno));
  else if (mount (NULL, ro, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) != 0)
    {
      ro_mnt_why = g_strdup_printf ("could not make a bind mount read-only: %s",
                                    g_strerror (errno));
      umount2 (ro, MNT_DETACH);
    }
  else
    ro_mnt = g_steal_pointer (&ro);

  atexit (unmount_all);
}

int
main (int argc, char **argv)
{
  tu_init (&argc, &argv);

  /* nobody must be able to reach the scratch folder and the binary under test. */
  g_chmod (tu_dir (), 0755);
  mount_filesystems ();

  g_test_add_data_func ("/faults/full/convert-raw", "raw", test_full_convert);
  g_test_add_data_func ("/faults/full/convert-qcow2", "qcow2", test_full_convert);
  g_test_add_func ("/faults/full/create", test_full_create);
  g_test_add_func ("/faults/permission/read-only-folder", test_readonly_folder);
  g_test_add_func ("/faults/permission/read-only-mount", test_readonly_mount);
  g_test_add_func ("/faults/permission/unreadable-source", test_unreadable_source);
  g_test_add_data_func ("/faults/midway/truncated-raw", "raw", test_source_truncated_midway);
  g_test_add_data_func ("/faults/midway/truncated-qcow2", "qcow2",
                        test_source_truncated_midway);
  g_test_add_func ("/faults/midway/unlinked", test_source_unlinked_midway);
  for (guint i = 0; i < G_N_ELEMENTS (fault_ops); i++)
    {
      g_autofree char *path = g_strdup_printf ("/faults/fail-nth/%s", fault_ops[i].name);

      g_test_add_data_func (path, &fault_ops[i], test_fail_nth_op);
    }
  for (guint i = 0; i < G_N_ELEMENTS (inplace_ops); i++)
    {
      g_autofree char *path = g_strdup_printf ("/faults/fail-nth/%s", inplace_ops[i].name);

      g_test_add_data_func (path, &inplace_ops[i], test_fail_nth_inplace);
    }
  g_test_add_func ("/faults/target/symlink", test_target_symlink);
  g_test_add_func ("/faults/target/in-chain", test_target_in_chain);

  return g_test_run ();
}
