/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Runs the fuzz targets' code in the normal suite: every file under tests/fuzz/regressions/
 * TARGET/ (inputs that once crashed or hung a target), a few thousand deterministic
 * pseudo-random inputs, and valid images made by qemu-img (to prove that the targets really
 * reach the drivers' tables and data, not just their first error).
 *
 * An input that still crashes because of a bug not fixed yet is listed, with its owner and
 * the reason, in tests/fuzz/regressions/known-issues.txt ("TARGET/FILE: reason"); it is
 * skipped with that reason instead of taking the whole program down.
 */
#include "strata-error.h"
#include "strata-fuzz.h"
#include "strata-image.h"
#include "test-util.h"

#include <string.h>

static GHashTable *known_issues;

static char *
regressions_dir (void)
{
  const char *srcdir = g_getenv ("STRATA_TEST_SRCDIR");

  g_assert_nonnull (srcdir);
  return g_build_filename (srcdir, "fuzz", "regressions", NULL);
}

static void
load_known_issues (void)
{
  g_autofree char *dir = regressions_dir ();
  g_autofree char *path = g_build_filename (dir, "known-issues.txt", NULL);
  g_autofree char *text = NULL;
  g_auto(GStrv) lines = NULL;

  known_issues = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return;

  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *colon = strchr (lines[i], ':');

      if (lines[i][0] == '#' || colon == NULL)
        continue;
      g_hash_table_insert (known_issues, g_strndup (lines[i], colon - lines[i]),
                           g_strdup (g_strstrip ((char *) colon + 1)));
    }
}

static gboolean
is_known_target (const char *name)
{
  for (const StrataFuzzTarget *t = strata_fuzz_targets (); t->name != NULL; t++)
    if (g_strcmp0 (t->name, name) == 0)
      return TRUE;
  return FALSE;
}

static void
test_regression_file (gconstpointer data)
{
  const char *rel = data; /* TARGET/FILE */
  g_autofree char *dir = regressions_dir ();
  g_autofree char *path = g_build_filename (dir, rel, NULL);
  g_autofree char *target = g_path_get_dirname (rel);
  g_autofree char *contents = NULL;
  g_autoptr(GError) error = NULL;
  const char *reason;
  gsize len;

  reason = g_hash_table_lookup (known_issues, rel);
  if (reason != NULL)
    {
      g_autofree char *msg = g_strdup_printf ("known issue, not fixed yet: %s", reason);

      g_test_skip (msg);
      return;
    }

  g_file_get_contents (path, &contents, &len, &error);
  g_assert_no_error (error);
  /* Reaching the end without abort() or a sanitizer report is the assertion. */
  g_assert_true (strata_fuzz_run_target (target, (const guint8 *) contents, len));
}

/* Deterministic pseudo-random inputs, a cheap fuzzing pass in every build: pure noise, and
 * noise behind each format's magic, which is what gets a parser past its first check. */
static void
test_pseudo_random (void)
{
  static const char *prefixes[] = { "", "QFI\xfb\0\0\0\x03", "QFI\xfb\0\0\0\x02", "KDMV",
                                    "# Disk DescriptorFile\n" };
  g_autoptr(GRand) rand = g_rand_new_with_seed (0x5742a7a);
  guint rounds = g_test_thorough () ? 2000 : 200;

  for (const StrataFuzzTarget *t = strata_fuzz_targets (); t->name != NULL; t++)
    for (guint i = 0; i < rounds; i++)
      {
        const char *prefix = prefixes[i % G_N_ELEMENTS (prefixes)];
        gsize plen = i % G_N_ELEMENTS (prefixes) == 4 ? strlen (prefix)
                     : i % G_N_ELEMENTS (prefixes) == 3 ? 4
                     : i % G_N_ELEMENTS (prefixes) == 0 ? 0 : 8;
        gsize len = plen + g_rand_int_range (rand, 0, 2048);
        g_autofree guint8 *buf = g_malloc (len + 1);

        memcpy (buf, prefix, plen);
        for (gsize j = plen; j < len; j++)
          buf[j] = g_rand_int_range (rand, 0, 8) == 0 ? g_rand_int (rand) & 0xff : 0;
        strata_fuzz_run_target (t->name, buf, len);
      }
}

/* Edge sizes: nothing, one byte, a lone magic. */
static void
test_tiny_inputs (void)
{
  static const struct { const char *bytes; gsize len; } inputs[] = {
    { "", 0 }, { "Q", 1 }, { "QFI\xfb", 4 }, { "KDMV", 4 }, { "KDMV\1\0\0\0", 8 },
    { "# Disk DescriptorFile", 21 },
  };

  for (const StrataFuzzTarget *t = strata_fuzz_targets (); t->name != NULL; t++)
    for (guint i = 0; i < G_N_ELEMENTS (inputs); i++)
      strata_fuzz_run_target (t->name, (const guint8 *) inputs[i].bytes, inputs[i].len);
}

