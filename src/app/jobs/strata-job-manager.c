/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <glib/gi18n.h>
#include <stdlib.h>

#include "strata-error.h"
#include "strata-job-manager.h"

/*
 * The manager keeps one entry per job: its state, the paths it uses, its cancellable and
 * the window that shows its result. The list model exposes the jobs themselves; when a job's
 * state changes the model reports the item as changed (removed and added in place) so that
 * views rebuild that row.
 */

typedef struct
{
  StrataJob      *job;
  StrataJobState  state;
  GCancellable   *cancellable;
  char          **reads;
  char          **writes;
  char           *message;
  char           *result;
  GWeakRef        owner;
} Entry;

struct _StrataJobManager
{
  GObject    parent_instance;

  GPtrArray *entries; /* Entry *, in the order jobs started */
  guint      n_running;
  guint      n_writing;
  guint      inhibit_cookie;
  gboolean   inhibiting;
  GWeakRef   toast_overlay;
  const StrataJobDesktop *desktop;
};

static void
send_notification (GApplication *app,
                   const char   *title,
                   const char   *body)
{
  g_autoptr(GNotification) notification = g_notification_new (title);

  g_notification_set_body (notification, body);
  g_application_send_notification (app, NULL, notification);
}

static const StrataJobDesktop gtk_desktop = {
  gtk_application_inhibit,
  gtk_application_uninhibit,
  send_notification,
};

enum
{
  PROP_0,
  PROP_N_RUNNING,
  PROP_HAS_JOBS,
  N_PROPS
};

