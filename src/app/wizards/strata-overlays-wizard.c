/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "strata-create.h"
#include "strata-image.h"
#include "strata-overlays-wizard.h"
#include "strata-protect.h"
#include "strata-usage-bars.h"
#include "strata-wizard-util.h"
#include "strata-wizards-resources.h"

struct _StrataOverlaysWizard
{
  StrataWizard     parent_instance;

  GtkButton       *back_button;
  AdwActionRow    *base_row;
  GtkSpinButton   *count_spin;
  AdwActionRow    *folder_row;
  GtkListBox      *job_list;
  AdwComboRow     *path_row;
  AdwEntryRow     *pattern_row;
  GtkLabel        *preview_label;
  GtkLabel        *problem_label;
  AdwActionRow    *protect_row;
  GtkSwitch       *protect_switch;
  AdwStatusPage   *result_page;
  GtkStack        *stack;
  GtkButton       *start_button;
  StrataUsageBars *usage_bars;

  char            *base;
  char            *base_format;
  guint64          base_size;
  char            *base_error;
  gboolean         base_protected;
  char            *folder;
  GPtrArray       *names;   /* the overlay names the pattern gives */
  GPtrArray       *created; /* paths, after the job */
};

enum
{
  PROP_0,
  PROP_BASE,
  PROP_COUNT,
  PROP_PATTERN,
  PROP_FOLDER,
  PROP_ABSOLUTE,
  PROP_PROTECT_BASE,
  PROP_PREVIEW,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (StrataOverlaysWizard, strata_overlays_wizard, STRATA_TYPE_WIZARD)

/* "img##.qcow2" with 3 overlays gives img01.qcow2, img02.qcow2, img03.qcow2: the run of '#'
 * becomes the number, zero-padded to its length (or to the digits of the count). */
static GPtrArray *
expand_pattern (const char *pattern,
                guint       count)
{
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  const char *hash = strchr (pattern, '#');
  guint run = 0;
  guint digits = 1;

  if (hash == NULL)
    {
      if (count == 1)
        g_ptr_array_add (names, g_strdup (pattern));
      return names;
    }

  while (hash[run] == '#')
    run++;
  for (guint c = count; c >= 10; c /= 10)
    digits++;

  for (guint i = 1; i <= count; i++)
    g_ptr_array_add (names, g_strdup_printf ("%.*s%0*u%s", (int) (hash - pattern), pattern,
                                             (int) MAX (run, digits), i, hash + run));

  return names;
}

static char *
backing_string (StrataOverlaysWizard *self)
{
  if (adw_combo_row_get_selected (self->path_row) == 1)
    return g_strdup (self->base);
  return strata_wizard_relative_path (self->folder, self->base);
}

static void
update_preview (StrataOverlaysWizard *self)
{
  const char *pattern = gtk_editable_get_text (GTK_EDITABLE (self->pattern_row));
  guint count = (guint) gtk_spin_button_get_value_as_int (self->count_spin);
  g_autofree char *backing = backing_string (self);
  g_autofree char *stored = NULL;
  GString *preview = g_string_new (NULL);

  g_clear_pointer (&self->names, g_ptr_array_unref);
  self->names = expand_pattern (pattern, count);

  for (guint i = 0; i < self->names->len && i < 6; i++)
    {
      if (i > 0)
        g_string_append (preview, ", ");
      g_string_append (preview, g_ptr_array_index (self->names, i));
    }
  if (self->names->len > 6)
    {
      g_string_append (preview, ", … ");
      g_string_append (preview, g_ptr_array_index (self->names, self->names->len - 1));
    }
  if (preview->len > 0)
    {
      g_autofree char *text = NULL;

      /* Translators: the preview of the names, e.g. "Will create img01.qcow2, img02.qcow2". */
      text = g_strdup_printf (_("Will create %s"), preview->str);
      gtk_label_set_text (self->preview_label, text);
    }
  else
    gtk_label_set_text (self->preview_label, "");
  g_string_free (preview, TRUE);

  /* Translators: the exact backing name each overlay will store. */
  stored = g_strdup_printf (adw_combo_row_get_selected (self->path_row) == 1
                              ? _("Stored as “%s”; the overlays keep working when they move")
                              : _("Stored as “%s”; the folder can move as a whole"),
                            backing);
  adw_action_row_set_subtitle (ADW_ACTION_ROW (self->path_row), stored);

  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PREVIEW]);
}

