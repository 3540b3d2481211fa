/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Crash consistency of the chain operations. The I/O layer's hooks record every write,
 * truncate and flush an operation makes; the test then rebuilds each file as a power cut
 * would leave it: everything up to the file's last flush before the cut is on disk, and any
 * subset of the writes after it may be (seeded random subsets, a bounded number). QEMU judges
 * each state: `qemu-img check` must find no corruption (leaks are allowed), `check -r leaks`
 * must clear the leaks, the guest view must still be the one before the operation, and
 * re-running the operation must complete it.
 */
#include "strata-check.h"
#include "strata-commit.h"
#include "strata-convert.h"
#include "strata-error.h"
#include "strata-file.h"
#include "strata-image.h"
#include "strata-rebase.h"
#include "strata-resize.h"
#include "strata-snapshot.h"
#include "test-util.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

typedef enum { OP_WRITE, OP_FLUSH, OP_TRUNCATE } OpKind;

typedef struct
{
  OpKind  kind;
  char   *path;
  guint64 offset; /* or the size for a truncate */
  GBytes *data;
} Op;

typedef struct
{
  GPtrArray *ops;
} Recorder;

static void
op_free (gpointer p)
{
  Op *op = p;

  g_free (op->path);
  g_clear_pointer (&op->data, g_bytes_unref);
  g_free (op);
}

static void
on_write (const char *path, guint64 offset, const void *buf, gsize len, gpointer data)
{
  Recorder *rec = data;
  Op *op = g_new0 (Op, 1);

  op->kind = OP_WRITE;
  op->path = g_strdup (path);
  op->offset = offset;
  op->data = g_bytes_new (buf, len);
  g_ptr_array_add (rec->ops, op);
}

static void
on_flush (const char *path, gpointer data)
{
  Recorder *rec = data;
  Op *op = g_new0 (Op, 1);

  op->kind = OP_FLUSH;
  op->path = g_strdup (path);
  g_ptr_array_add (rec->ops, op);
}

static void
on_truncate (const char *path, guint64 size, gpointer data)
{
  Recorder *rec = data;
  Op *op = g_new0 (Op, 1);

  op->kind = OP_TRUNCATE;
  op->path = g_strdup (path);
  op->offset = size;
  g_ptr_array_add (rec->ops, op);
}

/* What a test does: the files it touches (in the scratch dir), how to run the operation,
 * and the guest view each file must keep. */
typedef struct
{
  const char  *name;
  const char **files;     /* basenames, NULL-terminated; files[0] is the one run on */
  gboolean   (*run)       (const char *dir, GError **error);
  const char  *view_file; /* basename whose guest view must equal view_ref ("" = none) */
  const char  *view_ref;  /* raw reference image (absolute) */
  /* Snapshot operations: a cut may leave a COPIED flag missing where the refcount is 1
   * (never one where it is above 1); the view may be view_ref or view_after. */
  gboolean     snapshots;
  const char  *view_after;
  /* A damaged image (a repair scenario): the dangers it has (see dangers()), which a cut
   * may leave but not add to; the states are repaired with -r all. NULL: none, -r leaks. */
  GHashTable  *damaged;
} Scenario;

static void
copy_set (const char *from_dir, const char *to_dir, const char **files)
{
  g_free (tu_run_ok ("mkdir -p '%s'", to_dir));
  for (guint i = 0; files[i] != NULL; i++)
    g_free (tu_run_ok ("cp --sparse=always '%s/%s' '%s/%s'", from_dir, files[i], to_dir,
                       files[i]));
}

static void
apply_op (const char *dir, const Op *op)
{
  g_autofree char *base = g_path_get_basename (op->path);
  g_autofree char *path = g_build_filename (dir, base, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(StrataFile) f = NULL;

  f = strata_file_open (path, STRATA_FILE_WRITE, &error);
  g_assert_no_error (error);
  if (op->kind == OP_WRITE)
    {
      gsize len;
      const void *p = g_bytes_get_data (op->data, &len);

      g_assert_true (strata_file_pwrite (f, p, len, op->offset, &error));
    }
  else if (op->kind == OP_TRUNCATE)
    g_assert_true (strata_file_truncate (f, op->offset, &error));
  g_assert_no_error (error);
}

/* Rebuilds the state after a cut following op @cut: per file, ops up to its last flush are
 * applied; later writes of that file are applied when @rand says so. */
static void
build_state (const char *pre_dir, const char *dir, const char **files, GPtrArray *ops,
             gint cut, GRand *rand)
{
  copy_set (pre_dir, dir, files);

  for (gint i = 0; i <= cut && i < (gint) ops->len; i++)
    {
      Op *op = g_ptr_array_index (ops, i);
      gboolean durable = FALSE;

      if (op->kind == OP_FLUSH)
        continue;
      /* Durable when a flush of the same file follows it before the cut. */
      for (gint j = i + 1; j <= cut && j < (gint) ops->len && !durable; j++)
        {
          Op *later = g_ptr_array_index (ops, j);

          durable = later->kind == OP_FLUSH && strcmp (later->path, op->path) == 0;
        }
      if (durable || op->kind == OP_TRUNCATE || rand == NULL || g_rand_boolean (rand))
        apply_op (dir, op);
    }
}

/* Whether every error qemu-img check reported is a COPIED flag missing on a cluster whose
 * refcount is 1: harmless (a writer copies the cluster once), repaired by check -r all. */
static gboolean
only_copied_missing (const char *err)
{
  g_auto(GStrv) lines = g_strsplit (err, "\n", -1);
  guint n = 0;

  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *entry;

      if (!g_str_has_prefix (lines[i], "ERROR"))
        continue;
      if (!g_str_has_prefix (lines[i], "ERROR OFLAG_COPIED") ||
          !g_str_has_suffix (lines[i], " refcount=1"))
        return FALSE;
      entry = strstr (lines[i], "_entry=");
      g_assert_nonnull (entry);
      if (g_ascii_strtoull (entry + strlen ("_entry="), NULL, 16) >> 63)
        return FALSE;
      n++;
    }
  return n > 0;
}

