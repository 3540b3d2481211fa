/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <glib/gstdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app-test.h"
#include "strata-chain-graph.h"
#include "strata-error.h"
#include "strata-chain-node.h"
#include "strata-node-actions.h"
#include "strata-run-wizard.h"
#include "strata-vm.h"
#include "strata-window.h"
#include "strata-wizard-util.h"
#include "strata-wizards.h"
#include "test-wizard-util.h"

/*
 * The Run wizard with real QEMU: two overlays of one base run at once (TCG, no display, no
 * guest: SeaBIOS finds nothing to boot and waits), their nodes show it, writing wizards
 * refuse them, and stopping them through their jobs leaves images QEMU finds clean. The
 * images a VM must not write are refused before anything starts.
 */

#define EXTRA_ARGS "-accel tcg -display none"

/* base.qcow2 with two overlays, made by QEMU, in @dir. */
static void
make_chain (const char *dir)
{
  g_mkdir_with_parents (dir, 0755);
  tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 base.qcow2 16M && "
             "qemu-io -f qcow2 -c 'write -P 0x11 0 1M' base.qcow2 >/dev/null && "
             "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 img01.qcow2 && "
             "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 img02.qcow2", dir);
}

static gboolean
skip_without_qemu (void)
{
  if (strata_vm_available ())
    return FALSE;
  g_test_skip ("qemu-system-x86_64 is not installed");
  return TRUE;
}

static guint
uint_prop (GtkWidget  *widget,
           const char *name)
{
  guint value;

  g_object_get (widget, name, &value, NULL);
  return value;
}

static gboolean
two_running_cb (gpointer data)
{
  return uint_prop (data, "n-running") == 2;
}

/* The job rows show the status the jobs last notified. */
static gboolean
rows_settled_cb (gpointer data)
{
  return at_find_label (data, "Starting the virtual machine") == NULL;
}

static gboolean
one_running_cb (gpointer data)
{
  return uint_prop (data, "n-running") == 1;
}

static gboolean
one_failed_cb (gpointer data)
{
  return uint_prop (data, "n-failed") == 1;
}

typedef struct
{
  StrataJobManager *jobs;
  const char       *path;
} ReleaseWait;

static gboolean
released_cb (gpointer data)
{
  ReleaseWait *w = data;

  return !strata_job_manager_is_busy (w->jobs, w->path);
}

static gboolean
no_job_running_cb (gpointer data)
{
  return strata_job_manager_get_n_running (data) == 0;
}

