/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * check -r leaks / -r all against qemu-img on damaged images. QEMU makes the images (with
 * internal snapshots, so clusters are shared, and a persistent bitmap), qcow2-damage.py
 * breaks one thing in a copy
 * (a refcount too low, too high or 0, a COPIED flag wrong, leaked clusters, the dirty or
 * corrupt bit), and both tools repair their own copy of the same damaged file: the same
 * stdout, stderr and exit code, and afterwards `qemu-img check` finds the image clean and
 * `qemu-img compare` finds it identical to the undamaged original.
 */
#include "cli-util.h"
#include "test-util.h"

#include <string.h>

typedef struct
{
  const char *name;
  const char *make; /* shell, makes orig.qcow2 */
} Image;

/* Data at 0 (rewritten after the snapshot: refcount 1), at 40M (written before the
 * snapshot: shared, refcount 2), zero clusters that keep their allocation, and more. */
#define WRITES_BEFORE "-c 'write -P 1 0 1M' -c 'write -P 2 10M 256k' -c 'write -P 3 40M 128k' "
#define WRITES_AFTER "-c 'write -P 4 0 128k' -c 'write -z 10M 64k' -c 'write -P 5 50M 64k' "
#define WITH_SNAPSHOT(opts) \
  "qemu-img create -q -f qcow2 " opts " orig.qcow2 64M && " \
  "qemu-io " WRITES_BEFORE "orig.qcow2 >/dev/null && qemu-img snapshot -c s1 orig.qcow2 && " \
  "qemu-io " WRITES_AFTER "orig.qcow2 >/dev/null"

static const Image images[] = {
  { "default", WITH_SNAPSHOT ("") },
  { "c512", WITH_SNAPSHOT ("-o cluster_size=512") },
  { "c2m", WITH_SNAPSHOT ("-o cluster_size=2M") },
  { "refcount64", WITH_SNAPSHOT ("-o refcount_bits=64") },
  { "refcount4", WITH_SNAPSHOT ("-o refcount_bits=4") },
  { "v2", WITH_SNAPSHOT ("-o compat=0.10") },
  { "extl2", WITH_SNAPSHOT ("-o extended_l2=on") },
  { "two-snapshots", WITH_SNAPSHOT ("") " && qemu-img snapshot -c s2 orig.qcow2 && "
    "qemu-io -c 'write -P 6 40M 64k' orig.qcow2 >/dev/null" },
  { "compressed", "qemu-img create -q -f qcow2 src.qcow2 64M && qemu-io " WRITES_BEFORE
    "src.qcow2 >/dev/null && qemu-img convert -c -O qcow2 src.qcow2 orig.qcow2 && "
    "qemu-img snapshot -c s1 orig.qcow2 && qemu-io " WRITES_AFTER "orig.qcow2 >/dev/null" },
  /* A persistent bitmap: its directory, table and data clusters are counted too. No
   * snapshot: qemu-img 7.2 opening such an image read-write for a repair loses count of
   * the snapshot's references and "repairs" them away. */
  { "bitmap", "qemu-img create -q -f qcow2 orig.qcow2 64M && "
    "qemu-img bitmap --add orig.qcow2 b0 && "
    "qemu-io " WRITES_BEFORE WRITES_AFTER "orig.qcow2 >/dev/null" },
  { "refcount1", "qemu-img create -q -f qcow2 -o refcount_bits=1 orig.qcow2 64M && "
    "qemu-io " WRITES_BEFORE WRITES_AFTER "orig.qcow2 >/dev/null" },
};

typedef struct
{
  const char *name;
  const char *damage; /* qcow2-damage.py actions, ";"-separated */
} Damage;

static const Damage damages[] = {
  { "refcount-low", "data-refcount 0x2800000 1" },
  { "refcount-zero", "data-refcount 0x2800000 0" },
  { "refcount-zero-own", "data-refcount 0 0" },
  { "refcount-high", "data-refcount 0 3" },
  { "l2-refcount-high", "l2-refcount 0 3" },
  { "l2-refcount-zero", "l2-refcount 0 0" },
  { "header-refcount-zero", "refcount 0 0" },
  { "copied-cleared", "data-copied 0 off" },
  { "copied-set-shared", "data-copied 0x2800000 on" },
  { "l1-copied-cleared", "l2-copied 0 off" },
  { "leaks", "leak 3" },
  { "leak-and-low", "leak 2;data-refcount 0x2800000 1" },
  { "zero-leak-copied", "leak 1;data-refcount 0 0;data-copied 0x3200000 off" },
  { "dirty-and-leak", "flags dirty;leak 1" },
  { "corrupt-and-copied", "flags corrupt;data-copied 0 off" },
};