typedef struct
{
  const char *name;
  const char *format;
  const char *make; /* shell, run in the scratch folder, makes NAME */
} ValidImage;

static const ValidImage valid_images[] = {
  { "v-qcow2.qcow2", "qcow2",
    "qemu-img create -q -f qcow2 -o cluster_size=4096 v-qcow2.qcow2 1M && "
    "qemu-io -c 'write -P 0xaa 0 8k' -c 'write -z 64k 8k' v-qcow2.qcow2 >/dev/null" },
  { "v-zlib.qcow2", "qcow2",
    "yes strata | head -c 262144 > v-zlib.raw; "
    "qemu-img convert -c -O qcow2 v-zlib.raw v-zlib.qcow2" },
  { "v-zstd.qcow2", "qcow2",
    "yes strata | head -c 262144 > v-zstd.raw; "
    "qemu-img convert -c -O qcow2 -o compression_type=zstd v-zstd.raw v-zstd.qcow2" },
  { "v-sparse.vmdk", "vmdk",
    "yes strata | head -c 262144 > v-sparse.raw; "
    "qemu-img convert -O vmdk v-sparse.raw v-sparse.vmdk" },
  { "v-stream.vmdk", "vmdk",
    "yes strata | head -c 262144 > v-stream.raw; "
    "qemu-img convert -O vmdk -o subformat=streamOptimized v-stream.raw v-stream.vmdk" },
  { "v-flat.vmdk", "vmdk",
    "qemu-img create -q -f vmdk -o subformat=monolithicFlat v-flat.vmdk 1M" },
};

/* The targets' walk must accept what QEMU wrote, and read back what QEMU reads. */
static void
test_valid_image (gconstpointer data)
{
  const ValidImage *v = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(StrataImage) image = NULL;
  g_autofree char *raw = NULL;
  const char *path = tu_path (v->name);
  gboolean ok;

  g_free (tu_run_ok ("%s", v->make));

  ok = strata_fuzz_exercise_file (path, v->format, TRUE, &error);
  if (!ok && g_error_matches (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED) &&
      strstr (error->message, "not supported yet") != NULL)
    {
      g_test_skip ("the driver has not landed yet");
      return;
    }
  g_assert_no_error (error);
  g_assert_true (ok);

  /* Same guest bytes as QEMU reads, for the first 256 KiB. */
  raw = g_strdup_printf ("%s.check.raw", path);
  g_free (tu_run_ok ("qemu-img convert -O raw '%s' '%s'", path, raw));
  image = strata_image_open (path, v->format, STRATA_OPEN_NO_BACKING, &error);
  g_assert_no_error (error);
  {
    g_autofree char *expected = NULL;
    gsize len;
    gsize n;
    g_autofree guint8 *buf = NULL;

    g_file_get_contents (raw, &expected, &len, &error);
    g_assert_no_error (error);
    n = MIN (len, 262144);
    buf = g_malloc (n);
    g_assert_true (strata_image_read (image, 0, n, buf, &error));
    g_assert_no_error (error);
    g_assert_cmpmem (buf, n, expected, n);
  }
}

int
main (int argc, char **argv)
{
  g_autofree char *dir = NULL;
  g_autoptr(GDir) top = NULL;
  const char *name;

  tu_init (&argc, &argv);
  load_known_issues ();

  g_test_add_func ("/fuzz-regressions/tiny-inputs", test_tiny_inputs);
  g_test_add_func ("/fuzz-regressions/pseudo-random", test_pseudo_random);
  for (guint i = 0; i < G_N_ELEMENTS (valid_images); i++)
    {
      g_autofree char *path = g_strdup_printf ("/fuzz-regressions/valid/%s",
                                               valid_images[i].name);

      g_test_add_data_func (path, &valid_images[i], test_valid_image);
    }

  dir = regressions_dir ();
  top = g_dir_open (dir, 0, NULL);
  while (top != NULL && (name = g_dir_read_name (top)) != NULL)
    {
      g_autofree char *sub = g_build_filename (dir, name, NULL);
      g_autoptr(GDir) files = NULL;
      const char *file;

      if (!g_file_test (sub, G_FILE_TEST_IS_DIR))
        continue;
      /* A folder for a target that does not exist is a mistake, not something to skip. */
      if (!is_known_target (name))
        g_error ("tests/fuzz/regressions/%s: no fuzz target of that name", name);

      files = g_dir_open (sub, 0, NULL);
      while (files != NULL && (file = g_dir_read_name (files)) != NULL)
        {
          char *rel = g_build_filename (name, file, NULL);
          g_autofree char *test = g_strdup_printf ("/fuzz-regressions/replay/%s", rel);

          g_test_add_data_func_full (test, rel, test_regression_file, g_free);
        }
    }

  return g_test_run ();
}
