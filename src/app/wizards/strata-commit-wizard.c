/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <glib/gi18n.h>

#include "strata-commit.h"
#include "strata-commit-wizard.h"
#include "strata-protect.h"
#include "strata-siblings.h"
#include "strata-usage-bars.h"
#include "strata-wizard-util.h"
#include "strata-wizards-resources.h"

/* What the setup page knows, found in a worker thread: the base, the images that share it
 * and the predicted sizes (with and without keeping the overlay's data). */
typedef struct
{
  char               *overlay;
  char              **library_dirs;
  char               *base;
  gboolean            base_protected;
  char              **siblings;
  char              **unsure;
  StrataCommitResult  predict_empty;
  StrataCommitResult  predict_keep;
} CommitInfo;

struct _StrataCommitWizard
{
  StrataWizard         parent_instance;

  GtkButton           *back_button;
  GtkCheckButton      *base_check;
  AdwActionRow        *base_row;
  GtkCheckButton      *copy_check;
  AdwEntryRow         *copy_name_row;
  AdwActionRow        *copy_row;
  GtkListBox          *job_list;
  AdwActionRow        *keep_row;
  GtkSwitch           *keep_switch;
  AdwActionRow        *overlay_row;
  StrataUsageBars     *predicted_bars;
  GtkLabel            *problem_label;
  AdwStatusPage       *result_page;
  AdwActionRow        *risk_row;
  GtkSwitch           *risk_switch;
  AdwPreferencesGroup *siblings_group;
  GtkStack            *stack;
  GtkButton           *start_button;
  StrataUsageBars     *usage_bars;

  char                *overlay;
  CommitInfo          *info;
  char                *info_error;
  char                *copy_path;  /* into a copy: the copy being written */
  gboolean             into_copy;  /* of the running or finished job */
};

