/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-commit.h"
#include "strata-error.h"
#include "strata-image.h"
#include "test-util.h"

#include <string.h>
#include <sys/stat.h>

/*
 * Commit into a compressed base leaves files no larger than qemu-img commit leaves them, on
 * the same inputs: the base reuses the clusters its replaced compressed clusters free, and
 * the emptied overlay is cut to what a fresh overlay holds. QEMU judges every file (check
 * clean, compare identical), over cluster sizes, zlib/zstd, extended L2 and v2/v3.
 */

typedef struct
{
  const char *name;
  const char *opts; /* qemu-img -o for the base and the overlay */
} Variant;

static const Variant variants[] = {
  { "default", "" },
  { "v2", "compat=0.10" },
  { "c4k", "cluster_size=4k" },
  { "c512", "cluster_size=512" },
  { "c2m", "cluster_size=2M" },
  { "zstd", "compression_type=zstd" },
  { "extl2", "extended_l2=on,cluster_size=32k" },
  { "zstd-extl2-c16k", "compression_type=zstd,extended_l2=on,cluster_size=16k" },
  { "rc1-c4k", "refcount_bits=1,cluster_size=4k" },
};

typedef struct
{
  guint64 apparent;
  guint64 allocated;
} Size;

static Size
size_of (const char *dir,
         const char *name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  struct stat st;
  Size s = { 0, 0 };

  g_assert_cmpint (stat (path, &st), ==, 0);
  s.apparent = st.st_size;
  s.allocated = (guint64) st.st_blocks * 512;
  return s;
}

/* 24 MiB of data that compresses to about half (runs of text-like bytes and noise), a
 * 64 MiB disk, compressed into base.qcow2 by qemu-img. */
static void
make_base (const char *dir,
           const char *opts)
{
  g_free (tu_run_ok ("mkdir -p '%s' && cd '%s' && python3 - <<'EOF'\n"
                     "import random\n"
                     "r = random.Random(7)\n"
                     "words = [b'commit', b'overlay', b'cluster', b'strata', b'qcow2 ', b'base']\n"
                     "out = bytearray()\n"
                     "while len(out) < 24 << 20:\n"
                     "  if r.random() < 0.5:\n"
                     "    out += b' '.join(r.choice(words) for _ in range(200))\n"
                     "  else:\n"
                     "    out += r.randbytes(700)\n"
                     "open('data.raw', 'wb').write(out[:24 << 20])\n"
                     "EOF\n"
                     "truncate -s 64M data.raw && "
                     "qemu-img convert -q -c -f raw -O qcow2 %s%s data.raw base.qcow2 && "
                     "rm data.raw",
                     dir, dir, opts[0] ? "-o " : "", opts));
}

/* Round @round of writes into a fresh overlay: over data the base holds (so compressed
 * clusters are replaced), a zeroed range, and data past the base's data. */
static void
write_overlay (const char *dir,
               const char *opts,
               guint       round,
               gboolean    create)
{
  g_autoptr(GString) cmds = g_string_new (NULL);

  for (guint i = 0; i < 8; i++)
    g_string_append_printf (cmds, " -c 'write -P %u %uk 1536k'", round * 16 + i + 1,
                            (i * 3 + round) * 1024);
  g_string_append_printf (cmds, " -c 'write -z %uM 1M' -c 'write -P 99 40M 2M'", 26 + round);
  if (create)
    g_free (tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 %s%s "
                       "top.qcow2", dir, opts[0] ? "-o " : "", opts));
  g_free (tu_run_ok ("cd '%s' && qemu-io%s top.qcow2 >/dev/null && "
                     "qemu-img convert -O raw top.qcow2 view.raw", dir, cmds->str));
}

static void
assert_at_most (const char *what,
                guint64     ours,
                guint64     theirs)
{
  g_test_message ("  %-20s strata %11" G_GUINT64_FORMAT "  qemu-img %11" G_GUINT64_FORMAT
                  "  (%.3f)", what, ours, theirs, theirs ? (double) ours / theirs : 0.0);
  if (ours > theirs)
    g_error ("%s: strata-img leaves %" G_GUINT64_FORMAT " bytes, qemu-img %" G_GUINT64_FORMAT,
             what, ours, theirs);
}

