/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strata-error.h"
#include "strata-image.h"
#include "strata-job-row.h"
#include "strata-protect.h"
#include "strata-run-wizard.h"
#include "strata-siblings.h"
#include "strata-vm.h"
#include "strata-wizard-util.h"
#include "strata-wizards-resources.h"

/* One image the wizard offers to run. What the worker finds (format, chain, the reasons
 * that do not change while the wizard is open) is fixed; what the job manager says is asked
 * again whenever its jobs change. */
typedef struct
{
  char        *path;
  char        *format;
  char       **reads;     /* the files of the chain below it */
  char        *backing;   /* the name of its backing file, or NULL */
  char        *refusal;   /* why a VM may not run on it, found by the worker, or NULL */
  GtkWidget   *row;
  GtkWidget   *check;
  GtkWidget   *icon;
} Candidate;

struct _StrataRunWizard
{
  StrataWizard         parent_instance;

  GtkButton           *back_button;
  GtkSwitch           *display_switch;
  AdwPreferencesGroup *images_group;
  AdwPreferencesGroup *machine_group;
  GtkSpinButton       *memory_spin;
  GtkLabel            *problem_label;
  AdwStatusPage       *result_page;
  GtkListBox          *run_list;
  GtkStack            *stack;
  GtkButton           *start_button;

  char                *path;
  GPtrArray           *candidates; /* Candidate *, the selected image first; NULL until found */
  char                *error;
  GPtrArray           *vms;        /* StrataVm *, the machines this wizard started */
  gboolean             started;
};

enum
{
  PROP_0,
  PROP_PATH,
  PROP_MEMORY,
  PROP_SHOW_DISPLAY,
  PROP_N_CANDIDATES,
  PROP_N_CHECKED,
  PROP_N_RUNNING,
  PROP_N_FAILED,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (StrataRunWizard, strata_run_wizard, STRATA_TYPE_WIZARD)

static void
candidate_free (Candidate *c)
{
  g_free (c->path);
  g_free (c->format);
  g_free (c->backing);
  g_strfreev (c->reads);
  g_free (c->refusal);
  g_free (c);
}

/* ---------------------------------------------------------------------------------------- */
/* What the worker finds out                                                                */

static char *
backing_path_of (const char  *path,
                 GError     **error)
{
  g_autoptr(StrataImage) top = NULL;
  const char *backing;

  top = strata_image_open (path, NULL, STRATA_OPEN_FORCE_SHARE | STRATA_OPEN_NO_BACKING, error);
  if (top == NULL)
    return NULL;
  backing = strata_image_get_backing_path (top);
  return g_strdup (backing != NULL ? backing : "");
}

static Candidate *
inspect (const char         *path,
         const char * const *dirs)
{
  Candidate *c = g_new0 (Candidate, 1);
  g_autofree char *name = g_path_get_basename (path);
  g_autofree char *backing = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(StrataImage) image = NULL;
  g_autoptr(GPtrArray) files = NULL;
  g_autoptr(GPtrArray) reads = NULL;
  g_auto(GStrv) overlays = NULL;
  gboolean is_protected = FALSE;
  const char *format;
  struct stat st;

  c->path = g_strdup (path);

  if (g_stat (path, &st) != 0 || !S_ISREG (st.st_mode))
    {
      c->refusal = g_strdup_printf (_("%s is not a disk image file."), name);
      return c;
    }
  format = strata_probe_format (path, &error);
  if (format == NULL)
    {
      c->refusal = g_strdup_printf (_("%s is not a disk image QEMU can run: %s"), name,
                                    error->message);
      return c;
    }
  c->format = g_strdup (format);
  /* What is neither qcow2 nor VMDK is taken for raw; a raw disk is whole 512-byte sectors. */
  if (g_str_equal (format, "raw") && (st.st_size == 0 || st.st_size % 512 != 0))
    {
      c->refusal = g_strdup_printf (_("%s is not a disk image: it is neither qcow2 nor VMDK, "
                                      "and its size is not a whole number of sectors."), name);
      return c;
    }

  backing = backing_path_of (path, &error);
  if (backing == NULL)
    {
      c->refusal = g_strdup_printf (_("%s is not a disk image QEMU can run: %s"), name,
                                    error->message);
      return c;
    }
  if (*backing != '\0')
    c->backing = g_path_get_basename (backing);
  if (*backing != '\0' && !g_file_test (backing, G_FILE_TEST_EXISTS))
    {
      g_autofree char *backing_name = g_path_get_basename (backing);

      c->refusal = g_strdup_printf (_("The backing file of %s, %s, is missing: QEMU cannot "
                                      "start without it. Locate it first."), name, backing_name);
      return c;
    }

  image = strata_image_open (path, NULL, STRATA_OPEN_FORCE_SHARE, &error);
  if (image == NULL)
    {
      c->refusal = g_strdup_printf (_("%s cannot be run: %s"), name, error->message);
      return c;
    }
  files = strata_image_list_chain_files (image);
  reads = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < files->len; i++)
    {
      const char *file = strata_file_get_path (g_ptr_array_index (files, i));
      g_autofree char *canonical = g_canonicalize_filename (file, NULL);

      if (g_strcmp0 (canonical, path) != 0
          && !g_ptr_array_find_with_equal_func (reads, canonical, g_str_equal, NULL))
        g_ptr_array_add (reads, g_steal_pointer (&canonical));
    }
  g_ptr_array_add (reads, NULL);
  c->reads = (char **) g_ptr_array_free (g_steal_pointer (&reads), FALSE);

