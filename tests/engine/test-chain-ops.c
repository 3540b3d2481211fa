/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Chain operations, judged by QEMU: compare against `qemu-img compare`, protect, sibling
 * discovery, and rebase / commit done side by side with qemu-img on copies of the same
 * images over a matrix of qcow2 variants, the results compared and checked by qemu-img.
 */
#include "strata-commit.h"
#include "strata-compare.h"
#include "strata-error.h"
#include "strata-file.h"
#include "strata-image.h"
#include "strata-protect.h"
#include "strata-rebase.h"
#include "strata-siblings.h"
#include "test-util.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *
mkdir_scratch (const char *name)
{
  char *dir = g_build_filename (tu_dir (), name, NULL);

  g_free (tu_run_ok ("rm -rf '%s' && mkdir -p '%s'", dir, dir));
  return dir;
}

/* --- compare --- */

static void
assert_compare_like_qemu (const char *a, const char *b, gboolean strict)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  StrataCompareOptions opts = { .strict = strict };
  StrataCompareResult r;
  int qemu_rc;

  qemu_rc = tu_run (&out, NULL, "qemu-img compare %s '%s' '%s'", strict ? "-s" : "", a, b);
  g_assert_true (strata_compare_sync (a, b, &opts, NULL, &r, NULL, &error));
  g_assert_no_error (error);

  if (qemu_rc == 0)
    g_assert_cmpint (r.verdict, ==, STRATA_COMPARE_IDENTICAL);
  else
    {
      g_assert_cmpint (qemu_rc, ==, 1);
      g_assert_cmpint (r.verdict, !=, STRATA_COMPARE_IDENTICAL);
      if (r.verdict == STRATA_COMPARE_CONTENT_MISMATCH)
        {
          g_autofree char *want = g_strdup_printf ("Content mismatch at offset %"
                                                   G_GUINT64_FORMAT "!", r.offset);

          g_assert_nonnull (strstr (out, want));
        }
    }
}

static void
test_compare (void)
{
  g_autofree char *d = mkdir_scratch ("compare");

  g_free (tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 a.qcow2 4M && "
                     "qemu-io -c 'write -P 1 64k 100k' -c 'write -z 1M 64k' a.qcow2 && "
                     "qemu-img convert -O raw a.qcow2 a.raw && "
                     "qemu-img convert -c -O qcow2 a.qcow2 ac.qcow2 && "
                     "cp a.qcow2 b.qcow2 && qemu-io -c 'write -P 2 3000 1' b.qcow2 && "
                     "qemu-img create -q -f qcow2 -b a.qcow2 -F qcow2 top.qcow2 6M && "
                     "cp a.raw big.raw && truncate -s 8M big.raw && "
                     "cp big.raw bigx.raw && printf x | dd of=bigx.raw bs=1 seek=7000000 "
                     "conv=notrunc status=none", d));

  const char *pairs[][2] = {
    { "a.qcow2", "a.raw" }, { "a.qcow2", "ac.qcow2" }, { "a.qcow2", "b.qcow2" },
    { "b.qcow2", "a.raw" }, { "top.qcow2", "a.raw" }, { "a.raw", "big.raw" },
    { "big.raw", "a.qcow2" }, { "bigx.raw", "a.qcow2" }, { "top.qcow2", "bigx.raw" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (pairs); i++)
    {
      g_autofree char *a = g_build_filename (d, pairs[i][0], NULL);
      g_autofree char *b = g_build_filename (d, pairs[i][1], NULL);

      assert_compare_like_qemu (a, b, FALSE);
      assert_compare_like_qemu (b, a, FALSE);
    }

  /* Strict mode: sizes must match. */
  {
    g_autofree char *a = g_build_filename (d, "a.raw", NULL);
    g_autofree char *b = g_build_filename (d, "big.raw", NULL);

    assert_compare_like_qemu (a, b, TRUE);
  }
}

/* --- protect --- */

static void
test_protect (void)
{
  g_autofree char *d = mkdir_scratch ("protect");
  g_autofree char *path = g_build_filename (d, "base.qcow2", NULL);
  g_autoptr(GError) error = NULL;
  gboolean prot = TRUE;
  struct stat st;

  g_free (tu_run_ok ("qemu-img create -q -f qcow2 '%s' 1M && chmod 640 '%s'", path, path));
  g_assert_true (strata_protect_check_writable (path, &error));
  g_assert_true (strata_is_protected (path, &prot, &error));
  g_assert_false (prot);

  g_assert_true (strata_protect (path, &error));
  g_assert_no_error (error);
  g_assert_cmpint (stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0440);
  g_assert_false (strata_protect_check_writable (path, &error));
  g_assert_error (error, STRATA_ERROR, STRATA_ERROR_PROTECTED);
  g_assert_nonnull (strstr (error->message, path));
  g_assert_nonnull (strstr (error->message, "unprotect"));
  g_clear_error (&error);

  g_assert_true (strata_unprotect (path, &error));
  g_assert_cmpint (stat (path, &st), ==, 0);
  /* The exact mode comes back when xattrs work, u+w at least otherwise. */
  g_assert_true ((st.st_mode & 0777) == 0640 || (st.st_mode & 0777) == 0640);
  g_assert_true (strata_protect_check_writable (path, &error));
}

/* --- siblings --- */

