/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <glib/gi18n.h>

#include "strata-job-row.h"
#include "strata-wizard.h"
#include "strata-wizards.h"

typedef struct
{
  StrataLibrary    *library;
  StrataJobManager *jobs;

  GtkStack         *stack;
  GtkButton        *back_button;
  GtkButton        *start_button;
  GtkLabel         *problem_label;
  GtkListBox       *job_list;
  AdwStatusPage    *result_page;
  char             *start_label;

  StrataJob        *job;
  char             *problem;
  char             *summary;
  char             *result_path;
  gboolean          ready;
  gboolean          succeeded;
} StrataWizardPrivate;

enum
{
  PROP_0,
  PROP_LIBRARY,
  PROP_JOBS,
  PROP_PAGE,
  PROP_READY,
  PROP_PROBLEM,
  PROP_SUMMARY,
  PROP_SUCCEEDED,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_TYPE_WITH_PRIVATE (StrataWizard, strata_wizard, ADW_TYPE_WINDOW)

static void
update_buttons (StrataWizard *self)
{
  StrataWizardPrivate *priv = strata_wizard_get_instance_private (self);
  const char *page = strata_wizard_get_page (self);

  if (priv->stack == NULL)
    return;

  if (g_strcmp0 (page, "result") == 0)
    {
      gtk_widget_set_visible (GTK_WIDGET (priv->back_button), FALSE);
      gtk_widget_set_visible (GTK_WIDGET (priv->start_button), TRUE);
      gtk_button_set_label (priv->start_button, _("_Done"));
      gtk_actionable_set_action_name (GTK_ACTIONABLE (priv->start_button), "window.close");
    }
  else if (g_strcmp0 (page, "progress") == 0)
    {
      gtk_widget_set_visible (GTK_WIDGET (priv->back_button), TRUE);
      gtk_widget_set_visible (GTK_WIDGET (priv->start_button), FALSE);
      gtk_button_set_label (priv->back_button, _("_Stop"));
    }
  else
    {
      gtk_widget_set_visible (GTK_WIDGET (priv->back_button), TRUE);
      gtk_widget_set_visible (GTK_WIDGET (priv->start_button), TRUE);
      gtk_button_set_label (priv->back_button, _("_Cancel"));
      gtk_button_set_label (priv->start_button, priv->start_label);
      gtk_actionable_set_action_name (GTK_ACTIONABLE (priv->start_button), "wizard.start");
    }
}

static void
show_page (StrataWizard *self,
           const char   *name)
{
  StrataWizardPrivate *priv = strata_wizard_get_instance_private (self);

  gtk_stack_set_visible_child_name (priv->stack, name);
  update_buttons (self);
  if (g_strcmp0 (name, "result") == 0)
    gtk_window_set_default_widget (GTK_WINDOW (self), GTK_WIDGET (priv->start_button));
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PAGE]);
}

static void
back_action (GtkWidget  *widget,
             const char *action_name,
             GVariant   *parameter)
{
  StrataWizard *self = STRATA_WIZARD (widget);
  StrataWizardPrivate *priv = strata_wizard_get_instance_private (self);

  if (priv->job != NULL)
    strata_job_manager_cancel (priv->jobs, priv->job);
  else
    gtk_window_close (GTK_WINDOW (self));
}

static void
cancel_job_action (GtkWidget  *widget,
                   const char *action_name,
                   GVariant   *parameter)
{
  StrataWizard *self = STRATA_WIZARD (widget);
  StrataWizardPrivate *priv = strata_wizard_get_instance_private (self);

  if (priv->job != NULL)
    strata_job_manager_cancel (priv->jobs, priv->job);
}

static void
start_action (GtkWidget  *widget,
              const char *action_name,
              GVariant   *parameter)
{
  StrataWizard *self = STRATA_WIZARD (widget);
  StrataWizardPrivate *priv = strata_wizard_get_instance_private (self);

  if (!priv->ready || priv->job != NULL
      || g_strcmp0 (strata_wizard_get_page (self), "setup") != 0)
    return;
  STRATA_WIZARD_GET_CLASS (self)->start (self);
}

