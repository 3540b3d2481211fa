/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * strata-img as a drop-in for qemu-img: the same command line runs through both tools on
 * copies of the same images (two folders, the same setup). What they print on stdout must
 * be the same, byte for byte, and so must the exit code; where a case says so, stderr too
 * (with "qemu-img: " read as "strata-img: "). The images both leave behind must be
 * identical for `qemu-img compare` and clean for `qemu-img check`.
 */
#include "cli-util.h"
#include "test-util.h"

#include <glib/gstdio.h>
#include <string.h>

typedef enum
{
  SAME_STDOUT = 0,
  SAME_STDERR = 1 << 0,  /* stderr must match too */
  LIVE_PROGRESS = 1 << 1, /* qemu-img's own -p output depends on timing (commit) */
  NO_CHECK = 1 << 2,     /* the images are not qcow2: compare only */
} CaseFlags;

typedef struct
{
  const char *name;
  const char *setup;   /* shell, run in both folders */
  const char *args;    /* after the program name */
  const char *images;  /* space-separated: compared between the folders and checked */
  CaseFlags   flags;
} Case;

/* A small chain: base (data at 0 and 100M), mid (data at 50M and a sliver at 201M), top
 * (larger than its base, data at 2M, 120M and across the end of the base). */
#define CHAIN \
  "qemu-img create -q -f qcow2 base.qcow2 300M && " \
  "qemu-io -c 'write -P 1 0 10M' -c 'write -P 3 100M 20M' base.qcow2 >/dev/null && " \
  "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 mid.qcow2 && " \
  "qemu-io -c 'write -P 2 50M 7M' -c 'write -P 4 201M 33k' mid.qcow2 >/dev/null && " \
  "qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 top.qcow2 350M && " \
  "qemu-io -c 'write -P 6 2M 5M' -c 'write -P 7 120M 1M' -c 'write -P 8 299M 3M' " \
  "top.qcow2 >/dev/null && " \
  "qemu-img create -q -f qcow2 nb.qcow2 200M && qemu-img create -q -f qcow2 nb2.qcow2 333M"

/* Sources of every shape qemu-img walks differently: small and large clusters, extended
 * L2, compressed clusters, zero clusters, a sparse raw file, sparse and streamOptimized
 * VMDK, a size that is not a multiple of the cluster size. */
#define SOURCES \
  "qemu-img create -q -f qcow2 a.qcow2 300M && " \
  "qemu-io -c 'write -P 1 0 1M' -c 'write -P 2 5M 64k' -c 'write -P 3 100M 37M' " \
  "-c 'write -z 150M 10M' -c 'write -P 4 200M 3M' -c 'write -P 5 1M 4k' a.qcow2 >/dev/null && " \
  "qemu-img create -q -f qcow2 -o cluster_size=512 c512.qcow2 3M && " \
  "qemu-io -c 'write -P 1 0 1M' -c 'write -P 2 1500k 300k' c512.qcow2 >/dev/null && " \
  "qemu-img create -q -f qcow2 -o cluster_size=2M c2m.qcow2 30M && " \
  "qemu-io -c 'write -P 1 0 1M' -c 'write -P 3 11M 7M' c2m.qcow2 >/dev/null && " \
  "qemu-img create -q -f qcow2 -o extended_l2=on ext.qcow2 50M && " \
  "qemu-io -c 'write -P 1 0 3k' -c 'write -P 2 1M 20k' -c 'write -P 3 3M 3M' ext.qcow2 " \
  ">/dev/null && " \
  "truncate -s 50M sp.raw && " \
  "dd if=/dev/urandom of=sp.raw bs=1M seek=3 count=5 conv=notrunc 2>/dev/null && " \
  "dd if=/dev/urandom of=sp.raw bs=1k seek=20000 count=77 conv=notrunc 2>/dev/null && " \
  "qemu-img create -q -f qcow2 odd.qcow2 12345678 && " \
  "qemu-io -c 'write -P 1 0 12345600' odd.qcow2 >/dev/null && " \
  "qemu-img convert -c -O qcow2 a.qcow2 comp.qcow2 && " \
  "qemu-img convert -O vmdk sp.raw sp.vmdk && " \
  "qemu-img convert -O vmdk -o subformat=streamOptimized c2m.qcow2 so.vmdk"