static void
test_siblings (void)
{
  g_autofree char *d = mkdir_scratch ("siblings");
  g_autofree char *lib = mkdir_scratch ("siblings-lib");
  g_autofree char *base = g_build_filename (d, "base.qcow2", NULL);
  g_autofree char *o1 = g_build_filename (d, "o1.qcow2", NULL);
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) found = NULL;
  const char *libs[] = { lib, NULL };

  g_free (tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 base.qcow2 1M && "
                     "qemu-img create -q -f qcow2 other.qcow2 1M && "
                     "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 o1.qcow2 && "
                     "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 o2.qcow2 && "
                     "qemu-img create -q -f qcow2 -b '%s/base.qcow2' -F qcow2 o3.qcow2 && "
                     "qemu-img create -q -f qcow2 -b other.qcow2 -F qcow2 x.qcow2 && "
                     "qemu-img create -q -f qcow2 -b o1.qcow2 -F qcow2 deeper.qcow2 && "
                     "cp o2.qcow2 .o2.qcow2.strata-ABCDEF && mkfifo fifo && "
                     "ln -s base.qcow2 link.qcow2 && "
                     "qemu-img create -q -f qcow2 -b link.qcow2 -F qcow2 vialink.qcow2 && "
                     "qemu-img create -q -f qcow2 -u -b 'json:{\"file.filename\":\"base.qcow2\"}'"
                     " -F qcow2 json.qcow2 1M && "
                     "qemu-img create -q -f qcow2 -u -b loop2.qcow2 -F qcow2 loop1.qcow2 1M && "
                     "qemu-img create -q -f qcow2 -u -b loop1.qcow2 -F qcow2 loop2.qcow2 1M && "
                     "cd '%s' && qemu-img create -q -f qcow2 -b '%s/base.qcow2' -F qcow2 "
                     "inlib.qcow2", d, d, lib, d));

  found = strata_find_siblings (base, libs, o1, NULL, &error);
  g_assert_no_error (error);
  {
    g_autofree char *joined = g_strjoinv (" ", found);
    g_autofree char *want = g_strdup_printf ("%s/inlib.qcow2 %s/o2.qcow2 %s/o3.qcow2 "
                                             "%s/vialink.qcow2", lib, d, d, d);

    /* Sorted by path; the library folder sorts first here only if it does by name. */
    g_assert_nonnull (strstr (joined, "o2.qcow2"));
    g_assert_nonnull (strstr (joined, "o3.qcow2"));
    g_assert_nonnull (strstr (joined, "inlib.qcow2"));
    g_assert_nonnull (strstr (joined, "vialink.qcow2"));
    g_assert_null (strstr (joined, "o1.qcow2"));
    g_assert_null (strstr (joined, "deeper"));
    g_assert_null (strstr (joined, "json"));
    g_assert_null (strstr (joined, ".o2.qcow2.strata-"));
    g_assert_null (strstr (joined, "x.qcow2"));
    g_assert_cmpuint (g_strv_length (found), ==, 4);
    (void) want;
  }
}

/* --- differential rebase / commit --- */

typedef struct
{
  const char *name;
  const char *opts;        /* -o for every image */
  gboolean    compressed;  /* the base is qemu-img convert -c output */
  guint       base_mb;
  guint       top_mb;      /* > base_mb: overlay larger than its base */
} Variant;

static const Variant variants[] = {
  { "v3-64k", "", FALSE, 16, 16 },
  { "v3-compressed", "", TRUE, 16, 16 },
  { "v2", "compat=0.10", FALSE, 16, 16 },
  { "v2-compressed-bigger", "compat=0.10", TRUE, 16, 24 },
  { "c4k-bigger", "cluster_size=4k", FALSE, 8, 12 },
  { "c2M", "cluster_size=2M", TRUE, 16, 16 },
  { "extl2", "extended_l2=on,cluster_size=64k", FALSE, 16, 20 },
  { "refcount1-c512", "refcount_bits=1,cluster_size=512", FALSE, 4, 4 },
};

/* base, new (a modified copy of base) and top (data, zeros, partial clusters, tail). */
static void
make_variant (const char *dir, const Variant *v)
{
  g_autofree char *o = *v->opts ? g_strdup_printf ("-o %s", v->opts) : g_strdup ("");
  g_autofree char *convert = g_strdup_printf ("qemu-img convert %s -O qcow2 %s b0.qcow2 "
                                              "base.qcow2", v->compressed ? "-c" : "", o);
  guint mb = v->base_mb;

  g_free (tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 %s b0.qcow2 %uM && "
                     "qemu-io -c 'write -P 1 0 %uk' -c 'write -P 2 %uk 700k' "
                     "-c 'write -P 6 %uk 5k' b0.qcow2 && "
                     "%s && "
                     "qemu-img convert -O qcow2 %s base.qcow2 new.qcow2 && "
                     "qemu-io -c 'write -P 9 %uk 300k' -c 'write -z %uk 64k' "
                     "-c 'write -P 8 %uk 1k' new.qcow2 && "
                     "qemu-img create -q -f qcow2 %s -b base.qcow2 -F qcow2 top.qcow2 %uM && "
                     "qemu-io -c 'write -P 3 %uk 1100k' -c 'write -z %uk 128k' "
                     "-c 'write -P 4 %uk 3k' -c 'write -P 5 %uk 200k' top.qcow2 && "
                     "qemu-img convert -O raw top.qcow2 view.raw",
                     dir, o, mb,
                     mb * 256, mb * 512, mb * 900,
                     convert,
                     o,
                     mb * 128, mb * 600, mb * 1000 + 3,
                     o, v->top_mb,
                     mb * 200, mb * 400, mb * 700 + 1, v->top_mb * 1024 - 300));
}

static void
copy_dir (const char *from, const char *to)
{
  g_free (tu_run_ok ("rm -rf '%s' && cp -a '%s' '%s'", to, from, to));
}

static void
assert_clean (const char *dir, const char *file)
{
  g_autofree char *p = g_build_filename (dir, file, NULL);

  tu_assert_qemu_check_clean (p);
}

static void
assert_same (const char *dir_a, const char *dir_b, const char *file)
{
  g_autofree char *a = g_build_filename (dir_a, file, NULL);
  g_autofree char *b = g_build_filename (dir_b, file, NULL);

  tu_assert_qemu_compare (a, b);
}

static void
test_rebase_matrix (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (variants); i++)
    {
      const Variant *v = &variants[i];
      g_autofree char *pre = mkdir_scratch (v->name);
      g_autofree char *q = g_strdup_printf ("%s-qemu", pre);
      g_autofree char *s = g_strdup_printf ("%s-strata", pre);
      g_autofree char *top = g_build_filename (s, "top.qcow2", NULL);
      g_autofree char *view = g_build_filename (pre, "view.raw", NULL);
      g_autoptr(GError) error = NULL;
      StrataRebaseOptions safe = { .backing = "new.qcow2", .backing_format = "qcow2" };
      StrataRebaseOptions flat = { .backing = "" };
      StrataRebaseOptions unsafe = { .backing = "new.qcow2", .backing_format = "qcow2",
                                     .unsafe = TRUE };

      g_test_message ("rebase: %s", v->name);
      make_variant (pre, v);

      /* Safe rebase onto a different backing. */
      copy_dir (pre, q);
      copy_dir (pre, s);
      g_free (tu_run_ok ("cd '%s' && qemu-img rebase -b new.qcow2 -F qcow2 top.qcow2", q));
      strata_rebase_sync (top, &safe, NULL, NULL, &error);
      g_assert_no_error (error);
      assert_clean (s, "top.qcow2");
      assert_same (q, s, "top.qcow2");
      tu_assert_qemu_compare (top, view);
      {
        g_autofree char *info = tu_run_ok ("qemu-img info '%s'", top);

        g_assert_nonnull (strstr (info, "backing file: new.qcow2 (actual path: "));
        g_assert_nonnull (strstr (info, "backing file format: qcow2\n"));
      }

      /* Flatten: -b "". */
      copy_dir (pre, q);
      copy_dir (pre, s);
      g_free (tu_run_ok ("cd '%s' && qemu-img rebase -b '' top.qcow2", q));
      strata_rebase_sync (top, &flat, NULL, NULL, &error);
      g_assert_no_error (error);
      assert_clean (s, "top.qcow2");
      assert_same (q, s, "top.qcow2");
      tu_assert_qemu_compare (top, view);
      {
        g_autofree char *info = tu_run_ok ("qemu-img info '%s'", top);

        g_assert_null (strstr (info, "backing file"));
      }

      /* Unsafe: only the pointer moves, so the view changes exactly as qemu-img's does. */
      copy_dir (pre, q);
      copy_dir (pre, s);
      g_free (tu_run_ok ("cd '%s' && qemu-img rebase -u -b new.qcow2 -F qcow2 top.qcow2", q));
      strata_rebase_sync (top, &unsafe, NULL, NULL, &error);
      g_assert_no_error (error);
      assert_clean (s, "top.qcow2");
      assert_same (q, s, "top.qcow2");
    }
}

