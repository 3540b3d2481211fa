/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <glib/gi18n.h>

#include "strata-chain-graph.h"
#include "strata-details-pane.h"
#include "strata-folder-settings.h"
#include "strata-node-actions.h"
#include "strata-node-text.h"
#include "strata-sample-images.h"
#include "strata-sidebar.h"
#include "strata-vm.h"
#include "strata-window-private.h"
#include "strata-wizard-util.h"
#include "strata-wizards.h"

G_DEFINE_FINAL_TYPE (StrataWindow, strata_window, ADW_TYPE_APPLICATION_WINDOW)

StrataWindow *
strata_window_new (StrataApplication *application)
{
  return g_object_new (STRATA_TYPE_WINDOW, "application", application, NULL);
}

GSettings *
strata_window_get_settings (StrataWindow *self)
{
  g_return_val_if_fail (STRATA_IS_WINDOW (self), NULL);
  return self->settings;
}

StrataLibrary *
strata_window_get_library (StrataWindow *self)
{
  g_return_val_if_fail (STRATA_IS_WINDOW (self), NULL);
  return self->library;
}

StrataJobManager *
strata_window_get_jobs (StrataWindow *self)
{
  g_return_val_if_fail (STRATA_IS_WINDOW (self), NULL);
  return self->jobs;
}

void
strata_window_toast (StrataWindow *self,
                     const char   *message)
{
  AdwToast *toast;

  g_return_if_fail (STRATA_IS_WINDOW (self));

  toast = adw_toast_new (message);
  adw_toast_set_timeout (toast, 6);
  adw_toast_overlay_add_toast (ADW_TOAST_OVERLAY (self->toast_overlay), toast);
}

/* The header bar's subtitle and which page shows. */

static gboolean
summary_idle_cb (gpointer user_data)
{
  StrataWindow *self = user_data;
  const char * const *folders = strata_library_get_folders (self->library);
  GListModel *nodes = strata_library_get_nodes (self->library);
  guint n_folders = folders != NULL ? g_strv_length ((char **) folders) : 0;
  guint n_images = 0;
  guint64 on_disk = 0;
  g_autofree char *where = NULL;
  g_autofree char *disk = NULL;
  g_autofree char *subtitle = NULL;
  gboolean scanning = strata_library_get_scanning (self->library);
  const char *page;

  self->summary_idle = 0;

  for (guint i = 0; i < g_list_model_get_n_items (nodes); i++)
    {
      g_autoptr(StrataLibraryNode) node = g_list_model_get_item (nodes, i);
      StrataNodeKind kind = strata_library_node_get_kind (node);

      if (kind == STRATA_NODE_IMAGE || kind == STRATA_NODE_UNREADABLE)
        {
          n_images++;
          on_disk += strata_library_node_get_allocated_size (node);
        }
    }

  if (n_folders == 0)
    subtitle = NULL;
  else
    {
      if (n_folders == 1)
        where = strata_text_folder (folders[0]);
      else
        where = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u folder", "%u folders",
                                              n_folders), n_folders);
      disk = strata_text_disk_size (on_disk);
      /* Translators: "~/vbox/kvm — 6 images, 2.4 GB on disk". */
      subtitle = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%s — %u image, %s on disk",
                                               "%s — %u images, %s on disk", n_images),
                                  where, n_images, disk);
    }
  adw_window_title_set_subtitle (ADW_WINDOW_TITLE (self->window_title), subtitle);

  gtk_stack_set_visible_child_name (GTK_STACK (self->main_stack),
                                    n_folders == 0 && g_list_model_get_n_items (nodes) == 0
                                    ? "empty" : "library");
  if (g_list_model_get_n_items (nodes) > 0)
    page = "graph";
  else if (scanning)
    page = "scanning";
  else
    page = "no-images";
  gtk_stack_set_visible_child_name (GTK_STACK (self->graph_stack), page);
  gtk_spinner_set_spinning (GTK_SPINNER (self->scan_spinner), g_str_equal (page, "scanning"));
  return G_SOURCE_REMOVE;
}

static void
queue_summary (StrataWindow *self)
{
  if (self->summary_idle == 0)
    self->summary_idle = g_idle_add (summary_idle_cb, self);
}

/* The library follows the "library-folders" and "recursive" keys. */

