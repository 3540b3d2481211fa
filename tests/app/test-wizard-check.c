/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-check-wizard.h"
#include "strata-wizards.h"
#include "test-wizard-util.h"

/*
 * A qcow2 image made by QEMU, then given one leaked cluster: the refcount of a cluster past
 * everything the image uses is set to 1 (the file grows to hold it). `qemu-img check` must
 * report exactly that leak before the test relies on it.
 */
static char *
make_leaky (const char *name)
{
  char *path = g_strdup (tu_path (name));
  int status;

  tu_run_ok ("qemu-img create -q -f qcow2 '%s' 16M && "
             "qemu-io -f qcow2 -c 'write -P 0x33 0 1M' '%s' >/dev/null", path, path);
  tu_run_ok ("/usr/bin/python3 - '%s' <<'PY'\n"
             "import struct, sys, os\n"
             "p = sys.argv[1]\n"
             "f = open(p, 'r+b')\n"
             "h = f.read(104)\n"
             "cbits = struct.unpack('>I', h[20:24])[0]\n"
             "rt = struct.unpack('>Q', h[48:56])[0]\n"
             "f.seek(rt)\n"
             "rb = struct.unpack('>Q', f.read(8))[0]\n"
             "size = os.path.getsize(p)\n"
             "leak = (size >> cbits) + 1\n"
             "f.seek(rb + 2 * leak)\n"
             "f.write(struct.pack('>H', 1))\n"
             "f.truncate((leak + 1) << cbits)\n"
             "f.close()\n"
             "PY", path);
  status = tu_run (NULL, NULL, "qemu-img check '%s' >/dev/null 2>&1", path);
  g_assert_cmpint (status, ==, 3);
  return path;
}

static GtkWidget *
open_wizard (StrataJobManager *jobs,
             const char       *path)
{
  g_autoptr(GError) error = NULL;
  GtkWindow *window;

  window = strata_wizard_open ("check", NULL, NULL, jobs, path, &error);
  g_assert_no_error (error);
  return GTK_WIDGET (window);
}

static char *
string_prop (GtkWidget  *wizard,
             const char *name)
{
  char *text = NULL;

  g_object_get (wizard, name, &text, NULL);
  return text;
}

static void
test_check_and_repair (void)
{
  g_autofree char *path = make_leaky ("leaky.qcow2");
  g_autofree char *clean = g_strdup (tu_path ("clean.qcow2"));
  g_autofree char *summary = NULL;
  g_autofree char *shot = NULL;
  g_autoptr(StrataJobManager) jobs = strata_job_manager_new ();
  GtkWidget *wizard;
  gboolean can_repair;

  g_assert_true (strata_wizard_is_available ("check"));
  tu_run_ok ("qemu-img convert -O qcow2 '%s' '%s'", path, clean);

  wizard = open_wizard (jobs, path);
  shot = wt_screenshot (wizard, "check-1-setup");
  gtk_widget_activate_action (wizard, "wizard.start", NULL);
  wt_wait_page (wizard, "result");
  summary = string_prop (wizard, "summary");
  g_assert_nonnull (strstr (summary, "1 cluster is allocated but unused"));
  g_object_get (wizard, "can-repair", &can_repair, NULL);
  g_assert_true (can_repair);
  g_free (shot);
  shot = wt_screenshot (wizard, "check-2-leaks");

  /* Reading changed nothing: QEMU still sees the leak. Then repair from the result page. */
  g_assert_cmpint (tu_run (NULL, NULL, "qemu-img check '%s' >/dev/null 2>&1", path), ==, 3);
  gtk_widget_activate_action (wizard, "wizard.repair", NULL);
  wt_wait_page (wizard, "progress");
  wt_wait_page (wizard, "result");
  g_free (summary);
  summary = string_prop (wizard, "summary");
  g_assert_nonnull (strstr (summary, "1 leaked cluster was freed"));
  g_free (shot);
  shot = wt_screenshot (wizard, "check-3-repaired");

  tu_assert_qemu_check_clean (path);
  tu_assert_qemu_compare (path, clean);
  gtk_window_destroy (GTK_WINDOW (wizard));

  /* A clean image says so, and offers no repair. */
  wizard = open_wizard (jobs, clean);
  gtk_widget_activate_action (wizard, "wizard.start", NULL);
  wt_wait_page (wizard, "result");
  g_free (summary);
  summary = string_prop (wizard, "summary");
  g_assert_nonnull (strstr (summary, "No errors and no leaks"));
  g_object_get (wizard, "can-repair", &can_repair, NULL);
  g_assert_false (can_repair);
  gtk_window_destroy (GTK_WINDOW (wizard));
}

int
main (int argc, char **argv)
{
  wt_init (&argc, &argv);

  g_test_add_func ("/wizard/check/check-and-repair", test_check_and_repair);

  return g_test_run ();
}