static void
test_commit_matrix (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (variants); i++)
    {
      const Variant *v = &variants[i];
      g_autofree char *pre = mkdir_scratch (v->name);
      g_autofree char *q = g_strdup_printf ("%s-qemu", pre);
      g_autofree char *s = g_strdup_printf ("%s-strata", pre);
      g_autofree char *top = g_build_filename (s, "top.qcow2", NULL);
      g_autofree char *view = g_build_filename (pre, "view.raw", NULL);
      g_autofree char *base = g_build_filename (s, "base.qcow2", NULL);
      g_autoptr(GError) error = NULL;
      StrataCommitOptions opts = { 0 };
      StrataCommitResult r = { 0 };

      g_test_message ("commit: %s", v->name);
      make_variant (pre, v);
      copy_dir (pre, q);
      copy_dir (pre, s);
      /* new.qcow2 is a copy, not an overlay: no sibling in the folder. */
      g_free (tu_run_ok ("cd '%s' && qemu-img commit top.qcow2", q));
      strata_commit_sync (top, &opts, NULL, &r, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (r.base, ==, base);
      g_assert_cmpuint (r.after.base_apparent, >, 0);
      /* The emptied overlay gives its data clusters' space back, as qemu-img's does (where
       * the file system can give space back from inside a file). */
      if (strstr (v->opts, "2M") == NULL && tu_fs_punches_holes (s))
        g_assert_cmpuint (r.after.overlay_allocated, <, r.before.overlay_allocated);
      g_test_message ("%s: overlay allocated %" G_GUINT64_FORMAT " -> predicted %"
                      G_GUINT64_FORMAT ", measured %" G_GUINT64_FORMAT "; base allocated %"
                      G_GUINT64_FORMAT " -> predicted %" G_GUINT64_FORMAT ", measured %"
                      G_GUINT64_FORMAT, v->name, r.before.overlay_allocated,
                      r.predicted.overlay_allocated, r.after.overlay_allocated,
                      r.before.base_allocated, r.predicted.base_allocated,
                      r.after.base_allocated);
      strata_commit_result_clear (&r);

      assert_clean (s, "top.qcow2");
      assert_clean (s, "base.qcow2");
      assert_same (q, s, "base.qcow2");
      assert_same (q, s, "top.qcow2");
      tu_assert_qemu_compare (base, view);
      tu_assert_qemu_compare (top, view);
      /* The overlay is empty again: everything reads through. */
      {
        g_autofree char *map = tu_run_ok ("qemu-img map --output=json '%s'", top);

        g_assert_null (strstr (map, "\"depth\": 0"));
      }
    }
}

/* --- safe rebase where nothing was below --- */

/* Cluster layouts for the rebase cases below (every cluster size, v2, extended L2). */
static const struct { const char *name; const char *opts; } layouts[] = {
  { "c512", "cluster_size=512" },
  { "c4k", "cluster_size=4k" },
  { "c64k", "cluster_size=64k" },
  { "c2M", "cluster_size=2M" },
  { "v2", "compat=0.10" },
  { "extl2-64k", "extended_l2=on,cluster_size=64k" },
  { "extl2-2M", "extended_l2=on,cluster_size=2M" },
};

/* The overlay (3 MiB + 512: a partial last cluster at every size): data starting and ending
 * inside clusters and subclusters, zero clusters and zero subclusters, data across 2 MiB and
 * in the last sector. */
#define TOP_SIZE "3146240"
#define TOP_WRITES "-c 'write -P 3 0 5k' -c 'write -z 1M 64k' -c 'write -z 1600k 2k' " \
                   "-c 'write -P 4 2047k 2k' -c 'write -P 5 3145728 512'"

typedef struct
{
  const char *name;
  /* Shell commands (with %s for -o OPTS, once per image made with them) that make top.qcow2,
   * its old chain if any, and the new backing (new.qcow2 or new.raw: data everywhere). */
  const char *setup;
  guint       n_opts;
  const char *backing;       /* the new backing name */
  const char *backing_format;
  gboolean    no_old_backing;
} NothingBelowCase;

#define NEW_QCOW2 "qemu-img create -q -f qcow2 new.qcow2 4M && " \
                  "qemu-io -c 'write -P 0x11 0 4M' new.qcow2"
#define NEW_RAW "qemu-img create -q -f raw new.raw 4M && " \
                "qemu-io -f raw -c 'write -P 0x22 0 4M' new.raw"