/*
 * What makes a damaged image dangerous to write, from qemu-img check's report: a refcount
 * below the number of references ("ERROR cluster N ...": the cluster can be handed out
 * again) and an OFLAG_COPIED flag that is set where it must not be (a writer would write in
 * place into a shared cluster). A cleared flag or a leak is harmless.
 */
/* The cluster_bits field of the qcow2 image @path's header. */
static guint
cluster_bits_of (const char *path)
{
  guint8 header[24];
  guint32 bits;
  FILE *f = fopen (path, "rb");

  g_assert_nonnull (f);
  g_assert_cmpuint (fread (header, 1, sizeof header, f), ==, sizeof header);
  fclose (f);
  g_assert_cmpmem (header, 4, "QFI\xfb", 4);
  memcpy (&bits, header + 20, sizeof bits);
  return GUINT32_FROM_BE (bits);
}

/* The dangers in @err, what qemu-img check said of the qcow2 image @path. */
static GHashTable *
dangers (const char *path,
         const char *err)
{
  guint cluster_bits = cluster_bits_of (path);
  GHashTable *set = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_auto(GStrv) lines = g_strsplit (err != NULL ? err : "", "\n", -1);

  /* Keyed by host cluster: a refcount raised under a set flag turns one report into the
   * other, and it is the same danger. */
  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *l = lines[i];
      const char *e = strstr (l, "_entry=");
      guint64 entry = e != NULL ? g_ascii_strtoull (e + 7, NULL, 16) : 0;

      if (g_str_has_prefix (l, "ERROR cluster "))
        g_hash_table_add (set, g_strdup_printf ("cluster %" G_GUINT64_FORMAT,
                                                g_ascii_strtoull (l + 14, NULL, 10)));
      else if (g_str_has_prefix (l, "ERROR OFLAG_COPIED") && (entry >> 63) != 0)
        {
          guint64 offset = entry & G_GUINT64_CONSTANT (0x00ffffffffffffff);

          g_hash_table_add (set, g_strdup_printf ("cluster %" G_GUINT64_FORMAT,
                                                  offset >> cluster_bits));
        }
    }
  return set;
}

static void
assert_not_corrupt (const char *dir, const char **files, gboolean snapshots, const char *what,
                    GHashTable *allowed)
{
  for (guint i = 0; files[i] != NULL; i++)
    {
      g_autofree char *path = g_build_filename (dir, files[i], NULL);
      g_autofree char *out = NULL;
      g_autofree char *err = NULL;
      int rc = tu_run (&out, &err, "qemu-img check -U '%s'", path);

      if (rc == 2 && snapshots && only_copied_missing (err))
        continue;
      /* A damaged image: no worse than it was, no danger it did not have. */
      if (rc == 2 && allowed != NULL)
        {
          g_autoptr(GHashTable) now = dangers (path, err);
          GHashTableIter iter;
          gpointer key;

          g_hash_table_iter_init (&iter, now);
          while (g_hash_table_iter_next (&iter, &key, NULL))
            if (!g_hash_table_contains (allowed, key))
              g_error ("%s: %s: a new danger: %s\n%s%s", what, files[i], (char *) key, out,
                       err);
          continue;
        }
      if (rc != 0 && rc != 3)
        g_error ("%s: qemu-img check %s: exit %d\n%s%s", what, files[i], rc, out, err);
    }
}

/* The guest view is the one before the operation, or (snapshot apply) the one after. */
static void
assert_view (const Scenario *sc, const char *path)
{
  if (sc->view_after != NULL &&
      tu_run (NULL, NULL, "qemu-img compare -q '%s' '%s'", path, sc->view_after) == 0)
    return;
  tu_assert_qemu_compare (path, sc->view_ref);
}

static void
repair_and_verify (const Scenario *sc, const char *dir, const char *what)
{
  g_autoptr(GError) error = NULL;

  for (guint i = 0; sc->files[i] != NULL; i++)
    {
      g_autofree char *path = g_build_filename (dir, sc->files[i], NULL);
      StrataCheckOptions opts = { .fix = STRATA_CHECK_FIX_LEAKS };
      StrataCheckResult r = { 0 };

      /* What only check -r all repairs (a missing COPIED flag) is QEMU's to repair. */
      if (sc->snapshots)
        tu_run (NULL, NULL, "qemu-img check -q -r all '%s'", path);
      if (sc->damaged != NULL)
        opts.fix |= STRATA_CHECK_FIX_ERRORS;
      g_assert_true (strata_check_sync (path, &opts, NULL, &r, NULL, &error));
      g_assert_no_error (error);
      strata_check_result_clear (&r);
      tu_assert_qemu_check_clean (path);
    }

  if (sc->view_file[0] != '\0')
    {
      g_autofree char *path = g_build_filename (dir, sc->view_file, NULL);

      assert_view (sc, path);
    }

  /* Re-running the operation completes it, and the result is still right. */
  if (!sc->run (dir, &error))
    g_error ("%s: re-running %s failed: %s", what, sc->name, error->message);
  for (guint i = 0; sc->files[i] != NULL; i++)
    {
      g_autofree char *path = g_build_filename (dir, sc->files[i], NULL);

      tu_assert_qemu_check_clean (path);
    }
  if (sc->view_file[0] != '\0')
    {
      g_autofree char *path = g_build_filename (dir, sc->view_file, NULL);

      if (sc->view_after != NULL)
        tu_assert_qemu_compare (path, sc->view_after);
      else
        tu_assert_qemu_compare (path, sc->view_ref);
    }
}

#define MAX_STATES 24
#define SUBSETS_PER_CUT 2
#define FULL_VERIFY_EVERY 4

