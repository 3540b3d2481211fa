/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <glib/gi18n.h>

#include "strata-image.h"
#include "strata-locate-wizard.h"
#include "strata-rebase.h"
#include "strata-usage-bars.h"
#include "strata-wizard-util.h"
#include "strata-wizards-resources.h"

struct _StrataLocateWizard
{
  StrataWizard     parent_instance;

  GtkButton       *back_button;
  GtkSwitch       *confirm_switch;
  AdwActionRow    *found_row;
  GtkListBox      *job_list;
  AdwActionRow    *overlay_row;
  AdwEntryRow     *path_row;
  GtkLabel        *problem_label;
  AdwStatusPage   *result_page;
  GtkStack        *stack;
  GtkButton       *start_button;
  StrataUsageBars *usage_bars;

  char            *overlay;
  char            *stored_name;  /* the missing backing name, as stored */
  guint64          overlay_size;
  char            *error;
  char            *found_format; /* of the picked file, when it opened */
};

enum
{
  PROP_0,
  PROP_OVERLAY,
  PROP_BASE_PATH,
  PROP_CONFIRMED,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (StrataLocateWizard, strata_locate_wizard, STRATA_TYPE_WIZARD)

static char *
picked_path (StrataLocateWizard *self)
{
  const char *text = gtk_editable_get_text (GTK_EDITABLE (self->path_row));
  g_autofree char *dir = NULL;

  if (*text == '\0')
    return NULL;
  dir = g_path_get_dirname (self->overlay);
  return g_canonicalize_filename (text, dir);
}

static void
validate (StrataLocateWizard *self)
{
  StrataWizard *wizard = STRATA_WIZARD (self);
  g_autofree char *path = NULL;
  g_autofree char *message = NULL;
  g_autoptr(StrataImage) image = NULL;
  g_autoptr(GError) error = NULL;
  gboolean is_warning = FALSE;

  if (self->overlay == NULL)
    return;

  g_clear_pointer (&self->found_format, g_free);
  gtk_widget_set_visible (GTK_WIDGET (self->found_row), FALSE);
  path = picked_path (self);

  if (self->error != NULL)
    message = g_strdup (self->error);
  else if ((message = strata_wizard_check_writable (strata_wizard_get_jobs (wizard),
                                                     self->overlay)) != NULL)
    ;
  else if (path == NULL)
    message = g_strdup (_("Type the path of the base, or choose it."));
  else if (g_strcmp0 (path, self->overlay) == 0)
    message = g_strdup (_("An overlay cannot be its own base."));
  else if ((image = strata_image_open (path, NULL,
                                       STRATA_OPEN_READ_ONLY | STRATA_OPEN_FORCE_SHARE,
                                       &error)) == NULL)
    message = g_strdup (error->message);
  else
    {
      g_autofree char *size = g_format_size (strata_image_get_size (image));
      g_autofree char *format = g_ascii_strup (strata_image_get_format (image), -1);
      g_autofree char *found = NULL;

      self->found_format = g_strdup (strata_image_get_format (image));
      /* Translators: "QCOW2, 10.7 GB virtual: the overlay is 10.7 GB". */
      found = g_strdup_printf (strata_image_get_size (image) == self->overlay_size
                               ? _("%s, %s virtual, the same size as the overlay")
                               : _("%s, %s virtual; the overlay’s size differs"),
                               format, size);
      adw_action_row_set_subtitle (self->found_row, found);
      gtk_widget_set_visible (GTK_WIDGET (self->found_row), TRUE);

      if (strata_image_get_size (image) < self->overlay_size)
        {
          is_warning = TRUE;
          message = g_strdup (_("This file is smaller than the overlay: it is probably not "
                                "its base."));
        }
      if (!gtk_switch_get_active (self->confirm_switch))
        {
          g_clear_pointer (&message, g_free);
          is_warning = FALSE;
          message = g_strdup (_("Turn on “This Is the Right File” once you are sure."));
        }
    }

  strata_wizard_set_problem (wizard, message, is_warning);
}

static void
locate_done_cb (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(StrataLocateWizard) self = user_data;
  StrataWizard *wizard = STRATA_WIZARD (self);
  g_autoptr(GError) error = NULL;
  g_autofree char *name = g_path_get_basename (self->overlay);
  g_autofree char *path = picked_path (self);
  g_autofree char *base_name = g_path_get_basename (path);

  strata_wizard_rescan (strata_wizard_get_library (wizard), self->overlay);
  gtk_widget_set_visible (GTK_WIDGET (self->usage_bars), FALSE);
  if (!strata_rebase_finish (result, &error))
    {
      g_autofree char *description =
        g_strdup_printf (_("Nothing was changed: %s still points at “%s”."), name,
                         self->stored_name);

      strata_wizard_end_job (wizard, NULL, NULL, description, error);
      return;
    }

  {
    g_autofree char *title = g_strdup_printf (_("%s Found Its Base"), name);
    g_autofree char *summary = g_strdup_printf (_("%s now points at %s"), name, base_name);
    g_autofree char *description =
      g_strdup_printf (_("Only the pointer changed (it was “%s”). Start the guest and check "
                         "its disk before you write to it."), self->stored_name);

    strata_wizard_set_result_path (wizard, self->overlay);
    strata_wizard_end_job (wizard, summary, title, description, NULL);
  }
}

static void
strata_locate_wizard_start (StrataWizard *wizard)
{
  StrataLocateWizard *self = STRATA_LOCATE_WIZARD (wizard);
  g_autoptr(StrataJob) job = NULL;
  g_autofree char *name = g_path_get_basename (self->overlay);
  g_autofree char *title = g_strdup_printf (_("Point %s at its base"), name);
  g_autofree char *path = picked_path (self);
  g_autofree char *dir = g_path_get_dirname (self->overlay);
  g_autofree char *backing = strata_wizard_relative_path (dir, path);
  const char *reads[] = { path, NULL };
  const char *writes[] = { self->overlay, NULL };
  StrataRebaseOptions opts = { 0 };
  GCancellable *cancellable;

  job = strata_job_new (title);
  cancellable = strata_wizard_begin_job (wizard, job, reads, writes);
  if (cancellable == NULL)
    return;

  opts.backing = backing;
  opts.backing_format = self->found_format;
  opts.unsafe = TRUE;
  strata_rebase_async (self->overlay, &opts, job, cancellable, locate_done_cb,
                       g_object_ref (self));
}

static void
base_chosen_cb (GtkWidget  *widget,
                const char *path)
{
  gtk_editable_set_text (GTK_EDITABLE (STRATA_LOCATE_WIZARD (widget)->path_row), path);
}

static void
choose_base_action (GtkWidget  *widget,
                    const char *action_name,
                    GVariant   *parameter)
{
  StrataLocateWizard *self = STRATA_LOCATE_WIZARD (widget);

  strata_wizard_choose_file (widget, _("Choose the Base"), FALSE, self->overlay,
                             base_chosen_cb);
}

static void
changed_cb (StrataLocateWizard *self)
{
  validate (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BASE_PATH]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CONFIRMED]);
}

