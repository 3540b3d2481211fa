/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <glib/gstdio.h>

#include "strata-commit-wizard.h"
#include "strata-usage-bars.h"
#include "strata-wizards.h"
#include "test-wizard-util.h"

/* In @dir: a base made by QEMU and @n overlays of it, each with its own data. */
static char *
make_chain (const char *dir,
            guint       n)
{
  char *base = g_build_filename (dir, "base.qcow2", NULL);

  g_mkdir_with_parents (dir, 0755);
  tu_run_ok ("qemu-img create -q -f qcow2 '%s' 32M", base);
  tu_run_ok ("qemu-io -f qcow2 -c 'write -P 0x11 0 6M' '%s' >/dev/null", base);
  for (guint i = 1; i <= n; i++)
    {
      tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 img0%u.qcow2",
                 dir, i);
      tu_run_ok ("cd '%s' && qemu-io -f qcow2 -c 'write -P 0x%u%u 1M 2M' "
                 "-c 'write -P 0x77 24M 1M' img0%u.qcow2 >/dev/null", dir, i, i, i);
    }
  return base;
}

/* What the guest sees through @image, as a raw file (QEMU writes it). */
static char *
snapshot_content (const char *image,
                  const char *name)
{
  char *raw = g_strdup (tu_path (name));

  tu_run_ok ("qemu-img convert -O raw '%s' '%s'", image, raw);
  return raw;
}

static GtkWidget *
open_wizard (StrataJobManager *jobs,
             const char       *overlay)
{
  g_autoptr(GError) error = NULL;
  GtkWindow *window;

  window = strata_wizard_open ("commit", NULL, NULL, jobs, overlay, &error);
  g_assert_no_error (error);
  g_assert_true (STRATA_IS_COMMIT_WIZARD (window));
  /* The screenshots show the wizard at its own size (560 × 760), as a user sees it. */
  return GTK_WIDGET (window);
}

static void
assert_measured (StrataUsageBars *bars,
                 guint            row,
                 const char      *path)
{
  g_autofree char *text = g_format_size (wt_disk_usage (path));

  g_assert_cmpstr (strata_usage_bars_get_size_text (bars, row), ==, text);
}

