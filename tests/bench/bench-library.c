/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The library's scan over a folder of 1,000 images: 100 bases and 900 overlays in chains up
 * to depth 5 (per base: 3 overlays at depth 1, 2 at depth 2, 2 at depth 3, 1 at 4, 1 at 5).
 * Prints the cold and warm times of strata_library_scan_sync(), of the streaming scan, and
 * the heap the model holds. Not a test; built and run by tests/bench/bench-library.sh.
 *
 * The images come from qemu-img: one base with data spread over it, one overlay; the others
 * are byte copies with the backing name (all names have the same length) patched in place.
 */
#include "strata-library.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define N_BASES 100

/* Depth of each of the 9 overlays of a base, and which earlier one (-1: the base) it uses. */
static const int overlay_parent[9] = { -1, -1, -1, 0, 1, 3, 4, 5, 7 };

static char *
base_name (guint b)
{
  return g_strdup_printf ("b%03u-0.qcow2", b);
}

static char *
overlay_name (guint b, guint k)
{
  return g_strdup_printf ("o%03u-%u.qcow2", b, k);
}

static void
run (const char *cmd)
{
  if (system (cmd) != 0)
    {
      fprintf (stderr, "failed: %s\n", cmd);
      exit (1);
    }
}

static void
write_copy (const char   *path,
            const guint8 *data,
            gsize         len)
{
  g_autoptr(GError) error = NULL;

  if (!g_file_set_contents (path, (const char *) data, len, &error))
    {
      fprintf (stderr, "%s\n", error->message);
      exit (1);
    }
}

static void
generate (const char *dir)
{
  g_autofree char *cmd = NULL;
  g_autofree char *base_path = g_build_filename (dir, "b000-0.qcow2", NULL);
  g_autofree char *tmpl_path = g_build_filename (dir, "tmpl.qcow2", NULL);
  g_autofree guint8 *base = NULL;
  g_autofree guint8 *tmpl = NULL;
  gsize base_len, tmpl_len;
  guint64 name_offset;

  g_mkdir_with_parents (dir, 0755);
  cmd = g_strdup_printf ("cd '%s' && qemu-img create -q -f qcow2 b000-0.qcow2 10G && "
                         "qemu-io -f qcow2 -c 'write -P 1 0 1M' -c 'write -P 2 3G 1M' "
                         "-c 'write -P 3 7G 1M' b000-0.qcow2 >/dev/null && "
                         "qemu-img create -q -f qcow2 -b b000-0.qcow2 -F qcow2 tmpl.qcow2",
                         dir);
  run (cmd);
  if (!g_file_get_contents (base_path, (char **) &base, &base_len, NULL) ||
      !g_file_get_contents (tmpl_path, (char **) &tmpl, &tmpl_len, NULL))
    exit (1);
  unlink (tmpl_path);

  name_offset = GUINT64_FROM_BE (*(guint64 *) (void *) (tmpl + 8));
  g_assert (name_offset + 12 <= tmpl_len && memcmp (tmpl + name_offset, "b000-0.qcow2", 12) == 0);

  for (guint b = 0; b < N_BASES; b++)
    {
      g_autofree char *name = base_name (b);
      g_autofree char *path = g_build_filename (dir, name, NULL);

      if (b > 0)
        write_copy (path, base, base_len);
      for (guint k = 0; k < 9; k++)
        {
          g_autofree char *oname = overlay_name (b, k);
          g_autofree char *opath = g_build_filename (dir, oname, NULL);
          g_autofree char *parent = overlay_parent[k] < 0 ? base_name (b)
                                                          : overlay_name (b, overlay_parent[k]);

          memcpy (tmpl + name_offset, parent, 12);
          write_copy (opath, tmpl, tmpl_len);
        }
    }
}

/* Evicts the folder's files from the page cache (only ours, not the whole machine's). */
static void
evict (const char *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      int fd = open (path, O_RDONLY);

      if (fd < 0)
        continue;
      fdatasync (fd);
      posix_fadvise (fd, 0, 0, POSIX_FADV_DONTNEED);
      close (fd);
    }
}