static const NothingBelowCase nothing_below_cases[] = {
  /* The reported case: no old backing at all, so the guest read zeros wherever the overlay
   * is unallocated. */
  { "no-old-backing",
    "qemu-img create -q -f qcow2 %s top.qcow2 " TOP_SIZE " && qemu-io " TOP_WRITES
    " top.qcow2 && " NEW_QCOW2, 1, "new.qcow2", "qcow2", TRUE },
  { "no-old-backing-raw-new",
    "qemu-img create -q -f qcow2 %s top.qcow2 " TOP_SIZE " && qemu-io " TOP_WRITES
    " top.qcow2 && " NEW_RAW, 1, "new.raw", "raw", TRUE },
  /* The old backing ends at 1 MiB: past it the guest read zeros. */
  { "old-backing-shorter",
    "qemu-img create -q -f qcow2 %s base.qcow2 1M && qemu-io -c 'write -P 1 0 1M' "
    "base.qcow2 && qemu-img create -q -f qcow2 %s -b base.qcow2 -F qcow2 top.qcow2 "
    TOP_SIZE " && qemu-io " TOP_WRITES " top.qcow2 && " NEW_QCOW2, 2, "new.qcow2", "qcow2",
    FALSE },
  { "old-backing-shorter-raw-new",
    "qemu-img create -q -f qcow2 %s base.qcow2 1M && qemu-io -c 'write -P 1 0 1M' "
    "base.qcow2 && qemu-img create -q -f qcow2 %s -b base.qcow2 -F qcow2 top.qcow2 "
    TOP_SIZE " && qemu-io " TOP_WRITES " top.qcow2 && " NEW_RAW, 2, "new.raw", "raw",
    FALSE },
  /* A compressed overlay (convert -c leaves the zero areas unallocated). */
  { "compressed-no-old-backing",
    "qemu-img create -q -f raw src.raw " TOP_SIZE " && qemu-io -f raw " TOP_WRITES
    " -c 'write -P 6 2200k 300k' src.raw && qemu-img convert -c -O qcow2 %s src.raw "
    "top.qcow2 && " NEW_QCOW2, 1, "new.qcow2", "qcow2", TRUE },
};

/* The same safe rebase by qemu-img and by Strata on copies: Strata's result reads exactly
 * what the overlay read before (qemu-img compare), checks clean and equals qemu-img's. */
static void
test_rebase_nothing_below (void)
{
  for (guint c = 0; c < G_N_ELEMENTS (nothing_below_cases); c++)
    for (guint l = 0; l < G_N_ELEMENTS (layouts); l++)
      {
        const NothingBelowCase *nb = &nothing_below_cases[c];
        g_autofree char *name = g_strdup_printf ("nb-%s-%s", nb->name, layouts[l].name);
        g_autofree char *pre = mkdir_scratch (name);
        g_autofree char *q = g_strdup_printf ("%s-qemu", pre);
        g_autofree char *s = g_strdup_printf ("%s-strata", pre);
        g_autofree char *top = g_build_filename (s, "top.qcow2", NULL);
        g_autofree char *qtop = g_build_filename (q, "top.qcow2", NULL);
        g_autofree char *view = g_build_filename (pre, "view.raw", NULL);
        g_autofree char *o = g_strdup_printf ("-o %s", layouts[l].opts);
        g_autofree char *setup = nb->n_opts == 1 ? g_strdup_printf (nb->setup, o)
                                                 : g_strdup_printf (nb->setup, o, o);
        g_autoptr(GError) error = NULL;
        StrataRebaseOptions ro = { .backing = nb->backing,
                                   .backing_format = nb->backing_format };
        g_autofree char *qout = NULL;
        int qrc;

        g_test_message ("rebase, nothing below: %s", name);
        g_free (tu_run_ok ("cd '%s' && %s && qemu-img convert -O raw top.qcow2 view.raw",
                           pre, setup));
        copy_dir (pre, q);
        copy_dir (pre, s);

        g_free (tu_run_ok ("cd '%s' && qemu-img rebase -b %s -F %s top.qcow2", q,
                           nb->backing, nb->backing_format));
        g_assert_true (strata_rebase_sync (top, &ro, NULL, NULL, &error));
        g_assert_no_error (error);

        assert_clean (s, "top.qcow2");
        tu_assert_qemu_compare (top, view);

        /* qemu-img 7.2 itself leaves a v2 overlay without any backing unallocated (its zero
         * write is skipped there), so the new backing shows through: there Strata keeps
         * the guest's view and is not compared with it. Everywhere else both must agree. */
        qrc = tu_run (&qout, NULL, "qemu-img compare -U '%s' '%s'", qtop, view);
        if (qrc != 0)
          {
            g_assert_true (nb->no_old_backing && strstr (layouts[l].opts, "compat=0.10"));
            g_test_message ("%s: qemu-img changed the guest's view (%s); Strata did not",
                            name, qout);
          }
        else
          assert_same (q, s, "top.qcow2");

        /* And flattening (-b "") keeps the view too, with or without an old backing. */
        if (!nb->no_old_backing)
          {
            StrataRebaseOptions flat = { .backing = "" };

            copy_dir (pre, q);
            copy_dir (pre, s);
            g_free (tu_run_ok ("cd '%s' && qemu-img rebase -b '' top.qcow2", q));
            g_assert_true (strata_rebase_sync (top, &flat, NULL, NULL, &error));
            g_assert_no_error (error);
            assert_clean (s, "top.qcow2");
            tu_assert_qemu_compare (top, view);
            assert_same (q, s, "top.qcow2");
          }
      }
}

/* --- unknown autoclear feature bits --- */

/* Two bits no version of QEMU defines (the field is big-endian at header offset 88). */
#define UNKNOWN_AUTOCLEAR 0x8000000000000020ull

static void
set_autoclear (const char *path, guint64 value)
{
  guint64 be = GUINT64_TO_BE (value);
  int fd = open (path, O_WRONLY);

  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (pwrite (fd, &be, 8, 88), ==, 8);
  g_assert_cmpint (close (fd), ==, 0);
}

static guint64
get_autoclear (const char *dir, const char *file)
{
  g_autofree char *path = g_build_filename (dir, file, NULL);
  guint64 be = 0;
  int fd = open (path, O_RDONLY);

  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (pread (fd, &be, 8, 88), ==, 8);
  close (fd);
  return GUINT64_FROM_BE (be);
}

/* base <- top, both with unknown autoclear bits set by hand. */
static void
make_autoclear_chain (const char *dir)
{
  g_autofree char *base = g_build_filename (dir, "base.qcow2", NULL);
  g_autofree char *top = g_build_filename (dir, "top.qcow2", NULL);

  g_free (tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 base.qcow2 4M && "
                     "qemu-io -c 'write -P 1 0 2M' base.qcow2 && "
                     "qemu-img create -q -f qcow2 new.qcow2 4M && "
                     "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2 && "
                     "qemu-io -c 'write -P 2 1M 64k' top.qcow2 && "
                     "qemu-img convert -O raw top.qcow2 view.raw", dir));
  set_autoclear (base, UNKNOWN_AUTOCLEAR);
  set_autoclear (top, UNKNOWN_AUTOCLEAR);
  /* QEMU still opens the image (autoclear bits are never a reason to refuse). */
  tu_assert_qemu_check_clean (top);
}