static void
sync_folders (StrataWindow *self)
{
  g_auto(GStrv) wanted = g_settings_get_strv (self->settings, "library-folders");
  gboolean recursive = g_settings_get_boolean (self->settings, "recursive");
  g_auto(GStrv) current = g_strdupv ((char **) strata_library_get_folders (self->library));

  for (guint i = 0; current != NULL && current[i] != NULL; i++)
    if (!g_strv_contains ((const char * const *) wanted, current[i]))
      strata_library_remove_folder (self->library, current[i]);

  for (guint i = 0; wanted[i] != NULL; i++)
    {
      g_autoptr(GError) error = NULL;

      if (!strata_library_add_folder (self->library, wanted[i], recursive, &error))
        {
          g_autofree char *message = g_strdup_printf (_("Cannot show %s: %s"), wanted[i],
                                                      error->message);
          strata_window_toast (self, message);
        }
    }
  strata_sidebar_folders_changed (STRATA_SIDEBAR (self->sidebar));
  queue_summary (self);
}

/* Which wizard actions the selection allows. */

static void
update_actions (StrataWindow *self)
{
  StrataLibraryNode *node = strata_chain_graph_get_selected_node (STRATA_CHAIN_GRAPH (self->graph));
  const StrataNodeAction *actions;
  guint n_actions;
  g_autofree char *detailed = NULL;

  actions = strata_node_actions (&n_actions);
  for (guint i = 0; i < n_actions; i++)
    {
      g_free (detailed);
      detailed = g_strconcat ("win.", actions[i].name, NULL);
      gtk_widget_action_set_enabled (GTK_WIDGET (self), detailed,
                                     strata_node_action_applies (actions[i].name, node));
    }
  strata_details_pane_update_actions (STRATA_DETAILS_PANE (self->details));
}

static void
selected_node_changed_cb (StrataWindow *self)
{
  StrataLibraryNode *node = strata_chain_graph_get_selected_node (STRATA_CHAIN_GRAPH (self->graph));

  strata_details_pane_set_node (STRATA_DETAILS_PANE (self->details), node);
  update_actions (self);
}

static void
node_changed_cb (StrataWindow      *self,
                 StrataLibraryNode *node)
{
  if (node == strata_chain_graph_get_selected_node (STRATA_CHAIN_GRAPH (self->graph)))
    update_actions (self);
  queue_summary (self);
}

void
strata_window_open_wizard (StrataWindow *self,
                           const char   *name,
                           const char   *path)
{
  g_autoptr(GError) error = NULL;

  if (!strata_wizard_is_available (name))
    {
      g_autofree char *base = g_path_get_basename (path);
      g_autofree char *message = g_strdup_printf (_("%s: this build of Strata cannot do that "
                                                    "yet"), base);
      strata_window_toast (self, message);
      return;
    }
  if (strata_wizard_open (name, GTK_WINDOW (self), self->library, self->jobs, path,
                          &error) == NULL)
    strata_window_toast (self, error->message);
}

static void
wizard_action_cb (GtkWidget  *widget,
                  const char *action_name,
                  GVariant   *parameter)
{
  StrataWindow *self = STRATA_WINDOW (widget);
  StrataLibraryNode *node = strata_chain_graph_get_selected_node (STRATA_CHAIN_GRAPH (self->graph));
  const char *name = action_name + strlen ("win.");

  if (node == NULL || !strata_node_action_applies (name, node))
    return;
  strata_window_open_wizard (self, name, strata_library_node_get_path (node));
}

static void
open_response_cb (GtkNativeDialog *chooser,
                  int              response,
                  StrataWindow    *self)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr(GListModel) files = gtk_file_chooser_get_files (GTK_FILE_CHOOSER (chooser));
      g_autoptr(GPtrArray) array = g_ptr_array_new_with_free_func (g_object_unref);

      for (guint i = 0; i < g_list_model_get_n_items (files); i++)
        g_ptr_array_add (array, g_list_model_get_item (files, i));
      strata_window_open_files (self, (GFile **) array->pdata, (int) array->len);
    }
  gtk_native_dialog_destroy (chooser);
  g_object_unref (chooser);
}

