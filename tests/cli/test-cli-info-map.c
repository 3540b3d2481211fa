/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * `strata-img info` and `strata-img map` against `qemu-img info` and `qemu-img map` on
 * images QEMU made: every qcow2 option, every VMDK subformat, raw, and backing chains.
 */
#include "cli-util.h"
#include "test-util.h"

#include <glib/gstdio.h>
#include <string.h>

/* A data pattern with runs that start and end inside clusters, a zero run and data near
 * the end of an 8 MiB disk. */
#define PATTERN(fmt, file) \
  "qemu-io -f " fmt " -c 'write -P 0xaa 0 64k' -c 'write -P 0xbb 1M 192k' " \
  "-c 'write -P 0xcc 5M 512' -c 'write -P 0xdd 8384512 4096' " file
#define PATTERN_ZERO(fmt, file) \
  PATTERN (fmt, file) " && qemu-io -f " fmt " -c 'write -z 3M 64k' " file
/* Source for convert: repetitive data (compresses), a zero cluster written as data, and a
 * hole. */
#define SRC_RAW \
  "qemu-img create -q -f raw src.raw 8M && qemu-io -f raw -c 'write -P 0xaa 0 1M' " \
  "-c 'write -P 0 2M 64k' -c 'write -P 0x5c 3M 100k' -c 'write -P 0x77 8126464 65536' " \
  "src.raw"
#define QCOW2(opts, file, size) "qemu-img create -q -f qcow2 " opts " " file " " size
/* Writes that start or end inside clusters of a fresh image: QEMU fills the rest of each
 * cluster with zeros, and how sparse that leaves the file decides whether QEMU takes the
 * image for metadata-preallocated and asks the file about holes in data clusters. */
#define PARTIAL(cs) \
  QCOW2 ("-o cluster_size=" cs, "a.qcow2", "3M") " && qemu-io -f qcow2 " \
  "-c 'write -P 1 0 100k' -c 'write -P 2 1100k 3k' -c 'write -P 3 2047k 1537' a.qcow2"

typedef struct
{
  const char *name;
  const char *setup;  /* shell commands run in the case's own folder */
  const char *file;   /* the image given to info and map */
  /* A known difference owned by a format driver: when the outputs differ, the case is
   * reported as incomplete (with the differences) instead of failing the suite. */
  const char *gap;
  /* When set, a.qcow2 (8M) is first made encrypted with these encrypt.* options. */
  const char *encrypt;
} Case;

