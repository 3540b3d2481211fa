/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Broken images and chains, and images held by a running QEMU: strata-img must exit 1 with
 * an error that names the file, never hang, and agree with qemu-img on what is an error.
 */
#include "cli-util.h"
#include "test-util.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Both tools fail with the same exit code and the same message. */
static void
assert_same_error (const char *dir,
                   const char *args)
{
  g_auto(CliResult) q = { 0 };
  g_auto(CliResult) s = { 0 };
  g_autoptr(GString) qerr = NULL;

  cli_run_qemu (&q, dir, args);
  cli_run_strata (&s, dir, args);
  g_assert_cmpint (s.rc, ==, q.rc);
  qerr = g_string_new (q.err);
  g_string_replace (qerr, "qemu-img: ", "strata-img: ", 0);
  g_string_replace (qerr, "Try 'strata-img --help' for more information\n", "", 0);
  g_assert_cmpstr (s.err, ==, qerr->str);
}

static char *
make_dir (const char *name, const char *setup)
{
  char *dir = g_build_filename (tu_dir (), name, NULL);

  g_assert_cmpint (g_mkdir (dir, 0755), ==, 0);
  if (setup != NULL)
    g_free (tu_run_ok ("cd '%s' && %s", dir, setup));
  return dir;
}

/* strata-img ARGS must exit 1 within the timeout with "strata-img: ..." naming @name. */
static void
assert_fails_naming (const char *dir,
                     const char *args,
                     const char *name)
{
  g_auto(CliResult) s = { 0 };

  cli_run_strata (&s, dir, args);
  if (s.rc != 1)
    g_error ("strata-img %s: expected exit 1, got %d%s\n%s%s", args, s.rc,
             s.rc == 124 ? " (timed out)" : "", s.out, s.err);
  g_assert_true (g_str_has_prefix (s.err, "strata-img: "));
  if (strstr (s.err, name) == NULL)
    g_error ("strata-img %s: the error does not name %s: %s", args, name, s.err);
}

static void
assert_qemu_fails (const char *dir, const char *args)
{
  g_auto(CliResult) q = { 0 };

  cli_run_qemu (&q, dir, args);
  g_assert_cmpint (q.rc, ==, 1);
}

static void
assert_same_info (const char *dir, const char *args, const char *const *ignore)
{
  g_auto(CliResult) q = { 0 };
  g_auto(CliResult) s = { 0 };

  cli_run_qemu (&q, dir, args);
  cli_run_strata (&s, dir, args);
  g_assert_cmpint (q.rc, ==, 0);
  if (s.rc != 0)
    g_error ("strata-img %s: exit %d: %s", args, s.rc, s.err);
  cli_assert_json_matches (args, q.out, s.out, ignore);
}

static void
test_missing_file (void)
{
  g_autofree char *dir = make_dir ("missing", NULL);

  assert_qemu_fails (dir, "info nope.qcow2");
  assert_fails_naming (dir, "info nope.qcow2", "nope.qcow2");
  assert_fails_naming (dir, "info --output=json --backing-chain nope.qcow2", "nope.qcow2");
  assert_fails_naming (dir, "map nope.qcow2", "nope.qcow2");
  assert_fails_naming (dir, "info", "file name");
}

static void
test_missing_backing (void)
{
  g_autofree char *dir = NULL;

  if (!cli_driver_available ("qcow2"))
    return;
  dir = make_dir ("missing-backing",
                  "qemu-img create -q -f qcow2 -u -b nothere.qcow2 -F qcow2 top.qcow2 8M");

  /* info opens the image alone: it works, as in qemu-img. */
  assert_same_info (dir, "info --output=json top.qcow2", NULL);
  assert_qemu_fails (dir, "info --backing-chain top.qcow2");
  assert_fails_naming (dir, "info --backing-chain top.qcow2", "nothere.qcow2");
  /* In qemu-img's words, which name the file that is missing. */
  assert_same_error (dir, "info --backing-chain top.qcow2");
  assert_qemu_fails (dir, "map top.qcow2");
  assert_fails_naming (dir, "map --output=json top.qcow2", "nothere.qcow2");
}

static void
test_loop_two (void)
{
  g_autofree char *dir = NULL;

  if (!cli_driver_available ("qcow2"))
    return;
  dir = make_dir ("loop-two",
                  "qemu-img create -q -f qcow2 b.qcow2 8M && "
                  "qemu-img create -q -f qcow2 -b b.qcow2 -F qcow2 a.qcow2 && "
                  "qemu-img rebase -u -b a.qcow2 -F qcow2 b.qcow2");

  assert_same_info (dir, "info --output=json a.qcow2", NULL);
  assert_qemu_fails (dir, "info --backing-chain a.qcow2");
  assert_fails_naming (dir, "info --backing-chain a.qcow2", "a.qcow2");
  assert_same_error (dir, "info --backing-chain a.qcow2");
  assert_fails_naming (dir, "info --backing-chain --output=json b.qcow2", "b.qcow2");
  /* qemu-img 7.2 map never returns on a loop; we stop with an error. */
  assert_fails_naming (dir, "map a.qcow2", "a.qcow2");
}

