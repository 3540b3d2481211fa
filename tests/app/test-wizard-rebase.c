/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <glib/gstdio.h>
#include <sys/stat.h>

#include "strata-rebase-wizard.h"
#include "strata-wizards.h"
#include "test-wizard-util.h"

/* In @dir: base.qcow2 and img01.qcow2 on it, both written by QEMU. */
static char *
make_overlay (const char *dir)
{
  char *overlay = g_build_filename (dir, "img01.qcow2", NULL);

  g_mkdir_with_parents (dir, 0755);
  tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 base.qcow2 32M && "
             "qemu-io -f qcow2 -c 'write -P 0x11 0 8M' base.qcow2 >/dev/null && "
             "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 img01.qcow2 && "
             "qemu-io -f qcow2 -c 'write -P 0x22 2M 1M' img01.qcow2 >/dev/null", dir);
  return overlay;
}

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

  window = strata_wizard_open ("rebase", NULL, NULL, jobs, overlay, &error);
  g_assert_no_error (error);
  g_assert_true (STRATA_IS_REBASE_WIZARD (window));
  /* The screenshots show the wizard at its own size (560 × 760), as a user sees it. */
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

static void
run_to_result (GtkWidget *wizard)
{
  gboolean succeeded;

  g_assert_true (ready (wizard));
  gtk_widget_activate_action (wizard, "wizard.start", NULL);
  wt_wait_page (wizard, "result");
  g_object_get (wizard, "succeeded", &succeeded, NULL);
  g_assert_true (succeeded);
}

static void
assert_info_has (const char *image,
                 const char *text)
{
  g_autofree char *out = tu_run_ok ("qemu-img info --output=json '%s'", image);

  if (strstr (out, text) == NULL)
    g_error ("%s: no %s in\n%s", image, text, out);
}

