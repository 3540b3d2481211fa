/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * strata-img check / compare / rebase / commit / protect, judged by QEMU: same outputs and
 * exit codes as qemu-img where they overlap, refusals when a running QEMU holds an image,
 * when other overlays share the base, or when the base is protected, and the mission
 * scenario end to end.
 */
#include "test-util.h"

#include <string.h>

static char *
scratch (const char *name)
{
  char *dir = g_build_filename (tu_dir (), name, NULL);

  g_free (tu_run_ok ("rm -rf '%s' && mkdir -p '%s'", dir, dir));
  return dir;
}

/* Runs the same subcommand with qemu-img and strata-img in @dir on copies a/ and b/ of the
 * image, and asserts the same exit code and stdout (file names aside). */
static void
assert_same_as_qemu (const char *dir, const char *args, const char *file)
{
  g_autofree char *qout = NULL;
  g_autofree char *sout = NULL;
  int qrc, src;

  g_free (tu_run_ok ("cd '%s' && rm -rf a b && mkdir a b && cp %s a/ && cp %s b/",
                     dir, file, file));
  qrc = tu_run (&qout, NULL, "cd '%s/a' && qemu-img %s %s", dir, args, file);
  src = tu_run (&sout, NULL, "cd '%s/b' && %s %s %s", dir, tu_strata_img (), args, file);
  if (qrc != src || g_strcmp0 (qout, sout) != 0)
    g_error ("%s %s: qemu-img exit %d:\n%s\nstrata-img exit %d:\n%s", args, file, qrc, qout,
             src, sout);
}

static void
test_check_cli (void)
{
  g_autofree char *d = scratch ("check");

  g_free (tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 clean.qcow2 64M && "
                     "qemu-io -c 'write -P 1 0 200k' -c 'write -P 2 1M 64k' clean.qcow2 && "
                     "qemu-img convert -c -O qcow2 clean.qcow2 comp.qcow2 && "
                     "qemu-io -c 'write -P 3 4M 64k' -c 'write -P 4 128k 64k' comp.qcow2 && "
                     "cp clean.qcow2 leaky.qcow2 && python3 - leaky.qcow2 <<'EOF'\n"
                     "import struct, sys, os\n"
                     "f = open(sys.argv[1], 'r+b'); h = f.read(104)\n"
                     "rt = struct.unpack('>Q', h[48:56])[0]\n"
                     "f.seek(rt); rb = struct.unpack('>Q', f.read(8))[0]\n"
                     "n = os.path.getsize(sys.argv[1]) // 65536\n"
                     "f.truncate((n + 2) * 65536)\n"
                     "f.seek(rb + 2 * n); f.write(struct.pack('>HH', 1, 1))\n"
                     "EOF\n"
                     "cp clean.qcow2 bad.qcow2 && python3 - bad.qcow2 <<'EOF'\n"
                     "import struct, sys\n"
                     "f = open(sys.argv[1], 'r+b'); h = f.read(104)\n"
                     "rt = struct.unpack('>Q', h[48:56])[0]\n"
                     "f.seek(rt); rb = struct.unpack('>Q', f.read(8))[0]\n"
                     "f.seek(rb + 2 * 5); f.write(struct.pack('>H', 0))\n"
                     "f.seek(rb + 2 * 1); f.write(struct.pack('>H', 2))\n"
                     "EOF\n"
                     "qemu-img create -q -f raw disk.raw 1M && "
                     "qemu-img create -q -f vmdk disk.vmdk 16M && "
                     "qemu-io -f vmdk -c 'write -P 1 0 1M' disk.vmdk && "
                     "qemu-img create -q -f vmdk -o subformat=streamOptimized so.vmdk 16M",
                     d));

  const char *files[] = { "clean.qcow2", "comp.qcow2", "leaky.qcow2", "bad.qcow2" };
  for (guint i = 0; i < G_N_ELEMENTS (files); i++)
    {
      assert_same_as_qemu (d, "check", files[i]);
      assert_same_as_qemu (d, "check --output=json", files[i]);
    }
  assert_same_as_qemu (d, "check -r leaks", "leaky.qcow2");
  assert_same_as_qemu (d, "check -r leaks --output=json", "leaky.qcow2");
  assert_same_as_qemu (d, "check", "disk.raw");
  /* VMDK has a (small) check in qemu-img too: grains must lie inside the file. */
  assert_same_as_qemu (d, "check", "disk.vmdk");
  assert_same_as_qemu (d, "check --output=json", "disk.vmdk");
  assert_same_as_qemu (d, "check", "so.vmdk");
  g_assert_cmpint (tu_run (NULL, NULL, "%s check '%s/disk.raw'", tu_strata_img (), d), ==, 63);
  g_assert_cmpint (tu_run (NULL, NULL, "%s check '%s/missing.qcow2'", tu_strata_img (), d),
                   ==, 1);
}

