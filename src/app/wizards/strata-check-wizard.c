/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <glib/gi18n.h>

#include "strata-check.h"
#include "strata-check-wizard.h"
#include "strata-error.h"
#include "strata-protect.h"
#include "strata-usage-bars.h"
#include "strata-wizard-util.h"
#include "strata-wizards-resources.h"

struct _StrataCheckWizard
{
  StrataWizard         parent_instance;

  GtkButton           *back_button;
  AdwPreferencesGroup *image_group;
  AdwActionRow        *image_row;
  GtkListBox          *job_list;
  GtkLabel            *problem_label;
  AdwStatusPage       *progress_page;
  AdwPreferencesGroup *related_group;
  AdwActionRow        *repair_all_row;
  AdwPreferencesGroup *repair_group;
  AdwActionRow        *repair_row;
  AdwStatusPage       *result_page;
  GtkStack            *stack;
  GtkButton           *start_button;
  StrataUsageBars     *usage_bars;

  char                *path;
  char                *error;
  /* The repair running, or offered on the result page (FIX_NONE: none). */
  StrataCheckFix       running_fix;
  StrataCheckFix       offered_fix;
  /* The last check found referenced clusters with refcount 0: a repair rebuilds the
   * refcount structures. */
  gboolean             needs_rebuild;
};

enum
{
  PROP_0,
  PROP_PATH,
  PROP_CAN_REPAIR,
  PROP_REPAIR,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (StrataCheckWizard, strata_check_wizard, STRATA_TYPE_WIZARD)

static void
validate (StrataCheckWizard *self)
{
  StrataWizard *wizard = STRATA_WIZARD (self);
  g_autofree char *name = g_path_get_basename (self->path);
  g_autofree char *message = NULL;

  if (strata_job_manager_is_writing (strata_wizard_get_jobs (wizard), self->path))
    message = g_strdup_printf (_("%s is being written by a running job; wait for it."), name);
  strata_wizard_set_problem (wizard, message, FALSE);
}

/* Why a repair of @path is not safe now, or NULL. */
static char *
repair_refusal (StrataCheckWizard       *self,
                const StrataCheckResult *result)
{
  g_autofree char *name = g_path_get_basename (self->path);
  gboolean is_protected = FALSE;

  if (result->unrepairable || result->check_errors > 0)
    return g_strdup_printf (_("Strata cannot repair %s safely. Keep it as it is, and convert "
                              "it to a new image to save its data."), name);
  if (strata_is_protected (self->path, &is_protected, NULL) && is_protected)
    return g_strdup_printf (_("%s is protected; unprotect it to repair it."), name);
  if (strata_wizard_held_by_other (self->path, TRUE))
    return g_strdup_printf (_("%s is in use by a running virtual machine; shut it down to "
                              "repair it."), name);
  return NULL;
}

/* The engine's refusal of an image another process holds, in words that name the file and
 * say that nothing was written (the lock is taken before the first write). */
static GError *
plain_error (StrataCheckWizard *self,
             const GError      *error)
{
  g_autofree char *name = g_path_get_basename (self->path);

  if (g_error_matches (error, STRATA_ERROR, STRATA_ERROR_LOCKED))
    return g_error_new (STRATA_ERROR, STRATA_ERROR_LOCKED,
                        _("%s is in use by another program, such as a running virtual "
                          "machine. Nothing was changed. Shut it down, then check it again."),
                        name);
  return g_error_copy (error);
}

static void
offer_repair (StrataCheckWizard *self,
              StrataCheckFix     fix)
{
  self->offered_fix = fix;
  gtk_widget_set_visible (GTK_WIDGET (self->repair_group), fix != STRATA_CHECK_FIX_NONE);
  gtk_widget_set_visible (GTK_WIDGET (self->repair_row), fix == STRATA_CHECK_FIX_LEAKS);
  gtk_widget_set_visible (GTK_WIDGET (self->repair_all_row), fix & STRATA_CHECK_FIX_ERRORS);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "wizard.repair",
                                 fix == STRATA_CHECK_FIX_LEAKS);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "wizard.repair-all",
                                 (fix & STRATA_CHECK_FIX_ERRORS) != 0);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CAN_REPAIR]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_REPAIR]);
}