enum
{
  SIGNAL_JOB_FINISHED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

static void list_model_iface_init (GListModelInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (StrataJobManager, strata_job_manager, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_LIST_MODEL, list_model_iface_init))

static void
entry_free (Entry *entry)
{
  g_clear_object (&entry->job);
  g_clear_object (&entry->cancellable);
  g_clear_pointer (&entry->reads, g_strfreev);
  g_clear_pointer (&entry->writes, g_strfreev);
  g_clear_pointer (&entry->message, g_free);
  g_clear_pointer (&entry->result, g_free);
  g_weak_ref_clear (&entry->owner);
  g_free (entry);
}

static GType
strata_job_manager_get_item_type (GListModel *model)
{
  return STRATA_TYPE_JOB;
}

static guint
strata_job_manager_get_n_items (GListModel *model)
{
  return STRATA_JOB_MANAGER (model)->entries->len;
}

static gpointer
strata_job_manager_get_item (GListModel *model,
                             guint       position)
{
  StrataJobManager *self = STRATA_JOB_MANAGER (model);
  Entry *entry;

  if (position >= self->entries->len)
    return NULL;
  entry = g_ptr_array_index (self->entries, position);
  return g_object_ref (entry->job);
}

static void
list_model_iface_init (GListModelInterface *iface)
{
  iface->get_item_type = strata_job_manager_get_item_type;
  iface->get_n_items = strata_job_manager_get_n_items;
  iface->get_item = strata_job_manager_get_item;
}

/* The same file under any spelling: the real path when it exists (or its folder does). */
static char *
normalize_path (const char *path)
{
  g_autofree char *canonical = g_canonicalize_filename (path, NULL);
  g_autofree char *dir = NULL;
  g_autofree char *real_dir = NULL;
  char *real;

  real = realpath (canonical, NULL);
  if (real != NULL)
    return real;

  dir = g_path_get_dirname (canonical);
  real_dir = realpath (dir, NULL);
  if (real_dir != NULL)
    {
      g_autofree char *base = g_path_get_basename (canonical);
      return g_build_filename (real_dir, base, NULL);
    }

  return g_steal_pointer (&canonical);
}

static char **
normalize_paths (const char * const *paths)
{
  GPtrArray *out = g_ptr_array_new ();

  for (guint i = 0; paths != NULL && paths[i] != NULL; i++)
    g_ptr_array_add (out, normalize_path (paths[i]));
  g_ptr_array_add (out, NULL);

  return (char **) g_ptr_array_free (out, FALSE);
}

static Entry *
find_entry (StrataJobManager *self,
            StrataJob        *job,
            guint            *position)
{
  for (guint i = 0; i < self->entries->len; i++)
    {
      Entry *entry = g_ptr_array_index (self->entries, i);

      if (entry->job == job)
        {
          if (position != NULL)
            *position = i;
          return entry;
        }
    }

  return NULL;
}

/* The running entry that writes @path (or, with @reads_too, reads it), or NULL. */
static Entry *
find_user (StrataJobManager *self,
           const char       *normalized,
           gboolean          reads_too)
{
  for (guint i = 0; i < self->entries->len; i++)
    {
      Entry *entry = g_ptr_array_index (self->entries, i);

      if (entry->state != STRATA_JOB_STATE_RUNNING)
        continue;
      if (g_strv_contains ((const char * const *) entry->writes, normalized))
        return entry;
      if (reads_too && g_strv_contains ((const char * const *) entry->reads, normalized))
        return entry;
    }

  return NULL;
}

static GApplication *
default_gtk_application (void)
{
  GApplication *app = g_application_get_default ();

  return GTK_IS_APPLICATION (app) ? app : NULL;
}

/* Asks for (or gives back) the suspend inhibition as the number of writing jobs goes above
 * zero or back to it. A session without a session manager answers with cookie 0; the manager
 * still counts itself as inhibiting then, so that it asks only once per run of writers. */
static void
update_inhibit (StrataJobManager *self)
{
  GApplication *app = default_gtk_application ();

  if (self->n_writing > 0 && !self->inhibiting && app != NULL)
    {
      g_autoptr(AdwToastOverlay) overlay = g_weak_ref_get (&self->toast_overlay);
      GtkRoot *root = overlay != NULL ? gtk_widget_get_root (GTK_WIDGET (overlay)) : NULL;

      self->inhibit_cookie =
        self->desktop->inhibit (GTK_APPLICATION (app),
                                GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL,
                                GTK_APPLICATION_INHIBIT_SUSPEND,
                                _("Disk images are being written"));
      self->inhibiting = TRUE;
    }
  else if (self->n_writing == 0 && self->inhibiting)
    {
      if (app != NULL && self->inhibit_cookie != 0)
        self->desktop->uninhibit (GTK_APPLICATION (app), self->inhibit_cookie);
      self->inhibit_cookie = 0;
      self->inhibiting = FALSE;
    }
}

static void
notify_desktop (StrataJobManager *self,
                const char       *title,
                const char       *body)
{
  GApplication *app = default_gtk_application ();

  if (app != NULL)
    self->desktop->notify (app, title, body);
}

static void
strata_job_manager_dispose (GObject *object)
{
  StrataJobManager *self = STRATA_JOB_MANAGER (object);

  self->n_writing = 0;
  update_inhibit (self);

  G_OBJECT_CLASS (strata_job_manager_parent_class)->dispose (object);
}

static void
strata_job_manager_finalize (GObject *object)
{
  StrataJobManager *self = STRATA_JOB_MANAGER (object);

  g_clear_pointer (&self->entries, g_ptr_array_unref);
  g_weak_ref_clear (&self->toast_overlay);

  G_OBJECT_CLASS (strata_job_manager_parent_class)->finalize (object);
}

static void
strata_job_manager_get_property (GObject    *object,
                                 guint       prop_id,
                                 GValue     *value,
                                 GParamSpec *pspec)
{
  StrataJobManager *self = STRATA_JOB_MANAGER (object);

  switch (prop_id)
    {
    case PROP_N_RUNNING:
      g_value_set_uint (value, self->n_running);
      break;
    case PROP_HAS_JOBS:
      g_value_set_boolean (value, self->entries->len > 0);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
strata_job_manager_class_init (StrataJobManagerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = strata_job_manager_dispose;
  object_class->finalize = strata_job_manager_finalize;
  object_class->get_property = strata_job_manager_get_property;

  properties[PROP_N_RUNNING] =
    g_param_spec_uint ("n-running", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_HAS_JOBS] =
    g_param_spec_boolean ("has-jobs", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  signals[SIGNAL_JOB_FINISHED] =
    g_signal_new ("job-finished", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 3,
                  STRATA_TYPE_JOB, G_TYPE_INT, G_TYPE_STRING);
}

static void
strata_job_manager_init (StrataJobManager *self)
{
  self->entries = g_ptr_array_new_with_free_func ((GDestroyNotify) entry_free);
  self->desktop = &gtk_desktop;
  g_weak_ref_init (&self->toast_overlay, NULL);
}

StrataJobManager *
strata_job_manager_new (void)
{
  return g_object_new (STRATA_TYPE_JOB_MANAGER, NULL);
}

guint
strata_job_manager_get_n_running (StrataJobManager *self)
{
  g_return_val_if_fail (STRATA_IS_JOB_MANAGER (self), 0);
  return self->n_running;
}

gboolean
strata_job_manager_is_busy (StrataJobManager *self,
                            const char       *path)
{
  g_autofree char *normalized = NULL;

  g_return_val_if_fail (STRATA_IS_JOB_MANAGER (self), FALSE);
  g_return_val_if_fail (path != NULL, FALSE);

  normalized = normalize_path (path);
  return find_user (self, normalized, TRUE) != NULL;
}

gboolean
strata_job_manager_is_writing (StrataJobManager *self,
                               const char       *path)
{
  g_autofree char *normalized = NULL;

  g_return_val_if_fail (STRATA_IS_JOB_MANAGER (self), FALSE);
  g_return_val_if_fail (path != NULL, FALSE);

  normalized = normalize_path (path);
  return find_user (self, normalized, FALSE) != NULL;
}

void
strata_job_manager_cancel_all (StrataJobManager *self)
{
  g_return_if_fail (STRATA_IS_JOB_MANAGER (self));

  for (guint i = 0; i < self->entries->len; i++)
    {
      Entry *entry = g_ptr_array_index (self->entries, i);

      if (entry->state == STRATA_JOB_STATE_RUNNING)
        g_cancellable_cancel (entry->cancellable);
    }
}

void
strata_job_manager_cancel (StrataJobManager *self,
                           StrataJob        *job)
{
  Entry *entry;

  g_return_if_fail (STRATA_IS_JOB_MANAGER (self));
  g_return_if_fail (STRATA_IS_JOB (job));

  entry = find_entry (self, job, NULL);
  if (entry != NULL && entry->state == STRATA_JOB_STATE_RUNNING)
    g_cancellable_cancel (entry->cancellable);
}

GCancellable *
strata_job_manager_start (StrataJobManager   *self,
                          StrataJob          *job,
                          GtkWindow          *owner,
                          const char * const *reads,
                          const char * const *writes,
                          GError            **error)
{
  g_auto(GStrv) norm_reads = NULL;
  g_auto(GStrv) norm_writes = NULL;
  Entry *entry;
  gboolean had_jobs;

  g_return_val_if_fail (STRATA_IS_JOB_MANAGER (self), NULL);
  g_return_val_if_fail (STRATA_IS_JOB (job), NULL);
  g_return_val_if_fail (owner == NULL || GTK_IS_WINDOW (owner), NULL);
  g_return_val_if_fail (find_entry (self, job, NULL) == NULL, NULL);

  norm_reads = normalize_paths (reads);
  norm_writes = normalize_paths (writes);

  for (guint i = 0; norm_writes[i] != NULL; i++)
    {
      Entry *other = find_user (self, norm_writes[i], TRUE);

      if (other != NULL)
        {
          g_set_error (error, STRATA_ERROR, STRATA_ERROR_LOCKED,
                       _("%s: in use by the running job “%s”; wait for it to finish or "
                         "cancel it"),
                       norm_writes[i], strata_job_get_title (other->job));
          return NULL;
        }
    }
  for (guint i = 0; norm_reads[i] != NULL; i++)
    {
      Entry *other = find_user (self, norm_reads[i], FALSE);

      if (other != NULL)
        {
          g_set_error (error, STRATA_ERROR, STRATA_ERROR_LOCKED,
                       _("%s: being written by the running job “%s”; wait for it to finish "
                         "or cancel it"),
                       norm_reads[i], strata_job_get_title (other->job));
          return NULL;
        }
    }

  entry = g_new0 (Entry, 1);
  entry->job = g_object_ref (job);
  entry->state = STRATA_JOB_STATE_RUNNING;
  entry->cancellable = g_cancellable_new ();
  entry->reads = g_steal_pointer (&norm_reads);
  entry->writes = g_steal_pointer (&norm_writes);
  g_weak_ref_init (&entry->owner, owner);

  had_jobs = self->entries->len > 0;
  g_ptr_array_add (self->entries, entry);
  self->n_running++;
  if (entry->writes[0] != NULL)
    self->n_writing++;
  update_inhibit (self);

  g_list_model_items_changed (G_LIST_MODEL (self), self->entries->len - 1, 0, 1);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_RUNNING]);
  if (!had_jobs)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_HAS_JOBS]);