static void
test_compare_cli (void)
{
  g_autofree char *d = scratch ("compare");
  const char *cases[] = {
    "a.qcow2 a.raw", "a.qcow2 b.qcow2", "b.qcow2 a.qcow2", "a.raw big.raw",
    "-s a.raw big.raw", "big.raw bigx.raw", "a.qcow2 bigx.raw", "-f qcow2 -F raw a.qcow2 a.raw",
  };

  g_free (tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 a.qcow2 4M && "
                     "qemu-io -c 'write -P 1 64k 100k' a.qcow2 && "
                     "qemu-img convert -O raw a.qcow2 a.raw && cp a.qcow2 b.qcow2 && "
                     "qemu-io -c 'write -P 2 3000 1' b.qcow2 && cp a.raw big.raw && "
                     "truncate -s 8M big.raw && cp big.raw bigx.raw && "
                     "printf x | dd of=bigx.raw bs=1 seek=7000000 conv=notrunc status=none", d));

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *qout = NULL;
      g_autofree char *sout = NULL;
      int qrc = tu_run (&qout, NULL, "cd '%s' && qemu-img compare %s", d, cases[i]);
      int src = tu_run (&sout, NULL, "cd '%s' && %s compare %s", d, tu_strata_img (),
                        cases[i]);

      if (qrc != src || g_strcmp0 (qout, sout) != 0)
        g_error ("compare %s: qemu-img %d:\n%s\nstrata-img %d:\n%s", cases[i], qrc, qout,
                 src, sout);
    }
  g_assert_cmpint (tu_run (NULL, NULL, "cd '%s' && %s compare a.qcow2 missing", d,
                           tu_strata_img ()), ==, 2);
}

static void
test_rebase_requires_format (void)
{
  g_autofree char *d = scratch ("rebase-F");
  g_autofree char *qerr = NULL;
  g_autofree char *serr = NULL;
  g_autofree char *sum = NULL;
  g_autofree char *sum2 = NULL;
  g_autofree char *top = g_build_filename (d, "top.qcow2", NULL);
  int qrc, src;

  g_free (tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 base.qcow2 1M && "
                     "cp base.qcow2 new.qcow2 && "
                     "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2", d));
  sum = tu_file_checksum (top);
  qrc = tu_run (NULL, &qerr, "cd '%s' && qemu-img rebase -b new.qcow2 top.qcow2", d);
  src = tu_run (NULL, &serr, "cd '%s' && %s rebase -b new.qcow2 top.qcow2", d,
                tu_strata_img ());
  g_assert_cmpint (qrc, ==, 1);
  g_assert_cmpint (src, ==, qrc);
  g_assert_nonnull (strstr (qerr, "Could not change the backing file to 'new.qcow2': "
                            "backing format must be specified"));
  g_assert_nonnull (strstr (serr, "Could not change the backing file to 'new.qcow2': "
                            "backing format must be specified"));
  sum2 = tu_file_checksum (top);
  g_assert_cmpstr (sum, ==, sum2);

  g_assert_cmpint (tu_run (NULL, NULL, "cd '%s' && %s rebase top.qcow2", d, tu_strata_img ()),
                   ==, 1);

  /* A relative new name is stored as given and resolved against the overlay's folder, not
   * the current one. */
  g_free (tu_run_ok ("cd '%s' && mkdir -p sub && mv base.qcow2 new.qcow2 top.qcow2 sub/ && "
                     "qemu-img convert -O raw sub/top.qcow2 view.raw && "
                     "%s rebase -b new.qcow2 -F qcow2 sub/top.qcow2 && "
                     "qemu-img info sub/top.qcow2 | grep -q '^backing file: new.qcow2 ' && "
                     "qemu-img compare sub/top.qcow2 view.raw && qemu-img check sub/top.qcow2",
                     d, tu_strata_img ()));
}