static const Case cases[] = {
  /* convert -p: qemu-img's lines at each step, nothing else. */
  { "convert-p-qcow2", SOURCES, "convert -p -O qcow2 a.qcow2 out.qcow2", "out.qcow2" },
  { "convert-p-raw", SOURCES, "convert -p -O raw a.qcow2 out.raw", "out.raw", NO_CHECK },
  { "convert-p-compressed", SOURCES, "convert -p -c -O qcow2 a.qcow2 out.qcow2",
    "out.qcow2" },
  { "convert-p-compressed-4k", SOURCES,
    "convert -p -c -O qcow2 -o cluster_size=4k ext.qcow2 out.qcow2", "out.qcow2" },
  { "convert-p-c512", SOURCES, "convert -p -O qcow2 c512.qcow2 out.qcow2", "out.qcow2" },
  { "convert-p-c2m", SOURCES, "convert -p -O qcow2 c2m.qcow2 out.qcow2", "out.qcow2" },
  { "convert-p-extended-l2", SOURCES, "convert -p -O qcow2 ext.qcow2 out.qcow2",
    "out.qcow2" },
  { "convert-p-sparse-raw", SOURCES, "convert -p -f raw -O qcow2 sp.raw out.qcow2",
    "out.qcow2" },
  { "convert-p-odd-size", SOURCES, "convert -p -O qcow2 odd.qcow2 out.qcow2", "out.qcow2" },
  { "convert-p-from-compressed", SOURCES, "convert -p -O qcow2 comp.qcow2 out.qcow2",
    "out.qcow2" },
  { "convert-p-from-vmdk", SOURCES, "convert -p -O qcow2 sp.vmdk out.qcow2", "out.qcow2" },
  { "convert-p-from-stream-vmdk", SOURCES, "convert -p -O qcow2 so.vmdk out.qcow2",
    "out.qcow2" },
  { "convert-p-chain", CHAIN, "convert -p -O qcow2 top.qcow2 out.qcow2", "out.qcow2" },
  { "convert-quiet", SOURCES, "convert -O qcow2 a.qcow2 out.qcow2", "out.qcow2" },

  /* rebase -p: qemu-img's 2% steps over what it compares. */
  { "rebase-p", CHAIN, "rebase -p -b nb.qcow2 -F qcow2 top.qcow2", "top.qcow2" },
  { "rebase-p-larger-new", CHAIN, "rebase -p -b nb2.qcow2 -F qcow2 top.qcow2",
    "top.qcow2" },
  { "rebase-p-in-chain", CHAIN, "rebase -p -b base.qcow2 -F qcow2 top.qcow2", "top.qcow2" },
  { "rebase-p-no-backing", CHAIN, "rebase -p -b '' top.qcow2", "top.qcow2" },
  { "rebase-p-unsafe", CHAIN, "rebase -p -u -b nb.qcow2 -F qcow2 top.qcow2", "top.qcow2" },

  /* commit: exactly "Image committed."; -p ends with qemu-img's lines. */
  { "commit", CHAIN, "commit top.qcow2", "top.qcow2 mid.qcow2" },
  { "commit-p", CHAIN, "commit -p top.qcow2", "top.qcow2 mid.qcow2", LIVE_PROGRESS },
  { "commit-q", CHAIN, "commit -q mid.qcow2", "mid.qcow2 base.qcow2" },
};

static char *
case_dir (const char *name,
          const char *tool)
{
  g_autofree char *leaf = g_strdup_printf ("compat-%s-%s", name, tool);
  char *dir = g_build_filename (tu_dir (), leaf, NULL);

  g_assert_cmpint (g_mkdir (dir, 0755), ==, 0);
  return dir;
}

/* qemu-img's commit -p prints 0% until its block job starts and then whatever it finds at
 * each poll, 100% as often as it polls after the end: keep the first and the last line. */
static char *
normalize_live_progress (const char *out)
{
  g_auto(GStrv) parts = g_strsplit (out, "\r", -1);
  guint n = g_strv_length (parts);
  GString *s = g_string_new (NULL);

  if (n < 2)
    return g_strdup (out);
  g_string_append_printf (s, "%s\r%s\r%s", parts[0], parts[n - 2], parts[n - 1]);
  return g_string_free (s, FALSE);
}

static void
assert_same_images (const char *qdir,
                    const char *sdir,
                    const Case *c)
{
  g_auto(GStrv) images = g_strsplit (c->images, " ", -1);

  for (guint i = 0; images[i] != NULL; i++)
    {
      g_autofree char *q = g_build_filename (qdir, images[i], NULL);
      g_autofree char *s = g_build_filename (sdir, images[i], NULL);

      tu_assert_qemu_compare (q, s);
      if (!(c->flags & NO_CHECK))
        tu_assert_qemu_check_clean (s);
    }
}

static void
test_case (gconstpointer data)
{
  const Case *c = data;
  g_autofree char *qdir = case_dir (c->name, "qemu");
  g_autofree char *sdir = case_dir (c->name, "strata");
  g_auto(CliResult) q = { 0 };
  g_auto(CliResult) s = { 0 };

  /* One setup, copied: the images hold random data. */
  if (c->setup != NULL)
    {
      g_autofree char *setup = case_dir (c->name, "setup");

      g_free (tu_run_ok ("cd '%s' && %s && cp -a . '%s' && cp -a . '%s'", setup, c->setup,
                         qdir, sdir));
    }

  cli_run_qemu (&q, qdir, c->args);
  cli_run_strata (&s, sdir, c->args);
  if (q.rc != s.rc)
    g_error ("%s: qemu-img exit %d (%s), strata-img exit %d (%s)", c->args, q.rc, q.err,
             s.rc, s.err);

  if (c->flags & LIVE_PROGRESS)
    {
      g_autofree char *qn = normalize_live_progress (q.out);
      g_autofree char *sn = normalize_live_progress (s.out);

      g_assert_cmpstr (sn, ==, qn);
      /* Every line strata-img printed is a progress line, increasing. */
      g_assert_true (g_str_has_prefix (s.out, "    (0.00/100%)\r"));
    }
  else
    {
      g_autoptr(GString) out = g_string_new (s.out);

      g_string_replace (out, sdir, qdir, 0);
      g_assert_cmpstr (out->str, ==, q.out);
    }

  if (c->flags & SAME_STDERR)
    {
      g_autoptr(GString) qerr = g_string_new (q.err);
      g_autoptr(GString) serr = g_string_new (s.err);

      g_string_replace (qerr, "qemu-img: ", "strata-img: ", 0);
      g_string_replace (qerr, qdir, "DIR", 0);
      g_string_replace (serr, sdir, "DIR", 0);
      g_assert_cmpstr (serr->str, ==, qerr->str);
    }

  if (c->images != NULL && q.rc == 0)
    assert_same_images (qdir, sdir, c);
}

int
main (int argc, char **argv)
{
  tu_init (&argc, &argv);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/cli/qemu-compat/%s", cases[i].name);

      g_test_add_data_func (path, &cases[i], test_case);
    }
  return g_test_run ();
}