  return entry->cancellable;
}

static GtkWindow *
feedback_window (StrataJobManager *self,
                 Entry            *entry)
{
  g_autoptr(AdwToastOverlay) overlay = g_weak_ref_get (&self->toast_overlay);
  g_autoptr(GtkWindow) owner = g_weak_ref_get (&entry->owner);
  GtkRoot *root;

  if (owner != NULL && gtk_widget_get_visible (GTK_WIDGET (owner)))
    return owner;
  if (overlay != NULL)
    {
      root = gtk_widget_get_root (GTK_WIDGET (overlay));
      if (GTK_IS_WINDOW (root))
        return GTK_WINDOW (root);
    }

  return NULL;
}

/* "Show" brings back a wizard that was hidden while its job ran (its result page); the
 * toast's own action, win.show-image, selects the result in the main window. */
static void
toast_show_cb (AdwToast *toast,
               GWeakRef *owner_ref)
{
  g_autoptr(GtkWindow) owner = g_weak_ref_get (owner_ref);

  if (owner != NULL && !gtk_widget_get_visible (GTK_WIDGET (owner)))
    gtk_window_present (owner);
}

static void
weak_ref_free (gpointer data)
{
  g_weak_ref_clear (data);
  g_free (data);
}

static void
announce_success (StrataJobManager *self,
                  Entry            *entry)
{
  g_autoptr(AdwToastOverlay) overlay = g_weak_ref_get (&self->toast_overlay);
  g_autoptr(GtkWindow) owner = g_weak_ref_get (&entry->owner);
  GtkRoot *root = overlay != NULL ? gtk_widget_get_root (GTK_WIDGET (overlay)) : NULL;
  gboolean focused;

  focused = (GTK_IS_WINDOW (root) && gtk_window_is_active (GTK_WINDOW (root)))
            || (owner != NULL && gtk_window_is_active (owner));

  if (overlay != NULL)
    {
      AdwToast *toast = adw_toast_new (entry->message);

      if (entry->result != NULL || owner != NULL)
        adw_toast_set_button_label (toast, _("_Show"));
      if (entry->result != NULL)
        {
          adw_toast_set_action_name (toast, "win.show-image");
          adw_toast_set_action_target_value (toast, g_variant_new_string (entry->result));
        }
      if (owner != NULL)
        {
          GWeakRef *ref = g_new0 (GWeakRef, 1);

          g_weak_ref_init (ref, owner);
          g_signal_connect_data (toast, "button-clicked", G_CALLBACK (toast_show_cb), ref,
                                 (GClosureNotify) (void (*) (void)) weak_ref_free, 0);
        }
      adw_toast_overlay_add_toast (overlay, toast);
    }

  if (!focused)
    notify_desktop (self, strata_job_get_title (entry->job), entry->message);
}