  if (strata_is_protected (path, &is_protected, NULL) && is_protected)
    {
      c->refusal = g_strdup_printf (_("%s is protected (read-only): a virtual machine could "
                                      "not write to it."), name);
      return c;
    }

  overlays = strata_find_siblings (path, dirs, NULL, NULL, NULL);
  if (overlays != NULL && overlays[0] != NULL)
    {
      guint n = g_strv_length (overlays);

      c->refusal = g_strdup_printf (ngettext ("%s is the base of %u overlay: a virtual machine "
                                              "running on it would change the base under it "
                                              "and corrupt it. Run the overlay instead.",
                                              "%s is the base of %u overlays: a virtual "
                                              "machine running on it would change the base "
                                              "under them and corrupt them. Run one of the "
                                              "overlays instead.", n),
                                    name, n);
      return c;
    }

  if (strata_wizard_held_by_other (path, TRUE))
    {
      c->refusal = g_strdup_printf (_("%s is in use by another program (a virtual machine "
                                      "already running on it?)."), name);
      return c;
    }
  for (guint i = 0; c->reads[i] != NULL; i++)
    if (strata_wizard_held_by_other (c->reads[i], FALSE))
      {
        g_autofree char *below = g_path_get_basename (c->reads[i]);

        c->refusal = g_strdup_printf (_("%s, below %s, is being written by another program: "
                                        "a virtual machine would read it while it changes."),
                                      below, name);
        return c;
      }

  return c;
}

static int
compare_paths (gconstpointer a,
               gconstpointer b)
{
  return g_strcmp0 (*(const char * const *) a, *(const char * const *) b);
}

static void
inspect_thread (GTask        *task,
                gpointer      source_object,
                gpointer      task_data,
                GCancellable *cancellable)
{
  char **in = task_data; /* the path, then the library's folders */
  const char *path = in[0];
  const char * const *dirs = (const char * const *) in + 1;
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) candidate_free);
  g_autoptr(GPtrArray) others = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;
  Candidate *selected;

  selected = inspect (path, dirs);
  g_ptr_array_add (out, selected);

  /* The other overlays of the same base: the copy-on-write way to run several machines. */
  if (selected->format != NULL)
    {
      g_autofree char *backing = backing_path_of (path, NULL);
      g_auto(GStrv) siblings = NULL;

      if (backing != NULL && *backing != '\0' && g_file_test (backing, G_FILE_TEST_EXISTS))
        siblings = strata_find_siblings (backing, dirs, path, cancellable, NULL);
      else
        /* A base with overlays: offer those instead. */
        siblings = strata_find_siblings (path, dirs, NULL, cancellable, NULL);
      for (guint i = 0; siblings != NULL && siblings[i] != NULL; i++)
        g_ptr_array_add (others, g_canonicalize_filename (siblings[i], NULL));
    }
  g_ptr_array_sort (others, compare_paths);
  for (guint i = 0; i < others->len; i++)
    if (g_strcmp0 (g_ptr_array_index (others, i), path) != 0)
      g_ptr_array_add (out, inspect (g_ptr_array_index (others, i), dirs));

  g_task_return_pointer (task, out, (GDestroyNotify) g_ptr_array_unref);
}

