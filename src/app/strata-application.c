/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <glib/gi18n.h>

#include "strata-application.h"
#include "strata-preferences-window.h"
#include "strata-window.h"

struct _StrataApplication
{
  AdwApplication parent_instance;
};

G_DEFINE_FINAL_TYPE (StrataApplication, strata_application, ADW_TYPE_APPLICATION)

StrataApplication *
strata_application_new (void)
{
  return g_object_new (STRATA_TYPE_APPLICATION,
                       "application-id", APPLICATION_ID,
                       "flags", G_APPLICATION_HANDLES_OPEN,
                       "resource-base-path", "/io/github/strata/Strata",
                       NULL);
}

/* There is one main window; a second launch (and `strata FILE` while running) reaches it. */
static StrataWindow *
strata_application_ensure_window (StrataApplication *self)
{
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (self));

  if (window == NULL)
    window = GTK_WINDOW (strata_window_new (self));
  return STRATA_WINDOW (window);
}

static void
strata_application_activate (GApplication *app)
{
  StrataWindow *window = strata_application_ensure_window (STRATA_APPLICATION (app));

  gtk_window_present (GTK_WINDOW (window));
}

static void
strata_application_open (GApplication  *app,
                         GFile        **files,
                         int            n_files,
                         const char    *hint)
{
  StrataWindow *window = strata_application_ensure_window (STRATA_APPLICATION (app));

  strata_window_open_files (window, files, n_files);
  gtk_window_present (GTK_WINDOW (window));
}

static void
preferences_action_cb (GSimpleAction *action,
                       GVariant      *parameter,
                       gpointer       user_data)
{
  StrataApplication *self = user_data;
  StrataWindow *window = strata_application_ensure_window (self);
  GtkWindow *prefs;

  prefs = GTK_WINDOW (strata_preferences_window_new (strata_window_get_settings (window)));
  gtk_window_set_transient_for (prefs, GTK_WINDOW (window));
  gtk_window_present (prefs);
}

static void
about_action_cb (GSimpleAction *action,
                 GVariant      *parameter,
                 gpointer       user_data)
{
  StrataApplication *self = user_data;
  const char *developers[] = { "The Strata developers", NULL };
  GtkWidget *about;

  about = g_object_new (ADW_TYPE_ABOUT_WINDOW,
                        "transient-for", gtk_application_get_active_window (GTK_APPLICATION (self)),
                        "application-name", _("Strata"),
                        "application-icon", APPLICATION_ID,
                        "developer-name", _("The Strata developers"),
                        "version", PACKAGE_VERSION,
                        "comments", _("See your virtual machine disk images and their "
                                      "copy-on-write backing chains, and convert, rebase, "
                                      "commit and protect them safely."),
                        "website", "https://github.com/strata-app/strata",
                        "issue-url", "https://github.com/strata-app/strata/issues",
                        "developers", developers,
                        "copyright", _("© 2026 The Strata developers"),
                        "license-type", GTK_LICENSE_GPL_3_0,
                        /* Translators: your names, one per line. */
                        "translator-credits", _("translator-credits"),
                        NULL);
  gtk_window_present (GTK_WINDOW (about));
}

static void
help_action_cb (GSimpleAction *action,
                GVariant      *parameter,
                gpointer       user_data)
{
  StrataApplication *self = user_data;

  gtk_show_uri (gtk_application_get_active_window (GTK_APPLICATION (self)),
                "help:io.github.strata.Strata", GDK_CURRENT_TIME);
}

static void
quit_action_cb (GSimpleAction *action,
                GVariant      *parameter,
                gpointer       user_data)
{
  StrataApplication *self = user_data;
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (self));

  /* Closing the window asks first when jobs are running; quitting goes the same way. */
  if (window != NULL)
    gtk_window_close (window);
  else
    g_application_quit (G_APPLICATION (self));
}

static const GActionEntry app_entries[] = {
  { "preferences", preferences_action_cb },
  { "about", about_action_cb },
  { "help", help_action_cb },
  { "quit", quit_action_cb },
};

static void
strata_application_startup (GApplication *app)
{
  static const struct { const char *action; const char *accels[3]; } accels[] = {
    { "app.preferences", { "<Control>comma", NULL } },
    { "app.help", { "F1", NULL } },
    { "app.quit", { "<Control>q", NULL } },
    { "window.close", { "<Control>w", NULL } },
    { "win.open", { "<Control>o", NULL } },
    { "win.add-folder", { "<Control><Shift>o", NULL } },
    { "win.zoom-in", { "<Control>plus", "<Control>equal", NULL } },
    { "win.zoom-out", { "<Control>minus", NULL } },
    { "win.zoom-fit", { "<Control>0", NULL } },
    { "win.zoom-reset", { "<Control>1", NULL } },
    { "win.run", { "<Control>r", NULL } },
  };

  G_APPLICATION_CLASS (strata_application_parent_class)->startup (app);

  g_action_map_add_action_entries (G_ACTION_MAP (app), app_entries,
                                   G_N_ELEMENTS (app_entries), app);
  for (guint i = 0; i < G_N_ELEMENTS (accels); i++)
    gtk_application_set_accels_for_action (GTK_APPLICATION (app), accels[i].action,
                                           accels[i].accels);
}

static void
strata_application_class_init (StrataApplicationClass *klass)
{
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  app_class->activate = strata_application_activate;
  app_class->open = strata_application_open;
  app_class->startup = strata_application_startup;
}

static void
strata_application_init (StrataApplication *self)
{
}
