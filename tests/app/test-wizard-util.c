/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "strata-file.h"
#include "test-wizard-util.h"

/* Long enough for any honest run on a loaded machine; only a hang reaches it. */
#define WAIT_LIMIT_US (120 * G_USEC_PER_SEC)

void
wt_init (int *argc, char ***argv)
{
  const char *tmp = g_getenv ("STRATA_TEST_TMPDIR");

  if (tmp != NULL)
    g_mkdir_with_parents (tmp, 0755);
  tu_init (argc, argv);
  gtk_init ();
  adw_init ();
  g_object_set (gtk_settings_get_default (), "gtk-enable-animations", FALSE, NULL);
}

static gboolean
wake_cb (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

void
wt_wait (gboolean (*cond) (gpointer data),
         gpointer  data)
{
  gint64 deadline = g_get_monotonic_time () + WAIT_LIMIT_US;
  guint wake = g_timeout_add (20, wake_cb, NULL);

  while (!cond (data))
    {
      if (g_get_monotonic_time () > deadline)
        g_error ("gave up waiting (hang?)");
      g_main_context_iteration (NULL, TRUE);
    }
  g_source_remove (wake);
}

typedef struct
{
  GtkWidget  *wizard;
  const char *page;
} PageWait;

static gboolean
page_is_cb (gpointer data)
{
  PageWait *w = data;
  g_autofree char *page = NULL;

  g_object_get (w->wizard, "page", &page, NULL);
  return g_strcmp0 (page, w->page) == 0;
}

void
wt_wait_page (GtkWidget  *wizard,
              const char *page)
{
  PageWait w = { wizard, page };

  wt_wait (page_is_cb, &w);
}

static gboolean
drawn_cb (gpointer data)
{
  GtkWidget *widget = data;

  return gtk_widget_get_mapped (widget) && gtk_widget_get_width (widget) > 0;
}

static gboolean
done_cb (gpointer data)
{
  return *(gboolean *) data;
}

static void
after_paint_cb (GdkFrameClock *clock,
                gboolean      *painted)
{
  *painted = TRUE;
}

void
wt_wait_drawn (GtkWidget *widget)
{
  GdkFrameClock *clock;
  gboolean painted = FALSE;
  gulong id;

  wt_wait (drawn_cb, widget);
  /* One more frame, so that what changed last is laid out and drawn. */
  clock = gtk_widget_get_frame_clock (widget);
  id = g_signal_connect (clock, "after-paint", G_CALLBACK (after_paint_cb), &painted);
  gtk_widget_queue_draw (widget);
  gdk_frame_clock_request_phase (clock, GDK_FRAME_CLOCK_PHASE_PAINT);
  wt_wait (done_cb, &painted);
  g_signal_handler_disconnect (clock, id);
}

char *
wt_screenshot (GtkWidget  *widget,
               const char *name)
{
  const char *dir = g_getenv ("STRATA_SCREENSHOT_DIR");
  g_autofree char *file = g_strdup_printf ("%s.png", name);
  g_autoptr(GdkPaintable) paintable = NULL;
  g_autoptr(GtkSnapshot) snapshot = NULL;
  g_autoptr(GskRenderNode) node = NULL;
  g_autoptr(GdkTexture) texture = NULL;
  char *path;
  GskRenderer *renderer;
  int width, height;

  wt_wait_drawn (widget);

  path = g_build_filename (dir != NULL ? dir : ".", file, NULL);
  g_mkdir_with_parents (dir != NULL ? dir : ".", 0755);

  width = gtk_widget_get_width (widget);
  height = gtk_widget_get_height (widget);
  paintable = gtk_widget_paintable_new (widget);
  /* Right after mapping, the widget may not have a render node yet: one more frame. */
  for (guint tries = 0; node == NULL && tries < 20; tries++)
    {
      if (tries > 0)
        wt_wait_drawn (widget);
      snapshot = gtk_snapshot_new ();
      gdk_paintable_snapshot (paintable, GDK_SNAPSHOT (snapshot), width, height);
      node = gtk_snapshot_free_to_node (g_steal_pointer (&snapshot));
    }
  g_assert_nonnull (node);
  renderer = gtk_native_get_renderer (gtk_widget_get_native (widget));
  texture = gsk_renderer_render_texture (renderer, node,
                                         &GRAPHENE_RECT_INIT (0, 0, width, height));
  g_assert_true (gdk_texture_save_to_png (texture, path));
  g_test_message ("screenshot: %s", path);

  return path;
}

GtkWidget *
wt_find (GtkWidget *widget,
         GType      type)
{
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found;

      if (G_TYPE_CHECK_INSTANCE_TYPE (child, type))
        return child;
      if ((found = wt_find (child, type)) != NULL)
        return found;
    }

  return NULL;
}

GtkWidget *
wt_find_on_page (GtkWidget  *wizard,
                 const char *page,
                 GType       type)
{
  GtkWidget *stack = wt_find (wizard, GTK_TYPE_STACK);
  GtkWidget *child;

  g_assert_nonnull (stack);
  child = gtk_stack_get_child_by_name (GTK_STACK (stack), page);
  g_assert_nonnull (child);
  return wt_find (child, type);
}