static void
test_commit_into_copy (void)
{
  g_autofree char *dir = g_strdup (tu_path ("shared"));
  g_autofree char *base = make_chain (dir, 3);
  g_autofree char *img01 = g_build_filename (dir, "img01.qcow2", NULL);
  g_autofree char *img02 = g_build_filename (dir, "img02.qcow2", NULL);
  g_autofree char *copy = g_build_filename (dir, "base-img01.qcow2", NULL);
  g_autofree char *want01 = snapshot_content (img01, "want01.raw");
  g_autofree char *want02 = snapshot_content (img02, "want02.raw");
  g_autofree char *base_sum = tu_file_checksum (base);
  g_autofree char *base_sum_after = NULL;
  g_autoptr(StrataJobManager) jobs = strata_job_manager_new ();
  g_autofree char *mode = NULL;
  g_autofree char *problem = NULL;
  g_autofree char *info = NULL;
  g_autofree char *shot = NULL;
  GtkWidget *wizard;
  StrataUsageBars *bars;
  guint n_siblings;

  g_assert_true (strata_wizard_is_available ("commit"));
  wizard = open_wizard (jobs, img01);
  wt_wait (wt_inspected_cb, wizard);

  /* The sibling check comes first: two other overlays, so into a copy by default. */
  g_object_get (wizard, "n-siblings", &n_siblings, NULL);
  g_assert_cmpuint (n_siblings, ==, 2);
  mode = wt_string_prop (wizard, "mode");
  g_assert_cmpstr (mode, ==, "copy");
  g_assert_true (wt_ready (wizard));
  g_free (shot);
  shot = wt_screenshot (wizard, "commit-1-setup-copy");

  /* Into the base itself is refused until the risk is accepted, naming why. */
  gtk_widget_activate_action (wizard, "wizard.mode", "s", "base");
  problem = wt_string_prop (wizard, "problem");
  g_assert_nonnull (strstr (problem, "Other images use base.qcow2"));
  g_assert_false (wt_ready (wizard));
  g_free (shot);
  shot = wt_screenshot (wizard, "commit-2-setup-base-refused");
  gtk_widget_activate_action (wizard, "wizard.accept-risk", NULL);
  g_assert_true (wt_ready (wizard));
  gtk_widget_activate_action (wizard, "wizard.accept-risk", NULL);
  gtk_widget_activate_action (wizard, "wizard.mode", "s", "copy");
  g_assert_true (wt_ready (wizard));

  gtk_widget_activate_action (wizard, "wizard.start", NULL);
  wt_wait_page (wizard, "result");
  g_free (shot);
  shot = wt_screenshot (wizard, "commit-3-result-copy");
  {
    gboolean succeeded;

    g_object_get (wizard, "succeeded", &succeeded, NULL);
    g_assert_true (succeeded);
  }

  /* QEMU judges: img01 now reads the copy and sees what it saw; the copy holds img01's
   * disk; the base and the other overlays are untouched. */
  info = tu_run_ok ("qemu-img info --output=json '%s'", img01);
  g_assert_nonnull (strstr (info, "base-img01.qcow2\""));
  tu_assert_qemu_check_clean (img01);
  tu_assert_qemu_check_clean (copy);
  tu_assert_qemu_compare (img01, want01);
  tu_assert_qemu_compare (copy, want01);
  tu_assert_qemu_compare (img02, want02);
  base_sum_after = tu_file_checksum (base);
  g_assert_cmpstr (base_sum_after, ==, base_sum);

  /* Before, predicted, measured for the overlay and the copy; measured are the files'. */
  bars = STRATA_USAGE_BARS (wt_find_on_page (wizard, "result", STRATA_TYPE_USAGE_BARS));
  g_assert_cmpuint (strata_usage_bars_get_n_rows (bars), ==, 6);
  assert_measured (bars, 2, img01);
  assert_measured (bars, 5, copy);

  gtk_window_destroy (GTK_WINDOW (wizard));
}

static void
test_commit_into_base_keep (void)
{
  g_autofree char *dir = g_strdup (tu_path ("single"));
  g_autofree char *base = make_chain (dir, 1);
  g_autofree char *img01 = g_build_filename (dir, "img01.qcow2", NULL);
  g_autofree char *want = snapshot_content (img01, "single.raw");
  g_autoptr(StrataJobManager) jobs = strata_job_manager_new ();
  g_autofree char *mode = NULL;
  g_autofree char *map = NULL;
  g_autofree char *shot = NULL;
  GtkWidget *wizard;
  StrataUsageBars *bars;

  wizard = open_wizard (jobs, img01);
  wt_wait (wt_inspected_cb, wizard);

  /* Nobody else uses the base: into the base by default. */
  mode = wt_string_prop (wizard, "mode");
  g_assert_cmpstr (mode, ==, "base");
  gtk_widget_activate_action (wizard, "wizard.keep-overlay", NULL);
  g_assert_true (wt_ready (wizard));
  g_free (shot);
  shot = wt_screenshot (wizard, "commit-4-setup-base");

  gtk_widget_activate_action (wizard, "wizard.start", NULL);
  wt_wait_page (wizard, "result");
  g_free (shot);
  shot = wt_screenshot (wizard, "commit-5-result-base");

  tu_assert_qemu_check_clean (base);
  tu_assert_qemu_check_clean (img01);
  tu_assert_qemu_compare (base, want);
  tu_assert_qemu_compare (img01, want);
  /* -d: the overlay still holds its own data. */
  map = tu_run_ok ("qemu-img map --output=json '%s'", img01);
  g_assert_nonnull (strstr (map, "\"depth\": 0, \"present\": true, \"zero\": false, "
                                 "\"data\": true"));

  bars = STRATA_USAGE_BARS (wt_find_on_page (wizard, "result", STRATA_TYPE_USAGE_BARS));
  assert_measured (bars, 2, img01);
  assert_measured (bars, 5, base);

  gtk_window_destroy (GTK_WINDOW (wizard));
}