static const Case cases[] = {
  { "raw-sparse",
    "qemu-img create -q -f raw a.raw 8M && " PATTERN ("raw", "a.raw"), "a.raw" },
  { "raw-empty", "truncate -s 0 a.raw", "a.raw" },
  { "raw-unaligned", "truncate -s 1000000 a.raw && printf xyz >> a.raw", "a.raw" },
  { "qcow2-default", QCOW2 ("", "a.qcow2", "8M") " && " PATTERN_ZERO ("qcow2", "a.qcow2"),
    "a.qcow2" },
  { "qcow2-empty", QCOW2 ("", "a.qcow2", "1G"), "a.qcow2" },
  { "qcow2-cluster-512", QCOW2 ("-o cluster_size=512", "a.qcow2", "8M") " && "
    PATTERN_ZERO ("qcow2", "a.qcow2"), "a.qcow2" },
  { "qcow2-cluster-4k", QCOW2 ("-o cluster_size=4k", "a.qcow2", "8M") " && "
    PATTERN_ZERO ("qcow2", "a.qcow2"), "a.qcow2" },
  { "qcow2-cluster-2M", QCOW2 ("-o cluster_size=2M", "a.qcow2", "8M") " && "
    PATTERN_ZERO ("qcow2", "a.qcow2"), "a.qcow2" },
  { "qcow2-compat-0.10", QCOW2 ("-o compat=0.10", "a.qcow2", "8M") " && "
    PATTERN_ZERO ("qcow2", "a.qcow2"), "a.qcow2" },
  { "qcow2-refcount-1", QCOW2 ("-o refcount_bits=1", "a.qcow2", "8M") " && "
    PATTERN_ZERO ("qcow2", "a.qcow2"), "a.qcow2" },
  { "qcow2-refcount-8", QCOW2 ("-o refcount_bits=8", "a.qcow2", "8M") " && "
    PATTERN_ZERO ("qcow2", "a.qcow2"), "a.qcow2" },
  { "qcow2-refcount-64", QCOW2 ("-o refcount_bits=64", "a.qcow2", "8M") " && "
    PATTERN_ZERO ("qcow2", "a.qcow2"), "a.qcow2" },
  { "qcow2-lazy-refcounts", QCOW2 ("-o lazy_refcounts=on", "a.qcow2", "8M") " && "
    PATTERN_ZERO ("qcow2", "a.qcow2"), "a.qcow2" },
  /* qemu-io killing itself leaves the dirty bit set. */
  { "qcow2-dirty", QCOW2 ("-o lazy_refcounts=on", "a.qcow2", "8M") " && "
    "{ qemu-io -f qcow2 -c 'write -P 0x42 0 128k' -c 'sigraise 9' a.qcow2; true; }",
    "a.qcow2" },
  { "qcow2-extended-l2", QCOW2 ("-o extended_l2=on", "a.qcow2", "8M") " && "
    "qemu-io -f qcow2 -c 'write -P 0x11 2k 2k' -c 'write -P 0x12 60k 8k' "
    "-c 'write -z 1M 4k' -c 'write -P 0x13 2M 64k' a.qcow2", "a.qcow2" },
  { "qcow2-extended-l2-2M", QCOW2 ("-o extended_l2=on,cluster_size=2M", "a.qcow2", "8M")
    " && " PATTERN_ZERO ("qcow2", "a.qcow2"), "a.qcow2" },
  { "qcow2-zstd", QCOW2 ("-o compression_type=zstd", "a.qcow2", "8M") " && "
    PATTERN ("qcow2", "a.qcow2"), "a.qcow2" },
  { "qcow2-compressed-zlib", SRC_RAW " && qemu-img convert -c -O qcow2 src.raw a.qcow2",
    "a.qcow2" },
  { "qcow2-compressed-zstd", SRC_RAW " && qemu-img convert -c -O qcow2 "
    "-o compression_type=zstd src.raw a.qcow2", "a.qcow2" },
  { "qcow2-compressed-4k", SRC_RAW " && qemu-img convert -c -O qcow2 "
    "-o cluster_size=4k src.raw a.qcow2", "a.qcow2" },
  { "qcow2-converted", SRC_RAW " && qemu-img convert -O qcow2 src.raw a.qcow2", "a.qcow2" },
  { "qcow2-prealloc-metadata", QCOW2 ("-o preallocation=metadata", "a.qcow2", "8M") " && "
    PATTERN ("qcow2", "a.qcow2"), "a.qcow2" },
  { "qcow2-partial-512", PARTIAL ("512"), "a.qcow2" },
  { "qcow2-partial-4k", PARTIAL ("4k"), "a.qcow2" },
  { "qcow2-partial-64k", PARTIAL ("64k"), "a.qcow2" },
  { "qcow2-partial-2M", PARTIAL ("2M"), "a.qcow2" },
  /* The zero tail of the last data cluster past the end of the file, or punched out of it
   * (what other file systems leave): few clusters really allocated, so QEMU reports the
   * tail as data that reads as zeros. */
  { "qcow2-partial-tail-past-eof", QCOW2 ("", "a.qcow2", "3M") " && qemu-io -f qcow2 "
    "-c 'write -P 1 0 100k' a.qcow2 && truncate -s 430080 a.qcow2", "a.qcow2" },
  { "qcow2-partial-tail-punched", QCOW2 ("", "a.qcow2", "3M") " && qemu-io -f qcow2 "
    "-c 'write -P 1 0 100k' a.qcow2 && fallocate -p -o 430080 -l 28672 a.qcow2", "a.qcow2" },
  { "qcow2-bitmap", QCOW2 ("", "a.qcow2", "8M") " && qemu-img bitmap --add a.qcow2 b0",
    "a.qcow2" },
  { "vmdk-monolithicSparse", SRC_RAW " && qemu-img convert -O vmdk src.raw a.vmdk", "a.vmdk" },
  { "vmdk-monolithicSparse-written", "qemu-img create -q -f vmdk a.vmdk 8M && "
    PATTERN ("vmdk", "a.vmdk"), "a.vmdk" },
  { "vmdk-zeroed-grain", "qemu-img create -q -f vmdk -o zeroed_grain=on a.vmdk 8M && "
    PATTERN_ZERO ("vmdk", "a.vmdk"), "a.vmdk" },
  { "vmdk-monolithicFlat", SRC_RAW " && qemu-img convert -O vmdk -o subformat=monolithicFlat "
    "src.raw a.vmdk", "a.vmdk" },
  { "vmdk-twoGbMaxExtentSparse", "qemu-img create -q -f vmdk -o "
    "subformat=twoGbMaxExtentSparse a.vmdk 3G && qemu-io -f vmdk -c 'write -P 0x11 0 64k' "
    "-c 'write -P 0x12 2047M 2M' -c 'write -P 0x13 2560M 128k' a.vmdk", "a.vmdk" },
  { "vmdk-twoGbMaxExtentFlat", "qemu-img create -q -f vmdk -o "
    "subformat=twoGbMaxExtentFlat a.vmdk 3G && qemu-io -f vmdk -c 'write -P 0x11 0 64k' "
    "-c 'write -P 0x13 2560M 128k' a.vmdk", "a.vmdk" },
  { "vmdk-streamOptimized", SRC_RAW " && qemu-img convert -O vmdk -o "
    "subformat=streamOptimized src.raw a.vmdk", "a.vmdk" },
  { "vmdk-chain", SRC_RAW " && qemu-img convert -O vmdk src.raw base.vmdk && "
    "qemu-img create -q -f vmdk -b base.vmdk -F vmdk top.vmdk && qemu-io -f vmdk "
    "-c 'write -P 0x31 1M 64k' top.vmdk", "top.vmdk" },
  /* Made by tu_qemu_create_encrypted() (a.qcow2, 8M), which retries LUKS's timing failure. */
  { "qcow2-encrypted-luks", "true", "a.qcow2", NULL,
    "encrypt.format=luks,encrypt.iter-time=50" },
  { "qcow2-encrypted-luks-cbc-essiv", "true", "a.qcow2", NULL,
    "encrypt.format=luks,encrypt.iter-time=50,encrypt.cipher-alg=aes-128,"
    "encrypt.cipher-mode=cbc,encrypt.ivgen-alg=essiv,encrypt.ivgen-hash-alg=sha256,"
    "encrypt.hash-alg=sha1" },
  { "qcow2-encrypted-aes", "true", "a.qcow2", NULL, "encrypt.format=aes" },
  { "chain3-relative",
    QCOW2 ("", "base.qcow2", "16M") " && qemu-io -f qcow2 -c 'write -P 0x11 0 1M' "
    "-c 'write -P 0x12 8M 1M' base.qcow2 && "
    QCOW2 ("-b base.qcow2 -F qcow2", "mid.qcow2", "") " && qemu-io -f qcow2 "
    "-c 'write -P 0x21 512k 1M' -c 'write -z 8M 64k' mid.qcow2 && "
    QCOW2 ("-b mid.qcow2 -F qcow2", "top.qcow2", "") " && qemu-io -f qcow2 "
    "-c 'write -P 0x31 0 64k' -c 'write -P 0x32 12M 4k' top.qcow2", "top.qcow2" },
  { "chain3-absolute",
    QCOW2 ("", "base.qcow2", "16M") " && qemu-io -f qcow2 -c 'write -P 0x11 0 1M' "
    "base.qcow2 && " QCOW2 ("-b \"$PWD/base.qcow2\" -F qcow2", "mid.qcow2", "") " && "
    "qemu-io -f qcow2 -c 'write -P 0x21 512k 1M' mid.qcow2 && "
    QCOW2 ("-b \"$PWD/mid.qcow2\" -F qcow2", "top.qcow2", "") " && qemu-io -f qcow2 "
    "-c 'write -P 0x31 0 64k' top.qcow2", "top.qcow2" },
  { "chain-subfolder",
    "mkdir sub && " QCOW2 ("", "sub/base.qcow2", "16M") " && qemu-io -f qcow2 "
    "-c 'write -P 0x11 0 1M' sub/base.qcow2 && (cd sub && "
    QCOW2 ("-b base.qcow2 -F qcow2", "mid.qcow2", "") ") && qemu-io -f qcow2 "
    "-c 'write -P 0x21 512k 1M' sub/mid.qcow2 && "
    QCOW2 ("-b sub/mid.qcow2 -F qcow2", "top.qcow2", "") " && qemu-io -f qcow2 "
    "-c 'write -P 0x31 4M 64k' top.qcow2", "top.qcow2" },
  { "chain-top-in-subfolder",
    "mkdir sub && " QCOW2 ("", "base.qcow2", "16M") " && qemu-io -f qcow2 "
    "-c 'write -P 0x11 0 1M' base.qcow2 && "
    QCOW2 ("-b ../base.qcow2 -F qcow2", "sub/top.qcow2", "") " && qemu-io -f qcow2 "
    "-c 'write -P 0x31 64k 64k' sub/top.qcow2", "sub/top.qcow2" },
  { "vmdk-under-qcow2",
    SRC_RAW " && qemu-img convert -O vmdk src.raw base.vmdk && "
    QCOW2 ("-b base.vmdk -F vmdk", "top.qcow2", "") " && qemu-io -f qcow2 "
    "-c 'write -P 0x31 1M 64k' -c 'write -z 3M 4k' top.qcow2", "top.qcow2" },
  { "raw-under-qcow2",
    SRC_RAW " && " QCOW2 ("-b src.raw -F raw", "top.qcow2", "") " && qemu-io -f qcow2 "
    "-c 'write -P 0x31 1M 64k' top.qcow2", "top.qcow2" },
  { "short-base",
    QCOW2 ("", "base.qcow2", "4M") " && qemu-io -f qcow2 -c 'write -P 0x11 3M 1M' "
    "base.qcow2 && " QCOW2 ("-b base.qcow2 -F qcow2", "top.qcow2", "16M") " && "
    "qemu-io -f qcow2 -c 'write -P 0x31 10M 64k' top.qcow2", "top.qcow2" },
  /* Unallocated subclusters past the end of a shorter backing: QEMU shows their offset. */
  { "short-base-extended-l2",
    QCOW2 ("", "base.qcow2", "1M") " && qemu-io -f qcow2 -c 'write -P 0x11 512k 64k' "
    "base.qcow2 && " QCOW2 ("-o extended_l2=on -b base.qcow2 -F qcow2", "top.qcow2", "4M")
    " && qemu-io -f qcow2 -c 'write -P 0x31 0 4k' -c 'write -P 0x32 2M 4k' top.qcow2",
    "top.qcow2" },
  { "short-middle",
    QCOW2 ("", "base.qcow2", "16M") " && qemu-io -f qcow2 -c 'write -P 0x11 0 16M' "
    "base.qcow2 && " QCOW2 ("-b base.qcow2 -F qcow2", "mid.qcow2", "4M") " && "
    QCOW2 ("-b mid.qcow2 -F qcow2", "top.qcow2", "32M") " && "
    "qemu-io -f qcow2 -c 'write -P 0x31 20M 64k' top.qcow2", "top.qcow2" },
  { "overlay-compat-0.10",
    QCOW2 ("-o compat=0.10", "base.qcow2", "8M") " && " PATTERN ("qcow2", "base.qcow2")
    " && " QCOW2 ("-o compat=0.10 -b base.qcow2 -F qcow2", "top.qcow2", "") " && "
    "qemu-io -f qcow2 -c 'write -P 0x31 1M 64k' top.qcow2", "top.qcow2" },
  { "missing-backing",
    QCOW2 ("-u -b nothere.qcow2 -F qcow2", "top.qcow2", "8M"), "top.qcow2" },
};

