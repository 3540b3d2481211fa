/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "test-util.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *scratch_dir;

static void
remove_tree (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  if (dir != NULL)
    {
      while ((name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);

          if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
            remove_tree (child);
          else
            g_unlink (child);
        }
    }
  g_rmdir (path);
}

static void
cleanup_scratch (void)
{
  if (scratch_dir != NULL && g_strcmp0 (g_getenv ("STRATA_TEST_KEEP"), "1") != 0)
    {
      g_autofree char *cmd = g_strdup_printf ("chmod -R u+rwx '%s' 2>/dev/null", scratch_dir);

      (void) !system (cmd);
      remove_tree (scratch_dir);
    }
}

void
tu_init (int *argc, char ***argv)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *prg = NULL;
  g_autofree char *tmpl = NULL;
  const char *base = g_getenv ("STRATA_TEST_TMPDIR");

  g_test_init (argc, argv, NULL);

  prg = g_path_get_basename ((*argv)[0]);
  tmpl = g_strdup_printf ("%s/strata-%s-XXXXXX", base ? base : g_get_tmp_dir (), prg);
  scratch_dir = g_mkdtemp (tmpl) ? g_steal_pointer (&tmpl) : NULL;
  g_assert_nonnull (scratch_dir);
  atexit (cleanup_scratch);
}

const char *
tu_dir (void)
{
  return scratch_dir;
}

const char *
tu_path (const char *name)
{
  static GPtrArray *paths;
  char *p = g_build_filename (scratch_dir, name, NULL);

  if (paths == NULL)
    paths = g_ptr_array_new ();
  g_ptr_array_add (paths, p);
  return p;
}

const char *
tu_strata_img (void)
{
  const char *p = g_getenv ("STRATA_IMG");

  g_assert_nonnull (p);
  return p;
}

static int
run_v (char **out, char **err, const char *fmt, va_list args)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *cmd = g_strdup_vprintf (fmt, args);
  g_autofree char *sout = NULL;
  g_autofree char *serr = NULL;
  const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
  int status = 0;

  if (!g_spawn_sync (scratch_dir, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                     &sout, &serr, &status, &error))
    g_error ("could not run %s: %s", cmd, error->message);

  if (g_test_verbose ())
    g_printerr ("$ %s\n%s%s", cmd, sout, serr);

  if (out)
    *out = g_steal_pointer (&sout);
  if (err)
    *err = g_steal_pointer (&serr);

  if (WIFEXITED (status))
    return WEXITSTATUS (status);
  return 128 + (WIFSIGNALED (status) ? WTERMSIG (status) : 0);
}

int
tu_run (char **out, char **err, const char *fmt, ...)
{
  va_list args;
  int rc;

  va_start (args, fmt);
  rc = run_v (out, err, fmt, args);
  va_end (args);
  return rc;
}

char *
tu_run_ok (const char *fmt, ...)
{
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *cmd = NULL;
  va_list args;
  int rc;

  va_start (args, fmt);
  cmd = g_strdup_vprintf (fmt, args);
  va_end (args);

  rc = tu_run (&out, &err, "%s", cmd);
  if (rc != 0)
    g_error ("command failed (exit %d): %s\nstdout: %s\nstderr: %s", rc, cmd, out, err);
  return g_steal_pointer (&out);
}

void
tu_assert_qemu_check_clean (const char *path)
{
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  int rc = tu_run (&out, &err, "qemu-img check -U '%s'", path);

  if (rc != 0)
    g_error ("qemu-img check %s: exit %d\n%s%s", path, rc, out, err);
}

void
tu_assert_qemu_compare (const char *a, const char *b)
{
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  int rc = tu_run (&out, &err, "qemu-img compare -U '%s' '%s'", a, b);

  if (rc != 0)
    g_error ("qemu-img compare %s %s: exit %d\n%s%s", a, b, rc, out, err);
}

void
tu_qemu_create_encrypted (const char *path,
                          const char *encrypt_opts,
                          const char *size)
{
  /* Each try measures afresh; a handful is enough where a loaded machine is the cause. */
  const guint max_tries = 8;
  g_autofree char *cmd = g_strdup_printf ("qemu-img create -q -f qcow2 " TU_ENCRYPT_SECRET_ARGS
                                          " -o %s,encrypt.key-secret=sec0 '%s' %s",
                                          encrypt_opts, path, size);

  for (guint i = 1; ; i++)
    {
      g_autofree char *out = NULL;
      g_autofree char *err = NULL;
      g_autofree char *full = NULL;
      int rc = tu_run (&out, &err, "%s", cmd);

      if (rc == 0)
        return;

      full = g_path_is_absolute (path) ? g_strdup (path) : g_build_filename (scratch_dir, path, NULL);
      g_unlink (full);
      if (strstr (err, "Unable to get accurate CPU usage") == NULL || i == max_tries)
        g_error ("command failed (exit %d, try %u of %u): %s\nstderr: %s", rc, i, max_tries,
                 cmd, err);
      g_test_message ("qemu-img could not time LUKS key derivation (try %u): %s", i, err);
    }
}

char *
tu_file_checksum (const char *path)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GMappedFile) mf = g_mapped_file_new (path, FALSE, &error);

  g_assert_no_error (error);
  return g_compute_checksum_for_data (G_CHECKSUM_SHA256,
                                      (const guchar *) g_mapped_file_get_contents (mf),
                                      g_mapped_file_get_length (mf));
}

gboolean
tu_file_exists (const char *path)
{
  return g_file_test (path, G_FILE_TEST_EXISTS);
}

static int
compare_str (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(char **) a, *(char **) b);
}

char *
tu_list_dir (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, compare_str);
  g_ptr_array_add (names, NULL);
  return g_strjoinv (" ", (char **) names->pdata);
}
