/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-application.h"
#include "strata-chain-graph.h"
#include "strata-error.h"
#include "strata-job-manager.h"
#include "strata-window.h"
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

/* Closes the failure's message dialog, which must be there (and name @file, if given). */
static void
close_error_dialog (const char *file)
{
  GListModel *toplevels = gtk_window_get_toplevels ();

  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      g_autoptr(GtkWindow) w = g_list_model_get_item (toplevels, i);

      if (ADW_IS_MESSAGE_DIALOG (w))
        {
          if (file != NULL)
            g_assert_nonnull (strstr (adw_message_dialog_get_body (ADW_MESSAGE_DIALOG (w)),
                                      file));
          gtk_window_destroy (w);
          return;
        }
    }
  g_assert_not_reached ();
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
  close_error_dialog ("b.qcow2");
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

/* What the manager asks of the desktop, recorded instead of sent. */
typedef struct
{
  guint                      n_inhibit;
  guint                      n_uninhibit;
  GtkApplicationInhibitFlags flags;
  GtkWindow                 *inhibit_window;
  char                      *reason;
  guint                      uninhibited_cookie;
  GPtrArray                 *notifications; /* "TITLE\nBODY" */
} Desktop;

static Desktop desktop;

static guint
fake_inhibit (GtkApplication             *app,
              GtkWindow                  *window,
              GtkApplicationInhibitFlags  flags,
              const char                 *reason)
{
  desktop.n_inhibit++;
  desktop.flags = flags;
  desktop.inhibit_window = window;
  g_free (desktop.reason);
  desktop.reason = g_strdup (reason);
  return 42;
}

static void
fake_uninhibit (GtkApplication *app,
                guint           cookie)
{
  desktop.n_uninhibit++;
  desktop.uninhibited_cookie = cookie;
}

static void
fake_notify (GApplication *app,
             const char   *title,
             const char   *body)
{
  g_ptr_array_add (desktop.notifications, g_strdup_printf ("%s\n%s", title, body));
}

static const StrataJobDesktop fake_desktop = { fake_inhibit, fake_uninhibit, fake_notify };

static void
desktop_reset (void)
{
  g_clear_pointer (&desktop.reason, g_free);
  g_clear_pointer (&desktop.notifications, g_ptr_array_unref);
  memset (&desktop, 0, sizeof desktop);
  desktop.notifications = g_ptr_array_new_with_free_func (g_free);
}

/* One registered application for the whole program, as the app has: the manager finds it
 * as the default application. */
static StrataApplication *
test_app (void)
{
  static StrataApplication *app;

  if (app == NULL)
    {
      g_autoptr(GError) error = NULL;

      app = strata_application_new ();
      g_application_set_flags (G_APPLICATION (app), G_APPLICATION_NON_UNIQUE);
      g_application_register (G_APPLICATION (app), NULL, &error);
      g_assert_no_error (error);
    }
  return app;
}

/* A window with a toast overlay, like the main window's, for the manager's feedback. */
static GtkWidget *
feedback_window (StrataJobManager *jobs)
{
  GtkWidget *window = adw_window_new ();
  GtkWidget *overlay = adw_toast_overlay_new ();

  adw_toast_overlay_set_child (ADW_TOAST_OVERLAY (overlay), gtk_label_new ("window"));
  adw_window_set_content (ADW_WINDOW (window), overlay);
  strata_job_manager_set_toast_overlay (jobs, ADW_TOAST_OVERLAY (overlay));
  return window;
}

static void
complete_ok (StrataJobManager *jobs,
             StrataJob        *job,
             const char       *summary)
{
  strata_job_manager_complete (jobs, job, summary, NULL);
}

