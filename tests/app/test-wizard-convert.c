/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <sys/stat.h>

#include "strata-convert-wizard.h"
#include "strata-usage-bars.h"
#include "strata-wizards.h"
#include "test-wizard-util.h"

/* A VMDK made by QEMU: 64 MiB virtual, 8 MiB of a repeating pattern (compresses well),
 * 2 MiB of incompressible bytes, and zeros written explicitly. */
static char *
make_vmdk (const char *name)
{
  char *path = g_strdup (tu_path (name));

  tu_run_ok ("qemu-img create -q -f vmdk '%s' 64M", path);
  tu_run_ok ("qemu-io -f vmdk -c 'write -P 0x5a 0 8M' -c 'write -z 16M 4M' '%s' >/dev/null",
             path);
  tu_run_ok ("head -c 2097152 /dev/urandom > '%s.rnd' && "
             "qemu-io -f vmdk -c 'write -s %s.rnd 32M 2M' '%s' >/dev/null && rm '%s.rnd'",
             path, path, path, path);
  return path;
}

static GtkWidget *
open_wizard (StrataJobManager *jobs,
             const char       *source)
{
  g_autoptr(GError) error = NULL;
  GtkWindow *window;

  window = strata_wizard_open ("convert", NULL, NULL, jobs, source, &error);
  g_assert_no_error (error);
  g_assert_true (STRATA_IS_CONVERT_WIZARD (window));
  return GTK_WIDGET (window);
}

static gboolean
ready_cb (gpointer data)
{
  gboolean ready;

  g_object_get (data, "ready", &ready, NULL);
  return ready;
}

static char *
problem (GtkWidget *wizard)
{
  char *text = NULL;

  g_object_get (wizard, "problem", &text, NULL);
  return text;
}

/* The source has been read: the problem line no longer says "Reading…". */
static gboolean
inspected_cb (gpointer data)
{
  g_autofree char *text = problem (data);

  return text == NULL || strstr (text, "Reading") == NULL;
}

static void
test_convert_zstd (void)
{
  g_autofree char *source = make_vmdk ("vm.vmdk");
  g_autofree char *target = g_strdup (tu_path ("vm.qcow2"));
  g_autoptr(StrataJobManager) jobs = strata_job_manager_new ();
  g_autofree char *out = NULL;
  g_autofree char *summary = NULL;
  g_autofree char *expected = NULL;
  g_autofree char *source_text = NULL;
  g_autofree char *target_text = NULL;
  g_autofree char *shot = NULL;
  GtkWidget *wizard;
  StrataUsageBars *bars;
  gboolean succeeded;
  struct stat st;

  g_assert_true (strata_wizard_is_available ("convert"));

  wizard = open_wizard (jobs, source);
  wt_wait (ready_cb, wizard);
  g_object_get (wizard, "summary", &summary, NULL);
  g_assert_null (summary);

  /* The defaults follow the source: same folder, "vm.qcow2". */
  {
    g_autofree char *name = NULL;
    g_autofree char *folder = NULL;

    g_object_get (wizard, "target-name", &name, "target-folder", &folder, NULL);
    g_assert_cmpstr (name, ==, "vm.qcow2");
    g_assert_cmpstr (folder, ==, tu_dir ());
  }

  gtk_widget_activate_action (wizard, "wizard.compression", "s", "zstd");
  gtk_widget_activate_action (wizard, "wizard.cluster-size", "u", 131072);
  g_free (shot);
  shot = wt_screenshot (wizard, "convert-1-setup");

  gtk_widget_activate_action (wizard, "wizard.start", NULL);
  wt_wait_page (wizard, "result");
  g_object_get (wizard, "succeeded", &succeeded, "summary", &summary, NULL);
  g_assert_true (succeeded);
  g_free (shot);
  shot = wt_screenshot (wizard, "convert-2-result");

  /* QEMU judges the new image. */
  tu_assert_qemu_check_clean (target);
  tu_assert_qemu_compare (source, target);
  out = tu_run_ok ("qemu-img info --output=json '%s'", target);
  g_assert_nonnull (strstr (out, "\"compression-type\": \"zstd\""));
  g_assert_nonnull (strstr (out, "\"cluster-size\": 131072"));

  /* The numbers on the result page are the files'. */
  bars = STRATA_USAGE_BARS (wt_find (wizard, STRATA_TYPE_USAGE_BARS));
  g_assert_nonnull (bars);
  g_assert_cmpuint (strata_usage_bars_get_n_rows (bars), ==, 2);
  source_text = g_format_size (wt_disk_usage (source));
  target_text = g_format_size (wt_disk_usage (target));
  g_assert_cmpstr (strata_usage_bars_get_size_text (bars, 0), ==, source_text);
  g_assert_cmpstr (strata_usage_bars_get_size_text (bars, 1), ==, target_text);
  expected = g_strdup_printf ("%s → %s, −", source_text, target_text);
  g_assert_nonnull (strstr (summary, expected));
  g_assert_cmpuint (wt_disk_usage (target), <, wt_disk_usage (source));

  /* The job is listed as done. */
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (jobs)), ==, 1);
  g_assert_cmpuint (strata_job_manager_get_n_running (jobs), ==, 0);

  /* Next step: protect it as a base. */
  gtk_widget_activate_action (wizard, "wizard.protect-target", NULL);
  g_assert_cmpint (stat (target, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0222, ==, 0);
  g_free (shot);
  shot = wt_screenshot (wizard, "convert-3-protected");

  gtk_window_destroy (GTK_WINDOW (wizard));
}

