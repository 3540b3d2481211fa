/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Benchmark (not a test): how long the main loop stalls while the app's wizards do heavy
 * work. In-process GTK, as the wizard tests, the wizards driven through their wizard.*
 * actions:
 *
 *   1. the convert wizard converts SOURCE (the 1 GiB VMDK of tests/bench) to a compressed
 *      (zlib) qcow2 WORK/app.qcow2;
 *   2. the commit wizard commits an overlay of it with 76 MiB of random bytes written by
 *      qemu-io into a copy of the compressed base (mode "copy");
 *   3. the commit wizard commits a second such overlay into the compressed base itself.
 *
 * A G_PRIORITY_HIGH timeout every 5 ms records the monotonic time between its calls; any gap
 * well above 5 ms is time the main loop spent elsewhere (a stall). The frame clock of the
 * wizard's window is watched as well (frames are drawn only when something changes, so its
 * gaps are informative, not stalls). For each phase it prints the longest gap, the 99th
 * percentile, the number of gaps above 16 ms and 50 ms, and the wall time from
 * "wizard.start" to the result page, plus one line "RESULT phase seconds longest_ms" for
 * the script (tests/app/bench-stall.sh), which runs strata-img on the same input.
 *
 *   bench-stall SOURCE WORK
 */
#include <glib/gstdio.h>
#include <time.h>

#include "strata-wizards.h"
#include "test-wizard-util.h"

#define TICK_MS 5

typedef struct
{
  GArray *gaps;         /* gint64 µs between timeout calls */
  gint64  last;
  gint64  start;
  gint64  longest;      /* the longest gap, and when it ended (µs after the start) */
  gint64  longest_at;
  gint64  longest_cpu;  /* of which the main thread spent on a CPU */
  gint64  last_cpu;
  GArray *frames;       /* gint64 µs between frame-clock ticks */
  gint64  last_frame;
} Monitor;

static Monitor monitor;

static gint64
thread_cpu_time (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000;
}

static gboolean
tick_cb (gpointer data)
{
  gint64 now = g_get_monotonic_time ();
  gint64 cpu = thread_cpu_time ();

  if (monitor.gaps != NULL && monitor.last != 0)
    {
      gint64 gap = now - monitor.last;

      g_array_append_val (monitor.gaps, gap);
      if (gap > monitor.longest)
        {
          monitor.longest = gap;
          monitor.longest_at = now - monitor.start;
          monitor.longest_cpu = cpu - monitor.last_cpu;
        }
    }
  monitor.last = now;
  monitor.last_cpu = cpu;
  return G_SOURCE_CONTINUE;
}

static gboolean
frame_cb (GtkWidget     *widget,
          GdkFrameClock *clock,
          gpointer       data)
{
  gint64 now = gdk_frame_clock_get_frame_time (clock);

  if (monitor.frames != NULL && monitor.last_frame != 0)
    {
      gint64 gap = now - monitor.last_frame;

      g_array_append_val (monitor.frames, gap);
    }
  monitor.last_frame = now;
  return G_SOURCE_CONTINUE;
}

static void
monitor_start (void)
{
  monitor.gaps = g_array_new (FALSE, FALSE, sizeof (gint64));
  monitor.frames = g_array_new (FALSE, FALSE, sizeof (gint64));
  monitor.last = 0;
  monitor.last_frame = 0;
  monitor.start = g_get_monotonic_time ();
  monitor.longest = 0;
  monitor.longest_at = 0;
}

static int
cmp_gint64 (gconstpointer a,
            gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;

  return x < y ? -1 : x > y;
}

static void
monitor_report (const char *phase,
                double      seconds)
{
  GArray *g = monitor.gaps;
  GArray *f = monitor.frames;
  guint over16 = 0, over50 = 0;
  gint64 longest = 0, p99 = 0, frame_longest = 0;

  g_array_sort (g, cmp_gint64);
  for (guint i = 0; i < g->len; i++)
    {
      gint64 gap = g_array_index (g, gint64, i);

      over16 += gap > 16000;
      over50 += gap > 50000;
    }
  if (g->len > 0)
    {
      longest = g_array_index (g, gint64, g->len - 1);
      p99 = g_array_index (g, gint64, MIN (g->len - 1, (guint) (g->len * 0.99)));
    }
  for (guint i = 0; i < f->len; i++)
    frame_longest = MAX (frame_longest, g_array_index (f, gint64, i));

  g_print ("%s: %.2f s through the app; main loop (%u ticks of %d ms): longest gap %.1f ms "
           "(at %.2f s, %.1f ms of it on a CPU), p99 %.1f ms, %u gaps > 16 ms, %u > 50 ms; %u frames, longest frame gap "
           "%.1f ms\n",
           phase, seconds, g->len, TICK_MS, longest / 1000.0, monitor.longest_at / 1e6,
           monitor.longest_cpu / 1000.0,
           p99 / 1000.0, over16, over50,
           f->len, frame_longest / 1000.0);
  g_print ("RESULT %s %.3f %.1f\n", phase, seconds, longest / 1000.0);

  g_clear_pointer (&monitor.gaps, g_array_unref);
  g_clear_pointer (&monitor.frames, g_array_unref);
}

/* Iterates the main loop until @cond; no time limit (a benchmark, run by hand). */
static void
spin (gboolean (*cond) (gpointer data),
      gpointer  data)
{
  while (!cond (data))
    g_main_context_iteration (NULL, TRUE);
}