static void
check_done_cb (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(StrataCheckWizard) self = user_data;
  StrataWizard *wizard = STRATA_WIZARD (self);
  StrataCheckResult out = { 0 };
  g_autoptr(GError) error = NULL;
  g_autofree char *name = g_path_get_basename (self->path);
  g_autofree char *title = NULL;
  g_autofree char *summary = NULL;
  g_autofree char *refusal = NULL;
  g_autoptr(GString) description = g_string_new (NULL);
  StrataCheckFix ran = self->running_fix;
  StrataCheckFix offer = STRATA_CHECK_FIX_NONE;
  gboolean damaged;

  self->running_fix = STRATA_CHECK_FIX_NONE;
  if (ran != STRATA_CHECK_FIX_NONE)
    strata_wizard_rescan (strata_wizard_get_library (wizard), self->path);

  if (!strata_check_finish (result, &out, &error))
    {
      g_autoptr(GError) shown = plain_error (self, error);
      g_autofree char *cancelled = NULL;

      if (ran == STRATA_CHECK_FIX_NONE)
        cancelled = g_strdup_printf (_("Stopped; %s was only read."), name);
      else if (ran & STRATA_CHECK_FIX_ERRORS)
        cancelled = g_strdup_printf (_("Stopped; %s holds the same data, some errors may "
                                       "remain. Check it again."), name);
      else
        cancelled = g_strdup_printf (_("Stopped; %s holds the same data, some leaks may "
                                       "remain."), name);
      offer_repair (self, STRATA_CHECK_FIX_NONE);
      strata_wizard_end_job (wizard, NULL, NULL, cancelled, shown);
      return;
    }

  damaged = out.corruptions > 0 || out.check_errors > 0;
  self->needs_rebuild = out.needs_rebuild;
  if (damaged)
    title = g_strdup_printf (_("%s Is Damaged"), name);
  else if (out.leaks > 0)
    title = g_strdup_printf (_("%s Has Leaked Clusters"), name);
  else
    title = g_strdup_printf (_("%s Is Clean"), name);

  if (out.corruptions_fixed > 0)
    g_string_append_printf (description,
                            ngettext ("%llu error was repaired. ",
                                      "%llu errors were repaired. ",
                                      out.corruptions_fixed), (unsigned long long) out.corruptions_fixed);
  if (out.leaks_fixed > 0)
    g_string_append_printf (description,
                            ngettext ("%llu leaked cluster was freed. ",
                                      "%llu leaked clusters were freed. ",
                                      out.leaks_fixed), (unsigned long long) out.leaks_fixed);
  if (damaged)
    g_string_append_printf (description,
                            ngettext ("%llu error was found in its "
                                      "metadata. ",
                                      "%llu errors were found in its "
                                      "metadata. ", out.corruptions + out.check_errors),
                            (unsigned long long) (out.corruptions + out.check_errors));
  if (out.leaks > 0)
    g_string_append_printf (description,
                            ngettext ("%llu cluster is allocated but unused "
                                      "(it wastes space, no data is at risk). ",
                                      "%llu clusters are allocated but "
                                      "unused (they waste space, no data is at risk). ",
                                      out.leaks), (unsigned long long) out.leaks);
  if (damaged || out.leaks > 0)
    {
      refusal = repair_refusal (self, &out);
      if (refusal != NULL)
        g_string_append (description, refusal);
      else if (damaged)
        offer = STRATA_CHECK_FIX_LEAKS | STRATA_CHECK_FIX_ERRORS;
      else
        offer = STRATA_CHECK_FIX_LEAKS;
    }
  else if (ran != STRATA_CHECK_FIX_NONE)
    g_string_append (description, _("No errors and no leaks remain."));
  else
    g_string_append (description, _("No errors and no leaks were found."));
  /* The sentences above each end with a space for the next one. */
  while (description->len > 0 && description->str[description->len - 1] == ' ')
    g_string_truncate (description, description->len - 1);
  if (out.compressed_clusters > 0 || out.allocated_clusters > 0)
    {
      g_string_append_c (description, '\n');
      g_string_append_printf (description,
                              _("%llu of %llu clusters "
                                "allocated, %llu compressed, %llu fragmented."),
                              (unsigned long long) out.allocated_clusters,
                              (unsigned long long) out.total_clusters,
                              (unsigned long long) out.compressed_clusters,
                              (unsigned long long) out.fragmented_clusters);
    }

  summary = g_strdup_printf ("%s: %s", name, description->str);
  offer_repair (self, offer);
  strata_wizard_set_result_path (wizard, self->path);
  strata_wizard_end_job (wizard, summary, title, description->str, NULL);
  if (damaged || out.leaks > 0)
    adw_status_page_set_icon_name (self->result_page, "dialog-warning-symbolic");

  strata_check_result_clear (&out);
}