enum
{
  PROP_0,
  PROP_OVERLAY,
  PROP_MODE,
  PROP_COPY_NAME,
  PROP_KEEP_OVERLAY,
  PROP_ACCEPT_RISK,
  PROP_N_SIBLINGS,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (StrataCommitWizard, strata_commit_wizard, STRATA_TYPE_WIZARD)

static void
commit_info_free (CommitInfo *info)
{
  g_free (info->overlay);
  g_strfreev (info->library_dirs);
  g_free (info->base);
  g_strfreev (info->siblings);
  g_strfreev (info->unsure);
  strata_commit_result_clear (&info->predict_empty);
  strata_commit_result_clear (&info->predict_keep);
  g_free (info);
}

static void
inspect_thread (GTask        *task,
                gpointer      source_object,
                gpointer      task_data,
                GCancellable *cancellable)
{
  CommitInfo *info = task_data;
  StrataCommitOptions opts = { 0 };
  GError *error = NULL;

  opts.keep_overlay = FALSE;
  if (!strata_commit_predict (info->overlay, &opts, &info->predict_empty, cancellable, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  opts.keep_overlay = TRUE;
  if (!strata_commit_predict (info->overlay, &opts, &info->predict_keep, cancellable, &error))
    {
      g_task_return_error (task, error);
      return;
    }

  info->base = g_strdup (info->predict_empty.base);
  strata_is_protected (info->base, &info->base_protected, NULL);
  info->siblings = strata_find_siblings_full (info->base,
                                              (const char * const *) info->library_dirs,
                                              info->overlay, &info->unsure, cancellable,
                                              &error);
  if (info->siblings == NULL)
    {
      g_task_return_error (task, error);
      return;
    }

  g_task_return_boolean (task, TRUE);
}

static gboolean
copy_mode (StrataCommitWizard *self)
{
  return gtk_check_button_get_active (self->copy_check);
}

static guint
n_siblings (StrataCommitWizard *self)
{
  return self->info != NULL ? g_strv_length (self->info->siblings) : 0;
}

static const StrataCommitResult *
prediction (StrataCommitWizard *self)
{
  return gtk_switch_get_active (self->keep_switch) ? &self->info->predict_keep
                                                   : &self->info->predict_empty;
}

static char *
copy_path (StrataCommitWizard *self)
{
  g_autofree char *dir = g_path_get_dirname (self->info->base);

  return g_build_filename (dir, gtk_editable_get_text (GTK_EDITABLE (self->copy_name_row)),
                           NULL);
}

static void
update_predicted_bars (StrataCommitWizard *self)
{
  const StrataCommitResult *p = prediction (self);
  g_autofree char *overlay_name = g_path_get_basename (self->overlay);
  g_autofree char *base_name = g_path_get_basename (self->info->base);
  const char *copy_name = gtk_editable_get_text (GTK_EDITABLE (self->copy_name_row));

  strata_usage_bars_clear (self->predicted_bars);
  strata_usage_bars_add (self->predicted_bars, overlay_name, _("now"),
                         p->before.overlay_allocated, FALSE);
  strata_usage_bars_add (self->predicted_bars, overlay_name, _("predicted after"),
                         p->predicted.overlay_allocated, TRUE);
  strata_usage_bars_add (self->predicted_bars, base_name,
                         copy_mode (self) ? _("now, unchanged") : _("now"),
                         p->before.base_allocated, FALSE);
  /* The copy starts as a sparse copy of the base, so the base's prediction is the copy's. */
  strata_usage_bars_add (self->predicted_bars, copy_mode (self) ? copy_name : base_name,
                         _("predicted after"), p->predicted.base_allocated, TRUE);
}

static void
validate (StrataCommitWizard *self)
{
  StrataWizard *wizard = STRATA_WIZARD (self);
  StrataJobManager *jobs = strata_wizard_get_jobs (wizard);
  g_autofree char *overlay_name = NULL;
  g_autofree char *base_name = NULL;
  g_autofree char *message = NULL;
  const StrataCommitResult *p;
  guint64 free_space;
  guint64 needed;

  if (self->overlay == NULL)
    return;
  overlay_name = g_path_get_basename (self->overlay);

  if (self->info_error != NULL)
    {
      strata_wizard_set_problem (wizard, self->info_error, FALSE);
      return;
    }
  if (self->info == NULL)
    {
      message = g_strdup_printf (_("Looking at %s and the images around it…"), overlay_name);
      strata_wizard_set_problem (wizard, message, FALSE);
      return;
    }

  base_name = g_path_get_basename (self->info->base);
  p = prediction (self);

  gtk_widget_set_sensitive (GTK_WIDGET (self->copy_name_row), copy_mode (self));
  gtk_widget_set_visible (GTK_WIDGET (self->risk_row), !copy_mode (self) && n_siblings (self) > 0);
  update_predicted_bars (self);

  if ((message = strata_wizard_check_writable (jobs, self->overlay)) != NULL)
    {
      strata_wizard_set_problem (wizard, message, FALSE);
      return;
    }

  if (copy_mode (self))
    {
      g_autofree char *dir = g_path_get_dirname (self->info->base);

      message = strata_wizard_check_new_name (dir, gtk_editable_get_text (
                                                GTK_EDITABLE (self->copy_name_row)));
      if (message != NULL)
        {
          strata_wizard_set_problem (wizard, message, FALSE);
          return;
        }
      if (strata_job_manager_is_writing (jobs, self->info->base))
        {
          message = g_strdup_printf (_("%s is being written by a running job; wait for it to "
                                       "finish."), base_name);
          strata_wizard_set_problem (wizard, message, FALSE);
          return;
        }
      needed = p->predicted.base_allocated;
      free_space = strata_wizard_free_space (dir);
    }
  else
    {
      g_autofree char *dir = g_path_get_dirname (self->info->base);

      if (self->info->base_protected)
        {
          message = g_strdup_printf (_("%s is protected (read-only) because overlays rely on "
                                       "it. Commit into a copy, or unprotect it first."),
                                     base_name);
          strata_wizard_set_problem (wizard, message, FALSE);
          return;
        }
      if ((message = strata_wizard_check_writable (jobs, self->info->base)) != NULL)
        {
          strata_wizard_set_problem (wizard, message, FALSE);
          return;
        }
      if (n_siblings (self) > 0 && !gtk_switch_get_active (self->risk_switch))
        {
          message = g_strdup_printf (ngettext ("Another image uses %s: commit into a copy, or "
                                               "turn on “Commit Anyway”.",
                                               "Other images use %s: commit into a copy, or "
                                               "turn on “Commit Anyway”.",
                                               n_siblings (self)), base_name);
          strata_wizard_set_problem (wizard, message, FALSE);
          return;
        }
      needed = p->predicted.base_allocated > p->before.base_allocated
               ? p->predicted.base_allocated - p->before.base_allocated : 0;
      free_space = strata_wizard_free_space (dir);
    }

  if (free_space != G_MAXUINT64 && free_space < needed)
    {
      g_autofree char *free_text = g_format_size (free_space);
      g_autofree char *need_text = g_format_size (needed);

      message = g_strdup_printf (_("Only %s is free there; the commit needs about %s."),
                                 free_text, need_text);
      strata_wizard_set_problem (wizard, message, FALSE);
      return;
    }

  if (self->info->unsure != NULL && self->info->unsure[0] != NULL)
    {
      message = g_strjoinv ("\n", self->info->unsure);
      strata_wizard_set_problem (wizard, message, TRUE);
      return;
    }

  strata_wizard_set_problem (wizard, NULL, FALSE);
}

static void
show_info (StrataCommitWizard *self)
{
  g_autofree char *overlay_name = g_path_get_basename (self->overlay);
  g_autofree char *subtitle = NULL;
  g_autofree char *copy_name = NULL;
  guint n = n_siblings (self);

  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->overlay_row), overlay_name);
  if (self->info_error != NULL)
    {
      adw_action_row_set_subtitle (self->overlay_row, self->info_error);
      return;
    }
  if (self->info == NULL)
    {
      adw_action_row_set_subtitle (self->overlay_row, _("Reading…"));
      return;
    }

  {
    g_autofree char *base_name = g_path_get_basename (self->info->base);
    g_autofree char *usage = g_format_size (self->info->predict_empty.before.overlay_allocated);
    g_autofree char *base_title = NULL;
    g_autofree char *stem = g_strdup (base_name);
    g_autofree char *ostem = g_strdup (overlay_name);
    char *dot;

    /* Translators: "overlay of debian.qcow2, 75 MB on disk". */
    subtitle = g_strdup_printf (_("overlay of %s, %s on disk"), base_name, usage);
    adw_action_row_set_subtitle (self->overlay_row, subtitle);

    /* Translators: the choice to commit into the base itself; %s is its name. */
    base_title = g_strdup_printf (_("_The Base, %s"), base_name);
    adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->base_row), base_title);

