/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <glib/gi18n.h>

#include "strata-delete-wizard.h"
#include "strata-usage-bars.h"
#include "strata-wizard-util.h"
#include "strata-wizards-resources.h"

struct _StrataDeleteWizard
{
  StrataWizard         parent_instance;

  GtkButton           *back_button;
  AdwPreferencesGroup *image_group;
  AdwActionRow        *image_row;
  GtkListBox          *job_list;
  GtkLabel            *problem_label;
  AdwPreferencesGroup *related_group;
  AdwStatusPage       *result_page;
  GtkStack            *stack;
  GtkButton           *start_button;
  StrataUsageBars     *usage_bars;

  char                *path;
  char               **overlays;
  char                *error;
};

enum
{
  PROP_0,
  PROP_PATH,
  PROP_N_OVERLAYS,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (StrataDeleteWizard, strata_delete_wizard, STRATA_TYPE_WIZARD)

static void
validate (StrataDeleteWizard *self)
{
  StrataWizard *wizard = STRATA_WIZARD (self);
  g_autofree char *name = g_path_get_basename (self->path);
  g_autofree char *message = NULL;
  guint n = self->overlays != NULL ? g_strv_length (self->overlays) : 0;

  if (self->error != NULL)
    message = g_strdup (self->error);
  else if (self->overlays == NULL)
    message = g_strdup_printf (_("Looking for the overlays of %s…"), name);
  else if (n > 0)
    message = g_strdup_printf (ngettext ("%s is the base of another image, which would be "
                                         "left without its data. Delete or flatten that one "
                                         "first.",
                                         "%s is the base of %u other images, which would be "
                                         "left without their data. Delete or flatten them "
                                         "first.", n), name, n);
  else if (strata_job_manager_is_busy (strata_wizard_get_jobs (wizard), self->path))
    message = g_strdup_printf (_("%s is in use by a running job; wait for it."), name);
  else if (strata_wizard_held_by_other (self->path, TRUE))
    message = g_strdup_printf (_("%s is in use by a running virtual machine; shut it down "
                                 "first."), name);

  strata_wizard_set_problem (wizard, message, FALSE);
}

static void
overlays_found_cb (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(StrataDeleteWizard) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *name = g_path_get_basename (self->path);
  g_autofree char *description = NULL;

  self->overlays = strata_wizard_find_overlays_finish (result, &error);
  if (self->overlays == NULL)
    self->error = g_strdup (error->message);
  else
    {
      description = g_strdup_printf (_("These images read from %s."), name);
      strata_wizard_list_images (self->related_group, (const char * const *) self->overlays,
                                 description);
    }
  validate (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_OVERLAYS]);
}

static void
strata_delete_wizard_start (StrataWizard *wizard)
{
  StrataDeleteWizard *self = STRATA_DELETE_WIZARD (wizard);
  g_autoptr(GFile) file = g_file_new_for_path (self->path);
  g_autoptr(GError) error = NULL;
  g_autofree char *name = g_path_get_basename (self->path);
  g_autofree char *title = NULL;

  /* To the trash, never unlinked: the user can take it back. */
  if (!g_file_trash (file, NULL, &error))
    {
      g_autofree char *message = g_strdup_printf (_("%s could not be moved to the trash: %s"),
                                                  name, error->message);

      strata_wizard_show_result (wizard, FALSE, _("Not Deleted"), message);
      return;
    }
  strata_wizard_rescan (strata_wizard_get_library (wizard), self->path);
  title = g_strdup_printf (_("%s Is in the Trash"), name);
  strata_wizard_show_result (wizard, TRUE, title,
                             _("Restore it from the trash if you need it again."));
}

static void
strata_delete_wizard_constructed (GObject *object)
{
  StrataDeleteWizard *self = STRATA_DELETE_WIZARD (object);
  g_autofree char *name = g_path_get_basename (self->path);

  G_OBJECT_CLASS (strata_delete_wizard_parent_class)->constructed (object);

  gtk_widget_set_visible (GTK_WIDGET (self->usage_bars), FALSE);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->image_row), name);
  adw_action_row_set_subtitle (self->image_row,
                               _("It goes to the trash with everything written in it, and can "
                                 "be restored from there."));
  strata_wizard_set_chrome (STRATA_WIZARD (self), self->stack, self->back_button,
                            self->start_button, self->problem_label, self->job_list,
                            self->result_page);

  validate (self);
  strata_wizard_find_overlays_async (self->path, strata_wizard_get_library (STRATA_WIZARD (self)),
                                     overlays_found_cb, g_object_ref (self));
}