static void
test_loop_self (void)
{
  g_autofree char *dir = NULL;

  if (!cli_driver_available ("qcow2"))
    return;
  dir = make_dir ("loop-self",
                  "qemu-img create -q -f qcow2 s.qcow2 8M && "
                  "qemu-img rebase -u -b s.qcow2 -F qcow2 s.qcow2");

  assert_same_info (dir, "info --output=json s.qcow2", NULL);
  assert_qemu_fails (dir, "info --backing-chain s.qcow2");
  assert_fails_naming (dir, "info --backing-chain s.qcow2", "s.qcow2");
  assert_fails_naming (dir, "map s.qcow2", "s.qcow2");
}

static void
test_json_backing (void)
{
  g_autofree char *dir = NULL;

  if (!cli_driver_available ("qcow2"))
    return;
  dir = make_dir ("json-backing",
                  "qemu-img create -q -f raw secret.raw 1M && "
                  "qemu-img create -q -f qcow2 j.qcow2 1M && qemu-img rebase -u -b "
                  "'json:{\"driver\":\"raw\",\"file\":{\"driver\":\"file\","
                  "\"filename\":\"secret.raw\"}}' -F raw j.qcow2");

  /* The name itself is shown byte for byte; following it is refused (qemu-img follows
   * it: a deliberate difference). */
  assert_same_info (dir, "info --output=json j.qcow2", NULL);
  assert_fails_naming (dir, "info --backing-chain j.qcow2", "j.qcow2");
  assert_fails_naming (dir, "map j.qcow2", "j.qcow2");
}

static void
test_malformed (void)
{
  g_autofree char *dir = NULL;

  if (!cli_driver_available ("qcow2"))
    return;
  dir = make_dir ("malformed",
                  "(printf 'QFI\\373'; head -c 400 /dev/urandom) > garbage.qcow2 && "
                  "(printf 'QFI\\373\\0\\0\\0\\3'; head -c 200 /dev/zero) > zeros.qcow2 && "
                  "qemu-img create -q -f qcow2 good.qcow2 8M && "
                  "head -c 40 good.qcow2 > short.qcow2");

  /* The magic says qcow2: a bad header is an error, never a fallback to raw. */
  for (guint i = 0; i < 3; i++)
    {
      const char *name = (const char *[]) { "garbage.qcow2", "zeros.qcow2", "short.qcow2" }[i];
      g_autofree char *info = g_strdup_printf ("info %s", name);
      g_autofree char *json = g_strdup_printf ("info --output=json %s", name);
      g_autofree char *map = g_strdup_printf ("map %s", name);

      assert_qemu_fails (dir, info);
      assert_fails_naming (dir, info, name);
      assert_fails_naming (dir, json, name);
      assert_fails_naming (dir, map, name);
    }
}

static void
test_truncated (void)
{
  g_autofree char *dir = NULL;
  g_auto(CliResult) s = { 0 };

  if (!cli_driver_available ("qcow2"))
    return;
  dir = make_dir ("truncated",
                  "qemu-img create -q -f qcow2 t.qcow2 8M && "
                  "qemu-io -f qcow2 -c 'write -P 1 0 4M' t.qcow2 && "
                  "truncate -s 150000 t.qcow2");

  /* qemu-img reads the missing tables as zeros; Strata may refuse instead, but must not
   * hang and must name the file when it does. */
  cli_run_strata (&s, dir, "map --output=json t.qcow2");
  g_assert_cmpint (s.rc, !=, 124);
  if (s.rc != 0)
    {
      g_assert_cmpint (s.rc, ==, 1);
      g_assert_nonnull (strstr (s.err, "t.qcow2"));
    }
  cli_result_clear (&s);
  cli_run_strata (&s, dir, "info t.qcow2");
  g_assert_cmpint (s.rc, !=, 124);
  if (s.rc != 0)
    g_assert_nonnull (strstr (s.err, "t.qcow2"));
}

/* A qemu-io reading its commands from a pipe keeps the image open, with its locks. */
static GPid
start_qemu_io (const char *dir, const char *format, const char *file, int *stdin_fd)
{
  g_autoptr(GError) error = NULL;
  const char *argv[] = { "qemu-io", "-f", format, file, NULL };
  GPid pid;

  if (!g_spawn_async_with_pipes (dir, (char **) argv, NULL,
                                 G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD |
                                 G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, &pid, stdin_fd,
                                 NULL, NULL, &error))
    g_error ("could not start qemu-io: %s", error->message);

  /* Wait until it holds all its locks (however long a loaded machine takes). */
  {
    g_autofree char *path = g_build_filename (dir, file, NULL);

    tu_wait_qemu_rw_locks (path, format, pid);
  }
  return pid;
}

static void
stop_qemu_io (GPid pid, int stdin_fd)
{
  int status;

  close (stdin_fd);
  kill (pid, SIGTERM);
  waitpid (pid, &status, 0);
  g_spawn_close_pid (pid);
}

