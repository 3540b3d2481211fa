/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "strata-copy.h"
#include "strata-image.h"
#include "strata-protect.h"
#include "strata-rebase.h"
#include "strata-rebase-wizard.h"
#include "strata-usage-bars.h"
#include "strata-wizard-util.h"
#include "strata-wizards-resources.h"

struct _StrataRebaseWizard
{
  StrataWizard     parent_instance;

  GtkButton       *back_button;
  GtkSwitch       *confirm_switch;
  AdwActionRow    *confirm_row;
  GtkCheckButton  *copy_check;
  AdwEntryRow     *copy_name_row;
  AdwActionRow    *copy_row;
  GtkCheckButton  *flatten_check;
  GtkListBox      *job_list;
  GtkCheckButton  *other_check;
  AdwEntryRow     *other_path_row;
  AdwActionRow    *overlay_row;
  GtkLabel        *problem_label;
  GtkSwitch       *protect_switch;
  AdwActionRow    *protect_row;
  AdwStatusPage   *result_page;
  GtkStack        *stack;
  GtkButton       *start_button;
  GtkSwitch       *unsafe_switch;
  AdwActionRow    *unsafe_row;
  StrataUsageBars *usage_bars;

  char            *overlay;
  char            *base;         /* the current base, resolved */
  char            *base_format;
  guint64          overlay_size;
  char            *error;        /* why the overlay cannot be rebased */
};

