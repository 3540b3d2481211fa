/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * strata-img convert -O vmdk, side by side with qemu-img: the same -o options (subformat,
 * adapter_type, hwversion) give images QEMU judges clean and identical, with the subformat
 * and descriptor qemu-img writes; the same bad options are refused with exit status 1 and
 * leave nothing behind. Also the declared-size check through the CLI (ulimit -f).
 */
#include "cli-util.h"
#include "test-util.h"

#include <string.h>

static const char *
workdir (void)
{
  static char *dir;

  if (dir == NULL)
    {
      dir = g_build_filename (tu_dir (), "vmdk", NULL);
      g_free (tu_run_ok ("mkdir -p '%s' && cd '%s' && truncate -s 10M src.raw && "
                         "dd if=/usr/bin/qemu-img of=src.raw bs=64k count=30 conv=notrunc "
                         "status=none && qemu-io -f raw -c 'write -P 0x5a 6M 1M' "
                         "-c 'write -P 0x11 10000k 4k' src.raw >/dev/null", dir, dir));
    }
  return dir;
}

static void
assert_output_good (const char *dir,
                    const char *file,
                    const char *create_type)
{
  g_autofree char *path = g_build_filename (dir, file, NULL);
  g_autofree char *src = g_build_filename (dir, "src.raw", NULL);
  g_autofree char *info = tu_run_ok ("qemu-img info --output=json '%s'", path);
  g_autofree char *expect = g_strdup_printf ("\"create-type\": \"%s\"", create_type);

  tu_assert_qemu_check_clean (path);
  tu_assert_qemu_compare (src, path);
  if (strstr (info, expect) == NULL)
    g_error ("%s: expected %s in %s", path, expect, info);
}

