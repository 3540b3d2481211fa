/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * `strata-img create` against `qemu-img create`: the same command line in two folders must
 * print the same "Formatting" line and give images that qemu-img finds clean and describes
 * identically, and that qemu-io reads and writes as expected.
 */
#include "cli-util.h"
#include "test-util.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

typedef struct
{
  const char *name;
  const char *setup;  /* run in both folders first (a base image, say) */
  const char *args;   /* after "create" */
  const char *file;
} Case;

#define BASE "qemu-img create -q -f qcow2 base.qcow2 16M && " \
             "qemu-io -f qcow2 -c 'write -P 0xb1 0 1M' -c 'write -P 0xb2 15M 1M' base.qcow2"

static const Case cases[] = {
  { "default", NULL, "-f qcow2 a.qcow2 1G", "a.qcow2" },
  { "size-suffixes", NULL, "-f qcow2 a.qcow2 1.5G", "a.qcow2" },
  { "size-bytes", NULL, "-f qcow2 a.qcow2 100000", "a.qcow2" },
  { "size-k", NULL, "-f qcow2 a.qcow2 640k", "a.qcow2" },
  { "cluster-512", NULL, "-f qcow2 -o cluster_size=512 a.qcow2 64M", "a.qcow2" },
  { "cluster-4k", NULL, "-f qcow2 -o cluster_size=4k a.qcow2 64M", "a.qcow2" },
  { "cluster-2M", NULL, "-f qcow2 -o cluster_size=2M a.qcow2 64M", "a.qcow2" },
  { "compat-0.10", NULL, "-f qcow2 -o compat=0.10 a.qcow2 64M", "a.qcow2" },
  { "compat-v3", NULL, "-f qcow2 -o compat=v3 a.qcow2 64M", "a.qcow2" },
  { "refcount-1", NULL, "-f qcow2 -o refcount_bits=1 a.qcow2 64M", "a.qcow2" },
  { "refcount-8", NULL, "-f qcow2 -o refcount_bits=8 a.qcow2 64M", "a.qcow2" },
  { "refcount-64", NULL, "-f qcow2 -o refcount_bits=64 a.qcow2 64M", "a.qcow2" },
  { "lazy-refcounts", NULL, "-f qcow2 -o lazy_refcounts=on a.qcow2 64M", "a.qcow2" },
  { "extended-l2", NULL, "-f qcow2 -o extended_l2=on a.qcow2 64M", "a.qcow2" },
  { "zstd", NULL, "-f qcow2 -o compression_type=zstd a.qcow2 64M", "a.qcow2" },
  { "many-options", NULL, "-f qcow2 -o cluster_size=16k,refcount_bits=32 "
    "-o extended_l2=on,lazy_refcounts=on,compression_type=zstd a.qcow2 3G", "a.qcow2" },
  { "large", NULL, "-f qcow2 a.qcow2 4T", "a.qcow2" },
  { "overlay", BASE, "-f qcow2 -b base.qcow2 -F qcow2 top.qcow2", "top.qcow2" },
  { "overlay-larger", BASE, "-f qcow2 -b base.qcow2 -F qcow2 top.qcow2 64M", "top.qcow2" },
  { "overlay-options", BASE, "-f qcow2 -b base.qcow2 -F qcow2 -o cluster_size=4k,"
    "refcount_bits=8 top.qcow2", "top.qcow2" },
  { "overlay-o-backing", BASE, "-f qcow2 -o backing_file=base.qcow2,backing_fmt=qcow2 "
    "top.qcow2", "top.qcow2" },
  { "overlay-absolute", BASE, "-f qcow2 -b \"$PWD/base.qcow2\" -F qcow2 top.qcow2",
    "top.qcow2" },
  { "overlay-subfolder", "mkdir sub && " BASE,
    "-f qcow2 -b ../base.qcow2 -F qcow2 sub/top.qcow2", "sub/top.qcow2" },
  { "overlay-raw-base", "qemu-img create -q -f raw base.raw 3M",
    "-f qcow2 -b base.raw -F raw top.qcow2", "top.qcow2" },
  { "overlay-unsafe-missing", NULL,
    "-f qcow2 -u -b nothere.qcow2 -F qcow2 top.qcow2 8M", "top.qcow2" },
  { "overlay-v2", BASE, "-f qcow2 -o compat=0.10 -b base.qcow2 -F qcow2 top.qcow2",
    "top.qcow2" },
  { "raw", NULL, "-f raw a.raw 64M", "a.raw" },
  { "raw-default-format", NULL, "a.raw 1M", "a.raw" },
  { "raw-tiny", NULL, "-f raw a.raw 100", "a.raw" },
};