    if (n > 0)
      {
        g_autofree char *copy_sub = NULL;
        g_autofree char *base_sub = NULL;

        copy_sub = g_strdup_printf (_("Recommended: %s and the images that share it stay as "
                                      "they are; %s moves to the copy."), base_name,
                                    overlay_name);
        base_sub = g_strdup_printf (ngettext ("The image that shares %s would then read "
                                              "changed data: its disk would be corrupted.",
                                              "The images that share %s would then read "
                                              "changed data: their disks would be corrupted.",
                                              n), base_name);
        adw_action_row_set_subtitle (self->copy_row, copy_sub);
        adw_action_row_set_subtitle (self->base_row, base_sub);
      }
    else
      {
        adw_action_row_set_subtitle (self->copy_row,
                                     _("The base stays as it is; the overlay moves to the "
                                       "copy."));
        adw_action_row_set_subtitle (self->base_row,
                                     _("No other image uses it, so it can change safely."));
      }

    {
      g_autofree char *risk = NULL;
      g_autofree char *names = NULL;
      GPtrArray *list = g_ptr_array_new_with_free_func (g_free);

      for (guint i = 0; i < n; i++)
        g_ptr_array_add (list, g_path_get_basename (self->info->siblings[i]));
      g_ptr_array_add (list, NULL);
      names = g_strjoinv (", ", (char **) list->pdata);
      g_ptr_array_unref (list);
      risk = g_strdup_printf (_("I accept that %s will be corrupted"), names);
      adw_action_row_set_subtitle (self->risk_row, risk);
    }

