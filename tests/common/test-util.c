/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "test-util.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

  /* Messages compared with qemu-img's (strerror texts, numbers with a decimal point) and
   * searched for English words must not follow the user's language: strata-img calls
   * setlocale(), qemu-img does not. The children inherit this. */
  g_setenv ("LC_ALL", "C.UTF-8", TRUE);
  g_unsetenv ("LANGUAGE");
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

gboolean
tu_byte_locked (const char *path,
                guint       byte)
{
  struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1 };
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  int rc;

  if (fd < 0)
    g_error ("%s: %s", path, g_strerror (errno));
  rc = fcntl (fd, F_OFD_GETLK, &fl);
  close (fd);
  if (rc != 0)
    g_error ("%s: F_OFD_GETLK: %s", path, g_strerror (errno));
  return fl.l_type != F_UNLCK;
}

/* Alive and not a zombie (where nothing reaps orphans, an exited qemu-io stays one). */
static gboolean
pid_running (GPid pid)
{
  g_autofree char *stat_path = g_strdup_printf ("/proc/%d/stat", (int) pid);
  g_autofree char *stat = NULL;
  const char *p;

  if (kill (pid, 0) != 0)
    return FALSE;
  if (!g_file_get_contents (stat_path, &stat, NULL, NULL))
    return TRUE;
  p = strrchr (stat, ')');
  return p == NULL || p[1] == '\0' || p[2] != 'Z';
}

/* A hang guard only: a loaded machine may take long, but not this long. */
#define LOCK_WAIT_MAX_US (300 * G_USEC_PER_SEC)

void
tu_wait_qemu_rw_locks (const char *path,
                       const char *format,
                       GPid        pid)
{
  gboolean raw = g_strcmp0 (format, "raw") == 0;
  gint64 deadline = g_get_monotonic_time () + LOCK_WAIT_MAX_US;

  while (!tu_byte_locked (path, 101) || (!raw && !tu_byte_locked (path, 203)))
    {
      if (!pid_running (pid))
        g_error ("qemu-io (pid %d) exited before it locked %s", (int) pid, path);
      if (g_get_monotonic_time () > deadline)
        g_error ("qemu-io (pid %d) did not lock %s in %d s", (int) pid, path,
                 (int) (LOCK_WAIT_MAX_US / G_USEC_PER_SEC));
      g_usleep (20000);
    }
}

struct _TuHolder
{
  char *dir;
  char *name;
  char *image;
};

static GPid
read_pid (const char *dir, const char *name, const char *ext)
{
  g_autofree char *file = g_strdup_printf ("%s/%s.%s", dir, name, ext);
  g_autofree char *text = NULL;

  if (!g_file_get_contents (file, &text, NULL, NULL))
    g_error ("no pid in %s", file);
  return (GPid) atoi (text);
}

TuHolder *
tu_hold_with_qemu_io (const char *dir,
                      const char *image,
                      const char *format)
{
  TuHolder *h = g_new0 (TuHolder, 1);
  g_autofree char *base = g_path_get_basename (image);

  h->dir = g_strdup (dir);
  h->name = g_strdup_printf ("hold-%s", base);
  h->image = g_path_is_absolute (image) ? g_strdup (image)
                                        : g_build_filename (dir, image, NULL);
  /* qemu-io blocks opening the FIFO until the writer (a sleep) opens it; the sleep keeps it
   * open, so qemu-io waits for commands with the image open read-write. */
  g_free (tu_run_ok ("cd '%s' && rm -f %s.fifo && mkfifo %s.fifo && "
                     "{ qemu-io -f %s '%s' < %s.fifo > %s.log 2>&1 & echo $! > %s.pid; } && "
                     "{ sleep 600 > %s.fifo 2>/dev/null & echo $! > %s.wpid; }",
                     dir, h->name, h->name, format, image, h->name, h->name, h->name, h->name,
                     h->name));
  tu_wait_qemu_rw_locks (h->image, format, read_pid (dir, h->name, "pid"));
  return h;
}

void
tu_holder_release (TuHolder *h)
{
  gint64 deadline = g_get_monotonic_time () + LOCK_WAIT_MAX_US;
  GPid pid = read_pid (h->dir, h->name, "pid");

  kill (read_pid (h->dir, h->name, "wpid"), SIGTERM);
  /* Released when its locks are gone (an unreaped zombie holds none). */
  while (tu_byte_locked (h->image, 100) || tu_byte_locked (h->image, 101))
    {
      if (g_get_monotonic_time () > deadline)
        g_error ("qemu-io (pid %d) did not release %s", (int) pid, h->image);
      g_usleep (20000);
    }
  g_free (h->dir);
  g_free (h->name);
  g_free (h->image);
  g_free (h);
}

gboolean
tu_nobody_can_run (const char *dir)
{
  g_autofree char *err = NULL;
  g_autofree char *reason = NULL;

  if (geteuid () != 0)
    reason = g_strdup ("switching to the user nobody needs root");
  else if (tu_run (NULL, &err, TU_AS_NOBODY " true") != 0)
    reason = g_strdup_printf ("setpriv cannot switch to nobody here: %s", err);
  else if (tu_run (NULL, NULL, TU_AS_NOBODY " '%s' --version", tu_strata_img ()) != 0)
    reason = g_strdup_printf ("nobody cannot run %s (a folder on its path is closed to "
                              "others)", tu_strata_img ());
  else if (tu_run (NULL, NULL, TU_AS_NOBODY " test -x '%s'", dir) != 0)
    reason = g_strdup_printf ("nobody cannot enter %s (a folder on its path is closed to "
                              "others)", dir);

  if (reason == NULL)
    return TRUE;
  g_test_skip (reason);
  return FALSE;
}

gboolean
tu_fs_punches_holes (const char *dir)
{
  g_autofree char *path = g_build_filename (dir, ".punch-probe", NULL);
  g_autofree guint8 *data = g_malloc (256 * 1024);
  struct stat before, after;
  gboolean punched = FALSE;
  int fd = open (path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

  g_assert_cmpint (fd, >=, 0);
  memset (data, 0x5a, 256 * 1024);
  if (write (fd, data, 256 * 1024) == 256 * 1024 && fsync (fd) == 0 &&
      fstat (fd, &before) == 0 &&
      fallocate (fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 64 * 1024, 128 * 1024) == 0 &&
      fsync (fd) == 0 && fstat (fd, &after) == 0)
    punched = after.st_blocks < before.st_blocks;
  close (fd);
  g_unlink (path);
  return punched;
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
