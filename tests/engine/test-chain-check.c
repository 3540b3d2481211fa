/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-check.h"
#include "strata-error.h"
#include "test-util.h"

#include <string.h>

/* Bumps the stored refcount of two clusters past the end of the file (a leak qemu-img
 * reports as "2 leaked clusters") or zeroes the refcount of a used one (a corruption). */
static void
make_leaks (const char *path)
{
  g_free (tu_run_ok ("python3 - '%s' <<'EOF'\n"
                     "import struct, sys, os\n"
                     "f = open(sys.argv[1], 'r+b'); h = f.read(104)\n"
                     "cb = struct.unpack('>I', h[20:24])[0]; cs = 1 << cb\n"
                     "order = 4 if struct.unpack('>I', h[4:8])[0] == 2 else "
                     "struct.unpack('>I', h[96:100])[0]\n"
                     "assert order == 4\n"
                     "rt = struct.unpack('>Q', h[48:56])[0]\n"
                     "f.seek(rt); rb = struct.unpack('>Q', f.read(8))[0]\n"
                     "n = (os.path.getsize(sys.argv[1]) + cs - 1) // cs\n"
                     "f.truncate((n + 2) * cs)\n"
                     "f.seek(rb + 2 * n); f.write(struct.pack('>HH', 1, 1))\n"
                     "EOF", path));
}

static void
make_corrupt (const char *path)
{
  /* Zero the refcount of the L1 table's cluster (cluster 3 in a fresh qemu image). */
  g_free (tu_run_ok ("python3 - '%s' <<'EOF'\n"
                     "import struct, sys\n"
                     "f = open(sys.argv[1], 'r+b'); h = f.read(104)\n"
                     "l1 = struct.unpack('>Q', h[40:48])[0]; cb = struct.unpack('>I', h[20:24])[0]\n"
                     "rt = struct.unpack('>Q', h[48:56])[0]\n"
                     "f.seek(rt); rb = struct.unpack('>Q', f.read(8))[0]\n"
                     "f.seek(rb + 2 * (l1 >> cb)); f.write(struct.pack('>H', 0))\n"
                     "EOF", path));
}

/* Runs Strata's check and `qemu-img check --output=json` and compares every count. */
static int
check_both (const char *path, StrataCheckResult *r)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  g_autoptr(GKeyFile) unused = NULL;
  int qemu_rc;

  memset (r, 0, sizeof *r);
  g_assert_true (strata_check_sync (path, NULL, NULL, r, NULL, &error));
  g_assert_no_error (error);

  qemu_rc = tu_run (&out, NULL, "qemu-img check -U --output=json '%s'", path);
  g_assert_cmpint (qemu_rc, ==, strata_check_result_exit_code (r));

#define KEY(name, field) \
  { \
    g_autofree char *want = NULL; \
    const char *p = strstr (out, "\"" name "\": "); \
    guint64 q = p ? g_ascii_strtoull (p + strlen (name) + 4, NULL, 10) : 0; \
    if (q != r->field) \
      g_error ("%s: %s: qemu-img says %" G_GUINT64_FORMAT ", Strata %" G_GUINT64_FORMAT \
               "\n%s", path, name, q, r->field, out); \
  }
  KEY ("image-end-offset", image_end_offset);
  KEY ("total-clusters", total_clusters);
  KEY ("allocated-clusters", allocated_clusters);
  KEY ("fragmented-clusters", fragmented_clusters);
  KEY ("compressed-clusters", compressed_clusters);
  KEY ("corruptions", corruptions);
  KEY ("leaks", leaks);
#undef KEY
  return qemu_rc;
}

static const char *matrix[] = {
  "",
  "compat=0.10",
  "cluster_size=512",
  "cluster_size=2M",
  "refcount_bits=1",
  "refcount_bits=8",
  "refcount_bits=64",
  "extended_l2=on,cluster_size=32k",
  "compression_type=zstd",
};

static void
test_matrix (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (matrix); i++)
    {
      g_autofree char *name = g_strdup_printf ("m%u.qcow2", i);
      g_autofree char *cname = g_strdup_printf ("m%u-c.qcow2", i);
      const char *path = tu_path (name);
      const char *cpath = tu_path (cname);
      StrataCheckResult r;

      g_free (tu_run_ok ("qemu-img create -q -f qcow2 %s%s '%s' 16M", *matrix[i] ? "-o " : "",
                         matrix[i], path));
      g_free (tu_run_ok ("qemu-io -c 'write -P 1 0 300k' -c 'write -z 1M 64k' "
                         "-c 'write -P 2 8M 100k' -c 'write -P 5 12M 4k' '%s'", path));
      if (!strstr (matrix[i], "extended_l2") && !strstr (matrix[i], "refcount_bits=1"))
        g_free (tu_run_ok ("qemu-img snapshot -c s1 '%s' && qemu-io -c 'write -P 3 0 64k' '%s'",
                           path, path));
      g_assert_cmpint (check_both (path, &r), ==, 0);
      strata_check_result_clear (&r);

      /* Compressed clusters, then partly overwritten. */
      g_free (tu_run_ok ("qemu-img convert -c -O qcow2 %s%s '%s' '%s' && "
                         "qemu-io -c 'write -P 7 64k 64k' '%s'",
                         *matrix[i] ? "-o " : "", matrix[i], path, cpath, cpath));
      g_assert_cmpint (check_both (cpath, &r), ==, 0);
      strata_check_result_clear (&r);
    }
}

