/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-copy.h"
#include "strata-error.h"
#include "strata-file.h"
#include "strata-image.h"
#include "test-util.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

/*
 * Fast copies of a base: every method (reflink where the file system has it, copy_file_range,
 * plain reads and writes) gives a file that reads identical, keeps its holes and its mode;
 * existing targets are refused untouched; errors and cancellation leave no temporary file.
 */

#define TMPFS_DIR "/dev/shm"

/* A qcow2 base with data scattered over 64 MiB and large holes between. */
static char *
make_base (const char *dir,
           const char *name)
{
  char *path = g_build_filename (dir, name, NULL);

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_free (tu_run_ok ("qemu-img create -q -f qcow2 '%s' 256M && "
                     "qemu-io -c 'write -P 0x11 0 3M' -c 'write -P 0x22 40M 5M' "
                     "-c 'write -P 0x33 100M 64k' -c 'write -P 0x44 200M 1M' '%s' >/dev/null",
                     path, path));
  return path;
}

static guint64
allocated (const char *path)
{
  struct stat st;

  g_assert_cmpint (stat (path, &st), ==, 0);
  return (guint64) st.st_blocks * 512;
}

static guint
mode_of (const char *path)
{
  struct stat st;

  g_assert_cmpint (stat (path, &st), ==, 0);
  return st.st_mode & 07777;
}

static void
assert_same_copy (const char *source,
                  const char *copy)
{
  g_autofree char *a = tu_file_checksum (source);
  g_autofree char *b = tu_file_checksum (copy);

  g_assert_cmpstr (a, ==, b);
  tu_assert_qemu_check_clean (copy);
  tu_assert_qemu_compare (source, copy);
  /* Holes stay holes: the copy takes no more space than the source (plus file-system
   * rounding of one block per extent). */
  g_assert_cmpuint (allocated (copy), <=, allocated (source) + 16 * 4096);
}

static const char *
method_name (StrataCopyMethod m)
{
  switch (m)
    {
    case STRATA_COPY_METHOD_REFLINK: return "reflink";
    case STRATA_COPY_METHOD_COPY_RANGE: return "copy_file_range";
    case STRATA_COPY_METHOD_READ_WRITE: return "read/write";
    }
  return "?";
}