static void
error_dialog_response_cb (AdwMessageDialog *dialog,
                          const char       *response,
                          gpointer          user_data)
{
  gtk_window_destroy (GTK_WINDOW (dialog));
}

static void
announce_failure (StrataJobManager *self,
                  Entry            *entry)
{
  GtkWindow *parent = feedback_window (self, entry);
  g_autofree char *heading =
    g_strdup_printf (_("“%s” failed"), strata_job_get_title (entry->job));
  GtkWidget *dialog;

  dialog = adw_message_dialog_new (parent, heading, entry->message);
  adw_message_dialog_add_response (ADW_MESSAGE_DIALOG (dialog), "close", _("_Close"));
  g_signal_connect (dialog, "response", G_CALLBACK (error_dialog_response_cb), NULL);
  gtk_window_present (GTK_WINDOW (dialog));

  if (parent == NULL || !gtk_window_is_active (parent))
    notify_desktop (self, heading, entry->message);
}

void
strata_job_manager_complete (StrataJobManager *self,
                             StrataJob        *job,
                             const char       *summary,
                             const GError     *error)
{
  Entry *entry;
  guint position;

  g_return_if_fail (STRATA_IS_JOB_MANAGER (self));
  g_return_if_fail (STRATA_IS_JOB (job));

  entry = find_entry (self, job, &position);
  g_return_if_fail (entry != NULL);
  g_return_if_fail (entry->state == STRATA_JOB_STATE_RUNNING);

  g_free (entry->message);
  if (error == NULL)
    {
      entry->state = STRATA_JOB_STATE_SUCCEEDED;
      entry->message = g_strdup (summary != NULL ? summary : _("Done"));
      strata_job_finish (job);
    }
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      entry->state = STRATA_JOB_STATE_CANCELLED;
      entry->message = g_strdup (summary != NULL ? summary : _("Cancelled; nothing was changed"));
    }
  else
    {
      entry->state = STRATA_JOB_STATE_FAILED;
      entry->message = g_strdup (error->message);
    }

  self->n_running--;
  if (entry->writes[0] != NULL)
    self->n_writing--;
  update_inhibit (self);

  g_object_ref (job);
  g_list_model_items_changed (G_LIST_MODEL (self), position, 1, 1);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_RUNNING]);

  if (entry->state == STRATA_JOB_STATE_SUCCEEDED)
    announce_success (self, entry);
  else if (entry->state == STRATA_JOB_STATE_FAILED)
    announce_failure (self, entry);

  g_signal_emit (self, signals[SIGNAL_JOB_FINISHED], 0, job, (int) entry->state,
                 entry->message);
  g_object_unref (job);
}