/* Return on a focused combo row opens its list, as Space does. GTK 4.8 lets it through to
 * the window's default button instead, so Return on "Compression" would start the
 * operation with whatever was chosen. */
static gboolean
key_pressed_cb (GtkEventControllerKey *controller,
                guint                  keyval,
                guint                  keycode,
                GdkModifierType        state,
                StrataWizard          *self)
{
  GtkWidget *focus;

  if (keyval != GDK_KEY_Return && keyval != GDK_KEY_KP_Enter && keyval != GDK_KEY_ISO_Enter)
    return FALSE;
  if ((state & gtk_accelerator_get_default_mod_mask ()) != 0)
    return FALSE;
  focus = gtk_root_get_focus (GTK_ROOT (self));
  if (!ADW_IS_COMBO_ROW (focus))
    return FALSE;
  return gtk_widget_activate (focus);
}

static gboolean
strata_wizard_close_request (GtkWindow *window)
{
  StrataWizard *self = STRATA_WIZARD (window);
  StrataWizardPrivate *priv = strata_wizard_get_instance_private (self);

  /* A running job keeps its wizard: hidden, it comes back with the result. */
  if (priv->job != NULL)
    {
      gtk_widget_set_visible (GTK_WIDGET (self), FALSE);
      return TRUE;
    }

  return GTK_WINDOW_CLASS (strata_wizard_parent_class)->close_request (window);
}

static void
strata_wizard_dispose (GObject *object)
{
  StrataWizard *self = STRATA_WIZARD (object);
  StrataWizardPrivate *priv = strata_wizard_get_instance_private (self);

  g_clear_object (&priv->job);

  G_OBJECT_CLASS (strata_wizard_parent_class)->dispose (object);
}

static void
strata_wizard_finalize (GObject *object)
{
  StrataWizard *self = STRATA_WIZARD (object);
  StrataWizardPrivate *priv = strata_wizard_get_instance_private (self);

  g_clear_object (&priv->library);
  g_clear_object (&priv->jobs);
  g_clear_pointer (&priv->start_label, g_free);
  g_clear_pointer (&priv->problem, g_free);
  g_clear_pointer (&priv->summary, g_free);
  g_clear_pointer (&priv->result_path, g_free);

  G_OBJECT_CLASS (strata_wizard_parent_class)->finalize (object);
}

