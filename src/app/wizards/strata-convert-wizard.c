/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <glib/gi18n.h>

#include "strata-convert.h"
#include "strata-convert-wizard.h"
#include "strata-image.h"
#include "strata-protect.h"
#include "strata-usage-bars.h"
#include "strata-vmdk-write.h"
#include "strata-wizard.h"
#include "strata-wizard-util.h"
#include "strata-wizards.h"
#include "strata-wizards-resources.h"

/* What the setup page knows about the source, found in a worker thread. */
typedef struct
{
  char     *format;
  guint64   virtual_size;
  guint64   on_disk;
  gboolean  held;
  char    **chain;  /* every file the conversion reads */
} SourceInfo;

static const guint cluster_sizes[] = {
  4096, 16384, 32768, 65536, 131072, 262144, 524288, 1048576, 2097152,
};
static const char * const compressions[] = { "none", "zlib", "zstd" };
static const char * const formats[] = { "qcow2", "vmdk" };

struct _StrataConvertWizard
{
  StrataWizard     parent_instance;

  AdwStatusPage   *result_page;
  AdwActionRow    *folder_row;
  AdwComboRow     *format_row;
  AdwComboRow     *cluster_row;
  AdwComboRow     *compression_row;
  AdwEntryRow     *name_row;
  AdwPreferencesGroup *next_group;
  AdwActionRow    *overlays_row;
  AdwStatusPage   *progress_page;
  GtkLabel        *problem_label;
  GtkButton       *back_button;
  GtkButton       *protect_button;
  AdwActionRow    *protect_row;
  AdwActionRow    *source_row;
  GtkStack        *stack;
  GtkButton       *start_button;
  GtkListBox      *job_list;
  StrataUsageBars *usage_bars;

  char            *source;
  char            *target_folder;
  SourceInfo      *info;
  char            *info_error;
  guint            inspect_serial;
  char            *target;  /* the path being written, or written */
};

