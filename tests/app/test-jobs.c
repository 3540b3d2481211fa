/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-error.h"
#include "strata-job-manager.h"
#include "test-wizard-util.h"

static guint finished_count;

static void
job_finished_cb (StrataJobManager *jobs,
                 StrataJob        *job,
                 int               state,
                 const char       *message)
{
  finished_count++;
}

static void
test_jobs_one_writer (void)
{
  g_autoptr(StrataJobManager) jobs = strata_job_manager_new ();
  g_autoptr(StrataJob) a = strata_job_new ("Convert a.vmdk to a.qcow2");
  g_autoptr(StrataJob) b = strata_job_new ("Commit b.qcow2");
  g_autoptr(StrataJob) c = strata_job_new ("Check a.vmdk");
  g_autoptr(GError) error = NULL;
  g_autofree char *a_vmdk = g_strdup (tu_path ("a.vmdk"));
  g_autofree char *a_qcow2 = g_strdup (tu_path ("a.qcow2"));
  g_autofree char *b_qcow2 = g_strdup (tu_path ("b.qcow2"));
  g_autofree char *a_other_spelling = g_strdup_printf ("%s/./a.qcow2", tu_dir ());
  const char *a_reads[] = { a_vmdk, NULL };
  const char *a_writes[] = { a_qcow2, NULL };
  const char *b_writes[] = { b_qcow2, a_other_spelling, NULL };
  const char *c_reads[] = { a_vmdk, NULL };
  GCancellable *cancellable;

  g_signal_connect (jobs, "job-finished", G_CALLBACK (job_finished_cb), NULL);
  tu_run_ok ("touch '%s'", a_vmdk);

  cancellable = strata_job_manager_start (jobs, a, NULL, a_reads, a_writes, &error);
  g_assert_no_error (error);
  g_assert_nonnull (cancellable);
  g_assert_cmpuint (strata_job_manager_get_n_running (jobs), ==, 1);
  g_assert_true (strata_job_manager_is_busy (jobs, a_vmdk));
  g_assert_true (strata_job_manager_is_busy (jobs, a_qcow2));
  g_assert_true (strata_job_manager_is_writing (jobs, a_qcow2));
  g_assert_false (strata_job_manager_is_writing (jobs, a_vmdk));
  g_assert_false (strata_job_manager_is_busy (jobs, b_qcow2));

  /* A second writer on the same file (under another spelling) is refused, naming it. */
  g_assert_null (strata_job_manager_start (jobs, b, NULL, NULL, b_writes, &error));
  g_assert_error (error, STRATA_ERROR, STRATA_ERROR_LOCKED);
  g_assert_nonnull (strstr (error->message, "a.qcow2"));
  g_assert_nonnull (strstr (error->message, "Convert a.vmdk to a.qcow2"));
  g_clear_error (&error);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (jobs)), ==, 1);

  /* Another reader is fine. */
  g_assert_nonnull (strata_job_manager_start (jobs, c, NULL, c_reads, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (strata_job_manager_get_n_running (jobs), ==, 2);

  strata_job_manager_cancel_all (jobs);
  g_assert_true (g_cancellable_is_cancelled (cancellable));
  {
    g_autoptr(GError) cancelled = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "x");

    strata_job_manager_complete (jobs, a, NULL, cancelled);
  }
  g_assert_cmpint (strata_job_manager_get_state (jobs, a), ==, STRATA_JOB_STATE_CANCELLED);
  g_assert_cmpstr (strata_job_manager_get_message (jobs, a), ==,
                   "Cancelled; nothing was changed");
  strata_job_manager_complete (jobs, c, "a.vmdk is clean", NULL);
  g_assert_cmpint (strata_job_manager_get_state (jobs, c), ==, STRATA_JOB_STATE_SUCCEEDED);
  g_assert_cmpuint (strata_job_manager_get_n_running (jobs), ==, 0);
  g_assert_cmpuint (finished_count, ==, 2);

  /* Once the writer is done, the file is free again. */
  g_assert_false (strata_job_manager_is_busy (jobs, a_qcow2));
  g_assert_nonnull (strata_job_manager_start (jobs, b, NULL, NULL, b_writes, &error));
  g_assert_no_error (error);
  {
    g_autoptr(GError) failed = g_error_new (STRATA_ERROR, STRATA_ERROR_IO,
                                            "%s: write failed", b_qcow2);

    strata_job_manager_complete (jobs, b, NULL, failed);
  }
  g_assert_cmpint (strata_job_manager_get_state (jobs, b), ==, STRATA_JOB_STATE_FAILED);
  g_assert_nonnull (strstr (strata_job_manager_get_message (jobs, b), "b.qcow2: write failed"));

  /* The failure's dialog names the file; close it. */
  {
    GListModel *toplevels = gtk_window_get_toplevels ();

    for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
      {
        g_autoptr(GtkWindow) w = g_list_model_get_item (toplevels, i);

        if (ADW_IS_MESSAGE_DIALOG (w))
          {
            g_assert_nonnull (strstr (adw_message_dialog_get_body (ADW_MESSAGE_DIALOG (w)),
                                      "b.qcow2"));
            gtk_window_destroy (w);
            break;
          }
      }
  }
}