static void
run_power_cuts (const Scenario *sc, const char *pre_dir)
{
  g_autofree char *live = g_build_filename (tu_dir (), sc->name, "live", NULL);
  Recorder rec = { g_ptr_array_new_with_free_func (op_free) };
  StrataIoHooks hooks = { on_write, on_flush, on_truncate, &rec, 0, 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) cuts = g_array_new (FALSE, FALSE, sizeof (gint));
  guint max_cuts, n_cuts;
  g_autoptr(GRand) rand = g_rand_new_with_seed (0x5742a7a);
  guint n_states = 0;
  gboolean ok;

  copy_set (pre_dir, live, sc->files);
  strata_io_set_hooks (&hooks);
  ok = sc->run (live, &error);
  strata_io_set_hooks (NULL);
  g_assert_no_error (error);
  g_assert_true (ok);
  g_assert_cmpuint (rec.ops->len, >, 0);

  /* Cut before anything was flushed, right after every flush, and at the very end. */
  {
    gint none = -1;

    g_array_append_val (cuts, none);
  }
  for (guint i = 0; i < rec.ops->len; i++)
    if (((Op *) g_ptr_array_index (rec.ops, i))->kind == OP_FLUSH)
      {
        gint cut = i;

        g_array_append_val (cuts, cut);
      }
  {
    gint last = rec.ops->len - 1;

    if (g_array_index (cuts, gint, cuts->len - 1) != last)
      g_array_append_val (cuts, last);
  }

  /* Too many flushes: spread the checked cuts evenly, keeping the first and the last. */
  max_cuts = MAX_STATES / (SUBSETS_PER_CUT + 1);
  n_cuts = MIN (cuts->len, max_cuts);
  for (guint k = 0; k < n_cuts; k++)
    {
      guint c = cuts->len <= max_cuts ? k : k * (cuts->len - 1) / (max_cuts - 1);
      gint cut = g_array_index (cuts, gint, c);
      gint next_cut = c + 1 < cuts->len ? g_array_index (cuts, gint, c + 1) : cut;

      for (guint s = 0; s <= SUBSETS_PER_CUT; s++, n_states++)
        {
          g_autofree char *what = g_strdup_printf ("%s: cut after op %d of %u, subset %u",
                                                   sc->name, cut, rec.ops->len, s);
          g_autofree char *dir = g_strdup_printf ("%s/%s/state-%u", tu_dir (), sc->name,
                                                  n_states);
          /* Subset 0: exactly the flushed state; others: a random part of what follows,
           * up to the next flush. */
          gint upto = s == 0 ? cut
                             : cut + 1 + g_rand_int_range (rand, 0, MAX (1, next_cut - cut));

          upto = MIN (upto, (gint) rec.ops->len - 1);
          build_state (pre_dir, dir, sc->files, rec.ops, upto, s == 0 ? NULL : rand);
          assert_not_corrupt (dir, sc->files, sc->snapshots, what, sc->damaged);
          if (n_states % FULL_VERIFY_EVERY == 0 || k + 1 == n_cuts)
            repair_and_verify (sc, dir, what);
          g_free (tu_run_ok ("rm -rf '%s'", dir));
        }
    }

  g_test_message ("%s: %u ops recorded, %u cut points, %u states checked", sc->name,
                  rec.ops->len, cuts->len, n_states);
  g_ptr_array_unref (rec.ops);
}

/* Fails the N-th write or flush for several N: a clear error, and a state QEMU accepts. */
static void
run_injected_failures (const Scenario *sc, const char *pre_dir)
{
  Recorder rec = { g_ptr_array_new_with_free_func (op_free) };
  StrataIoHooks count = { NULL, NULL, NULL, &rec, 0, 0 };
  g_autofree char *probe = g_build_filename (tu_dir (), sc->name, "count", NULL);
  g_autoptr(GError) error = NULL;
  guint64 total;

  copy_set (pre_dir, probe, sc->files);
  strata_io_set_hooks (&count);
  g_assert_true (sc->run (probe, &error));
  strata_io_set_hooks (NULL);
  g_assert_no_error (error);
  total = count.ops;
  g_assert_cmpuint (total, >, 0);

  for (guint k = 0; k < 6; k++)
    {
      guint64 n = 1 + k * (total - 1) / 5;
      g_autofree char *dir = g_strdup_printf ("%s/%s/fail-%" G_GUINT64_FORMAT, tu_dir (),
                                              sc->name, n);
      g_autofree char *what = g_strdup_printf ("%s: failing op %" G_GUINT64_FORMAT " of %"
                                               G_GUINT64_FORMAT, sc->name, n, total);
      StrataIoHooks fail = { NULL, NULL, NULL, NULL, n, 0 };
      gboolean ok;

      copy_set (pre_dir, dir, sc->files);
      strata_io_set_hooks (&fail);
      ok = sc->run (dir, &error);
      strata_io_set_hooks (NULL);
      g_assert_false (ok);
      g_assert_nonnull (error);
      g_assert_nonnull (strstr (error->message, dir));
      g_clear_error (&error);

      assert_not_corrupt (dir, sc->files, sc->snapshots, what, sc->damaged);
      repair_and_verify (sc, dir, what);
      g_free (tu_run_ok ("rm -rf '%s'", dir));
    }
  g_ptr_array_unref (rec.ops);
}

/* --- Scenarios --- */

static gboolean
run_commit (const char *dir, GError **error)
{
  g_autofree char *top = g_build_filename (dir, "top.qcow2", NULL);
  StrataCommitOptions opts = { .force = TRUE };

  return strata_commit_sync (top, &opts, NULL, NULL, NULL, error);
}

/* commit -b: top and mid into base; the top reads the same at every moment. */
static gboolean
run_commit_deeper (const char *dir, GError **error)
{
  g_autofree char *top = g_build_filename (dir, "top.qcow2", NULL);
  StrataCommitOptions opts = { .force = TRUE, .base = "base.qcow2" };

  return strata_commit_sync (top, &opts, NULL, NULL, NULL, error);
}

static gboolean
run_rebase (const char *dir, GError **error)
{
  g_autofree char *top = g_build_filename (dir, "top.qcow2", NULL);
  StrataRebaseOptions opts = { .backing = "new.qcow2", .backing_format = "qcow2" };

  return strata_rebase_sync (top, &opts, NULL, NULL, error);
}