static void
test_leaks_and_repair (void)
{
  const char *path = tu_path ("leaky.qcow2");
  g_autoptr(GError) error = NULL;
  StrataCheckOptions opts = { .fix = STRATA_CHECK_FIX_LEAKS };
  StrataCheckResult r;

  g_free (tu_run_ok ("qemu-img create -q -f qcow2 '%s' 64M && "
                     "qemu-io -c 'write -P 1 0 200k' '%s'", path, path));
  make_leaks (path);
  g_assert_cmpint (check_both (path, &r), ==, 3);
  g_assert_cmpuint (r.leaks, ==, 2);
  strata_check_result_clear (&r);

  g_assert_true (strata_check_sync (path, &opts, NULL, &r, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (r.leaks_fixed, ==, 2);
  g_assert_cmpuint (r.leaks, ==, 0);
  strata_check_result_clear (&r);
  /* QEMU judges the repair. */
  tu_assert_qemu_check_clean (path);
}

static void
test_corruption (void)
{
  const char *path = tu_path ("corrupt.qcow2");
  g_autoptr(GError) error = NULL;
  StrataCheckOptions opts = { .fix = STRATA_CHECK_FIX_LEAKS };
  StrataCheckResult r;
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;

  g_free (tu_run_ok ("qemu-img create -q -f qcow2 '%s' 64M && "
                     "qemu-io -c 'write -P 1 0 200k' '%s'", path, path));
  make_corrupt (path);
  g_assert_cmpint (check_both (path, &r), ==, 2);
  g_assert_cmpuint (r.corruptions, >, 0);
  /* -r all can rebuild the refcounts: the damage is not beyond a repair. */
  g_assert_true (r.needs_rebuild);
  g_assert_false (r.unrepairable);
  strata_check_result_clear (&r);

  /* -r leaks leaves a corrupt image alone: a referenced cluster with refcount 0 needs a
   * rebuild, so qemu-img fails with exit 1 and so does Strata, writing nothing. */
  before = tu_file_checksum (path);
  g_assert_false (strata_check_sync (path, &opts, NULL, &r, NULL, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "corrupt.qcow2"));
  strata_check_result_clear (&r);
  after = tu_file_checksum (path);
  g_assert_cmpstr (before, ==, after);
  g_assert_cmpint (tu_run (NULL, NULL, "'%s' check -r leaks '%s'", tu_strata_img (), path),
                   ==, 1);
  g_assert_cmpint (tu_run (NULL, NULL, "qemu-img check -r leaks '%s'", path), ==, 1);
}

/* Exit codes as qemu-img's: a dirty lazy-refcount image under -r leaks (1, nothing
 * written), an overlay whose backing file is missing (1, the message names the file). */
static void
test_exit_codes (void)
{
  const char *dirty = tu_path ("dirty.qcow2");
  const char *ov = tu_path ("orphan.qcow2");
  const char *gone = tu_path ("gone.qcow2");
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  g_autofree char *err = NULL;

  g_free (tu_run_ok ("qemu-img create -q -f qcow2 -o lazy_refcounts=on '%s' 1M", dirty));
  tu_run (NULL, NULL, "qemu-io -c 'write -P 1 0 64k' -c 'sigraise 9' '%s'", dirty);
  g_assert_cmpint (tu_run (NULL, NULL, "qemu-img check '%s'", dirty), ==, 2);
  before = tu_file_checksum (dirty);
  g_assert_cmpint (tu_run (NULL, NULL, "'%s' check '%s'", tu_strata_img (), dirty), ==, 2);
  g_assert_cmpint (tu_run (NULL, &err, "'%s' check -r leaks '%s'", tu_strata_img (), dirty),
                   ==, 1);
  g_assert_nonnull (strstr (err, "dirty.qcow2"));
  after = tu_file_checksum (dirty);
  g_assert_cmpstr (before, ==, after);
  g_assert_cmpint (tu_run (NULL, NULL, "qemu-img check -r leaks '%s'", dirty), ==, 1);

  g_clear_pointer (&err, g_free);
  g_free (tu_run_ok ("qemu-img create -q -f qcow2 '%s' 1M && "
                     "qemu-img create -q -f qcow2 -b '%s' -F qcow2 '%s' && rm '%s'",
                     gone, gone, ov, gone));
  g_assert_cmpint (tu_run (NULL, NULL, "qemu-img check '%s'", ov), ==, 1);
  g_assert_cmpint (tu_run (NULL, &err, "'%s' check '%s'", tu_strata_img (), ov), ==, 1);
  g_assert_nonnull (strstr (err, "orphan.qcow2"));
  g_assert_nonnull (strstr (err, "backing file"));
}

/* A header QEMU refuses at open (L1 table of 2^31 - 1 entries) is "could not check": exit 1,
 * quickly, and -r leaks writes nothing (it used to lower a shared compressed cluster's
 * refcount). With leaks and corruptions together, -r leaks writes nothing either. */
static void
test_unusable_header (void)
{
  const char *path = tu_path ("l1huge.qcow2");
  const char *both = tu_path ("leaky-corrupt.qcow2");
  g_autoptr(GError) error = NULL;
  StrataCheckOptions opts = { .fix = STRATA_CHECK_FIX_LEAKS };
  StrataCheckResult r;
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  g_autofree char *err = NULL;
  /* "Quickly" means without reading or allocating the 16 GiB table: checked with an address
   * space limit (as the malformed corpus does), not a clock. ASan reserves terabytes of
   * address space, so sanitized builds go without. */
  const char *mem_limit = g_strcmp0 (g_getenv ("STRATA_TEST_SANITIZED"), "1") == 0
                          ? "" : "prlimit --as=2147483648";

  g_free (tu_run_ok ("qemu-img create -q -f qcow2 -o cluster_size=4k '%s' 1M && "
                     "qemu-io -c 'write -P 1 0 64k' -c 'write -c -P 2 512k 8k' '%s' && "
                     "printf '\\177\\377\\377\\377' | "
                     "dd of='%s' bs=1 seek=36 conv=notrunc status=none", path, path, path));
  g_assert_cmpint (tu_run (NULL, NULL, "qemu-img check '%s'", path), ==, 1);
  before = tu_file_checksum (path);
  g_assert_false (strata_check_sync (path, &opts, NULL, &r, NULL, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "l1huge.qcow2"));
  strata_check_result_clear (&r);
  g_assert_cmpint (tu_run (NULL, &err, "%s '%s' check '%s'", mem_limit, tu_strata_img (),
                           path), ==, 1);
  g_assert_nonnull (strstr (err, "l1huge.qcow2"));
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (tu_run (NULL, &err, "%s '%s' check -r leaks '%s'", mem_limit,
                           tu_strata_img (), path), ==, 1);
  g_assert_nonnull (strstr (err, "l1huge.qcow2"));
  after = tu_file_checksum (path);
  g_assert_cmpstr (before, ==, after);

  g_clear_pointer (&before, g_free);
  g_clear_pointer (&after, g_free);
  g_clear_error (&error);
  g_free (tu_run_ok ("qemu-img create -q -f qcow2 '%s' 64M && "
                     "qemu-io -c 'write -P 1 0 200k' '%s'", both, both));
  make_leaks (both);
  make_corrupt (both);
  g_assert_cmpint (check_both (both, &r), ==, 2);
  strata_check_result_clear (&r);
  before = tu_file_checksum (both);
  if (strata_check_sync (both, &opts, NULL, &r, NULL, &error))
    g_assert_cmpuint (r.corruptions, >, 0);
  g_assert_cmpuint (r.leaks_fixed, ==, 0);
  strata_check_result_clear (&r);
  after = tu_file_checksum (both);
  g_assert_cmpstr (before, ==, after);
}

/* A 1 MiB qcow2 image by QEMU with @writes (qemu-io options), then patched by @patch
 * (Python, with f the file open for writing and l1 the L1 table's offset). */
static void
make_patched (const char *path,
              const char *writes,
              const char *patch)
{
  g_free (tu_run_ok ("qemu-img create -q -f qcow2 '%s' 1M && qemu-io %s '%s' && "
                     "python3 - '%s' <<'EOF'\n"
                     "import struct, sys\n"
                     "f = open(sys.argv[1], 'r+b'); h = f.read(104)\n"
                     "l1 = struct.unpack('>Q', h[40:48])[0]\n"
                     "%s\n"
                     "EOF", path, writes, path, path, patch));
}

/* The second L2 entry points at the first entry's data cluster: that cluster is referenced
 * twice with refcount 1 (a corruption that needs no rebuild) and the second's own cluster
 * is leaked. -r leaks must leave such an image alone: with a damaged table, "unreferenced"
 * is not to be trusted. */
static void
test_no_leak_repair_beside_corruption (void)
{
  const char *path = tu_path ("shared-l2.qcow2");
  g_autoptr(GError) error = NULL;
  StrataCheckOptions opts = { .fix = STRATA_CHECK_FIX_LEAKS };
  StrataCheckResult r;
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;

  make_patched (path, "-c 'write -P 1 0 64k' -c 'write -P 2 64k 64k'",
                "f.seek(l1); l2 = struct.unpack('>Q', f.read(8))[0] & 0x00fffffffffffe00\n"
                "f.seek(l2); e = f.read(8); f.seek(l2 + 8); f.write(e)");
  g_assert_cmpint (check_both (path, &r), ==, 2);
  g_assert_cmpuint (r.leaks, >, 0);
  g_assert_false (r.needs_rebuild);
  g_assert_false (r.unrepairable);
  strata_check_result_clear (&r);

  before = tu_file_checksum (path);
  g_assert_true (strata_check_sync (path, &opts, NULL, &r, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (r.leaks_fixed, ==, 0);
  g_assert_cmpuint (r.corruptions, >, 0);
  g_assert_cmpint (strata_check_result_exit_code (&r), ==, 2);
  strata_check_result_clear (&r);
  after = tu_file_checksum (path);
  g_assert_cmpstr (before, ==, after);
}

/* An L2 table past the end of the file: references may be missing from the count, so no
 * repair touches the image (unrepairable), and -r all leaves it as it is. */
static void
test_unrepairable (void)
{
  const char *path = tu_path ("l2-past-end.qcow2");
  g_autoptr(GError) error = NULL;
  StrataCheckOptions opts = { .fix = STRATA_CHECK_FIX_LEAKS | STRATA_CHECK_FIX_ERRORS };
  StrataCheckResult r;
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;

  make_patched (path, "-c 'write -P 1 0 200k'",
                "f.seek(l1); f.write(struct.pack('>Q', (1 << 63) | (1 << 40)))");
  g_assert_cmpint (check_both (path, &r), ==, 2);
  g_assert_true (r.unrepairable);
  strata_check_result_clear (&r);

  before = tu_file_checksum (path);
  g_assert_true (strata_check_sync (path, &opts, NULL, &r, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (r.unrepairable);
  g_assert_cmpuint (r.corruptions_fixed, ==, 0);
  strata_check_result_clear (&r);
  after = tu_file_checksum (path);
  g_assert_cmpstr (before, ==, after);
}

static void
test_raw_has_no_check (void)
{
  const char *path = tu_path ("disk.raw");
  g_autoptr(GError) error = NULL;
  StrataCheckResult r = { 0 };

  g_free (tu_run_ok ("qemu-img create -q -f raw '%s' 1M", path));
  g_assert_false (strata_check_sync (path, NULL, NULL, &r, NULL, &error));
  g_assert_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED);
  g_assert_cmpint (tu_run (NULL, NULL, "qemu-img check '%s'", path), ==, 63);
  strata_check_result_clear (&r);
}

static void
check_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  StrataCheckResult *r = user_data;
  g_autoptr(GError) error = NULL;

  g_assert_true (strata_check_finish (result, r, &error));
  g_assert_no_error (error);
}

static void
test_async (void)
{
  const char *path = tu_path ("async.qcow2");
  g_autoptr(StrataJob) job = strata_job_new ("check");
  StrataCheckResult r = { 0 };

  g_free (tu_run_ok ("qemu-img create -q -f qcow2 '%s' 64M && "
                     "qemu-io -c 'write -P 1 0 1M' '%s'", path, path));
  strata_check_async (path, NULL, job, NULL, check_done_cb, &r);
  while (r.filename == NULL)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (r.allocated_clusters, ==, 16);
  g_assert_cmpfloat (strata_job_get_fraction (job), ==, 1.0);
  strata_check_result_clear (&r);
}

int
main (int argc, char **argv)
{
  tu_init (&argc, &argv);

  g_test_add_func ("/chain-check/matrix", test_matrix);
  g_test_add_func ("/chain-check/leaks-and-repair", test_leaks_and_repair);
  g_test_add_func ("/chain-check/corruption", test_corruption);
  g_test_add_func ("/chain-check/unusable-header", test_unusable_header);
  g_test_add_func ("/chain-check/exit-codes", test_exit_codes);
  g_test_add_func ("/chain-check/no-leak-repair-beside-corruption",
                   test_no_leak_repair_beside_corruption);
  g_test_add_func ("/chain-check/unrepairable", test_unrepairable);
  g_test_add_func ("/chain-check/raw-has-no-check", test_raw_has_no_check);
  g_test_add_func ("/chain-check/async", test_async);

  return g_test_run ();
}