static void
test_convert_validation (void)
{
  g_autofree char *source = make_vmdk ("check.vmdk");
  g_autoptr(StrataJobManager) jobs = strata_job_manager_new ();
  g_autofree char *text = NULL;
  g_autofree char *shot = NULL;
  GtkWidget *wizard;

  tu_run_ok ("qemu-img create -q -f qcow2 '%s' 1M", tu_path ("taken.qcow2"));

  wizard = open_wizard (jobs, source);
  wt_wait (ready_cb, wizard);

  /* An existing name is refused as it is typed, naming the file. */
  gtk_widget_activate_action (wizard, "wizard.target-name", "s", "taken.qcow2");
  text = problem (wizard);
  g_assert_nonnull (strstr (text, "taken.qcow2"));
  g_assert_nonnull (strstr (text, "already exists"));
  g_assert_false (gtk_widget_is_sensitive (wt_find_label (wizard, "C_onvert")));
  g_free (shot);
  shot = wt_screenshot (wizard, "convert-4-name-taken");

  /* Starting anyway does nothing. */
  gtk_widget_activate_action (wizard, "wizard.start", NULL);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (jobs)), ==, 0);

  gtk_widget_activate_action (wizard, "wizard.target-name", "s", "a/b.qcow2");
  g_free (text);
  text = problem (wizard);
  g_assert_nonnull (strstr (text, "/"));

  gtk_widget_activate_action (wizard, "wizard.target-name", "s", "");
  g_free (text);
  text = problem (wizard);
  g_assert_nonnull (strstr (text, "Type a name"));

  gtk_widget_activate_action (wizard, "wizard.target-folder", "s", "/nonexistent-folder");
  gtk_widget_activate_action (wizard, "wizard.target-name", "s", "fine.qcow2");
  g_free (text);
  text = problem (wizard);
  g_assert_nonnull (strstr (text, "/nonexistent-folder"));

  gtk_widget_activate_action (wizard, "wizard.target-folder", "s", tu_dir ());
  g_free (text);
  text = problem (wizard);
  g_assert_null (text);
  g_assert_true (ready_cb (wizard));

  gtk_window_destroy (GTK_WINDOW (wizard));
  g_assert_false (tu_file_exists (tu_path ("fine.qcow2")));
}