    dot = strrchr (stem, '.');
    if (dot != NULL && dot != stem)
      *dot = '\0';
    dot = strrchr (ostem, '.');
    if (dot != NULL && dot != ostem)
      *dot = '\0';
    copy_name = g_strdup_printf ("%s-%s.qcow2", stem, ostem);
    gtk_editable_set_text (GTK_EDITABLE (self->copy_name_row), copy_name);
  }

  /* The sibling check, by name, with the consequence. */
  if (n == 0)
    {
      GtkWidget *row = adw_action_row_new ();
      g_autofree char *base_name = g_path_get_basename (self->info->base);
      g_autofree char *title = g_strdup_printf (_("No other image uses %s"), base_name);

      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
      adw_action_row_add_prefix (ADW_ACTION_ROW (row),
                                 gtk_image_new_from_icon_name ("emblem-ok-symbolic"));
      adw_preferences_group_add (self->siblings_group, row);
    }
  /* The siblings collapse into one row that says how many and names them: the choice and the
   * disk usage below must fit the wizard's 760 px without scrolling. */
  if (n > 0)
    {
      g_autofree char *base_name = g_path_get_basename (self->info->base);
      g_autofree char *title =
        g_strdup_printf (ngettext ("%u Other Image Reads from %s",
                                   "%u Other Images Read from %s", n), n, base_name);
      g_autofree char *names = NULL;
      GPtrArray *list = g_ptr_array_new_with_free_func (g_free);
      GtkWidget *expander = adw_expander_row_new ();

      for (guint i = 0; i < n; i++)
        g_ptr_array_add (list, g_path_get_basename (self->info->siblings[i]));
      g_ptr_array_add (list, NULL);
      names = g_strjoinv (", ", (char **) list->pdata);
      g_ptr_array_unref (list);

      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (expander), title);
      adw_expander_row_set_subtitle (ADW_EXPANDER_ROW (expander), names);
      adw_expander_row_add_prefix (ADW_EXPANDER_ROW (expander),
                                   gtk_image_new_from_icon_name ("dialog-warning-symbolic"));
      for (guint i = 0; i < n; i++)
        {
          GtkWidget *row = adw_action_row_new ();
          g_autofree char *name = g_path_get_basename (self->info->siblings[i]);
          g_autofree char *dir = g_path_get_dirname (self->info->siblings[i]);

          adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), name);
          adw_action_row_set_subtitle (ADW_ACTION_ROW (row), dir);
          adw_action_row_set_subtitle_lines (ADW_ACTION_ROW (row), 1);
          gtk_widget_set_tooltip_text (row, self->info->siblings[i]);
          adw_expander_row_add_row (ADW_EXPANDER_ROW (expander), row);
        }
      adw_preferences_group_add (self->siblings_group, expander);
    }

  /* Into a copy when the base is shared or protected; into the base otherwise. */
  if (n > 0 || self->info->base_protected)
    gtk_check_button_set_active (self->copy_check, TRUE);
  else
    gtk_check_button_set_active (self->base_check, TRUE);
}

static void
inspect_done_cb (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(StrataCommitWizard) self = user_data;
  g_autoptr(GError) error = NULL;
  CommitInfo *info = g_task_get_task_data (G_TASK (result));

  /* The task data has no destroy function: it is the wizard's from here on. */
  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      self->info_error = g_strdup (error->message);
      commit_info_free (info);
    }
  else
    self->info = info;

  show_info (self);
  validate (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_SIBLINGS]);
}

/* Once every construct property is set (the library too), the inspection starts. */
static void
strata_commit_wizard_constructed (GObject *object)
{
  StrataCommitWizard *self = STRATA_COMMIT_WIZARD (object);
  g_autoptr(GTask) task = NULL;
  StrataLibrary *library = strata_wizard_get_library (STRATA_WIZARD (self));
  CommitInfo *info;

  G_OBJECT_CLASS (strata_commit_wizard_parent_class)->constructed (object);

  show_info (self);
  validate (self);

  info = g_new0 (CommitInfo, 1);
  info->overlay = g_strdup (self->overlay);
  if (library != NULL)
    info->library_dirs = g_strdupv ((char **) strata_library_get_folders (library));
  task = g_task_new (NULL, NULL, inspect_done_cb, g_object_ref (self));
  g_task_set_task_data (task, info, NULL);
  g_task_run_in_thread (task, inspect_thread);
}