/* --- a running QEMU, simulated by qemu-io (tu_hold_with_qemu_io) --- */

static void
make_chain (const char *d)
{
  g_free (tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 base.qcow2 16M && "
                     "qemu-io -c 'write -P 1 0 4M' base.qcow2 && cp base.qcow2 copy.qcow2 && "
                     "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2 && "
                     "qemu-io -c 'write -P 2 1M 1M' top.qcow2", d));
}

static void
assert_refused (const char *d, const char *cmd, const char *must_name, const char **unchanged)
{
  g_autofree char *err = NULL;
  g_autoptr(GPtrArray) sums = g_ptr_array_new_with_free_func (g_free);
  int rc;

  for (guint i = 0; unchanged[i] != NULL; i++)
    {
      g_autofree char *p = g_build_filename (d, unchanged[i], NULL);

      g_ptr_array_add (sums, tu_file_checksum (p));
    }

  rc = tu_run (NULL, &err, "cd '%s' && %s %s", d, tu_strata_img (), cmd);
  if (rc != 1 || strstr (err, must_name) == NULL)
    g_error ("%s: expected exit 1 naming %s, got %d: %s", cmd, must_name, rc, err);

  for (guint i = 0; unchanged[i] != NULL; i++)
    {
      g_autofree char *p = g_build_filename (d, unchanged[i], NULL);
      g_autofree char *now = tu_file_checksum (p);

      g_assert_cmpstr (now, ==, g_ptr_array_index (sums, i));
    }
}

static void
test_refuses_running_qemu (void)
{
  g_autofree char *d = scratch ("running");
  const char *files[] = { "top.qcow2", "base.qcow2", "copy.qcow2", NULL };
  TuHolder *h;

  make_chain (d);

  h = tu_hold_with_qemu_io (d, "top.qcow2", "qcow2");
  assert_refused (d, "rebase -b copy.qcow2 -F qcow2 top.qcow2", "top.qcow2", files);
  assert_refused (d, "rebase -u -b copy.qcow2 -F qcow2 top.qcow2", "top.qcow2", files);
  assert_refused (d, "commit top.qcow2", "top.qcow2", files);
  assert_refused (d, "check -r leaks top.qcow2", "top.qcow2", files);
  tu_holder_release (h);

  /* A VM running on the base itself. */
  h = tu_hold_with_qemu_io (d, "base.qcow2", "qcow2");
  assert_refused (d, "commit top.qcow2", "base.qcow2", files);
  /* A safe rebase reads the old base; -U lets it read it in use, as it does the new one. */
  assert_refused (d, "rebase -b copy.qcow2 -F qcow2 top.qcow2", "base.qcow2", files);
  g_free (tu_run_ok ("cd '%s' && qemu-img convert -U -O raw top.qcow2 view.raw && "
                     "qemu-io -f qcow2 -c 'write -P 7 8M 64k' copy.qcow2 && "
                     "%s rebase -U -b copy.qcow2 -F qcow2 top.qcow2 && "
                     "qemu-img compare -U top.qcow2 view.raw && qemu-img check -q top.qcow2",
                     d, tu_strata_img ()));
  tu_holder_release (h);
}