static void
test_convert_cancel (void)
{
  g_autofree char *source = make_vmdk ("cancel.vmdk");
  g_autoptr(StrataJobManager) jobs = strata_job_manager_new ();
  g_autofree char *summary = NULL;
  g_autofree char *before = tu_list_dir (tu_dir ());
  g_autofree char *after = NULL;
  g_autofree char *sum_before = tu_file_checksum (source);
  g_autofree char *sum_after = NULL;
  g_autofree char *shot = NULL;
  GtkWidget *wizard;
  GListModel *model = G_LIST_MODEL (jobs);
  g_autoptr(StrataJob) job = NULL;

  wizard = open_wizard (jobs, source);
  wt_wait (ready_cb, wizard);

  /* Hold the conversion at its first write into the temporary file, cancel it from the
   * progress page, then let it go on. */
  wt_block_first_write ("cancel.qcow2.strata-");
  gtk_widget_activate_action (wizard, "wizard.start", NULL);
  wt_wait_blocked ();
  g_free (shot);
  shot = wt_screenshot (wizard, "convert-5-progress");
  g_assert_cmpuint (strata_job_manager_get_n_running (jobs), ==, 1);
  g_assert_true (strata_job_manager_is_busy (jobs, tu_path ("cancel.qcow2")));
  g_assert_true (strata_job_manager_is_busy (jobs, source));

  summary = wt_cancel_blocked (wizard);
  g_assert_nonnull (strstr (summary, "Nothing was written"));
  job = g_list_model_get_item (model, 0);
  g_assert_cmpint (strata_job_manager_get_state (jobs, job), ==, STRATA_JOB_STATE_CANCELLED);
  g_free (shot);
  shot = wt_screenshot (wizard, "convert-6-cancelled");

  /* Nothing left behind, the source untouched. */
  after = tu_list_dir (tu_dir ());
  g_assert_cmpstr (after, ==, before);
  sum_after = tu_file_checksum (source);
  g_assert_cmpstr (sum_after, ==, sum_before);

  gtk_window_destroy (GTK_WINDOW (wizard));
}

static void
test_convert_source_in_use (void)
{
  g_autofree char *source = make_vmdk ("running.vmdk");
  g_autoptr(StrataJobManager) jobs = strata_job_manager_new ();
  g_autofree char *text = NULL;
  g_autofree char *shot = NULL;
  GtkWidget *wizard;
  GPid qemu;

  qemu = wt_hold (source, "vmdk", FALSE);

  wizard = open_wizard (jobs, source);
  /* The wizard says so before anything starts. */
  wt_wait (inspected_cb, wizard);
  text = problem (wizard);
  g_assert_nonnull (text);
  g_assert_nonnull (strstr (text, "running.vmdk is in use by a running virtual machine"));
  g_assert_false (ready_cb (wizard));
  g_free (shot);
  shot = wt_screenshot (wizard, "convert-7-source-in-use");

  gtk_window_destroy (GTK_WINDOW (wizard));
  wt_release (qemu);
}

