/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-convert.h"
#include "strata-error.h"
#include "test-util.h"

#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/*
 * A source whose declared (virtual) size the target's file system cannot hold is refused
 * before anything is written, and the error names the source and its size: a raw target
 * longer than the largest file allowed, a qcow2 or VMDK target whose metadata alone would
 * lie past it. The limit comes from RLIMIT_FSIZE (always available) and from a small ext2
 * file system with 1 KiB blocks, whose largest file is about 16 GiB (when loop mounts work).
 */

typedef struct
{
  const char *target_format;
  const char *source;       /* made by make: a sparse image of the given virtual size */
  const char *make;
  guint64     size;
} LimitCase;

static const LimitCase rlimit_cases[] = {
  { "raw", "r64m.qcow2", "qemu-img create -q -f qcow2 '%s' 64M", 64 * 1024 * 1024 },
  /* 100 TiB: its L1 table alone is 1.6 MB. */
  { "qcow2", "q100t.qcow2", "qemu-img create -q -f qcow2 '%s' 100T",
    G_GUINT64_CONSTANT (100) << 40 },
  /* 1 TiB: monolithicSparse preallocates 128 MiB of grain tables. */
  { "vmdk", "v1t.qcow2", "qemu-img create -q -f qcow2 '%s' 1T", G_GUINT64_CONSTANT (1) << 40 },
};

static void
assert_refused_naming_source (GError     *error,
                              const char *src,
                              guint64     size)
{
  g_autofree char *size_text = g_strdup_printf ("%" G_GUINT64_FORMAT " bytes", size);

  g_assert_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED);
  if (!g_str_has_prefix (error->message, src) || strstr (error->message, size_text) == NULL ||
      strstr (error->message, "nothing was written") == NULL)
    g_error ("the error should name %s and its size (%s): %s", src, size_text,
             error->message);
}

static void
test_rlimit (void)
{
  struct rlimit saved;
  struct rlimit small;
  const char *dir = tu_path ("rlimit");

  g_free (tu_run_ok ("mkdir -p '%s'", dir));
  for (guint i = 0; i < G_N_ELEMENTS (rlimit_cases); i++)
    {
      g_autofree char *src = g_build_filename (dir, rlimit_cases[i].source, NULL);

      g_free (tu_run_ok (rlimit_cases[i].make, src));
    }

  /* Past the limit the kernel sends SIGXFSZ; ignored, the call fails with EFBIG. */
  signal (SIGXFSZ, SIG_IGN);
  g_assert_cmpint (getrlimit (RLIMIT_FSIZE, &saved), ==, 0);

  for (guint i = 0; i < G_N_ELEMENTS (rlimit_cases); i++)
    {
      const LimitCase *lc = &rlimit_cases[i];
      g_autoptr(GError) error = NULL;
      g_autofree char *src = g_build_filename (dir, lc->source, NULL);
      g_autofree char *dst = g_strdup_printf ("%s/out.%s", dir, lc->target_format);
      g_autofree char *list_before = tu_list_dir (dir);
      g_autofree char *list_after = NULL;
      StrataConvertOptions opts;
      gboolean ok;

      strata_convert_options_init (&opts);
      opts.target_format = lc->target_format;

      small = saved;
      small.rlim_cur = 1024 * 1024;
      g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &small), ==, 0);
      ok = strata_convert_sync (src, dst, &opts, NULL, NULL, NULL, &error);
      g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &saved), ==, 0);

      g_assert_false (ok);
      assert_refused_naming_source (error, src, lc->size);
      list_after = tu_list_dir (dir);
      g_assert_cmpstr (list_before, ==, list_after);
    }

  /* Within the limit the same conversions go through (qcow2 and VMDK of a 64 MiB disk). */
  for (guint i = 1; i < G_N_ELEMENTS (rlimit_cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *src = g_build_filename (dir, rlimit_cases[0].source, NULL);
      g_autofree char *dst = g_strdup_printf ("%s/fits.%s", dir, rlimit_cases[i].target_format);
      StrataConvertOptions opts;
      gboolean ok;

      strata_convert_options_init (&opts);
      opts.target_format = rlimit_cases[i].target_format;
      small = saved;
      small.rlim_cur = 1024 * 1024;
      g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &small), ==, 0);
      ok = strata_convert_sync (src, dst, &opts, NULL, NULL, NULL, &error);
      g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &saved), ==, 0);
      g_assert_no_error (error);
      g_assert_true (ok);
      tu_assert_qemu_check_clean (dst);
      tu_assert_qemu_compare (src, dst);
    }
}

/* A real file system's limit: ext2 with 1 KiB blocks holds files up to about 16 GiB. */
static void
test_small_filesystem (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *listing = NULL;
  const char *img = tu_path ("ext2.img");
  const char *mnt = tu_path ("ext2");
  const char *src = tu_path ("d20g.qcow2");
  g_autofree char *dst_raw = g_build_filename (mnt, "out.raw", NULL);
  g_autofree char *dst_qcow2 = g_build_filename (mnt, "out.qcow2", NULL);
  StrataConvertOptions opts;
  gboolean raw_ok;
  gboolean qcow2_ok;
  g_autoptr(GError) qcow2_error = NULL;
  int compare_rc;

  if (geteuid () != 0)
    {
      g_test_skip ("mounting a loop file system needs root");
      return;
    }
  if (tu_run (NULL, NULL, "truncate -s 8M '%s' && mkfs.ext2 -q -b 1024 -F '%s' && "
              "mkdir -p '%s' && mount -o loop '%s' '%s'", img, img, mnt, img, mnt) != 0)
    {
      g_test_skip ("cannot mount a loop file system here (no loop devices, or mkfs.ext2)");
      return;
    }

  g_free (tu_run_ok ("qemu-img create -q -f qcow2 '%s' 20G && "
                     "qemu-io -c 'write -P 7 19G 64k' '%s' >/dev/null", src, src));

  strata_convert_options_init (&opts);
  opts.target_format = "raw";
  raw_ok = strata_convert_sync (src, dst_raw, &opts, NULL, NULL, NULL, &error);
  /* A sparse 20 GiB disk with 64 KiB of data fits as qcow2. */
  opts.target_format = "qcow2";
  qcow2_ok = strata_convert_sync (src, dst_qcow2, &opts, NULL, NULL, NULL, &qcow2_error);
  listing = tu_list_dir (mnt);
  compare_rc = qcow2_ok ? tu_run (NULL, NULL, "qemu-img compare '%s' '%s'", src, dst_qcow2)
                        : -1;
  /* Unmounted before any assertion, so that a failure leaves no mount behind. */
  g_free (tu_run_ok ("umount '%s'", mnt));

  g_assert_false (raw_ok);
  assert_refused_naming_source (error, src, G_GUINT64_CONSTANT (20) << 30);
  g_assert_nonnull (strstr (error->message, dst_raw));
  g_assert_no_error (qcow2_error);
  g_assert_true (qcow2_ok);
  g_assert_cmpint (compare_rc, ==, 0);
  g_assert_cmpstr (listing, ==, "lost+found out.qcow2");
}

int
main (int argc, char **argv)
{
  tu_init (&argc, &argv);

  g_test_add_func ("/convert-limits/rlimit-fsize", test_rlimit);
  g_test_add_func ("/convert-limits/small-filesystem", test_small_filesystem);

  return g_test_run ();
}