static void
test_rebase_onto_copy (void)
{
  g_autofree char *dir = g_strdup (tu_path ("copy"));
  g_autofree char *img01 = make_overlay (dir);
  g_autofree char *base = g_build_filename (dir, "base.qcow2", NULL);
  g_autofree char *copy = g_build_filename (dir, "base-img01.qcow2", NULL);
  g_autofree char *want = snapshot_content (img01, "copy-want.raw");
  g_autofree char *base_sum = tu_file_checksum (base);
  g_autofree char *base_sum_after = NULL;
  g_autofree char *copy_sum = NULL;
  g_autofree char *mode = NULL;
  g_autofree char *shot = NULL;
  g_autoptr(StrataJobManager) jobs = strata_job_manager_new ();
  GtkWidget *wizard;
  struct stat st;

  g_assert_true (strata_wizard_is_available ("rebase"));
  wizard = open_wizard (jobs, img01);
  mode = string_prop (wizard, "mode");
  g_assert_cmpstr (mode, ==, "copy");
  g_free (shot);
  shot = wt_screenshot (wizard, "rebase-1-setup-copy");

  run_to_result (wizard);
  g_free (shot);
  shot = wt_screenshot (wizard, "rebase-2-result-copy");

  /* The overlay points at the copy (relative, with its format) and reads the same; the copy
   * is the base's bytes, protected; the base is untouched. */
  assert_info_has (img01, "\"backing-filename\": \"base-img01.qcow2\"");
  assert_info_has (img01, "\"backing-filename-format\": \"qcow2\"");
  tu_assert_qemu_check_clean (img01);
  tu_assert_qemu_check_clean (copy);
  tu_assert_qemu_compare (img01, want);
  base_sum_after = tu_file_checksum (base);
  copy_sum = tu_file_checksum (copy);
  g_assert_cmpstr (base_sum_after, ==, base_sum);
  g_assert_cmpstr (copy_sum, ==, base_sum);
  g_assert_cmpint (stat (copy, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0222, ==, 0);

  gtk_window_destroy (GTK_WINDOW (wizard));
}

static void
test_rebase_other_safe_and_unsafe (void)
{
  g_autofree char *dir = g_strdup (tu_path ("other"));
  g_autofree char *img01 = make_overlay (dir);
  g_autofree char *other = g_build_filename (dir, "other.qcow2", NULL);
  g_autofree char *want = snapshot_content (img01, "other-want.raw");
  g_autofree char *problem = NULL;
  g_autofree char *shot = NULL;
  g_autoptr(StrataJobManager) jobs = strata_job_manager_new ();
  GtkWidget *wizard;

  /* A different base: a safe rebase must copy what differs into the overlay. */
  tu_run_ok ("qemu-img create -q -f qcow2 '%s' 32M && "
             "qemu-io -f qcow2 -c 'write -P 0x99 4M 8M' '%s' >/dev/null", other, other);

  wizard = open_wizard (jobs, img01);
  gtk_widget_activate_action (wizard, "wizard.mode", "s", "other");
  problem = string_prop (wizard, "problem");
  g_assert_nonnull (strstr (problem, "Type the path"));
  gtk_widget_activate_action (wizard, "wizard.new-base", "s", "missing.qcow2");
  g_free (problem);
  problem = string_prop (wizard, "problem");
  g_assert_nonnull (strstr (problem, "missing.qcow2"));
  gtk_widget_activate_action (wizard, "wizard.new-base", "s", "other.qcow2");

  /* Unsafe needs the explicit confirmation. */
  gtk_widget_activate_action (wizard, "wizard.unsafe", NULL);
  g_free (problem);
  problem = string_prop (wizard, "problem");
  g_assert_nonnull (strstr (problem, "I Am Sure"));
  g_assert_false (ready (wizard));
  g_free (shot);
  shot = wt_screenshot (wizard, "rebase-3-setup-unsafe");
  gtk_widget_activate_action (wizard, "wizard.confirmed", NULL);
  g_assert_true (ready (wizard));

  /* Back to safe, and run it. */
  gtk_widget_activate_action (wizard, "wizard.confirmed", NULL);
  gtk_widget_activate_action (wizard, "wizard.unsafe", NULL);
  run_to_result (wizard);
  g_free (shot);
  shot = wt_screenshot (wizard, "rebase-4-result-safe");

  assert_info_has (img01, "\"backing-filename\": \"other.qcow2\"");
  tu_assert_qemu_check_clean (img01);
  tu_assert_qemu_compare (img01, want);

  gtk_window_destroy (GTK_WINDOW (wizard));
}

static void
test_rebase_flatten (void)
{
  g_autofree char *dir = g_strdup (tu_path ("flatten"));
  g_autofree char *img01 = make_overlay (dir);
  g_autofree char *want = snapshot_content (img01, "flatten-want.raw");
  g_autofree char *out = NULL;
  g_autofree char *shot = NULL;
  g_autoptr(StrataJobManager) jobs = strata_job_manager_new ();
  GtkWidget *wizard;

  wizard = open_wizard (jobs, img01);
  gtk_widget_activate_action (wizard, "wizard.mode", "s", "flatten");
  run_to_result (wizard);
  g_free (shot);
  shot = wt_screenshot (wizard, "rebase-5-result-flatten");

  out = tu_run_ok ("qemu-img info --output=json '%s'", img01);
  g_assert_null (strstr (out, "backing-filename"));
  tu_assert_qemu_check_clean (img01);
  tu_assert_qemu_compare (img01, want);

  gtk_window_destroy (GTK_WINDOW (wizard));
}

int
main (int argc, char **argv)
{
  wt_init (&argc, &argv);

  g_test_add_func ("/wizard/rebase/onto-copy", test_rebase_onto_copy);
  g_test_add_func ("/wizard/rebase/other-safe-and-unsafe", test_rebase_other_safe_and_unsafe);
  g_test_add_func ("/wizard/rebase/flatten", test_rebase_flatten);

  return g_test_run ();
}