/* The reported case, through the command line: an overlay with no backing file rebased onto
 * one with data where the overlay is unallocated. The guest read zeros there before, and
 * must after (zero clusters, as qemu-img writes). */
static void
test_rebase_no_old_backing (void)
{
  g_autofree char *d = scratch ("rebase-no-old-backing");

  g_free (tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 t.qcow2 384k && "
                     "qemu-img create -q -f qcow2 new.qcow2 384k && "
                     "qemu-io -f qcow2 -c 'write -P 0x11 256k 64k' new.qcow2 && "
                     "cp t.qcow2 q.qcow2 && %s rebase -b new.qcow2 -F qcow2 t.qcow2 && "
                     "qemu-img rebase -b new.qcow2 -F qcow2 q.qcow2 && "
                     "qemu-io -f qcow2 -c 'read -P 0 0 384k' t.qcow2 | "
                     "grep -q '^read 393216/393216' && "
                     "! qemu-io -f qcow2 -c 'read -P 0 0 384k' t.qcow2 | grep -q failed && "
                     "qemu-img compare t.qcow2 q.qcow2 && qemu-img check -q t.qcow2",
                     d, tu_strata_img ()));
}

static void
test_sibling_guard (void)
{
  g_autofree char *d = scratch ("siblings");
  g_autofree char *lib = scratch ("siblings-lib");
  g_autofree char *cmd = NULL;
  g_autofree char *err = NULL;
  const char *files[] = { "top.qcow2", "base.qcow2", "sib.qcow2", NULL };
  TuHolder *h;

  make_chain (d);
  g_free (tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 sib.qcow2 "
                     "&& cd '%s' && qemu-img create -q -f qcow2 -b '%s/base.qcow2' -F qcow2 "
                     "far.qcow2", d, lib, d));

  assert_refused (d, "commit top.qcow2", "sib.qcow2", files);
  cmd = g_strdup_printf ("commit --library '%s' top.qcow2", lib);
  assert_refused (d, cmd, "far.qcow2", files);
  g_assert_cmpint (tu_run (NULL, &err, "cd '%s' && %s %s", d, tu_strata_img (), cmd), ==, 1);
  g_assert_nonnull (strstr (err, "sib.qcow2"));
  g_assert_nonnull (strstr (err, "far.qcow2"));

  /* --force accepts the risk, but a sibling that is running still holds the base. */
  h = tu_hold_with_qemu_io (d, "sib.qcow2", "qcow2");
  assert_refused (d, "commit --force top.qcow2", "base.qcow2", files);
  tu_holder_release (h);
}

/* commit -b writes only the base, but every image outside the chain that uses the base or
 * a layer between it and the top reads the new content: all of them are named, and
 * --force commits anyway (the top is not emptied, as with qemu-img -b). */