enum
{
  PROP_0,
  PROP_OVERLAY,
  PROP_MODE,
  PROP_COPY_NAME,
  PROP_NEW_BASE,
  PROP_UNSAFE,
  PROP_CONFIRMED,
  PROP_PROTECT_COPY,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (StrataRebaseWizard, strata_rebase_wizard, STRATA_TYPE_WIZARD)

typedef enum
{
  MODE_COPY,
  MODE_OTHER,
  MODE_FLATTEN,
} Mode;

static const char * const mode_names[] = { "copy", "other", "flatten" };

static Mode
get_mode (StrataRebaseWizard *self)
{
  if (gtk_check_button_get_active (self->other_check))
    return MODE_OTHER;
  if (gtk_check_button_get_active (self->flatten_check))
    return MODE_FLATTEN;
  return MODE_COPY;
}

static char *
copy_path (StrataRebaseWizard *self)
{
  g_autofree char *dir = g_path_get_dirname (self->base);

  return g_build_filename (dir, gtk_editable_get_text (GTK_EDITABLE (self->copy_name_row)),
                           NULL);
}

static char *
other_path (StrataRebaseWizard *self)
{
  const char *text = gtk_editable_get_text (GTK_EDITABLE (self->other_path_row));
  g_autofree char *dir = NULL;

  if (*text == '\0')
    return NULL;
  dir = g_path_get_dirname (self->overlay);
  return g_canonicalize_filename (text, dir);
}

/* Why the image at @path cannot be the new base, or a warning (*@is_warning). */
static char *
check_other_base (StrataRebaseWizard *self,
                  const char         *path,
                  gboolean           *is_warning)
{
  g_autoptr(StrataImage) image = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *name = NULL;

  *is_warning = FALSE;
  if (path == NULL)
    return g_strdup (_("Type the path of the new base, or choose it."));
  name = g_path_get_basename (path);
  if (g_strcmp0 (path, self->overlay) == 0)
    return g_strdup (_("An overlay cannot be its own base."));

  image = strata_image_open (path, NULL, STRATA_OPEN_READ_ONLY | STRATA_OPEN_FORCE_SHARE,
                             &error);
  if (image == NULL)
    return g_strdup (error->message);
  for (StrataImage *layer = image; layer != NULL; layer = strata_image_get_backing (layer))
    if (g_strcmp0 (strata_image_get_filename (layer), self->overlay) == 0)
      return g_strdup_printf (_("%s is built on this overlay; that would make a loop."), name);

  if (strata_image_get_size (image) < self->overlay_size)
    {
      *is_warning = TRUE;
      return g_strdup_printf (_("%s is smaller than the overlay; the rest of the disk will "
                                "read as zeros."), name);
    }

  return NULL;
}

static void
validate (StrataRebaseWizard *self)
{
  StrataWizard *wizard = STRATA_WIZARD (self);
  StrataJobManager *jobs = strata_wizard_get_jobs (wizard);
  Mode mode = get_mode (self);
  g_autofree char *message = NULL;
  gboolean is_warning = FALSE;

  if (self->overlay == NULL)
    return;

  gtk_widget_set_sensitive (GTK_WIDGET (self->copy_name_row), mode == MODE_COPY);
  gtk_widget_set_sensitive (GTK_WIDGET (self->protect_row), mode == MODE_COPY);
  gtk_widget_set_sensitive (GTK_WIDGET (self->other_path_row), mode == MODE_OTHER);
  gtk_widget_set_sensitive (GTK_WIDGET (self->unsafe_row), mode == MODE_OTHER);
  gtk_widget_set_visible (GTK_WIDGET (self->confirm_row),
                          mode == MODE_OTHER && gtk_switch_get_active (self->unsafe_switch));

  if (self->error != NULL)
    message = g_strdup (self->error);
  else if ((message = strata_wizard_check_writable (jobs, self->overlay)) != NULL)
    ;
  else if (mode == MODE_COPY)
    {
      g_autofree char *dir = g_path_get_dirname (self->base);
      guint64 free_space = strata_wizard_free_space (dir);
      guint64 needed = strata_wizard_disk_usage (self->base);

      message = strata_wizard_check_new_name (dir, gtk_editable_get_text (
                                                GTK_EDITABLE (self->copy_name_row)));
      if (message == NULL && strata_job_manager_is_writing (jobs, self->base))
        message = g_strdup (_("The base is being written by a running job; wait for it."));
      /* A reflink needs no room, but that cannot be known before trying. */
      if (message == NULL && free_space != G_MAXUINT64 && free_space < needed)
        {
          g_autofree char *free_text = g_format_size (free_space);
          g_autofree char *need_text = g_format_size (needed);

          is_warning = TRUE;
          message = g_strdup_printf (_("Only %s is free there; the copy needs up to %s unless "
                                       "the file system can share blocks."),
                                     free_text, need_text);
        }
    }
  else if (mode == MODE_OTHER)
    {
      g_autofree char *path = other_path (self);

      message = check_other_base (self, path, &is_warning);
      if ((message == NULL || is_warning) && gtk_switch_get_active (self->unsafe_switch)
          && !gtk_switch_get_active (self->confirm_switch))
        {
          g_clear_pointer (&message, g_free);
          is_warning = FALSE;
          message = g_strdup (_("An unsafe rebase corrupts the disk unless the new base holds "
                                "the same data: turn on “I Am Sure”, or use the safe mode."));
        }
    }

  strata_wizard_set_problem (wizard, message, is_warning);
}

static void
inspect (StrataRebaseWizard *self)
{
  g_autoptr(StrataImage) image = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *name = g_path_get_basename (self->overlay);
  g_autofree char *subtitle = NULL;

  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->overlay_row), name);

  /* The header and the base's header: quick enough for the main thread. */
  image = strata_image_open (self->overlay, NULL,
                             STRATA_OPEN_READ_ONLY | STRATA_OPEN_FORCE_SHARE, &error);
  if (image == NULL)
    self->error = g_strdup (error->message);
  else if (strata_image_get_backing (image) == NULL)
    self->error = g_strdup_printf (_("%s has no base to change."), name);
  else
    {
      StrataImage *base = strata_image_get_backing (image);
      g_autofree char *base_name = g_path_get_basename (strata_image_get_filename (base));
      g_autofree char *stem = g_strdup (base_name);
      g_autofree char *ostem = g_strdup (name);
      g_autofree char *copy_name = NULL;
      g_autofree char *copy_title = NULL;
      char *dot;

      self->base = g_strdup (strata_image_get_filename (base));
      self->base_format = g_strdup (strata_image_get_format (base));
      self->overlay_size = strata_image_get_size (image);
      subtitle = g_strdup_printf (_("overlay of %s"), base_name);

      if ((dot = strrchr (stem, '.')) != NULL && dot != stem)
        *dot = '\0';
      if ((dot = strrchr (ostem, '.')) != NULL && dot != ostem)
        *dot = '\0';
      copy_name = g_strdup_printf ("%s-%s.qcow2", stem, ostem);
      gtk_editable_set_text (GTK_EDITABLE (self->copy_name_row), copy_name);
      copy_title = g_strdup_printf (_("A _Copy of %s"), base_name);
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->copy_row), copy_title);
    }
  adw_action_row_set_subtitle (self->overlay_row, self->error ? self->error : subtitle);
}