/* ---------------------------------------------------------------------------------------- */
/* The setup page                                                                           */

/* Why a VM may not run on @c right now, or NULL. */
static char *
refusal_of (StrataRunWizard *self,
            Candidate       *c)
{
  StrataJobManager *jobs = strata_wizard_get_jobs (STRATA_WIZARD (self));
  g_autofree char *name = g_path_get_basename (c->path);

  /* Our own jobs first: a VM Strata runs also holds QEMU's locks, but it is no stranger. */
  if (strata_job_manager_is_busy (jobs, c->path))
    return g_strdup_printf (_("%s is in use by a running job; wait for it to finish or stop "
                              "it."), name);
  for (guint i = 0; c->reads != NULL && c->reads[i] != NULL; i++)
    if (strata_job_manager_is_writing (jobs, c->reads[i]))
      {
        g_autofree char *below = g_path_get_basename (c->reads[i]);

        return g_strdup_printf (_("%s, below %s, is being written by a running job; wait for "
                                  "it to finish."), below, name);
      }
  return g_strdup (c->refusal);
}

static guint
count_checked (StrataRunWizard *self)
{
  guint n = 0;

  for (guint i = 0; self->candidates != NULL && i < self->candidates->len; i++)
    {
      Candidate *c = g_ptr_array_index (self->candidates, i);

      if (gtk_widget_get_sensitive (c->check)
          && gtk_check_button_get_active (GTK_CHECK_BUTTON (c->check)))
        n++;
    }
  return n;
}

static void
validate (StrataRunWizard *self)
{
  StrataWizard *wizard = STRATA_WIZARD (self);
  g_autofree char *name = g_path_get_basename (self->path);
  g_autofree char *message = NULL;
  Candidate *selected;

  if (self->started)
    return;
  if (self->error != NULL)
    {
      strata_wizard_set_problem (wizard, self->error, FALSE);
      return;
    }
  if (self->candidates == NULL)
    {
      message = g_strdup_printf (_("Looking at %s and the overlays beside it…"), name);
      strata_wizard_set_problem (wizard, message, FALSE);
      return;
    }

  for (guint i = 0; i < self->candidates->len; i++)
    {
      Candidate *c = g_ptr_array_index (self->candidates, i);
      g_autofree char *refusal = refusal_of (self, c);
      g_autofree char *subtitle = NULL;

      gtk_widget_set_sensitive (c->check, refusal == NULL);
      if (refusal != NULL)
        gtk_check_button_set_active (GTK_CHECK_BUTTON (c->check), FALSE);
      gtk_widget_set_visible (c->icon, refusal != NULL);
      /* The selected image's refusal is the problem line below: not said twice. */
      if (refusal != NULL && i == 0)
        subtitle = g_strdup (_("Cannot run; the reason is below"));
      else if (refusal != NULL)
        subtitle = g_steal_pointer (&refusal);
      else if (c->backing != NULL)
        subtitle = g_strdup_printf (_("Overlay of %s"), c->backing);
      else
        subtitle = g_strdup (_("Has no backing file"));
      adw_action_row_set_subtitle (ADW_ACTION_ROW (c->row), subtitle);
    }

  selected = g_ptr_array_index (self->candidates, 0);
  if (count_checked (self) == 0)
    {
      g_autofree char *refusal = refusal_of (self, selected);

      if (refusal != NULL)
        strata_wizard_set_problem (wizard, refusal, FALSE);
      else
        strata_wizard_set_problem (wizard, _("Choose at least one overlay to run."), FALSE);
      return;
    }

  /* Too much memory is QEMU's to refuse (or the kernel's to kill it), but it is no surprise. */
  {
    guint64 memory = (guint64) gtk_spin_button_get_value_as_int (self->memory_spin);
    guint64 wanted = (guint64) count_checked (self) * memory * 1024 * 1024;
    long pages = sysconf (_SC_PHYS_PAGES);
    long page_size = sysconf (_SC_PAGESIZE);
    guint64 physical = pages > 0 && page_size > 0 ? (guint64) pages * (guint64) page_size : 0;

    if (physical > 0 && wanted > physical)
      {
        g_autofree char *have = g_format_size_full (physical, G_FORMAT_SIZE_IEC_UNITS);

        message = g_strdup_printf (_("Together the virtual machines ask for more memory than "
                                     "this computer has (%s); they may fail to start or make "
                                     "it slow."), have);
        strata_wizard_set_problem (wizard, message, TRUE);
        return;
      }
  }

  strata_wizard_set_problem (wizard, NULL, FALSE);
}

