/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Internal snapshots, differentially. Each case makes one set of images and copies it to
 * three folders; a list of steps then runs on all three: "ref" runs every command through
 * qemu-img, "strata" through strata-img, and "mixed" alternates between the two (so each
 * tool reads and changes snapshots the other made). Steps starting with "qemu-io" run as
 * they are everywhere (guest writes between snapshot commands).
 *
 * After each command, strata-img's stdout and exit code must be qemu-img's (dates masked:
 * the two snapshots of a step are taken a moment apart); stderr too for the error cases.
 * At the end, in every folder, `qemu-img check` must be clean, every image must compare
 * identical to ref's, and so must the content of every snapshot, read by qemu-img
 * (`convert -l snapshot.id=N`).
 */
#include "cli-util.h"
#include "test-util.h"

#include <string.h>

typedef enum
{
  CASE_PLAIN = 0,
  CASE_SAME_STDERR = 1 << 0,  /* compare stderr of the commands too */
  CASE_REF_LEAKS = 1 << 1,    /* qemu-img leaks clusters where it fails (only strata's is
                               * checked clean) */
} CaseFlags;

typedef struct
{
  const char *name;
  const char *setup;          /* shell, run once; the folder is then copied */
  const char *steps[20];
  CaseFlags   flags;
} Case;

/* Data, a zero cluster, data across an L2 boundary for 512-byte clusters. */
#define WRITES \
  "qemu-io -c 'write -P 1 0 200k' -c 'write -z 300k 64k' -c 'write -P 2 600k 130k' " \
  "img.qcow2 >/dev/null"

#define CREATE(opts, size) \
  "qemu-img create -q -f qcow2 " opts " img.qcow2 " size " && " WRITES

/* The usual life of a snapshot: take, list, change, take again, go back, change, delete. */
#define LIFE \
  { "snapshot -c first img.qcow2", \
    "snapshot -l img.qcow2", \
    "qemu-io -c 'write -P 3 100k 300k' -c 'write -z 640k 8k' img.qcow2", \
    "snapshot -c second img.qcow2", \
    "qemu-io -c 'write -P 4 0 64k' -c 'write -P 5 900k 100k' img.qcow2", \
    "info img.qcow2", \
    "info --output=json img.qcow2", \
    "snapshot -a first img.qcow2", \
    "qemu-io -c 'write -P 6 150k 20k' img.qcow2", \
    "snapshot -c third img.qcow2", \
    "snapshot -d first img.qcow2", \
    "snapshot -l img.qcow2", \
    "snapshot -a 2 img.qcow2", \
    "qemu-io -c 'write -P 7 10k 500k' img.qcow2", \
    NULL }

