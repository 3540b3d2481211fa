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

#define EXT_BACKING_FORMAT 0xe2792acau
#define EXT_FEATURE_TABLE  0x6803f857u
#define EXT_OTHER          0x12345678u

static guint32
ld32 (const guint8 *p)
{
  return (guint32) p[0] << 24 | (guint32) p[1] << 16 | (guint32) p[2] << 8 | p[3];
}

static void
st32 (guint8 *p, guint32 v)
{
  p[0] = v >> 24;
  p[1] = v >> 16;
  p[2] = v >> 8;
  p[3] = v;
}

/* The header extension types of a qcow2 v3 file, in file order, as "%08x " words. */
static char *
extension_types (const char *path)
{
  g_autofree guint8 *data = NULL;
  gsize len;
  GString *out = g_string_new (NULL);
  guint32 off;

  g_assert_true (g_file_get_contents (path, (char **) &data, &len, NULL));
  off = ld32 (data + 100);
  while (off + 8 <= len && ld32 (data + off) != 0)
    {
      g_string_append_printf (out, "%08x ", ld32 (data + off));
      off += 8 + ((ld32 (data + off + 4) + 7) & ~7u);
    }
  return g_string_free (out, FALSE);
}

/* Rewrites the extensions of @path as: feature table, an extension QEMU does not know,
 * backing format (QEMU itself writes the backing format first). */
static void
reorder_extensions (const char *path)
{
  g_autofree guint8 *data = NULL;
  g_autoptr(GByteArray) exts = g_byte_array_new ();
  const guint8 *fmt = NULL, *table = NULL;
  guint32 fmt_len = 0, table_len = 0, off, name_off, name_len;
  static const guint8 other[8] = { 's', 't', 'r', 'a', 't', 'a', '!', 0 };
  guint8 hdr[8];
  gsize len;

  g_assert_true (g_file_get_contents (path, (char **) &data, &len, NULL));
  name_off = ld32 (data + 12);
  name_len = ld32 (data + 16);
  off = ld32 (data + 100);
  while (ld32 (data + off) != 0)
    {
      guint32 type = ld32 (data + off), elen = ld32 (data + off + 4);

      if (type == EXT_BACKING_FORMAT)
        fmt = data + off + 8, fmt_len = elen;
      else if (type == EXT_FEATURE_TABLE)
        table = data + off + 8, table_len = elen;
      off += 8 + ((elen + 7) & ~7u);
    }
  g_assert_nonnull (fmt);
  g_assert_nonnull (table);

#define ADD(type, p, n) \
  G_STMT_START { \
    static const guint8 pad[8]; \
    st32 (hdr, type); st32 (hdr + 4, n); \
    g_byte_array_append (exts, hdr, 8); \
    g_byte_array_append (exts, p, n); \
    g_byte_array_append (exts, pad, ((n + 7) & ~7u) - n); \
  } G_STMT_END
  ADD (EXT_FEATURE_TABLE, table, table_len);
  ADD (EXT_OTHER, other, (guint32) sizeof other);
  ADD (EXT_BACKING_FORMAT, fmt, fmt_len);
  memset (hdr, 0, 8);
  g_byte_array_append (exts, hdr, 8);
#undef ADD
  {
    g_autofree char *name = g_strndup ((const char *) data + name_off, name_len);
    guint32 start = ld32 (data + 100);

    memcpy (data + start, exts->data, exts->len);
    memcpy (data + start + exts->len, name, name_len);
    /* Backing name offset (64-bit, high half zero). */
    st32 (data + 8, 0);
    st32 (data + 12, start + exts->len);
  }
  g_assert_true (g_file_set_contents (path, (const char *) data, len, NULL));
}

/* A header rewrite (rebase -u, rebase, commit emptying the overlay) keeps the header
 * extensions in their order, the one QEMU does not know included. */
static void
test_extension_order (void)
{
  g_autofree char *dir = case_dir ("extension-order", "strata");
  g_autofree char *top = g_build_filename (dir, "top.qcow2", NULL);
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  g_autofree char *info = NULL;

  g_free (tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 base.qcow2 4M && "
                     "qemu-img create -q -f qcow2 base2.qcow2 4M && "
                     "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2 && "
                     "qemu-io -c 'write -P 7 1M 64k' top.qcow2 >/dev/null", dir));
  reorder_extensions (top);
  before = extension_types (top);
  g_assert_cmpstr (before, ==, "6803f857 12345678 e2792aca ");
  tu_assert_qemu_check_clean (top);

  g_free (tu_run_ok ("cd '%s' && '%s' rebase -u -b base2.qcow2 -F qcow2 top.qcow2", dir,
                     tu_strata_img ()));
  after = extension_types (top);
  g_assert_cmpstr (after, ==, before);
  tu_assert_qemu_check_clean (top);
  info = tu_run_ok ("cd '%s' && qemu-img info top.qcow2 && qemu-io -c 'read -P 7 1M 64k' "
                    "top.qcow2", dir);
  g_assert_nonnull (strstr (info, "backing file: base2.qcow2\n"));
  g_assert_null (strstr (info, "Pattern verification failed"));
  g_clear_pointer (&after, g_free);

  g_free (tu_run_ok ("cd '%s' && '%s' commit top.qcow2", dir, tu_strata_img ()));
  after = extension_types (top);
  g_assert_cmpstr (after, ==, before);
  tu_assert_qemu_check_clean (top);
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
  g_test_add_func ("/cli/qemu-compat/extension-order", test_extension_order);
  return g_test_run ();
}