static void
test_sibling_guard_deeper_base (void)
{
  g_autofree char *d = scratch ("siblings-b");
  g_autofree char *err = NULL;
  const char *files[] = { "top.qcow2", "mid.qcow2", "base.qcow2", "msib.qcow2", "sib.qcow2",
                          NULL };
  int rc;

  g_free (tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 base.qcow2 16M && "
                     "qemu-io -c 'write -P 1 0 4M' base.qcow2 && "
                     "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 mid.qcow2 && "
                     "qemu-io -c 'write -P 2 1M 1M' mid.qcow2 && "
                     "qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 top.qcow2 && "
                     "qemu-io -c 'write -P 3 3M 1M' top.qcow2 && "
                     "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 sib.qcow2 && "
                     "qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 msib.qcow2 && "
                     "qemu-img convert -O raw top.qcow2 view.raw", d));

  assert_refused (d, "commit -b base.qcow2 top.qcow2", "./sib.qcow2", files);
  rc = tu_run (NULL, &err, "cd '%s' && %s commit -b base.qcow2 top.qcow2", d, tu_strata_img ());
  g_assert_cmpint (rc, ==, 1);
  g_assert_nonnull (strstr (err, "msib.qcow2"));
  g_assert_null (strstr (err, "mid.qcow2,"));
  g_clear_pointer (&err, g_free);

  /* Into the immediate base only the base's own other overlays count. */
  g_free (tu_run_ok ("cd '%s' && rm sib.qcow2", d));
  files[4] = NULL;
  assert_refused (d, "commit -b mid.qcow2 top.qcow2", "msib.qcow2", files);

  g_free (tu_run_ok ("cd '%s' && %s commit --force -b base.qcow2 top.qcow2 && "
                     "qemu-img compare -f raw -F qcow2 view.raw base.qcow2 && "
                     "qemu-img compare -f raw view.raw top.qcow2 && "
                     "qemu-img check -q base.qcow2 && "
                     "qemu-img map --output=json top.qcow2 | "
                     "grep -q '\"depth\": 0, \"present\": true'",
                     d, tu_strata_img ()));
}

static void
test_protected_base (void)
{
  g_autofree char *d = scratch ("protected");
  g_autofree char *err = NULL;
  const char *files[] = { "top.qcow2", "base.qcow2", NULL };

  make_chain (d);
  g_free (tu_run_ok ("cd '%s' && %s protect base.qcow2 && test ! -w base.qcow2 -o $(id -u) "
                     "= 0 && stat -c %%a base.qcow2 | grep -q '^[0-7][0-5][0-5]$' && "
                     "! stat -c %%A base.qcow2 | grep -q w", d, tu_strata_img ()));
  assert_refused (d, "commit top.qcow2", "base.qcow2", files);
  g_assert_cmpint (tu_run (NULL, &err, "cd '%s' && %s commit top.qcow2", d, tu_strata_img ()),
                   ==, 1);
  g_assert_nonnull (strstr (err, "unprotect"));

  /* A protected overlay cannot be rebased either. */
  g_free (tu_run_ok ("cd '%s' && %s protect top.qcow2", d, tu_strata_img ()));
  assert_refused (d, "rebase -b copy.qcow2 -F qcow2 top.qcow2", "top.qcow2", files);
  g_free (tu_run_ok ("cd '%s' && %s unprotect top.qcow2 base.qcow2 && "
                     "stat -c %%A base.qcow2 | grep -q '^-rw' && "
                     "%s commit top.qcow2 && qemu-img check base.qcow2",
                     d, tu_strata_img (), tu_strata_img ()));
}

/* One row of commit --sizes' table: @file's apparent and allocated bytes under @label. */
static void
sizes_row (const char *out,
           const char *label,
           const char *file,
           guint64    *apparent,
           guint64    *allocated)
{
  g_autofree char *pattern = g_strdup_printf ("^%s:\\n(?:  .*\\n)*?  \\w+ +%s: apparent "
                                              "([0-9]+) .*, allocated ([0-9]+) ", label, file);
  g_autoptr(GRegex) re = g_regex_new (pattern, G_REGEX_MULTILINE, 0, NULL);
  g_autoptr(GMatchInfo) m = NULL;
  g_autofree char *a = NULL;
  g_autofree char *l = NULL;

  if (!g_regex_match (re, out, 0, &m))
    g_error ("no \"%s\" row for %s in:\n%s", label, file, out);
  a = g_match_info_fetch (m, 1);
  l = g_match_info_fetch (m, 2);
  *apparent = g_ascii_strtoull (a, NULL, 10);
  *allocated = g_ascii_strtoull (l, NULL, 10);
}

/* commit -b --sizes predicts through the intermediate layers: the base's predicted size is
 * what it measures after (within a cluster of blocks), the top is not emptied, and the
 * prediction comes before anything is written. */
