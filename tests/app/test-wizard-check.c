/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-check-wizard.h"
#include "strata-wizards.h"
#include "test-wizard-util.h"

/*
 * A qcow2 image made by QEMU, then given one leaked cluster: the refcount of a cluster past
 * everything the image uses is set to 1 (the file grows to hold it). `qemu-img check` must
 * report exactly that leak before the test relies on it.
 */
static char *
make_leaky (const char *name)
{
  char *path = g_strdup (tu_path (name));
  int status;

  tu_run_ok ("qemu-img create -q -f qcow2 '%s' 16M && "
             "qemu-io -f qcow2 -c 'write -P 0x33 0 1M' '%s' >/dev/null", path, path);
  tu_run_ok ("/usr/bin/python3 - '%s' <<'PY'\n"
             "import struct, sys, os\n"
             "p = sys.argv[1]\n"
             "f = open(p, 'r+b')\n"
             "h = f.read(104)\n"
             "cbits = struct.unpack('>I', h[20:24])[0]\n"
             "rt = struct.unpack('>Q', h[48:56])[0]\n"
             "f.seek(rt)\n"
             "rb = struct.unpack('>Q', f.read(8))[0]\n"
             "size = os.path.getsize(p)\n"
             "leak = (size >> cbits) + 1\n"
             "f.seek(rb + 2 * leak)\n"
             "f.write(struct.pack('>H', 1))\n"
             "f.truncate((leak + 1) << cbits)\n"
             "f.close()\n"
             "PY", path);
  status = tu_run (NULL, NULL, "qemu-img check '%s' >/dev/null 2>&1", path);
  g_assert_cmpint (status, ==, 3);
  return path;
}

static GtkWidget *
open_wizard (StrataJobManager *jobs,
             const char       *path)
{
  g_autoptr(GError) error = NULL;
  GtkWindow *window;

  window = strata_wizard_open ("check", NULL, NULL, jobs, path, &error);
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

static void
test_check_and_repair (void)
{
  g_autofree char *path = make_leaky ("leaky.qcow2");
  g_autofree char *clean = g_strdup (tu_path ("clean.qcow2"));
  g_autofree char *summary = NULL;
  g_autofree char *shot = NULL;
  g_autoptr(StrataJobManager) jobs = strata_job_manager_new ();
  GtkWidget *wizard;
  gboolean can_repair;

  g_assert_true (strata_wizard_is_available ("check"));
  tu_run_ok ("qemu-img convert -O qcow2 '%s' '%s'", path, clean);

  wizard = open_wizard (jobs, path);
  shot = wt_screenshot (wizard, "check-1-setup");
  gtk_widget_activate_action (wizard, "wizard.start", NULL);
  wt_wait_page (wizard, "result");
  summary = string_prop (wizard, "summary");
  g_assert_nonnull (strstr (summary, "1 cluster is allocated but unused"));
  g_object_get (wizard, "can-repair", &can_repair, NULL);
  g_assert_true (can_repair);
  g_free (shot);
  shot = wt_screenshot (wizard, "check-2-leaks");

  /* Reading changed nothing: QEMU still sees the leak. Then repair from the result page. */
  g_assert_cmpint (tu_run (NULL, NULL, "qemu-img check '%s' >/dev/null 2>&1", path), ==, 3);
  gtk_widget_activate_action (wizard, "wizard.repair", NULL);
  wt_wait_page (wizard, "progress");
  wt_wait_page (wizard, "result");
  g_free (summary);
  summary = string_prop (wizard, "summary");
  g_assert_nonnull (strstr (summary, "1 leaked cluster was freed"));
  g_free (shot);
  shot = wt_screenshot (wizard, "check-3-repaired");

  tu_assert_qemu_check_clean (path);
  tu_assert_qemu_compare (path, clean);
  gtk_window_destroy (GTK_WINDOW (wizard));

  /* A clean image says so, and offers no repair. */
  wizard = open_wizard (jobs, clean);
  gtk_widget_activate_action (wizard, "wizard.start", NULL);
  wt_wait_page (wizard, "result");
  g_free (summary);
  summary = string_prop (wizard, "summary");
  g_assert_nonnull (strstr (summary, "No errors and no leaks"));
  g_object_get (wizard, "can-repair", &can_repair, NULL);
  g_assert_false (can_repair);
  gtk_window_destroy (GTK_WINDOW (wizard));
}

/* Runs tests/cli/qcow2-damage.py on @path once per ";"-separated action. */
static void
damage (const char *path,
        const char *actions)
{
  g_auto(GStrv) steps = g_strsplit (actions, ";", -1);
  g_autofree char *script = g_build_filename (g_getenv ("STRATA_TEST_SRCDIR"), "cli",
                                              "qcow2-damage.py", NULL);

  for (guint i = 0; steps[i] != NULL; i++)
    g_free (tu_run_ok ("/usr/bin/python3 '%s' '%s' %s", script, path, steps[i]));
}

/*
 * A qcow2 image made by QEMU with a snapshot (so the clusters at 0 are shared: refcount 2)
 * and data written after it (refcount 1); @original keeps an undamaged copy. Then @actions
 * damage it (a Python script on stdin, or qcow2-damage.py actions), and `qemu-img check`
 * must call it corrupt (exit 2).
 */
static char *
make_damaged (const char *name,
              const char *original,
              const char *actions)
{
  char *path = g_strdup (tu_path (name));

  g_free (tu_run_ok ("qemu-img create -q -f qcow2 '%s' 16M && "
             "qemu-io -f qcow2 -c 'write -P 0x33 0 1M' '%s' >/dev/null && "
             "qemu-img snapshot -c s1 '%s' && "
             "qemu-io -f qcow2 -c 'write -P 0x44 2M 256k' '%s' >/dev/null && "
             "cp '%s' '%s'", path, path, path, path, path, original));
  if (g_str_has_prefix (actions, "import"))
    g_free (tu_run_ok ("/usr/bin/python3 - '%s' <<'PY'\n%sPY", path, actions));
  else
    damage (path, actions);
  g_assert_cmpint (tu_run (NULL, NULL, "qemu-img check '%s' >/dev/null 2>&1", path), ==, 2);
  return path;
}

/* The wizard's confirmation dialog (an AdwMessageDialog over @wizard), or NULL. */
static AdwMessageDialog *
find_dialog (GtkWidget *wizard)
{
  GListModel *toplevels = gtk_window_get_toplevels ();

  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      g_autoptr(GtkWindow) w = g_list_model_get_item (toplevels, i);

      if (ADW_IS_MESSAGE_DIALOG (w) &&
          gtk_window_get_transient_for (w) == GTK_WINDOW (wizard))
        return ADW_MESSAGE_DIALOG (w);
    }
  return NULL;
}