static double
scan_sync_once (const char *dir,
                guint      *n_nodes,
                gsize      *heap)
{
  g_autoptr(StrataLibrary) lib = NULL;
  g_autoptr(GError) error = NULL;
  struct mallinfo2 before, after;
  gint64 t0, t1;

  before = mallinfo2 ();
  t0 = g_get_monotonic_time ();
  lib = strata_library_new ();
  if (!strata_library_add_folder (lib, dir, FALSE, &error) ||
      !strata_library_scan_sync (lib, TRUE, NULL, &error))
    {
      fprintf (stderr, "%s\n", error->message);
      exit (1);
    }
  t1 = g_get_monotonic_time ();
  after = mallinfo2 ();

  *n_nodes = g_list_model_get_n_items (strata_library_get_nodes (lib));
  if (heap != NULL)
    *heap = after.uordblks > before.uordblks ? after.uordblks - before.uordblks : 0;
  if (strata_library_get_n_problems (lib) != 0 ||
      strata_library_get_n_images (lib) != N_BASES * 10)
    {
      fprintf (stderr, "unexpected model: %u images, %u problems\n",
               strata_library_get_n_images (lib), strata_library_get_n_problems (lib));
      exit (1);
    }
  return (t1 - t0) / 1e6;
}

static double
scan_async_once (const char *dir)
{
  g_autoptr(StrataLibrary) lib = strata_library_new ();
  g_autoptr(GError) error = NULL;
  gint64 t0 = g_get_monotonic_time ();

  if (!strata_library_add_folder (lib, dir, FALSE, &error))
    exit (1);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  while (strata_library_get_scanning (lib))
    g_main_context_iteration (NULL, TRUE);
  if (strata_library_get_n_images (lib) != N_BASES * 10)
    exit (1);
  return (g_get_monotonic_time () - t0) / 1e6;
}

int
main (int argc, char **argv)
{
  const char *dir = argc > 1 ? argv[1] : "/var/tmp/strata-bench-library";
  g_autofree char *probe = g_build_filename (dir, "o099-8.qcow2", NULL);
  double cold, warm = 1e9, async_warm = 1e9, async_cold;
  guint n_nodes = 0;
  gsize heap = 0;

  /* mallinfo2() counts the main arena only; workers allocate the entries the model keeps,
   * so every thread must use that arena for the count to hold them. */
  mallopt (M_ARENA_MAX, 1);

  if (!g_file_test (probe, G_FILE_TEST_EXISTS))
    {
      printf ("generating %u images in %s ...\n", N_BASES * 10, dir);
      generate (dir);
    }

  /* One warm-up so that the code itself and the dentries are in memory. */
  scan_sync_once (dir, &n_nodes, NULL);

  evict (dir);
  cold = scan_sync_once (dir, &n_nodes, NULL);
  for (int i = 0; i < 5; i++)
    warm = MIN (warm, scan_sync_once (dir, &n_nodes, i == 0 ? &heap : NULL));

  evict (dir);
  async_cold = scan_async_once (dir);
  for (int i = 0; i < 3; i++)
    {
      double t = scan_async_once (dir);

      if (g_getenv ("BENCH_VERBOSE"))
        printf ("async %.3f sync %.3f\n", t, scan_sync_once (dir, &n_nodes, NULL));
      async_warm = MIN (async_warm, t);
    }

  printf ("images            %u (nodes %u)\n", N_BASES * 10, n_nodes);
  printf ("scan_sync cold    %.3f s   (page cache of the images evicted)\n", cold);
  printf ("scan_sync warm    %.3f s   (best of 5)\n", warm);
  printf ("async scan cold   %.3f s   (add_folder until scanning is FALSE)\n", async_cold);
  printf ("async scan warm   %.3f s   (best of 3)\n", async_warm);
  printf ("model heap        %.2f MiB (malloc'd bytes held after a scan, one arena)\n",
          heap / (1024.0 * 1024.0));
  return 0;
}