static void
strata_wizard_get_property (GObject    *object,
                            guint       prop_id,
                            GValue     *value,
                            GParamSpec *pspec)
{
  StrataWizard *self = STRATA_WIZARD (object);
  StrataWizardPrivate *priv = strata_wizard_get_instance_private (self);

  switch (prop_id)
    {
    case PROP_LIBRARY:
      g_value_set_object (value, priv->library);
      break;
    case PROP_JOBS:
      g_value_set_object (value, priv->jobs);
      break;
    case PROP_PAGE:
      g_value_set_string (value, strata_wizard_get_page (self));
      break;
    case PROP_READY:
      g_value_set_boolean (value, priv->ready);
      break;
    case PROP_PROBLEM:
      g_value_set_string (value, priv->problem);
      break;
    case PROP_SUMMARY:
      g_value_set_string (value, priv->summary);
      break;
    case PROP_SUCCEEDED:
      g_value_set_boolean (value, priv->succeeded);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
strata_wizard_set_property (GObject      *object,
                            guint         prop_id,
                            const GValue *value,
                            GParamSpec   *pspec)
{
  StrataWizard *self = STRATA_WIZARD (object);
  StrataWizardPrivate *priv = strata_wizard_get_instance_private (self);

  switch (prop_id)
    {
    case PROP_LIBRARY:
      priv->library = g_value_dup_object (value);
      break;
    case PROP_JOBS:
      priv->jobs = g_value_dup_object (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
strata_wizard_class_init (StrataWizardClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  GtkWindowClass *window_class = GTK_WINDOW_CLASS (klass);

  object_class->dispose = strata_wizard_dispose;
  object_class->finalize = strata_wizard_finalize;
  object_class->get_property = strata_wizard_get_property;
  object_class->set_property = strata_wizard_set_property;
  window_class->close_request = strata_wizard_close_request;

  properties[PROP_LIBRARY] =
    g_param_spec_object ("library", NULL, NULL, STRATA_TYPE_LIBRARY,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_JOBS] =
    g_param_spec_object ("jobs", NULL, NULL, STRATA_TYPE_JOB_MANAGER,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_PAGE] =
    g_param_spec_string ("page", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_READY] =
    g_param_spec_boolean ("ready", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_PROBLEM] =
    g_param_spec_string ("problem", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_SUMMARY] =
    g_param_spec_string ("summary", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_SUCCEEDED] =
    g_param_spec_boolean ("succeeded", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_install_action (widget_class, "wizard.start", NULL, start_action);
  gtk_widget_class_install_action (widget_class, "wizard.back", NULL, back_action);
  gtk_widget_class_install_action (widget_class, "wizard.cancel-job", NULL, cancel_job_action);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "window.close", NULL);
}

static void
strata_wizard_init (StrataWizard *self)
{
  GtkEventController *keys = gtk_event_controller_key_new ();

  gtk_event_controller_set_propagation_phase (keys, GTK_PHASE_CAPTURE);
  g_signal_connect (keys, "key-pressed", G_CALLBACK (key_pressed_cb), self);
  gtk_widget_add_controller (GTK_WIDGET (self), keys);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "wizard.start", FALSE);
}

void
strata_wizard_set_chrome (StrataWizard  *self,
                          GtkStack      *stack,
                          GtkButton     *back_button,
                          GtkButton     *start_button,
                          GtkLabel      *problem_label,
                          GtkListBox    *job_list,
                          AdwStatusPage *result_page)
{
  StrataWizardPrivate *priv = strata_wizard_get_instance_private (self);

  g_return_if_fail (STRATA_IS_WIZARD (self));

  priv->stack = stack;
  priv->back_button = back_button;
  priv->start_button = start_button;
  priv->problem_label = problem_label;
  priv->job_list = job_list;
  priv->result_page = result_page;
  priv->start_label = g_strdup (gtk_button_get_label (start_button));

  gtk_actionable_set_action_name (GTK_ACTIONABLE (back_button), "wizard.back");
  gtk_window_set_default_widget (GTK_WINDOW (self), GTK_WIDGET (start_button));
  update_buttons (self);
}

StrataLibrary *
strata_wizard_get_library (StrataWizard *self)
{
  StrataWizardPrivate *priv = strata_wizard_get_instance_private (self);

  g_return_val_if_fail (STRATA_IS_WIZARD (self), NULL);
  return priv->library;
}

StrataJobManager *
strata_wizard_get_jobs (StrataWizard *self)
{
  StrataWizardPrivate *priv = strata_wizard_get_instance_private (self);

  g_return_val_if_fail (STRATA_IS_WIZARD (self), NULL);
  return priv->jobs;
}

const char *
strata_wizard_get_page (StrataWizard *self)
{
  StrataWizardPrivate *priv = strata_wizard_get_instance_private (self);

  g_return_val_if_fail (STRATA_IS_WIZARD (self), NULL);
  return priv->stack != NULL ? gtk_stack_get_visible_child_name (priv->stack) : NULL;
}

void
strata_wizard_set_problem (StrataWizard *self,
                           const char   *message,
                           gboolean      is_warning)
{
  StrataWizardPrivate *priv = strata_wizard_get_instance_private (self);
  gboolean ready = message == NULL || is_warning;
  GtkWidget *label = GTK_WIDGET (priv->problem_label);

  g_return_if_fail (STRATA_IS_WIZARD (self));

  gtk_widget_set_visible (label, message != NULL);
  gtk_label_set_text (priv->problem_label, message != NULL ? message : "");
  gtk_widget_remove_css_class (label, "error");
  gtk_widget_remove_css_class (label, "warning");
  if (message != NULL)
    gtk_widget_add_css_class (label, is_warning ? "warning" : "error");

  if (g_strcmp0 (priv->problem, message) != 0)
    {
      g_free (priv->problem);
      priv->problem = g_strdup (message);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PROBLEM]);
    }
  if (priv->ready != ready)
    {
      priv->ready = ready;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_READY]);
    }
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "wizard.start", ready);
}