static void
test_convert_to_vmdk (void)
{
  g_autofree char *source = make_vmdk ("export.vmdk");
  g_autofree char *qcow2 = g_strdup (tu_path ("export.qcow2"));
  g_autofree char *target = g_strdup (tu_path ("export-stream.vmdk"));
  g_autoptr(StrataJobManager) jobs = strata_job_manager_new ();
  g_autofree char *name = NULL;
  g_autofree char *text = NULL;
  g_autofree char *info = NULL;
  g_autofree char *shot = NULL;
  GtkWidget *wizard;
  gboolean succeeded;

  /* From a qcow2 made by QEMU, back to a streamOptimized VMDK. */
  tu_run_ok ("qemu-img convert -O qcow2 '%s' '%s'", source, qcow2);
  wizard = open_wizard (jobs, qcow2);
  wt_wait (ready_cb, wizard);

  /* The name follows the format. */
  gtk_widget_activate_action (wizard, "wizard.target-format", "s", "vmdk");
  g_object_get (wizard, "target-name", &name, NULL);
  g_assert_cmpstr (name, ==, "export-converted.vmdk");
  gtk_widget_activate_action (wizard, "wizard.target-name", "s", "export.vmdk");
  text = problem (wizard);
  g_assert_nonnull (strstr (text, "already exists"));

  gtk_widget_activate_action (wizard, "wizard.target-name", "s", "export-stream.vmdk");
  gtk_widget_activate_action (wizard, "wizard.compression", "s", "zstd");
  g_free (text);
  text = problem (wizard);
  g_assert_nonnull (strstr (text, "zlib only"));
  gtk_widget_activate_action (wizard, "wizard.compression", "s", "zlib");
  g_assert_true (ready_cb (wizard));
  shot = wt_screenshot (wizard, "convert-8-setup-vmdk");

  gtk_widget_activate_action (wizard, "wizard.start", NULL);
  wt_wait_page (wizard, "result");
  g_object_get (wizard, "succeeded", &succeeded, NULL);
  g_assert_true (succeeded);

  info = tu_run_ok ("qemu-img info --output=json '%s'", target);
  g_assert_nonnull (strstr (info, "\"format\": \"vmdk\""));
  g_assert_nonnull (strstr (info, "streamOptimized"));
  tu_assert_qemu_compare (source, target);

  gtk_window_destroy (GTK_WINDOW (wizard));
}

static gboolean
job_done_cb (gpointer data)
{
  return strata_job_manager_get_n_running (data) == 0;
}

static void
test_convert_close_while_running (void)
{
  g_autofree char *source = make_vmdk ("background.vmdk");
  g_autofree char *target = g_strdup (tu_path ("background.qcow2"));
  g_autoptr(StrataJobManager) jobs = strata_job_manager_new ();
  g_autoptr(StrataJob) job = NULL;
  g_autofree char *page = NULL;
  GtkWidget *wizard;

  wizard = open_wizard (jobs, source);
  wt_wait (ready_cb, wizard);
  wt_block_first_write ("background.qcow2.strata-");
  gtk_widget_activate_action (wizard, "wizard.start", NULL);
  wt_wait_blocked ();

  /* Closing the window while the job runs only hides it; the job goes on. */
  gtk_window_close (GTK_WINDOW (wizard));
  g_assert_false (gtk_widget_get_visible (wizard));
  g_assert_cmpuint (strata_job_manager_get_n_running (jobs), ==, 1);
  wt_unblock ();
  wt_wait (job_done_cb, jobs);

  job = g_list_model_get_item (G_LIST_MODEL (jobs), 0);
  g_assert_cmpint (strata_job_manager_get_state (jobs, job), ==, STRATA_JOB_STATE_SUCCEEDED);
  tu_assert_qemu_check_clean (target);
  tu_assert_qemu_compare (source, target);

  /* The hidden wizard holds the result, ready to be shown again (the toast's "Show"). */
  g_object_get (wizard, "page", &page, NULL);
  g_assert_cmpstr (page, ==, "result");
  gtk_window_present (GTK_WINDOW (wizard));
  gtk_window_close (GTK_WINDOW (wizard));
}

int
main (int argc, char **argv)
{
  wt_init (&argc, &argv);

  g_test_add_func ("/wizard/convert/zstd", test_convert_zstd);
  g_test_add_func ("/wizard/convert/validation", test_convert_validation);
  g_test_add_func ("/wizard/convert/cancel", test_convert_cancel);
  g_test_add_func ("/wizard/convert/source-in-use", test_convert_source_in_use);
  g_test_add_func ("/wizard/convert/to-vmdk", test_convert_to_vmdk);
  g_test_add_func ("/wizard/convert/close-while-running", test_convert_close_while_running);

  return g_test_run ();
}
