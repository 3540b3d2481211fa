/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <glib/gstdio.h>
#include <sys/stat.h>

#include "strata-overlays-wizard.h"
#include "strata-usage-bars.h"
#include "strata-wizard-util.h"
#include "strata-wizards.h"
#include "test-wizard-util.h"

/* A qcow2 base made by QEMU, with some data. */
static char *
make_base (const char *name)
{
  char *path = g_strdup (tu_path (name));

  tu_run_ok ("qemu-img create -q -f qcow2 '%s' 32M", path);
  tu_run_ok ("qemu-io -f qcow2 -c 'write -P 0x11 0 4M' -c 'write -P 0x22 20M 1M' '%s' "
             ">/dev/null", path);
  return path;
}

static GtkWidget *
open_wizard (StrataJobManager *jobs,
             const char       *base)
{
  g_autoptr(GError) error = NULL;
  GtkWindow *window;

  window = strata_wizard_open ("overlays", NULL, NULL, jobs, base, &error);
  g_assert_no_error (error);
  g_assert_true (STRATA_IS_OVERLAYS_WIZARD (window));
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
assert_backing (const char *overlay,
                const char *backing)
{
  g_autofree char *out = tu_run_ok ("qemu-img info --output=json '%s'", overlay);
  g_autofree char *key = g_strdup_printf ("\"backing-filename\": \"%s\"", backing);

  g_assert_nonnull (strstr (out, key));
  g_assert_nonnull (strstr (out, "\"backing-filename-format\": \"qcow2\""));
}

static void
test_overlays_three (void)
{
  g_autofree char *base = make_base ("debian.qcow2");
  g_autoptr(StrataJobManager) jobs = strata_job_manager_new ();
  g_autofree char *preview = NULL;
  g_autofree char *summary = NULL;
  g_autofree char *shot = NULL;
  GtkWidget *wizard;
  StrataUsageBars *bars;
  struct stat st;

  g_assert_true (strata_wizard_is_available ("overlays"));
  wizard = open_wizard (jobs, base);

  /* The default pattern follows the base's name, and the preview follows the pattern. */
  preview = string_prop (wizard, "preview");
  g_assert_cmpstr (preview, ==, "Will create debian-01.qcow2, debian-02.qcow2, debian-03.qcow2");
  gtk_widget_activate_action (wizard, "wizard.pattern", "s", "img##.qcow2");
  g_free (preview);
  preview = string_prop (wizard, "preview");
  g_assert_cmpstr (preview, ==, "Will create img01.qcow2, img02.qcow2, img03.qcow2");
  g_assert_true (ready (wizard));
  g_free (shot);
  shot = wt_screenshot (wizard, "overlays-1-setup");

  gtk_widget_activate_action (wizard, "wizard.start", NULL);
  wt_wait_page (wizard, "result");
  g_free (shot);
  shot = wt_screenshot (wizard, "overlays-2-result");

  /* The base was protected first; each overlay stores the relative name and its format,
   * QEMU finds it clean and reading exactly the base. */
  g_assert_cmpint (stat (base, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0222, ==, 0);
  for (guint i = 1; i <= 3; i++)
    {
      g_autofree char *name = g_strdup_printf ("img%02u.qcow2", i);
      const char *overlay = tu_path (name);

      assert_backing (overlay, "debian.qcow2");
      tu_assert_qemu_check_clean (overlay);
      tu_assert_qemu_compare (overlay, base);
    }

  /* The result page shows the files' own numbers. */
  bars = STRATA_USAGE_BARS (wt_find (wizard, STRATA_TYPE_USAGE_BARS));
  g_assert_cmpuint (strata_usage_bars_get_n_rows (bars), ==, 4);
  {
    g_autofree char *base_text = g_format_size (wt_disk_usage (base));
    g_autofree char *img_text = g_format_size (wt_disk_usage (tu_path ("img02.qcow2")));

    g_assert_cmpstr (strata_usage_bars_get_size_text (bars, 0), ==, base_text);
    g_assert_cmpstr (strata_usage_bars_get_size_text (bars, 2), ==, img_text);
  }
  summary = string_prop (wizard, "summary");
  g_assert_nonnull (strstr (summary, "3 overlays of debian.qcow2 created"));

  gtk_window_destroy (GTK_WINDOW (wizard));
}

static void
test_overlays_absolute_and_taken (void)
{
  g_autofree char *base = make_base ("abs.qcow2");
  g_autoptr(StrataJobManager) jobs = strata_job_manager_new ();
  g_autofree char *problem = NULL;
  g_autofree char *shot = NULL;
  g_autofree char *sub = g_strdup (tu_path ("sub"));
  GtkWidget *wizard;
  struct stat st;

  g_assert_cmpint (g_mkdir (sub, 0755), ==, 0);
  tu_run_ok ("qemu-img create -q -f qcow2 '%s/vm2.qcow2' 1M", sub);

  wizard = open_wizard (jobs, base);
  gtk_widget_activate_action (wizard, "wizard.folder", "s", sub);
  gtk_widget_activate_action (wizard, "wizard.pattern", "s", "vm#.qcow2");

  /* vm2.qcow2 exists: refused before starting, by name. */
  problem = string_prop (wizard, "problem");
  g_assert_nonnull (strstr (problem, "“vm2.qcow2” already exists"));
  g_assert_false (ready (wizard));
  g_free (shot);
  shot = wt_screenshot (wizard, "overlays-3-name-taken");

  /* No '#' with several overlays cannot name them. */
  gtk_widget_activate_action (wizard, "wizard.pattern", "s", "vm.qcow2");
  g_free (problem);
  problem = string_prop (wizard, "problem");
  g_assert_nonnull (strstr (problem, "Put #"));

  /* Two overlays, absolute path, base left writable (a warning, not a refusal). */
  gtk_widget_activate_action (wizard, "wizard.count", "u", 2);
  gtk_widget_activate_action (wizard, "wizard.pattern", "s", "new-#.qcow2");
  gtk_widget_activate_action (wizard, "wizard.absolute", NULL);
  gtk_widget_activate_action (wizard, "wizard.protect-base", NULL);
  g_free (problem);
  problem = string_prop (wizard, "problem");
  g_assert_nonnull (strstr (problem, "stays writable"));
  g_assert_true (ready (wizard));

  gtk_widget_activate_action (wizard, "wizard.start", NULL);
  wt_wait_page (wizard, "result");
  {
    g_autofree char *o1 = g_build_filename (sub, "new-1.qcow2", NULL);
    g_autofree char *o2 = g_build_filename (sub, "new-2.qcow2", NULL);

    assert_backing (o1, base);
    assert_backing (o2, base);
    tu_assert_qemu_check_clean (o2);
    tu_assert_qemu_compare (o2, base);
  }
  g_assert_cmpint (stat (base, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0200, !=, 0);

  gtk_window_destroy (GTK_WINDOW (wizard));
}

static void
test_overlays_relative_path (void)
{
  g_autofree char *a = NULL;

  a = strata_wizard_relative_path ("/a/b", "/a/b/base.qcow2");
  g_assert_cmpstr (a, ==, "base.qcow2");
  g_free (a);
  a = strata_wizard_relative_path ("/a/b/c", "/a/b/base.qcow2");
  g_assert_cmpstr (a, ==, "../base.qcow2");
  g_free (a);
  a = strata_wizard_relative_path ("/x/y", "/a/base.qcow2");
  g_assert_cmpstr (a, ==, "../../a/base.qcow2");
}

int
main (int argc, char **argv)
{
  wt_init (&argc, &argv);

  g_test_add_func ("/wizard/overlays/three", test_overlays_three);
  g_test_add_func ("/wizard/overlays/absolute-and-taken", test_overlays_absolute_and_taken);
  g_test_add_func ("/wizard/overlays/relative-path", test_overlays_relative_path);

  return g_test_run ();
}