static const Case cases[] = {
  { "c64k", CREATE ("", "1M"), LIFE },
  { "c512", CREATE ("-o cluster_size=512", "1M"), LIFE },
  { "c2m", CREATE ("-o cluster_size=2M", "5M"), LIFE },
  { "v2", CREATE ("-o compat=0.10", "1M"), LIFE },
  { "extl2", CREATE ("-o extended_l2=on", "1M"), LIFE },
  { "rc2", CREATE ("-o refcount_bits=2", "1M"),
    { "snapshot -c a img.qcow2", "qemu-io -c 'write -P 3 0 64k' img.qcow2",
      "snapshot -c b img.qcow2", "snapshot -l img.qcow2", "snapshot -d a img.qcow2",
      "snapshot -a b img.qcow2", "qemu-io -c 'write -P 4 0 1M' img.qcow2", NULL } },
  { "rc8", CREATE ("-o refcount_bits=8", "1M"), LIFE },
  { "rc32", CREATE ("-o refcount_bits=32", "1M"), LIFE },
  { "rc64", CREATE ("-o refcount_bits=64", "1M"), LIFE },
  /* One-bit refcounts cannot count a second user: both refuse (qemu-img leaks). */
  { "rc1", CREATE ("-o refcount_bits=1", "1M"),
    { "snapshot -c a img.qcow2", "snapshot -l img.qcow2", "info img.qcow2", NULL },
    CASE_SAME_STDERR | CASE_REF_LEAKS },
  { "backing",
    "qemu-img create -q -f qcow2 base.qcow2 2M && "
    "qemu-io -c 'write -P 9 0 2M' base.qcow2 >/dev/null && "
    "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 img.qcow2 && " WRITES, LIFE },
  /* Compressed clusters shared with the snapshots, then overwritten. */
  { "compressed",
    "qemu-img create -q -f qcow2 t.qcow2 1M && "
    "qemu-io -c 'write -P 1 0 512k' -c 'write -P 2 700k 200k' t.qcow2 >/dev/null && "
    "qemu-img convert -c -O qcow2 t.qcow2 img.qcow2 && rm t.qcow2", LIFE },
  { "empty", "qemu-img create -q -f qcow2 img.qcow2 1M",
    { "snapshot -c e img.qcow2", "snapshot -l img.qcow2", "snapshot -a e img.qcow2",
      "info img.qcow2", "snapshot -d e img.qcow2", "snapshot -l img.qcow2",
      "info --output=json img.qcow2", NULL } },
  /* Three snapshots sharing clusters; the middle one goes. */
  { "middle", CREATE ("", "1M"),
    { "snapshot -c one img.qcow2", "qemu-io -c 'write -P 3 0 64k' img.qcow2",
      "snapshot -c two img.qcow2", "qemu-io -c 'write -P 4 64k 64k' img.qcow2",
      "snapshot -c three img.qcow2", "snapshot -d two img.qcow2", "snapshot -l img.qcow2",
      "snapshot -a one img.qcow2", "snapshot -a three img.qcow2",
      "qemu-io -c 'write -P 5 0 1M' img.qcow2", NULL } },
  /* Names are not unique: -d takes the first of that name, -a an ID before a name. */
  { "names", CREATE ("", "1M"),
    { "snapshot -c x img.qcow2", "qemu-io -c 'write -P 3 0 64k' img.qcow2",
      "snapshot -c x img.qcow2", "snapshot -c 1 img.qcow2", "snapshot -c '' img.qcow2",
      "snapshot -l img.qcow2", "snapshot -a 1 img.qcow2", "snapshot -d x img.qcow2",
      "snapshot -l img.qcow2", "snapshot -d 1 img.qcow2", "snapshot -l img.qcow2", NULL } },
  { "errors", CREATE ("", "1M") " && qemu-img create -q -f raw r.raw 1M",
    { "snapshot -c s img.qcow2", "snapshot -a nope img.qcow2", "snapshot -d nope img.qcow2",
      "snapshot -d 1 img.qcow2", "snapshot -l -c x img.qcow2", "snapshot -U -c x img.qcow2",
      "snapshot -U -l img.qcow2", "snapshot -l gone.qcow2", "snapshot -l img.qcow2",
      "snapshot -q -c quiet img.qcow2", "snapshot img.qcow2", NULL },
    CASE_SAME_STDERR },
  { "raw", "qemu-img create -q -f raw r.raw 1M",
    { "snapshot -l -U r.raw", "snapshot -c x r.raw", "snapshot -a x r.raw",
      "snapshot -d x r.raw", NULL } },
  /* Growing keeps the snapshots; applying one brings its size back. */
  { "resize", CREATE ("", "1M"),
    { "snapshot -c small img.qcow2", "resize img.qcow2 3M",
      "qemu-io -c 'write -P 3 2M 512k' img.qcow2", "snapshot -c big img.qcow2",
      "info img.qcow2", "snapshot -a small img.qcow2", "info img.qcow2",
      "snapshot -a big img.qcow2", "resize --shrink img.qcow2 1536k", "info img.qcow2",
      "snapshot -a small img.qcow2", NULL } },
  /* Commit into a base that has snapshots, and rebase an image that has them. */
  { "commit",
    "qemu-img create -q -f qcow2 base.qcow2 1M && "
    "qemu-io -c 'write -P 1 0 1M' base.qcow2 >/dev/null && "
    "qemu-img snapshot -c before base.qcow2 && "
    "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 img.qcow2 && " WRITES,
    { "snapshot -c top img.qcow2", "commit img.qcow2", "snapshot -l base.qcow2",
      "snapshot -c after base.qcow2", "snapshot -a before base.qcow2", NULL } },
  { "rebase",
    "qemu-img create -q -f qcow2 old.qcow2 1M && "
    "qemu-io -c 'write -P 1 0 1M' old.qcow2 >/dev/null && "
    "qemu-img create -q -f qcow2 new.qcow2 1M && "
    "qemu-io -c 'write -P 1 0 512k' new.qcow2 >/dev/null && "
    "qemu-img create -q -f qcow2 -b old.qcow2 -F qcow2 img.qcow2 && " WRITES,
    { "snapshot -c s img.qcow2", "rebase -b new.qcow2 -F qcow2 img.qcow2",
      "qemu-io -c 'write -P 8 0 64k' img.qcow2", "snapshot -c t img.qcow2",
      "snapshot -l img.qcow2", NULL } },
};

