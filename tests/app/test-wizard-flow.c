/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <sys/stat.h>

#include "strata-commit-wizard.h"
#include "strata-convert-wizard.h"
#include "strata-overlays-wizard.h"
#include "strata-rebase-wizard.h"
#include "strata-usage-bars.h"
#include "strata-wizards.h"
#include "test-wizard-util.h"

/*
 * The seed's whole flow through the wizards, one after the other as a user goes: a VMDK is
 * converted compressed, the result protected as a base, three overlays created from the
 * convert wizard's next step, one overlay rebased onto a copy of the base and committed into
 * that copy. QEMU judges every file; the numbers on each result page are the files'.
 */

static gboolean
ready_cb (gpointer data)
{
  gboolean ready;

  g_object_get (data, "ready", &ready, NULL);
  return ready;
}

static void
run (GtkWidget  *wizard,
     const char *shot_name)
{
  g_autofree char *shot = NULL;
  gboolean succeeded;

  wt_wait (ready_cb, wizard);
  gtk_widget_activate_action (wizard, "wizard.start", NULL);
  wt_wait_page (wizard, "result");
  g_object_get (wizard, "succeeded", &succeeded, NULL);
  g_assert_true (succeeded);
  shot = wt_screenshot (wizard, shot_name);
}

static void
assert_bar (GtkWidget  *wizard,
            guint       row,
            const char *path)
{
  StrataUsageBars *bars = STRATA_USAGE_BARS (wt_find_on_page (wizard, "result",
                                                              STRATA_TYPE_USAGE_BARS));
  g_autofree char *text = g_format_size (wt_disk_usage (path));

  g_assert_cmpstr (strata_usage_bars_get_size_text (bars, row), ==, text);
}

static GtkWidget *
find_toplevel (GType type)
{
  GListModel *toplevels = gtk_window_get_toplevels ();

  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      g_autoptr(GtkWidget) w = g_list_model_get_item (toplevels, i);

      if (G_TYPE_CHECK_INSTANCE_TYPE (w, type) && gtk_widget_get_visible (w))
        return w;
    }
  return NULL;
}