static void
strata_locate_wizard_constructed (GObject *object)
{
  StrataLocateWizard *self = STRATA_LOCATE_WIZARD (object);
  g_autoptr(StrataImage) image = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *name = g_path_get_basename (self->overlay);

  G_OBJECT_CLASS (strata_locate_wizard_parent_class)->constructed (object);

  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->overlay_row), name);
  image = strata_image_open (self->overlay, NULL,
                             STRATA_OPEN_READ_ONLY | STRATA_OPEN_FORCE_SHARE
                             | STRATA_OPEN_NO_BACKING, &error);
  if (image == NULL)
    self->error = g_strdup (error->message);
  else if (strata_image_get_backing_name (image) == NULL)
    self->error = g_strdup_printf (_("%s has no base."), name);
  else
    {
      g_autofree char *subtitle = NULL;

      self->stored_name = g_strdup (strata_image_get_backing_name (image));
      self->overlay_size = strata_image_get_size (image);
      subtitle = g_strdup_printf (_("Its base “%s” cannot be found."), self->stored_name);
      adw_action_row_set_subtitle (self->overlay_row, subtitle);
    }
  if (self->error != NULL)
    adw_action_row_set_subtitle (self->overlay_row, self->error);

  validate (self);
}

static void
strata_locate_wizard_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), STRATA_TYPE_LOCATE_WIZARD);

  G_OBJECT_CLASS (strata_locate_wizard_parent_class)->dispose (object);
}

static void
strata_locate_wizard_finalize (GObject *object)
{
  StrataLocateWizard *self = STRATA_LOCATE_WIZARD (object);

  g_clear_pointer (&self->overlay, g_free);
  g_clear_pointer (&self->stored_name, g_free);
  g_clear_pointer (&self->error, g_free);
  g_clear_pointer (&self->found_format, g_free);

  G_OBJECT_CLASS (strata_locate_wizard_parent_class)->finalize (object);
}