/* Checks @path in a new wizard and returns it on the result page, which must offer
 * @repair ("all", "leaks" or NULL). */
static GtkWidget *
check_offers (StrataJobManager *jobs,
              const char       *path,
              const char       *repair)
{
  GtkWidget *wizard = open_wizard (jobs, path);
  g_autofree char *offered = NULL;
  gboolean can_repair;

  gtk_widget_activate_action (wizard, "wizard.start", NULL);
  wt_wait_page (wizard, "result");
  offered = string_prop (wizard, "repair");
  g_assert_cmpstr (offered, ==, repair);
  g_object_get (wizard, "can-repair", &can_repair, NULL);
  g_assert_true (can_repair == (repair != NULL));
  return wizard;
}

/* Confirms the full repair in its dialog (which says the image must not be in use). */
static void
confirm_repair_all (GtkWidget  *wizard,
                    const char *shot_name)
{
  AdwMessageDialog *dialog;

  gtk_widget_activate_action (wizard, "wizard.repair-all", NULL);
  dialog = find_dialog (wizard);
  g_assert_nonnull (dialog);
  g_assert_nonnull (strstr (adw_message_dialog_get_body (dialog), "must not be in use"));
  g_assert_nonnull (strstr (adw_message_dialog_get_body (dialog), ".qcow2"));
  if (shot_name != NULL)
    g_free (wt_screenshot (GTK_WIDGET (dialog), shot_name));
  adw_message_dialog_response (dialog, "repair");
  gtk_window_destroy (GTK_WINDOW (dialog));
}

/*
 * Refcounts too low (a shared cluster counted once), a COPIED flag cleared on a cluster
 * used once, and a leak: the wizard offers the full repair; afterwards QEMU finds the image
 * clean and identical to the undamaged copy, and the wizard's re-check says so. A refcount
 * of 0 under a used cluster needs the refcount structures rebuilt: the same repair does it.
 */