static void
open_action_cb (GtkWidget  *widget,
                const char *action_name,
                GVariant   *parameter)
{
  StrataWindow *self = STRATA_WINDOW (widget);
  GtkFileChooserNative *chooser;
  g_autoptr(GtkFileFilter) images = gtk_file_filter_new ();
  g_autoptr(GtkFileFilter) all = gtk_file_filter_new ();

  chooser = gtk_file_chooser_native_new (_("Open Disk Images"), GTK_WINDOW (self),
                                         GTK_FILE_CHOOSER_ACTION_OPEN, _("_Open"),
                                         _("_Cancel"));
  gtk_file_chooser_set_select_multiple (GTK_FILE_CHOOSER (chooser), TRUE);
  gtk_file_filter_set_name (images, _("Disk Images"));
  gtk_file_filter_add_suffix (images, "qcow2");
  gtk_file_filter_add_suffix (images, "qcow");
  gtk_file_filter_add_suffix (images, "vmdk");
  gtk_file_filter_add_suffix (images, "img");
  gtk_file_filter_add_suffix (images, "raw");
  gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (chooser), images);
  gtk_file_filter_set_name (all, _("All Files"));
  gtk_file_filter_add_pattern (all, "*");
  gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (chooser), all);
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (chooser), TRUE);
  g_signal_connect (chooser, "response", G_CALLBACK (open_response_cb), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (chooser));
}

static void
add_folder_action_cb (GtkWidget  *widget,
                      const char *action_name,
                      GVariant   *parameter)
{
  StrataWindow *self = STRATA_WINDOW (widget);

  strata_folder_settings_choose (self->settings, GTK_WINDOW (self));
}

static void
remove_folder_action_cb (GtkWidget  *widget,
                         const char *action_name,
                         GVariant   *parameter)
{
  StrataWindow *self = STRATA_WINDOW (widget);
  const char *folder = g_variant_get_string (parameter, NULL);
  g_autofree char *shown = strata_text_folder (folder);
  g_autofree char *message = g_strdup_printf (_("%s is no longer in the library (its files "
                                                "are untouched)"), shown);

  strata_folder_settings_remove (self->settings, folder);
  strata_window_toast (self, message);
}

static void
show_folder_action_cb (GtkWidget  *widget,
                       const char *action_name,
                       GVariant   *parameter)
{
  StrataWindow *self = STRATA_WINDOW (widget);
  const char *folder = g_variant_get_string (parameter, NULL);
  GListModel *nodes = strata_library_get_nodes (self->library);
  g_autoptr(GPtrArray) in_folder = g_ptr_array_new ();

  for (guint i = 0; i < g_list_model_get_n_items (nodes); i++)
    {
      g_autoptr(StrataLibraryNode) node = g_list_model_get_item (nodes, i);

      if (g_strcmp0 (strata_library_node_get_folder (node), folder) == 0
          && strata_library_node_get_backing (node) == NULL)
        g_ptr_array_add (in_folder, node);
    }
  /* The chains' bases, so the folder's images come into view with their overlays. */
  if (in_folder->len > 0)
    strata_chain_graph_select_nodes (STRATA_CHAIN_GRAPH (self->graph), in_folder);
}

static void
select_problems_action_cb (GtkWidget  *widget,
                           const char *action_name,
                           GVariant   *parameter)
{
  StrataWindow *self = STRATA_WINDOW (widget);
  const char *kind = g_variant_get_string (parameter, NULL);
  GListModel *nodes = strata_library_get_nodes (self->library);
  g_autoptr(GPtrArray) affected = g_ptr_array_new ();

  for (guint i = 0; i < g_list_model_get_n_items (nodes); i++)
    {
      g_autoptr(StrataLibraryNode) node = g_list_model_get_item (nodes, i);

      if (g_str_equal (strata_node_kind_to_string (strata_library_node_get_kind (node)), kind))
        g_ptr_array_add (affected, node);
    }
  strata_chain_graph_select_nodes (STRATA_CHAIN_GRAPH (self->graph), affected);
}

static void
select_node_action_cb (GtkWidget  *widget,
                       const char *action_name,
                       GVariant   *parameter)
{
  StrataWindow *self = STRATA_WINDOW (widget);
  StrataLibraryNode *node = strata_library_lookup_id (self->library,
                                                      g_variant_get_string (parameter, NULL));

  if (node != NULL)
    strata_chain_graph_select_node (STRATA_CHAIN_GRAPH (self->graph), node);
}

/* The success toast's "Show": the image a job made or changed, selected in the graph (its
 * folder joins the library when no library folder covers it, as when it is opened). */
static void
show_image_action_cb (GtkWidget  *widget,
                      const char *action_name,
                      GVariant   *parameter)
{
  StrataWindow *self = STRATA_WINDOW (widget);
  const char *path = g_variant_get_string (parameter, NULL);

  gtk_window_present (GTK_WINDOW (self));
  strata_window_add_parent_folder (self, path);
  strata_chain_graph_select_path (STRATA_CHAIN_GRAPH (self->graph), path);
}