static GtkWidget *
open_wizard (StrataJobManager *jobs,
             const char       *path)
{
  g_autoptr(GError) error = NULL;
  GtkWindow *window;

  window = strata_wizard_open ("run", NULL, NULL, jobs, path, &error);
  g_assert_no_error (error);
  g_object_set (window, "memory", 256, "show-display", FALSE, NULL);
  return GTK_WIDGET (window);
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

static guint
count (char **argv,
       const char *arg)
{
  guint n = 0;

  for (guint i = 0; argv[i] != NULL; i++)
    if (g_str_equal (argv[i], arg))
      n++;
  return n;
}

/* The accelerator is chosen once: by Strata, by STRATA_RUN_ACCEL, or by the extra arguments
 * — never twice. */
static void
test_argv (void)
{
  g_auto(GStrv) argv = NULL;
  g_autofree char *joined = NULL;

  argv = strata_vm_build_argv ("/images/a,b.qcow2", "qcow2", 512, FALSE, NULL);
  joined = g_strjoinv (" ", argv);
  g_assert_cmpuint (count (argv, "-accel"), ==, 1);
  g_assert_cmpuint (count (argv, "-enable-kvm"), ==, 0);
  g_assert_cmpuint (count (argv, "-display"), ==, 1);
  g_assert_nonnull (strstr (joined, "-drive file=/images/a,,b.qcow2,format=qcow2,if=virtio"));
  g_assert_nonnull (strstr (joined, "-m 512"));
  g_assert_nonnull (strstr (joined, "-accel tcg -display none"));
  g_clear_pointer (&argv, g_strfreev);
  g_clear_pointer (&joined, g_free);

  g_setenv ("STRATA_RUN_EXTRA_ARGS", "-machine pc,accel=tcg", TRUE);
  argv = strata_vm_build_argv ("/images/a.qcow2", "qcow2", 512, TRUE, NULL);
  g_assert_cmpuint (count (argv, "-accel"), ==, 0);
  g_assert_cmpuint (count (argv, "-display"), ==, 0);
  g_assert_cmpuint (count (argv, "-machine"), ==, 1);
  g_clear_pointer (&argv, g_strfreev);

  g_unsetenv ("STRATA_RUN_EXTRA_ARGS");
  g_setenv ("STRATA_RUN_ACCEL", "tcg", TRUE);
  argv = strata_vm_build_argv ("/images/a.qcow2", "qcow2", 512, TRUE, NULL);
  joined = g_strjoinv (" ", argv);
  g_assert_cmpuint (count (argv, "-accel"), ==, 1);
  g_assert_nonnull (strstr (joined, "-accel tcg"));
  g_assert_cmpuint (count (argv, "-display"), ==, 0);

  g_unsetenv ("STRATA_RUN_ACCEL");
  g_setenv ("STRATA_RUN_EXTRA_ARGS", EXTRA_ARGS, TRUE);
}

/* Without qemu-system-x86_64 the action is not offered. */
static void
test_unavailable (void)
{
  g_autofree char *path = g_strdup (g_getenv ("PATH"));
  g_autoptr(StrataJobManager) jobs = strata_job_manager_new ();
  g_autoptr(GError) error = NULL;

  g_setenv ("PATH", "/nonexistent", TRUE);
  g_assert_false (strata_vm_available ());
  g_assert_false (strata_wizard_is_available ("run"));
  g_assert_null (strata_wizard_open ("run", NULL, NULL, jobs, "/tmp/x.qcow2", &error));
  g_assert_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED);
  g_setenv ("PATH", path, TRUE);
  g_assert_true (strata_wizard_is_available ("run") == strata_vm_available ());
}

static gboolean
in_use_cb (gpointer data)
{
  return strata_library_node_get_in_use (data);
}

static gboolean
has_badge (GtkWidget  *node,
           const char *text)
{
  GtkWidget *label = at_find_label (node, text);

  return label != NULL && gtk_widget_has_css_class (label, "badge");
}

static gboolean
dialog_shown_cb (gpointer data)
{
  return find_toplevel (ADW_TYPE_MESSAGE_DIALOG) != NULL;
}

static gboolean
gone_cb (gpointer data)
{
  return *(gpointer *) data == NULL;
}