static void
test_flow (void)
{
  g_autofree char *dir = g_strdup (tu_path ("vms"));
  g_autofree char *vmdk = g_build_filename (dir, "debian.vmdk", NULL);
  g_autofree char *base = g_build_filename (dir, "debian.qcow2", NULL);
  g_autofree char *img01 = g_build_filename (dir, "img01.qcow2", NULL);
  g_autofree char *img02 = g_build_filename (dir, "img02.qcow2", NULL);
  g_autofree char *copy = g_build_filename (dir, "debian-img01.qcow2", NULL);
  g_autofree char *want01 = g_strdup (tu_path ("want01.raw"));
  g_autofree char *base_sum = NULL;
  g_autofree char *base_sum_after = NULL;
  g_autofree char *info = NULL;
  g_autoptr(StrataJobManager) jobs = strata_job_manager_new ();
  g_autoptr(StrataLibrary) library = strata_library_new ();
  g_autoptr(GError) error = NULL;
  GtkWidget *wizard;
  struct stat st;

  g_mkdir_with_parents (dir, 0755);
  tu_run_ok ("qemu-img create -q -f vmdk '%s' 128M && "
             "qemu-io -f vmdk -c 'write -P 0x42 0 16M' -c 'write -P 0x43 64M 8M' '%s' "
             ">/dev/null", vmdk, vmdk);
  g_assert_true (strata_library_add_folder (library, dir, FALSE, &error));
  g_assert_no_error (error);

  /* Convert, compressed. */
  wizard = GTK_WIDGET (strata_wizard_open ("convert", NULL, library, jobs, vmdk, &error));
  g_assert_no_error (error);
  gtk_widget_activate_action (wizard, "wizard.compression", "s", "zstd");
  run (wizard, "flow-1-converted");
  tu_assert_qemu_check_clean (base);
  tu_assert_qemu_compare (vmdk, base);
  assert_bar (wizard, 0, vmdk);
  assert_bar (wizard, 1, base);
  g_assert_cmpuint (wt_disk_usage (base), <, wt_disk_usage (vmdk));

  /* Protect it, then the next step: three overlays. */
  gtk_widget_activate_action (wizard, "wizard.protect-target", NULL);
  g_assert_cmpint (stat (base, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0222, ==, 0);
  gtk_widget_activate_action (wizard, "wizard.create-overlays", NULL);
  wizard = find_toplevel (STRATA_TYPE_OVERLAYS_WIZARD);
  g_assert_nonnull (wizard);
  g_assert_null (find_toplevel (STRATA_TYPE_CONVERT_WIZARD));
  gtk_widget_activate_action (wizard, "wizard.pattern", "s", "img##.qcow2");
  run (wizard, "flow-2-overlays");
  for (guint i = 1; i <= 3; i++)
    {
      g_autofree char *name = g_strdup_printf ("img%02u.qcow2", i);
      g_autofree char *path = g_build_filename (dir, name, NULL);

      tu_assert_qemu_check_clean (path);
      tu_assert_qemu_compare (path, base);
      assert_bar (wizard, i, path);
    }
  gtk_window_destroy (GTK_WINDOW (wizard));

  /* The guests write to their overlays. */
  tu_run_ok ("qemu-io -f qcow2 -c 'write -P 0x51 4M 2M' '%s' >/dev/null", img01);
  tu_run_ok ("qemu-io -f qcow2 -c 'write -P 0x52 8M 1M' '%s' >/dev/null", img02);
  tu_run_ok ("qemu-img convert -O raw '%s' '%s'", img01, want01);
  base_sum = tu_file_checksum (base);

  /* Rebase img01 onto a copy of the base (left writable, to commit into it). */
  wizard = GTK_WIDGET (strata_wizard_open ("rebase", NULL, library, jobs, img01, &error));
  g_assert_no_error (error);
  gtk_widget_activate_action (wizard, "wizard.protect-copy", NULL);
  run (wizard, "flow-3-rebased");
  info = tu_run_ok ("qemu-img info --output=json '%s'", img01);
  g_assert_nonnull (strstr (info, "\"backing-filename\": \"debian-img01.qcow2\""));
  tu_assert_qemu_compare (img01, want01);
  assert_bar (wizard, 0, img01);
  assert_bar (wizard, 1, copy);
  gtk_window_destroy (GTK_WINDOW (wizard));

  /* Commit img01 into its new base, the copy: nobody else uses it. */
  wizard = GTK_WIDGET (strata_wizard_open ("commit", NULL, library, jobs, img01, &error));
  g_assert_no_error (error);
  wt_wait (ready_cb, wizard);
  {
    g_autofree char *mode = NULL;
    guint n;

    g_object_get (wizard, "mode", &mode, "n-siblings", &n, NULL);
    g_assert_cmpuint (n, ==, 0);
    g_assert_cmpstr (mode, ==, "base");
  }
  run (wizard, "flow-4-committed");
  tu_assert_qemu_check_clean (img01);
  tu_assert_qemu_check_clean (copy);
  tu_assert_qemu_compare (copy, want01);
  tu_assert_qemu_compare (img01, want01);
  assert_bar (wizard, 2, img01);
  assert_bar (wizard, 5, copy);
  gtk_window_destroy (GTK_WINDOW (wizard));

  /* The base and the other overlays never changed. */
  base_sum_after = tu_file_checksum (base);
  g_assert_cmpstr (base_sum_after, ==, base_sum);
  tu_assert_qemu_check_clean (img02);
  g_assert_cmpuint (strata_job_manager_get_n_running (jobs), ==, 0);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (jobs)), ==, 4);
}

int
main (int argc, char **argv)
{
  wt_init (&argc, &argv);

  g_test_add_func ("/wizard/flow/seed", test_flow);

  return g_test_run ();
}