/* Whether FICLONE works between two files of @dir (the answer decides the expected method). */
static gboolean
dir_can_reflink (const char *dir)
{
  g_autofree char *a = g_build_filename (dir, ".reflink-probe-a", NULL);
  g_autofree char *b = g_build_filename (dir, ".reflink-probe-b", NULL);
  int fa, fb;
  gboolean ok;

  g_assert_true (g_file_set_contents (a, "probe", -1, NULL));
  fa = open (a, O_RDONLY);
  fb = open (b, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  g_assert_cmpint (fa, >=, 0);
  g_assert_cmpint (fb, >=, 0);
  ok = ioctl (fb, FICLONE, fa) == 0;
  close (fa);
  close (fb);
  g_unlink (a);
  g_unlink (b);
  return ok;
}

static void
test_methods (void)
{
  const StrataCopyFlags flags[] = {
    STRATA_COPY_DEFAULT, STRATA_COPY_NO_REFLINK,
    STRATA_COPY_NO_REFLINK | STRATA_COPY_NO_COPY_RANGE,
  };
  const char *dir = tu_path ("methods");
  g_autofree char *base = make_base (dir, "base.qcow2");
  gboolean reflink = dir_can_reflink (dir);

  g_assert_cmpint (g_chmod (base, 0640), ==, 0);
  for (guint i = 0; i < G_N_ELEMENTS (flags); i++)
    {
      g_autofree char *name = g_strdup_printf ("copy-%u.qcow2", i);
      g_autofree char *copy = g_build_filename (dir, name, NULL);
      g_autoptr(GError) error = NULL;
      g_autofree char *listing = NULL;
      StrataCopyMethod method = -1;

      g_assert_true (strata_copy_image_full (base, copy, flags[i], &method, NULL, NULL, &error));
      g_assert_no_error (error);
      g_test_message ("flags %u: %s", flags[i], method_name (method));
      if (i == 0)
        g_assert_cmpint (method, ==, reflink ? STRATA_COPY_METHOD_REFLINK
                                             : STRATA_COPY_METHOD_COPY_RANGE);
      else if (i == 1)
        g_assert_cmpint (method, ==, STRATA_COPY_METHOD_COPY_RANGE);
      else
        g_assert_cmpint (method, ==, STRATA_COPY_METHOD_READ_WRITE);
      assert_same_copy (base, copy);
      g_assert_cmpuint (mode_of (copy), ==, 0640);
      g_unlink (copy);
      listing = tu_list_dir (dir);
      g_assert_cmpstr (listing, ==, "base.qcow2");
    }
}

/* The environment variable forces the fallback for whole programs (strata-img, benchmarks). */
static void
test_env_forces_fallback (void)
{
  const char *dir = tu_path ("env");
  g_autofree char *base = make_base (dir, "base.qcow2");
  g_autofree char *copy = g_build_filename (dir, "copy.qcow2", NULL);
  g_autoptr(GError) error = NULL;
  StrataCopyMethod method = -1;

  g_setenv ("STRATA_COPY_NO_REFLINK", "1", TRUE);
  g_assert_true (strata_copy_image_full (base, copy, STRATA_COPY_DEFAULT, &method, NULL, NULL,
                                         &error));
  g_unsetenv ("STRATA_COPY_NO_REFLINK");
  g_assert_no_error (error);
  g_assert_cmpint (method, !=, STRATA_COPY_METHOD_REFLINK);
  assert_same_copy (base, copy);
}

/* Where the file system shares blocks, the copy is a reflink and still reads identical. */
static void
test_reflink (void)
{
  const char *dir = g_getenv ("STRATA_TEST_REFLINK_DIR");
  g_autofree char *own = NULL;
  g_autofree char *base = NULL;
  g_autofree char *copy = NULL;
  g_autoptr(GError) error = NULL;
  StrataCopyMethod method = -1;

  if (dir == NULL)
    dir = own = g_strdup (tu_path ("reflink"));
  else
    dir = own = g_build_filename (dir, "strata-test-copy-reflink", NULL);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  if (!dir_can_reflink (dir))
    {
      g_autofree char *msg = g_strdup_printf ("FICLONE is not supported in %s (set "
                                              "STRATA_TEST_REFLINK_DIR to a btrfs or XFS "
                                              "folder to test it)", dir);

      g_test_skip (msg);
      return;
    }
  base = make_base (dir, "base.qcow2");
  copy = g_build_filename (dir, "copy.qcow2", NULL);
  g_assert_true (strata_copy_image_full (base, copy, STRATA_COPY_DEFAULT, &method, NULL, NULL,
                                         &error));
  g_assert_no_error (error);
  g_assert_cmpint (method, ==, STRATA_COPY_METHOD_REFLINK);
  assert_same_copy (base, copy);
  g_unlink (copy);
  g_unlink (base);
  g_rmdir (dir);
}

/* Between ext4 (the scratch folder) and tmpfs, and within tmpfs: the method differs with the
 * kernel and the file systems, the result must not. */
static void
test_tmpfs (void)
{
  struct statfs sf;
  g_autofree char *shm = NULL;
  g_autofree char *base = NULL;
  const char *dir = tu_path ("tmpfs");
  struct { const char *from, *to; } pairs[3];

  if (statfs (TMPFS_DIR, &sf) != 0 || sf.f_type != 0x01021994 /* TMPFS_MAGIC */ ||
      access (TMPFS_DIR, W_OK) != 0)
    {
      g_test_skip ("no writable tmpfs at " TMPFS_DIR);
      return;
    }
  shm = g_strdup_printf (TMPFS_DIR "/strata-test-copy-%d", (int) getpid ());
  base = make_base (dir, "base.qcow2");
  g_free (make_base (shm, "base.qcow2"));

  pairs[0].from = base;               pairs[0].to = "to-tmpfs.qcow2";
  pairs[1].from = "tmpfs";            pairs[1].to = "within-tmpfs.qcow2";
  pairs[2].from = "tmpfs";            pairs[2].to = "to-disk.qcow2";
  for (guint i = 0; i < G_N_ELEMENTS (pairs); i++)
    {
      g_autofree char *from = g_str_equal (pairs[i].from, "tmpfs")
                                ? g_build_filename (shm, "base.qcow2", NULL)
                                : g_strdup (pairs[i].from);
      g_autofree char *to = g_build_filename (i == 2 ? dir : shm, pairs[i].to, NULL);
      g_autoptr(GError) error = NULL;
      StrataCopyMethod method = -1;

      g_assert_true (strata_copy_image_full (from, to, STRATA_COPY_NO_REFLINK, &method, NULL,
                                             NULL, &error));
      g_assert_no_error (error);
      g_test_message ("%s -> %s: %s", from, to, method_name (method));
      assert_same_copy (from, to);
      g_unlink (to);
    }
  g_free (tu_run_ok ("rm -rf '%s'", shm));
}

static void
assert_refused (const char *source,
                const char *target,
                int         code,
                const char *words)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *before = tu_file_exists (target) ? tu_file_checksum (target) : NULL;
  g_autofree char *after = NULL;

  g_assert_false (strata_copy_image_sync (source, target, NULL, NULL, &error));
  g_assert_error (error, STRATA_ERROR, code);
  g_assert_nonnull (strstr (error->message, words));
  if (before != NULL)
    {
      after = tu_file_checksum (target);
      g_assert_cmpstr (before, ==, after);
    }
}