enum
{
  PROP_0,
  PROP_SOURCE,
  PROP_TARGET_NAME,
  PROP_TARGET_FOLDER,
  PROP_COMPRESSION,
  PROP_CLUSTER_SIZE,
  PROP_TARGET_FORMAT,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (StrataConvertWizard, strata_convert_wizard, STRATA_TYPE_WIZARD)

static void
source_info_free (SourceInfo *info)
{
  g_free (info->format);
  g_strfreev (info->chain);
  g_free (info);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SourceInfo, source_info_free)

static void
inspect_thread (GTask        *task,
                gpointer      source_object,
                gpointer      task_data,
                GCancellable *cancellable)
{
  const char *path = task_data;
  g_autoptr(StrataImage) image = NULL;
  g_autoptr(StrataImageInfo) image_info = NULL;
  g_autoptr(SourceInfo) info = g_new0 (SourceInfo, 1);
  g_autoptr(GPtrArray) files = NULL;
  g_autoptr(GPtrArray) chain = g_ptr_array_new ();
  GError *error = NULL;

  /* Force-share: the setup page reads the header even while a VM runs, and says so. */
  image = strata_image_open (path, NULL, STRATA_OPEN_READ_ONLY | STRATA_OPEN_FORCE_SHARE,
                             &error);
  if (image == NULL || (image_info = strata_image_get_info (image, &error)) == NULL)
    {
      g_task_return_error (task, error);
      return;
    }

  info->format = g_strdup (image_info->format);
  info->virtual_size = image_info->virtual_size;
  info->on_disk = image_info->actual_size;
  info->held = strata_wizard_held_by_other (path, FALSE);
  files = strata_image_list_chain_files (image);
  for (guint i = 0; i < files->len; i++)
    g_ptr_array_add (chain, g_strdup (strata_file_get_path (g_ptr_array_index (files, i))));
  g_ptr_array_add (chain, NULL);
  info->chain = (char **) g_ptr_array_free (g_steal_pointer (&chain), FALSE);

  g_task_return_pointer (task, g_steal_pointer (&info), (GDestroyNotify) source_info_free);
}

static char *
target_path (StrataConvertWizard *self)
{
  const char *name = gtk_editable_get_text (GTK_EDITABLE (self->name_row));

  return g_build_filename (self->target_folder, name, NULL);
}

static gboolean
to_vmdk (StrataConvertWizard *self)
{
  return adw_combo_row_get_selected (self->format_row) == 1;
}

static gboolean
compressing (StrataConvertWizard *self)
{
  return adw_combo_row_get_selected (self->compression_row) != 0;
}

static void
validate (StrataConvertWizard *self)
{
  StrataWizard *wizard = STRATA_WIZARD (self);
  const char *name = gtk_editable_get_text (GTK_EDITABLE (self->name_row));
  g_autofree char *problem = NULL;
  g_autofree char *source_name = NULL;
  guint64 free_space;

  if (self->source == NULL)
    return;
  source_name = g_path_get_basename (self->source);

  if (self->info_error != NULL)
    {
      strata_wizard_set_problem (wizard, self->info_error, FALSE);
      return;
    }
  if (self->info == NULL)
    {
      g_autofree char *reading = g_strdup_printf (_("Reading %s…"), source_name);

      strata_wizard_set_problem (wizard, reading, FALSE);
      return;
    }
  if (self->info->held)
    {
      g_autofree char *held =
        g_strdup_printf (_("%s is in use by a running virtual machine, which may change it "
                           "while it is read. Shut the machine down first."), source_name);

      strata_wizard_set_problem (wizard, held, FALSE);
      return;
    }
  if (strata_job_manager_is_writing (strata_wizard_get_jobs (wizard), self->source))
    {
      g_autofree char *busy =
        g_strdup_printf (_("%s is being written by a running job; wait for it to finish."),
                         source_name);

      strata_wizard_set_problem (wizard, busy, FALSE);
      return;
    }

  problem = strata_wizard_check_new_name (self->target_folder, name);
  if (problem != NULL)
    {
      strata_wizard_set_problem (wizard, problem, FALSE);
      return;
    }
  if (to_vmdk (self) && adw_combo_row_get_selected (self->compression_row) == 2)
    {
      strata_wizard_set_problem (wizard, _("VMDK compresses with zlib only (streamOptimized); "
                                           "choose zlib or no compression."), FALSE);
      return;
    }
  if (to_vmdk (self) && self->info->virtual_size > STRATA_VMDK_MAX_SIZE)
    {
      strata_wizard_set_problem (wizard, _("The image is larger than a VMDK file can hold "
                                           "(2 TiB)."), FALSE);
      return;
    }

  /* Uncompressed, the new image needs about as much room as the data it copies; compressed,
   * usually much less, so only a warning. */
  free_space = strata_wizard_free_space (self->target_folder);
  if (free_space != G_MAXUINT64 && free_space < self->info->on_disk)
    {
      g_autofree char *free_text = g_format_size (free_space);
      g_autofree char *need_text = g_format_size (self->info->on_disk);
      g_autofree char *message = NULL;

      if (compressing (self))
        {
          message = g_strdup_printf (_("Only %s is free in %s; compressed, the new image will "
                                       "probably fit, but it may need up to %s."),
                                     free_text, self->target_folder, need_text);
          strata_wizard_set_problem (wizard, message, TRUE);
        }
      else
        {
          message = g_strdup_printf (_("Only %s is free in %s; the new image needs up to %s. "
                                       "Choose another folder or turn on compression."),
                                     free_text, self->target_folder, need_text);
          strata_wizard_set_problem (wizard, message, FALSE);
        }
      return;
    }

  strata_wizard_set_problem (wizard, NULL, FALSE);
}

static void
update_source_row (StrataConvertWizard *self)
{
  g_autofree char *name = g_path_get_basename (self->source);
  g_autofree char *subtitle = NULL;

  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->source_row), name);
  if (self->info_error != NULL)
    subtitle = g_strdup (self->info_error);
  else if (self->info == NULL)
    subtitle = g_strdup (_("Reading…"));
  else
    {
      g_autofree char *virtual_text = g_format_size (self->info->virtual_size);
      g_autofree char *disk_text = g_format_size (self->info->on_disk);
      g_autofree char *format = g_ascii_strup (self->info->format, -1);

      /* Translators: "VMDK, 10.7 GB virtual, 1.1 GB on disk". */
      subtitle = g_strdup_printf (_("%s, %s virtual, %s on disk"), format, virtual_text,
                                  disk_text);
    }
  adw_action_row_set_subtitle (self->source_row, subtitle);
}