static void
validate (StrataOverlaysWizard *self)
{
  StrataWizard *wizard = STRATA_WIZARD (self);
  const char *pattern = gtk_editable_get_text (GTK_EDITABLE (self->pattern_row));
  g_autofree char *base_name = NULL;

  if (self->base == NULL)
    return;
  base_name = g_path_get_basename (self->base);

  update_preview (self);

  if (self->base_error != NULL)
    {
      strata_wizard_set_problem (wizard, self->base_error, FALSE);
      return;
    }
  /* A VM reading the base (through another overlay) is fine; one writing it is not. */
  if (strata_wizard_held_by_other (self->base, FALSE))
    {
      g_autofree char *message =
        g_strdup_printf (_("%s is in use by a running virtual machine that writes to it; "
                           "overlays on a base that changes would be corrupted. Shut it down "
                           "first."), base_name);

      strata_wizard_set_problem (wizard, message, FALSE);
      return;
    }
  if (strata_job_manager_is_writing (strata_wizard_get_jobs (wizard), self->base))
    {
      g_autofree char *message =
        g_strdup_printf (_("%s is being written by a running job; wait for it to finish."),
                         base_name);

      strata_wizard_set_problem (wizard, message, FALSE);
      return;
    }
  if (self->names->len == 0)
    {
      strata_wizard_set_problem (wizard, *pattern == '\0'
                                 ? _("Type a name for the overlays.")
                                 : _("Put # in the name where the number goes."), FALSE);
      return;
    }
  for (guint i = 0; i < self->names->len; i++)
    {
      g_autofree char *problem =
        strata_wizard_check_new_name (self->folder, g_ptr_array_index (self->names, i));

      if (problem != NULL)
        {
          strata_wizard_set_problem (wizard, problem, FALSE);
          return;
        }
    }
  if (!self->base_protected && !gtk_switch_get_active (self->protect_switch))
    {
      g_autofree char *message =
        g_strdup_printf (_("%s stays writable: anything that writes to it later corrupts "
                           "every overlay."), base_name);

      strata_wizard_set_problem (wizard, message, TRUE);
      return;
    }

  strata_wizard_set_problem (wizard, NULL, FALSE);
}

static void
set_base (StrataOverlaysWizard *self,
          const char           *base)
{
  g_autoptr(StrataImage) image = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *name = NULL;
  g_autofree char *stem = NULL;
  g_autofree char *pattern = NULL;
  g_autofree char *subtitle = NULL;
  char *dot;

  g_free (self->base);
  self->base = g_canonicalize_filename (base, NULL);
  g_clear_pointer (&self->base_error, g_free);
  g_clear_pointer (&self->base_format, g_free);
  name = g_path_get_basename (self->base);

  /* Only the header is read (no backing chain): this is quick enough for the main thread. */
  image = strata_image_open (self->base, NULL,
                             STRATA_OPEN_READ_ONLY | STRATA_OPEN_FORCE_SHARE
                             | STRATA_OPEN_NO_BACKING, &error);
  if (image == NULL)
    {
      self->base_error = g_strdup (error->message);
      subtitle = g_strdup (error->message);
    }
  else
    {
      g_autofree char *size = NULL;
      g_autofree char *format = NULL;

      self->base_format = g_strdup (strata_image_get_format (image));
      self->base_size = strata_image_get_size (image);
      size = g_format_size (self->base_size);
      format = g_ascii_strup (self->base_format, -1);
      strata_is_protected (self->base, &self->base_protected, NULL);
      /* Translators: "QCOW2, 10.7 GB virtual, protected". */
      subtitle = g_strdup_printf (self->base_protected ? _("%s, %s virtual, protected")
                                                       : _("%s, %s virtual, writable"),
                                  format, size);
    }
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->base_row), name);
  adw_action_row_set_subtitle (self->base_row, subtitle);
  gtk_widget_set_visible (GTK_WIDGET (self->protect_row), !self->base_protected);

  if (self->folder == NULL)
    {
      self->folder = g_path_get_dirname (self->base);
      adw_action_row_set_subtitle (self->folder_row, self->folder);
    }

  /* "debian.qcow2" gives "debian-##.qcow2". */
  stem = g_strdup (name);
  dot = strrchr (stem, '.');
  if (dot != NULL && dot != stem)
    *dot = '\0';
  pattern = g_strdup_printf ("%s-##.qcow2", stem);
  gtk_editable_set_text (GTK_EDITABLE (self->pattern_row), pattern);

  validate (self);
}

