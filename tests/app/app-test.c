/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "app-test.h"

#include <glib/gstdio.h>
#include <stdlib.h>

#include "strata-library.h"

static char *scratch;

static void
remove_scratch (void)
{
  if (scratch != NULL && g_strcmp0 (g_getenv ("STRATA_TEST_KEEP"), "1") != 0)
    {
      g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", scratch);

      (void) !system (cmd);
    }
}

void
at_init (int    *argc,
         char ***argv)
{
  g_autofree char *tmpl = g_build_filename (g_get_tmp_dir (), "strata-app-XXXXXX", NULL);

  gtk_test_init (argc, argv, NULL);
  scratch = g_mkdtemp (tmpl) ? g_steal_pointer (&tmpl) : NULL;
  g_assert_nonnull (scratch);
  atexit (remove_scratch);
}

const char *
at_dir (void)
{
  return scratch;
}

char *
at_mkdir (const char *name)
{
  char *path = g_build_filename (scratch, name, NULL);

  g_assert_cmpint (g_mkdir_with_parents (path, 0755), ==, 0);
  return path;
}

void
at_sh (const char *fmt,
       ...)
{
  g_autofree char *cmd = NULL;
  g_autofree char *full = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr(GError) error = NULL;
  const char *argv[] = { "/bin/sh", "-c", NULL, NULL };
  int status = 0;
  va_list args;

  va_start (args, fmt);
  cmd = g_strdup_vprintf (fmt, args);
  va_end (args);
  full = g_strdup_printf ("cd '%s' && %s", scratch, cmd);
  argv[2] = full;
  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err,
                     &status, &error))
    g_error ("%s: %s", cmd, error->message);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("%s failed: %s", cmd, err);
}

StrataWindow *
at_window_new (void)
{
  static StrataApplication *app;
  g_autoptr(GSettings) settings = g_settings_new ("io.github.strata.Strata");
  StrataWindow *window;

  /* One application for the whole program (it is exported on the bus once), a fresh
   * window and fresh settings for every test. */
  if (app == NULL)
    {
      g_autoptr(GError) error = NULL;

      app = strata_application_new ();
      g_application_set_flags (G_APPLICATION (app),
                               G_APPLICATION_HANDLES_OPEN | G_APPLICATION_NON_UNIQUE);
      g_application_register (G_APPLICATION (app), NULL, &error);
      g_assert_no_error (error);
    }
  g_settings_reset (settings, "library-folders");
  g_settings_reset (settings, "recursive");
  window = strata_window_new (app);
  gtk_window_set_default_size (GTK_WINDOW (window), 1280, 800);
  gtk_window_present (GTK_WINDOW (window));
  return window;
}

static gboolean
is_gone (gpointer data)
{
  return *(gpointer *) data == NULL;
}

void
at_window_destroy (StrataWindow *window)
{
  gpointer weak = window;

  g_object_add_weak_pointer (G_OBJECT (window), &weak);
  gtk_window_destroy (GTK_WINDOW (window));
  at_wait_until (is_gone, &weak, "the window to be finalized");
}

void
at_wait_until (gboolean  (*check) (gpointer data),
               gpointer    data,
               const char *what)
{
  gint64 deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;

  while (!check (data))
    {
      if (g_get_monotonic_time () > deadline)
        g_error ("Gave up waiting for %s", what);
      g_main_context_iteration (NULL, FALSE);
      if (!g_main_context_pending (NULL))
        g_usleep (2000);
    }
}

typedef struct
{
  StrataWindow *window;
  guint         quiet;
} Settle;

static gboolean
settled (gpointer data)
{
  Settle *settle = data;
  StrataLibrary *library = strata_window_get_library (settle->window);

  /* Quiet for a few iterations in a row once the scan is over: idle work is done. */
  if (strata_library_get_scanning (library) || g_main_context_pending (NULL))
    settle->quiet = 0;
  else
    settle->quiet++;
  return settle->quiet > 20;
}

void
at_settle (StrataWindow *window)
{
  Settle settle = { window, 0 };

  at_wait_until (settled, &settle, "the library to settle");
}

GtkWidget *
at_find_label (GtkWidget  *root,
               const char *text)
{
  if (!gtk_widget_get_mapped (root))
    return NULL;
  if (GTK_IS_LABEL (root))
    {
      /* A no-break space reads as a space (sizes, lines that must not break). */
      g_auto(GStrv) words = g_strsplit (gtk_label_get_text (GTK_LABEL (root)), "\u00a0", -1);
      g_autofree char *shown = g_strjoinv (" ", words);

      if (strstr (shown, text) != NULL)
        return root;
    }
  for (GtkWidget *child = gtk_widget_get_first_child (root);
       child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = at_find_label (child, text);

      if (found != NULL)
        return found;
    }
  return NULL;
}

GtkWidget *
at_find_widget (GtkWidget *root,
                GType      type)
{
  if (!gtk_widget_get_mapped (root))
    return NULL;
  if (g_type_is_a (G_OBJECT_TYPE (root), type))
    return root;
  for (GtkWidget *child = gtk_widget_get_first_child (root);
       child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = at_find_widget (child, type);

      if (found != NULL)
        return found;
    }
  return NULL;
}

void
at_screenshot (GtkWidget  *widget,
               const char *name)
{
  g_autoptr(GdkPaintable) paintable = gtk_widget_paintable_new (widget);
  g_autoptr(GtkSnapshot) snapshot = gtk_snapshot_new ();
  g_autoptr(GskRenderNode) node = NULL;
  g_autoptr(GdkTexture) texture = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *file = NULL;
  g_autofree char *png = g_strconcat (name, ".png", NULL);
  GskRenderer *renderer = gtk_native_get_renderer (gtk_widget_get_native (widget));
  int width = gtk_widget_get_width (widget);
  int height = gtk_widget_get_height (widget);

  g_assert_cmpint (width, >, 0);
  gdk_paintable_snapshot (paintable, GDK_SNAPSHOT (snapshot), width, height);
  node = gtk_snapshot_free_to_node (g_steal_pointer (&snapshot));
  g_assert_nonnull (node);
  texture = gsk_renderer_render_texture (renderer, node,
                                         &GRAPHENE_RECT_INIT (0, 0, width, height));
  dir = g_build_filename (g_getenv ("STRATA_SCREENSHOT_DIR") != NULL
                          ? g_getenv ("STRATA_SCREENSHOT_DIR") : ".", NULL);
  g_mkdir_with_parents (dir, 0755);
  file = g_build_filename (dir, png, NULL);
  g_assert_true (gdk_texture_save_to_png (texture, file));
  g_test_message ("screenshot: %s", file);
}