/* The qcow2 specification: a writer clears autoclear bits it does not know before it changes
 * the image. Each operation is done by qemu-img and by Strata on copies; the field must end
 * the same in every file either one changed, and reading leaves it alone. */
static void
test_autoclear_unknown_bits (void)
{
  g_autofree char *pre = mkdir_scratch ("autoclear");
  g_autofree char *q = g_strdup_printf ("%s-qemu", pre);
  g_autofree char *s = g_strdup_printf ("%s-strata", pre);
  g_autofree char *top = g_build_filename (s, "top.qcow2", NULL);
  g_autofree char *view = g_build_filename (pre, "view.raw", NULL);
  g_autoptr(GError) error = NULL;

  make_autoclear_chain (pre);

  /* Reading, or opening for writing without a change, leaves the field as it is. */
  copy_dir (pre, s);
  {
    g_autofree char *before = tu_file_checksum (top);
    g_autofree char *after = NULL;
    StrataImage *image = strata_image_open (top, NULL, STRATA_OPEN_READ_ONLY, &error);
    guint8 buf[4096];

    g_assert_no_error (error);
    g_assert_true (strata_image_read (image, 0, sizeof buf, buf, &error));
    strata_image_unref (image);
    image = strata_image_open (top, NULL, STRATA_OPEN_WRITE, &error);
    g_assert_no_error (error);
    g_assert_true (strata_image_close (image, &error));
    g_assert_no_error (error);
    strata_image_unref (image);
    after = tu_file_checksum (top);
    g_assert_cmpstr (before, ==, after);
  }

  /* A guest write through the engine (qemu-io on the other copy). */
  copy_dir (pre, q);
  copy_dir (pre, s);
  g_free (tu_run_ok ("cd '%s' && qemu-io -c 'write -P 7 3M 4k' top.qcow2", q));
  {
    StrataImage *image = strata_image_open (top, NULL, STRATA_OPEN_WRITE, &error);
    guint8 buf[4096];

    g_assert_no_error (error);
    memset (buf, 7, sizeof buf);
    g_assert_true (strata_image_write (image, 3 << 20, sizeof buf, buf, &error));
    g_assert_true (strata_image_close (image, &error));
    g_assert_no_error (error);
    strata_image_unref (image);
  }
  g_assert_cmphex (get_autoclear (q, "top.qcow2"), ==, 0);
  g_assert_cmphex (get_autoclear (s, "top.qcow2"), ==, get_autoclear (q, "top.qcow2"));
  g_assert_cmphex (get_autoclear (s, "base.qcow2"), ==, UNKNOWN_AUTOCLEAR);
  assert_clean (s, "top.qcow2");
  assert_same (q, s, "top.qcow2");

  /* Safe and unsafe rebase: the overlay changes. */
  for (guint unsafe = 0; unsafe < 2; unsafe++)
    {
      StrataRebaseOptions ro = { .backing = "new.qcow2", .backing_format = "qcow2",
                                 .unsafe = unsafe };

      copy_dir (pre, q);
      copy_dir (pre, s);
      g_free (tu_run_ok ("cd '%s' && qemu-img rebase %s -b new.qcow2 -F qcow2 top.qcow2", q,
                         unsafe ? "-u" : ""));
      g_assert_true (strata_rebase_sync (top, &ro, NULL, NULL, &error));
      g_assert_no_error (error);
      g_assert_cmphex (get_autoclear (q, "top.qcow2"), ==, 0);
      g_assert_cmphex (get_autoclear (s, "top.qcow2"), ==, get_autoclear (q, "top.qcow2"));
      assert_clean (s, "top.qcow2");
      assert_same (q, s, "top.qcow2");
      if (!unsafe)
        tu_assert_qemu_compare (top, view);
    }

  /* Commit: the base is written and the overlay emptied, so both change. qemu-img 7.2 clears
   * the overlay's bits (it opens it read-write) but not the base's (reopened read-write, not
   * opened): there Strata follows the specification, not qemu-img. */
  {
    StrataCommitOptions co = { 0 };
    StrataCommitResult r = { 0 };
    g_autofree char *base = g_build_filename (s, "base.qcow2", NULL);

    copy_dir (pre, q);
    copy_dir (pre, s);
    g_free (tu_run_ok ("cd '%s' && rm new.qcow2 && qemu-img commit top.qcow2", q));
    g_free (tu_run_ok ("rm '%s/new.qcow2'", s));
    g_assert_true (strata_commit_sync (top, &co, NULL, &r, NULL, &error));
    g_assert_no_error (error);
    strata_commit_result_clear (&r);
    for (guint i = 0; i < 2; i++)
      {
        const char *f = i == 0 ? "base.qcow2" : "top.qcow2";

        g_assert_cmphex (get_autoclear (s, f), ==, 0);
        if (i == 1)
          g_assert_cmphex (get_autoclear (q, f), ==, 0);
        assert_clean (s, f);
        assert_same (q, s, f);
      }
    tu_assert_qemu_compare (base, view);
  }
}

/* base <- mid <- top: commit top into mid (whose own backing keeps answering elsewhere), and
 * safe-rebase top from mid onto base (the mid layer's data must move into top). */
static void
test_three_levels (void)
{
  g_autofree char *pre = mkdir_scratch ("three");
  g_autofree char *q = g_strdup_printf ("%s-qemu", pre);
  g_autofree char *s = g_strdup_printf ("%s-strata", pre);
  g_autofree char *top = g_build_filename (s, "top.qcow2", NULL);
  g_autoptr(GError) error = NULL;
  StrataRebaseOptions ro = { .backing = "base.qcow2", .backing_format = "qcow2" };
  StrataCommitOptions co = { 0 };

  g_free (tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 base.qcow2 8M && "
                     "qemu-io -c 'write -P 1 0 6M' base.qcow2 && "
                     "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 mid.qcow2 && "
                     "qemu-io -c 'write -P 2 1M 2M' -c 'write -z 4M 512k' mid.qcow2 && "
                     "qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 top.qcow2 10M && "
                     "qemu-io -c 'write -P 3 1536k 1M' -c 'write -z 5M 256k' "
                     "-c 'write -P 4 9M 64k' top.qcow2 && "
                     "qemu-img convert -O raw top.qcow2 view.raw", pre));

  copy_dir (pre, q);
  copy_dir (pre, s);
  g_free (tu_run_ok ("cd '%s' && qemu-img commit top.qcow2", q));
  strata_commit_sync (top, &co, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  assert_same (q, s, "mid.qcow2");
  assert_same (q, s, "top.qcow2");
  assert_clean (s, "mid.qcow2");
  assert_clean (s, "top.qcow2");
  {
    g_autofree char *view = g_build_filename (pre, "view.raw", NULL);
    g_autofree char *mid = g_build_filename (s, "mid.qcow2", NULL);

    tu_assert_qemu_compare (mid, view);
  }

  copy_dir (pre, q);
  copy_dir (pre, s);
  g_free (tu_run_ok ("cd '%s' && qemu-img rebase -b base.qcow2 -F qcow2 top.qcow2", q));
  strata_rebase_sync (top, &ro, NULL, NULL, &error);
  g_assert_no_error (error);
  assert_same (q, s, "top.qcow2");
  assert_clean (s, "top.qcow2");
  {
    g_autofree char *view = g_build_filename (pre, "view.raw", NULL);

    tu_assert_qemu_compare (top, view);
  }
}