static void
run_check (StrataCheckWizard *self,
           StrataCheckFix     fix)
{
  StrataWizard *wizard = STRATA_WIZARD (self);
  g_autoptr(StrataJob) job = NULL;
  g_autofree char *name = g_path_get_basename (self->path);
  g_autofree char *title = NULL;
  const char *paths[] = { self->path, NULL };
  gboolean repair = fix != STRATA_CHECK_FIX_NONE;
  StrataCheckOptions opts = { 0 };
  GCancellable *cancellable;

  title = g_strdup_printf (repair ? _("Repair %s") : _("Check %s"), name);
  job = strata_job_new (title);
  cancellable = strata_wizard_begin_job (wizard, job, repair ? NULL : paths,
                                         repair ? paths : NULL);
  if (cancellable == NULL)
    return;

  adw_status_page_set_title (self->progress_page, repair ? _("Repairing…") : _("Checking…"));
  adw_status_page_set_description (self->progress_page,
                                   repair
                                   ? _("Keep virtual machines that use the image shut down.")
                                   : _("The image is only read."));
  self->running_fix = fix;
  opts.fix = fix;
  /* A read-only check may look at an image a VM holds, as qemu-img check -U does. */
  opts.force_share = !repair;
  strata_check_async (self->path, &opts, job, cancellable, check_done_cb,
                      g_object_ref (self));
}

static void
strata_check_wizard_start (StrataWizard *wizard)
{
  run_check (STRATA_CHECK_WIZARD (wizard), STRATA_CHECK_FIX_NONE);
}

static void
repair_action (GtkWidget  *widget,
               const char *action_name,
               GVariant   *parameter)
{
  run_check (STRATA_CHECK_WIZARD (widget), STRATA_CHECK_FIX_LEAKS);
}

static void
repair_response_cb (AdwMessageDialog *dialog,
                    const char       *response,
                    gpointer          user_data)
{
  StrataCheckWizard *self = user_data;

  if (g_strcmp0 (response, "repair") == 0 && (self->offered_fix & STRATA_CHECK_FIX_ERRORS))
    run_check (self, STRATA_CHECK_FIX_LEAKS | STRATA_CHECK_FIX_ERRORS);
}

/* The full repair (qemu-img check -r all) rewrites metadata: say what changes and that the
 * image must not be in use, and start only when the user agrees. */
static void
repair_all_action (GtkWidget  *widget,
                   const char *action_name,
                   GVariant   *parameter)
{
  StrataCheckWizard *self = STRATA_CHECK_WIZARD (widget);
  g_autofree char *name = g_path_get_basename (self->path);
  g_autofree char *what = NULL;
  GtkWidget *dialog;

  /* The name goes in the body: a long one wraps there, not in the heading. */
  what = g_strdup_printf (self->needs_rebuild
                          ? _("The reference count tables of %s are rebuilt, the flags that "
                              "say whether a cluster is shared are set right, and unused "
                              "clusters are freed.")
                          : _("The reference counts of %s and the flags that say whether a "
                              "cluster is shared are set right, and unused clusters are "
                              "freed."), name);
  dialog = strata_wizard_question_new (GTK_WINDOW (self), _("Repair the Image?"),
                                       _("_Cancel"), "repair", _("_Repair"),
                                       ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_format_body (ADW_MESSAGE_DIALOG (dialog), "%s %s\n\n%s", what,
                                  _("The data the virtual machine sees does not change."),
                                  _("The image must not be in use: shut down any virtual "
                                    "machine that uses it first."));
  g_signal_connect_object (dialog, "response", G_CALLBACK (repair_response_cb), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
strata_check_wizard_constructed (GObject *object)
{
  StrataCheckWizard *self = STRATA_CHECK_WIZARD (object);
  g_autofree char *name = g_path_get_basename (self->path);

  G_OBJECT_CLASS (strata_check_wizard_parent_class)->constructed (object);

  gtk_widget_set_visible (GTK_WIDGET (self->usage_bars), FALSE);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->image_row), name);
  adw_action_row_set_subtitle (self->image_row,
                               _("Its metadata is read and checked, as qemu-img check does. "
                                 "Nothing is written unless you choose to repair it "
                                 "afterwards."));
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "wizard.repair", FALSE);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "wizard.repair-all", FALSE);
  strata_wizard_set_chrome (STRATA_WIZARD (self), self->stack, self->back_button,
                            self->start_button, self->problem_label, self->job_list,
                            self->result_page);

  validate (self);
}

static void
strata_check_wizard_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), STRATA_TYPE_CHECK_WIZARD);

  G_OBJECT_CLASS (strata_check_wizard_parent_class)->dispose (object);
}