GCancellable *
strata_wizard_begin_job (StrataWizard       *self,
                         StrataJob          *job,
                         const char * const *reads,
                         const char * const *writes)
{
  StrataWizardPrivate *priv = strata_wizard_get_instance_private (self);
  g_autoptr(GError) error = NULL;
  GCancellable *cancellable;
  GtkWidget *child;

  g_return_val_if_fail (STRATA_IS_WIZARD (self), NULL);
  g_return_val_if_fail (priv->job == NULL, NULL);

  cancellable = strata_job_manager_start (priv->jobs, job, GTK_WINDOW (self), reads, writes,
                                          &error);
  if (cancellable == NULL)
    {
      strata_wizard_set_problem (self, error->message, FALSE);
      return NULL;
    }

  priv->job = g_object_ref (job);
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (priv->job_list))) != NULL)
    gtk_list_box_remove (priv->job_list, child);
  gtk_list_box_append (priv->job_list, strata_job_row_new (priv->jobs, job));
  show_page (self, "progress");

  return cancellable;
}

static void
set_result (StrataWizard *self,
            gboolean      success,
            const char   *icon,
            const char   *title,
            const char   *description)
{
  StrataWizardPrivate *priv = strata_wizard_get_instance_private (self);

  adw_status_page_set_icon_name (priv->result_page, icon);
  adw_status_page_set_title (priv->result_page, title);
  adw_status_page_set_description (priv->result_page, description);
  priv->succeeded = success;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SUCCEEDED]);
  show_page (self, "result");
}

void
strata_wizard_end_job (StrataWizard *self,
                       const char   *summary,
                       const char   *title,
                       const char   *description,
                       const GError *error)
{
  StrataWizardPrivate *priv = strata_wizard_get_instance_private (self);
  g_autoptr(StrataJob) job = NULL;

  g_return_if_fail (STRATA_IS_WIZARD (self));
  g_return_if_fail (priv->job != NULL);

  job = g_steal_pointer (&priv->job);

  g_free (priv->summary);
  if (error == NULL)
    priv->summary = g_strdup (summary);
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    priv->summary = g_strdup (description);
  else
    priv->summary = g_strdup (error->message);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SUMMARY]);

  if (error == NULL)
    set_result (self, TRUE, "emblem-ok-symbolic", title, description);
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    set_result (self, FALSE, "process-stop-symbolic", _("Cancelled"), description);
  else
    set_result (self, FALSE, "dialog-error-symbolic", _("Failed"), error->message);

  if (error == NULL && priv->result_path != NULL)
    strata_job_manager_set_result (priv->jobs, job, priv->result_path);
  g_clear_pointer (&priv->result_path, g_free);

  /* The manager's toast, notification or error dialog come last, over the result page. */
  strata_job_manager_complete (priv->jobs, job,
                               error == NULL ? summary : description, error);
}

void
strata_wizard_set_result_path (StrataWizard *self,
                               const char   *path)
{
  StrataWizardPrivate *priv = strata_wizard_get_instance_private (self);

  g_return_if_fail (STRATA_IS_WIZARD (self));

  g_free (priv->result_path);
  priv->result_path = g_strdup (path);
}

void
strata_wizard_show_result (StrataWizard *self,
                           gboolean      success,
                           const char   *title,
                           const char   *description)
{
  StrataWizardPrivate *priv = strata_wizard_get_instance_private (self);

  g_return_if_fail (STRATA_IS_WIZARD (self));

  g_free (priv->summary);
  priv->summary = g_strdup (description);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SUMMARY]);
  set_result (self, success, success ? "emblem-ok-symbolic" : "dialog-error-symbolic",
              title, description);
}

void
strata_wizard_open_next (StrataWizard *self,
                         const char   *name,
                         const char   *path)
{
  StrataWizardPrivate *priv = strata_wizard_get_instance_private (self);
  g_autoptr(GError) error = NULL;
  GtkWindow *parent;

  g_return_if_fail (STRATA_IS_WIZARD (self));

  parent = gtk_window_get_transient_for (GTK_WINDOW (self));
  if (strata_wizard_open (name, parent, priv->library, priv->jobs, path, &error) == NULL)
    {
      strata_wizard_set_problem (self, error->message, FALSE);
      return;
    }
  gtk_window_close (GTK_WINDOW (self));
}