static void
test_commit_deeper_base_sizes (void)
{
  g_autofree char *d = scratch ("sizes-b");
  g_autofree char *out = NULL;
  guint64 ba, bl, pa, pl, aa, al, ta, tl, pta, ptl, ata, atl;

  g_free (tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 base.qcow2 10M && "
                     "qemu-io -c 'write -P 1 0 2M' base.qcow2 && "
                     "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 mid.qcow2 && "
                     "qemu-io -c 'write -P 2 1M 2M' -c 'write -c -P 4 6M 128k' mid.qcow2 && "
                     "qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 top.qcow2 12M && "
                     "qemu-io -c 'write -P 3 4M 1M' -c 'write -z 0 64k' "
                     "-c 'write -P 5 11M 64k' top.qcow2 && "
                     "qemu-img convert -O raw top.qcow2 view.raw", d));

  out = tu_run_ok ("cd '%s' && %s commit -b base.qcow2 --sizes top.qcow2", d,
                   tu_strata_img ());
  g_assert_nonnull (strstr (out, "Predicted after:"));
  g_assert_true (strstr (out, "Predicted after:") < strstr (out, "Image committed."));
  sizes_row (out, "Before", "base.qcow2", &ba, &bl);
  sizes_row (out, "Predicted after", "base.qcow2", &pa, &pl);
  sizes_row (out, "After", "base.qcow2", &aa, &al);
  /* mid's 1M past the base's data, its compressed cluster, top's 1M and 64k: about 2.2M. */
  g_assert_cmpuint (pa, >, ba + 2 * 1024 * 1024);
  g_assert_cmpuint (pa, ==, aa);
  g_assert_cmpuint (pl + 65536, >=, al);
  g_assert_cmpuint (al + 65536, >=, pl);

  sizes_row (out, "Before", "top.qcow2", &ta, &tl);
  sizes_row (out, "Predicted after", "top.qcow2", &pta, &ptl);
  sizes_row (out, "After", "top.qcow2", &ata, &atl);
  g_assert_cmpuint (pta, ==, ta);
  g_assert_cmpuint (ptl, ==, tl);
  g_assert_cmpuint (ata, ==, ta);

  g_free (tu_run_ok ("cd '%s' && qemu-img check base.qcow2 && "
                     "qemu-img compare -f raw -F qcow2 view.raw base.qcow2 && "
                     "qemu-img compare -f raw view.raw top.qcow2", d));
}

/* The mission: compressed base from a VMDK, three overlays, safe-rebase overlay 1 onto a
 * copy of the base, commit it there. */
static void
test_mission (void)
{
  g_autofree char *d = scratch ("mission");
  g_autofree char *out = NULL;
  const char *untouched[] = { "base.qcow2", "o2.qcow2", "o3.qcow2" };
  g_auto(GStrv) sums = g_new0 (char *, 4);

  g_free (tu_run_ok ("cd '%s' && qemu-img create -q -f vmdk disk.vmdk 64M && "
                     "qemu-io -f vmdk -c 'write -P 17 0 8M' -c 'write -P 18 20M 4M' "
                     "-c 'write -P 19 60M 1M' disk.vmdk && "
                     "qemu-img convert -c -O qcow2 disk.vmdk base.qcow2 && "
                     "for i in 1 2 3; do qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "
                     "o$i.qcow2; done && "
                     "qemu-io -c 'write -P 33 1M 3M' -c 'write -z 21M 1M' "
                     "-c 'write -P 34 40M 2M' o1.qcow2 && "
                     "qemu-io -c 'write -P 35 0 2M' o2.qcow2 && "
                     "qemu-io -c 'write -P 36 5M 6M' o3.qcow2 && "
                     "for i in 1 2 3; do qemu-img convert -O raw o$i.qcow2 o$i-view.raw; done && "
                     "cp base.qcow2 copy.qcow2", d));
  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *p = g_build_filename (d, untouched[i], NULL);

      sums[i] = tu_file_checksum (p);
    }

  g_free (tu_run_ok ("cd '%s' && %s rebase -p -b copy.qcow2 -F qcow2 o1.qcow2", d,
                     tu_strata_img ()));
  out = tu_run_ok ("cd '%s' && %s commit --sizes o1.qcow2", d, tu_strata_img ());
  g_assert_nonnull (strstr (out, "Before:"));
  g_assert_nonnull (strstr (out, "Predicted after:"));
  g_assert_nonnull (strstr (out, "Image committed."));
  g_assert_nonnull (strstr (out, "After:"));

  g_free (tu_run_ok ("cd '%s' && qemu-img compare copy.qcow2 o1-view.raw && "
                     "qemu-img compare o1.qcow2 o1-view.raw && "
                     "qemu-img compare o2.qcow2 o2-view.raw && "
                     "qemu-img compare o3.qcow2 o3-view.raw && "
                     "for f in base copy o1 o2 o3; do qemu-img check $f.qcow2; done", d));
  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *p = g_build_filename (d, untouched[i], NULL);
      g_autofree char *now = tu_file_checksum (p);

      g_assert_cmpstr (now, ==, sums[i]);
    }
}

