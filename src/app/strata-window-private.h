/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "strata-window.h"

G_BEGIN_DECLS

/* The window's instance, shared by its files (strata-window.c, strata-window-dnd.c). */
struct _StrataWindow
{
  AdwApplicationWindow  parent_instance;

  GSettings            *settings;
  StrataLibrary        *library;
  StrataJobManager     *jobs;
  GCancellable         *cancellable;
  guint                 summary_idle;
  gboolean              close_confirmed;

  GtkWidget            *details;
  GtkWidget            *drop_area;
  GtkWidget            *empty_page;
  GtkWidget            *graph;
  GtkWidget            *graph_scroller;
  GtkWidget            *graph_stack;
  GtkWidget            *header_bar;
  GtkWidget            *main_stack;
  GtkWidget            *open_button;
  GtkWidget            *open_folder_button;
  GtkWidget            *primary_menu_button;
  GtkWidget            *samples_button;
  GtkWidget            *scan_spinner;
  GtkWidget            *sidebar;
  GtkWidget            *toast_overlay;
  GtkWidget            *window_title;
};

/* strata-window-dnd.c */
void strata_window_setup_drop        (StrataWindow *self);
/* Adds the folder that holds @path to the library unless a library folder covers it. */
void strata_window_add_parent_folder (StrataWindow *self,
                                      const char   *path);
/* Opens the wizard @name on @path, or says why it cannot. */
void strata_window_open_wizard       (StrataWindow *self,
                                      const char   *name,
                                      const char   *path);

G_END_DECLS