typedef struct
{
  Mode       mode;
  char      *overlay;
  char      *base;
  char      *new_base;     /* the copy or the other image; NULL to flatten */
  char      *backing;      /* the name stored */
  char      *backing_format;
  gboolean   unsafe;
  gboolean   protect_copy;
  gboolean   copy_made;
  StrataCopyMethod method;
  StrataJob *job;
} RebaseData;

static void
rebase_data_free (RebaseData *data)
{
  g_free (data->overlay);
  g_free (data->base);
  g_free (data->new_base);
  g_free (data->backing);
  g_free (data->backing_format);
  g_object_unref (data->job);
  g_free (data);
}

static void
rebase_thread (GTask        *task,
               gpointer      source_object,
               gpointer      task_data,
               GCancellable *cancellable)
{
  RebaseData *data = task_data;
  StrataRebaseOptions opts = { 0 };
  GError *error = NULL;

  if (data->mode == MODE_COPY)
    {
      strata_job_set_phase (data->job, _("Copying the base"));
      /* The copy keeps the base's mode: a copy of a protected base is protected, unless the
       * user wants it writable (to commit into it). */
      if (!strata_copy_image_full (data->base, data->new_base,
                                   data->protect_copy ? STRATA_COPY_DEFAULT
                                                      : STRATA_COPY_WRITABLE,
                                   &data->method, data->job, cancellable, &error))
        {
          g_task_return_error (task, error);
          return;
        }
      data->copy_made = TRUE;
    }
  else if (data->mode == MODE_OTHER && data->backing_format == NULL)
    {
      const char *format = strata_probe_format (data->new_base, &error);

      if (format == NULL)
        {
          g_task_return_error (task, error);
          return;
        }
      data->backing_format = g_strdup (format);
    }

  strata_job_set_phase (data->job, data->mode == MODE_FLATTEN ? _("Copying the base's data")
                                                              : _("Rebasing"));
  opts.backing = data->backing != NULL ? data->backing : "";
  opts.backing_format = data->backing != NULL ? data->backing_format : NULL;
  /* Onto the verified copy, the content is identical by construction. */
  opts.unsafe = data->mode == MODE_COPY || data->unsafe;
  if (!strata_rebase_sync (data->overlay, &opts, data->job, cancellable, &error))
    {
      /* The overlay still points at the old base: the copy is of no use, remove it. */
      if (data->copy_made)
        g_unlink (data->new_base);
      data->copy_made = FALSE;
      g_task_return_error (task, error);
      return;
    }

  if (data->copy_made && data->protect_copy && !strata_protect (data->new_base, &error))
    {
      /* The rebase itself succeeded; say that protecting failed. */
      g_prefix_error (&error, _("Rebased, but the copy could not be protected: "));
      g_task_return_error (task, error);
      return;
    }

  g_task_return_boolean (task, TRUE);
}