static void
test_commit_into_copy_cli (void)
{
  g_autofree char *d = scratch ("into-copy");
  g_autofree char *sum = NULL;
  g_autofree char *sum2 = NULL;
  g_autofree char *base = NULL;

  make_chain (d);
  g_free (tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 sib.qcow2 "
                     "&& qemu-img convert -O raw top.qcow2 view.raw", d));
  base = g_build_filename (d, "base.qcow2", NULL);
  sum = tu_file_checksum (base);
  g_free (tu_run_ok ("cd '%s' && %s commit --into-copy new-base.qcow2 top.qcow2 && "
                     "qemu-img check new-base.qcow2 && qemu-img check top.qcow2 && "
                     "qemu-img compare new-base.qcow2 view.raw && "
                     "qemu-img compare top.qcow2 view.raw && "
                     "qemu-img info top.qcow2 | grep -q 'backing file: new-base.qcow2$'",
                     d, tu_strata_img ()));
  sum2 = tu_file_checksum (base);
  g_assert_cmpstr (sum, ==, sum2);

  /* With --sizes the report names the original base and the copy for what they are. */
  {
    g_autofree char *out = tu_run_ok ("cd '%s' && %s commit --sizes --into-copy copy2.qcow2 sib.qcow2",
                                      d, tu_strata_img ());

    g_assert_nonnull (strstr (out, "original base base.qcow2:"));
    g_assert_nonnull (strstr (out, "copied to copy2.qcow2"));
    g_assert_nonnull (strstr (out, "copy (new base) copy2.qcow2:"));
  }
}

int
main (int argc, char **argv)
{
  tu_init (&argc, &argv);

  g_test_add_func ("/cli-chain/check", test_check_cli);
  g_test_add_func ("/cli-chain/compare", test_compare_cli);
  g_test_add_func ("/cli-chain/rebase-requires-format", test_rebase_requires_format);
  g_test_add_func ("/cli-chain/refuses-running-qemu", test_refuses_running_qemu);
  g_test_add_func ("/cli-chain/rebase-no-old-backing", test_rebase_no_old_backing);
  g_test_add_func ("/cli-chain/sibling-guard", test_sibling_guard);
  g_test_add_func ("/cli-chain/sibling-guard-deeper-base", test_sibling_guard_deeper_base);
  g_test_add_func ("/cli-chain/protected-base", test_protected_base);
  g_test_add_func ("/cli-chain/mission", test_mission);
  g_test_add_func ("/cli-chain/commit-deeper-base-sizes", test_commit_deeper_base_sizes);
  g_test_add_func ("/cli-chain/commit-into-copy", test_commit_into_copy_cli);

  return g_test_run ();
}