static void
commit_done_cb (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(StrataCommitWizard) self = user_data;
  StrataWizard *wizard = STRATA_WIZARD (self);
  StrataLibrary *library = strata_wizard_get_library (wizard);
  StrataCommitResult out = { 0 };
  g_autoptr(GError) error = NULL;
  g_autofree char *overlay_name = g_path_get_basename (self->overlay);
  g_autofree char *base_name = g_path_get_basename (self->info->base);

  strata_wizard_rescan (library, self->overlay);
  strata_wizard_rescan (library, self->info->base);

  if (!strata_commit_finish (result, &out, &error))
    {
      g_autofree char *description = NULL;

      gtk_widget_set_visible (GTK_WIDGET (self->usage_bars), FALSE);
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          if (self->into_copy && !strata_wizard_anything_left (self->copy_path))
            description = g_strdup_printf (_("Nothing was changed: the copy was removed, and "
                                             "%s and %s are as they were."),
                                           overlay_name, base_name);
          else if (self->into_copy)
            description = g_strdup_printf (_("Stopped. %s still reads the same disk; the copy "
                                             "is still there."), overlay_name);
          else
            description = g_strdup_printf (_("Stopped. %s still holds all of its data, so its "
                                             "disk reads the same; %s may already hold part "
                                             "of it."), overlay_name, base_name);
        }
      strata_wizard_end_job (wizard, NULL, NULL, description, error);
      strata_commit_result_clear (&out);
      return;
    }

  {
    const char *into = out.base;
    g_autofree char *into_name = g_path_get_basename (into);
    g_autofree char *title = g_strdup_printf (_("Committed into %s"), into_name);
    g_autofree char *committed = g_format_size (out.bytes_committed);
    g_autofree char *summary = g_strdup_printf (_("Committed %s into %s"), overlay_name,
                                                into_name);
    g_autofree char *description = NULL;
    guint64 overlay_now = strata_wizard_disk_usage (self->overlay);
    guint64 base_now = strata_wizard_disk_usage (into);

    strata_wizard_rescan (library, into);

    /* Predicted and measured side by side, measured from the files themselves. */
    strata_usage_bars_clear (self->usage_bars);
    strata_usage_bars_add (self->usage_bars, overlay_name, _("before"),
                           out.before.overlay_allocated, FALSE);
    strata_usage_bars_add (self->usage_bars, overlay_name, _("predicted"),
                           out.predicted.overlay_allocated, TRUE);
    strata_usage_bars_add (self->usage_bars, overlay_name, _("measured"), overlay_now, FALSE);
    strata_usage_bars_add (self->usage_bars, into_name, _("before"),
                           out.before.base_allocated, FALSE);
    strata_usage_bars_add (self->usage_bars, into_name, _("predicted"),
                           out.predicted.base_allocated, TRUE);
    strata_usage_bars_add (self->usage_bars, into_name, _("measured"), base_now, FALSE);
    gtk_widget_set_visible (GTK_WIDGET (self->usage_bars), TRUE);

    if (self->into_copy)
      description = g_strdup_printf (_("%s of data went into %s; %s now uses it as its base. "
                                       "%s and the images that share it are unchanged."),
                                     committed, into_name, overlay_name, base_name);
    else
      description = g_strdup_printf (_("%s of data went into %s."), committed, into_name);

    strata_wizard_set_result_path (wizard, into);
    strata_wizard_end_job (wizard, summary, title, description, NULL);
  }
  strata_commit_result_clear (&out);
}

static void
strata_commit_wizard_start (StrataWizard *wizard)
{
  StrataCommitWizard *self = STRATA_COMMIT_WIZARD (wizard);
  StrataLibrary *library = strata_wizard_get_library (wizard);
  g_autoptr(StrataJob) job = NULL;
  g_autofree char *overlay_name = g_path_get_basename (self->overlay);
  g_autofree char *title = NULL;
  g_autofree char *target = NULL;
  g_autofree char *target_name = NULL;
  StrataCommitOptions opts = { 0 };
  GCancellable *cancellable;

  self->into_copy = copy_mode (self);
  target = self->into_copy ? copy_path (self) : g_strdup (self->info->base);
  target_name = g_path_get_basename (target);
  title = g_strdup_printf (_("Commit %s into %s"), overlay_name, target_name);
  job = strata_job_new (title);

  {
    const char *reads[] = { self->info->base, NULL };
    const char *writes[] = { self->overlay, target, NULL };

    cancellable = strata_wizard_begin_job (wizard, job, self->into_copy ? reads : NULL,
                                           writes);
  }
  if (cancellable == NULL)
    return;

  g_free (self->copy_path);
  self->copy_path = self->into_copy ? g_strdup (target) : NULL;

  opts.keep_overlay = gtk_switch_get_active (self->keep_switch);
  opts.force = !self->into_copy && gtk_switch_get_active (self->risk_switch);
  opts.library_dirs = library != NULL ? strata_library_get_folders (library) : NULL;
  opts.into_copy = self->copy_path;
  strata_commit_async (self->overlay, &opts, job, cancellable, commit_done_cb,
                       g_object_ref (self));
}