static void
zoom_action_cb (GtkWidget  *widget,
                const char *action_name,
                GVariant   *parameter)
{
  StrataWindow *self = STRATA_WINDOW (widget);
  StrataChainGraph *graph = STRATA_CHAIN_GRAPH (self->graph);
  double zoom = strata_chain_graph_get_zoom (graph);

  if (g_str_equal (action_name, "win.zoom-in"))
    strata_chain_graph_set_zoom (graph, zoom * 1.2);
  else if (g_str_equal (action_name, "win.zoom-out"))
    strata_chain_graph_set_zoom (graph, zoom / 1.2);
  else if (g_str_equal (action_name, "win.zoom-reset"))
    strata_chain_graph_set_zoom (graph, 1.0);
  else
    strata_chain_graph_zoom_to_fit (graph, gtk_widget_get_width (self->graph_scroller),
                                    gtk_widget_get_height (self->graph_scroller));
}

static gboolean
scroll_cb (GtkEventControllerScroll *controller,
           double                    dx,
           double                    dy,
           StrataWindow             *self)
{
  GdkModifierType state = gtk_event_controller_get_current_event_state (GTK_EVENT_CONTROLLER (controller));
  StrataChainGraph *graph = STRATA_CHAIN_GRAPH (self->graph);

  if ((state & GDK_CONTROL_MASK) == 0 || dy == 0)
    return FALSE;
  strata_chain_graph_set_zoom (graph, strata_chain_graph_get_zoom (graph) * (dy < 0 ? 1.1 : 1 / 1.1));
  return TRUE;
}

static void
samples_created_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(StrataWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *folder = strata_sample_images_create_finish (result, &error);

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.create-samples", TRUE);
  if (folder == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        strata_window_toast (self, error->message);
      return;
    }
  strata_folder_settings_add (self->settings, folder);
}

static void
create_samples_action_cb (GtkWidget  *widget,
                          const char *action_name,
                          GVariant   *parameter)
{
  StrataWindow *self = STRATA_WINDOW (widget);

  gtk_widget_action_set_enabled (widget, "win.create-samples", FALSE);
  strata_sample_images_create_async (self->cancellable, samples_created_cb,
                                     g_object_ref (self));
}

/* Closing while jobs run asks first. */

static gboolean
close_idle_cb (gpointer user_data)
{
  gtk_window_close (GTK_WINDOW (user_data));
  return G_SOURCE_REMOVE;
}

static void
close_response_cb (AdwMessageDialog *dialog,
                   const char       *response,
                   StrataWindow     *self)
{
  if (g_str_equal (response, "stop"))
    {
      strata_job_manager_cancel_all (self->jobs);
      self->close_confirmed = TRUE;
      /* Not from inside the dialog's response: the dialog, transient for this window, is
       * still being closed. */
      g_idle_add_full (G_PRIORITY_DEFAULT_IDLE, close_idle_cb, g_object_ref (self),
                       g_object_unref);
    }
}

static gboolean
strata_window_close_request (GtkWindow *window)
{
  StrataWindow *self = STRATA_WINDOW (window);

  if (!self->close_confirmed && strata_job_manager_get_n_running (self->jobs) > 0)
    {
      guint n = strata_job_manager_get_n_running (self->jobs);
      guint n_vms = strata_vm_count_running (self->jobs);
      GtkWidget *dialog;

      dialog = strata_wizard_question_new (window, _("Stop Running Operations?"),
                                           _("_Keep Running"), "stop", _("_Stop and Close"),
                                           ADW_RESPONSE_DESTRUCTIVE);
      if (n_vms == n)
        /* Only virtual machines: what they wrote stays, unlike a cancelled operation's. */
        adw_message_dialog_format_body (ADW_MESSAGE_DIALOG (dialog),
                                        g_dngettext (GETTEXT_PACKAGE,
                                                     "%u virtual machine is still running. "
                                                     "Closing Strata shuts it down; what it "
                                                     "wrote to its overlay is kept.",
                                                     "%u virtual machines are still running. "
                                                     "Closing Strata shuts them down; what "
                                                     "they wrote to their overlays is kept.",
                                                     n), n);
      else
        adw_message_dialog_format_body (ADW_MESSAGE_DIALOG (dialog),
                                        g_dngettext (GETTEXT_PACKAGE,
                                                     "%u operation is still running. Closing "
                                                     "Strata stops it; the images it was "
                                                     "writing are left as they were before.",
                                                     "%u operations are still running. "
                                                     "Closing Strata stops them; the images "
                                                     "they were writing are left as they "
                                                     "were before.", n),
                                        n);
      g_signal_connect (dialog, "response", G_CALLBACK (close_response_cb), self);
      gtk_window_present (GTK_WINDOW (dialog));
      return TRUE;
    }

  if (!gtk_window_is_maximized (window))
    {
      int width, height;

      gtk_window_get_default_size (window, &width, &height);
      g_settings_set_int (self->settings, "window-width", width);
      g_settings_set_int (self->settings, "window-height", height);
    }
  g_settings_set_boolean (self->settings, "window-maximized", gtk_window_is_maximized (window));

  return GTK_WINDOW_CLASS (strata_window_parent_class)->close_request (window);
}