/* root <- mid (-b root.qcow2, relative) <- top, all in one folder, and a different
 * other/root.qcow2: a copy of mid in other/ must keep reading the same root (its relative
 * name is rewritten). Then the same commit with the N-th write failing: either nothing
 * changed and no copy is left, or the overlay already points at a complete copy. */
static void
test_commit_into_copy_elsewhere (void)
{
  g_autofree char *pre = mkdir_scratch ("into-copy-elsewhere");
  g_autofree char *run = g_build_filename (pre, "run", NULL);
  g_autofree char *top = g_build_filename (run, "top.qcow2", NULL);
  g_autofree char *copy = g_build_filename (run, "other", "copy.qcow2", NULL);
  g_autofree char *other = g_build_filename (run, "other", NULL);
  g_autofree char *view = g_build_filename (pre, "view.raw", NULL);
  g_autoptr(GError) error = NULL;
  StrataCommitOptions opts = { .into_copy = copy };
  StrataCommitResult r = { 0 };
  StrataIoHooks count = { 0 };
  guint64 total;

  g_free (tu_run_ok ("cd '%s' && mkdir -p src/other && cd src && "
                     "qemu-img create -q -f qcow2 root.qcow2 1M && "
                     "qemu-io -c 'write -P 1 0 1M' root.qcow2 && "
                     "qemu-img create -q -f qcow2 -b root.qcow2 -F qcow2 mid.qcow2 && "
                     "qemu-io -c 'write -P 2 64k 64k' mid.qcow2 && "
                     "qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 top.qcow2 && "
                     "qemu-io -c 'write -P 3 128k 64k' top.qcow2 && "
                     "qemu-img create -q -f qcow2 other/root.qcow2 1M && "
                     "qemu-io -c 'write -P 9 0 1M' other/root.qcow2 && "
                     "qemu-img convert -O raw top.qcow2 ../view.raw", pre));

  g_free (tu_run_ok ("rm -rf '%s' && cp -a '%s/src' '%s'", run, pre, run));
  strata_io_set_hooks (&count);
  g_assert_true (strata_commit_sync (top, &opts, NULL, &r, NULL, &error));
  strata_io_set_hooks (NULL);
  g_assert_no_error (error);
  total = count.ops;
  g_assert_nonnull (r.original_base);
  g_assert_nonnull (strstr (r.original_base, "mid.qcow2"));
  strata_commit_result_clear (&r);
  tu_assert_qemu_compare (top, view);
  tu_assert_qemu_compare (copy, view);
  tu_assert_qemu_check_clean (copy);
  {
    g_autofree char *info = tu_run_ok ("qemu-img info --backing-chain '%s'", top);
    g_autofree char *want = g_strdup_printf ("backing file: %s/root.qcow2", run);

    g_assert_nonnull (strstr (info, want));
  }

  for (guint64 n = 1; n <= total; n += MAX (total / 5, 1))
    {
      g_autofree char *before = NULL;
      g_autofree char *after = NULL;
      StrataIoHooks fail = { .fail_after_ops = n };
      gboolean ok;

      g_free (tu_run_ok ("rm -rf '%s' && cp -a '%s/src' '%s'", run, pre, run));
      before = tu_file_checksum (top);
      strata_io_set_hooks (&fail);
      ok = strata_commit_sync (top, &opts, NULL, NULL, NULL, &error);
      strata_io_set_hooks (NULL);
      after = tu_file_checksum (top);
      g_test_message ("write %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " fails: %s, "
                      "overlay %s", n, total, ok ? "succeeded" : "failed",
                      g_strcmp0 (before, after) == 0 ? "untouched" : "changed");
      tu_assert_qemu_compare (top, view);
      if (!ok && g_strcmp0 (before, after) == 0)
        {
          g_autofree char *listing = tu_list_dir (other);

          g_assert_nonnull (error);
          g_assert_cmpstr (g_strstrip (listing), ==, "root.qcow2");
        }
      else
        tu_assert_qemu_compare (copy, view);
      g_clear_error (&error);
    }
}

/* Siblings next to the overlay (not the base) are found; a candidate the driver refuses
 * (unknown incompatible feature) whose raw backing name cannot be resolved stops the commit
 * too, naming it; --force overrides. QEMU judges that nothing changed. */