static void
rebase_done_cb (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(StrataRebaseWizard) self = user_data;
  StrataWizard *wizard = STRATA_WIZARD (self);
  StrataLibrary *library = strata_wizard_get_library (wizard);
  RebaseData *data = g_task_get_task_data (G_TASK (result));
  g_autoptr(GError) error = NULL;
  g_autofree char *name = g_path_get_basename (self->overlay);
  g_autofree char *base_name = g_path_get_basename (self->base);
  g_autofree char *new_name = data->new_base ? g_path_get_basename (data->new_base) : NULL;

  strata_wizard_rescan (library, self->overlay);
  if (data->new_base != NULL)
    strata_wizard_rescan (library, data->new_base);

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      g_autofree char *description = NULL;

      gtk_widget_set_visible (GTK_WIDGET (self->usage_bars), FALSE);
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          if (data->mode == MODE_COPY && strata_wizard_anything_left (data->new_base))
            description = g_strdup_printf (_("Stopped; %s still points at %s, but %s is still "
                                             "there."), name, base_name, new_name);
          else
            description = g_strdup_printf (_("Nothing was changed: %s still points at %s."),
                                           name, base_name);
        }
      strata_wizard_end_job (wizard, NULL, NULL, description, error);
      return;
    }

  {
    g_autofree char *title = NULL;
    g_autofree char *summary = NULL;
    g_autofree char *description = NULL;

    strata_usage_bars_clear (self->usage_bars);
    strata_usage_bars_add (self->usage_bars, name, _("overlay"),
                           strata_wizard_disk_usage (self->overlay), FALSE);
    if (data->new_base != NULL)
      strata_usage_bars_add (self->usage_bars, new_name,
                             data->mode == MODE_COPY ? _("the copy, its new base")
                                                     : _("its new base"),
                             strata_wizard_disk_usage (data->new_base), FALSE);
    gtk_widget_set_visible (GTK_WIDGET (self->usage_bars), TRUE);

    if (data->mode == MODE_FLATTEN)
      {
        title = g_strdup_printf (_("%s Stands Alone"), name);
        summary = g_strdup_printf (_("%s no longer needs %s"), name, base_name);
        description = g_strdup_printf (_("Everything %s provided is now in %s."), base_name,
                                       name);
      }
    else
      {
        title = g_strdup_printf (_("%s Now Uses %s"), name, new_name);
        summary = g_strdup_printf (_("Rebased %s onto %s"), name, new_name);
        if (data->mode == MODE_COPY)
          description = g_strdup_printf (data->method == STRATA_COPY_METHOD_REFLINK
                                         ? _("The copy shares its blocks with %s, so it took "
                                             "no extra room. %s is unchanged.")
                                         : _("%s was copied; it is unchanged, and so are the "
                                             "other images that use it."), base_name,
                                         base_name);
        else
          description = g_strdup_printf (data->unsafe
                                         ? _("Only the pointer was rewritten; the old base %s "
                                             "is no longer used by it.")
                                         : _("What differed from %s was copied into the "
                                             "overlay, so its disk reads the same."),
                                         base_name);
      }
    strata_wizard_set_result_path (wizard, self->overlay);
    strata_wizard_end_job (wizard, summary, title, description, NULL);
  }
}