static void
test_refuses (void)
{
  const char *dir = tu_path ("refuses");
  g_autofree char *base = make_base (dir, "base.qcow2");
  g_autofree char *other = make_base (dir, "other.qcow2");
  g_autofree char *hardlink = g_build_filename (dir, "hardlink.qcow2", NULL);
  g_autofree char *listing = NULL;
  g_autoptr(GError) error = NULL;
  StrataImage *held;

  /* Exists, is the source (by name or as another link to it). */
  assert_refused (base, other, STRATA_ERROR_INVALID_ARGUMENT, "already exists");
  assert_refused (base, base, STRATA_ERROR_INVALID_ARGUMENT, "being copied");
  g_assert_cmpint (link (base, hardlink), ==, 0);
  assert_refused (base, hardlink, STRATA_ERROR_INVALID_ARGUMENT, "being copied");
  g_unlink (hardlink);

  /* A target a writer holds (as a running QEMU would). */
  held = strata_image_open (other, NULL, STRATA_OPEN_WRITE, &error);
  g_assert_no_error (error);
  assert_refused (base, other, STRATA_ERROR_LOCKED, other);
  /* A source being written: the copy would be inconsistent. */
  g_autofree char *fresh = g_build_filename (dir, "fresh.qcow2", NULL);
  assert_refused (other, fresh, STRATA_ERROR_LOCKED, other);
  strata_image_unref (held);

  /* A protected target. */
  g_assert_cmpint (g_chmod (other, 0444), ==, 0);
  assert_refused (base, other, STRATA_ERROR_PROTECTED, other);

  /* A missing source names it. */
  g_assert_false (strata_copy_image_sync (fresh, hardlink, NULL, NULL, &error));
  g_assert_nonnull (strstr (error->message, "fresh.qcow2"));

  listing = tu_list_dir (dir);
  g_assert_cmpstr (listing, ==, "base.qcow2 other.qcow2");
}