/* Through the main window as a user goes: select img01, win.run, check img02 too, run. */
static void
test_two_overlays (void)
{
  g_autofree char *dir = g_strdup (tu_path ("two"));
  g_autofree char *base = g_build_filename (dir, "base.qcow2", NULL);
  g_autofree char *img01 = g_build_filename (dir, "img01.qcow2", NULL);
  g_autofree char *img02 = g_build_filename (dir, "img02.qcow2", NULL);
  g_autofree char *base_sum = NULL;
  g_autofree char *base_sum_after = NULL;
  g_autofree char *problem = NULL;
  g_autofree char *shot = NULL;
  g_autoptr(GError) error = NULL;
  const char *folders[] = { NULL, NULL };
  StrataWindow *window;
  StrataJobManager *jobs;
  StrataLibrary *library;
  StrataChainGraph *graph;
  StrataLibraryNode *node01, *node02;
  GtkWidget *wizard, *other, *dialog;
  gpointer weak;

  if (skip_without_qemu ())
    return;
  make_chain (dir);
  base_sum = tu_file_checksum (base);

  window = at_window_new ();
  folders[0] = dir;
  g_settings_set_strv (strata_window_get_settings (window), "library-folders", folders);
  at_settle (window);
  jobs = strata_window_get_jobs (window);
  library = strata_window_get_library (window);
  graph = STRATA_CHAIN_GRAPH (at_find_widget (GTK_WIDGET (window), STRATA_TYPE_CHAIN_GRAPH));
  node01 = strata_library_lookup (library, img01);
  node02 = strata_library_lookup (library, img02);
  g_assert_nonnull (node01);
  g_assert_nonnull (node02);

  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.select-node", "s",
                                             strata_library_node_get_id (node01)));
  at_settle (window);
  g_assert_true (strata_node_action_applies ("run", node01));
  /* The node's context menu offers it, and Ctrl+R runs it. */
  {
    g_autoptr(GMenuModel) menu = strata_node_actions_menu (node01);
    g_auto(GStrv) accels = gtk_application_get_accels_for_action (
      gtk_window_get_application (GTK_WINDOW (window)), "win.run");
    gboolean found = FALSE;

    for (int i = 0; i < g_menu_model_get_n_items (menu); i++)
      {
        g_autofree char *action = NULL;
        g_autofree char *label = NULL;

        g_menu_model_get_item_attribute (menu, i, G_MENU_ATTRIBUTE_ACTION, "s", &action);
        g_menu_model_get_item_attribute (menu, i, G_MENU_ATTRIBUTE_LABEL, "s", &label);
        if (g_strcmp0 (action, "win.run") == 0)
          {
            g_assert_cmpstr (label, ==, "Run in QEMU…");
            found = TRUE;
          }
      }
    g_assert_true (found);
    g_assert_true (g_strv_contains ((const char * const *) accels, "<Control>r"));
  }
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.run", NULL));
  wizard = find_toplevel (STRATA_TYPE_RUN_WIZARD);
  g_assert_nonnull (wizard);
  g_object_set (wizard, "memory", 256, "show-display", FALSE, NULL);
  wt_wait (wt_inspected_cb, wizard);

  /* img01 chosen, its sibling img02 offered; the base is not. */
  g_assert_cmpuint (uint_prop (wizard, "n-candidates"), ==, 2);
  g_assert_cmpuint (uint_prop (wizard, "n-checked"), ==, 1);
  g_assert_true (wt_ready (wizard));
  gtk_widget_activate_action (wizard, "wizard.toggle", "s", img02);
  g_assert_cmpuint (uint_prop (wizard, "n-checked"), ==, 2);
  wt_wait_drawn (wizard);
  shot = wt_screenshot (wizard, "run-1-setup");

  /* More memory than the machine has is a warning, not a refusal. */
  if ((guint64) sysconf (_SC_PHYS_PAGES) * (guint64) sysconf (_SC_PAGESIZE)
      < (guint64) 2 * 65536 * 1024 * 1024)
    {
      g_autofree char *warning = NULL;

      g_object_set (wizard, "memory", 65536, NULL);
      warning = wt_string_prop (wizard, "problem");
      g_assert_nonnull (warning);
      g_assert_nonnull (strstr (warning, "more memory than this computer has"));
      g_assert_true (wt_ready (wizard));
      g_object_set (wizard, "memory", 256, NULL);
      g_clear_pointer (&warning, g_free);
      warning = wt_string_prop (wizard, "problem");
      g_assert_null (warning);
    }

  gtk_widget_activate_action (wizard, "wizard.start", NULL);
  wt_wait_page (wizard, "result");
  wt_wait (two_running_cb, wizard);
  wt_wait (rows_settled_cb, wizard);
  g_free (shot);
  shot = wt_screenshot (wizard, "run-2-running");

  /* Both are jobs writing their overlay and reading the base, and QEMU holds them. */
  g_assert_cmpuint (strata_job_manager_get_n_running (jobs), ==, 2);
  g_assert_true (strata_job_manager_is_writing (jobs, img01));
  g_assert_true (strata_job_manager_is_writing (jobs, img02));
  g_assert_true (strata_job_manager_is_busy (jobs, base));
  g_assert_false (strata_job_manager_is_writing (jobs, base));
  g_assert_true (strata_wizard_held_by_other (img01, TRUE));
  g_assert_true (strata_wizard_held_by_other (img02, TRUE));

  /* Their nodes say so. */
  strata_chain_graph_refresh_locks (graph);
  wt_wait (in_use_cb, node01);
  wt_wait (in_use_cb, node02);
  g_assert_true (has_badge (strata_chain_graph_get_node_widget (graph, node01), "in use"));
  g_assert_true (has_badge (strata_chain_graph_get_node_widget (graph, node02), "in use"));
  g_free (shot);
  shot = wt_screenshot (GTK_WIDGET (window), "run-3-window");

  /* Writing wizards refuse them. */
  other = GTK_WIDGET (strata_wizard_open ("protect", NULL, NULL, jobs, img01, &error));
  g_assert_no_error (error);
  wt_wait (wt_inspected_cb, other);
  problem = wt_string_prop (other, "problem");
  g_assert_nonnull (strstr (problem, "running job"));
  g_assert_false (wt_ready (other));
  gtk_window_destroy (GTK_WINDOW (other));

  other = GTK_WIDGET (strata_wizard_open ("commit", NULL, NULL, jobs, img02, &error));
  g_assert_no_error (error);
  wt_wait (wt_inspected_cb, other);
  g_free (problem);
  problem = wt_string_prop (other, "problem");
  g_assert_nonnull (problem);
  g_assert_nonnull (strstr (problem, "img02.qcow2"));
  g_assert_false (wt_ready (other));
  gtk_window_destroy (GTK_WINDOW (other));

  /* A second Run wizard on img02 refuses it too. */
  other = open_wizard (jobs, img02);
  wt_wait (wt_inspected_cb, other);
  g_free (problem);
  problem = wt_string_prop (other, "problem");
  g_assert_nonnull (strstr (problem, "in use by a running job"));
  g_assert_false (wt_ready (other));
  gtk_window_destroy (GTK_WINDOW (other));

  /* Stop img01 with its row's Stop button on the result page. */
  {
    GtkWidget *row = gtk_widget_get_first_child (wt_find_on_page (wizard, "result",
                                                                  GTK_TYPE_LIST_BOX));
    GtkWidget *button = wt_find (row, GTK_TYPE_BUTTON);

    g_assert_nonnull (button);
    g_assert_cmpstr (gtk_widget_get_tooltip_text (button), ==, "Stop");
    g_signal_emit_by_name (button, "clicked");
  }
  wt_wait (one_running_cb, wizard);
  {
    ReleaseWait w = { jobs, img01 };

    wt_wait (released_cb, &w);
  }
  g_assert_cmpuint (strata_job_manager_get_n_running (jobs), ==, 1);
  g_assert_false (strata_wizard_held_by_other (img01, TRUE));
  tu_assert_qemu_check_clean (img01);

  /* The wizard closes freely; quitting with img02 still running asks first and stops it. */
  gtk_window_destroy (GTK_WINDOW (wizard));
  g_assert_cmpuint (strata_job_manager_get_n_running (jobs), ==, 1);
  g_assert_true (strata_wizard_held_by_other (img02, TRUE));
  weak = window;
  g_object_add_weak_pointer (G_OBJECT (window), &weak);
  gtk_window_close (GTK_WINDOW (window));
  wt_wait (dialog_shown_cb, NULL);
  dialog = find_toplevel (ADW_TYPE_MESSAGE_DIALOG);
  g_assert_nonnull (strstr (adw_message_dialog_get_body (ADW_MESSAGE_DIALOG (dialog)),
                            "1 virtual machine is still running"));
  g_free (shot);
  shot = wt_screenshot (dialog, "run-4-quit");
  g_object_ref (jobs);
  adw_message_dialog_response (ADW_MESSAGE_DIALOG (dialog), "stop");
  wt_wait (no_job_running_cb, jobs);
  g_object_unref (jobs);
  wt_wait (gone_cb, &weak);
  g_assert_false (strata_wizard_held_by_other (img02, TRUE));

  tu_assert_qemu_check_clean (img01);
  tu_assert_qemu_check_clean (img02);
  tu_assert_qemu_check_clean (base);
  base_sum_after = tu_file_checksum (base);
  g_assert_cmpstr (base_sum_after, ==, base_sum);
}