static void
strata_rebase_wizard_start (StrataWizard *wizard)
{
  StrataRebaseWizard *self = STRATA_REBASE_WIZARD (wizard);
  g_autoptr(GTask) task = NULL;
  g_autofree char *name = g_path_get_basename (self->overlay);
  g_autofree char *title = NULL;
  g_autofree char *dir = g_path_get_dirname (self->overlay);
  GCancellable *cancellable;
  RebaseData *data;

  data = g_new0 (RebaseData, 1);
  data->mode = get_mode (self);
  data->overlay = g_strdup (self->overlay);
  data->base = g_strdup (self->base);
  if (data->mode == MODE_COPY)
    {
      data->new_base = copy_path (self);
      data->backing_format = g_strdup (self->base_format);
      data->protect_copy = gtk_switch_get_active (self->protect_switch);
    }
  else if (data->mode == MODE_OTHER)
    {
      data->new_base = other_path (self);
      data->unsafe = gtk_switch_get_active (self->unsafe_switch);
    }
  if (data->new_base != NULL)
    data->backing = strata_wizard_relative_path (dir, data->new_base);

  title = data->mode == MODE_FLATTEN ? g_strdup_printf (_("Flatten %s"), name)
                                     : g_strdup_printf (_("Rebase %s"), name);
  data->job = strata_job_new (title);

  {
    const char *reads[] = { self->base, data->mode == MODE_OTHER ? data->new_base : NULL,
                            NULL };
    const char *writes[] = { self->overlay, data->mode == MODE_COPY ? data->new_base : NULL,
                             NULL };

    cancellable = strata_wizard_begin_job (wizard, data->job, reads, writes);
  }
  if (cancellable == NULL)
    {
      rebase_data_free (data);
      return;
    }

  task = g_task_new (NULL, cancellable, rebase_done_cb, g_object_ref (self));
  g_task_set_task_data (task, data, (GDestroyNotify) rebase_data_free);
  g_task_run_in_thread (task, rebase_thread);
}

static void
base_chosen_cb (GtkWidget  *widget,
                const char *path)
{
  StrataRebaseWizard *self = STRATA_REBASE_WIZARD (widget);

  gtk_check_button_set_active (self->other_check, TRUE);
  gtk_editable_set_text (GTK_EDITABLE (self->other_path_row), path);
}

static void
choose_base_action (GtkWidget  *widget,
                    const char *action_name,
                    GVariant   *parameter)
{
  StrataRebaseWizard *self = STRATA_REBASE_WIZARD (widget);

  strata_wizard_choose_file (widget, _("Choose the New Base"), FALSE, self->base,
                             base_chosen_cb);
}

static void
changed_cb (StrataRebaseWizard *self)
{
  validate (self);
  for (guint i = PROP_MODE; i < N_PROPS; i++)
    g_object_notify_by_pspec (G_OBJECT (self), properties[i]);
}

static void
strata_rebase_wizard_constructed (GObject *object)
{
  StrataRebaseWizard *self = STRATA_REBASE_WIZARD (object);

  G_OBJECT_CLASS (strata_rebase_wizard_parent_class)->constructed (object);

  inspect (self);
  validate (self);
}

static void
strata_rebase_wizard_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), STRATA_TYPE_REBASE_WIZARD);

  G_OBJECT_CLASS (strata_rebase_wizard_parent_class)->dispose (object);
}

static void
strata_rebase_wizard_finalize (GObject *object)
{
  StrataRebaseWizard *self = STRATA_REBASE_WIZARD (object);

  g_clear_pointer (&self->overlay, g_free);
  g_clear_pointer (&self->base, g_free);
  g_clear_pointer (&self->base_format, g_free);
  g_clear_pointer (&self->error, g_free);

  G_OBJECT_CLASS (strata_rebase_wizard_parent_class)->finalize (object);
}