/* Returns FALSE when the case was skipped or stopped at a known gap. */
static gboolean
compare_command (const Case *c,
                 const char *dir,
                 const char *args,
                 gboolean    text_equal)
{
  g_auto(CliResult) q = { 0 };
  g_auto(CliResult) s = { 0 };
  g_autofree char *what = g_strdup_printf ("%s: %s", dir, args);
  g_autofree char *failure = NULL;

  cli_run_qemu (&q, dir, args);
  cli_run_strata (&s, dir, args);
  if (cli_skip_if_unsupported (&s))
    return FALSE;

  if (q.rc != 0)
    {
      /* qemu-img refuses: so must we, with an error naming the file. */
      if (s.rc != 1 || !g_str_has_prefix (s.err, "strata-img: "))
        failure = g_strdup_printf ("%s: qemu-img failed (%d: %s) but strata-img exited %d:"
                                   "\n%s%s", what, q.rc, q.err, s.rc, s.out, s.err);
    }
  else if (s.rc != 0)
    failure = g_strdup_printf ("%s: strata-img failed (exit %d): %s", what, s.rc, s.err);
  else
    {
      g_autofree char *diffs = NULL;
      g_autofree char *stripped = cli_strip_strata_lines (s.out);

      if (strstr (args, "--output=json") != NULL &&
          (diffs = cli_json_diff (q.out, s.out, NULL)) != NULL)
        failure = g_strdup_printf ("%s: strata-img differs from qemu-img:\n%s--- qemu-img:\n"
                                   "%s--- strata-img:\n%s", what, diffs, q.out, s.out);
      else if (text_equal && g_strcmp0 (q.out, stripped) != 0)
        failure = g_strdup_printf ("%s: output differs\n--- qemu-img:\n%s--- strata-img:\n%s",
                                   what, q.out, stripped);
    }

  if (failure == NULL)
    return TRUE;
  if (c->gap == NULL)
    g_error ("%s", failure);

  g_test_message ("%s", failure);
  g_test_incomplete (c->gap);
  return FALSE;
}