static void
check_locked (const char *dir, const char *format, const char *file)
{
  g_autofree char *info = g_strdup_printf ("info %s", file);
  g_autofree char *info_u = g_strdup_printf ("info -U --strata-keys %s", file);
  g_autofree char *keys_u = g_strdup_printf ("info -U --strata-keys --output=json %s", file);
  g_autofree char *json_u = g_strdup_printf ("info -U --output=json %s", file);
  g_autofree char *map = g_strdup_printf ("map %s", file);
  g_autofree char *map_u = g_strdup_printf ("map -U --output=json %s", file);
  g_auto(CliResult) s = { 0 };
  g_auto(CliResult) q = { 0 };
  int stdin_fd;
  GPid pid = start_qemu_io (dir, format, file, &stdin_fd);

  /* A raw image held by QEMU shares writes, so qemu-img reads it without -U; a qcow2 image
   * does not. Strata is stricter for raw: it refuses too. */
  if (strcmp (format, "raw") != 0)
    assert_qemu_fails (dir, info);
  assert_fails_naming (dir, info, file);
  assert_fails_naming (dir, map, file);
  /* In qemu-img's words: 'Failed to get shared "write" lock', 'Is another process using
   * the image [FILE]?'. */
  if (strcmp (format, "raw") != 0)
    {
      g_autofree char *check = g_strdup_printf ("check %s", file);
      g_autofree char *convert = g_strdup_printf ("convert -O raw %s out.raw", file);
      g_autofree char *rebase = g_strdup_printf ("rebase -u -b '' %s", file);

      assert_same_error (dir, info);
      assert_same_error (dir, map);
      assert_same_error (dir, check);
      assert_same_error (dir, convert);
      assert_same_error (dir, rebase);
    }

  cli_run_strata (&s, dir, info_u);
  g_assert_cmpint (s.rc, ==, 0);
  g_assert_nonnull (strstr (s.out, "in use: yes"));
  cli_result_clear (&s);

  cli_run_strata (&s, dir, keys_u);
  g_assert_cmpint (s.rc, ==, 0);
  g_assert_nonnull (strstr (s.out, "\"strata-in-use\": true"));
  cli_run_qemu (&q, dir, json_u);
  g_assert_cmpint (q.rc, ==, 0);
  cli_assert_json_matches (json_u, q.out, s.out, NULL);
  cli_result_clear (&s);
  /* Without --strata-keys, qemu-img's keys only. */
  cli_run_strata (&s, dir, json_u);
  g_assert_cmpint (s.rc, ==, 0);
  g_assert_null (strstr (s.out, "strata-"));
  cli_result_clear (&s);

  cli_run_strata (&s, dir, map_u);
  g_assert_cmpint (s.rc, ==, 0);

  stop_qemu_io (pid, stdin_fd);

  /* Released: no -U needed, and no longer reported in use. */
  cli_result_clear (&s);
  cli_run_strata (&s, dir, info_u);
  g_assert_cmpint (s.rc, ==, 0);
  g_assert_null (strstr (s.out, "in use"));
}

static void
test_locked_raw (void)
{
  g_autofree char *dir = make_dir ("locked-raw", "qemu-img create -q -f raw held.raw 8M");

  check_locked (dir, "raw", "held.raw");
}

static void
test_locked_qcow2 (void)
{
  g_autofree char *dir = NULL;

  if (!cli_driver_available ("qcow2"))
    return;
  dir = make_dir ("locked-qcow2", "qemu-img create -q -f qcow2 held.qcow2 8M");
  check_locked (dir, "qcow2", "held.qcow2");
}

static void
test_protected (void)
{
  g_autofree char *dir = make_dir ("protected",
                                   "qemu-img create -q -f raw ro.raw 1M && chmod a-w ro.raw");
  g_auto(CliResult) s = { 0 };

  cli_run_strata (&s, dir, "info --strata-keys ro.raw");
  g_assert_cmpint (s.rc, ==, 0);
  g_assert_nonnull (strstr (s.out, "protected: yes"));
  cli_result_clear (&s);
  cli_run_strata (&s, dir, "info --strata-keys --output=json ro.raw");
  g_assert_nonnull (strstr (s.out, "\"strata-protected\": true"));
}

int
main (int argc, char **argv)
{
  tu_init (&argc, &argv);

  g_test_add_func ("/cli/errors/missing-file", test_missing_file);
  g_test_add_func ("/cli/errors/missing-backing", test_missing_backing);
  g_test_add_func ("/cli/errors/loop-two", test_loop_two);
  g_test_add_func ("/cli/errors/loop-self", test_loop_self);
  g_test_add_func ("/cli/errors/json-backing", test_json_backing);
  g_test_add_func ("/cli/errors/malformed-header", test_malformed);
  g_test_add_func ("/cli/errors/truncated", test_truncated);
  g_test_add_func ("/cli/errors/locked-raw", test_locked_raw);
  g_test_add_func ("/cli/errors/locked-qcow2", test_locked_qcow2);
  g_test_add_func ("/cli/errors/protected", test_protected);

  return g_test_run ();
}