static StrataJob *
first_running_job (StrataJobManager *jobs)
{
  for (guint i = 0; i < g_list_model_get_n_items (G_LIST_MODEL (jobs)); i++)
    {
      g_autoptr(StrataJob) job = g_list_model_get_item (G_LIST_MODEL (jobs), i);

      if (strata_job_manager_get_state (jobs, job) == STRATA_JOB_STATE_RUNNING)
        return job;
    }
  return NULL;
}

/* The VM belongs to the job manager: the wizard closes, the VM runs on until its job is
 * stopped. */
static void
test_close_wizard (void)
{
  g_autofree char *dir = g_strdup (tu_path ("close"));
  g_autofree char *img01 = g_build_filename (dir, "img01.qcow2", NULL);
  g_autoptr(StrataJobManager) jobs = strata_job_manager_new ();
  GtkWidget *wizard;
  StrataJob *job;

  if (skip_without_qemu ())
    return;
  make_chain (dir);

  /* Closed while it still looks at the images: nothing happens when the look ends. */
  {
    gpointer weak;

    wizard = open_wizard (jobs, img01);
    weak = wizard;
    g_object_add_weak_pointer (G_OBJECT (wizard), &weak);
    gtk_window_destroy (GTK_WINDOW (wizard));
    wt_wait (gone_cb, &weak);
  }

  wizard = open_wizard (jobs, img01);
  wt_wait (wt_inspected_cb, wizard);
  g_assert_true (wt_ready (wizard));
  gtk_widget_activate_action (wizard, "wizard.start", NULL);
  wt_wait (one_running_cb, wizard);
  gtk_window_destroy (GTK_WINDOW (wizard));

  /* A moment of main loop without the wizard: the VM is still there. */
  for (guint i = 0; i < 20; i++)
    g_main_context_iteration (NULL, FALSE);
  g_assert_cmpuint (strata_job_manager_get_n_running (jobs), ==, 1);
  g_assert_true (strata_job_manager_is_writing (jobs, img01));
  g_assert_true (strata_wizard_held_by_other (img01, TRUE));

  job = first_running_job (jobs);
  g_assert_nonnull (job);
  strata_job_manager_cancel (jobs, job);
  wt_wait (no_job_running_cb, jobs);
  g_assert_cmpint (strata_job_manager_get_state (jobs, job), ==, STRATA_JOB_STATE_CANCELLED);
  g_assert_nonnull (strstr (strata_job_manager_get_message (jobs, job), "Stopped"));
  g_assert_false (strata_wizard_held_by_other (img01, TRUE));
  tu_assert_qemu_check_clean (img01);
}