static void
test_protected_source (void)
{
  const char *dir = tu_path ("protected");
  g_autofree char *base = make_base (dir, "base.qcow2");
  g_autofree char *plain = g_build_filename (dir, "plain.qcow2", NULL);
  g_autofree char *writable = g_build_filename (dir, "writable.qcow2", NULL);
  g_autoptr(GError) error = NULL;

  g_assert_cmpint (g_chmod (base, 0444), ==, 0);
  g_assert_true (strata_copy_image_sync (base, plain, NULL, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (mode_of (plain), ==, 0444);
  g_assert_true (strata_copy_image_full (base, writable, STRATA_COPY_WRITABLE, NULL, NULL,
                                         NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (mode_of (writable), ==, 0644);
  assert_same_copy (base, writable);
}

typedef struct
{
  GCancellable *cancellable;
  guint64       fail_at;
  guint         writes;
} Hook;

static void
on_write_cb (const char *path, guint64 offset, const void *buf, gsize len, gpointer data)
{
  Hook *h = data;

  /* Cancel once the copy is under way (its second chunk). */
  if (++h->writes == 2 && h->cancellable != NULL)
    g_cancellable_cancel (h->cancellable);
}

static void
test_cancel_and_fail (void)
{
  const char *dir = tu_path ("cancel");
  g_autofree char *base = make_base (dir, "base.qcow2");
  g_autofree char *copy = g_build_filename (dir, "copy.qcow2", NULL);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autofree char *listing = NULL;
  g_autoptr(GError) error = NULL;
  Hook h = { cancellable, 0, 0 };
  StrataIoHooks hooks = { .on_write = on_write_cb, .data = &h };

  /* Cancelled in the middle: no copy, no temporary file. */
  strata_io_set_hooks (&hooks);
  g_assert_false (strata_copy_image_full (base, copy, STRATA_COPY_NO_REFLINK |
                                          STRATA_COPY_NO_COPY_RANGE, NULL, NULL, cancellable,
                                          &error));
  strata_io_set_hooks (NULL);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpuint (h.writes, ==, 2);
  listing = tu_list_dir (dir);
  g_assert_cmpstr (listing, ==, "base.qcow2");
  g_clear_error (&error);
  g_clear_pointer (&listing, g_free);

  /* Cancelled before the kernel copy starts. */
  g_assert_false (strata_copy_image_full (base, copy, STRATA_COPY_NO_REFLINK, NULL, NULL,
                                          cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  listing = tu_list_dir (dir);
  g_assert_cmpstr (listing, ==, "base.qcow2");
  g_clear_error (&error);
  g_clear_pointer (&listing, g_free);

  /* A write that fails (a full disk): an error, no temporary file. */
  h.cancellable = NULL;
  hooks.fail_after_ops = 3;
  strata_io_set_hooks (&hooks);
  g_assert_false (strata_copy_image_full (base, copy, STRATA_COPY_NO_REFLINK |
                                          STRATA_COPY_NO_COPY_RANGE, NULL, NULL, NULL, &error));
  strata_io_set_hooks (NULL);
  g_assert_error (error, STRATA_ERROR, STRATA_ERROR_IO);
  listing = tu_list_dir (dir);
  g_assert_cmpstr (listing, ==, "base.qcow2");
}

static void
copied_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  GError **error = user_data;

  if (strata_copy_image_finish (result, error))
    *error = (GError *) 1;
}

static void
test_async_progress (void)
{
  const char *dir = tu_path ("async");
  g_autofree char *base = make_base (dir, "base.qcow2");
  g_autofree char *copy = g_build_filename (dir, "copy.qcow2", NULL);
  g_autoptr(StrataJob) job = strata_job_new ("Copy");
  GError *error = NULL;

  strata_copy_image_async (base, copy, job, NULL, copied_cb, &error);
  while (error == NULL)
    g_main_context_iteration (NULL, TRUE);
  g_assert_true (error == (GError *) 1);
  g_assert_cmpfloat (strata_job_get_fraction (job), ==, 1.0);
  g_assert_cmpuint (strata_job_get_bytes_done (job), ==, strata_job_get_bytes_total (job));
  g_assert_cmpuint (strata_job_get_bytes_total (job), >, 0);
  assert_same_copy (base, copy);
}

/* commit --into-copy goes through the copy, in both of its paths. */
static void
test_commit_into_copy (void)
{
  const char *dir = tu_path ("commit");
  g_autofree char *base = make_base (dir, "base.qcow2");
  g_autofree char *before = tu_file_checksum (base);
  g_autofree char *after = NULL;

  g_free (tu_run_ok ("cd commit && qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 a.qcow2 && "
                     "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 b.qcow2 && "
                     "qemu-io -c 'write -P 0x55 1M 4M' a.qcow2 >/dev/null && "
                     "qemu-io -c 'write -P 0x66 1M 4M' b.qcow2 >/dev/null && "
                     "qemu-img convert -O raw a.qcow2 a.raw && qemu-img convert -O raw b.qcow2 b.raw"));
  g_free (tu_run_ok ("cd commit && %s commit -q --into-copy copy-a.qcow2 a.qcow2 && "
                     "STRATA_COPY_NO_REFLINK=1 %s commit -q --into-copy copy-b.qcow2 b.qcow2",
                     tu_strata_img (), tu_strata_img ()));
  tu_assert_qemu_check_clean (tu_path ("commit/copy-a.qcow2"));
  tu_assert_qemu_check_clean (tu_path ("commit/copy-b.qcow2"));
  tu_assert_qemu_compare (tu_path ("commit/copy-a.qcow2"), tu_path ("commit/a.raw"));
  tu_assert_qemu_compare (tu_path ("commit/copy-b.qcow2"), tu_path ("commit/b.raw"));
  tu_assert_qemu_compare (tu_path ("commit/b.qcow2"), tu_path ("commit/b.raw"));
  after = tu_file_checksum (base);
  g_assert_cmpstr (before, ==, after);
}

int
main (int argc, char **argv)
{
  tu_init (&argc, &argv);

  g_test_add_func ("/copy/methods", test_methods);
  g_test_add_func ("/copy/env-forces-fallback", test_env_forces_fallback);
  g_test_add_func ("/copy/reflink", test_reflink);
  g_test_add_func ("/copy/tmpfs", test_tmpfs);
  g_test_add_func ("/copy/refuses", test_refuses);
  g_test_add_func ("/copy/protected-source", test_protected_source);
  g_test_add_func ("/copy/cancel-and-fail", test_cancel_and_fail);
  g_test_add_func ("/copy/async-progress", test_async_progress);
  g_test_add_func ("/copy/commit-into-copy", test_commit_into_copy);
  return g_test_run ();
}