static char *
case_dir (const char *name, const char *tool)
{
  g_autofree char *leaf = g_strdup_printf ("%s-%s", name, tool);
  char *dir = g_build_filename (tu_dir (), leaf, NULL);

  g_assert_cmpint (g_mkdir (dir, 0755), ==, 0);
  return dir;
}

static void
test_case (gconstpointer data)
{
  static const char *const ignore_size[] = { "actual-size", NULL };
  const Case *c = data;
  g_autofree char *qdir = case_dir (c->name, "qemu");
  g_autofree char *sdir = case_dir (c->name, "strata");
  g_autofree char *args = g_strdup_printf ("create %s", c->args);
  g_autofree char *info = g_strdup_printf ("info -U --output=json %s", c->file);
  g_auto(CliResult) q = { 0 };
  g_auto(CliResult) s = { 0 };
  g_auto(CliResult) qi = { 0 };
  g_auto(CliResult) si = { 0 };

  if (c->setup != NULL)
    {
      if (strstr (c->setup, "qcow2") != NULL && !cli_driver_available ("qcow2"))
        return;
      g_free (tu_run_ok ("cd '%s' && %s", qdir, c->setup));
      g_free (tu_run_ok ("cd '%s' && %s", sdir, c->setup));
    }

  cli_run_qemu (&q, qdir, args);
  cli_run_strata (&s, sdir, args);
  if (s.rc != 0 && strstr (s.err, "not supported yet") != NULL)
    {
      g_test_skip (s.err);
      return;
    }
  g_assert_cmpint (q.rc, ==, 0);
  if (s.rc != 0)
    g_error ("strata-img %s: exit %d: %s", args, s.rc, s.err);
  {
    /* Absolute backing names contain each folder's own path. */
    g_autoptr(GString) out = g_string_new (s.out);

    g_string_replace (out, sdir, qdir, 0);
    g_assert_cmpstr (out->str, ==, q.out);
  }

  /* qemu-img is the judge of the file itself. */
  if ((strstr (c->name, "raw") == NULL || strstr (c->name, "overlay") != NULL) &&
      strstr (c->name, "unsafe") == NULL)
    {
      g_autofree char *path = g_build_filename (sdir, c->file, NULL);

      tu_assert_qemu_check_clean (path);
    }

  cli_run_qemu (&qi, qdir, info);
  cli_run_qemu (&si, sdir, info);
  g_assert_cmpint (qi.rc, ==, 0);
  g_assert_cmpint (si.rc, ==, 0);
  {
    g_autoptr(GString) out = g_string_new (si.out);

    g_string_replace (out, sdir, qdir, 0);
    g_free (si.out);
    si.out = g_string_free (g_steal_pointer (&out), FALSE);
  }
  /* Same layout, same allocation: but the disk use of a fresh image is a detail of the
   * writer, so it is only reported. */
  cli_assert_json_matches (info, qi.out, si.out, ignore_size);
  if (strstr (qi.out, "actual-size") != NULL)
    {
      g_autoptr(JsonParser) qp = json_parser_new ();
      g_autoptr(JsonParser) sp = json_parser_new ();

      g_assert_true (json_parser_load_from_data (qp, qi.out, -1, NULL));
      g_assert_true (json_parser_load_from_data (sp, si.out, -1, NULL));
      g_test_message ("%s: actual-size qemu-img %" G_GINT64_FORMAT ", strata-img %"
                      G_GINT64_FORMAT, c->name,
                      json_object_get_int_member (json_node_get_object (
                        json_parser_get_root (qp)), "actual-size"),
                      json_object_get_int_member (json_node_get_object (
                        json_parser_get_root (sp)), "actual-size"));
    }

  /* QEMU can use it: data written reads back, overlays show their base. */
  if (strstr (c->name, "unsafe") == NULL && strstr (c->name, "tiny") == NULL)
    {
      g_autofree char *out = NULL;
      const char *fmt = g_str_has_suffix (c->file, ".raw") ? "raw" : "qcow2";

      /* Overlays: their base holds data in the first MiB, none at 2 MiB. */
      out = tu_run_ok ("cd '%s' && qemu-io -f %s -c 'write -P 0x5a 64k 4k' "
                       "-c 'read -P 0x5a 64k 4k' -c 'read -P 0 %s 4k' %s", sdir, fmt,
                       c->setup != NULL ? "2M" : "80k", c->file);
      g_assert_null (strstr (out, "Pattern verification failed"));
      g_clear_pointer (&out, g_free);
      if (c->setup != NULL && strstr (c->setup, "base.qcow2") != NULL)
        {
          out = tu_run_ok ("cd '%s' && qemu-io -f qcow2 -c 'read -P 0xb1 512k 4k' "
                           "-c 'read -P 0xb2 15M 4k' %s", sdir, c->file);
          g_assert_null (strstr (out, "Pattern verification failed"));
        }
      if (strcmp (fmt, "qcow2") == 0)
        {
          g_autofree char *path = g_build_filename (sdir, c->file, NULL);

          tu_assert_qemu_check_clean (path);
        }
    }
}