static char *
string_prop (GtkWidget  *wizard,
             const char *name)
{
  char *text = NULL;

  g_object_get (wizard, name, &text, NULL);
  return text;
}

static gboolean
ready_cb (gpointer data)
{
  gboolean ready;

  g_object_get (data, "ready", &ready, NULL);
  return ready;
}

static gboolean
result_cb (gpointer data)
{
  g_autofree char *page = string_prop (data, "page");

  return g_strcmp0 (page, "result") == 0;
}

static GtkWidget *
open_wizard (const char       *name,
             StrataJobManager *jobs,
             const char       *path)
{
  g_autoptr(GError) error = NULL;
  GtkWindow *window;

  window = strata_wizard_open (name, NULL, NULL, jobs, path, &error);
  if (window == NULL)
    g_error ("%s wizard on %s: %s", name, path, error->message);
  gtk_window_set_default_size (window, 560, 800);
  gtk_widget_add_tick_callback (GTK_WIDGET (window), frame_cb, NULL, NULL);
  return GTK_WIDGET (window);
}

/* Starts the wizard's job, measures until its result page, checks that it succeeded. */
static void
run_measured (GtkWidget  *wizard,
              const char *phase)
{
  g_autofree char *summary = NULL;
  gboolean succeeded;
  gint64 start;

  spin (ready_cb, wizard);
  monitor_start ();
  start = g_get_monotonic_time ();
  gtk_widget_activate_action (wizard, "wizard.start", NULL);
  spin (result_cb, wizard);
  monitor_report (phase, (g_get_monotonic_time () - start) / (double) G_USEC_PER_SEC);

  g_object_get (wizard, "succeeded", &succeeded, "summary", &summary, NULL);
  if (!succeeded)
    g_error ("%s failed: %s", phase, summary);
  gtk_window_destroy (GTK_WINDOW (wizard));
}

/* An overlay of @base with 76 MiB (19 × 4 MiB) of random bytes written by QEMU over the
 * guest's data: incompressible, so the commit into the compressed base does the most work. */
static char *
make_overlay (const char *work,
              const char *base,
              const char *name,
              guint       round)
{
  g_autoptr(GString) cmds = g_string_new (NULL);
  g_autofree char *noise = g_build_filename (work, "noise", NULL);
  char *path = g_build_filename (work, name, NULL);

  g_free (tu_run_ok ("qemu-img create -q -f qcow2 -b '%s' -F qcow2 '%s'", base, path));
  for (guint i = 0; i < 19; i++)
    {
      g_free (tu_run_ok ("head -c 4194304 /dev/urandom > '%s%u'", noise, i));
      g_string_append_printf (cmds, " -c 'write -s %s%u %uM 4M'", noise, i,
                              (i * 37 + round * 11) % 760 + 8);
    }
  g_free (tu_run_ok ("qemu-io -f qcow2%s '%s' >/dev/null && rm '%s'?*", cmds->str, path,
                     noise));
  return path;
}

static gboolean
inspected_cb (gpointer data)
{
  g_autofree char *text = string_prop (data, "problem");

  return text == NULL || (strstr (text, "Looking at") == NULL && strstr (text, "Reading") == NULL);
}

int
main (int argc, char **argv)
{
  g_autoptr(StrataJobManager) jobs = NULL;
  g_autofree char *target = NULL;
  g_autofree char *top1 = NULL;
  g_autofree char *top2 = NULL;
  g_autofree char *copy_name = NULL;
  GtkWidget *wizard;
  const char *source, *work;

  wt_init (&argc, &argv);
  if (argc != 3)
    {
      g_printerr ("usage: bench-stall SOURCE.vmdk WORK-FOLDER\n");
      return 2;
    }
  source = argv[1];
  work = argv[2];
  target = g_build_filename (work, "app.qcow2", NULL);
  if (g_file_test (target, G_FILE_TEST_EXISTS))
    g_error ("%s exists; give an empty work folder", target);

  jobs = strata_job_manager_new ();
  g_timeout_add_full (G_PRIORITY_HIGH, TICK_MS, tick_cb, NULL, NULL);

  /* 1. Convert, zlib (the default compression). */
  wizard = open_wizard ("convert", jobs, source);
  spin (ready_cb, wizard);
  gtk_widget_activate_action (wizard, "wizard.target-folder", "s", work);
  gtk_widget_activate_action (wizard, "wizard.target-name", "s", "app.qcow2");
  gtk_widget_activate_action (wizard, "wizard.compression", "s", "zlib");
  run_measured (wizard, "convert");
  /* Not timed, before the commits change it: QEMU judges the conversion. */
  g_free (tu_run_ok ("qemu-img compare -q '%s' '%s'", source, target));
  g_print ("convert: qemu-img compare with the source: identical\n");

  /* 2. Commit into a copy of the compressed base. */
  top1 = make_overlay (work, target, "top1.qcow2", 0);
  wizard = open_wizard ("commit", jobs, top1);
  spin (inspected_cb, wizard);
  gtk_widget_activate_action (wizard, "wizard.mode", "s", "copy");
  copy_name = string_prop (wizard, "copy-name");
  g_print ("commit-copy: into %s\n", copy_name);
  run_measured (wizard, "commit-copy");

  /* 3. Commit into the compressed base itself (top1 now reads the copy). */
  top2 = make_overlay (work, target, "top2.qcow2", 1);
  wizard = open_wizard ("commit", jobs, top2);
  spin (inspected_cb, wizard);
  gtk_widget_activate_action (wizard, "wizard.mode", "s", "base");
  run_measured (wizard, "commit-base");

  return 0;
}