static void
check_toggled_cb (StrataRunWizard *self)
{
  validate (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_CHECKED]);
}

static void
add_row (StrataRunWizard *self,
         Candidate       *c,
         gboolean         checked)
{
  g_autofree char *name = g_path_get_basename (c->path);
  /* Translators: the accessible name of an overlay's check box; %s is the image. */
  g_autofree char *label = g_strdup_printf (_("Run %s"), name);

  c->row = adw_action_row_new ();
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (c->row), name);
  adw_action_row_set_subtitle_lines (ADW_ACTION_ROW (c->row), 0);
  c->check = gtk_check_button_new ();
  gtk_widget_set_valign (c->check, GTK_ALIGN_CENTER);
  gtk_check_button_set_active (GTK_CHECK_BUTTON (c->check), checked);
  gtk_accessible_update_property (GTK_ACCESSIBLE (c->check), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  label, -1);
  adw_action_row_add_prefix (ADW_ACTION_ROW (c->row), c->check);
  adw_action_row_set_activatable_widget (ADW_ACTION_ROW (c->row), c->check);
  c->icon = gtk_image_new_from_icon_name ("dialog-warning-symbolic");
  gtk_widget_add_css_class (c->icon, "warning");
  gtk_accessible_update_property (GTK_ACCESSIBLE (c->icon), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Cannot run"), -1);
  gtk_widget_set_visible (c->icon, FALSE);
  adw_action_row_add_suffix (ADW_ACTION_ROW (c->row), c->icon);
  g_signal_connect_swapped (c->check, "toggled", G_CALLBACK (check_toggled_cb), self);
  adw_preferences_group_add (self->images_group, c->row);
}

static void
inspected_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(StrataRunWizard) self = user_data;
  g_autoptr(GError) error = NULL;
  GPtrArray *candidates;

  candidates = g_task_propagate_pointer (G_TASK (result), &error);
  /* The window may have closed while the worker looked. */
  if (gtk_widget_in_destruction (GTK_WIDGET (self)) || self->images_group == NULL)
    {
      g_clear_pointer (&candidates, g_ptr_array_unref);
      return;
    }
  if (candidates == NULL)
    {
      self->error = g_strdup (error->message);
      validate (self);
      return;
    }

  self->candidates = candidates;
  for (guint i = 0; i < candidates->len; i++)
    add_row (self, g_ptr_array_index (candidates, i), i == 0);
  validate (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_CANDIDATES]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_CHECKED]);
}

/* ---------------------------------------------------------------------------------------- */
/* Running                                                                                  */

static guint
count_vms (StrataRunWizard *self,
           StrataVmState    state)
{
  guint n = 0;

  for (guint i = 0; self->vms != NULL && i < self->vms->len; i++)
    if (strata_vm_get_state (g_ptr_array_index (self->vms, i)) == state)
      n++;
  return n;
}

static guint
count_failed (StrataRunWizard *self)
{
  StrataJobManager *jobs = strata_wizard_get_jobs (STRATA_WIZARD (self));
  guint n = 0;

  for (guint i = 0; self->vms != NULL && i < self->vms->len; i++)
    {
      StrataVm *vm = g_ptr_array_index (self->vms, i);
      StrataJobState state;

      if (strata_vm_get_state (vm) != STRATA_VM_EXITED)
        continue;
      state = strata_job_manager_get_state (jobs, strata_vm_get_job (vm));
      if (state == STRATA_JOB_STATE_FAILED)
        n++;
    }
  return n;
}

static void update_result (StrataRunWizard *self);

static void
vm_state_cb (StrataRunWizard *self,
             GParamSpec      *pspec,
             StrataVm        *vm)
{
  StrataLibrary *library = strata_wizard_get_library (STRATA_WIZARD (self));
  StrataLibraryNode *node;

  /* QEMU holds the image now: the graph need not wait for its next look at the locks. */
  if (strata_vm_get_state (vm) == STRATA_VM_RUNNING && library != NULL
      && (node = strata_library_lookup (library, strata_vm_get_path (vm))) != NULL)
    {
      g_autoptr(GPtrArray) nodes = g_ptr_array_new ();

      g_ptr_array_add (nodes, node);
      strata_library_refresh_locks (library, nodes);
    }
  update_result (self);
}