static gboolean
run_repair (const char *dir, GError **error)
{
  g_autofree char *path = g_build_filename (dir, "leaky.qcow2", NULL);
  StrataCheckOptions opts = { .fix = STRATA_CHECK_FIX_LEAKS };
  StrataCheckResult r = { 0 };
  gboolean ok = strata_check_sync (path, &opts, NULL, &r, NULL, error);

  strata_check_result_clear (&r);
  return ok;
}

/* Growing far enough that the L1 table moves (4k clusters: 4 entries become 1024). */
static gboolean
run_resize_grow (const char *dir, GError **error)
{
  g_autofree char *path = g_build_filename (dir, "grow.qcow2", NULL);
  StrataResizeOptions opts = { 0 };

  return strata_resize_sync (path, &opts, 0, 2ull << 30, error);
}

/* Shrinking to the middle of a cluster: the tail is zeroed, whole clusters released. */
static gboolean
run_resize_shrink (const char *dir, GError **error)
{
  g_autofree char *path = g_build_filename (dir, "shrink.qcow2", NULL);
  StrataResizeOptions opts = { .shrink = TRUE };

  return strata_resize_sync (path, &opts, 0, 3 * 1024 * 1024 + 1536, error);
}

/* convert -n: in place into a target full of data, plain and compressed. */
static gboolean
run_convert_in_place (const char *dir, gboolean compress, GError **error)
{
  g_autofree char *src = g_build_filename (dir, "src.qcow2", NULL);
  g_autofree char *dst = g_build_filename (dir, "t.qcow2", NULL);
  StrataConvertOptions opts;

  strata_convert_options_init (&opts);
  opts.existing_target = TRUE;
  opts.compress = compress;
  opts.threads = 2;
  return strata_convert_sync (src, dst, &opts, NULL, NULL, NULL, error);
}

static gboolean
run_convert_n (const char *dir, GError **error)
{
  return run_convert_in_place (dir, FALSE, error);
}

static gboolean
run_convert_n_compressed (const char *dir, GError **error)
{
  return run_convert_in_place (dir, TRUE, error);
}

static const char *chain_files[] = { "top.qcow2", "base.qcow2", "new.qcow2", NULL };
static const char *leaky_files[] = { "leaky.qcow2", NULL };

/* base: compressed, data everywhere; top: data, zeros and a grown tail; new: base with a
 * few different clusters (so a safe rebase has something to copy). */
static char *
make_chain (const char *name, guint64 top_size_mb)
{
  g_autofree char *dir = g_build_filename (tu_dir (), name, "pre", NULL);

  g_free (tu_run_ok ("mkdir -p '%s' && cd '%s' && "
                     "qemu-img create -q -f qcow2 tmp.qcow2 8M && "
                     "qemu-io -c 'write -P 1 0 3M' -c 'write -P 2 5M 2M' tmp.qcow2 && "
                     "qemu-img convert -c -O qcow2 tmp.qcow2 base.qcow2 && rm tmp.qcow2 && "
                     "cp base.qcow2 new.qcow2 && "
                     "qemu-io -c 'write -P 9 1M 256k' -c 'write -z 6M 64k' new.qcow2 && "
                     "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2 %"
                     G_GUINT64_FORMAT "M && "
                     "qemu-io -c 'write -P 3 512k 1M' -c 'write -z 2M 128k' "
                     "-c 'write -P 4 7M 1M' -c 'write -P 5 %" G_GUINT64_FORMAT "M 192k' "
                     "top.qcow2 && "
                     "qemu-img convert -O raw top.qcow2 ../view.raw",
                     dir, dir, top_size_mb, top_size_mb - 1));
  return g_steal_pointer (&dir);
}

static void
test_crash_commit (void)
{
  g_autofree char *pre = make_chain ("commit", 10);
  g_autofree char *view = g_build_filename (tu_dir (), "commit", "view.raw", NULL);
  Scenario sc = { "commit", chain_files, run_commit, "top.qcow2", view };

  run_power_cuts (&sc, pre);
  run_injected_failures (&sc, pre);
}

static void
test_crash_commit_deeper (void)
{
  static const char *files[] = { "top.qcow2", "mid.qcow2", "base.qcow2", NULL };
  g_autofree char *pre = g_build_filename (tu_dir (), "commit-deeper", "pre", NULL);
  g_autofree char *view = g_build_filename (tu_dir (), "commit-deeper", "view.raw", NULL);
  Scenario sc = { "commit-deeper", files, run_commit_deeper, "top.qcow2", view };

  /* A compressed base smaller than the top, a mid layer with data and zeros. */
  g_free (tu_run_ok ("mkdir -p '%s' && cd '%s' && "
                     "qemu-img create -q -f qcow2 tmp.qcow2 6M && "
                     "qemu-io -c 'write -P 1 0 3M' -c 'write -P 2 5M 1M' tmp.qcow2 && "
                     "qemu-img convert -c -O qcow2 tmp.qcow2 base.qcow2 && rm tmp.qcow2 && "
                     "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 mid.qcow2 && "
                     "qemu-io -c 'write -P 3 1M 512k' -c 'write -z 2M 256k' mid.qcow2 && "
                     "qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 top.qcow2 9M && "
                     "qemu-io -c 'write -P 4 1200k 64k' -c 'write -P 5 7M 1M' top.qcow2 && "
                     "qemu-img convert -O raw top.qcow2 ../view.raw", pre, pre));
  run_power_cuts (&sc, pre);
  run_injected_failures (&sc, pre);
}

static void
test_crash_rebase (void)
{
  g_autofree char *pre = make_chain ("rebase", 8);
  g_autofree char *view = g_build_filename (tu_dir (), "rebase", "view.raw", NULL);
  Scenario sc = { "rebase", chain_files, run_rebase, "top.qcow2", view };

  run_power_cuts (&sc, pre);
  run_injected_failures (&sc, pre);
}

/* A power cut leaves the old size or the new one; both read as before (the new area as
 * zeros), and QEMU finds no corruption. */