static void
strata_check_wizard_finalize (GObject *object)
{
  StrataCheckWizard *self = STRATA_CHECK_WIZARD (object);

  g_clear_pointer (&self->path, g_free);
  g_clear_pointer (&self->error, g_free);

  G_OBJECT_CLASS (strata_check_wizard_parent_class)->finalize (object);
}

static void
strata_check_wizard_get_property (GObject    *object,
                                    guint       prop_id,
                                    GValue     *value,
                                    GParamSpec *pspec)
{
  StrataCheckWizard *self = STRATA_CHECK_WIZARD (object);

  switch (prop_id)
    {
    case PROP_PATH:
      g_value_set_string (value, self->path);
      break;
    case PROP_CAN_REPAIR:
      g_value_set_boolean (value, self->offered_fix != STRATA_CHECK_FIX_NONE);
      break;
    case PROP_REPAIR:
      g_value_set_string (value,
                          self->offered_fix & STRATA_CHECK_FIX_ERRORS ? "all" :
                          self->offered_fix & STRATA_CHECK_FIX_LEAKS ? "leaks" : NULL);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
strata_check_wizard_set_property (GObject      *object,
                                    guint         prop_id,
                                    const GValue *value,
                                    GParamSpec   *pspec)
{
  StrataCheckWizard *self = STRATA_CHECK_WIZARD (object);

  switch (prop_id)
    {
    case PROP_PATH:
      self->path = g_canonicalize_filename (g_value_get_string (value), NULL);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
strata_check_wizard_class_init (StrataCheckWizardClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  StrataWizardClass *wizard_class = STRATA_WIZARD_CLASS (klass);

  object_class->constructed = strata_check_wizard_constructed;
  object_class->dispose = strata_check_wizard_dispose;
  object_class->finalize = strata_check_wizard_finalize;
  object_class->get_property = strata_check_wizard_get_property;
  object_class->set_property = strata_check_wizard_set_property;
  wizard_class->start = strata_check_wizard_start;

  properties[PROP_PATH] =
    g_param_spec_string ("path", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_CAN_REPAIR] =
    g_param_spec_boolean ("can-repair", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /* The repair the result page offers: "leaks" (-r leaks), "all" (-r all) or NULL. */
  properties[PROP_REPAIR] =
    g_param_spec_string ("repair", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  (void) strata_wizards_get_resource ();
  g_type_ensure (STRATA_TYPE_USAGE_BARS);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/gnome/Strata/wizards/"
                                               "strata-check-wizard.ui");
  gtk_widget_class_bind_template_child (widget_class, StrataCheckWizard, back_button);
  gtk_widget_class_bind_template_child (widget_class, StrataCheckWizard, image_group);
  gtk_widget_class_bind_template_child (widget_class, StrataCheckWizard, image_row);
  gtk_widget_class_bind_template_child (widget_class, StrataCheckWizard, job_list);
  gtk_widget_class_bind_template_child (widget_class, StrataCheckWizard, problem_label);
  gtk_widget_class_bind_template_child (widget_class, StrataCheckWizard, progress_page);
  gtk_widget_class_bind_template_child (widget_class, StrataCheckWizard, related_group);
  gtk_widget_class_bind_template_child (widget_class, StrataCheckWizard, repair_all_row);
  gtk_widget_class_bind_template_child (widget_class, StrataCheckWizard, repair_group);
  gtk_widget_class_bind_template_child (widget_class, StrataCheckWizard, repair_row);
  gtk_widget_class_bind_template_child (widget_class, StrataCheckWizard, result_page);
  gtk_widget_class_bind_template_child (widget_class, StrataCheckWizard, stack);
  gtk_widget_class_bind_template_child (widget_class, StrataCheckWizard, start_button);
  gtk_widget_class_bind_template_child (widget_class, StrataCheckWizard, usage_bars);

  gtk_widget_class_install_action (widget_class, "wizard.repair", NULL, repair_action);
  gtk_widget_class_install_action (widget_class, "wizard.repair-all", NULL, repair_all_action);
}

static void
strata_check_wizard_init (StrataCheckWizard *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

GtkWindow *
strata_check_wizard_new (GtkWindow        *parent,
                          StrataLibrary    *library,
                          StrataJobManager *jobs,
                          const char       *path)
{
  g_return_val_if_fail (STRATA_IS_JOB_MANAGER (jobs), NULL);
  g_return_val_if_fail (path != NULL, NULL);

  return g_object_new (STRATA_TYPE_CHECK_WIZARD,
                       "transient-for", parent,
                       "library", library,
                       "jobs", jobs,
                       "path", path,
                       NULL);
}