static void
update_result (StrataRunWizard *self)
{
  guint n = self->vms->len;
  guint starting = count_vms (self, STRATA_VM_STARTING);
  guint running = count_vms (self, STRATA_VM_RUNNING);
  guint failed = count_failed (self);
  g_autofree char *title = NULL;
  const char *description;

  if (starting > 0)
    {
      title = g_strdup_printf (ngettext ("Starting %u Virtual Machine…",
                                         "Starting %u Virtual Machines…", n), n);
      description = _("QEMU is opening the disk images.");
    }
  else if (running > 0)
    {
      title = g_strdup_printf (ngettext ("%u Virtual Machine Running",
                                         "%u Virtual Machines Running", running), running);
      description = failed > 0
        ? _("Some could not start: their errors are below. The others keep running when you "
            "close this window; stop them here or from the operations in the header bar.")
        : _("They keep running when you close this window; stop them here or from the "
            "operations in the header bar.");
    }
  else if (failed > 0)
    {
      title = g_strdup (ngettext ("The Virtual Machine Did Not Start",
                                  "The Virtual Machines Did Not Start", n));
      description = _("QEMU’s message is below.");
    }
  else
    {
      title = g_strdup (ngettext ("The Virtual Machine Has Stopped",
                                  "The Virtual Machines Have Stopped", n));
      description = _("Their overlays are closed and can be changed again.");
    }

  strata_wizard_show_result (STRATA_WIZARD (self), starting + running > 0 || failed == 0,
                             title, description);
  if (starting + running > 0)
    adw_status_page_set_icon_name (self->result_page, "media-playback-start-symbolic");
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_RUNNING]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_FAILED]);
}

static void
strata_run_wizard_start (StrataWizard *wizard)
{
  StrataRunWizard *self = STRATA_RUN_WIZARD (wizard);
  StrataJobManager *jobs = strata_wizard_get_jobs (wizard);
  guint memory = (guint) gtk_spin_button_get_value_as_int (self->memory_spin);
  gboolean display = gtk_switch_get_active (self->display_switch);
  g_autoptr(GString) errors = g_string_new (NULL);

  validate (self);
  if (self->candidates == NULL || count_checked (self) == 0)
    return;

  self->started = TRUE;
  for (guint i = 0; i < self->candidates->len; i++)
    {
      Candidate *c = g_ptr_array_index (self->candidates, i);
      g_autoptr(GError) error = NULL;
      StrataVm *vm;

      if (!gtk_widget_get_sensitive (c->check)
          || !gtk_check_button_get_active (GTK_CHECK_BUTTON (c->check)))
        continue;

      vm = strata_vm_start (jobs, GTK_WINDOW (self), c->path, c->format,
                            (const char * const *) c->reads, memory, display, &error);
      if (vm == NULL)
        {
          GtkWidget *row = adw_action_row_new ();
          g_autofree char *name = g_path_get_basename (c->path);

          adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), name);
          adw_action_row_set_subtitle (ADW_ACTION_ROW (row), error->message);
          adw_action_row_set_subtitle_lines (ADW_ACTION_ROW (row), 0);
          gtk_list_box_append (self->run_list, row);
          g_string_append_printf (errors, "%s%s", errors->len > 0 ? "\n" : "", error->message);
          continue;
        }
      g_ptr_array_add (self->vms, vm);
      gtk_list_box_append (self->run_list, strata_job_row_new (jobs, strata_vm_get_job (vm)));
      g_signal_connect_object (vm, "notify::state", G_CALLBACK (vm_state_cb), self,
                               G_CONNECT_SWAPPED);
    }

  if (self->vms->len == 0)
    {
      guint n = count_checked (self);

      strata_wizard_show_result (wizard, FALSE,
                                 ngettext ("The Virtual Machine Did Not Start",
                                           "The Virtual Machines Did Not Start", n),
                                 errors->str);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_FAILED]);
      return;
    }
  update_result (self);
}