static void
test_crash_resize_grow (void)
{
  static const char *files[] = { "grow.qcow2", NULL };
  g_autofree char *pre = g_build_filename (tu_dir (), "resize-grow", "pre", NULL);
  g_autofree char *view = g_build_filename (tu_dir (), "resize-grow", "view.raw", NULL);
  Scenario sc = { "resize-grow", files, run_resize_grow, "grow.qcow2", view };

  g_free (tu_run_ok ("mkdir -p '%s' && cd '%s' && "
                     "qemu-img create -q -f qcow2 -o cluster_size=4k grow.qcow2 8M && "
                     "qemu-io -c 'write -P 1 0 1M' -c 'write -P 2 6M 2M' grow.qcow2 && "
                     "qemu-img convert -O raw grow.qcow2 ../view.raw", pre, pre));
  run_power_cuts (&sc, pre);
  run_injected_failures (&sc, pre);
}

/* The guest view changes (the size), so only QEMU's verdict and the re-run are checked. */
static void
test_crash_resize_shrink (void)
{
  static const char *files[] = { "shrink.qcow2", NULL };
  g_autofree char *pre = g_build_filename (tu_dir (), "resize-shrink", "pre", NULL);
  Scenario sc = { "resize-shrink", files, run_resize_shrink, "", NULL };

  g_free (tu_run_ok ("mkdir -p '%s' && cd '%s' && "
                     "qemu-img create -q -f qcow2 -o cluster_size=4k shrink.qcow2 8M && "
                     "qemu-io -c 'write -P 1 0 8M' shrink.qcow2", pre, pre));
  run_power_cuts (&sc, pre);
  run_injected_failures (&sc, pre);
}

static void
test_crash_repair (void)
{
  g_autofree char *pre = g_build_filename (tu_dir (), "repair", "pre", NULL);
  g_autofree char *view = g_build_filename (tu_dir (), "repair", "view.raw", NULL);
  Scenario sc = { "repair", leaky_files, run_repair, "leaky.qcow2", view };

  /* Leaked clusters past the end of the file (512-byte clusters: small refcount blocks). */
  g_free (tu_run_ok ("mkdir -p '%s' && cd '%s' && "
                     "qemu-img create -q -f qcow2 -o cluster_size=512 leaky.qcow2 4M && "
                     "qemu-io -c 'write -P 1 0 200k' leaky.qcow2 && "
                     "qemu-img convert -O raw leaky.qcow2 ../view.raw && "
                     "python3 - leaky.qcow2 <<'EOF'\n"
                     "import struct, sys, os\n"
                     "f = open(sys.argv[1], 'r+b'); h = f.read(104)\n"
                     "rt = struct.unpack('>Q', h[48:56])[0]\n"
                     "f.seek(rt); rbs = struct.unpack('>QQ', f.read(16))\n"
                     "n = os.path.getsize(sys.argv[1]) // 512\n"
                     "f.truncate((n + 4) * 512)\n"
                     "for c in range(n, n + 4):\n"
                     "  b = rbs[c // 256]\n"
                     "  assert b\n"
                     "  f.seek(b + 2 * (c %% 256)); f.write(struct.pack('>H', 1))\n"
                     "EOF", pre, pre));
  g_assert_cmpint (tu_run (NULL, NULL, "qemu-img check '%s/leaky.qcow2'", pre), ==, 3);

  run_power_cuts (&sc, pre);
  run_injected_failures (&sc, pre);
}

static gboolean
run_repair_all (const char *dir, GError **error)
{
  g_autofree char *path = g_build_filename (dir, "damaged.qcow2", NULL);
  StrataCheckOptions opts = { .fix = STRATA_CHECK_FIX_LEAKS | STRATA_CHECK_FIX_ERRORS };
  StrataCheckResult r = { 0 };
  gboolean ok = strata_check_sync (path, &opts, NULL, &r, NULL, error);

  strata_check_result_clear (&r);
  return ok;
}

/* An image with a snapshot (shared clusters), 512-byte clusters (many refcount blocks),
 * damaged by tests/cli/qcow2-damage.py steps; returns the dangers it has. */
static GHashTable *
make_damaged (const char *pre, const char *damage)
{
  g_autofree char *script = g_build_filename (g_getenv ("STRATA_TEST_SRCDIR"), "cli",
                                              "qcow2-damage.py", NULL);
  g_autofree char *path = g_build_filename (pre, "damaged.qcow2", NULL);
  g_autofree char *err = NULL;

  g_free (tu_run_ok ("mkdir -p '%s' && cd '%s' && "
                     "qemu-img create -q -f qcow2 -o cluster_size=512 damaged.qcow2 4M && "
                     "qemu-io -c 'write -P 1 0 300k' -c 'write -P 2 1M 64k' damaged.qcow2 && "
                     "qemu-img snapshot -c s1 damaged.qcow2 && "
                     "qemu-io -c 'write -P 3 0 64k' -c 'write -P 4 2M 100k' damaged.qcow2 && "
                     "qemu-img convert -O raw damaged.qcow2 ../view.raw && "
                     "for step in %s; do python3 '%s' damaged.qcow2 $(echo $step | "
                     "tr , ' '); done", pre, pre, damage, script));
  g_assert_cmpint (tu_run (NULL, &err, "qemu-img check '%s'", path), ==, 2);
  return dangers (path, err);
}

/* -r all without a rebuild: refcounts raised and lowered, COPIED flags set and cleared,
 * leaks, the dirty bit. */
static void
test_crash_repair_all (void)
{
  static const char *files[] = { "damaged.qcow2", NULL };
  g_autofree char *pre = g_build_filename (tu_dir (), "repair-all", "pre", NULL);
  g_autofree char *view = g_build_filename (tu_dir (), "repair-all", "view.raw", NULL);
  Scenario sc = { "repair-all", files, run_repair_all, "damaged.qcow2", view };

  sc.damaged = make_damaged (pre, "data-refcount,0x100000,1 data-refcount,0x40000,3 "
                             "data-copied,0,off data-copied,0x100000,on "
                             "l2-copied,0x200000,off leak,5 flags,dirty");
  g_assert_cmpuint (g_hash_table_size (sc.damaged), >, 0);
  run_power_cuts (&sc, pre);
  run_injected_failures (&sc, pre);
  g_hash_table_unref (sc.damaged);
}