static char *
case_dir (const char *name,
          const char *which)
{
  char *dir = g_build_filename (tu_dir (), name, which, NULL);

  g_free (tu_run_ok ("mkdir -p '%s'", dir));
  return dir;
}

/* Dates differ by the moment each snapshot was taken; so do disk sizes (file layouts
 * differ) and file names. */
static char *
mask (const char *text,
      const char *dir)
{
  static const char *const patterns[][2] = {
    { "[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}", "YYYY-MM-DD hh:mm:ss" },
    { "\"date-(n?)sec\": [0-9]+", "\"date-\\1sec\": N" },
    { "\"actual-size\": [0-9]+", "\"actual-size\": N" },
    { "disk size: [^\\n]*", "disk size: N" },
  };
  g_autoptr(GString) s = g_string_new (text);
  char *out;

  g_string_replace (s, dir, "DIR", 0);
  g_string_replace (s, "qemu-img: ", "PROGRAM: ", 0);
  g_string_replace (s, "strata-img: ", "PROGRAM: ", 0);
  out = g_string_free (g_steal_pointer (&s), FALSE);
  for (guint i = 0; i < G_N_ELEMENTS (patterns); i++)
    {
      g_autoptr(GRegex) re = g_regex_new (patterns[i][0], 0, 0, NULL);
      char *next = g_regex_replace (re, out, -1, 0, patterns[i][1], 0, NULL);

      g_free (out);
      out = next;
    }
  return out;
}

/* The qemu-img usage hint strata-img words as its own usage line. */
static char *
first_line (const char *text)
{
  const char *nl = strchr (text, '\n');

  return nl != NULL ? g_strndup (text, nl - text + 1) : g_strdup (text);
}

static void
run_step (const Case *c,
          guint       step,
          const char *cmd,
          const char *dirs[3])
{
  g_auto(CliResult) q = { 0 };
  g_auto(CliResult) s = { 0 };
  g_auto(CliResult) m = { 0 };

  if (g_str_has_prefix (cmd, "qemu-io "))
    {
      for (guint i = 0; i < 3; i++)
        g_free (tu_run_ok ("cd '%s' && %s >/dev/null", dirs[i], cmd));
      return;
    }

  cli_run_qemu (&q, dirs[0], cmd);
  cli_run_strata (&s, dirs[1], cmd);
  if (step % 2 == 0)
    cli_run_strata (&m, dirs[2], cmd);
  else
    cli_run_qemu (&m, dirs[2], cmd);

  {
    g_autofree char *qout = mask (q.out, dirs[0]);
    g_autofree char *sout = mask (s.out, dirs[1]);
    g_autofree char *mout = mask (m.out, dirs[2]);

    if (q.rc != s.rc || q.rc != m.rc)
      g_error ("%s: %s: exit %d (qemu-img), %d (strata-img), %d (mixed)\n%s\n%s\n%s", c->name,
               cmd, q.rc, s.rc, m.rc, q.err, s.err, m.err);
    g_assert_cmpstr (sout, ==, qout);
    g_assert_cmpstr (mout, ==, qout);
  }

  if (c->flags & CASE_SAME_STDERR)
    {
      g_autofree char *qerr = mask (q.err, dirs[0]);
      g_autofree char *serr = mask (s.err, dirs[1]);
      g_autofree char *q1 = first_line (qerr);
      g_autofree char *s1 = first_line (serr);

      /* The first line is the message; qemu-img may add a hint after it. */
      if (strstr (qerr, "WARNING: Image format was not specified") == NULL)
        g_assert_cmpstr (s1, ==, q1);
    }
}