static void
test_case (gconstpointer data)
{
  /* Each command, and whether its text must equal qemu-img's once Strata's own keys and
   * lines are dropped: JSON is compared as a tree first (clearer messages), then as text
   * (same member order, same layout, so scripts that diff outputs see no change). */
  static const struct { const char *args; gboolean text; } commands[] = {
    { "info --output=json", TRUE },
    { "info", TRUE },
    { "info --backing-chain --output=json", TRUE },
    { "info --backing-chain", TRUE },
    { "map --output=json", TRUE },
    { "map", TRUE },
  };
  const Case *c = data;
  g_autofree char *dir = g_build_filename (tu_dir (), c->name, NULL);

  if (((strstr (c->setup, "qcow2") != NULL || c->encrypt != NULL) &&
       !cli_driver_available ("qcow2")) ||
      (strstr (c->setup, "vmdk") != NULL && !cli_driver_available ("vmdk")))
    return;

  g_assert_cmpint (g_mkdir (dir, 0755), ==, 0);
  if (strstr (c->setup, "fallocate -p") != NULL && !tu_fs_punches_holes (dir))
    {
      g_test_skip ("this file system does not punch holes");
      return;
    }
  if (c->encrypt != NULL)
    {
      g_autofree char *image = g_build_filename (dir, "a.qcow2", NULL);

      tu_qemu_create_encrypted (image, c->encrypt, "8M");
    }
  g_free (tu_run_ok ("cd '%s' && %s", dir, c->setup));

  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    {
      g_autofree char *args = g_strdup_printf ("%s '%s'", commands[i].args, c->file);

      if (!compare_command (c, dir, args, commands[i].text))
        return;
    }
}

