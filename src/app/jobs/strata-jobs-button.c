/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <glib/gi18n.h>

#include "strata-job-manager.h"
#include "strata-job-row.h"

/*
 * The header-bar jobs button is a plain GtkMenuButton whose popover lists the manager's
 * jobs in the order they started (newest first would move rows while the user reads them).
 * Each row observes its job; the manager reports a job whose state changed as a changed
 * item, which rebuilds its row.
 */

static GtkWidget *
create_row_cb (gpointer item,
               gpointer user_data)
{
  return strata_job_row_new (STRATA_JOB_MANAGER (user_data), STRATA_JOB (item));
}

static void
n_running_cb (StrataJobManager *manager,
              GParamSpec       *pspec,
              GtkMenuButton    *button)
{
  guint n = strata_job_manager_get_n_running (manager);
  g_autofree char *tooltip = NULL;

  if (n == 0)
    tooltip = g_strdup (_("No jobs running"));
  else
    tooltip = g_strdup_printf (ngettext ("%u job running", "%u jobs running", n), n);
  gtk_widget_set_tooltip_text (GTK_WIDGET (button), tooltip);
  gtk_menu_button_set_icon_name (button, n > 0 ? "emblem-synchronizing-symbolic"
                                               : "emblem-ok-symbolic");
}

/* The window that shows the button shows the success toasts too: the nearest toast overlay
 * above the header bar, unless one was set explicitly. */
static void
button_realize_cb (GtkWidget        *button,
                   StrataJobManager *manager)
{
  GtkWidget *overlay = gtk_widget_get_ancestor (button, ADW_TYPE_TOAST_OVERLAY);

  if (overlay != NULL && !strata_job_manager_has_toast_overlay (manager))
    strata_job_manager_set_toast_overlay (manager, ADW_TOAST_OVERLAY (overlay));
}

GtkWidget *
strata_jobs_button_new (StrataJobManager *manager)
{
  GtkWidget *button;
  GtkWidget *popover;
  GtkWidget *scrolled;
  GtkWidget *list;

  g_return_val_if_fail (STRATA_IS_JOB_MANAGER (manager), NULL);

  list = gtk_list_box_new ();
  gtk_list_box_set_selection_mode (GTK_LIST_BOX (list), GTK_SELECTION_NONE);
  gtk_widget_add_css_class (list, "boxed-list");
  gtk_list_box_bind_model (GTK_LIST_BOX (list), G_LIST_MODEL (manager), create_row_cb,
                           g_object_ref (manager), g_object_unref);
  gtk_accessible_update_property (GTK_ACCESSIBLE (list), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Jobs"), -1);

  scrolled = gtk_scrolled_window_new ();
  gtk_scrolled_window_set_policy (GTK_SCROLLED_WINDOW (scrolled), GTK_POLICY_NEVER,
                                  GTK_POLICY_AUTOMATIC);
  gtk_scrolled_window_set_propagate_natural_height (GTK_SCROLLED_WINDOW (scrolled), TRUE);
  gtk_scrolled_window_set_max_content_height (GTK_SCROLLED_WINDOW (scrolled), 420);
  gtk_scrolled_window_set_child (GTK_SCROLLED_WINDOW (scrolled), list);
  gtk_widget_set_margin_top (list, 6);
  gtk_widget_set_margin_bottom (list, 6);
  gtk_widget_set_margin_start (list, 6);
  gtk_widget_set_margin_end (list, 6);

  popover = gtk_popover_new ();
  gtk_popover_set_child (GTK_POPOVER (popover), scrolled);

  button = gtk_menu_button_new ();
  gtk_widget_set_name (button, "jobs-button");
  gtk_menu_button_set_popover (GTK_MENU_BUTTON (button), popover);
  gtk_accessible_update_property (GTK_ACCESSIBLE (button), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Jobs"), -1);
  g_object_bind_property (manager, "has-jobs", button, "visible", G_BINDING_SYNC_CREATE);
  g_signal_connect_object (manager, "notify::n-running", G_CALLBACK (n_running_cb), button, 0);
  n_running_cb (manager, NULL, GTK_MENU_BUTTON (button));
  g_signal_connect_object (button, "realize", G_CALLBACK (button_realize_cb), manager, 0);

  return button;
}
