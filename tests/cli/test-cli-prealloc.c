/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * qcow2 preallocation and vmdk creation against qemu-img: `create -o preallocation=`,
 * `resize --preallocation=` and `create -f vmdk` run the same command line in two folders. The "Formatting" line, the
 * exit code, `qemu-img map --output=json` (host offsets included), `qemu-img check` (its
 * "Image end offset" included) and `qemu-img info` must come out the same, and QEMU must
 * read and write the result.
 */
#include "cli-util.h"
#include "test-util.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

typedef struct
{
  char *name;
  char *setup;   /* run in both folders first, or NULL */
  char *args;    /* the strata-img / qemu-img command line */
  char *file;
  gboolean same_offsets; /* map must match with its host offsets */
} Case;

#define BASE "qemu-img create -q -f qcow2 base.qcow2 4M && " \
             "qemu-io -f qcow2 -c 'write -P 0xb1 0 1M' -c 'write -P 0xb2 3M 1M' base.qcow2"

static GPtrArray *all_cases;

static void
case_free (gpointer data)
{
  Case *c = data;

  g_free (c->name);
  g_free (c->setup);
  g_free (c->args);
  g_free (c->file);
  g_free (c);
}

static void
add_case (const char *setup,
          const char *file,
          gboolean    same_offsets,
          const char *name,
          const char *args_fmt,
          ...) G_GNUC_PRINTF (5, 6);

static void
add_case (const char *setup,
          const char *file,
          gboolean    same_offsets,
          const char *name,
          const char *args_fmt,
          ...)
{
  Case *c = g_new0 (Case, 1);
  va_list ap;

  va_start (ap, args_fmt);
  c->args = g_strdup_vprintf (args_fmt, ap);
  va_end (ap);
  c->name = g_strdup (name);
  g_strdelimit (c->name, ",= ", '-');
  c->setup = g_strdup (setup);
  c->file = g_strdup (file);
  c->same_offsets = same_offsets;
  g_ptr_array_add (all_cases, c);
}

static char *
case_dir (const char *name,
          const char *tool)
{
  g_autofree char *leaf = g_strdup_printf ("%s-%s", name, tool);
  char *dir = g_build_filename (tu_dir (), leaf, NULL);

  g_assert_cmpint (g_mkdir (dir, 0755), ==, 0);
  return dir;
}

/* `qemu-img map --output=json` without the host offsets: runs that only the offsets kept
 * apart are merged. */
