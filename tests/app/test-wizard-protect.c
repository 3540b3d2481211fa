/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <glib/gstdio.h>
#include <sys/stat.h>

#include "strata-delete-wizard.h"
#include "strata-protect-wizard.h"
#include "strata-wizards.h"
#include "test-wizard-util.h"

/* base.qcow2 with two overlays, made by QEMU, in @dir. */
static char *
make_chain (const char *dir)
{
  g_mkdir_with_parents (dir, 0755);
  tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 base.qcow2 16M && "
             "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 img01.qcow2 && "
             "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 img02.qcow2", dir);
  return g_build_filename (dir, "base.qcow2", NULL);
}

static GtkWidget *
open_wizard (const char       *name,
             StrataJobManager *jobs,
             const char       *path)
{
  g_autoptr(GError) error = NULL;
  GtkWindow *window;

  window = strata_wizard_open (name, NULL, NULL, jobs, path, &error);
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

static gboolean
ready (GtkWidget *wizard)
{
  gboolean value;

  g_object_get (wizard, "ready", &value, NULL);
  return value;
}

static gboolean
searched_cb (gpointer data)
{
  g_autofree char *text = string_prop (data, "problem");

  return text == NULL || strstr (text, "Looking for") == NULL;
}

static guint
mode_of (const char *path)
{
  struct stat st;

  g_assert_cmpint (g_stat (path, &st), ==, 0);
  return st.st_mode & 0777;
}

static void
test_protect_unprotect (void)
{
  g_autofree char *dir = g_strdup (tu_path ("protect"));
  g_autofree char *base = make_chain (dir);
  g_autofree char *problem = NULL;
  g_autofree char *shot = NULL;
  g_autoptr(StrataJobManager) jobs = strata_job_manager_new ();
  GtkWidget *wizard;
  guint n;

  g_assert_true (strata_wizard_is_available ("protect"));
  g_assert_true (strata_wizard_is_available ("unprotect"));
  g_assert_cmpuint (mode_of (base) & 0200, !=, 0);

  wizard = open_wizard ("protect", jobs, base);
  wt_wait (searched_cb, wizard);
  g_object_get (wizard, "n-overlays", &n, NULL);
  g_assert_cmpuint (n, ==, 2);
  g_assert_true (ready (wizard));
  shot = wt_screenshot (wizard, "protect-1-setup");
  gtk_widget_activate_action (wizard, "wizard.start", NULL);
  wt_wait_page (wizard, "result");
  g_free (shot);
  shot = wt_screenshot (wizard, "protect-2-result");
  g_assert_cmpuint (mode_of (base) & 0222, ==, 0);
  tu_assert_qemu_check_clean (base);
  gtk_window_destroy (GTK_WINDOW (wizard));

  /* Protecting again is refused; unprotecting warns about the two overlays. */
  wizard = open_wizard ("protect", jobs, base);
  wt_wait (searched_cb, wizard);
  problem = string_prop (wizard, "problem");
  g_assert_nonnull (strstr (problem, "already protected"));
  gtk_window_destroy (GTK_WINDOW (wizard));

  wizard = open_wizard ("unprotect", jobs, base);
  wt_wait (searched_cb, wizard);
  g_free (problem);
  problem = string_prop (wizard, "problem");
  g_assert_nonnull (strstr (problem, "corrupts the 2 overlays"));
  g_assert_true (ready (wizard));
  g_free (shot);
  shot = wt_screenshot (wizard, "unprotect-1-setup");
  gtk_widget_activate_action (wizard, "wizard.start", NULL);
  wt_wait_page (wizard, "result");
  g_assert_cmpuint (mode_of (base) & 0200, !=, 0);
  gtk_window_destroy (GTK_WINDOW (wizard));
}

static void
test_delete (void)
{
  g_autofree char *dir = g_strdup (tu_path ("delete"));
  g_autofree char *base = make_chain (dir);
  g_autofree char *img02 = g_build_filename (dir, "img02.qcow2", NULL);
  g_autofree char *problem = NULL;
  g_autofree char *shot = NULL;
  g_autofree char *trash_dir = NULL;
  g_autofree char *sum = NULL;
  g_autoptr(StrataJobManager) jobs = strata_job_manager_new ();
  GtkWidget *wizard;
  gboolean succeeded;

  g_assert_true (strata_wizard_is_available ("delete"));

  /* A base with overlays is refused, naming how many depend on it. */
  wizard = open_wizard ("delete", jobs, base);
  wt_wait (searched_cb, wizard);
  problem = string_prop (wizard, "problem");
  g_assert_nonnull (strstr (problem, "base.qcow2 is the base of 2 other images"));
  g_assert_false (ready (wizard));
  shot = wt_screenshot (wizard, "delete-1-refused-base");
  gtk_window_destroy (GTK_WINDOW (wizard));

  /* An overlay goes to the trash, unchanged. */
  sum = tu_file_checksum (img02);
  wizard = open_wizard ("delete", jobs, img02);
  wt_wait (searched_cb, wizard);
  g_assert_true (ready (wizard));
  gtk_widget_activate_action (wizard, "wizard.start", NULL);
  wt_wait_page (wizard, "result");
  g_object_get (wizard, "succeeded", &succeeded, NULL);
  if (!succeeded)
    {
      g_autofree char *summary = string_prop (wizard, "summary");

      /* Only a machine without a usable trash gets here; the wizard said so. */
      g_assert_true (tu_file_exists (img02));
      gtk_window_destroy (GTK_WINDOW (wizard));
      g_test_skip (summary);
      return;
    }
  g_free (shot);
  shot = wt_screenshot (wizard, "delete-2-result");
  g_assert_false (tu_file_exists (img02));
  trash_dir = g_build_filename (g_get_user_data_dir (), "Trash", "files", "img02.qcow2", NULL);
  g_assert_true (tu_file_exists (trash_dir));
  {
    g_autofree char *sum_after = tu_file_checksum (trash_dir);

    g_assert_cmpstr (sum_after, ==, sum);
  }
  gtk_window_destroy (GTK_WINDOW (wizard));
}

int
main (int argc, char **argv)
{
  wt_init (&argc, &argv);

  g_test_add_func ("/wizard/protect/protect-unprotect", test_protect_unprotect);
  g_test_add_func ("/wizard/protect/delete", test_delete);

  return g_test_run ();
}