StrataJobState
strata_job_manager_get_state (StrataJobManager *self,
                              StrataJob        *job)
{
  Entry *entry;

  g_return_val_if_fail (STRATA_IS_JOB_MANAGER (self), STRATA_JOB_STATE_FAILED);

  entry = find_entry (self, job, NULL);
  g_return_val_if_fail (entry != NULL, STRATA_JOB_STATE_FAILED);
  return entry->state;
}

const char *
strata_job_manager_get_message (StrataJobManager *self,
                                StrataJob        *job)
{
  Entry *entry;

  g_return_val_if_fail (STRATA_IS_JOB_MANAGER (self), NULL);

  entry = find_entry (self, job, NULL);
  g_return_val_if_fail (entry != NULL, NULL);
  return entry->message;
}

void
strata_job_manager_set_toast_overlay (StrataJobManager *self,
                                      AdwToastOverlay  *overlay)
{
  g_return_if_fail (STRATA_IS_JOB_MANAGER (self));
  g_return_if_fail (overlay == NULL || ADW_IS_TOAST_OVERLAY (overlay));

  g_weak_ref_set (&self->toast_overlay, overlay);
}

gboolean
strata_job_manager_has_toast_overlay (StrataJobManager *self)
{
  g_autoptr(AdwToastOverlay) overlay = NULL;

  g_return_val_if_fail (STRATA_IS_JOB_MANAGER (self), FALSE);

  overlay = g_weak_ref_get (&self->toast_overlay);
  return overlay != NULL;
}

void
strata_job_manager_set_result (StrataJobManager *self,
                               StrataJob        *job,
                               const char       *path)
{
  Entry *entry;

  g_return_if_fail (STRATA_IS_JOB_MANAGER (self));
  g_return_if_fail (STRATA_IS_JOB (job));

  entry = find_entry (self, job, NULL);
  g_return_if_fail (entry != NULL);
  g_free (entry->result);
  entry->result = g_strdup (path);
}

const char *
strata_job_manager_get_result (StrataJobManager *self,
                               StrataJob        *job)
{
  Entry *entry;

  g_return_val_if_fail (STRATA_IS_JOB_MANAGER (self), NULL);

  entry = find_entry (self, job, NULL);
  g_return_val_if_fail (entry != NULL, NULL);
  return entry->result;
}

void
strata_job_manager_set_desktop (StrataJobManager       *self,
                                const StrataJobDesktop *desktop)
{
  g_return_if_fail (STRATA_IS_JOB_MANAGER (self));
  g_return_if_fail (!self->inhibiting);

  self->desktop = desktop != NULL ? desktop : &gtk_desktop;
}

gboolean
strata_job_manager_get_inhibiting (StrataJobManager *self)
{
  g_return_val_if_fail (STRATA_IS_JOB_MANAGER (self), FALSE);
  return self->inhibiting;
}