static const char *const modes[] = { "-r leaks", "-r all", "-r all --output=json" };

typedef struct
{
  const Image  *image;
  const Damage *damage;
} Case;

static char *
damage_command (const char *file, const char *damage)
{
  g_auto(GStrv) steps = g_strsplit (damage, ";", -1);
  const char *srcdir = g_getenv ("STRATA_TEST_SRCDIR");
  g_autofree char *script = g_build_filename (srcdir != NULL ? srcdir : "tests", "cli",
                                              "qcow2-damage.py", NULL);
  GString *cmd = g_string_new ("true");

  for (guint i = 0; steps[i] != NULL; i++)
    g_string_append_printf (cmd, " && python3 '%s' %s %s", script, file, steps[i]);
  return g_string_free (cmd, FALSE);
}

/* Each image is made once; the cases copy it. */
static const char *
made (const Image *image)
{
  static GHashTable *paths;
  char *path;

  if (paths == NULL)
    paths = g_hash_table_new (g_str_hash, g_str_equal);
  path = g_hash_table_lookup (paths, image->name);
  if (path == NULL)
    {
      g_autofree char *dir = g_strdup_printf ("%s/made-%s", tu_dir (), image->name);

      g_free (tu_run_ok ("mkdir -p '%s' && cd '%s' && %s", dir, dir, image->make));
      path = g_build_filename (dir, "orig.qcow2", NULL);
      g_hash_table_insert (paths, (char *) image->name, path);
    }
  return path;
}

static const Image *
image_named (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (images); i++)
    if (g_str_equal (images[i].name, name))
      return &images[i];
  g_assert_not_reached ();
}