static void
test_sibling_guard_overlay_folder (void)
{
  g_autofree char *pre = mkdir_scratch ("sib-overlay-folder");
  g_autofree char *ov = g_build_filename (pre, "o", "ov.qcow2", NULL);
  g_autofree char *sib = g_build_filename (pre, "o", "sib2.qcow2", NULL);
  g_autofree char *base = g_build_filename (pre, "b", "base.qcow2", NULL);
  g_autofree char *sum = NULL;
  g_autofree char *sum2 = NULL;
  g_autoptr(GError) error = NULL;
  StrataCommitOptions force = { .force = TRUE };

  g_free (tu_run_ok ("cd '%s' && mkdir b o && qemu-img create -q -f qcow2 b/base.qcow2 1M && "
                     "qemu-io -c 'write -P 1 0 1M' b/base.qcow2 && "
                     "qemu-img create -q -f qcow2 -b ../b/base.qcow2 -F qcow2 o/ov.qcow2 && "
                     "qemu-img create -q -f qcow2 -b ../b/base.qcow2 -F qcow2 o/sib2.qcow2 && "
                     "qemu-io -c 'write -P 2 0 64k' o/ov.qcow2", pre));
  sum = tu_file_checksum (base);
  g_assert_false (strata_commit_sync (ov, NULL, NULL, NULL, NULL, &error));
  g_assert_error (error, STRATA_ERROR, STRATA_ERROR_SHARED_BASE);
  g_assert_nonnull (strstr (error->message, "sib2.qcow2"));
  g_clear_error (&error);

  /* Unknown incompatible feature bit, and a backing name offset past the end of the file. */
  g_free (tu_run_ok ("printf '\\200' | dd of='%s' bs=1 seek=79 conv=notrunc status=none && "
                     "printf '\\177' | dd of='%s' bs=1 seek=9 conv=notrunc status=none",
                     sib, sib));
  g_assert_cmpint (tu_run (NULL, NULL, "qemu-img info '%s'", sib), !=, 0);
  g_assert_false (strata_commit_sync (ov, NULL, NULL, NULL, NULL, &error));
  g_assert_error (error, STRATA_ERROR, STRATA_ERROR_SHARED_BASE);
  g_assert_nonnull (strstr (error->message, "could not tell whether"));
  g_assert_nonnull (strstr (error->message, "sib2.qcow2"));
  g_clear_error (&error);
  sum2 = tu_file_checksum (base);
  g_assert_cmpstr (sum, ==, sum2);

  g_assert_true (strata_commit_sync (ov, &force, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  tu_assert_qemu_check_clean (base);
}

static void
test_commit_keep_and_into_copy (void)
{
  const Variant *v = &variants[1];
  g_autofree char *pre = mkdir_scratch ("into-copy");
  g_autofree char *top = g_build_filename (pre, "top.qcow2", NULL);
  g_autofree char *copy = g_build_filename (pre, "copy.qcow2", NULL);
  g_autofree char *view = g_build_filename (pre, "view.raw", NULL);
  g_autofree char *base = g_build_filename (pre, "base.qcow2", NULL);
  g_autofree char *base_sum = NULL;
  g_autofree char *sum2 = NULL;
  g_autoptr(GError) error = NULL;
  StrataCommitOptions opts = { .into_copy = copy };
  StrataCommitResult r = { 0 };

  make_variant (pre, v);
  g_free (tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "
                     "sib.qcow2 && qemu-io -c 'write -P 7 0 64k' sib.qcow2 && "
                     "qemu-img convert -O raw sib.qcow2 sib.raw", pre));
  base_sum = tu_file_checksum (base);

  /* Plain commit refuses: sib.qcow2 shares the base. */
  g_assert_false (strata_commit_sync (top, NULL, NULL, NULL, NULL, &error));
  g_assert_error (error, STRATA_ERROR, STRATA_ERROR_SHARED_BASE);
  g_assert_nonnull (strstr (error->message, "sib.qcow2"));
  g_clear_error (&error);
  sum2 = tu_file_checksum (base);
  g_assert_cmpstr (base_sum, ==, sum2);

  g_assert_true (strata_commit_sync (top, &opts, NULL, &r, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (r.base, ==, copy);
  strata_commit_result_clear (&r);

  g_free (sum2);
  sum2 = tu_file_checksum (base);
  g_assert_cmpstr (base_sum, ==, sum2);
  tu_assert_qemu_check_clean (copy);
  tu_assert_qemu_check_clean (top);
  tu_assert_qemu_compare (copy, view);
  tu_assert_qemu_compare (top, view);
  {
    g_autofree char *sib = g_build_filename (pre, "sib.qcow2", NULL);
    g_autofree char *sib_raw = g_build_filename (pre, "sib.raw", NULL);
    g_autofree char *info = tu_run_ok ("qemu-img info '%s'", top);

    tu_assert_qemu_compare (sib, sib_raw);
    g_assert_nonnull (strstr (info, "backing file: copy.qcow2 (actual path: "));
  }
  {
    g_autofree char *listing = tu_list_dir (pre);

    g_assert_null (strstr (listing, ".strata-"));
  }
}

static void
commit_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  StrataCommitResult *r = user_data;
  g_autoptr(GError) error = NULL;

  g_assert_true (strata_commit_finish (result, r, &error));
  g_assert_no_error (error);
}

static void
test_commit_async_keep (void)
{
  g_autofree char *pre = mkdir_scratch ("async");
  g_autofree char *top = g_build_filename (pre, "top.qcow2", NULL);
  g_autofree char *view = g_build_filename (pre, "view.raw", NULL);
  g_autoptr(StrataJob) job = strata_job_new ("commit");
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  StrataCommitOptions opts = { .keep_overlay = TRUE };
  StrataCommitResult r = { 0 };

  make_variant (pre, &variants[0]);
  before = tu_file_checksum (top);
  strata_commit_async (top, &opts, job, NULL, commit_done_cb, &r);
  while (r.base == NULL)
    g_main_context_iteration (NULL, TRUE);
  after = tu_file_checksum (top);
  /* -d: the overlay is not touched at all. */
  g_assert_cmpstr (before, ==, after);
  g_assert_cmpfloat (strata_job_get_fraction (job), ==, 1.0);
  tu_assert_qemu_compare (r.base, view);
  strata_commit_result_clear (&r);
}

/* commit -b through the async API: the options' BASE string is the caller's (freed here
 * before the worker reads it); base ends up reading as the top, top and mid unchanged,
 * the job reaches 1.0; a BASE outside the chain is qemu-img's error. */
static void
test_commit_async_deeper (void)
{
  g_autofree char *pre = mkdir_scratch ("async-deeper");
  g_autofree char *top = g_build_filename (pre, "top.qcow2", NULL);
  g_autofree char *mid = g_build_filename (pre, "mid.qcow2", NULL);
  g_autofree char *view = g_build_filename (pre, "view.raw", NULL);
  g_autoptr(StrataJob) job = strata_job_new ("commit");
  g_autofree char *top_before = NULL;
  g_autofree char *mid_before = NULL;
  g_autofree char *top_after = NULL;
  g_autofree char *mid_after = NULL;
  g_autoptr(GError) error = NULL;
  char *name = g_strdup ("base.qcow2");
  StrataCommitOptions opts = { .base = name };
  StrataCommitResult r = { 0 };

  g_free (tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 base.qcow2 4M && "
                     "qemu-io -c 'write -P 1 0 4M' base.qcow2 && "
                     "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 mid.qcow2 && "
                     "qemu-io -c 'write -P 2 1M 1M' -c 'write -z 3M 64k' mid.qcow2 && "
                     "qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 top.qcow2 6M && "
                     "qemu-io -c 'write -P 3 1536k 64k' -c 'write -P 4 5M 64k' top.qcow2 && "
                     "qemu-img convert -O raw top.qcow2 view.raw", pre));
  top_before = tu_file_checksum (top);
  mid_before = tu_file_checksum (mid);
  strata_commit_async (top, &opts, job, NULL, commit_done_cb, &r);
  g_free (name);
  while (r.base == NULL)
    g_main_context_iteration (NULL, TRUE);
  top_after = tu_file_checksum (top);
  mid_after = tu_file_checksum (mid);
  g_assert_cmpstr (top_before, ==, top_after);
  g_assert_cmpstr (mid_before, ==, mid_after);
  g_assert_cmpfloat (strata_job_get_fraction (job), ==, 1.0);
  g_assert_true (g_str_has_suffix (r.base, "/base.qcow2"));
  tu_assert_qemu_compare (r.base, view);
  assert_clean (pre, "base.qcow2");
  strata_commit_result_clear (&r);

  opts.base = "top.qcow2";
  g_assert_false (strata_commit_sync (top, &opts, NULL, NULL, NULL, &error));
  g_assert_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "Did not find 'top.qcow2' in the backing chain"));
}