GtkWidget *
wt_find_label (GtkWidget  *widget,
               const char *text)
{
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found;

      if (GTK_IS_LABEL (child) && g_strcmp0 (gtk_label_get_text (GTK_LABEL (child)), text) == 0)
        return child;
      if (GTK_IS_BUTTON (child)
          && g_strcmp0 (gtk_button_get_label (GTK_BUTTON (child)), text) == 0)
        return child;
      if ((found = wt_find_label (child, text)) != NULL)
        return found;
    }

  return NULL;
}

typedef struct
{
  const char *path;
  gboolean    read_only;
} HoldWait;

static gboolean
held_cb (gpointer data)
{
  HoldWait *w = data;
  g_autoptr(StrataFile) file = strata_file_open (w->path, STRATA_FILE_READ, NULL);

  g_assert_nonnull (file);
  /* A read-write qemu-io holds the write permission; a read-only one still unshares it. */
  return strata_file_test_conflict (file, STRATA_PERM_WRITE, STRATA_PERM_ALL);
}

GPid
wt_hold (const char *path,
         const char *format,
         gboolean    read_only)
{
  g_autoptr(GError) error = NULL;
  const char *argv[] = { "qemu-io", "-f", format, path, NULL, NULL };
  GPid pid;
  int stdin_fd;
  HoldWait w = { path, read_only };

  if (read_only)
    {
      argv[3] = "-r";
      argv[4] = path;
    }
  /* qemu-io keeps the image open while it waits for commands on its stdin; the pipe's
   * write end stays open (leaked on purpose) until the process is killed. */
  g_assert_true (g_spawn_async_with_pipes (NULL, (char **) argv, NULL,
                                           G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD
                                           | G_SPAWN_STDOUT_TO_DEV_NULL,
                                           NULL, NULL, &pid, &stdin_fd, NULL, NULL, &error));
  g_assert_no_error (error);
  wt_wait (held_cb, &w);

  return pid;
}

void
wt_release (GPid pid)
{
  kill (pid, SIGTERM);
  waitpid (pid, NULL, 0);
  g_spawn_close_pid (pid);
}

static GMutex block_mutex;
static GCond block_cond;
static char *block_needle;
static gboolean block_blocked;
static gboolean block_released;
static StrataIoHooks block_hooks;

static void
block_on_write (const char *path,
                guint64     offset,
                const void *buf,
                gsize       len,
                gpointer    data)
{
  g_mutex_lock (&block_mutex);
  if (block_needle != NULL && strstr (path, block_needle) != NULL && !block_blocked)
    {
      block_blocked = TRUE;
      g_cond_broadcast (&block_cond);
      while (!block_released)
        g_cond_wait (&block_cond, &block_mutex);
    }
  g_mutex_unlock (&block_mutex);
}

void
wt_block_first_write (const char *needle)
{
  g_mutex_lock (&block_mutex);
  g_free (block_needle);
  block_needle = g_strdup (needle);
  block_blocked = FALSE;
  block_released = FALSE;
  g_mutex_unlock (&block_mutex);

  block_hooks.on_write = block_on_write;
  strata_io_set_hooks (&block_hooks);
}

static gboolean
blocked_cb (gpointer data)
{
  gboolean blocked;

  g_mutex_lock (&block_mutex);
  blocked = block_blocked;
  g_mutex_unlock (&block_mutex);
  return blocked;
}

void
wt_wait_blocked (void)
{
  wt_wait (blocked_cb, NULL);
}

void
wt_unblock (void)
{
  g_mutex_lock (&block_mutex);
  block_released = TRUE;
  g_clear_pointer (&block_needle, g_free);
  g_cond_broadcast (&block_cond);
  g_mutex_unlock (&block_mutex);
}

char *
wt_cancel_blocked (GtkWidget *wizard)
{
  gboolean succeeded;
  char *summary = NULL;

  gtk_widget_activate_action (wizard, "wizard.cancel-job", NULL);
  wt_unblock ();
  wt_wait_page (wizard, "result");
  g_object_get (wizard, "succeeded", &succeeded, "summary", &summary, NULL);
  g_assert_false (succeeded);
  return summary;
}

char *
wt_string_prop (GtkWidget  *widget,
                const char *name)
{
  char *text = NULL;

  g_object_get (widget, name, &text, NULL);
  return text;
}

gboolean
wt_ready (GtkWidget *wizard)
{
  gboolean value;

  g_object_get (wizard, "ready", &value, NULL);
  return value;
}

gboolean
wt_inspected_cb (gpointer data)
{
  g_autofree char *text = wt_string_prop (data, "problem");

  return text == NULL || strstr (text, "Looking") == NULL;
}

guint64
wt_disk_usage (const char *path)
{
  struct stat st;

  g_assert_cmpint (g_stat (path, &st), ==, 0);
  return (guint64) st.st_blocks * 512;
}