static void
test_repair (gconstpointer data)
{
  const Case *c = data;
  g_autofree char *leaf = g_strdup_printf ("%s-%s", c->image->name, c->damage->name);
  g_autofree char *dir = g_build_filename (tu_dir (), leaf, NULL);
  g_autofree char *damage = damage_command ("damaged.qcow2", c->damage->damage);

  /* An image that cannot hold the damage (refcount 1 with -b 1 bits...) still has to give
   * the same answers; the script refuses only impossible requests. */
  g_free (tu_run_ok ("mkdir -p '%s' && cd '%s' && cp '%s' orig.qcow2 && "
                     "cp orig.qcow2 damaged.qcow2 && %s", dir, dir, made (c->image), damage));

  for (guint m = 0; m < G_N_ELEMENTS (modes); m++)
    {
      g_auto(CliResult) q = { 0 };
      g_auto(CliResult) s = { 0 };
      g_autofree char *qargs = g_strdup_printf ("check %s q.qcow2", modes[m]);
      g_autofree char *sargs = g_strdup_printf ("check %s s.qcow2", modes[m]);
      g_autoptr(GString) sout = NULL;
      g_autoptr(GString) serr = NULL;
      g_autoptr(GString) qerr = NULL;

      g_free (tu_run_ok ("cd '%s' && cp damaged.qcow2 q.qcow2 && cp damaged.qcow2 s.qcow2",
                         dir));
      cli_run_strata (&s, dir, sargs);
      /* Strata's -r leaks leaves an image with refcounts both too low and too high alone
       * (a plain check's report, nothing written); qemu-img repairs the leaks. */
      if (strstr (s.err, "leaks not repaired because the image has errors") != NULL)
        {
          g_autofree char *plain = g_strdup_printf ("check %s q.qcow2",
                                                    strstr (modes[m], "json") != NULL ?
                                                    "--output=json" : "");

          g_assert_nonnull (strstr (c->damage->damage, "leak"));
          g_free (tu_run_ok ("cd '%s' && cmp s.qcow2 damaged.qcow2", dir));
          cli_run_qemu (&q, dir, plain);
          g_assert_cmpint (s.rc, ==, 2);
          serr = g_string_new (s.err);
          g_string_replace (serr, "s.qcow2: leaks not repaired because the image has errors\n",
                            "", 0);
          g_string_replace (serr, "s.qcow2", "q.qcow2", 0);
          g_assert_cmpstr (serr->str, ==, q.err);
          sout = g_string_new (s.out);
          g_string_replace (sout, "s.qcow2", "q.qcow2", 0);
          g_assert_cmpstr (sout->str, ==, q.out);
          continue;
        }
      else
        cli_run_qemu (&q, dir, qargs);
      if (q.rc != s.rc)
        g_error ("%s %s: qemu-img exit %d (%s%s), strata-img exit %d (%s%s)", leaf, modes[m],
                 q.rc, q.out, q.err, s.rc, s.out, s.err);

      sout = g_string_new (s.out);
      g_string_replace (sout, "s.qcow2", "q.qcow2", 0);
      if (g_strcmp0 (sout->str, q.out) != 0)
        g_error ("%s %s: stdout differs\nqemu-img:\n%s\nstrata-img:\n%s", leaf, modes[m],
                 q.out, s.out);

      /* The per-cluster lines, in qemu-img's words and order. When the repair fails (a
       * rebuild under -r leaks) the last line is each tool's own error. */
      /* Strata says when it leaves damaged tables alone (a COPIED flag on a compressed
       * cluster: qemu-img 7.2 does not repair that either). */
      serr = g_string_new (s.err);
      g_string_replace (serr, "s.qcow2: not repaired: the image has damaged tables Strata "
                        "cannot repair safely\n", "", 0);
      qerr = g_string_new (q.err);
      if (q.rc == 1)
        {
          char *qlast = strstr (qerr->str, "qemu-img: ");
          char *slast = strstr (serr->str, "strata-img: ");

          g_assert_nonnull (qlast);
          g_assert_nonnull (slast);
          g_string_truncate (qerr, qlast - qerr->str);
          g_string_truncate (serr, slast - serr->str);
        }
      if (g_strcmp0 (serr->str, qerr->str) != 0)
        g_error ("%s %s: stderr differs\nqemu-img:\n%s\nstrata-img:\n%s", leaf, modes[m],
                 q.err, s.err);

      /* The JSON run repairs as the human one did: its image was judged already. */
      if (s.rc == 0 && strstr (modes[m], "json") == NULL)
        {
          g_autofree char *orig = g_build_filename (dir, "orig.qcow2", NULL);
          g_autofree char *fixed = g_build_filename (dir, "s.qcow2", NULL);
          g_autofree char *snaps = NULL;
          g_autofree char *qsnaps = NULL;

          tu_assert_qemu_check_clean (fixed);
          tu_assert_qemu_compare (orig, fixed);
          /* The snapshots survive with their content. */
          snaps = tu_run_ok ("cd '%s' && qemu-img snapshot -l s.qcow2 | awk 'NR>2{print $2}'"
                             " && for n in $(qemu-img snapshot -l orig.qcow2 | "
                             "awk 'NR>2{print $2}'); do "
                             "qemu-img convert -l snapshot.name=$n -O qcow2 orig.qcow2 o1 && "
                             "qemu-img convert -l snapshot.name=$n -O qcow2 s.qcow2 s1 && "
                             "{ qemu-img compare -q o1 s1 || echo DIFFERENT; }; rm -f o1 s1; "
                             "done", dir);
          qsnaps = tu_run_ok ("cd '%s' && qemu-img snapshot -l orig.qcow2 | "
                              "awk 'NR>2{print $2}'", dir);
          g_assert_null (strstr (snaps, "DIFFERENT"));
          g_assert_true (g_str_has_prefix (snaps, qsnaps));
          /* Strata leaves the bitmaps as they were. */
          {
            g_autofree char *obm = tu_run_ok ("cd '%s' && qemu-img info --output=json "
                                              "orig.qcow2 | grep -E '\"(name|granularity)\"'"
                                              " || true", dir);
            g_autofree char *sbm = tu_run_ok ("cd '%s' && qemu-img info --output=json "
                                              "s.qcow2 | grep -E '\"(name|granularity)\"'"
                                              " || true", dir);

            g_assert_cmpstr (sbm, ==, obm);
          }
          /* The dirty and corrupt bits are cleared as qemu-img clears them. */
          {
            g_autofree char *qinfo = tu_run_ok ("cd '%s' && qemu-img info --output=json "
                                                "q.qcow2 | grep -E 'corrupt|dirty'", dir);
            g_autofree char *sinfo = tu_run_ok ("cd '%s' && qemu-img info --output=json "
                                                "s.qcow2 | grep -E 'corrupt|dirty'", dir);

            g_assert_cmpstr (sinfo, ==, qinfo);
          }
        }
    }
}

/* A repair changes the image like any other writer: an autoclear bit Strata does not know
 * (its feature's data may be stale now) is cleared before the first write, as qemu-img
 * clears it; the known ones stay. */