/* Spellings qemu-img accepts for the same request. */
static void
test_option_spellings (void)
{
  g_autofree char *dir = g_build_filename (tu_dir (), "spellings", NULL);
  const char *variants[] = {
    "info --output json a.raw", "info --output=json -f raw a.raw", "info -U --output=json a.raw",
    "info --force-share --output=json a.raw", "info a.raw --output=json",
    "info --format=raw --output=json a.raw",
  };
  g_auto(CliResult) q = { 0 };

  g_assert_cmpint (g_mkdir (dir, 0755), ==, 0);
  g_free (tu_run_ok ("cd '%s' && qemu-img create -q -f raw a.raw 1M", dir));
  cli_run_qemu (&q, dir, "info --output=json a.raw");
  g_assert_cmpint (q.rc, ==, 0);

  for (guint i = 0; i < G_N_ELEMENTS (variants); i++)
    {
      g_auto(CliResult) s = { 0 };

      cli_run_strata (&s, dir, variants[i]);
      g_assert_cmpint (s.rc, ==, 0);
      cli_assert_json_matches (variants[i], q.out, s.out, NULL);
    }

  {
    g_auto(CliResult) s = { 0 };

    cli_run_strata (&s, dir, "info --output=xml a.raw");
    g_assert_cmpint (s.rc, ==, 1);
    g_assert_nonnull (strstr (s.err, "--output"));
  }
  {
    g_auto(CliResult) s = { 0 };

    cli_run_strata (&s, dir, "map --output json --start-offset 0 a.raw");
    g_assert_cmpint (s.rc, ==, 0);
    g_assert_true (g_str_has_prefix (s.out, "[{ \"start\": 0,"));
  }
}