static char *
without_offsets (const char *map)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GString) out = g_string_new (NULL);
  JsonArray *runs;
  gint64 start = 0, length = 0;
  g_autofree char *flags = NULL;

  g_assert_true (json_parser_load_from_data (parser, map, -1, NULL));
  runs = json_node_get_array (json_parser_get_root (parser));
  for (guint i = 0; i <= json_array_get_length (runs); i++)
    {
      JsonObject *o = i < json_array_get_length (runs) ? json_array_get_object_element (runs, i)
                                                       : NULL;
      g_autofree char *f = NULL;

      if (o != NULL)
        f = g_strdup_printf ("depth %" G_GINT64_FORMAT " present %d zero %d data %d",
                             json_object_get_int_member (o, "depth"),
                             json_object_get_boolean_member (o, "present"),
                             json_object_get_boolean_member (o, "zero"),
                             json_object_get_boolean_member (o, "data"));
      if (o != NULL && flags != NULL && g_str_equal (f, flags) &&
          json_object_get_int_member (o, "start") == start + length)
        {
          length += json_object_get_int_member (o, "length");
          continue;
        }
      if (flags != NULL)
        g_string_append_printf (out, "%" G_GINT64_FORMAT " +%" G_GINT64_FORMAT " %s\n", start,
                                length, flags);
      if (o == NULL)
        break;
      g_free (flags);
      flags = g_steal_pointer (&f);
      start = json_object_get_int_member (o, "start");
      length = json_object_get_int_member (o, "length");
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static void
test_case (gconstpointer data)
{
  const Case *c = data;
  const char *fmt = g_str_has_suffix (c->file, ".vmdk") ? "vmdk" : "qcow2";
  g_autofree char *qdir = case_dir (c->name, "qemu");
  g_autofree char *sdir = case_dir (c->name, "strata");
  g_autofree char *qpath = g_build_filename (qdir, c->file, NULL);
  g_autofree char *spath = g_build_filename (sdir, c->file, NULL);
  g_autofree char *map = g_strdup_printf ("map --output=json %s", c->file);
  g_autofree char *check = g_strdup_printf ("check %s", c->file);
  g_autofree char *info = g_strdup_printf ("info -U --output=json %s", c->file);
  g_auto(CliResult) q = { 0 };
  g_auto(CliResult) s = { 0 };
  g_auto(CliResult) qm = { 0 };
  g_auto(CliResult) sm = { 0 };
  g_auto(CliResult) qc = { 0 };
  g_auto(CliResult) sc = { 0 };
  g_auto(CliResult) qi = { 0 };
  g_auto(CliResult) si = { 0 };
  const char *first;

  if (c->setup != NULL)
    {
      g_free (tu_run_ok ("cd '%s' && %s", qdir, c->setup));
      g_free (tu_run_ok ("cd '%s' && %s", sdir, c->setup));
    }

  cli_run_qemu (&q, qdir, c->args);
  cli_run_strata (&s, sdir, c->args);
  g_assert_cmpint (s.rc, ==, q.rc);
  g_assert_cmpstr (s.out, ==, q.out);
  if (q.rc != 0)
    {
      /* A refused creation leaves no file behind. */
      if (c->setup == NULL)
        g_assert_false (tu_file_exists (spath));
      g_assert_true (g_str_has_prefix (s.err, "strata-img: "));
      return;
    }

  cli_run_qemu (&qm, qdir, map);
  cli_run_qemu (&sm, sdir, map);
  g_assert_cmpint (sm.rc, ==, 0);
  if (c->same_offsets)
    g_assert_cmpstr (sm.out, ==, qm.out);
  else
    {
      g_autofree char *qo = without_offsets (qm.out);
      g_autofree char *so = without_offsets (sm.out);

      g_assert_cmpstr (so, ==, qo);
    }

  tu_assert_qemu_check_clean (spath);
  if (c->same_offsets)
    {
      cli_run_qemu (&qc, qdir, check);
      cli_run_qemu (&sc, sdir, check);
      g_assert_cmpstr (sc.out, ==, qc.out);
    }

  cli_run_qemu (&qi, qdir, info);
  cli_run_qemu (&si, sdir, info);
  g_assert_cmpint (si.rc, ==, 0);
  {
    static const char *const ignore_size[] = { "actual-size", "cid", NULL };
    static const char *const ignore_cid[] = { "cid", NULL };
    g_autoptr(GString) out = g_string_new (si.out);

    g_string_replace (out, sdir, qdir, 0);
    /* A new image takes the disk space qemu-img's takes, unless its clusters are smaller
     * than the file system's blocks (then how the blocks they share get allocated is the
     * file system's business); a grown one may differ by the writer's habits (it writes
     * whole clusters of a grown L1 table). */
    gboolean same_size = g_str_has_prefix (c->name, "create") &&
                         strstr (c->args, "cluster_size=512") == NULL;

    /* (A VMDK's content ID is random.) */
    cli_assert_json_matches (info, qi.out, out->str, same_size ? ignore_cid : ignore_size);
  }

  /* Same guest content; and QEMU writes into it and reads back. */
  tu_assert_qemu_compare (qpath, spath);
  /* (Nothing to write into an empty disk, nor into a stream smaller than a grain.) */
  if (strstr (c->name, "size-0") != NULL || strstr (c->name, "stream-tiny") != NULL)
    return;
  /* (A stream takes whole grains only, in order.) */
  first = strstr (c->name, "stream") != NULL ? "64k" : "512";
  {
    /* (The qcow2 images may be a single sector; the vmdk ones take a grain.) */
    const char *grain = strcmp (fmt, "vmdk") == 0 ? "-c 'write -P 0xab 64k 64k' " : "";
    g_autofree char *out = tu_run_ok ("cd '%s' && qemu-io -f %s -c 'write -P 0x5a 0 %s' "
                                      "%s-c 'read -P 0x5a 0 %s' %s", sdir, fmt, first, grain,
                                      first, c->file);

    g_assert_null (strstr (out, "Pattern verification failed"));
    tu_assert_qemu_check_clean (spath);
  }

  /* And strata-img reads what qemu-io wrote (not all of a 1 TiB image: strata-img compare
   * still reads every allocated cluster, even where the file has a hole). */
  if (strstr (c->name, "1T") == NULL)
  {
    g_auto(CliResult) r = { 0 };
    g_autofree char *args = g_strdup_printf ("compare %s %s", c->file, qpath);

    g_free (tu_run_ok ("cd '%s' && qemu-io -f %s -c 'write -P 0x5a 0 %s' %s%s", qdir,
                       fmt, first, strcmp (fmt, "vmdk") == 0 ? "-c 'write -P 0xab 64k 64k' " : "",
                       c->file));
    cli_run_strata (&r, sdir, args);
    g_assert_cmpint (r.rc, ==, 0);
  }
}

static void
add_cases (void)
{
  static const char *const modes[] = { "metadata", "falloc", "full" };
  static const char *const clusters[] = { "512", "64k", "2M" };
  static const char *const sizes[] = { "0", "1", "512", "100000", "3M" };

  for (guint m = 0; m < G_N_ELEMENTS (modes); m++)
    {
      const char *mode = modes[m];

      for (guint k = 0; k < G_N_ELEMENTS (clusters); k++)
        for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
          {
            g_autofree char *name = g_strdup_printf ("create-%s-cluster-%s-size-%s", mode,
                                                     clusters[k], sizes[i]);

            add_case (NULL, "a.qcow2", TRUE, name,
                      "create -f qcow2 -o preallocation=%s,cluster_size=%s a.qcow2 %s", mode,
                      clusters[k], sizes[i]);
          }

      for (guint bits = 1; bits <= 64; bits *= 8)
        {
          g_autofree char *name = g_strdup_printf ("create-%s-refcount-%u", mode, bits);

          /* Small clusters and narrow or wide refcounts: several refcount blocks. */
          add_case (NULL, "a.qcow2", TRUE, name, "create -f qcow2 -o preallocation=%s,"
                    "cluster_size=512,refcount_bits=%u a.qcow2 1M", mode, bits);
        }
      {
        g_autofree char *n1 = g_strdup_printf ("create-%s-extended-l2", mode);
        g_autofree char *n2 = g_strdup_printf ("create-%s-compat-0.10", mode);
        g_autofree char *n3 = g_strdup_printf ("create-%s-backing-extended-l2", mode);
        g_autofree char *n4 = g_strdup_printf ("create-%s-backing-refused", mode);
        g_autofree char *n5 = g_strdup_printf ("create-%s-many-tables", mode);
        g_autofree char *n6 = g_strdup_printf ("resize-%s-from-0", mode);
        g_autofree char *n7 = g_strdup_printf ("resize-%s-from-unaligned", mode);
        g_autofree char *n8 = g_strdup_printf ("resize-%s-to-unaligned", mode);
        g_autofree char *n9 = g_strdup_printf ("resize-%s-grow-l1", mode);
        g_autofree char *n10 = g_strdup_printf ("resize-%s-shrink-refused", mode);
        gboolean meta = strcmp (mode, "metadata") == 0;

        add_case (NULL, "a.qcow2", TRUE, n1, "create -f qcow2 -o preallocation=%s,"
                  "extended_l2=on a.qcow2 100000", mode);
        add_case (NULL, "a.qcow2", TRUE, n2, "create -f qcow2 -o preallocation=%s,"
                  "compat=0.10 a.qcow2 3M", mode);
        add_case (BASE, "top.qcow2", TRUE, n3, "create -f qcow2 -b base.qcow2 -F qcow2 "
                  "-o preallocation=%s,extended_l2=on top.qcow2", mode);
        add_case (BASE, "top.qcow2", TRUE, n4, "create -f qcow2 -b base.qcow2 -F qcow2 "
                  "-o preallocation=%s top.qcow2", mode);
        /* 512-byte clusters over 9 MiB: the refcount table grows on the way. */
        add_case (NULL, "a.qcow2", TRUE, n5, "create -f qcow2 -o preallocation=%s,"
                  "cluster_size=%s a.qcow2 %s", mode, meta ? "4k" : "512", meta ? "40M" : "9M");

        /* Growth: metadata puts clusters where qemu-img does; falloc and full keep the
         * refcount table where it is (qemu-img moves it in front of the new data). */
        add_case ("qemu-img create -q -f qcow2 a.qcow2 0", "a.qcow2", meta, n6,
                  "resize --preallocation=%s a.qcow2 3M", mode);
        add_case ("qemu-img create -q -f qcow2 a.qcow2 100000 && "
                  "qemu-io -c 'write -P 7 0 90000' a.qcow2", "a.qcow2", meta, n7,
                  "resize --preallocation=%s a.qcow2 3M", mode);
        add_case ("qemu-img create -q -f qcow2 -o extended_l2=on a.qcow2 1M", "a.qcow2", meta,
                  n8, "resize --preallocation=%s a.qcow2 1049088", mode);
        add_case ("qemu-img create -q -f qcow2 -o cluster_size=4k a.qcow2 1M", "a.qcow2", meta,
                  n9, "resize --preallocation=%s a.qcow2 10M", mode);
        add_case ("qemu-img create -q -f qcow2 a.qcow2 1M", "a.qcow2", meta, n10,
                  "resize --shrink --preallocation=%s a.qcow2 512k", mode);
      }
    }

  /* vmdk: monolithicSparse in qemu-img's options; what the writer cannot honour is refused
   * (after the same "Formatting" line, with exit 1). Sizes 0 are left out: qemu-img cannot
   * open the empty VMDK it makes. */
  {
    static const struct { const char *name; const char *args; } vmdk[] = {
      { "vmdk-default", "" },
      { "vmdk-unaligned", "-o subformat=monolithicSparse" },
      { "vmdk-adapter-lsilogic", "-o adapter_type=lsilogic" },
      { "vmdk-adapter-buslogic-hw7", "-o adapter_type=buslogic,hwversion=7" },
      { "vmdk-adapter-legacyESX", "-o adapter_type=legacyESX" },
      { "vmdk-compat6", "-o compat6" },
      { "vmdk-compat6-on", "-o compat6=on" },
      { "vmdk-compat6-hwversion", "-o compat6,hwversion=7" },
      { "vmdk-bad-subformat", "-o subformat=foo" },
      { "vmdk-bad-adapter", "-o adapter_type=scsi" },
      { "vmdk-metadata", "-o preallocation=metadata" },
      { "vmdk-unknown-option", "-o cluster_size=64k" },
    };

    for (guint i = 0; i < G_N_ELEMENTS (vmdk); i++)
      add_case (NULL, "a.vmdk", TRUE, vmdk[i].name, "create -f vmdk %s a.vmdk %s",
                vmdk[i].args, strstr (vmdk[i].name, "unaligned") != NULL ? "200000" : "3M");
    add_case (NULL, "a.vmdk", TRUE, "vmdk-1T", "create -f vmdk a.vmdk 1T");
  }

  /* An empty streamOptimized VMDK, in qemu-img's shape: tables up front, no footer (QEMU
   * appends grains to it). 1000 bytes: both round up to a sector. Size 0 is left out
   * as above. */
  {
#define SO "subformat=streamOptimized"
    static const struct { const char *name; const char *opts; const char *size; } so[] = {
      { "vmdk-stream-1M", SO, "1M" },
      { "vmdk-stream-tiny", SO, "1000" },
      { "vmdk-stream-2G", SO, "2G" },
      { "vmdk-stream-lsilogic-hw6", SO ",adapter_type=lsilogic,hwversion=6", "1M" },
      { "vmdk-stream-buslogic-compat6", SO ",adapter_type=buslogic,compat6=on", "3M" },
      { "vmdk-stream-legacyESX-hw7", SO ",adapter_type=legacyESX,hwversion=7", "3M" },
      { "vmdk-stream-compat6-hwversion", SO ",compat6,hwversion=7", "3M" },
      { "vmdk-stream-bad-adapter", SO ",adapter_type=scsi", "3M" },
      { "vmdk-vmfs", "subformat=vmfs", "3M" },
    };
#undef SO

    for (guint i = 0; i < G_N_ELEMENTS (so); i++)
      add_case (NULL, "a.vmdk", TRUE, so[i].name, "create -f vmdk -o %s a.vmdk %s", so[i].opts,
                so[i].size);
  }

  /* A VMDK child of a VMDK parent: parentCID and parentFileNameHint as qemu-img writes them.
   * The parent gets the same CID in both folders, so that the children's parentCID agree
   * (in place: qemu-io rewrote it without leading zeros). */
  {
#define PARENT "qemu-img create -q -f vmdk p.vmdk 4M && " \
               "qemu-io -f vmdk -c 'write -P 0x11 0 1M' p.vmdk >/dev/null && " \
               "c=$(grep -a -m1 -o '^CID=[0-9a-f]*' p.vmdk) && " \
               "printf CID=1234abcd | head -c ${#c} | " \
               "dd of=p.vmdk bs=1 seek=544 conv=notrunc status=none"
    add_case (PARENT, "c.vmdk", TRUE, "vmdk-child", "create -f vmdk -b p.vmdk -F vmdk c.vmdk");
    add_case (PARENT, "c.vmdk", TRUE, "vmdk-child-larger",
              "create -f vmdk -b p.vmdk -F vmdk -o adapter_type=lsilogic c.vmdk 8M");
    add_case (PARENT, "c.vmdk", TRUE, "vmdk-stream-child",
              "create -f vmdk -b p.vmdk -F vmdk -o subformat=streamOptimized c.vmdk");
    add_case (PARENT " && mkdir sub", "sub/c.vmdk", TRUE, "vmdk-child-relative",
              "create -f vmdk -b ../p.vmdk -F vmdk sub/c.vmdk");
    add_case (BASE, "c.vmdk", TRUE, "vmdk-child-of-qcow2",
              "create -f vmdk -b base.qcow2 -F qcow2 c.vmdk");
    add_case (NULL, "c.vmdk", TRUE, "vmdk-child-missing-parent",
              "create -u -f vmdk -b nope.vmdk -F vmdk c.vmdk 2M");
#undef PARENT
  }

  /* 1 TiB: cheap with 2 MiB clusters (two L2 tables; the data area is a hole). */
  add_case (NULL, "a.qcow2", TRUE, "create-metadata-1T",
            "create -f qcow2 -o preallocation=metadata,cluster_size=2M a.qcow2 1T");
  add_case (NULL, "a.qcow2", TRUE, "create-unknown-mode",
            "create -f qcow2 -o preallocation=foo a.qcow2 1M");
  add_case ("qemu-img create -q -f raw a.raw 1M", "a.raw", TRUE, "resize-raw-metadata",
            "resize -f raw --preallocation=metadata a.raw 2M");
}

/* The subformats qemu-img writes and strata-img does not: refused by name, exit 1, after
 * qemu-img's "Formatting" line, and no file left behind. */
static void
test_vmdk_subformat_refused (void)
{
  static const char *const refused[] = { "monolithicFlat", "twoGbMaxExtentSparse",
                                         "twoGbMaxExtentFlat" };
  g_autofree char *dir = case_dir ("vmdk-subformat-refused", "strata");

  for (guint i = 0; i < G_N_ELEMENTS (refused); i++)
    {
      g_auto(CliResult) r = { 0 };
      g_autofree char *args = g_strdup_printf ("create -f vmdk -o subformat=%s a.vmdk 1M",
                                               refused[i]);
      g_autofree char *line = g_strdup_printf ("Formatting 'a.vmdk', fmt=vmdk size=1048576 "
                                               "compat6=off hwversion=undefined "
                                               "subformat=%s\n", refused[i]);
      g_autofree char *named = g_strdup_printf ("subformat=%s is not supported", refused[i]);
      g_autoptr(GDir) d = NULL;

      cli_run_strata (&r, dir, args);
      g_assert_cmpint (r.rc, ==, 1);
      g_assert_cmpstr (r.out, ==, line);
      g_assert_nonnull (strstr (r.err, named));
      d = g_dir_open (dir, 0, NULL);
      g_assert_null (g_dir_read_name (d));
    }
}

/* Size 0, which neither QEMU nor Strata opens: the header and everything after the
 * descriptor come out as qemu-img's, byte for byte (no grain directory at all). */
static void
test_vmdk_size_0 (void)
{
  static const char *const subformats[] = { "monolithicSparse", "streamOptimized" };
  g_autofree char *qdir = case_dir ("vmdk-size-0", "qemu");
  g_autofree char *sdir = case_dir ("vmdk-size-0", "strata");

  for (guint i = 0; i < G_N_ELEMENTS (subformats); i++)
    {
      g_auto(CliResult) q = { 0 };
      g_auto(CliResult) s = { 0 };
      g_autofree char *args = g_strdup_printf ("create -f vmdk -o subformat=%s a.vmdk 0",
                                               subformats[i]);

      g_free (tu_run_ok ("rm -f '%s/a.vmdk' '%s/a.vmdk'", qdir, sdir));
      cli_run_qemu (&q, qdir, args);
      cli_run_strata (&s, sdir, args);
      g_assert_cmpint (q.rc, ==, 0);
      g_assert_cmpint (s.rc, ==, 0);
      g_assert_cmpstr (s.out, ==, q.out);
      /* (The descriptor, sectors 1 to 20, differs: the CID, and our VirtualBox keys.) */
      g_free (tu_run_ok ("cmp -n 512 '%s/a.vmdk' '%s/a.vmdk' && "
                         "cmp -i 10752 '%s/a.vmdk' '%s/a.vmdk'", qdir, sdir, qdir, sdir));
    }
}

int
main (int argc, char **argv)
{
  tu_init (&argc, &argv);

  all_cases = g_ptr_array_new_with_free_func (case_free);
  add_cases ();
  for (guint i = 0; i < all_cases->len; i++)
    {
      Case *c = g_ptr_array_index (all_cases, i);
      g_autofree char *path = g_strdup_printf ("/cli/prealloc/%s", c->name);

      g_test_add_data_func (path, c, test_case);
    }

  g_test_add_func ("/cli/prealloc/vmdk-subformat-refused", test_vmdk_subformat_refused);
  g_test_add_func ("/cli/prealloc/vmdk-size-0", test_vmdk_size_0);

  {
    int r = g_test_run ();

    g_ptr_array_unref (all_cases);
    return r;
  }
}