static void
set_folder (StrataOverlaysWizard *self,
            const char           *folder)
{
  if (folder == NULL)
    return;
  g_free (self->folder);
  self->folder = g_canonicalize_filename (folder, NULL);
  adw_action_row_set_subtitle (self->folder_row, self->folder);
  validate (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_FOLDER]);
}

typedef struct
{
  char      *backing;
  char      *backing_format;
  GPtrArray *paths;
  StrataJob *job;
} CreateData;

static void
create_data_free (CreateData *data)
{
  g_free (data->backing);
  g_free (data->backing_format);
  g_ptr_array_unref (data->paths);
  g_object_unref (data->job);
  g_free (data);
}

static void
create_thread (GTask        *task,
               gpointer      source_object,
               gpointer      task_data,
               GCancellable *cancellable)
{
  CreateData *data = task_data;
  GError *error = NULL;
  guint done = 0;

  strata_job_set_progress (data->job, 0, data->paths->len);
  for (; done < data->paths->len; done++)
    {
      StrataCreateOptions opts;

      if (g_cancellable_set_error_if_cancelled (cancellable, &error))
        break;

      strata_create_options_init (&opts);
      opts.backing_file = data->backing;
      opts.backing_format = data->backing_format;
      if (!strata_create_qcow2 (g_ptr_array_index (data->paths, done), &opts, &error))
        break;
      strata_job_set_progress (data->job, done + 1, data->paths->len);
    }

  if (error != NULL)
    {
      /* All or nothing: the overlays made before the failure go too. */
      for (guint i = 0; i < done; i++)
        g_unlink (g_ptr_array_index (data->paths, i));
      g_task_return_error (task, error);
      return;
    }

  g_task_return_boolean (task, TRUE);
}