/* STRATA_BENCHMARK=1: say when the graph is first fully drawn with the whole library, with
 * the memory in use, and quit (tests/app/bench-startup.sh reads it). */
static void
benchmark_after_paint_cb (GdkFrameClock *clock,
                          StrataWindow  *self)
{
  GListModel *nodes = strata_library_get_nodes (self->library);
  static gboolean settled;
  g_autofree char *status = NULL;
  const char *rss;

  if (strata_library_get_scanning (self->library) || g_list_model_get_n_items (nodes) == 0
      || self->summary_idle != 0 || !gtk_widget_get_mapped (self->graph))
    {
      settled = FALSE;
      return;
    }
  /* The frame after the one that found the library complete has laid it all out. */
  if (!settled)
    {
      settled = TRUE;
      gtk_widget_queue_draw (self->graph);
      return;
    }
  g_signal_handlers_disconnect_by_func (clock, benchmark_after_paint_cb, self);
  if (g_file_get_contents ("/proc/self/status", &status, NULL, NULL)
      && (rss = strstr (status, "VmRSS:")) != NULL)
    g_print ("STRATA_BENCHMARK drawn %u nodes; %.*s\n", g_list_model_get_n_items (nodes),
             (int) strcspn (rss, "\n"), rss);
  g_application_quit (G_APPLICATION (gtk_window_get_application (GTK_WINDOW (self))));
}

static void
strata_window_realize (GtkWidget *widget)
{
  GTK_WIDGET_CLASS (strata_window_parent_class)->realize (widget);

  if (g_getenv ("STRATA_BENCHMARK") != NULL)
    g_signal_connect_object (gtk_widget_get_frame_clock (widget), "after-paint",
                             G_CALLBACK (benchmark_after_paint_cb), widget, 0);
}

static void
strata_window_constructed (GObject *object)
{
  StrataWindow *self = STRATA_WINDOW (object);

  G_OBJECT_CLASS (strata_window_parent_class)->constructed (object);

  gtk_window_set_default_size (GTK_WINDOW (self),
                               g_settings_get_int (self->settings, "window-width"),
                               g_settings_get_int (self->settings, "window-height"));
  if (g_settings_get_boolean (self->settings, "window-maximized"))
    gtk_window_maximize (GTK_WINDOW (self));
}

static void
strata_window_dispose (GObject *object)
{
  StrataWindow *self = STRATA_WINDOW (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->summary_idle, g_source_remove);
  if (self->library != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->library, self);
      g_signal_handlers_disconnect_by_data (strata_library_get_nodes (self->library), self);
    }
  if (self->settings != NULL)
    g_signal_handlers_disconnect_by_data (self->settings, self);
  gtk_widget_dispose_template (GTK_WIDGET (self), STRATA_TYPE_WINDOW);
  g_clear_object (&self->cancellable);

  G_OBJECT_CLASS (strata_window_parent_class)->dispose (object);
}

static void
strata_window_finalize (GObject *object)
{
  StrataWindow *self = STRATA_WINDOW (object);

  g_clear_object (&self->library);
  g_clear_object (&self->jobs);
  g_clear_object (&self->settings);

  G_OBJECT_CLASS (strata_window_parent_class)->finalize (object);
}