/* The job row's Cancel button (an icon button). */
static GtkWidget *
find_stop_button (GtkWidget *widget)
{
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found;

      if (GTK_IS_BUTTON (child)
          && g_strcmp0 (gtk_button_get_icon_name (GTK_BUTTON (child)),
                        "process-stop-symbolic") == 0)
        return child;
      if ((found = find_stop_button (child)) != NULL)
        return found;
    }
  return NULL;
}

static void
test_jobs_button (void)
{
  g_autoptr(StrataJobManager) jobs = strata_job_manager_new ();
  g_autoptr(StrataJob) job = strata_job_new ("Convert vm.vmdk to vm.qcow2");
  g_autoptr(GError) error = NULL;
  g_autofree char *shot = NULL;
  GtkWidget *window;
  GtkWidget *header;
  GtkWidget *button;
  GtkPopover *popover;
  GtkWidget *cancel;
  GCancellable *cancellable;

  window = adw_window_new ();
  header = adw_header_bar_new ();
  button = strata_jobs_button_new (jobs);
  adw_header_bar_pack_end (ADW_HEADER_BAR (header), button);
  {
    GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
    GtkWidget *overlay = adw_toast_overlay_new ();

    gtk_box_append (GTK_BOX (box), header);
    gtk_box_append (GTK_BOX (box), gtk_label_new ("window"));
    adw_toast_overlay_set_child (ADW_TOAST_OVERLAY (overlay), box);
    adw_window_set_content (ADW_WINDOW (window), overlay);
  }
  gtk_window_set_default_size (GTK_WINDOW (window), 480, 360);
  gtk_window_present (GTK_WINDOW (window));

  g_assert_false (strata_job_manager_has_toast_overlay (jobs));

  /* No job yet: no button. */
  g_assert_false (gtk_widget_get_visible (button));

  cancellable = strata_job_manager_start (jobs, job, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  strata_job_set_phase (job, "Compressing");
  strata_job_set_progress (job, 50 << 20, 200 << 20);
  g_assert_true (gtk_widget_get_visible (button));
  /* Shown, the button finds the window's toast overlay for the success toasts. */
  wt_wait_drawn (button);
  g_assert_true (strata_job_manager_has_toast_overlay (jobs));

  gtk_menu_button_popup (GTK_MENU_BUTTON (button));
  popover = gtk_menu_button_get_popover (GTK_MENU_BUTTON (button));
  wt_wait_drawn (GTK_WIDGET (popover));
  g_assert_nonnull (wt_find_label (GTK_WIDGET (popover), "Convert vm.vmdk to vm.qcow2"));
  shot = wt_screenshot (GTK_WIDGET (popover), "jobs-1-popover");

  /* Cancel in the popover cancels the job's operation. */
  cancel = find_stop_button (GTK_WIDGET (popover));
  g_assert_nonnull (cancel);
  g_signal_emit_by_name (cancel, "clicked");
  g_assert_true (g_cancellable_is_cancelled (cancellable));
  {
    g_autoptr(GError) cancelled = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "x");

    strata_job_manager_complete (jobs, job, NULL, cancelled);
  }
  wt_wait_drawn (GTK_WIDGET (popover));
  g_assert_nonnull (wt_find_label (GTK_WIDGET (popover), "Cancelled; nothing was changed"));
  g_free (shot);
  shot = wt_screenshot (GTK_WIDGET (popover), "jobs-2-cancelled");

  gtk_popover_popdown (popover);
  gtk_window_destroy (GTK_WINDOW (window));
}

int
main (int argc, char **argv)
{
  wt_init (&argc, &argv);

  g_test_add_func ("/jobs/one-writer", test_jobs_one_writer);
  g_test_add_func ("/jobs/button", test_jobs_button);

  return g_test_run ();
}