static void
strata_rebase_wizard_get_property (GObject    *object,
                                   guint       prop_id,
                                   GValue     *value,
                                   GParamSpec *pspec)
{
  StrataRebaseWizard *self = STRATA_REBASE_WIZARD (object);

  switch (prop_id)
    {
    case PROP_OVERLAY:
      g_value_set_string (value, self->overlay);
      break;
    case PROP_MODE:
      g_value_set_string (value, mode_names[get_mode (self)]);
      break;
    case PROP_COPY_NAME:
      g_value_set_string (value, gtk_editable_get_text (GTK_EDITABLE (self->copy_name_row)));
      break;
    case PROP_NEW_BASE:
      g_value_set_string (value, gtk_editable_get_text (GTK_EDITABLE (self->other_path_row)));
      break;
    case PROP_UNSAFE:
      g_value_set_boolean (value, gtk_switch_get_active (self->unsafe_switch));
      break;
    case PROP_CONFIRMED:
      g_value_set_boolean (value, gtk_switch_get_active (self->confirm_switch));
      break;
    case PROP_PROTECT_COPY:
      g_value_set_boolean (value, gtk_switch_get_active (self->protect_switch));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
strata_rebase_wizard_set_property (GObject      *object,
                                   guint         prop_id,
                                   const GValue *value,
                                   GParamSpec   *pspec)
{
  StrataRebaseWizard *self = STRATA_REBASE_WIZARD (object);
  const char *s;

  switch (prop_id)
    {
    case PROP_OVERLAY:
      self->overlay = g_canonicalize_filename (g_value_get_string (value), NULL);
      break;
    case PROP_MODE:
      s = g_value_get_string (value);
      if (g_strcmp0 (s, "copy") == 0)
        gtk_check_button_set_active (self->copy_check, TRUE);
      else if (g_strcmp0 (s, "other") == 0)
        gtk_check_button_set_active (self->other_check, TRUE);
      else if (g_strcmp0 (s, "flatten") == 0)
        gtk_check_button_set_active (self->flatten_check, TRUE);
      break;
    case PROP_COPY_NAME:
      s = g_value_get_string (value);
      gtk_editable_set_text (GTK_EDITABLE (self->copy_name_row), s ? s : "");
      break;
    case PROP_NEW_BASE:
      s = g_value_get_string (value);
      gtk_editable_set_text (GTK_EDITABLE (self->other_path_row), s ? s : "");
      break;
    case PROP_UNSAFE:
      gtk_switch_set_active (self->unsafe_switch, g_value_get_boolean (value));
      break;
    case PROP_CONFIRMED:
      gtk_switch_set_active (self->confirm_switch, g_value_get_boolean (value));
      break;
    case PROP_PROTECT_COPY:
      gtk_switch_set_active (self->protect_switch, g_value_get_boolean (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
strata_rebase_wizard_class_init (StrataRebaseWizardClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  StrataWizardClass *wizard_class = STRATA_WIZARD_CLASS (klass);

  object_class->constructed = strata_rebase_wizard_constructed;
  object_class->dispose = strata_rebase_wizard_dispose;
  object_class->finalize = strata_rebase_wizard_finalize;
  object_class->get_property = strata_rebase_wizard_get_property;
  object_class->set_property = strata_rebase_wizard_set_property;
  wizard_class->start = strata_rebase_wizard_start;

  properties[PROP_OVERLAY] =
    g_param_spec_string ("overlay", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_MODE] =
    g_param_spec_string ("mode", NULL, NULL, "copy",
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_COPY_NAME] =
    g_param_spec_string ("copy-name", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_NEW_BASE] =
    g_param_spec_string ("new-base", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_UNSAFE] =
    g_param_spec_boolean ("unsafe", NULL, NULL, FALSE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_CONFIRMED] =
    g_param_spec_boolean ("confirmed", NULL, NULL, FALSE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_PROTECT_COPY] =
    g_param_spec_boolean ("protect-copy", NULL, NULL, TRUE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  (void) strata_wizards_get_resource ();
  g_type_ensure (STRATA_TYPE_USAGE_BARS);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/gnome/Strata/wizards/"
                                               "strata-rebase-wizard.ui");
  gtk_widget_class_bind_template_child (widget_class, StrataRebaseWizard, back_button);
  gtk_widget_class_bind_template_child (widget_class, StrataRebaseWizard, confirm_row);
  gtk_widget_class_bind_template_child (widget_class, StrataRebaseWizard, confirm_switch);
  gtk_widget_class_bind_template_child (widget_class, StrataRebaseWizard, copy_check);
  gtk_widget_class_bind_template_child (widget_class, StrataRebaseWizard, copy_name_row);
  gtk_widget_class_bind_template_child (widget_class, StrataRebaseWizard, copy_row);
  gtk_widget_class_bind_template_child (widget_class, StrataRebaseWizard, flatten_check);
  gtk_widget_class_bind_template_child (widget_class, StrataRebaseWizard, job_list);
  gtk_widget_class_bind_template_child (widget_class, StrataRebaseWizard, other_check);
  gtk_widget_class_bind_template_child (widget_class, StrataRebaseWizard, other_path_row);
  gtk_widget_class_bind_template_child (widget_class, StrataRebaseWizard, overlay_row);
  gtk_widget_class_bind_template_child (widget_class, StrataRebaseWizard, problem_label);
  gtk_widget_class_bind_template_child (widget_class, StrataRebaseWizard, protect_row);
  gtk_widget_class_bind_template_child (widget_class, StrataRebaseWizard, protect_switch);
  gtk_widget_class_bind_template_child (widget_class, StrataRebaseWizard, result_page);
  gtk_widget_class_bind_template_child (widget_class, StrataRebaseWizard, stack);
  gtk_widget_class_bind_template_child (widget_class, StrataRebaseWizard, start_button);
  gtk_widget_class_bind_template_child (widget_class, StrataRebaseWizard, unsafe_row);
  gtk_widget_class_bind_template_child (widget_class, StrataRebaseWizard, unsafe_switch);
  gtk_widget_class_bind_template_child (widget_class, StrataRebaseWizard, usage_bars);

  gtk_widget_class_install_action (widget_class, "wizard.choose-base", NULL,
                                   choose_base_action);
  gtk_widget_class_install_property_action (widget_class, "wizard.mode", "mode");
  gtk_widget_class_install_property_action (widget_class, "wizard.copy-name", "copy-name");
  gtk_widget_class_install_property_action (widget_class, "wizard.new-base", "new-base");
  gtk_widget_class_install_property_action (widget_class, "wizard.unsafe", "unsafe");
  gtk_widget_class_install_property_action (widget_class, "wizard.confirmed", "confirmed");
  gtk_widget_class_install_property_action (widget_class, "wizard.protect-copy",
                                            "protect-copy");
}

static void
strata_rebase_wizard_init (StrataRebaseWizard *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));

  strata_wizard_set_chrome (STRATA_WIZARD (self), self->stack, self->back_button,
                            self->start_button, self->problem_label, self->job_list,
                            self->result_page);

  g_signal_connect_swapped (self->copy_check, "notify::active", G_CALLBACK (changed_cb), self);
  g_signal_connect_swapped (self->other_check, "notify::active", G_CALLBACK (changed_cb), self);
  g_signal_connect_swapped (self->flatten_check, "notify::active", G_CALLBACK (changed_cb),
                            self);
  g_signal_connect_swapped (self->copy_name_row, "changed", G_CALLBACK (changed_cb), self);
  g_signal_connect_swapped (self->other_path_row, "changed", G_CALLBACK (changed_cb), self);
  g_signal_connect_swapped (self->unsafe_switch, "notify::active", G_CALLBACK (changed_cb),
                            self);
  g_signal_connect_swapped (self->confirm_switch, "notify::active", G_CALLBACK (changed_cb),
                            self);
  g_signal_connect_swapped (self->protect_switch, "notify::active", G_CALLBACK (changed_cb),
                            self);
}

GtkWindow *
strata_rebase_wizard_new (GtkWindow        *parent,
                          StrataLibrary    *library,
                          StrataJobManager *jobs,
                          const char       *overlay)
{
  g_return_val_if_fail (STRATA_IS_JOB_MANAGER (jobs), NULL);
  g_return_val_if_fail (overlay != NULL, NULL);

  return g_object_new (STRATA_TYPE_REBASE_WIZARD,
                       "transient-for", parent,
                       "library", library,
                       "jobs", jobs,
                       "overlay", overlay,
                       NULL);
}