static void
inspect_done_cb (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(StrataConvertWizard) self = user_data;
  g_autoptr(GError) error = NULL;
  SourceInfo *info;

  info = g_task_propagate_pointer (G_TASK (result), &error);
  /* A source chosen since then makes this answer stale. */
  if (g_task_get_source_tag (G_TASK (result)) != GUINT_TO_POINTER (self->inspect_serial))
    {
      g_clear_pointer (&info, source_info_free);
      return;
    }

  g_clear_pointer (&self->info, source_info_free);
  g_clear_pointer (&self->info_error, g_free);
  self->info = info;
  if (error != NULL)
    self->info_error = g_strdup (error->message);

  update_source_row (self);
  validate (self);
}

static void
set_source (StrataConvertWizard *self,
            const char          *source)
{
  g_autoptr(GTask) task = NULL;
  g_autofree char *base = NULL;
  g_autofree char *stem = NULL;
  g_autofree char *name = NULL;
  char *dot;

  if (g_strcmp0 (self->source, source) == 0)
    return;

  g_free (self->source);
  self->source = g_canonicalize_filename (source, NULL);
  g_clear_pointer (&self->info, source_info_free);
  g_clear_pointer (&self->info_error, g_free);

  /* The new image is named after the source: "vm.vmdk" becomes "vm.qcow2" (and a qcow2
   * source "vm.qcow2" becomes "vm-converted.qcow2"). */
  base = g_path_get_basename (self->source);
  stem = g_strdup (base);
  dot = strrchr (stem, '.');
  if (dot != NULL && dot != stem)
    *dot = '\0';
  name = g_strdup_printf ("%s.qcow2", stem);
  if (g_strcmp0 (name, base) == 0)
    {
      g_free (name);
      name = g_strdup_printf ("%s-converted.qcow2", stem);
    }
  gtk_editable_set_text (GTK_EDITABLE (self->name_row), name);
  if (self->target_folder == NULL)
    {
      self->target_folder = g_path_get_dirname (self->source);
      adw_action_row_set_subtitle (self->folder_row, self->target_folder);
    }

  update_source_row (self);
  validate (self);

  self->inspect_serial++;
  task = g_task_new (NULL, NULL, inspect_done_cb, g_object_ref (self));
  g_task_set_source_tag (task, GUINT_TO_POINTER (self->inspect_serial));
  g_task_set_task_data (task, g_strdup (self->source), g_free);
  g_task_run_in_thread (task, inspect_thread);

  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SOURCE]);
}

static void
set_target_folder (StrataConvertWizard *self,
                   const char          *folder)
{
  if (folder == NULL || g_strcmp0 (self->target_folder, folder) == 0)
    return;

  g_free (self->target_folder);
  self->target_folder = g_canonicalize_filename (folder, NULL);
  adw_action_row_set_subtitle (self->folder_row, self->target_folder);
  validate (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TARGET_FOLDER]);
}