static void
strata_locate_wizard_get_property (GObject    *object,
                                   guint       prop_id,
                                   GValue     *value,
                                   GParamSpec *pspec)
{
  StrataLocateWizard *self = STRATA_LOCATE_WIZARD (object);

  switch (prop_id)
    {
    case PROP_OVERLAY:
      g_value_set_string (value, self->overlay);
      break;
    case PROP_BASE_PATH:
      g_value_set_string (value, gtk_editable_get_text (GTK_EDITABLE (self->path_row)));
      break;
    case PROP_CONFIRMED:
      g_value_set_boolean (value, gtk_switch_get_active (self->confirm_switch));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
strata_locate_wizard_set_property (GObject      *object,
                                   guint         prop_id,
                                   const GValue *value,
                                   GParamSpec   *pspec)
{
  StrataLocateWizard *self = STRATA_LOCATE_WIZARD (object);

  switch (prop_id)
    {
    case PROP_OVERLAY:
      self->overlay = g_canonicalize_filename (g_value_get_string (value), NULL);
      break;
    case PROP_BASE_PATH:
      gtk_editable_set_text (GTK_EDITABLE (self->path_row),
                             g_value_get_string (value) ? g_value_get_string (value) : "");
      break;
    case PROP_CONFIRMED:
      gtk_switch_set_active (self->confirm_switch, g_value_get_boolean (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
strata_locate_wizard_class_init (StrataLocateWizardClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  StrataWizardClass *wizard_class = STRATA_WIZARD_CLASS (klass);

  object_class->constructed = strata_locate_wizard_constructed;
  object_class->dispose = strata_locate_wizard_dispose;
  object_class->finalize = strata_locate_wizard_finalize;
  object_class->get_property = strata_locate_wizard_get_property;
  object_class->set_property = strata_locate_wizard_set_property;
  wizard_class->start = strata_locate_wizard_start;

  properties[PROP_OVERLAY] =
    g_param_spec_string ("overlay", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_BASE_PATH] =
    g_param_spec_string ("base-path", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_CONFIRMED] =
    g_param_spec_boolean ("confirmed", NULL, NULL, FALSE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  (void) strata_wizards_get_resource ();
  g_type_ensure (STRATA_TYPE_USAGE_BARS);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/gnome/Strata/wizards/"
                                               "strata-locate-wizard.ui");
  gtk_widget_class_bind_template_child (widget_class, StrataLocateWizard, back_button);
  gtk_widget_class_bind_template_child (widget_class, StrataLocateWizard, confirm_switch);
  gtk_widget_class_bind_template_child (widget_class, StrataLocateWizard, found_row);
  gtk_widget_class_bind_template_child (widget_class, StrataLocateWizard, job_list);
  gtk_widget_class_bind_template_child (widget_class, StrataLocateWizard, overlay_row);
  gtk_widget_class_bind_template_child (widget_class, StrataLocateWizard, path_row);
  gtk_widget_class_bind_template_child (widget_class, StrataLocateWizard, problem_label);
  gtk_widget_class_bind_template_child (widget_class, StrataLocateWizard, result_page);
  gtk_widget_class_bind_template_child (widget_class, StrataLocateWizard, stack);
  gtk_widget_class_bind_template_child (widget_class, StrataLocateWizard, start_button);
  gtk_widget_class_bind_template_child (widget_class, StrataLocateWizard, usage_bars);

  gtk_widget_class_install_action (widget_class, "wizard.choose-base", NULL,
                                   choose_base_action);
  gtk_widget_class_install_property_action (widget_class, "wizard.base-path", "base-path");
  gtk_widget_class_install_property_action (widget_class, "wizard.confirmed", "confirmed");
}

static void
strata_locate_wizard_init (StrataLocateWizard *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));

  strata_wizard_set_chrome (STRATA_WIZARD (self), self->stack, self->back_button,
                            self->start_button, self->problem_label, self->job_list,
                            self->result_page);

  g_signal_connect_swapped (self->path_row, "changed", G_CALLBACK (changed_cb), self);
  g_signal_connect_swapped (self->confirm_switch, "notify::active", G_CALLBACK (changed_cb),
                            self);
}

GtkWindow *
strata_locate_wizard_new (GtkWindow        *parent,
                          StrataLibrary    *library,
                          StrataJobManager *jobs,
                          const char       *overlay)
{
  g_return_val_if_fail (STRATA_IS_JOB_MANAGER (jobs), NULL);
  g_return_val_if_fail (overlay != NULL, NULL);

  return g_object_new (STRATA_TYPE_LOCATE_WIZARD,
                       "transient-for", parent,
                       "library", library,
                       "jobs", jobs,
                       "overlay", overlay,
                       NULL);
}