/* Every snapshot ref's image has, read by qemu-img, with the same content in @dir. */
static void
assert_same_snapshots (const char *ref,
                       const char *dir,
                       const char *image)
{
  g_autofree char *json = tu_run_ok ("qemu-img info -U --output=json '%s/%s'", ref, image);
  g_autoptr(GRegex) re = g_regex_new ("\"id\": \"([^\"]*)\"", 0, 0, NULL);
  g_autoptr(GMatchInfo) match = NULL;

  g_regex_match (re, json, 0, &match);
  while (g_match_info_matches (match))
    {
      g_autofree char *id = g_match_info_fetch (match, 1);

      g_free (tu_run_ok ("cd '%s' && qemu-img convert -U -l snapshot.id=%s -O raw %s "
                         "snap-%s.raw && cd '%s' && qemu-img convert -U -l snapshot.id=%s "
                         "-O raw %s snap-%s.raw && qemu-img compare -q '%s/snap-%s.raw' "
                         "'%s/snap-%s.raw' && rm '%s/snap-%s.raw' '%s/snap-%s.raw'",
                         ref, id, image, id, dir, id, image, id, ref, id, dir, id, ref, id,
                         dir, id));
      g_match_info_next (match, NULL);
    }
}

static void
test_case (gconstpointer data)
{
  const Case *c = data;
  g_autofree char *setup = case_dir (c->name, "setup");
  g_autofree char *ref = case_dir (c->name, "ref");
  g_autofree char *strata = case_dir (c->name, "strata");
  g_autofree char *mixed = case_dir (c->name, "mixed");
  const char *dirs[3] = { ref, strata, mixed };
  g_autofree char *list = NULL;
  g_auto(GStrv) images = NULL;

  g_free (tu_run_ok ("cd '%s' && %s && cp -a . '%s' && cp -a . '%s' && cp -a . '%s'", setup,
                     c->setup, ref, strata, mixed));

  for (guint i = 0; c->steps[i] != NULL; i++)
    run_step (c, i, c->steps[i], dirs);

  list = tu_run_ok ("cd '%s' && ls *.qcow2 2>/dev/null || true", ref);
  images = g_strsplit_set (g_strstrip (list), "\n", -1);
  for (guint i = 0; images[i] != NULL && images[i][0] != '\0'; i++)
    for (guint d = 1; d < 3; d++)
      {
        g_autofree char *a = g_build_filename (ref, images[i], NULL);
        g_autofree char *b = g_build_filename (dirs[d], images[i], NULL);

        if (!(c->flags & CASE_REF_LEAKS) || d == 1)
          tu_assert_qemu_check_clean (b);
        tu_assert_qemu_compare (a, b);
        assert_same_snapshots (ref, dirs[d], images[i]);
      }
}

/* strata-img dates a snapshot with the current time, as qemu-img does. */
static void
test_date_is_now (void)
{
  g_autofree char *dir = case_dir ("date", "strata");
  g_autofree char *json = NULL;
  gint64 before = g_get_real_time () / G_USEC_PER_SEC;
  gint64 after, sec;
  const char *p;

  g_free (tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 d.qcow2 1M && '%s' snapshot -c "
                     "now d.qcow2", dir, tu_strata_img ()));
  after = g_get_real_time () / G_USEC_PER_SEC;
  json = tu_run_ok ("qemu-img info --output=json '%s/d.qcow2'", dir);
  p = strstr (json, "\"date-sec\": ");
  g_assert_nonnull (p);
  sec = g_ascii_strtoll (p + strlen ("\"date-sec\": "), NULL, 10);
  g_assert_cmpint (sec, >=, before);
  g_assert_cmpint (sec, <=, after);
}

int
main (int argc, char **argv)
{
  tu_init (&argc, &argv);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/cli/snapshot/%s", cases[i].name);

      g_test_add_data_func (path, &cases[i], test_case);
    }
  g_test_add_func ("/cli/snapshot/date-is-now", test_date_is_now);
  return g_test_run ();
}