/* A machine that does not answer SIGTERM (here: stopped with SIGSTOP) is killed after the
 * timeout, and its job says so. */
static void
test_stop_by_force (void)
{
  g_autofree char *dir = g_strdup (tu_path ("force"));
  g_autofree char *img01 = g_build_filename (dir, "img01.qcow2", NULL);
  g_autofree char *pid = NULL;
  g_autoptr(StrataJobManager) jobs = strata_job_manager_new ();
  GtkWidget *wizard;
  StrataJob *job;

  if (skip_without_qemu ())
    return;
  make_chain (dir);

  wizard = open_wizard (jobs, img01);
  wt_wait (wt_inspected_cb, wizard);
  gtk_widget_activate_action (wizard, "wizard.start", NULL);
  wt_wait (one_running_cb, wizard);

  pid = tu_run_ok ("pgrep -n -f -- '^qemu-system-x86_64 .*-drive file=%s,'", img01);
  g_strstrip (pid);
  tu_run_ok ("kill -STOP %s", pid);
  job = first_running_job (jobs);
  g_assert_nonnull (job);
  strata_job_manager_cancel (jobs, job);
  wt_wait (no_job_running_cb, jobs);
  g_assert_cmpint (strata_job_manager_get_state (jobs, job), ==, STRATA_JOB_STATE_CANCELLED);
  g_assert_nonnull (strstr (strata_job_manager_get_message (jobs, job),
                            "Stopped by force after 1 second; check img01.qcow2"));
  g_assert_false (strata_wizard_held_by_other (img01, TRUE));
  tu_assert_qemu_check_clean (img01);
  gtk_window_destroy (GTK_WINDOW (wizard));
}

