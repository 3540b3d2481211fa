/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * What happens to the name a new image is written to (create and convert): a name that a
 * running QEMU holds, a symbolic link, a device node, a protected image or any file of the
 * source (VMDK extents included) is refused and left byte for byte as it was; a replaced
 * file keeps its permission bits; a very long name works.
 */
#include "test-util.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *
make_dir (const char *name)
{
  char *dir = g_build_filename (tu_dir (), name, NULL);

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  return dir;
}

/* Runs strata-img in @dir, expects exit 1, a message containing @needle, and @file's bytes
 * unchanged. */
static void
assert_refused (const char *dir,
                const char *file,
                const char *needle,
                const char *args)
{
  g_autofree char *path = g_build_filename (dir, file, NULL);
  g_autofree char *before = tu_file_checksum (path);
  g_autofree char *after = NULL;
  g_autofree char *err = NULL;
  g_autofree char *listing_before = tu_list_dir (dir);
  g_autofree char *listing_after = NULL;
  int rc;

  rc = tu_run (NULL, &err, "cd '%s' && timeout 120 %s %s", dir, tu_strata_img (), args);
  g_assert_cmpint (rc, ==, 1);
  if (strstr (err, needle) == NULL)
    g_error ("strata-img %s: expected \"%s\" in: %s", args, needle, err);
  after = tu_file_checksum (path);
  g_assert_cmpstr (before, ==, after);
  listing_after = tu_list_dir (dir);
  g_assert_cmpstr (listing_before, ==, listing_after);
}

static void
test_target_held_by_qemu (void)
{
  g_autofree char *dir = make_dir ("held");
  TuHolder *h;

  g_free (tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 live.qcow2 2M && "
                     "qemu-io -c 'write -P 9 0 1M' live.qcow2 >/dev/null && "
                     "qemu-img create -q -f qcow2 src.qcow2 1M", dir));
  /* qemu-io keeps the image open (holding QEMU's locks) until released. */
  h = tu_hold_with_qemu_io (dir, "live.qcow2", "qcow2");

  assert_refused (dir, "live.qcow2", "holds open", "create -f raw live.qcow2 1M");
  assert_refused (dir, "live.qcow2", "holds open", "create -f qcow2 live.qcow2 1M");
  assert_refused (dir, "live.qcow2", "holds open", "convert -O qcow2 src.qcow2 live.qcow2");

  tu_holder_release (h);
}

static void
test_target_links_and_devices (void)
{
  g_autofree char *dir = make_dir ("links");

  g_free (tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 real.qcow2 1M && "
                     "ln -s real.qcow2 link.qcow2 && qemu-img create -q -f qcow2 src.qcow2 1M",
                     dir));
  assert_refused (dir, "real.qcow2", "symbolic link", "create -f qcow2 link.qcow2 1M");
  assert_refused (dir, "real.qcow2", "symbolic link", "convert -O raw src.qcow2 link.qcow2");

  if (getuid () != 0)
    {
      g_test_message ("device node cases need root");
      return;
    }
  g_free (tu_run_ok ("cd '%s' && mknod nulldev c 1 3", dir));
  assert_refused (dir, "src.qcow2", "not a regular file", "create -f raw nulldev 1M");
  assert_refused (dir, "src.qcow2", "not a regular file", "convert -O raw src.qcow2 nulldev");
}

static void
test_target_protected (void)
{
  g_autofree char *dir = make_dir ("protected");

  g_free (tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 base.qcow2 1M && "
                     "qemu-img create -q -f qcow2 src.qcow2 1M && chmod 0444 base.qcow2", dir));
  assert_refused (dir, "base.qcow2", "protect", "create -f qcow2 base.qcow2 1M");
  assert_refused (dir, "base.qcow2", "protect", "convert -O qcow2 src.qcow2 base.qcow2");
}

static void
test_target_is_source_extent (void)
{
  g_autofree char *dir = make_dir ("extents");

  g_free (tu_run_ok ("cd '%s' && qemu-img create -q -f vmdk -o subformat=monolithicFlat "
                     "v.vmdk 2M && qemu-io -f vmdk -c 'write -P 0x33 0 1M' v.vmdk >/dev/null",
                     dir));
  assert_refused (dir, "v-flat.vmdk", "part of the source", "convert -O qcow2 v.vmdk v-flat.vmdk");
  assert_refused (dir, "v-flat.vmdk", "part of the source", "convert -O raw v.vmdk v-flat.vmdk");
}

static void
test_target_keeps_mode_and_long_names (void)
{
  g_autofree char *dir = make_dir ("mode");
  g_autofree char *longname = g_strnfill (240, 'n');
  g_autofree char *path = g_build_filename (dir, "disk.qcow2", NULL);
  g_autofree char *longpath = NULL;
  g_autofree char *src = g_build_filename (dir, "src.qcow2", NULL);
  struct stat st;

  g_free (tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 disk.qcow2 1M && "
                     "chmod 0600 disk.qcow2 && qemu-img create -q -f qcow2 src.qcow2 1M && "
                     "qemu-io -c 'write -P 7 0 64k' src.qcow2 >/dev/null", dir));
  g_free (tu_run_ok ("cd '%s' && %s convert -O qcow2 src.qcow2 disk.qcow2", dir,
                     tu_strata_img ()));
  g_assert_cmpint (stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 07777, ==, 0600);
  tu_assert_qemu_compare (src, path);

  g_free (tu_run_ok ("cd '%s' && %s create -q -f qcow2 %s.qcow2 1M && "
                     "%s convert -O qcow2 src.qcow2 %s.qcow2", dir, tu_strata_img (), longname,
                     tu_strata_img (), longname));
  longpath = g_strdup_printf ("%s/%s.qcow2", dir, longname);
  tu_assert_qemu_check_clean (longpath);
}

int
main (int argc, char **argv)
{
  tu_init (&argc, &argv);

  g_test_add_func ("/targets/held-by-qemu", test_target_held_by_qemu);
  g_test_add_func ("/targets/links-and-devices", test_target_links_and_devices);
  g_test_add_func ("/targets/protected", test_target_protected);
  g_test_add_func ("/targets/source-extent", test_target_is_source_extent);
  g_test_add_func ("/targets/mode-and-long-names", test_target_keeps_mode_and_long_names);

  return g_test_run ();
}