/* --start-offset and --max-length cut the same runs as qemu-img's, even mid-cluster. */
static void
test_map_ranges (void)
{
  static const char *const ranges[] = {
    "--start-offset=100k --max-length=1M", "--start-offset 1G", "--max-length=0",
    "--start-offset=65537 --max-length=3", "--start-offset=7M", "--max-length 5000000",
  };
  static const Case chain = {
    "ranges", QCOW2 ("", "base.qcow2", "8M") " && " PATTERN_ZERO ("qcow2", "base.qcow2")
    " && " QCOW2 ("-b base.qcow2 -F qcow2", "top.qcow2", "16M") " && qemu-io -f qcow2 "
    "-c 'write -P 0x31 900k 200k' top.qcow2 && qemu-img create -q -f raw a.raw 8M && "
    PATTERN ("raw", "a.raw"), NULL, NULL
  };
  g_autofree char *dir = g_build_filename (tu_dir (), chain.name, NULL);
  gboolean qcow2 = cli_driver_available ("qcow2");

  g_assert_cmpint (g_mkdir (dir, 0755), ==, 0);
  g_free (tu_run_ok ("cd '%s' && %s", dir, chain.setup));

  for (guint i = 0; i < G_N_ELEMENTS (ranges); i++)
    {
      g_autofree char *raw = g_strdup_printf ("map --output=json %s a.raw", ranges[i]);
      g_autofree char *top = g_strdup_printf ("map --output=json %s top.qcow2", ranges[i]);
      g_autofree char *human = g_strdup_printf ("map %s top.qcow2", ranges[i]);

      compare_command (&chain, dir, raw, TRUE);
      if (qcow2)
        {
          compare_command (&chain, dir, top, TRUE);
          compare_command (&chain, dir, human, TRUE);
        }
    }
}

int
main (int argc, char **argv)
{
  tu_init (&argc, &argv);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/cli/info-map/%s", cases[i].name);

      g_test_add_data_func (path, &cases[i], test_case);
    }
  g_test_add_func ("/cli/info-map/option-spellings", test_option_spellings);
  g_test_add_func ("/cli/info-map/map-ranges", test_map_ranges);

  return g_test_run ();
}