static void
assert_refused (StrataJobManager *jobs,
                const char       *path,
                const char       *expected,
                const char       *shot_name)
{
  GtkWidget *wizard = open_wizard (jobs, path);
  g_autofree char *problem = NULL;
  g_autofree char *shot = NULL;

  wt_wait (wt_inspected_cb, wizard);
  problem = wt_string_prop (wizard, "problem");
  if (problem == NULL || strstr (problem, expected) == NULL)
    g_error ("expected “%s” in the problem, got “%s”", expected, problem);
  g_assert_false (wt_ready (wizard));
  if (shot_name != NULL)
    {
      wt_wait_drawn (wizard);
      shot = wt_screenshot (wizard, shot_name);
    }
  gtk_window_destroy (GTK_WINDOW (wizard));
}

static void
test_refused (void)
{
  g_autofree char *dir = g_strdup (tu_path ("refused"));
  g_autofree char *base = g_build_filename (dir, "base.qcow2", NULL);
  g_autofree char *img01 = g_build_filename (dir, "img01.qcow2", NULL);
  g_autofree char *img02 = g_build_filename (dir, "img02.qcow2", NULL);
  g_autofree char *notes = g_build_filename (dir, "notes.qcow2", NULL);
  g_autofree char *bad = g_build_filename (dir, "bad.qcow2", NULL);
  g_autofree char *orphan = g_build_filename (dir, "orphan.qcow2", NULL);
  g_autoptr(StrataJobManager) jobs = strata_job_manager_new ();
  GtkWidget *wizard;

  if (skip_without_qemu ())
    return;
  make_chain (dir);
  tu_run_ok ("cd '%s' && echo 'not an image' > notes.qcow2 && "
             "printf 'QFI\\373\\000\\000\\000\\077garbage' > bad.qcow2 && "
             "qemu-img create -q -f qcow2 -u -b gone.qcow2 -F qcow2 orphan.qcow2 16M", dir);

  /* A base with overlays: running it would corrupt them. Its overlays are offered instead,
   * unchecked. */
  wizard = open_wizard (jobs, base);
  wt_wait (wt_inspected_cb, wizard);
  {
    g_autofree char *problem = wt_string_prop (wizard, "problem");
    g_autofree char *shot = NULL;

    g_assert_nonnull (strstr (problem, "base.qcow2 is the base of 2 overlays"));
    g_assert_nonnull (strstr (problem, "corrupt"));
    g_assert_false (wt_ready (wizard));
    g_assert_cmpuint (uint_prop (wizard, "n-candidates"), ==, 3);
    g_assert_cmpuint (uint_prop (wizard, "n-checked"), ==, 0);
    wt_wait_drawn (wizard);
    shot = wt_screenshot (wizard, "run-5-refused-base");
    /* Choosing an overlay there is allowed. */
    gtk_widget_activate_action (wizard, "wizard.toggle", "s", img02);
    g_assert_true (wt_ready (wizard));
  }
  gtk_window_destroy (GTK_WINDOW (wizard));

  /* A protected overlay: QEMU could not write it. */
  g_assert_cmpint (g_chmod (img01, 0444), ==, 0);
  assert_refused (jobs, img01, "img01.qcow2 is protected (read-only)", "run-6-refused-protected");
  g_assert_cmpint (g_chmod (img01, 0644), ==, 0);

  /* Not images, and a missing backing file: each named. */
  assert_refused (jobs, notes, "notes.qcow2 is not a disk image", "run-7-not-an-image");
  assert_refused (jobs, bad, "bad.qcow2", NULL);
  assert_refused (jobs, orphan, "The backing file of orphan.qcow2, gone.qcow2, is missing",
                  NULL);

  /* Held by another process: refused before starting. */
  {
    GPid pid = wt_hold (img02, "qcow2", FALSE);

    assert_refused (jobs, img02, "in use by another program", NULL);
    wt_release (pid);
  }
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (jobs)), ==, 0);
}