static void
test_subformats (void)
{
  const char *dir = workdir ();
  static const struct
  {
    const char *args;
    const char *create_type;
  } cases[] = {
    /* qemu-img's default subformat. */
    { "convert -O vmdk src.raw out.vmdk", "monolithicSparse" },
    { "convert -O vmdk -o subformat=monolithicSparse src.raw out.vmdk", "monolithicSparse" },
    { "convert -O vmdk -o subformat=streamOptimized src.raw out.vmdk", "streamOptimized" },
    { "convert -p -c -O vmdk -o subformat=streamOptimized -m 2 src.raw out.vmdk",
      "streamOptimized" },
    { "convert -O vmdk -o compat6 src.raw out.vmdk", "monolithicSparse" },
    { "convert -O vmdk -o subformat=streamOptimized,adapter_type=lsilogic,hwversion=6 "
      "src.raw out.vmdk", "streamOptimized" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_auto(CliResult) s = { 0 };

      cli_run_strata (&s, dir, cases[i].args);
      if (s.rc != 0)
        g_error ("strata-img %s: exit %d: %s", cases[i].args, s.rc, s.err);
      assert_output_good (dir, "out.vmdk", cases[i].create_type);
      if (strstr (cases[i].args, "compat6") != NULL)
        g_free (tu_run_ok ("cd '%s' && head -c 12288 out.vmdk | tr -d '\\000' | "
                           "grep -x 'ddb.virtualHWVersion = \"6\"'", dir));

      /* Both tools describe the output alike. */
      {
        g_auto(CliResult) qi = { 0 };
        g_auto(CliResult) si = { 0 };

        cli_run_qemu (&qi, dir, "info --output=json out.vmdk");
        cli_run_strata (&si, dir, "info --output=json out.vmdk");
        g_assert_cmpint (qi.rc, ==, 0);
        g_assert_cmpint (si.rc, ==, 0);
        cli_assert_json_matches (cases[i].args, qi.out, si.out, NULL);
      }
    }

  /* The descriptor of the last one carries its options, as qemu-img writes them. */
  {
    g_auto(CliResult) q = { 0 };
    g_autofree char *ours = NULL;
    g_autofree char *theirs = NULL;

    cli_run_qemu (&q, dir, "convert -O vmdk -o subformat=streamOptimized,"
                  "adapter_type=lsilogic,hwversion=6 src.raw ref.vmdk");
    g_assert_cmpint (q.rc, ==, 0);
    ours = tu_run_ok ("cd '%s' && dd if=out.vmdk bs=512 skip=1 count=20 status=none | "
                      "tr -d '\\000' | grep -E '^(ddb.adapterType|ddb.geometry|"
                      "ddb.virtualHWVersion|createType|parentCID)'", dir);
    theirs = tu_run_ok ("cd '%s' && dd if=ref.vmdk bs=512 skip=1 count=20 status=none | "
                        "tr -d '\\000' | grep -E '^(ddb.adapterType|ddb.geometry|"
                        "ddb.virtualHWVersion|createType|parentCID)'", dir);
    g_assert_cmpstr (ours, ==, theirs);
    g_assert_nonnull (strstr (ours, "ddb.adapterType = \"lsilogic\""));
  }

  g_free (tu_run_ok ("cd '%s' && rm -f out.vmdk ref.vmdk", dir));
}

/* Bad options: exit 1, a message saying what is wrong, nothing written. qemu-img refuses
 * the same ones, except -c with monolithicSparse, which it quietly writes uncompressed. */
static void
test_bad_options (void)
{
  const char *dir = workdir ();
  static const struct
  {
    const char *options;
    const char *needle;
    gboolean    qemu_refuses;
  } cases[] = {
    { "-c -O vmdk", "subformat=streamOptimized", FALSE },
    { "-c -O vmdk -o subformat=monolithicSparse", "subformat=streamOptimized", FALSE },
    { "-O vmdk -o subformat=foo", "invalid value \"foo\" for option \"subformat\"", TRUE },
    { "-O vmdk -o adapter_type=scsi", "invalid value \"scsi\" for option \"adapter_type\"",
      TRUE },
    { "-O vmdk -o cluster_size=4k", "invalid option \"cluster_size\" for the vmdk format",
      TRUE },
    { "-O vmdk -o subformat=monolithicFlat", "not supported for writing", FALSE },
    { "-O vmdk -o hwversion=abc", "invalid value \"abc\" for option \"hwversion\"", FALSE },
    { "-O vmdk -o compat6=on,hwversion=7", "compat6 cannot be enabled with hwversion set",
      TRUE },
  };
  g_autofree char *before = tu_list_dir (dir);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_auto(CliResult) s = { 0 };
      g_autofree char *args = g_strdup_printf ("convert %s src.raw bad.vmdk",
                                               cases[i].options);
      g_autofree char *after = NULL;

      cli_run_strata (&s, dir, args);
      g_assert_cmpint (s.rc, ==, 1);
      if (strstr (s.err, cases[i].needle) == NULL)
        g_error ("strata-img %s: expected \"%s\" in: %s", args, cases[i].needle, s.err);
      after = tu_list_dir (dir);
      g_assert_cmpstr (before, ==, after);

      if (cases[i].qemu_refuses)
        {
          g_auto(CliResult) q = { 0 };

          cli_run_qemu (&q, dir, args);
          g_assert_cmpint (q.rc, ==, 1);
          g_free (tu_run_ok ("cd '%s' && rm -f bad.vmdk", dir));
        }
    }
}

/* A source larger than the file size limit: one line naming the source and its size,
 * exit 1, nothing left; not a SIGXFSZ core dump. */
static void
test_declared_size_too_large (void)
{
  const char *dir = workdir ();
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  g_autofree char *err = NULL;
  int rc;

  g_free (tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 big.qcow2 64M", dir));
  before = tu_list_dir (dir);
  rc = tu_run (NULL, &err, "cd '%s' && ulimit -f 1024 && %s convert -O raw big.qcow2 big.raw",
               dir, tu_strata_img ());
  g_assert_cmpint (rc, ==, 1);
  if (strstr (err, "big.qcow2: its virtual size, 67108864 bytes") == NULL)
    g_error ("expected the source and its size in: %s", err);
  after = tu_list_dir (dir);
  g_assert_cmpstr (before, ==, after);
  g_free (tu_run_ok ("cd '%s' && rm -f big.qcow2", dir));
}

int
main (int argc, char **argv)
{
  tu_init (&argc, &argv);

  g_test_add_func ("/cli-vmdk/subformats", test_subformats);
  g_test_add_func ("/cli-vmdk/bad-options", test_bad_options);
  g_test_add_func ("/cli-vmdk/declared-size-too-large", test_declared_size_too_large);

  return g_test_run ();
}