static void
create_done_cb (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(StrataOverlaysWizard) self = user_data;
  StrataWizard *wizard = STRATA_WIZARD (self);
  CreateData *data = g_task_get_task_data (G_TASK (result));
  g_autoptr(GError) error = NULL;
  g_autofree char *base_name = g_path_get_basename (self->base);

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      g_autofree char *description = NULL;
      gboolean left = FALSE;

      for (guint i = 0; i < data->paths->len; i++)
        left |= strata_wizard_anything_left (g_ptr_array_index (data->paths, i));
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        description = left ? g_strdup (_("Stopped, but some of the new files are still there."))
                           : g_strdup (_("Nothing was created."));
      gtk_widget_set_visible (GTK_WIDGET (self->usage_bars), FALSE);
      strata_wizard_end_job (wizard, NULL, NULL, description, error);
      return;
    }

  g_clear_pointer (&self->created, g_ptr_array_unref);
  self->created = g_ptr_array_ref (data->paths);

  {
    guint n = data->paths->len;
    g_autofree char *title = g_strdup_printf (ngettext ("%u Overlay Created",
                                                        "%u Overlays Created", n), n);
    g_autofree char *summary = NULL;
    g_autofree char *description = NULL;
    guint64 total = 0;

    strata_usage_bars_clear (self->usage_bars);
    strata_usage_bars_add (self->usage_bars, base_name, _("base"),
                           strata_wizard_disk_usage (self->base), FALSE);
    for (guint i = 0; i < n; i++)
      {
        const char *path = g_ptr_array_index (data->paths, i);
        g_autofree char *name = g_path_get_basename (path);
        guint64 usage = strata_wizard_disk_usage (path);

        total += usage;
        strata_usage_bars_add (self->usage_bars, name, _("overlay"), usage, FALSE);
        strata_wizard_rescan (strata_wizard_get_library (wizard), path);
      }
    strata_wizard_rescan (strata_wizard_get_library (wizard), self->base);

    {
      g_autofree char *total_text = g_format_size (total);

      summary = g_strdup_printf (ngettext ("%u overlay of %s created, %s on disk",
                                           "%u overlays of %s created, %s on disk together",
                                           n), n, base_name, total_text);
      description = g_strdup_printf (_("Each starts empty and reads everything else from %s. "
                                       "Together they use %s."), base_name, total_text);
    }
    gtk_widget_set_visible (GTK_WIDGET (self->usage_bars), TRUE);
    if (n > 0)
      strata_wizard_set_result_path (wizard, g_ptr_array_index (data->paths, 0));
    strata_wizard_end_job (wizard, summary, title, description, NULL);
  }
}

static void
strata_overlays_wizard_start (StrataWizard *wizard)
{
  StrataOverlaysWizard *self = STRATA_OVERLAYS_WIZARD (wizard);
  g_autoptr(GTask) task = NULL;
  g_autoptr(GPtrArray) writes = g_ptr_array_new ();
  g_autofree char *base_name = g_path_get_basename (self->base);
  g_autofree char *title = NULL;
  const char *reads[] = { self->base, NULL };
  CreateData *data;
  GCancellable *cancellable;

  data = g_new0 (CreateData, 1);
  data->backing = backing_string (self);
  data->backing_format = g_strdup (self->base_format);
  data->paths = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < self->names->len; i++)
    g_ptr_array_add (data->paths,
                     g_build_filename (self->folder, g_ptr_array_index (self->names, i), NULL));
  title = g_strdup_printf (_("Create overlays on %s"), base_name);
  data->job = strata_job_new (title);

  for (guint i = 0; i < data->paths->len; i++)
    g_ptr_array_add (writes, g_ptr_array_index (data->paths, i));
  g_ptr_array_add (writes, NULL);

  /* Protection first: no overlay exists yet whose base could still change. */
  if (!self->base_protected && gtk_switch_get_active (self->protect_switch))
    {
      g_autoptr(GError) error = NULL;

      if (!strata_protect (self->base, &error))
        {
          strata_wizard_set_problem (wizard, error->message, FALSE);
          create_data_free (data);
          return;
        }
      self->base_protected = TRUE;
    }

  cancellable = strata_wizard_begin_job (wizard, data->job, reads,
                                         (const char * const *) writes->pdata);
  if (cancellable == NULL)
    {
      create_data_free (data);
      return;
    }

  task = g_task_new (NULL, cancellable, create_done_cb, g_object_ref (self));
  g_task_set_task_data (task, data, (GDestroyNotify) create_data_free);
  g_task_run_in_thread (task, create_thread);
}

static void
folder_chosen_cb (GtkWidget  *widget,
                  const char *path)
{
  set_folder (STRATA_OVERLAYS_WIZARD (widget), path);
}

static void
choose_folder_action (GtkWidget  *widget,
                      const char *action_name,
                      GVariant   *parameter)
{
  StrataOverlaysWizard *self = STRATA_OVERLAYS_WIZARD (widget);

  strata_wizard_choose_file (widget, _("Choose a Folder for the Overlays"), TRUE,
                             self->folder, folder_chosen_cb);
}