/* -r all with a rebuild of the refcount structures (a referenced cluster with refcount 0),
 * leaks and a wrong COPIED flag besides. */
static void
test_crash_repair_rebuild (void)
{
  static const char *files[] = { "damaged.qcow2", NULL };
  g_autofree char *pre = g_build_filename (tu_dir (), "repair-rebuild", "pre", NULL);
  g_autofree char *view = g_build_filename (tu_dir (), "repair-rebuild", "view.raw", NULL);
  Scenario sc = { "repair-rebuild", files, run_repair_all, "damaged.qcow2", view };

  sc.damaged = make_damaged (pre, "data-refcount,0x100000,0 leak,3 data-copied,0x200000,off");
  g_assert_cmpuint (g_hash_table_size (sc.damaged), >, 0);
  run_power_cuts (&sc, pre);
  run_injected_failures (&sc, pre);
  g_hash_table_unref (sc.damaged);
}

/* Data that compresses to about half, so that a commit frees compressed clusters. */
#define HALF_COMPRESSIBLE_PY \
  "python3 - <<'EOF'\n" \
  "import random, sys\n" \
  "r = random.Random(11)\n" \
  "out = bytearray()\n" \
  "while len(out) < %u << 20:\n" \
  "  out += b'strata commit ' * 50 if r.random() < 0.5 else r.randbytes(700)\n" \
  "open('data.raw', 'wb').write(out[:%u << 20])\n" \
  "EOF\n"

/*
 * Commit into a compressed base that frees enough to reuse clusters in the middle of the
 * commit (the allocator's write back before reuse), with a 512-byte-cluster overlay that grew
 * past its first refcount blocks and table: emptying it drops those, moves the table down
 * and cuts the file.
 */
static char *
make_reuse_chain (const char *name)
{
  g_autofree char *dir = g_build_filename (tu_dir (), name, "pre", NULL);

  g_free (tu_run_ok ("mkdir -p '%s' && cd '%s' && " HALF_COMPRESSIBLE_PY
                     "truncate -s 24M data.raw && "
                     "qemu-img convert -q -c -f raw -O qcow2 -o cluster_size=4k data.raw "
                     "base.qcow2 && rm data.raw && cp base.qcow2 new.qcow2 && "
                     "qemu-img create -q -f qcow2 -o cluster_size=512 -b base.qcow2 "
                     "-F qcow2 top.qcow2 && "
                     "qemu-io -c 'write -P 3 0 3M' -c 'write -P 4 5M 2M' -c 'write -z 8M 64k' "
                     "-c 'write -P 5 9M 1M' -c 'write -P 6 20M 512k' top.qcow2 >/dev/null && "
                     "qemu-img convert -O raw top.qcow2 ../view.raw",
                     dir, dir, 12, 12));
  return g_steal_pointer (&dir);
}

static void
test_crash_commit_reuse (void)
{
  g_autofree char *pre = make_reuse_chain ("commit-reuse");
  g_autofree char *view = g_build_filename (tu_dir (), "commit-reuse", "view.raw", NULL);
  g_autofree char *live = g_build_filename (tu_dir (), "commit-reuse", "live", NULL);
  g_autofree char *q = g_build_filename (tu_dir (), "commit-reuse", "qemu", NULL);
  Scenario sc = { "commit-reuse", chain_files, run_commit, "top.qcow2", view };
  g_autofree char *ours = NULL;
  g_autofree char *theirs = NULL;

  run_power_cuts (&sc, pre);

  /* The live run did reuse and cut: its files are no larger than qemu-img's. */
  copy_set (pre, q, chain_files);
  g_free (tu_run_ok ("cd '%s' && qemu-img commit -q top.qcow2", q));
  ours = tu_run_ok ("stat -c %%s '%s/base.qcow2' '%s/top.qcow2'", live, live);
  theirs = tu_run_ok ("stat -c %%s '%s/base.qcow2' '%s/top.qcow2'", q, q);
  g_test_message ("sizes after commit: strata %s, qemu-img %s", ours, theirs);
  {
    g_auto(GStrv) a = g_strsplit (ours, "\n", -1);
    g_auto(GStrv) b = g_strsplit (theirs, "\n", -1);

    g_assert_cmpuint (g_ascii_strtoull (a[0], NULL, 10), <=, g_ascii_strtoull (b[0], NULL, 10));
    g_assert_cmpuint (g_ascii_strtoull (a[1], NULL, 10), <=, g_ascii_strtoull (b[1], NULL, 10));
  }
  tu_assert_qemu_compare (tu_path ("commit-reuse/live/base.qcow2"), view);

  run_injected_failures (&sc, pre);
}

/* Safe rebase whose copied data goes into clusters an earlier session freed in the overlay
 * (found by the allocator's cursor). */
static void
test_crash_rebase_after_commit (void)
{
  g_autofree char *pre = make_reuse_chain ("rebase-reuse");
  g_autofree char *view = g_build_filename (tu_dir (), "rebase-reuse", "view.raw", NULL);
  Scenario sc = { "rebase-reuse", chain_files, run_rebase, "top.qcow2", view };

  /* Free clusters inside top.qcow2 from an earlier session (discarded); where the new
   * backing differs under unallocated ranges the rebase copies the old data in. */
  g_free (tu_run_ok ("cd '%s' && qemu-io -c 'write -P 9 0 256k' -c 'write -P 9 10M 1M' "
                     "new.qcow2 >/dev/null && "
                     "qemu-io -c 'discard 0 1M' top.qcow2 >/dev/null && "
                     "qemu-img convert -O raw top.qcow2 ../view.raw", pre));
  run_power_cuts (&sc, pre);
}