static void
test_commit_protected_and_held (void)
{
  g_autofree char *dir = g_strdup (tu_path ("held"));
  g_autofree char *base = make_chain (dir, 1);
  g_autofree char *img01 = g_build_filename (dir, "img01.qcow2", NULL);
  g_autofree char *sum = NULL;
  g_autofree char *sum_after = NULL;
  g_autofree char *problem = NULL;
  g_autofree char *summary = NULL;
  g_autofree char *listing = NULL;
  g_autofree char *listing_after = NULL;
  g_autofree char *shot = NULL;
  g_autoptr(StrataJobManager) jobs = strata_job_manager_new ();
  GtkWidget *wizard;
  gboolean succeeded;
  GPid qemu;

  tu_run_ok ("chmod a-w '%s'", base);
  wizard = open_wizard (jobs, img01);
  wt_wait (wt_inspected_cb, wizard);

  /* A protected base: into a copy by default, into the base refused, saying why. */
  gtk_widget_activate_action (wizard, "wizard.mode", "s", "base");
  problem = wt_string_prop (wizard, "problem");
  g_assert_nonnull (strstr (problem, "base.qcow2 is protected"));
  g_assert_false (wt_ready (wizard));
  gtk_widget_activate_action (wizard, "wizard.mode", "s", "copy");
  g_assert_true (wt_ready (wizard));

  /* A VM starts on the overlay after the setup was checked: the job is refused, the
   * result page and the job say so, nothing changes. */
  sum = tu_file_checksum (img01);
  listing = tu_list_dir (dir);
  qemu = wt_hold (img01, "qcow2", FALSE);
  gtk_widget_activate_action (wizard, "wizard.start", NULL);
  wt_wait_page (wizard, "result");
  g_object_get (wizard, "succeeded", &succeeded, "summary", &summary, NULL);
  g_assert_false (succeeded);
  g_assert_nonnull (strstr (summary, "img01.qcow2"));
  g_assert_nonnull (strstr (summary, "in use"));
  g_free (shot);
  shot = wt_screenshot (wizard, "commit-6-refused-in-use");
  wt_release (qemu);

  sum_after = tu_file_checksum (img01);
  g_assert_cmpstr (sum_after, ==, sum);
  listing_after = tu_list_dir (dir);
  g_assert_cmpstr (listing_after, ==, listing);

  gtk_window_destroy (GTK_WINDOW (wizard));

  /* Opened again while the VM runs, the wizard says so before starting. */
  qemu = wt_hold (img01, "qcow2", FALSE);
  wizard = open_wizard (jobs, img01);
  wt_wait (wt_inspected_cb, wizard);
  g_free (problem);
  problem = wt_string_prop (wizard, "problem");
  g_assert_nonnull (strstr (problem, "img01.qcow2 is in use by a running virtual machine"));
  g_assert_false (wt_ready (wizard));
  g_free (shot);
  shot = wt_screenshot (wizard, "commit-7-setup-in-use");
  gtk_window_destroy (GTK_WINDOW (wizard));
  wt_release (qemu);
}

int
main (int argc, char **argv)
{
  wt_init (&argc, &argv);

  g_test_add_func ("/wizard/commit/into-copy", test_commit_into_copy);
  g_test_add_func ("/wizard/commit/into-base-keep", test_commit_into_base_keep);
  g_test_add_func ("/wizard/commit/protected-and-held", test_commit_protected_and_held);

  return g_test_run ();
}