static void
convert_done_cb (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(StrataConvertWizard) self = user_data;
  StrataWizard *wizard = STRATA_WIZARD (self);
  StrataConvertResult out = { 0 };
  g_autoptr(GError) error = NULL;
  g_autofree char *name = g_path_get_basename (self->target);
  g_autofree char *source_name = g_path_get_basename (self->source);

  if (!strata_convert_finish (result, &out, &error))
    {
      g_autofree char *description = NULL;

      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          /* Say what is really on disk, not what should be. */
          if (strata_wizard_anything_left (self->target))
            description = g_strdup_printf (_("The conversion stopped, but a file named %s or a "
                                             "temporary file of it is still in %s."),
                                           name, self->target_folder);
          else
            description = g_strdup_printf (_("Nothing was written: there is no %s in %s, and "
                                             "%s is unchanged."),
                                           name, self->target_folder, source_name);
        }
      gtk_widget_set_visible (GTK_WIDGET (self->usage_bars), FALSE);
      gtk_widget_set_visible (GTK_WIDGET (self->next_group), FALSE);
      strata_wizard_end_job (wizard, NULL, NULL, description, error);
      return;
    }
  else
    {
      guint64 target_usage = strata_wizard_disk_usage (self->target);
      g_autofree char *saving = strata_wizard_format_saving (out.source_allocated, target_usage);
      g_autofree char *title = g_strdup_printf (_("%s Is Ready"), name);
      g_autofree char *summary = g_strdup_printf (_("Converted %s to %s: %s"), source_name,
                                                  name, saving);

      strata_usage_bars_clear (self->usage_bars);
      strata_usage_bars_add (self->usage_bars, source_name, _("source"), out.source_allocated,
                             FALSE);
      strata_usage_bars_add (self->usage_bars, name, _("new image"), target_usage, FALSE);
      gtk_widget_set_visible (GTK_WIDGET (self->usage_bars), TRUE);
      gtk_widget_set_visible (GTK_WIDGET (self->next_group), TRUE);
      gtk_widget_set_visible (GTK_WIDGET (self->overlays_row),
                              strata_wizard_is_available ("overlays"));

      strata_wizard_rescan (strata_wizard_get_library (wizard), self->target);
      strata_wizard_set_result_path (wizard, self->target);
      strata_wizard_end_job (wizard, summary, title, saving, NULL);
    }
}

static void
strata_convert_wizard_start (StrataWizard *wizard)
{
  StrataConvertWizard *self = STRATA_CONVERT_WIZARD (wizard);
  g_autoptr(StrataJob) job = NULL;
  g_autofree char *source_name = g_path_get_basename (self->source);
  g_autofree char *title = NULL;
  g_autofree char *target = target_path (self);
  g_autofree char *target_name = g_path_get_basename (target);
  const char *writes[] = { target, NULL };
  StrataConvertOptions opts;
  GCancellable *cancellable;
  guint compression = adw_combo_row_get_selected (self->compression_row);

  strata_convert_options_init (&opts);
  opts.target_format = formats[adw_combo_row_get_selected (self->format_row)];
  opts.compress = compression != 0;
  /* A compressed VMDK is a streamOptimized one. */
  if (to_vmdk (self) && opts.compress)
    opts.vmdk.subformat = STRATA_VMDK_STREAM_OPTIMIZED;
  opts.qcow2.compression_type = compression == 2 ? STRATA_COMPRESSION_ZSTD
                                                 : STRATA_COMPRESSION_ZLIB;
  opts.qcow2.cluster_size = cluster_sizes[adw_combo_row_get_selected (self->cluster_row)];
  /* The compressors use every core; at a lower priority they leave the main loop its own. */
  opts.background = TRUE;

  title = g_strdup_printf (_("Convert %s to %s"), source_name, target_name);
  job = strata_job_new (title);
  cancellable = strata_wizard_begin_job (wizard, job,
                                         (const char * const *) self->info->chain, writes);
  if (cancellable == NULL)
    return;

  g_free (self->target);
  self->target = g_steal_pointer (&target);
  strata_convert_async (self->source, self->target, &opts, job, cancellable,
                        convert_done_cb, g_object_ref (self));
}

static void
protect_target_action (GtkWidget  *widget,
                       const char *action_name,
                       GVariant   *parameter)
{
  StrataConvertWizard *self = STRATA_CONVERT_WIZARD (widget);
  g_autoptr(GError) error = NULL;

  if (self->target == NULL)
    return;

  if (!strata_protect (self->target, &error))
    {
      adw_action_row_set_subtitle (self->protect_row, error->message);
      return;
    }

  adw_action_row_set_subtitle (self->protect_row,
                               _("Read-only now: overlays can share it safely"));
  gtk_button_set_label (self->protect_button, _("Protected"));
  gtk_widget_action_set_enabled (widget, "wizard.protect-target", FALSE);
  strata_wizard_rescan (strata_wizard_get_library (STRATA_WIZARD (self)), self->target);
}