/* A real process killed half-way through a bigger commit. */
static void
test_sigkill_commit (void)
{
  g_autofree char *dir = g_build_filename (tu_dir (), "kill", NULL);
  g_autofree char *out = NULL;
  int rc;

  g_free (tu_run_ok ("mkdir -p '%s' && cd '%s' && "
                     "qemu-img create -q -f qcow2 base.qcow2 512M && "
                     "qemu-io -c 'write -P 1 0 64M' base.qcow2 && "
                     "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2 && "
                     "qemu-io -c 'write -P 2 32M 192M' -c 'write -z 300M 16M' top.qcow2 && "
                     "qemu-img convert -O raw top.qcow2 view.raw", dir, dir));

  /* Killed once the base has grown (the commit is writing), however fast the machine is; if
   * it finishes first, the checks below still hold. */
  rc = tu_run (&out, NULL, "cd '%s' && s0=$(stat -c %%s base.qcow2) && "
               "(%s commit -q --force top.qcow2 & pid=$!; "
               "while kill -0 $pid 2>/dev/null && [ $(stat -c %%s base.qcow2) = $s0 ]; do "
               "sleep 0.005; done; kill -9 $pid; wait $pid; echo exit=$?)", dir,
               tu_strata_img ());
  g_assert_cmpint (rc, ==, 0);
  g_test_message ("killed commit: %s", out);

  for (const char *f = "top.qcow2"; f != NULL; f = g_str_equal (f, "top.qcow2") ?
       "base.qcow2" : NULL)
    {
      rc = tu_run (NULL, NULL, "qemu-img check '%s/%s'", dir, f);
      g_assert_true (rc == 0 || rc == 3);
    }
  /* The overlay still shows the same disk, and a second run completes the commit. */
  g_free (tu_run_ok ("cd '%s' && qemu-img compare top.qcow2 view.raw && "
                     "%s commit -q --force top.qcow2 && qemu-img check top.qcow2 && "
                     "qemu-img check -r leaks base.qcow2 && qemu-img check base.qcow2 && "
                     "qemu-img compare top.qcow2 view.raw && "
                     "qemu-img compare base.qcow2 view.raw", dir, tu_strata_img ()));
}

/* Killed half-way through a commit into a compressed base (clusters being reused). */
static void
test_sigkill_commit_compressed (void)
{
  g_autofree char *dir = g_build_filename (tu_dir (), "kill-reuse", NULL);
  g_autofree char *out = NULL;
  int rc;

  g_free (tu_run_ok ("mkdir -p '%s' && cd '%s' && " HALF_COMPRESSIBLE_PY
                     "truncate -s 256M data.raw && "
                     "qemu-img convert -q -c -f raw -O qcow2 data.raw base.qcow2 && "
                     "rm data.raw && "
                     "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2 && "
                     "qemu-io -c 'write -P 2 4M 56M' -c 'write -z 70M 4M' top.qcow2 && "
                     "qemu-img convert -O raw top.qcow2 view.raw", dir, dir, 64, 64));

  rc = tu_run (&out, NULL, "cd '%s' && (%s commit -q --force top.qcow2 & pid=$!; "
               "sleep 0.1; kill -9 $pid; wait $pid; echo exit=$?)", dir, tu_strata_img ());
  g_assert_cmpint (rc, ==, 0);
  g_test_message ("killed commit: %s", out);

  for (guint i = 0; i < 2; i++)
    {
      rc = tu_run (NULL, NULL, "qemu-img check '%s/%s'", dir, i ? "base.qcow2" : "top.qcow2");
      g_assert_true (rc == 0 || rc == 3);
    }
  g_free (tu_run_ok ("cd '%s' && qemu-img compare top.qcow2 view.raw && "
                     "%s commit -q --force top.qcow2 && qemu-img check top.qcow2 && "
                     "qemu-img check -r leaks base.qcow2 && qemu-img check base.qcow2 && "
                     "qemu-img compare top.qcow2 view.raw && "
                     "qemu-img compare base.qcow2 view.raw", dir, tu_strata_img ()));
}

/* --- Internal snapshots --- */

/* snap.qcow2 (4k clusters: many L2 tables): data, zeros and compressed clusters; snapshot
 * "one" of that; then changes (and a growth); snapshot "two"; more changes. view.raw is the
 * active view, one.raw the view of snapshot "one". */
static char *
make_snapshots (const char *name)
{
  g_autofree char *dir = g_build_filename (tu_dir (), name, "pre", NULL);

  g_free (tu_run_ok ("mkdir -p '%s' && cd '%s' && "
                     "qemu-img create -q -f qcow2 -o cluster_size=4k t.qcow2 6M && "
                     "qemu-io -c 'write -P 1 0 2M' -c 'write -P 2 3M 1M' t.qcow2 >/dev/null && "
                     "qemu-img convert -c -O qcow2 -o cluster_size=4k t.qcow2 snap.qcow2 && "
                     "rm t.qcow2 && "
                     "qemu-io -c 'write -P 3 1M 1M' -c 'write -z 4M 64k' snap.qcow2 >/dev/null && "
                     "qemu-img convert -O raw snap.qcow2 ../one.raw && "
                     "qemu-img snapshot -c one snap.qcow2 && "
                     "qemu-img resize -q snap.qcow2 8M && "
                     "qemu-io -c 'write -P 4 512k 1M' -c 'write -P 5 7M 512k' snap.qcow2 "
                     ">/dev/null && "
                     "qemu-img snapshot -c two snap.qcow2 && "
                     "qemu-io -c 'write -P 6 0 256k' -c 'write -z 3M 128k' snap.qcow2 >/dev/null "
                     "&& qemu-img convert -O raw snap.qcow2 ../view.raw", dir, dir));
  return g_steal_pointer (&dir);
}

static const char *snap_files[] = { "snap.qcow2", NULL };

static gboolean
run_snapshot_create (const char *dir, GError **error)
{
  g_autofree char *path = g_build_filename (dir, "snap.qcow2", NULL);

  return strata_snapshot_create_sync (path, "three", error);
}

static gboolean
run_snapshot_apply (const char *dir, GError **error)
{
  g_autofree char *path = g_build_filename (dir, "snap.qcow2", NULL);

  return strata_snapshot_apply_sync (path, "one", error);
}

