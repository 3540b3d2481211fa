/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <glib/gi18n.h>

#include "strata-job-row.h"
#include "strata-jobs-resources.h"
#include "strata-vm.h"

struct _StrataJobRow
{
  GtkListBoxRow     parent_instance;

  StrataJobManager *manager;
  StrataJob        *job;

  GtkButton        *cancel_button;
  GtkProgressBar   *progress_bar;
  GtkLabel         *status_label;
  GtkLabel         *title_label;
};

G_DEFINE_FINAL_TYPE (StrataJobRow, strata_job_row, GTK_TYPE_LIST_BOX_ROW)

static char *
format_eta (double seconds)
{
  if (seconds < 0)
    return NULL;
  if (seconds < 60)
    return g_strdup (_("less than a minute left"));
  if (seconds < 3600)
    {
      guint minutes = (guint) (seconds / 60 + 0.5);

      return g_strdup_printf (ngettext ("about %u minute left", "about %u minutes left", minutes),
                              minutes);
    }
  else
    {
      guint hours = (guint) (seconds / 3600 + 0.5);

      return g_strdup_printf (ngettext ("about %u hour left", "about %u hours left", hours),
                              hours);
    }
}

char *
strata_job_format_status (StrataJob *job)
{
  g_autofree char *phase = strata_job_dup_phase (job);
  g_autofree char *eta = format_eta (strata_job_get_eta (job));
  double rate = strata_job_get_rate (job);
  GString *out = g_string_new (phase);

  if (rate > 0)
    {
      g_autofree char *size = g_format_size ((guint64) rate);

      if (out->len > 0)
        g_string_append (out, " · ");
      /* Translators: a transfer rate, e.g. "120 MB/s". */
      g_string_append_printf (out, _("%s/s"), size);
    }
  if (eta != NULL)
    {
      if (out->len > 0)
        g_string_append (out, " · ");
      g_string_append (out, eta);
    }
  if (out->len == 0)
    g_string_append (out, _("Starting…"));

  return g_string_free (out, FALSE);
}

static void
update (StrataJobRow *self)
{
  StrataJobState state = strata_job_manager_get_state (self->manager, self->job);
  const char *title = strata_job_get_title (self->job);
  g_autofree char *status = NULL;
  g_autofree char *a11y = NULL;

  if (state == STRATA_JOB_STATE_RUNNING)
    status = strata_job_format_status (self->job);
  else
    status = g_strdup (strata_job_manager_get_message (self->manager, self->job));

  gtk_progress_bar_set_fraction (self->progress_bar, strata_job_get_fraction (self->job));
  gtk_label_set_text (self->status_label, status);
  gtk_widget_set_visible (GTK_WIDGET (self->cancel_button), state == STRATA_JOB_STATE_RUNNING);
  /* A running virtual machine has no progress to show. */
  gtk_widget_set_visible (GTK_WIDGET (self->progress_bar),
                          (state == STRATA_JOB_STATE_RUNNING && !strata_vm_owns_job (self->job))
                          || state == STRATA_JOB_STATE_SUCCEEDED);
  if (state == STRATA_JOB_STATE_FAILED)
    gtk_widget_add_css_class (GTK_WIDGET (self->status_label), "error");

  a11y = g_strdup_printf ("%s: %s", title, status);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self), GTK_ACCESSIBLE_PROPERTY_LABEL, a11y, -1);
}

static void
job_notify_cb (StrataJobRow *self)
{
  update (self);
}

static void
job_finished_cb (StrataJobRow *self,
                 StrataJob    *job)
{
  /* A row that outlives its job's end (the Run wizard's) shows the outcome too. */
  if (job == self->job)
    update (self);
}

static void
cancel_clicked_cb (StrataJobRow *self)
{
  strata_job_manager_cancel (self->manager, self->job);
}

static void
strata_job_row_dispose (GObject *object)
{
  StrataJobRow *self = STRATA_JOB_ROW (object);

  if (self->job != NULL)
    g_signal_handlers_disconnect_by_data (self->job, self);
  if (self->manager != NULL)
    g_signal_handlers_disconnect_by_data (self->manager, self);
  g_clear_object (&self->job);
  g_clear_object (&self->manager);

  gtk_widget_dispose_template (GTK_WIDGET (self), STRATA_TYPE_JOB_ROW);

  G_OBJECT_CLASS (strata_job_row_parent_class)->dispose (object);
}

static void
strata_job_row_class_init (StrataJobRowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = strata_job_row_dispose;

  /* Referencing the resource keeps its object file (and its registration) in the link
   * of a static library. */
  (void) strata_jobs_get_resource ();

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/gnome/Strata/jobs/strata-job-row.ui");
  gtk_widget_class_bind_template_child (widget_class, StrataJobRow, cancel_button);
  gtk_widget_class_bind_template_child (widget_class, StrataJobRow, progress_bar);
  gtk_widget_class_bind_template_child (widget_class, StrataJobRow, status_label);
  gtk_widget_class_bind_template_child (widget_class, StrataJobRow, title_label);
  gtk_widget_class_bind_template_callback (widget_class, cancel_clicked_cb);
}

static void
strata_job_row_init (StrataJobRow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

GtkWidget *
strata_job_row_new (StrataJobManager *manager,
                    StrataJob        *job)
{
  StrataJobRow *self;
  g_autofree char *cancel_label = NULL;

  g_return_val_if_fail (STRATA_IS_JOB_MANAGER (manager), NULL);
  g_return_val_if_fail (STRATA_IS_JOB (job), NULL);

  self = g_object_new (STRATA_TYPE_JOB_ROW, NULL);
  self->manager = g_object_ref (manager);
  self->job = g_object_ref (job);

  gtk_label_set_text (self->title_label, strata_job_get_title (job));
  if (strata_vm_owns_job (job))
    {
      /* Translators: the accessible name of a virtual machine's Stop button; %s is the
       * job's title. */
      cancel_label = g_strdup_printf (_("Stop “%s”"), strata_job_get_title (job));
      gtk_widget_set_tooltip_text (GTK_WIDGET (self->cancel_button), _("Stop"));
    }
  else
    /* Translators: the accessible name of a job's Cancel button; %s is the job's title. */
    cancel_label = g_strdup_printf (_("Cancel “%s”"), strata_job_get_title (job));
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->cancel_button),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, cancel_label, -1);

  g_signal_connect_swapped (job, "notify::fraction", G_CALLBACK (job_notify_cb), self);
  g_signal_connect_swapped (job, "notify::phase", G_CALLBACK (job_notify_cb), self);
  g_signal_connect_swapped (job, "notify::eta", G_CALLBACK (job_notify_cb), self);
  g_signal_connect_object (manager, "job-finished", G_CALLBACK (job_finished_cb), self,
                           G_CONNECT_SWAPPED);
  update (self);

  return GTK_WIDGET (self);
}