static void
test_repair_clears_unknown_autoclear (void)
{
  g_autofree char *dir = g_build_filename (tu_dir (), "autoclear", NULL);
  g_autofree char *damage = damage_command ("damaged.qcow2", "leak 2");
  g_autofree char *qhdr = NULL;
  g_autofree char *shdr = NULL;

  g_free (tu_run_ok ("mkdir -p '%s' && cd '%s' && cp '%s' damaged.qcow2 && %s && "
                     "printf '\\040' | "
                     "dd of=damaged.qcow2 bs=1 seek=95 conv=notrunc status=none && "
                     "cp damaged.qcow2 q.qcow2 && cp damaged.qcow2 s.qcow2 && "
                     "qemu-img check -r leaks q.qcow2 >/dev/null && "
                     "'%s' check -r leaks s.qcow2 >/dev/null",
                     dir, dir, made (&images[0]), damage, tu_strata_img ()));
  qhdr = tu_run_ok ("cd '%s' && od -An -tx1 -j88 -N8 q.qcow2", dir);
  shdr = tu_run_ok ("cd '%s' && od -An -tx1 -j88 -N8 s.qcow2", dir);
  g_assert_cmpstr (shdr, ==, qhdr);
  g_assert_null (strstr (shdr, "20"));
  tu_assert_qemu_check_clean (tu_path ("autoclear/s.qcow2"));
}

/* The bitmaps extension as QEMU reads it: without its autoclear bit the bitmaps are
 * ignored (their clusters are leaks, and -r leaks frees them); with an unaligned directory
 * the image cannot be checked (exit 1). Same stdout and exit code as qemu-img. */
static void
test_bitmap_extension (void)
{
  static const struct { const char *name, *patch, *args; int rc; } variants[] = {
    { "autoclear-off", "f.seek(88); f.write(struct.pack('>Q', 0))", "check", 3 },
    { "autoclear-off-repair", "f.seek(88); f.write(struct.pack('>Q', 0))", "check -r leaks",
      0 },
    { "unaligned-directory", "f.seek(ext + 24); f.write(struct.pack('>Q', d + 512))",
      "check", 1 },
    { "no-bitmaps", "f.seek(ext + 8); f.write(struct.pack('>I', 0))", "check", 1 },
  };

  for (guint i = 0; i < G_N_ELEMENTS (variants); i++)
    {
      g_autofree char *dir = g_strdup_printf ("%s/bitmap-%s", tu_dir (), variants[i].name);
      g_autofree char *qargs = g_strdup_printf ("%s q.qcow2", variants[i].args);
      g_autofree char *sargs = g_strdup_printf ("%s s.qcow2", variants[i].args);
      g_auto(CliResult) q = { 0 };
      g_auto(CliResult) s = { 0 };
      g_autoptr(GString) sout = NULL;

      g_free (tu_run_ok ("mkdir -p '%s' && cd '%s' && cp '%s' q.qcow2 && "
                         "python3 - q.qcow2 <<'EOF'\n"
                         "import struct, sys\n"
                         "f = open(sys.argv[1], 'r+b'); h = f.read(65536)\n"
                         "ext = struct.unpack('>I', h[100:104])[0]\n"
                         "while struct.unpack('>I', h[ext:ext + 4])[0] != 0x23852875:\n"
                         "  ext += 8 + ((struct.unpack('>I', h[ext + 4:ext + 8])[0] + 7) & ~7)\n"
                         "d = struct.unpack('>Q', h[ext + 24:ext + 32])[0]\n"
                         "%s\n"
                         "EOF\n"
                         "cp q.qcow2 s.qcow2", dir, dir, made (image_named ("bitmap")),
                         variants[i].patch));
      cli_run_qemu (&q, dir, qargs);
      cli_run_strata (&s, dir, sargs);
      g_assert_cmpint (q.rc, ==, variants[i].rc);
      g_assert_cmpint (s.rc, ==, q.rc);
      sout = g_string_new (s.out);
      g_string_replace (sout, "s.qcow2", "q.qcow2", 0);
      g_assert_cmpstr (sout->str, ==, q.out);
    }
}

/* Static, so that running a few of them (-p) leaves nothing for LeakSanitizer. */
static Case cases[G_N_ELEMENTS (images) * G_N_ELEMENTS (damages)];

int
main (int argc, char **argv)
{
  tu_init (&argc, &argv);

  for (guint i = 0; i < G_N_ELEMENTS (images); i++)
    for (guint d = 0; d < G_N_ELEMENTS (damages); d++)
      {
        Case *c = &cases[i * G_N_ELEMENTS (damages) + d];
        g_autofree char *path = g_strdup_printf ("/cli/check-repair/%s/%s", images[i].name,
                                                 damages[d].name);

        c->image = &images[i];
        c->damage = &damages[d];
        g_test_add_data_func (path, c, test_repair);
      }
  g_test_add_func ("/cli/check-repair/clears-unknown-autoclear",
                   test_repair_clears_unknown_autoclear);
  g_test_add_func ("/cli/check-repair/bitmap-extension", test_bitmap_extension);
  return g_test_run ();
}