static void
test_repair_all (void)
{
  static const struct { const char *name, *damage; } cases[] = {
    { "refcounts", "data-refcount 0 1;data-copied 0x200000 off;leak 1" },
    { "rebuild", "data-refcount 0x200000 0" },
  };
  g_autoptr(StrataJobManager) jobs = strata_job_manager_new ();

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *name = g_strdup_printf ("damaged-%s.qcow2", cases[i].name);
      g_autofree char *orig_name = g_strdup_printf ("orig-%s.qcow2", cases[i].name);
      g_autofree char *orig = g_strdup (tu_path (orig_name));
      g_autofree char *path = make_damaged (name, orig, cases[i].damage);
      g_autofree char *summary = NULL;
      g_autofree char *shot = NULL;
      g_autofree char *before = tu_file_checksum (path);
      g_autofree char *after = NULL;
      GtkWidget *wizard;

      wizard = check_offers (jobs, path, "all");
      summary = string_prop (wizard, "summary");
      g_assert_nonnull (strstr (summary, "found in its metadata"));
      shot = g_strdup_printf ("check-4-damaged-%s", cases[i].name);
      g_free (wt_screenshot (wizard, shot));
      /* The check only read it. */
      g_free (after);
      after = tu_file_checksum (path);
      g_assert_cmpstr (after, ==, before);

      /* Cancelling the dialog starts nothing. */
      gtk_widget_activate_action (wizard, "wizard.repair-all", NULL);
      g_assert_nonnull (find_dialog (wizard));
      adw_message_dialog_response (find_dialog (wizard), "cancel");
      gtk_window_destroy (GTK_WINDOW (find_dialog (wizard)));
      g_assert_cmpstr (strata_wizard_get_page (STRATA_WIZARD (wizard)), ==, "result");

      g_free (shot);
      shot = g_strdup_printf ("check-5-confirm-%s", cases[i].name);
      confirm_repair_all (wizard, shot);
      wt_wait_page (wizard, "progress");
      wt_wait_page (wizard, "result");
      g_free (summary);
      summary = string_prop (wizard, "summary");
      g_assert_nonnull (strstr (summary, "repaired"));
      g_assert_nonnull (strstr (summary, "No errors and no leaks remain"));
      g_free (shot);
      shot = g_strdup_printf ("check-6-repaired-%s", cases[i].name);
      g_free (wt_screenshot (wizard, shot));
      g_assert_null (string_prop (wizard, "repair"));

      tu_assert_qemu_check_clean (path);
      tu_assert_qemu_compare (path, orig);
      gtk_window_destroy (GTK_WINDOW (wizard));
    }
}

/* Metadata the check cannot follow (an L2 table past the end of the file): the wizard says
 * Strata cannot repair it and offers nothing. */
static void
test_unrepairable (void)
{
  g_autoptr(StrataJobManager) jobs = strata_job_manager_new ();
  g_autofree char *orig = g_strdup (tu_path ("orig-broken.qcow2"));
  g_autofree char *path = NULL;
  g_autofree char *summary = NULL;
  GtkWidget *wizard;

  path = make_damaged ("broken.qcow2", orig,
                       "import struct, sys\n"
                       "f = open(sys.argv[1], 'r+b')\n"
                       "h = f.read(104)\n"
                       "l1 = struct.unpack('>Q', h[40:48])[0]\n"
                       "f.seek(l1)\n"
                       "f.write(struct.pack('>Q', (1 << 63) | (1 << 40)))\n");

  wizard = check_offers (jobs, path, NULL);
  summary = string_prop (wizard, "summary");
  g_assert_nonnull (strstr (summary, "cannot repair"));
  g_free (wt_screenshot (wizard, "check-7-unrepairable"));
  gtk_window_destroy (GTK_WINDOW (wizard));
}

/*
 * The full repair is a job like any other: cancelled at its first write, it stops with the
 * guest's data as it was (QEMU compares it with the undamaged copy) and says errors may
 * remain; checked again, the wizard offers the repair again, and that one finishes.
 */