static void
strata_window_class_init (StrataWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  GtkWindowClass *window_class = GTK_WINDOW_CLASS (klass);
  const StrataNodeAction *actions;
  guint n_actions;

  object_class->constructed = strata_window_constructed;
  object_class->dispose = strata_window_dispose;
  object_class->finalize = strata_window_finalize;
  window_class->close_request = strata_window_close_request;
  widget_class->realize = strata_window_realize;

  g_type_ensure (STRATA_TYPE_CHAIN_GRAPH);
  g_type_ensure (STRATA_TYPE_DETAILS_PANE);
  g_type_ensure (STRATA_TYPE_SIDEBAR);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/strata/Strata/strata-window.ui");
#define CHILD(name) gtk_widget_class_bind_template_child (widget_class, StrataWindow, name)
  CHILD (details);
  CHILD (drop_area);
  CHILD (empty_page);
  CHILD (graph);
  CHILD (graph_scroller);
  CHILD (graph_stack);
  CHILD (header_bar);
  CHILD (main_stack);
  CHILD (open_button);
  CHILD (open_folder_button);
  CHILD (primary_menu_button);
  CHILD (samples_button);
  CHILD (scan_spinner);
  CHILD (sidebar);
  CHILD (toast_overlay);
  CHILD (window_title);
#undef CHILD

  gtk_widget_class_install_action (widget_class, "win.open", NULL, open_action_cb);
  gtk_widget_class_install_action (widget_class, "win.add-folder", NULL, add_folder_action_cb);
  gtk_widget_class_install_action (widget_class, "win.remove-folder", "s",
                                   remove_folder_action_cb);
  gtk_widget_class_install_action (widget_class, "win.show-folder", "s", show_folder_action_cb);
  gtk_widget_class_install_action (widget_class, "win.select-problems", "s",
                                   select_problems_action_cb);
  gtk_widget_class_install_action (widget_class, "win.select-node", "s", select_node_action_cb);
  gtk_widget_class_install_action (widget_class, "win.show-image", "s", show_image_action_cb);
  gtk_widget_class_install_action (widget_class, "win.zoom-in", NULL, zoom_action_cb);
  gtk_widget_class_install_action (widget_class, "win.zoom-out", NULL, zoom_action_cb);
  gtk_widget_class_install_action (widget_class, "win.zoom-fit", NULL, zoom_action_cb);
  gtk_widget_class_install_action (widget_class, "win.zoom-reset", NULL, zoom_action_cb);
  gtk_widget_class_install_action (widget_class, "win.create-samples", NULL,
                                   create_samples_action_cb);

  actions = strata_node_actions (&n_actions);
  for (guint i = 0; i < n_actions; i++)
    {
      g_autofree char *detailed = g_strconcat ("win.", actions[i].name, NULL);

      gtk_widget_class_install_action (widget_class, detailed, NULL, wizard_action_cb);
    }
}

static void
strata_window_init (StrataWindow *self)
{
  GtkEventController *scroll;

  gtk_widget_init_template (GTK_WIDGET (self));

  self->cancellable = g_cancellable_new ();
  self->settings = g_settings_new (APPLICATION_ID);
  self->library = strata_library_new ();
  self->jobs = strata_job_manager_new ();

  adw_header_bar_pack_end (ADW_HEADER_BAR (self->header_bar),
                           strata_jobs_button_new (self->jobs));

  strata_chain_graph_set_library (STRATA_CHAIN_GRAPH (self->graph), self->library);
  strata_chain_graph_set_jobs (STRATA_CHAIN_GRAPH (self->graph), self->jobs);
  strata_sidebar_set_library (STRATA_SIDEBAR (self->sidebar), self->library);
  g_signal_connect_object (self->graph, "notify::selected-node",
                           G_CALLBACK (selected_node_changed_cb), self, G_CONNECT_SWAPPED);

  g_signal_connect_object (strata_library_get_nodes (self->library), "items-changed",
                           G_CALLBACK (queue_summary), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->library, "notify::scanning",
                           G_CALLBACK (queue_summary), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->library, "node-changed",
                           G_CALLBACK (node_changed_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->library, "edge-added",
                           G_CALLBACK (update_actions), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->library, "edge-removed",
                           G_CALLBACK (update_actions), self, G_CONNECT_SWAPPED);

  g_signal_connect_object (self->settings, "changed::library-folders",
                           G_CALLBACK (sync_folders), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->settings, "changed::recursive",
                           G_CALLBACK (sync_folders), self, G_CONNECT_SWAPPED);

  scroll = gtk_event_controller_scroll_new (GTK_EVENT_CONTROLLER_SCROLL_VERTICAL);
  gtk_event_controller_set_propagation_phase (scroll, GTK_PHASE_CAPTURE);
  g_signal_connect (scroll, "scroll", G_CALLBACK (scroll_cb), self);
  gtk_widget_add_controller (self->graph_scroller, scroll);

  gtk_widget_set_visible (self->samples_button, strata_sample_images_available ());
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.create-samples",
                                 strata_sample_images_available ());

  strata_window_setup_drop (self);
  sync_folders (self);
  update_actions (self);
}