/* Commits in both folders (qemu-img in @q, the engine in @s) and compares the results. */
static void
commit_both (const char *q,
             const char *s)
{
  g_autofree char *top = g_build_filename (s, "top.qcow2", NULL);
  g_autoptr(GError) error = NULL;
  StrataCommitOptions opts = { 0 };
  StrataCommitResult r = { 0 };
  Size qb, sb, qt, st;

  g_free (tu_run_ok ("cd '%s' && qemu-img commit -q top.qcow2", q));
  g_assert_true (strata_commit_sync (top, &opts, NULL, &r, NULL, &error));
  g_assert_no_error (error);
  strata_commit_result_clear (&r);

  for (guint i = 0; i < 2; i++)
    {
      const char *d = i == 0 ? q : s;
      g_autofree char *base = g_build_filename (d, "base.qcow2", NULL);
      g_autofree char *t = g_build_filename (d, "top.qcow2", NULL);
      g_autofree char *view = g_build_filename (s, "view.raw", NULL);

      tu_assert_qemu_check_clean (base);
      tu_assert_qemu_check_clean (t);
      tu_assert_qemu_compare (base, view);
      tu_assert_qemu_compare (t, view);
    }

  qb = size_of (q, "base.qcow2");
  sb = size_of (s, "base.qcow2");
  qt = size_of (q, "top.qcow2");
  st = size_of (s, "top.qcow2");
  assert_at_most ("base apparent", sb.apparent, qb.apparent);
  assert_at_most ("base allocated", sb.allocated, qb.allocated);
  assert_at_most ("overlay apparent", st.apparent, qt.apparent);
  assert_at_most ("overlay allocated", st.allocated, qt.allocated);
}

static void
test_variant (gconstpointer data)
{
  const Variant *v = data;
  g_autofree char *q = g_build_filename (tu_dir (), v->name, "qemu", NULL);
  g_autofree char *s = g_build_filename (tu_dir (), v->name, "strata", NULL);

  make_base (q, v->opts);
  write_overlay (q, v->opts, 0, TRUE);
  g_free (tu_run_ok ("mkdir -p '%s' && cp --sparse=always '%s'/* '%s'/", s, q, s));
  commit_both (q, s);
  g_free (tu_run_ok ("rm -rf '%s' '%s'", q, s));
}

/* Commit, write again into the emptied overlay, commit again: the second commit reuses the
 * space the first one freed (found again after reopening the base). */
static void
test_three_rounds (void)
{
  g_autofree char *q = g_build_filename (tu_dir (), "rounds", "qemu", NULL);
  g_autofree char *s = g_build_filename (tu_dir (), "rounds", "strata", NULL);

  make_base (q, "");
  write_overlay (q, "", 0, TRUE);
  g_free (tu_run_ok ("mkdir -p '%s' && cp --sparse=always '%s'/* '%s'/", s, q, s));
  for (guint round = 0; round < 3; round++)
    {
      g_test_message ("round %u", round + 1);
      if (round > 0)
        {
          write_overlay (q, "", round, FALSE);
          write_overlay (s, "", round, FALSE);
        }
      commit_both (q, s);
    }
}

/* With -d the overlay keeps its data and its size. */
static void
test_keep_overlay (void)
{
  g_autofree char *d = g_build_filename (tu_dir (), "keep", NULL);
  g_autofree char *top = g_build_filename (d, "top.qcow2", NULL);
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  g_autoptr(GError) error = NULL;
  StrataCommitOptions opts = { .keep_overlay = TRUE };

  make_base (d, "");
  write_overlay (d, "", 0, TRUE);
  before = tu_file_checksum (top);
  g_assert_true (strata_commit_sync (top, &opts, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  after = tu_file_checksum (top);
  g_assert_cmpstr (before, ==, after);
  tu_assert_qemu_check_clean (tu_path ("keep/base.qcow2"));
  tu_assert_qemu_compare (tu_path ("keep/base.qcow2"), tu_path ("keep/view.raw"));
}

int
main (int argc, char **argv)
{
  tu_init (&argc, &argv);

  for (guint i = 0; i < G_N_ELEMENTS (variants); i++)
    {
      g_autofree char *path = g_strdup_printf ("/commit-size/%s", variants[i].name);

      g_test_add_data_func (path, &variants[i], test_variant);
    }
  g_test_add_func ("/commit-size/three-rounds", test_three_rounds);
  g_test_add_func ("/commit-size/keep-overlay", test_keep_overlay);
  return g_test_run ();
}