static void
test_jobs_inhibit (void)
{
  g_autoptr(StrataJobManager) jobs = strata_job_manager_new ();
  g_autoptr(StrataJob) reader = strata_job_new ("Check a.qcow2");
  g_autoptr(StrataJob) writer = strata_job_new ("Convert a.vmdk to a.qcow2");
  g_autoptr(StrataJob) writer2 = strata_job_new ("Commit b.qcow2");
  g_autofree char *a_vmdk = g_strdup (tu_path ("inhibit-a.vmdk"));
  g_autofree char *a_qcow2 = g_strdup (tu_path ("inhibit-a.qcow2"));
  g_autofree char *b_qcow2 = g_strdup (tu_path ("inhibit-b.qcow2"));
  const char *reads[] = { a_vmdk, NULL };
  const char *writes[] = { a_qcow2, NULL };
  const char *writes2[] = { b_qcow2, NULL };
  g_autoptr(GError) error = NULL;
  GtkWidget *window;

  test_app ();
  desktop_reset ();
  strata_job_manager_set_desktop (jobs, &fake_desktop);
  window = feedback_window (jobs);

  /* Reading does not keep the machine awake. */
  g_assert_nonnull (strata_job_manager_start (jobs, reader, NULL, reads, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (desktop.n_inhibit, ==, 0);
  g_assert_false (strata_job_manager_get_inhibiting (jobs));

  /* Writing does: suspend (only), for the window, with a reason a user can read. */
  g_assert_nonnull (strata_job_manager_start (jobs, writer, NULL, reads, writes, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (desktop.n_inhibit, ==, 1);
  g_assert_cmpint (desktop.flags, ==, GTK_APPLICATION_INHIBIT_SUSPEND);
  g_assert_true (desktop.inhibit_window == GTK_WINDOW (window));
  g_assert_cmpstr (desktop.reason, ==, "Disk images are being written");
  g_assert_true (strata_job_manager_get_inhibiting (jobs));

  /* A second writer shares the inhibition; it ends with the last writer, not before. */
  g_assert_nonnull (strata_job_manager_start (jobs, writer2, NULL, NULL, writes2, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (desktop.n_inhibit, ==, 1);
  complete_ok (jobs, writer, "a.qcow2 written");
  g_assert_cmpuint (desktop.n_uninhibit, ==, 0);
  g_assert_true (strata_job_manager_get_inhibiting (jobs));
  {
    g_autoptr(GError) failed = g_error_new_literal (STRATA_ERROR, STRATA_ERROR_IO, "failed");

    strata_job_manager_complete (jobs, writer2, NULL, failed);
  }
  g_assert_cmpuint (desktop.n_uninhibit, ==, 1);
  g_assert_cmpuint (desktop.uninhibited_cookie, ==, 42);
  g_assert_false (strata_job_manager_get_inhibiting (jobs));

  /* The reader still runs; it never needed the inhibition. */
  complete_ok (jobs, reader, "clean");
  g_assert_cmpuint (desktop.n_inhibit, ==, 1);
  g_assert_cmpuint (desktop.n_uninhibit, ==, 1);

  close_error_dialog (NULL);
  gtk_window_destroy (GTK_WINDOW (window));
}

static gboolean
is_active_cb (gpointer data)
{
  return gtk_window_is_active (data);
}

static void
test_jobs_notification (void)
{
  g_autoptr(StrataJobManager) jobs = strata_job_manager_new ();
  g_autoptr(StrataJob) hidden_job = strata_job_new ("Convert vm.vmdk to vm.qcow2");
  g_autoptr(StrataJob) failed_job = strata_job_new ("Commit img01.qcow2");
  g_autoptr(StrataJob) focused_job = strata_job_new ("Check vm.qcow2");
  g_autoptr(GError) error = NULL;
  GtkWidget *window;

  test_app ();
  desktop_reset ();
  strata_job_manager_set_desktop (jobs, &fake_desktop);
  window = feedback_window (jobs);

  /* The window is not shown (the user is elsewhere): the desktop hears of the end. */
  g_assert_nonnull (strata_job_manager_start (jobs, hidden_job, NULL, NULL, NULL, &error));
  complete_ok (jobs, hidden_job, "Converted vm.vmdk to vm.qcow2: 1.1 GB → 486 MB");
  g_assert_cmpuint (desktop.notifications->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (desktop.notifications, 0), ==,
                   "Convert vm.vmdk to vm.qcow2\n"
                   "Converted vm.vmdk to vm.qcow2: 1.1 GB → 486 MB");

  /* A failure too, with the error. */
  g_assert_nonnull (strata_job_manager_start (jobs, failed_job, NULL, NULL, NULL, &error));
  {
    g_autoptr(GError) failed = g_error_new_literal (STRATA_ERROR, STRATA_ERROR_IO,
                                                    "img01.qcow2: write failed");

    strata_job_manager_complete (jobs, failed_job, NULL, failed);
  }
  g_assert_cmpuint (desktop.notifications->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (desktop.notifications, 1), ==,
                   "“Commit img01.qcow2” failed\nimg01.qcow2: write failed");
  close_error_dialog ("img01.qcow2");

  /* With the window focused, the toast says it; no notification. (Xvfb gives the input
   * focus to a presented window: there is no window manager to refuse it.) */
  gtk_window_present (GTK_WINDOW (window));
  wt_wait (is_active_cb, window);
  g_assert_nonnull (strata_job_manager_start (jobs, focused_job, NULL, NULL, NULL, &error));
  complete_ok (jobs, focused_job, "vm.qcow2 is clean");
  g_assert_cmpuint (desktop.notifications->len, ==, 2);

  gtk_window_destroy (GTK_WINDOW (window));
}

static gboolean
node_shown_cb (gpointer data)
{
  StrataWindow *window = data;
  g_autofree char *path = g_strdup (tu_path ("show/img01.qcow2"));
  StrataLibrary *library = strata_window_get_library (window);

  return !strata_library_get_scanning (library) && strata_library_lookup (library, path) != NULL;
}

static GtkWidget *
find_toast_button (GtkWidget *root)
{
  for (GtkWidget *child = gtk_widget_get_first_child (root); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found;

      if (GTK_IS_BUTTON (child)
          && g_strcmp0 (gtk_button_get_label (GTK_BUTTON (child)), "_Show") == 0)
        return child;
      if ((found = find_toast_button (child)) != NULL)
        return found;
    }
  return NULL;
}

static gboolean
toast_shown_cb (gpointer data)
{
  return find_toast_button (data) != NULL;
}

static void
test_jobs_show (void)
{
  g_autofree char *dir = g_strdup (tu_path ("show"));
  g_autofree char *img01 = g_build_filename (dir, "img01.qcow2", NULL);
  const char *folders[] = { dir, NULL };
  g_autoptr(StrataJob) job = strata_job_new ("Create overlays on base.qcow2");
  g_autoptr(GError) error = NULL;
  g_autofree char *shot = NULL;
  StrataWindow *window;
  StrataJobManager *jobs;
  StrataChainGraph *graph;
  StrataLibraryNode *selected;
  GtkWidget *show;
  const char *writes[] = { img01, NULL };

  g_mkdir_with_parents (dir, 0755);
  tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 base.qcow2 64M && "
             "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 img01.qcow2", dir);
  window = strata_window_new (test_app ());
  gtk_window_set_default_size (GTK_WINDOW (window), 1000, 700);
  g_settings_set_strv (strata_window_get_settings (window), "library-folders", folders);
  gtk_window_present (GTK_WINDOW (window));
  wt_wait (node_shown_cb, window);
  graph = STRATA_CHAIN_GRAPH (wt_find (GTK_WIDGET (window), STRATA_TYPE_CHAIN_GRAPH));
  g_assert_nonnull (graph);
  strata_chain_graph_select_path (graph, tu_path ("show/base.qcow2"));

  /* A job of this window ends with a result: its toast offers Show. */
  jobs = strata_window_get_jobs (window);
  strata_job_manager_set_desktop (jobs, &fake_desktop);
  desktop_reset ();
  g_assert_nonnull (strata_job_manager_start (jobs, job, NULL, NULL, writes, &error));
  g_assert_no_error (error);
  strata_job_manager_set_result (jobs, job, img01);
  complete_ok (jobs, job, "1 overlay of base.qcow2 created, 200.7 kB on disk");
  g_assert_cmpstr (strata_job_manager_get_result (jobs, job), ==, img01);
  wt_wait (toast_shown_cb, window);
  show = find_toast_button (GTK_WIDGET (window));
  wt_wait_drawn (GTK_WIDGET (window));
  shot = wt_screenshot (GTK_WIDGET (window), "jobs-3-toast-show");

  /* Show selects the result in the graph (the details pane follows the selection). */
  selected = strata_chain_graph_get_selected_node (graph);
  g_assert_cmpstr (strata_library_node_get_name (selected), ==, "base.qcow2");
  g_signal_emit_by_name (show, "clicked");
  selected = strata_chain_graph_get_selected_node (graph);
  g_assert_nonnull (selected);
  g_assert_cmpstr (strata_library_node_get_path (selected), ==, img01);

  gtk_window_destroy (GTK_WINDOW (window));
}

int
main (int argc, char **argv)
{
  wt_init (&argc, &argv);

  g_test_add_func ("/jobs/one-writer", test_jobs_one_writer);
  g_test_add_func ("/jobs/button", test_jobs_button);
  g_test_add_func ("/jobs/inhibit", test_jobs_inhibit);
  g_test_add_func ("/jobs/notification", test_jobs_notification);
  g_test_add_func ("/jobs/show", test_jobs_show);

  return g_test_run ();
}