static void
test_repair_all_cancel (void)
{
  g_autoptr(StrataJobManager) jobs = strata_job_manager_new ();
  g_autofree char *orig = g_strdup (tu_path ("orig-cancel.qcow2"));
  g_autofree char *path = make_damaged ("cancel.qcow2", orig,
                                        "data-refcount 0 1;data-copied 0x200000 off;leak 1");
  g_autofree char *summary = NULL;
  GtkWidget *wizard;
  int rc;

  wizard = check_offers (jobs, path, "all");
  wt_block_first_write ("cancel.qcow2");
  confirm_repair_all (wizard, NULL);
  wt_wait_blocked ();
  g_assert_cmpstr (strata_wizard_get_page (STRATA_WIZARD (wizard)), ==, "progress");
  g_free (wt_screenshot (wizard, "check-9-repairing"));
  summary = wt_cancel_blocked (wizard);
  g_assert_nonnull (strstr (summary, "some errors may remain"));
  gtk_window_destroy (GTK_WINDOW (wizard));

  /* No worse: QEMU can still check it, and the guest sees the same data. */
  rc = tu_run (NULL, NULL, "qemu-img check '%s' >/dev/null 2>&1", path);
  g_test_message ("after the cancel, qemu-img check exits %d", rc);
  g_assert_true (rc == 0 || rc == 2 || rc == 3);
  tu_assert_qemu_compare (path, orig);

  wizard = check_offers (jobs, path, rc == 2 ? "all" : rc == 3 ? "leaks" : NULL);
  if (rc == 2)
    {
      confirm_repair_all (wizard, NULL);
      wt_wait_page (wizard, "progress");
      wt_wait_page (wizard, "result");
    }
  else if (rc == 3)
    {
      gtk_widget_activate_action (wizard, "wizard.repair", NULL);
      wt_wait_page (wizard, "progress");
      wt_wait_page (wizard, "result");
    }
  gtk_window_destroy (GTK_WINDOW (wizard));
  tu_assert_qemu_check_clean (path);
  tu_assert_qemu_compare (path, orig);
}

/*
 * A virtual machine (qemu-io) holds the image. Held before the check: the result says so
 * and offers no repair. Started after the check: the engine refuses the repair, the wizard
 * says which file is in use and that nothing changed, and nothing did.
 */
static void
test_repair_in_use (void)
{
  g_autoptr(StrataJobManager) jobs = strata_job_manager_new ();
  g_autofree char *orig = g_strdup (tu_path ("orig-held.qcow2"));
  g_autofree char *path = make_damaged ("held.qcow2", orig, "data-refcount 0 1");
  g_autofree char *summary = NULL;
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  GtkWidget *wizard;
  GPid pid;

  pid = wt_hold (path, "qcow2", FALSE);
  before = tu_file_checksum (path);
  wizard = check_offers (jobs, path, NULL);
  summary = string_prop (wizard, "summary");
  g_assert_nonnull (strstr (summary, "held.qcow2 is in use by a running virtual machine"));
  gtk_window_destroy (GTK_WINDOW (wizard));
  wt_release (pid);

  wizard = check_offers (jobs, path, "all");
  pid = wt_hold (path, "qcow2", FALSE);
  g_free (before);
  before = tu_file_checksum (path);
  confirm_repair_all (wizard, NULL);
  wt_wait_page (wizard, "result");
  g_free (summary);
  summary = string_prop (wizard, "summary");
  g_assert_nonnull (strstr (summary, "held.qcow2 is in use by another program"));
  g_assert_nonnull (strstr (summary, "Nothing was changed"));
  g_free (wt_screenshot (wizard, "check-8-in-use"));
  after = tu_file_checksum (path);
  g_assert_cmpstr (after, ==, before);
  wt_release (pid);
  /* The job manager's failure dialog. */
  {
    GListModel *toplevels = gtk_window_get_toplevels ();

    for (guint i = g_list_model_get_n_items (toplevels); i > 0; i--)
      {
        g_autoptr(GtkWindow) w = g_list_model_get_item (toplevels, i - 1);

        if (ADW_IS_MESSAGE_DIALOG (w))
          gtk_window_destroy (w);
      }
  }
  gtk_window_destroy (GTK_WINDOW (wizard));
  g_assert_cmpint (tu_run (NULL, NULL, "qemu-img check '%s' >/dev/null 2>&1", path), ==, 2);
}

int
main (int argc, char **argv)
{
  wt_init (&argc, &argv);

  g_test_add_func ("/wizard/check/check-and-repair", test_check_and_repair);
  g_test_add_func ("/wizard/check/repair-all", test_repair_all);
  g_test_add_func ("/wizard/check/repair-all-cancel", test_repair_all_cancel);
  g_test_add_func ("/wizard/check/unrepairable", test_unrepairable);
  g_test_add_func ("/wizard/check/repair-in-use", test_repair_in_use);

  return g_test_run ();
}