static void
changed_cb (StrataOverlaysWizard *self)
{
  validate (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_COUNT]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PATTERN]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ABSOLUTE]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PROTECT_BASE]);
}

static void
strata_overlays_wizard_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), STRATA_TYPE_OVERLAYS_WIZARD);

  G_OBJECT_CLASS (strata_overlays_wizard_parent_class)->dispose (object);
}

static void
strata_overlays_wizard_finalize (GObject *object)
{
  StrataOverlaysWizard *self = STRATA_OVERLAYS_WIZARD (object);

  g_clear_pointer (&self->base, g_free);
  g_clear_pointer (&self->base_format, g_free);
  g_clear_pointer (&self->base_error, g_free);
  g_clear_pointer (&self->folder, g_free);
  g_clear_pointer (&self->names, g_ptr_array_unref);
  g_clear_pointer (&self->created, g_ptr_array_unref);

  G_OBJECT_CLASS (strata_overlays_wizard_parent_class)->finalize (object);
}

static void
strata_overlays_wizard_get_property (GObject    *object,
                                     guint       prop_id,
                                     GValue     *value,
                                     GParamSpec *pspec)
{
  StrataOverlaysWizard *self = STRATA_OVERLAYS_WIZARD (object);

  switch (prop_id)
    {
    case PROP_BASE:
      g_value_set_string (value, self->base);
      break;
    case PROP_COUNT:
      g_value_set_uint (value, (guint) gtk_spin_button_get_value_as_int (self->count_spin));
      break;
    case PROP_PATTERN:
      g_value_set_string (value, gtk_editable_get_text (GTK_EDITABLE (self->pattern_row)));
      break;
    case PROP_FOLDER:
      g_value_set_string (value, self->folder);
      break;
    case PROP_ABSOLUTE:
      g_value_set_boolean (value, adw_combo_row_get_selected (self->path_row) == 1);
      break;
    case PROP_PROTECT_BASE:
      g_value_set_boolean (value, gtk_switch_get_active (self->protect_switch));
      break;
    case PROP_PREVIEW:
      g_value_set_string (value, gtk_label_get_text (self->preview_label));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
strata_overlays_wizard_set_property (GObject      *object,
                                     guint         prop_id,
                                     const GValue *value,
                                     GParamSpec   *pspec)
{
  StrataOverlaysWizard *self = STRATA_OVERLAYS_WIZARD (object);

  switch (prop_id)
    {
    case PROP_BASE:
      if (g_value_get_string (value) != NULL)
        set_base (self, g_value_get_string (value));
      break;
    case PROP_COUNT:
      gtk_spin_button_set_value (self->count_spin, g_value_get_uint (value));
      break;
    case PROP_PATTERN:
      gtk_editable_set_text (GTK_EDITABLE (self->pattern_row),
                             g_value_get_string (value) ? g_value_get_string (value) : "");
      break;
    case PROP_FOLDER:
      set_folder (self, g_value_get_string (value));
      break;
    case PROP_ABSOLUTE:
      adw_combo_row_set_selected (self->path_row, g_value_get_boolean (value) ? 1 : 0);
      break;
    case PROP_PROTECT_BASE:
      gtk_switch_set_active (self->protect_switch, g_value_get_boolean (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
strata_overlays_wizard_class_init (StrataOverlaysWizardClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  StrataWizardClass *wizard_class = STRATA_WIZARD_CLASS (klass);

  object_class->dispose = strata_overlays_wizard_dispose;
  object_class->finalize = strata_overlays_wizard_finalize;
  object_class->get_property = strata_overlays_wizard_get_property;
  object_class->set_property = strata_overlays_wizard_set_property;
  wizard_class->start = strata_overlays_wizard_start;

  properties[PROP_BASE] =
    g_param_spec_string ("base", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_COUNT] =
    g_param_spec_uint ("count", NULL, NULL, 1, 99, 3,
                       G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_PATTERN] =
    g_param_spec_string ("pattern", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_FOLDER] =
    g_param_spec_string ("folder", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_ABSOLUTE] =
    g_param_spec_boolean ("absolute", NULL, NULL, FALSE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_PROTECT_BASE] =
    g_param_spec_boolean ("protect-base", NULL, NULL, TRUE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_PREVIEW] =
    g_param_spec_string ("preview", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  (void) strata_wizards_get_resource ();
  g_type_ensure (STRATA_TYPE_USAGE_BARS);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/gnome/Strata/wizards/"
                                               "strata-overlays-wizard.ui");
  gtk_widget_class_bind_template_child (widget_class, StrataOverlaysWizard, back_button);
  gtk_widget_class_bind_template_child (widget_class, StrataOverlaysWizard, base_row);
  gtk_widget_class_bind_template_child (widget_class, StrataOverlaysWizard, count_spin);
  gtk_widget_class_bind_template_child (widget_class, StrataOverlaysWizard, folder_row);
  gtk_widget_class_bind_template_child (widget_class, StrataOverlaysWizard, job_list);
  gtk_widget_class_bind_template_child (widget_class, StrataOverlaysWizard, path_row);
  gtk_widget_class_bind_template_child (widget_class, StrataOverlaysWizard, pattern_row);
  gtk_widget_class_bind_template_child (widget_class, StrataOverlaysWizard, preview_label);
  gtk_widget_class_bind_template_child (widget_class, StrataOverlaysWizard, problem_label);
  gtk_widget_class_bind_template_child (widget_class, StrataOverlaysWizard, protect_row);
  gtk_widget_class_bind_template_child (widget_class, StrataOverlaysWizard, protect_switch);
  gtk_widget_class_bind_template_child (widget_class, StrataOverlaysWizard, result_page);
  gtk_widget_class_bind_template_child (widget_class, StrataOverlaysWizard, stack);
  gtk_widget_class_bind_template_child (widget_class, StrataOverlaysWizard, start_button);
  gtk_widget_class_bind_template_child (widget_class, StrataOverlaysWizard, usage_bars);

  gtk_widget_class_install_action (widget_class, "wizard.choose-folder", NULL,
                                   choose_folder_action);
  gtk_widget_class_install_property_action (widget_class, "wizard.count", "count");
  gtk_widget_class_install_property_action (widget_class, "wizard.pattern", "pattern");
  gtk_widget_class_install_property_action (widget_class, "wizard.folder", "folder");
  gtk_widget_class_install_property_action (widget_class, "wizard.absolute", "absolute");
  gtk_widget_class_install_property_action (widget_class, "wizard.protect-base",
                                            "protect-base");
}

static void
strata_overlays_wizard_init (StrataOverlaysWizard *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));

  strata_wizard_set_chrome (STRATA_WIZARD (self), self->stack, self->back_button,
                            self->start_button, self->problem_label, self->job_list,
                            self->result_page);

  g_signal_connect_swapped (self->pattern_row, "changed", G_CALLBACK (changed_cb), self);
  g_signal_connect_swapped (self->count_spin, "value-changed", G_CALLBACK (changed_cb), self);
  g_signal_connect_swapped (self->path_row, "notify::selected", G_CALLBACK (changed_cb), self);
  g_signal_connect_swapped (self->protect_switch, "notify::active", G_CALLBACK (changed_cb),
                            self);
}

GtkWindow *
strata_overlays_wizard_new (GtkWindow        *parent,
                            StrataLibrary    *library,
                            StrataJobManager *jobs,
                            const char       *base)
{
  g_return_val_if_fail (STRATA_IS_JOB_MANAGER (jobs), NULL);
  g_return_val_if_fail (base != NULL, NULL);

  return g_object_new (STRATA_TYPE_OVERLAYS_WIZARD,
                       "transient-for", parent,
                       "library", library,
                       "jobs", jobs,
                       "base", base,
                       NULL);
}