static void
toggle_action (GtkWidget  *widget,
               const char *action_name,
               GVariant   *parameter)
{
  StrataRunWizard *self = STRATA_RUN_WIZARD (widget);
  g_autofree char *path = g_canonicalize_filename (g_variant_get_string (parameter, NULL), NULL);

  for (guint i = 0; self->candidates != NULL && i < self->candidates->len; i++)
    {
      Candidate *c = g_ptr_array_index (self->candidates, i);

      if (g_str_equal (c->path, path) && gtk_widget_get_sensitive (c->check))
        gtk_check_button_set_active (GTK_CHECK_BUTTON (c->check),
                                     !gtk_check_button_get_active (GTK_CHECK_BUTTON (c->check)));
    }
}

/* ---------------------------------------------------------------------------------------- */

static void
strata_run_wizard_constructed (GObject *object)
{
  StrataRunWizard *self = STRATA_RUN_WIZARD (object);
  StrataLibrary *library;
  g_autoptr(GTask) task = NULL;
  g_autofree char *accel = NULL;
  GPtrArray *in;
  const char * const *folders;

  G_OBJECT_CLASS (strata_run_wizard_parent_class)->constructed (object);

  strata_wizard_set_chrome (STRATA_WIZARD (self), self->stack, self->back_button,
                            self->start_button, self->problem_label, self->run_list,
                            self->result_page);

  accel = strata_vm_dup_accel ();
  if (g_strcmp0 (accel, "kvm") == 0)
    adw_preferences_group_set_description (self->machine_group,
                                           _("QEMU runs the guest with KVM, at nearly the "
                                             "speed of this computer."));
  else if (g_strcmp0 (accel, "tcg") == 0 && !strata_vm_kvm_usable ())
    adw_preferences_group_set_description (self->machine_group,
                                           _("KVM is not available here: QEMU emulates the "
                                             "processor, which is much slower."));
  else if (g_strcmp0 (accel, "tcg") == 0)
    adw_preferences_group_set_description (self->machine_group,
                                           _("QEMU emulates the processor (TCG), which is much "
                                             "slower than KVM."));

  g_signal_connect_object (strata_wizard_get_jobs (STRATA_WIZARD (self)), "items-changed",
                           G_CALLBACK (validate), self, G_CONNECT_SWAPPED);
  g_signal_connect_swapped (self->memory_spin, "value-changed", G_CALLBACK (validate), self);

  validate (self);

  library = strata_wizard_get_library (STRATA_WIZARD (self));
  folders = library != NULL ? strata_library_get_folders (library) : NULL;
  in = g_ptr_array_new ();
  g_ptr_array_add (in, g_strdup (self->path));
  for (guint i = 0; folders != NULL && folders[i] != NULL; i++)
    g_ptr_array_add (in, g_strdup (folders[i]));
  g_ptr_array_add (in, NULL);
  task = g_task_new (NULL, NULL, inspected_cb, g_object_ref (self));
  g_task_set_task_data (task, g_ptr_array_free (in, FALSE), (GDestroyNotify) g_strfreev);
  g_task_run_in_thread (task, inspect_thread);
}

static void
strata_run_wizard_dispose (GObject *object)
{
  StrataRunWizard *self = STRATA_RUN_WIZARD (object);

  if (strata_wizard_get_jobs (STRATA_WIZARD (self)) != NULL)
    g_signal_handlers_disconnect_by_data (strata_wizard_get_jobs (STRATA_WIZARD (self)), self);
  /* The machines run on; only this window's view of them goes. */
  for (guint i = 0; self->vms != NULL && i < self->vms->len; i++)
    g_signal_handlers_disconnect_by_data (g_ptr_array_index (self->vms, i), self);
  g_clear_pointer (&self->vms, g_ptr_array_unref);
  g_clear_pointer (&self->candidates, g_ptr_array_unref);

  gtk_widget_dispose_template (GTK_WIDGET (object), STRATA_TYPE_RUN_WIZARD);

  G_OBJECT_CLASS (strata_run_wizard_parent_class)->dispose (object);
}

static void
strata_run_wizard_finalize (GObject *object)
{
  StrataRunWizard *self = STRATA_RUN_WIZARD (object);

  g_clear_pointer (&self->path, g_free);
  g_clear_pointer (&self->error, g_free);

  G_OBJECT_CLASS (strata_run_wizard_parent_class)->finalize (object);
}