/* Deleting what a cut already deleted counts as done. */
static gboolean
run_snapshot_delete (const char *dir, GError **error)
{
  g_autofree char *path = g_build_filename (dir, "snap.qcow2", NULL);
  g_autoptr(GPtrArray) list = strata_snapshot_list_sync (path, FALSE, error);

  if (list == NULL)
    return FALSE;
  for (guint i = 0; i < list->len; i++)
    if (strcmp (((StrataSnapshotInfo *) list->pdata[i])->name, "one") == 0)
      return strata_snapshot_delete_sync (path, "one", error);
  return TRUE;
}

/* @after: the view a finished run leaves ("one.raw" for apply), NULL when unchanged. */
static void
run_snapshot_scenario (const char *name,
                       gboolean  (*run) (const char *dir, GError **error),
                       const char *after)
{
  g_autofree char *pre = make_snapshots (name);
  g_autofree char *view = g_build_filename (tu_dir (), name, "view.raw", NULL);
  g_autofree char *view_after = after != NULL ? g_build_filename (tu_dir (), name, after, NULL)
                                              : NULL;
  Scenario sc = { name, snap_files, run, "snap.qcow2", view, TRUE, view_after };

  run_power_cuts (&sc, pre);
  run_injected_failures (&sc, pre);
}

static void
test_crash_snapshot_create (void)
{
  run_snapshot_scenario ("snapshot-create", run_snapshot_create, NULL);
}

static void
test_crash_snapshot_apply (void)
{
  run_snapshot_scenario ("snapshot-apply", run_snapshot_apply, "one.raw");
}

static void
test_crash_snapshot_delete (void)
{
  run_snapshot_scenario ("snapshot-delete", run_snapshot_delete, NULL);
}

/* Commit into a base whose clusters and L2 tables its snapshots share. */
static void
test_crash_snapshot_commit (void)
{
  g_autofree char *pre = make_chain ("snapshot-commit", 10);
  g_autofree char *view = g_build_filename (tu_dir (), "snapshot-commit", "view.raw", NULL);
  Scenario sc = { "snapshot-commit", chain_files, run_commit, "top.qcow2", view };

  g_free (tu_run_ok ("cd '%s' && qemu-img snapshot -c a base.qcow2 && "
                     "qemu-io -c 'write -P 7 1M 128k' base.qcow2 >/dev/null && "
                     "qemu-img snapshot -c b base.qcow2 && "
                     "qemu-img convert -O raw top.qcow2 ../view.raw", pre));
  run_power_cuts (&sc, pre);
  run_injected_failures (&sc, pre);
}

/* A cut leaves the target holding old and new data (the in-place write is not atomic,
 * as documented), but never corrupt; running the conversion again completes it. */
static void
convert_in_place_scenario (const char *name, gboolean (*run) (const char *, GError **))
{
  static const char *files[] = { "t.qcow2", "src.qcow2", NULL };
  g_autofree char *pre = g_build_filename (tu_dir (), name, "pre", NULL);
  g_autofree char *done = g_build_filename (tu_dir (), name, "done", NULL);
  g_autoptr(GError) error = NULL;
  Scenario sc = { name, files, run, "", NULL };

  g_free (tu_run_ok ("mkdir -p '%s' && cd '%s' && "
                     "qemu-img create -q -f qcow2 src.qcow2 6M && "
                     "qemu-io -c 'write -P 1 0 1M' -c 'write -z 1M 1M' -c 'write -P 2 3M 100k' "
                     "-c 'write -c -P 3 5M 128k' src.qcow2 && "
                     "qemu-img create -q -f qcow2 t.qcow2 8M && "
                     "qemu-io -c 'write -c -P 8 2M 256k' -c 'write -P 9 0 2M' "
                     "-c 'write -P 9 3M 5M' t.qcow2",
                     pre, pre));
  run_power_cuts (&sc, pre);
  run_injected_failures (&sc, pre);

  copy_set (pre, done, files);
  g_assert_true (run (done, &error));
  g_assert_no_error (error);
  /* The first 6M are the source's; the target's own tail (P9) stays. */
  g_free (tu_run_ok ("cd '%s' && qemu-img check t.qcow2 && qemu-img compare src.qcow2 t.qcow2 "
                     "| grep -q 'Content mismatch at offset 6291456!'", done));
}

static void
test_crash_convert_n (void)
{
  convert_in_place_scenario ("convert-n", run_convert_n);
}

static void
test_crash_convert_n_compressed (void)
{
  convert_in_place_scenario ("convert-n-compressed", run_convert_n_compressed);
}

int
main (int argc, char **argv)
{
  tu_init (&argc, &argv);

  g_test_add_func ("/crash/check-repair", test_crash_repair);
  g_test_add_func ("/crash/snapshot-create", test_crash_snapshot_create);
  g_test_add_func ("/crash/snapshot-apply", test_crash_snapshot_apply);
  g_test_add_func ("/crash/snapshot-delete", test_crash_snapshot_delete);
  g_test_add_func ("/crash/snapshot-commit", test_crash_snapshot_commit);
  g_test_add_func ("/crash/check-repair-all", test_crash_repair_all);
  g_test_add_func ("/crash/check-repair-rebuild", test_crash_repair_rebuild);
  g_test_add_func ("/crash/commit", test_crash_commit);
  g_test_add_func ("/crash/commit-deeper", test_crash_commit_deeper);
  g_test_add_func ("/crash/rebase", test_crash_rebase);
  g_test_add_func ("/crash/resize-grow", test_crash_resize_grow);
  g_test_add_func ("/crash/resize-shrink", test_crash_resize_shrink);
  g_test_add_func ("/crash/sigkill-commit", test_sigkill_commit);
  g_test_add_func ("/crash/commit-reuse", test_crash_commit_reuse);
  g_test_add_func ("/crash/rebase-reuse", test_crash_rebase_after_commit);
  g_test_add_func ("/crash/sigkill-commit-compressed", test_sigkill_commit_compressed);
  g_test_add_func ("/crash/convert-n", test_crash_convert_n);
  g_test_add_func ("/crash/convert-n-compressed", test_crash_convert_n_compressed);

  return g_test_run ();
}
