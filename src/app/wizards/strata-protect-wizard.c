/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <glib/gi18n.h>

#include "strata-protect.h"
#include "strata-protect-wizard.h"
#include "strata-usage-bars.h"
#include "strata-wizard-util.h"
#include "strata-wizards-resources.h"

struct _StrataProtectWizard
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
  gboolean             unprotect;
  char               **overlays;
  char                *error;
};

enum
{
  PROP_0,
  PROP_PATH,
  PROP_UNPROTECT,
  PROP_N_OVERLAYS,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (StrataProtectWizard, strata_protect_wizard, STRATA_TYPE_WIZARD)

static void
validate (StrataProtectWizard *self)
{
  StrataWizard *wizard = STRATA_WIZARD (self);
  g_autofree char *name = g_path_get_basename (self->path);
  g_autofree char *message = NULL;
  gboolean is_protected = FALSE;
  guint n = self->overlays != NULL ? g_strv_length (self->overlays) : 0;

  if (self->error != NULL)
    {
      strata_wizard_set_problem (wizard, self->error, FALSE);
      return;
    }
  if (self->overlays == NULL)
    {
      message = g_strdup_printf (_("Looking for the overlays of %s…"), name);
      strata_wizard_set_problem (wizard, message, FALSE);
      return;
    }
  if (!strata_is_protected (self->path, &is_protected, NULL))
    is_protected = FALSE;
  if (is_protected != self->unprotect)
    {
      message = g_strdup_printf (self->unprotect ? _("%s is not protected.")
                                                 : _("%s is already protected."), name);
      strata_wizard_set_problem (wizard, message, FALSE);
      return;
    }
  if (strata_job_manager_is_writing (strata_wizard_get_jobs (wizard), self->path))
    {
      message = g_strdup_printf (_("%s is being written by a running job; wait for it."),
                                 name);
      strata_wizard_set_problem (wizard, message, FALSE);
      return;
    }
  if (self->unprotect && n > 0)
    {
      message = g_strdup_printf (ngettext ("Once writable, anything that writes to %s "
                                           "corrupts the overlay that relies on it.",
                                           "Once writable, anything that writes to %s "
                                           "corrupts the %u overlays that rely on it.", n),
                                 name, n);
      strata_wizard_set_problem (wizard, message, TRUE);
      return;
    }
  if (!self->unprotect && strata_wizard_held_by_other (self->path, FALSE))
    {
      message = g_strdup_printf (_("A running virtual machine writes to %s; it keeps "
                                   "writing until it stops, protection only applies to what "
                                   "opens it next."), name);
      strata_wizard_set_problem (wizard, message, TRUE);
      return;
    }

  strata_wizard_set_problem (wizard, NULL, FALSE);
}

static void
overlays_found_cb (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(StrataProtectWizard) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *name = g_path_get_basename (self->path);
  g_autofree char *description = NULL;

  self->overlays = strata_wizard_find_overlays_finish (result, &error);
  if (self->overlays == NULL)
    self->error = g_strdup (error->message);
  else
    {
      description = g_strdup_printf (_("These images read from %s: it must not change while "
                                       "they exist."), name);
      strata_wizard_list_images (self->related_group, (const char * const *) self->overlays,
                                 description);
    }
  validate (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_OVERLAYS]);
}

static void
strata_protect_wizard_start (StrataWizard *wizard)
{
  StrataProtectWizard *self = STRATA_PROTECT_WIZARD (wizard);
  g_autoptr(GError) error = NULL;
  g_autofree char *name = g_path_get_basename (self->path);
  g_autofree char *title = NULL;
  g_autofree char *description = NULL;
  gboolean ok;

  /* A chmod: immediate, no job needed. */
  ok = self->unprotect ? strata_unprotect (self->path, &error)
                       : strata_protect (self->path, &error);
  strata_wizard_rescan (strata_wizard_get_library (wizard), self->path);
  if (!ok)
    {
      strata_wizard_show_result (wizard, FALSE, _("Failed"), error->message);
      return;
    }

  if (self->unprotect)
    {
      title = g_strdup_printf (_("%s Is Writable"), name);
      description = g_strdup (_("Protect it again before you create overlays on it."));
    }
  else
    {
      title = g_strdup_printf (_("%s Is Protected"), name);
      description = g_strdup (_("It is read-only now: its overlays can rely on it."));
    }
  strata_wizard_show_result (wizard, TRUE, title, description);
}

static void
strata_protect_wizard_constructed (GObject *object)
{
  StrataProtectWizard *self = STRATA_PROTECT_WIZARD (object);
  g_autofree char *name = g_path_get_basename (self->path);

  G_OBJECT_CLASS (strata_protect_wizard_parent_class)->constructed (object);

  gtk_widget_set_visible (GTK_WIDGET (self->usage_bars), FALSE);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->image_row), name);
  if (self->unprotect)
    {
      gtk_window_set_title (GTK_WINDOW (self), _("Unprotect Image"));
      gtk_button_set_label (self->start_button, _("_Unprotect"));
      adw_action_row_set_subtitle (self->image_row,
                                   _("Unprotecting restores its write permission, so that it "
                                     "can be changed again (committed into, converted onto)."));
    }
  else
    adw_action_row_set_subtitle (self->image_row,
                                 _("Protecting clears its write permission, so that nothing "
                                   "— not even a virtual machine started on it by mistake — "
                                   "can change it under its overlays."));
  strata_wizard_set_chrome (STRATA_WIZARD (self), self->stack, self->back_button,
                            self->start_button, self->problem_label, self->job_list,
                            self->result_page);

  validate (self);
  strata_wizard_find_overlays_async (self->path, strata_wizard_get_library (STRATA_WIZARD (self)),
                                     overlays_found_cb, g_object_ref (self));
}