/* A process that takes the image between the check and the start: QEMU's own message ends
 * the job and is shown. */
static void
test_qemu_fails (void)
{
  g_autofree char *dir = g_strdup (tu_path ("fails"));
  g_autofree char *img01 = g_build_filename (dir, "img01.qcow2", NULL);
  g_autoptr(StrataJobManager) jobs = strata_job_manager_new ();
  g_autofree char *summary = NULL;
  g_autofree char *shot = NULL;
  GtkWidget *wizard, *dialog;
  StrataJob *job;
  GPid pid;

  if (skip_without_qemu ())
    return;
  make_chain (dir);

  wizard = open_wizard (jobs, img01);
  wt_wait (wt_inspected_cb, wizard);
  g_assert_true (wt_ready (wizard));
  pid = wt_hold (img01, "qcow2", FALSE);
  gtk_widget_activate_action (wizard, "wizard.start", NULL);
  wt_wait (one_failed_cb, wizard);
  wt_wait_page (wizard, "result");
  g_assert_cmpuint (uint_prop (wizard, "n-running"), ==, 0);
  summary = wt_string_prop (wizard, "summary");
  g_assert_nonnull (summary);
  g_assert_nonnull (wt_find_label (wizard, "The Virtual Machine Did Not Start"));

  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (jobs)), ==, 1);
  job = g_list_model_get_item (G_LIST_MODEL (jobs), 0);
  g_assert_cmpint (strata_job_manager_get_state (jobs, job), ==, STRATA_JOB_STATE_FAILED);
  g_assert_nonnull (strstr (strata_job_manager_get_message (jobs, job), "img01.qcow2"));
  g_assert_nonnull (strstr (strata_job_manager_get_message (jobs, job), "lock"));
  g_object_unref (job);

  wt_wait (dialog_shown_cb, NULL);
  dialog = find_toplevel (ADW_TYPE_MESSAGE_DIALOG);
  wt_wait_drawn (dialog);
  shot = wt_screenshot (dialog, "run-8-qemu-failed");
  gtk_window_destroy (GTK_WINDOW (dialog));
  g_free (shot);
  shot = wt_screenshot (wizard, "run-9-failed-result");
  gtk_window_destroy (GTK_WINDOW (wizard));
  wt_release (pid);
}

int
main (int argc, char **argv)
{
  g_setenv ("STRATA_RUN_EXTRA_ARGS", EXTRA_ARGS, TRUE);
  g_unsetenv ("STRATA_RUN_ACCEL");
  g_setenv ("STRATA_RUN_STOP_TIMEOUT", "1", TRUE);
  wt_init (&argc, &argv);

  g_test_add_func ("/wizard/run/argv", test_argv);
  g_test_add_func ("/wizard/run/unavailable", test_unavailable);
  g_test_add_func ("/wizard/run/two-overlays", test_two_overlays);
  g_test_add_func ("/wizard/run/close-wizard", test_close_wizard);
  g_test_add_func ("/wizard/run/stop-by-force", test_stop_by_force);
  g_test_add_func ("/wizard/run/refused", test_refused);
  g_test_add_func ("/wizard/run/qemu-fails", test_qemu_fails);

  return g_test_run ();
}