/* Command lines qemu-img refuses: we refuse them too, with exit 1. */
static void
test_errors (void)
{
  static const char *const refused[] = {
    "-f qcow2 -b base.qcow2 top.qcow2",              /* -b without -F */
    "-f qcow2 -u -b base.qcow2 top.qcow2",
    "-f qcow2 -b nothere.qcow2 -F qcow2 top.qcow2 1M",
    "-f qcow2 -b nothere.qcow2 -F qcow2 top.qcow2",
    "-f qcow2 -b self.qcow2 -F qcow2 self.qcow2 1M",
    "-f qcow2 a.qcow2",                               /* no size */
    "-f qcow2 a.qcow2 1x",
    "-f qcow2 a.qcow2 -5",
    "-f qcow2 a.qcow2 1M extra",
    "-f qcow2 -o foo=1 a.qcow2 1M",
    "-f qcow2 -o size=2M a.qcow2 1M",
    "-f qcow2 -o cluster_size=1000 a.qcow2 1M",
    "-f qcow2 -o cluster_size=4M a.qcow2 1M",
    "-f qcow2 -o refcount_bits=3 a.qcow2 1M",
    "-f qcow2 -o compat=0.10,refcount_bits=8 a.qcow2 1M",
    "-f qcow2 -o compat=0.10,lazy_refcounts=on a.qcow2 1M",
    "-f qcow2 -o compat=0.10,compression_type=zstd a.qcow2 1M",
    "-f qcow2 -o extended_l2=on,cluster_size=4k a.qcow2 1M",
    "-f qcow2 -o compat=9 a.qcow2 1M",
    "-f raw a.raw",
  };
  g_autofree char *qdir = case_dir ("errors", "qemu");
  g_autofree char *sdir = case_dir ("errors", "strata");

  g_free (tu_run_ok ("cd '%s' && " BASE, qdir));
  g_free (tu_run_ok ("cd '%s' && " BASE, sdir));

  for (guint i = 0; i < G_N_ELEMENTS (refused); i++)
    {
      g_autofree char *args = g_strdup_printf ("create %s", refused[i]);
      g_auto(CliResult) q = { 0 };
      g_auto(CliResult) s = { 0 };

      cli_run_qemu (&q, qdir, args);
      cli_run_strata (&s, sdir, args);
      if (q.rc != 1)
        g_error ("qemu-img %s: expected exit 1, got %d", args, q.rc);
      if (s.rc != 1)
        g_error ("strata-img %s: expected exit 1, got %d: %s%s", args, s.rc, s.out, s.err);
      g_assert_true (g_str_has_prefix (s.err, "strata-img: "));
    }
}

int
main (int argc, char **argv)
{
  tu_init (&argc, &argv);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/cli/create/%s", cases[i].name);

      g_test_add_data_func (path, &cases[i], test_case);
    }
  g_test_add_func ("/cli/create/errors", test_errors);

  return g_test_run ();
}
