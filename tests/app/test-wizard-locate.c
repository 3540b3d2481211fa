/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-locate-wizard.h"
#include "strata-wizards.h"
#include "test-wizard-util.h"

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

static void
test_locate (void)
{
  g_autofree char *dir = g_strdup (tu_path ("locate"));
  g_autofree char *overlay = g_build_filename (dir, "img01.qcow2", NULL);
  g_autofree char *want = g_strdup (tu_path ("locate-want.raw"));
  g_autofree char *problem = NULL;
  g_autofree char *info = NULL;
  g_autofree char *shot = NULL;
  g_autoptr(StrataJobManager) jobs = strata_job_manager_new ();
  g_autoptr(GError) error = NULL;
  GtkWidget *wizard;
  gboolean succeeded;

  g_mkdir_with_parents (dir, 0755);
  tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 base.qcow2 16M && "
             "qemu-io -f qcow2 -c 'write -P 0x61 0 4M' base.qcow2 >/dev/null && "
             "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 img01.qcow2 && "
             "qemu-io -f qcow2 -c 'write -P 0x62 1M 1M' img01.qcow2 >/dev/null && "
             "qemu-img convert -O raw img01.qcow2 '%s' && "
             "mkdir moved && mv base.qcow2 moved/renamed.qcow2 && "
             "qemu-img create -q -f qcow2 small.qcow2 1M", dir, want);

  g_assert_true (strata_wizard_is_available ("locate"));
  wizard = GTK_WIDGET (strata_wizard_open ("locate", NULL, NULL, jobs, overlay, &error));
  g_assert_no_error (error);
  problem = string_prop (wizard, "problem");
  g_assert_nonnull (strstr (problem, "Type the path"));

  /* A file too small to be the base: said plainly. */
  gtk_widget_activate_action (wizard, "wizard.base-path", "s", "small.qcow2");
  gtk_widget_activate_action (wizard, "wizard.confirmed", NULL);
  g_free (problem);
  problem = string_prop (wizard, "problem");
  g_assert_nonnull (strstr (problem, "smaller than the overlay"));
  gtk_widget_activate_action (wizard, "wizard.confirmed", NULL);

  /* The right file still needs the confirmation. */
  gtk_widget_activate_action (wizard, "wizard.base-path", "s", "moved/renamed.qcow2");
  g_free (problem);
  problem = string_prop (wizard, "problem");
  g_assert_nonnull (strstr (problem, "This Is the Right File"));
  g_assert_false (ready (wizard));
  gtk_widget_activate_action (wizard, "wizard.confirmed", NULL);
  g_assert_true (ready (wizard));
  shot = wt_screenshot (wizard, "locate-1-setup");

  gtk_widget_activate_action (wizard, "wizard.start", NULL);
  wt_wait_page (wizard, "result");
  g_object_get (wizard, "succeeded", &succeeded, NULL);
  g_assert_true (succeeded);
  g_free (shot);
  shot = wt_screenshot (wizard, "locate-2-result");

  info = tu_run_ok ("qemu-img info --output=json '%s'", overlay);
  g_assert_nonnull (strstr (info, "\"backing-filename\": \"moved/renamed.qcow2\""));
  tu_assert_qemu_check_clean (overlay);
  tu_assert_qemu_compare (overlay, want);
  gtk_window_destroy (GTK_WINDOW (wizard));
}

int
main (int argc, char **argv)
{
  wt_init (&argc, &argv);

  g_test_add_func ("/wizard/locate/moved-base", test_locate);

  return g_test_run ();
}