static void
changed_cb (StrataCommitWizard *self)
{
  validate (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MODE]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_COPY_NAME]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_KEEP_OVERLAY]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ACCEPT_RISK]);
}

static void
strata_commit_wizard_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), STRATA_TYPE_COMMIT_WIZARD);

  G_OBJECT_CLASS (strata_commit_wizard_parent_class)->dispose (object);
}

static void
strata_commit_wizard_finalize (GObject *object)
{
  StrataCommitWizard *self = STRATA_COMMIT_WIZARD (object);

  g_clear_pointer (&self->overlay, g_free);
  g_clear_pointer (&self->info, commit_info_free);
  g_clear_pointer (&self->info_error, g_free);
  g_clear_pointer (&self->copy_path, g_free);

  G_OBJECT_CLASS (strata_commit_wizard_parent_class)->finalize (object);
}

static void
strata_commit_wizard_get_property (GObject    *object,
                                   guint       prop_id,
                                   GValue     *value,
                                   GParamSpec *pspec)
{
  StrataCommitWizard *self = STRATA_COMMIT_WIZARD (object);

  switch (prop_id)
    {
    case PROP_OVERLAY:
      g_value_set_string (value, self->overlay);
      break;
    case PROP_MODE:
      g_value_set_string (value, copy_mode (self) ? "copy" : "base");
      break;
    case PROP_COPY_NAME:
      g_value_set_string (value, gtk_editable_get_text (GTK_EDITABLE (self->copy_name_row)));
      break;
    case PROP_KEEP_OVERLAY:
      g_value_set_boolean (value, gtk_switch_get_active (self->keep_switch));
      break;
    case PROP_ACCEPT_RISK:
      g_value_set_boolean (value, gtk_switch_get_active (self->risk_switch));
      break;
    case PROP_N_SIBLINGS:
      g_value_set_uint (value, n_siblings (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
strata_commit_wizard_set_property (GObject      *object,
                                   guint         prop_id,
                                   const GValue *value,
                                   GParamSpec   *pspec)
{
  StrataCommitWizard *self = STRATA_COMMIT_WIZARD (object);

  switch (prop_id)
    {
    case PROP_OVERLAY:
      self->overlay = g_canonicalize_filename (g_value_get_string (value), NULL);
      break;
    case PROP_MODE:
      if (g_strcmp0 (g_value_get_string (value), "copy") == 0)
        gtk_check_button_set_active (self->copy_check, TRUE);
      else if (g_strcmp0 (g_value_get_string (value), "base") == 0)
        gtk_check_button_set_active (self->base_check, TRUE);
      break;
    case PROP_COPY_NAME:
      gtk_editable_set_text (GTK_EDITABLE (self->copy_name_row),
                             g_value_get_string (value) ? g_value_get_string (value) : "");
      break;
    case PROP_KEEP_OVERLAY:
      gtk_switch_set_active (self->keep_switch, g_value_get_boolean (value));
      break;
    case PROP_ACCEPT_RISK:
      gtk_switch_set_active (self->risk_switch, g_value_get_boolean (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
strata_commit_wizard_class_init (StrataCommitWizardClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  StrataWizardClass *wizard_class = STRATA_WIZARD_CLASS (klass);

  object_class->constructed = strata_commit_wizard_constructed;
  object_class->dispose = strata_commit_wizard_dispose;
  object_class->finalize = strata_commit_wizard_finalize;
  object_class->get_property = strata_commit_wizard_get_property;
  object_class->set_property = strata_commit_wizard_set_property;
  wizard_class->start = strata_commit_wizard_start;

  properties[PROP_OVERLAY] =
    g_param_spec_string ("overlay", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_MODE] =
    g_param_spec_string ("mode", NULL, NULL, "copy",
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_COPY_NAME] =
    g_param_spec_string ("copy-name", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_KEEP_OVERLAY] =
    g_param_spec_boolean ("keep-overlay", NULL, NULL, FALSE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_ACCEPT_RISK] =
    g_param_spec_boolean ("accept-risk", NULL, NULL, FALSE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_N_SIBLINGS] =
    g_param_spec_uint ("n-siblings", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  (void) strata_wizards_get_resource ();
  g_type_ensure (STRATA_TYPE_USAGE_BARS);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/gnome/Strata/wizards/"
                                               "strata-commit-wizard.ui");
  gtk_widget_class_bind_template_child (widget_class, StrataCommitWizard, back_button);
  gtk_widget_class_bind_template_child (widget_class, StrataCommitWizard, base_check);
  gtk_widget_class_bind_template_child (widget_class, StrataCommitWizard, base_row);
  gtk_widget_class_bind_template_child (widget_class, StrataCommitWizard, copy_check);
  gtk_widget_class_bind_template_child (widget_class, StrataCommitWizard, copy_name_row);
  gtk_widget_class_bind_template_child (widget_class, StrataCommitWizard, copy_row);
  gtk_widget_class_bind_template_child (widget_class, StrataCommitWizard, job_list);
  gtk_widget_class_bind_template_child (widget_class, StrataCommitWizard, keep_row);
  gtk_widget_class_bind_template_child (widget_class, StrataCommitWizard, keep_switch);
  gtk_widget_class_bind_template_child (widget_class, StrataCommitWizard, overlay_row);
  gtk_widget_class_bind_template_child (widget_class, StrataCommitWizard, predicted_bars);
  gtk_widget_class_bind_template_child (widget_class, StrataCommitWizard, problem_label);
  gtk_widget_class_bind_template_child (widget_class, StrataCommitWizard, result_page);
  gtk_widget_class_bind_template_child (widget_class, StrataCommitWizard, risk_row);
  gtk_widget_class_bind_template_child (widget_class, StrataCommitWizard, risk_switch);
  gtk_widget_class_bind_template_child (widget_class, StrataCommitWizard, siblings_group);
  gtk_widget_class_bind_template_child (widget_class, StrataCommitWizard, stack);
  gtk_widget_class_bind_template_child (widget_class, StrataCommitWizard, start_button);
  gtk_widget_class_bind_template_child (widget_class, StrataCommitWizard, usage_bars);

  gtk_widget_class_install_property_action (widget_class, "wizard.mode", "mode");
  gtk_widget_class_install_property_action (widget_class, "wizard.copy-name", "copy-name");
  gtk_widget_class_install_property_action (widget_class, "wizard.keep-overlay",
                                            "keep-overlay");
  gtk_widget_class_install_property_action (widget_class, "wizard.accept-risk", "accept-risk");
}

static void
strata_commit_wizard_init (StrataCommitWizard *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));

  strata_wizard_set_chrome (STRATA_WIZARD (self), self->stack, self->back_button,
                            self->start_button, self->problem_label, self->job_list,
                            self->result_page);

  g_signal_connect_swapped (self->copy_check, "notify::active", G_CALLBACK (changed_cb), self);
  g_signal_connect_swapped (self->copy_name_row, "changed", G_CALLBACK (changed_cb), self);
  g_signal_connect_swapped (self->keep_switch, "notify::active", G_CALLBACK (changed_cb), self);
  g_signal_connect_swapped (self->risk_switch, "notify::active", G_CALLBACK (changed_cb), self);
}

GtkWindow *
strata_commit_wizard_new (GtkWindow        *parent,
                          StrataLibrary    *library,
                          StrataJobManager *jobs,
                          const char       *overlay)
{
  g_return_val_if_fail (STRATA_IS_JOB_MANAGER (jobs), NULL);
  g_return_val_if_fail (overlay != NULL, NULL);

  return g_object_new (STRATA_TYPE_COMMIT_WIZARD,
                       "transient-for", parent,
                       "library", library,
                       "jobs", jobs,
                       "overlay", overlay,
                       NULL);
}