static void
strata_delete_wizard_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), STRATA_TYPE_DELETE_WIZARD);

  G_OBJECT_CLASS (strata_delete_wizard_parent_class)->dispose (object);
}

static void
strata_delete_wizard_finalize (GObject *object)
{
  StrataDeleteWizard *self = STRATA_DELETE_WIZARD (object);

  g_clear_pointer (&self->path, g_free);
  g_clear_pointer (&self->overlays, g_strfreev);
  g_clear_pointer (&self->error, g_free);

  G_OBJECT_CLASS (strata_delete_wizard_parent_class)->finalize (object);
}

static void
strata_delete_wizard_get_property (GObject    *object,
                                    guint       prop_id,
                                    GValue     *value,
                                    GParamSpec *pspec)
{
  StrataDeleteWizard *self = STRATA_DELETE_WIZARD (object);

  switch (prop_id)
    {
    case PROP_PATH:
      g_value_set_string (value, self->path);
      break;
    case PROP_N_OVERLAYS:
      g_value_set_uint (value, self->overlays ? g_strv_length (self->overlays) : 0);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
strata_delete_wizard_set_property (GObject      *object,
                                    guint         prop_id,
                                    const GValue *value,
                                    GParamSpec   *pspec)
{
  StrataDeleteWizard *self = STRATA_DELETE_WIZARD (object);

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
strata_delete_wizard_class_init (StrataDeleteWizardClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  StrataWizardClass *wizard_class = STRATA_WIZARD_CLASS (klass);

  object_class->constructed = strata_delete_wizard_constructed;
  object_class->dispose = strata_delete_wizard_dispose;
  object_class->finalize = strata_delete_wizard_finalize;
  object_class->get_property = strata_delete_wizard_get_property;
  object_class->set_property = strata_delete_wizard_set_property;
  wizard_class->start = strata_delete_wizard_start;

  properties[PROP_PATH] =
    g_param_spec_string ("path", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_N_OVERLAYS] =
    g_param_spec_uint ("n-overlays", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  (void) strata_wizards_get_resource ();
  g_type_ensure (STRATA_TYPE_USAGE_BARS);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/gnome/Strata/wizards/"
                                               "strata-delete-wizard.ui");
  gtk_widget_class_bind_template_child (widget_class, StrataDeleteWizard, back_button);
  gtk_widget_class_bind_template_child (widget_class, StrataDeleteWizard, image_group);
  gtk_widget_class_bind_template_child (widget_class, StrataDeleteWizard, image_row);
  gtk_widget_class_bind_template_child (widget_class, StrataDeleteWizard, job_list);
  gtk_widget_class_bind_template_child (widget_class, StrataDeleteWizard, problem_label);
  gtk_widget_class_bind_template_child (widget_class, StrataDeleteWizard, related_group);
  gtk_widget_class_bind_template_child (widget_class, StrataDeleteWizard, result_page);
  gtk_widget_class_bind_template_child (widget_class, StrataDeleteWizard, stack);
  gtk_widget_class_bind_template_child (widget_class, StrataDeleteWizard, start_button);
  gtk_widget_class_bind_template_child (widget_class, StrataDeleteWizard, usage_bars);
}

static void
strata_delete_wizard_init (StrataDeleteWizard *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

GtkWindow *
strata_delete_wizard_new (GtkWindow        *parent,
                          StrataLibrary    *library,
                          StrataJobManager *jobs,
                          const char       *path)
{
  g_return_val_if_fail (STRATA_IS_JOB_MANAGER (jobs), NULL);
  g_return_val_if_fail (path != NULL, NULL);

  return g_object_new (STRATA_TYPE_DELETE_WIZARD,
                       "transient-for", parent,
                       "library", library,
                       "jobs", jobs,
                       "path", path,
                       NULL);
}