static void
test_cancel (void)
{
  g_autofree char *pre = mkdir_scratch ("cancel");
  g_autofree char *top = g_build_filename (pre, "top.qcow2", NULL);
  g_autoptr(GCancellable) cancel = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  StrataRebaseOptions ro = { .backing = "", .backing_format = NULL };

  make_variant (pre, &variants[0]);
  g_cancellable_cancel (cancel);
  g_assert_false (strata_rebase_sync (top, &ro, NULL, cancel, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  g_assert_false (strata_commit_sync (top, NULL, NULL, NULL, cancel, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_free (tu_run_ok ("qemu-img check '%s' && qemu-img check '%s/base.qcow2' && "
                     "qemu-img compare '%s' '%s/view.raw'", top, pre, top, pre));
}

static void
test_rebase_needs_format (void)
{
  g_autoptr(GError) error = NULL;
  StrataRebaseOptions ro = { .backing = "x.qcow2" };

  g_assert_false (strata_rebase_sync ("whatever.qcow2", &ro, NULL, NULL, &error));
  g_assert_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT);
  g_assert_cmpstr (error->message, ==, "Could not change the backing file to 'x.qcow2': "
                   "backing format must be specified");
}

/* While Strata holds an image for writing, QEMU cannot write it; and the reverse. */
static void
test_locks_against_qemu (void)
{
  g_autofree char *pre = mkdir_scratch ("locks");
  g_autofree char *top = g_build_filename (pre, "top.qcow2", NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *err = NULL;
  StrataImage *image;
  int rc;

  make_variant (pre, &variants[0]);
  image = strata_image_open (top, NULL, STRATA_OPEN_WRITE, &error);
  g_assert_no_error (error);

  rc = tu_run (NULL, &err, "qemu-io -c 'write 0 512' '%s'", top);
  g_assert_cmpint (rc, !=, 0);
  g_assert_nonnull (strstr (err, "lock"));
  g_clear_pointer (&err, g_free);
  /* A reader that would not share writing is refused too. */
  rc = tu_run (NULL, &err, "qemu-img info '%s'", top);
  g_assert_cmpint (rc, !=, 0);
  strata_image_unref (image);

  g_assert_cmpint (tu_run (NULL, NULL, "qemu-io -c 'write 0 512' '%s'", top), ==, 0);
}

/* The same locks on a raw image, which Strata can write without the qcow2 driver: Strata
 * writing keeps QEMU out, and QEMU writing (a qemu-io waiting on a FIFO) keeps Strata out. */
static void
test_locks_raw (void)
{
  g_autofree char *d = mkdir_scratch ("locks-raw");
  g_autofree char *img = g_build_filename (d, "disk.raw", NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *err = NULL;
  StrataImage *image;
  TuHolder *h;

  g_free (tu_run_ok ("qemu-img create -q -f raw '%s' 1M", img));
  image = strata_image_open (img, "raw", STRATA_OPEN_WRITE, &error);
  g_assert_no_error (error);
  g_assert_cmpint (tu_run (NULL, &err, "qemu-io -f raw -c 'write 0 512' '%s'", img), !=, 0);
  g_assert_nonnull (strstr (err, "lock"));
  /* Another Strata reader is refused as well (it would not share writing). */
  g_assert_null (strata_image_open (img, "raw", STRATA_OPEN_READ_ONLY, &error));
  g_assert_error (error, STRATA_ERROR, STRATA_ERROR_LOCKED);
  g_clear_error (&error);
  strata_image_unref (image);

  h = tu_hold_with_qemu_io (d, "disk.raw", "raw");
  image = strata_image_open (img, "raw", STRATA_OPEN_WRITE, &error);
  g_assert_null (image);
  g_assert_error (error, STRATA_ERROR, STRATA_ERROR_LOCKED);
  g_assert_nonnull (strstr (error->message, img));
  g_clear_error (&error);
  /* Reading with force-share still works, and reports the image in use. */
  image = strata_image_open (img, "raw", STRATA_OPEN_FORCE_SHARE, &error);
  g_assert_no_error (error);
  strata_image_unref (image);
  tu_holder_release (h);
  image = strata_image_open (img, "raw", STRATA_OPEN_WRITE, &error);
  g_assert_no_error (error);
  strata_image_unref (image);
}

int
main (int argc, char **argv)
{
  tu_init (&argc, &argv);

  g_test_add_func ("/chain/compare", test_compare);
  g_test_add_func ("/chain/protect", test_protect);
  g_test_add_func ("/chain/siblings", test_siblings);
  g_test_add_func ("/chain/rebase-needs-format", test_rebase_needs_format);
  g_test_add_func ("/chain/rebase-matrix", test_rebase_matrix);
  g_test_add_func ("/chain/rebase-nothing-below", test_rebase_nothing_below);
  g_test_add_func ("/chain/autoclear-unknown-bits", test_autoclear_unknown_bits);
  g_test_add_func ("/chain/commit-matrix", test_commit_matrix);
  g_test_add_func ("/chain/three-levels", test_three_levels);
  g_test_add_func ("/chain/commit-into-copy", test_commit_keep_and_into_copy);
  g_test_add_func ("/chain/sibling-guard-overlay-folder", test_sibling_guard_overlay_folder);
  g_test_add_func ("/chain/commit-into-copy-elsewhere", test_commit_into_copy_elsewhere);
  g_test_add_func ("/chain/commit-async-keep", test_commit_async_keep);
  g_test_add_func ("/chain/commit-async-deeper", test_commit_async_deeper);
  g_test_add_func ("/chain/cancel", test_cancel);
  g_test_add_func ("/chain/locks-against-qemu", test_locks_against_qemu);
  g_test_add_func ("/chain/locks-raw", test_locks_raw);

  return g_test_run ();
}