static void
strata_run_wizard_get_property (GObject    *object,
                                guint       prop_id,
                                GValue     *value,
                                GParamSpec *pspec)
{
  StrataRunWizard *self = STRATA_RUN_WIZARD (object);

  switch (prop_id)
    {
    case PROP_PATH:
      g_value_set_string (value, self->path);
      break;
    case PROP_MEMORY:
      g_value_set_uint (value, (guint) gtk_spin_button_get_value_as_int (self->memory_spin));
      break;
    case PROP_SHOW_DISPLAY:
      g_value_set_boolean (value, gtk_switch_get_active (self->display_switch));
      break;
    case PROP_N_CANDIDATES:
      g_value_set_uint (value, self->candidates != NULL ? self->candidates->len : 0);
      break;
    case PROP_N_CHECKED:
      g_value_set_uint (value, count_checked (self));
      break;
    case PROP_N_RUNNING:
      g_value_set_uint (value, count_vms (self, STRATA_VM_RUNNING));
      break;
    case PROP_N_FAILED:
      g_value_set_uint (value, self->vms != NULL ? count_failed (self) : 0);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
strata_run_wizard_set_property (GObject      *object,
                                guint         prop_id,
                                const GValue *value,
                                GParamSpec   *pspec)
{
  StrataRunWizard *self = STRATA_RUN_WIZARD (object);

  switch (prop_id)
    {
    case PROP_PATH:
      self->path = g_canonicalize_filename (g_value_get_string (value), NULL);
      break;
    case PROP_MEMORY:
      gtk_spin_button_set_value (self->memory_spin, g_value_get_uint (value));
      break;
    case PROP_SHOW_DISPLAY:
      gtk_switch_set_active (self->display_switch, g_value_get_boolean (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
strata_run_wizard_class_init (StrataRunWizardClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  StrataWizardClass *wizard_class = STRATA_WIZARD_CLASS (klass);

  object_class->constructed = strata_run_wizard_constructed;
  object_class->dispose = strata_run_wizard_dispose;
  object_class->finalize = strata_run_wizard_finalize;
  object_class->get_property = strata_run_wizard_get_property;
  object_class->set_property = strata_run_wizard_set_property;
  wizard_class->start = strata_run_wizard_start;

  properties[PROP_PATH] =
    g_param_spec_string ("path", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_MEMORY] =
    g_param_spec_uint ("memory", NULL, NULL, 128, 65536, 1024,
                       G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  properties[PROP_SHOW_DISPLAY] =
    g_param_spec_boolean ("show-display", NULL, NULL, TRUE,
                          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  properties[PROP_N_CANDIDATES] =
    g_param_spec_uint ("n-candidates", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_N_CHECKED] =
    g_param_spec_uint ("n-checked", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_N_RUNNING] =
    g_param_spec_uint ("n-running", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_N_FAILED] =
    g_param_spec_uint ("n-failed", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_install_action (widget_class, "wizard.toggle", "s", toggle_action);

  (void) strata_wizards_get_resource ();
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/gnome/Strata/wizards/"
                                               "strata-run-wizard.ui");
  gtk_widget_class_bind_template_child (widget_class, StrataRunWizard, back_button);
  gtk_widget_class_bind_template_child (widget_class, StrataRunWizard, display_switch);
  gtk_widget_class_bind_template_child (widget_class, StrataRunWizard, images_group);
  gtk_widget_class_bind_template_child (widget_class, StrataRunWizard, machine_group);
  gtk_widget_class_bind_template_child (widget_class, StrataRunWizard, memory_spin);
  gtk_widget_class_bind_template_child (widget_class, StrataRunWizard, problem_label);
  gtk_widget_class_bind_template_child (widget_class, StrataRunWizard, result_page);
  gtk_widget_class_bind_template_child (widget_class, StrataRunWizard, run_list);
  gtk_widget_class_bind_template_child (widget_class, StrataRunWizard, stack);
  gtk_widget_class_bind_template_child (widget_class, StrataRunWizard, start_button);
}

static void
strata_run_wizard_init (StrataRunWizard *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->vms = g_ptr_array_new_with_free_func (g_object_unref);
}

GtkWindow *
strata_run_wizard_new (GtkWindow        *parent,
                       StrataLibrary    *library,
                       StrataJobManager *jobs,
                       const char       *path)
{
  g_return_val_if_fail (STRATA_IS_JOB_MANAGER (jobs), NULL);
  g_return_val_if_fail (path != NULL, NULL);

  return g_object_new (STRATA_TYPE_RUN_WIZARD,
                       "transient-for", parent,
                       "library", library,
                       "jobs", jobs,
                       "path", path,
                       NULL);
}