static void
create_overlays_action (GtkWidget  *widget,
                        const char *action_name,
                        GVariant   *parameter)
{
  StrataConvertWizard *self = STRATA_CONVERT_WIZARD (widget);

  if (self->target != NULL)
    strata_wizard_open_next (STRATA_WIZARD (self), "overlays", self->target);
}

static void
source_chosen_cb (GtkWidget  *widget,
                  const char *path)
{
  set_source (STRATA_CONVERT_WIZARD (widget), path);
}

static void
folder_chosen_cb (GtkWidget  *widget,
                  const char *path)
{
  set_target_folder (STRATA_CONVERT_WIZARD (widget), path);
}

static void
choose_source_action (GtkWidget  *widget,
                      const char *action_name,
                      GVariant   *parameter)
{
  StrataConvertWizard *self = STRATA_CONVERT_WIZARD (widget);

  strata_wizard_choose_file (widget, _("Choose an Image to Convert"), FALSE, self->source,
                             source_chosen_cb);
}

static void
choose_folder_action (GtkWidget  *widget,
                      const char *action_name,
                      GVariant   *parameter)
{
  StrataConvertWizard *self = STRATA_CONVERT_WIZARD (widget);

  strata_wizard_choose_file (widget, _("Choose a Folder for the New Image"), TRUE,
                             self->target_folder, folder_chosen_cb);
}

static void
name_changed_cb (StrataConvertWizard *self)
{
  validate (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TARGET_NAME]);
}

static void
compression_changed_cb (StrataConvertWizard *self)
{
  static const char *subtitles[] = {
    N_("Fastest to write and read; the largest file"),
    N_("Readable by every QEMU version"),
    N_("Faster than zlib, a similar size; needs QEMU 5.1 or newer"),
  };
  guint selected = adw_combo_row_get_selected (self->compression_row);

  adw_action_row_set_subtitle (ADW_ACTION_ROW (self->compression_row),
                               _(subtitles[MIN (selected, G_N_ELEMENTS (subtitles) - 1)]));
  validate (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_COMPRESSION]);
}

static void
format_changed_cb (StrataConvertWizard *self)
{
  const char *name = gtk_editable_get_text (GTK_EDITABLE (self->name_row));
  const char *from = to_vmdk (self) ? ".qcow2" : ".vmdk";
  const char *to = to_vmdk (self) ? ".vmdk" : ".qcow2";

  /* The name follows the format while it ends in the other format's suffix. */
  if (g_str_has_suffix (name, from))
    {
      g_autofree char *stem = g_strndup (name, strlen (name) - strlen (from));
      g_autofree char *renamed = g_strconcat (stem, to, NULL);

      gtk_editable_set_text (GTK_EDITABLE (self->name_row), renamed);
    }
  /* VMDK grains are always 64 KiB. */
  gtk_widget_set_sensitive (GTK_WIDGET (self->cluster_row), !to_vmdk (self));
  validate (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TARGET_FORMAT]);
}

static void
cluster_changed_cb (StrataConvertWizard *self)
{
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CLUSTER_SIZE]);
}

static void
strata_convert_wizard_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), STRATA_TYPE_CONVERT_WIZARD);

  G_OBJECT_CLASS (strata_convert_wizard_parent_class)->dispose (object);
}

static void
strata_convert_wizard_finalize (GObject *object)
{
  StrataConvertWizard *self = STRATA_CONVERT_WIZARD (object);

  g_clear_pointer (&self->source, g_free);
  g_clear_pointer (&self->target_folder, g_free);
  g_clear_pointer (&self->target, g_free);
  g_clear_pointer (&self->info, source_info_free);
  g_clear_pointer (&self->info_error, g_free);

  G_OBJECT_CLASS (strata_convert_wizard_parent_class)->finalize (object);
}