static void
strata_protect_wizard_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), STRATA_TYPE_PROTECT_WIZARD);

  G_OBJECT_CLASS (strata_protect_wizard_parent_class)->dispose (object);
}

static void
strata_protect_wizard_finalize (GObject *object)
{
  StrataProtectWizard *self = STRATA_PROTECT_WIZARD (object);

  g_clear_pointer (&self->path, g_free);
  g_clear_pointer (&self->overlays, g_strfreev);
  g_clear_pointer (&self->error, g_free);

  G_OBJECT_CLASS (strata_protect_wizard_parent_class)->finalize (object);
}

static void
strata_protect_wizard_get_property (GObject    *object,
                                    guint       prop_id,
                                    GValue     *value,
                                    GParamSpec *pspec)
{
  StrataProtectWizard *self = STRATA_PROTECT_WIZARD (object);

  switch (prop_id)
    {
    case PROP_PATH:
      g_value_set_string (value, self->path);
      break;
    case PROP_UNPROTECT:
      g_value_set_boolean (value, self->unprotect);
      break;
    case PROP_N_OVERLAYS:
      g_value_set_uint (value, self->overlays ? g_strv_length (self->overlays) : 0);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
strata_protect_wizard_set_property (GObject      *object,
                                    guint         prop_id,
                                    const GValue *value,
                                    GParamSpec   *pspec)
{
  StrataProtectWizard *self = STRATA_PROTECT_WIZARD (object);

  switch (prop_id)
    {
    case PROP_PATH:
      self->path = g_canonicalize_filename (g_value_get_string (value), NULL);
      break;
    case PROP_UNPROTECT:
      self->unprotect = g_value_get_boolean (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
strata_protect_wizard_class_init (StrataProtectWizardClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  StrataWizardClass *wizard_class = STRATA_WIZARD_CLASS (klass);

  object_class->constructed = strata_protect_wizard_constructed;
  object_class->dispose = strata_protect_wizard_dispose;
  object_class->finalize = strata_protect_wizard_finalize;
  object_class->get_property = strata_protect_wizard_get_property;
  object_class->set_property = strata_protect_wizard_set_property;
  wizard_class->start = strata_protect_wizard_start;

  properties[PROP_PATH] =
    g_param_spec_string ("path", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_UNPROTECT] =
    g_param_spec_boolean ("unprotect", NULL, NULL, FALSE,
                          G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_N_OVERLAYS] =
    g_param_spec_uint ("n-overlays", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  (void) strata_wizards_get_resource ();
  g_type_ensure (STRATA_TYPE_USAGE_BARS);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/gnome/Strata/wizards/"
                                               "strata-protect-wizard.ui");
  gtk_widget_class_bind_template_child (widget_class, StrataProtectWizard, back_button);
  gtk_widget_class_bind_template_child (widget_class, StrataProtectWizard, image_group);
  gtk_widget_class_bind_template_child (widget_class, StrataProtectWizard, image_row);
  gtk_widget_class_bind_template_child (widget_class, StrataProtectWizard, job_list);
  gtk_widget_class_bind_template_child (widget_class, StrataProtectWizard, problem_label);
  gtk_widget_class_bind_template_child (widget_class, StrataProtectWizard, related_group);
  gtk_widget_class_bind_template_child (widget_class, StrataProtectWizard, result_page);
  gtk_widget_class_bind_template_child (widget_class, StrataProtectWizard, stack);
  gtk_widget_class_bind_template_child (widget_class, StrataProtectWizard, start_button);
  gtk_widget_class_bind_template_child (widget_class, StrataProtectWizard, usage_bars);
}

static void
strata_protect_wizard_init (StrataProtectWizard *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

static GtkWindow *
new_wizard (GtkWindow        *parent,
            StrataLibrary    *library,
            StrataJobManager *jobs,
            const char       *path,
            gboolean          unprotect)
{
  g_return_val_if_fail (STRATA_IS_JOB_MANAGER (jobs), NULL);
  g_return_val_if_fail (path != NULL, NULL);

  return g_object_new (STRATA_TYPE_PROTECT_WIZARD,
                       "transient-for", parent,
                       "library", library,
                       "jobs", jobs,
                       "path", path,
                       "unprotect", unprotect,
                       NULL);
}

GtkWindow *
strata_protect_wizard_new (GtkWindow        *parent,
                           StrataLibrary    *library,
                           StrataJobManager *jobs,
                           const char       *path)
{
  return new_wizard (parent, library, jobs, path, FALSE);
}

GtkWindow *
strata_unprotect_wizard_new (GtkWindow        *parent,
                             StrataLibrary    *library,
                             StrataJobManager *jobs,
                             const char       *path)
{
  return new_wizard (parent, library, jobs, path, TRUE);
}