static void
strata_convert_wizard_get_property (GObject    *object,
                                    guint       prop_id,
                                    GValue     *value,
                                    GParamSpec *pspec)
{
  StrataConvertWizard *self = STRATA_CONVERT_WIZARD (object);

  switch (prop_id)
    {
    case PROP_SOURCE:
      g_value_set_string (value, self->source);
      break;
    case PROP_TARGET_NAME:
      g_value_set_string (value, gtk_editable_get_text (GTK_EDITABLE (self->name_row)));
      break;
    case PROP_TARGET_FOLDER:
      g_value_set_string (value, self->target_folder);
      break;
    case PROP_COMPRESSION:
      g_value_set_string (value, compressions[adw_combo_row_get_selected (self->compression_row)]);
      break;
    case PROP_CLUSTER_SIZE:
      g_value_set_uint (value, cluster_sizes[adw_combo_row_get_selected (self->cluster_row)]);
      break;
    case PROP_TARGET_FORMAT:
      g_value_set_string (value, formats[adw_combo_row_get_selected (self->format_row)]);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
strata_convert_wizard_set_property (GObject      *object,
                                    guint         prop_id,
                                    const GValue *value,
                                    GParamSpec   *pspec)
{
  StrataConvertWizard *self = STRATA_CONVERT_WIZARD (object);

  switch (prop_id)
    {
    case PROP_SOURCE:
      if (g_value_get_string (value) != NULL)
        set_source (self, g_value_get_string (value));
      break;
    case PROP_TARGET_NAME:
      gtk_editable_set_text (GTK_EDITABLE (self->name_row),
                             g_value_get_string (value) ? g_value_get_string (value) : "");
      break;
    case PROP_TARGET_FOLDER:
      set_target_folder (self, g_value_get_string (value));
      break;
    case PROP_COMPRESSION:
      for (guint i = 0; i < G_N_ELEMENTS (compressions); i++)
        if (g_strcmp0 (compressions[i], g_value_get_string (value)) == 0)
          adw_combo_row_set_selected (self->compression_row, i);
      break;
    case PROP_CLUSTER_SIZE:
      for (guint i = 0; i < G_N_ELEMENTS (cluster_sizes); i++)
        if (cluster_sizes[i] == g_value_get_uint (value))
          adw_combo_row_set_selected (self->cluster_row, i);
      break;
    case PROP_TARGET_FORMAT:
      for (guint i = 0; i < G_N_ELEMENTS (formats); i++)
        if (g_strcmp0 (formats[i], g_value_get_string (value)) == 0)
          adw_combo_row_set_selected (self->format_row, i);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
strata_convert_wizard_class_init (StrataConvertWizardClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  StrataWizardClass *wizard_class = STRATA_WIZARD_CLASS (klass);

  object_class->dispose = strata_convert_wizard_dispose;
  object_class->finalize = strata_convert_wizard_finalize;
  object_class->get_property = strata_convert_wizard_get_property;
  object_class->set_property = strata_convert_wizard_set_property;
  wizard_class->start = strata_convert_wizard_start;

  properties[PROP_SOURCE] =
    g_param_spec_string ("source", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_TARGET_NAME] =
    g_param_spec_string ("target-name", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_TARGET_FOLDER] =
    g_param_spec_string ("target-folder", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_COMPRESSION] =
    g_param_spec_string ("compression", NULL, NULL, "zlib",
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_CLUSTER_SIZE] =
    g_param_spec_uint ("cluster-size", NULL, NULL, 4096, 2097152, 65536,
                       G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_TARGET_FORMAT] =
    g_param_spec_string ("target-format", NULL, NULL, "qcow2",
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  (void) strata_wizards_get_resource ();
  g_type_ensure (STRATA_TYPE_USAGE_BARS);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/gnome/Strata/wizards/"
                                               "strata-convert-wizard.ui");
  gtk_widget_class_bind_template_child (widget_class, StrataConvertWizard, back_button);
  gtk_widget_class_bind_template_child (widget_class, StrataConvertWizard, cluster_row);
  gtk_widget_class_bind_template_child (widget_class, StrataConvertWizard, compression_row);
  gtk_widget_class_bind_template_child (widget_class, StrataConvertWizard, folder_row);
  gtk_widget_class_bind_template_child (widget_class, StrataConvertWizard, format_row);
  gtk_widget_class_bind_template_child (widget_class, StrataConvertWizard, job_list);
  gtk_widget_class_bind_template_child (widget_class, StrataConvertWizard, name_row);
  gtk_widget_class_bind_template_child (widget_class, StrataConvertWizard, next_group);
  gtk_widget_class_bind_template_child (widget_class, StrataConvertWizard, overlays_row);
  gtk_widget_class_bind_template_child (widget_class, StrataConvertWizard, problem_label);
  gtk_widget_class_bind_template_child (widget_class, StrataConvertWizard, progress_page);
  gtk_widget_class_bind_template_child (widget_class, StrataConvertWizard, protect_button);
  gtk_widget_class_bind_template_child (widget_class, StrataConvertWizard, protect_row);
  gtk_widget_class_bind_template_child (widget_class, StrataConvertWizard, result_page);
  gtk_widget_class_bind_template_child (widget_class, StrataConvertWizard, source_row);
  gtk_widget_class_bind_template_child (widget_class, StrataConvertWizard, stack);
  gtk_widget_class_bind_template_child (widget_class, StrataConvertWizard, start_button);
  gtk_widget_class_bind_template_child (widget_class, StrataConvertWizard, usage_bars);

  gtk_widget_class_install_action (widget_class, "wizard.choose-source", NULL,
                                   choose_source_action);
  gtk_widget_class_install_action (widget_class, "wizard.choose-folder", NULL,
                                   choose_folder_action);
  gtk_widget_class_install_action (widget_class, "wizard.protect-target", NULL,
                                   protect_target_action);
  gtk_widget_class_install_action (widget_class, "wizard.create-overlays", NULL,
                                   create_overlays_action);
  gtk_widget_class_install_property_action (widget_class, "wizard.target-name", "target-name");
  gtk_widget_class_install_property_action (widget_class, "wizard.target-folder",
                                            "target-folder");
  gtk_widget_class_install_property_action (widget_class, "wizard.compression", "compression");
  gtk_widget_class_install_property_action (widget_class, "wizard.cluster-size",
                                            "cluster-size");
  gtk_widget_class_install_property_action (widget_class, "wizard.target-format",
                                            "target-format");
}

static void
strata_convert_wizard_init (StrataConvertWizard *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));

  strata_wizard_set_chrome (STRATA_WIZARD (self), self->stack, self->back_button,
                            self->start_button, self->problem_label, self->job_list,
                            self->result_page);

  adw_combo_row_set_selected (self->compression_row, 1);
  adw_combo_row_set_selected (self->cluster_row, 3);
  compression_changed_cb (self);

  g_signal_connect_swapped (self->name_row, "changed", G_CALLBACK (name_changed_cb), self);
  g_signal_connect_swapped (self->compression_row, "notify::selected",
                            G_CALLBACK (compression_changed_cb), self);
  g_signal_connect_swapped (self->cluster_row, "notify::selected",
                            G_CALLBACK (cluster_changed_cb), self);
  g_signal_connect_swapped (self->format_row, "notify::selected",
                            G_CALLBACK (format_changed_cb), self);
}

GtkWindow *
strata_convert_wizard_new (GtkWindow        *parent,
                           StrataLibrary    *library,
                           StrataJobManager *jobs,
                           const char       *source)
{
  g_return_val_if_fail (STRATA_IS_JOB_MANAGER (jobs), NULL);
  g_return_val_if_fail (source != NULL, NULL);

  return g_object_new (STRATA_TYPE_CONVERT_WIZARD,
                       "transient-for", parent,
                       "library", library,
                       "jobs", jobs,
                       "source", source,
                       NULL);
}
