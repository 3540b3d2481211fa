/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The snapshot API (strata-snapshot.h) beyond what the differential CLI tests cover: its
 * errors, QEMU's locks, leak repair on images with snapshots, and snapshot table entries
 * written by other tools (older, shorter entries; extra data we do not know) kept intact.
 * QEMU judges every image.
 */
#include "strata-check.h"
#include "strata-error.h"
#include "strata-image.h"
#include "strata-snapshot.h"
#include "test-util.h"

#include <string.h>

static void
test_errors (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) list = NULL;
  const char *path = tu_path ("err.qcow2");
  const char *raw = tu_path ("err.raw");

  g_free (tu_run_ok ("qemu-img create -q -f qcow2 '%s' 1M && qemu-img snapshot -c s '%s' && "
                     "qemu-img create -q -f raw '%s' 1M", path, path, raw));

  g_assert_false (strata_snapshot_apply_sync (path, "nope", &error));
  g_assert_error (error, STRATA_ERROR, STRATA_ERROR_NO_SNAPSHOT);
  g_clear_error (&error);
  /* -d looks names up, not IDs. */
  g_assert_false (strata_snapshot_delete_sync (path, "1", &error));
  g_assert_error (error, STRATA_ERROR, STRATA_ERROR_NO_SNAPSHOT);
  g_clear_error (&error);
  g_assert_true (strata_snapshot_apply_sync (path, "1", &error));
  g_assert_no_error (error);

  g_assert_false (strata_snapshot_create_sync (raw, "x", &error));
  g_assert_error (error, STRATA_ERROR, STRATA_ERROR_NO_SNAPSHOTS);
  g_clear_error (&error);
  list = strata_snapshot_list_sync (raw, FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list->len, ==, 0);
  g_clear_pointer (&list, g_ptr_array_unref);

  g_assert_false (strata_snapshot_create_sync (tu_path ("gone.qcow2"), "x", &error));
  g_assert_error (error, STRATA_ERROR, STRATA_ERROR_NOT_FOUND);
  g_clear_error (&error);

  /* A running QEMU holds it: nothing changes, listing still works with force-share. */
  {
    TuHolder *holder = tu_hold_with_qemu_io (tu_dir (), "err.qcow2", "qcow2");
    g_autofree char *before = tu_file_checksum (path);
    g_autofree char *after = NULL;

    g_assert_false (strata_snapshot_create_sync (path, "x", &error));
    g_assert_error (error, STRATA_ERROR, STRATA_ERROR_LOCKED);
    g_clear_error (&error);
    list = strata_snapshot_list_sync (path, TRUE, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (list->len, ==, 1);
    tu_holder_release (holder);
    after = tu_file_checksum (path);
    g_assert_cmpstr (after, ==, before);
  }
  tu_assert_qemu_check_clean (path);
}

/* Leaks in an image with snapshots (qemu-img leaks the L1 copy when narrow refcounts run
 * out) are repaired without touching what the snapshots use. */
static void
test_repair_leaks (void)
{
  g_autoptr(GError) error = NULL;
  const char *path = tu_path ("leaky.qcow2");
  StrataCheckOptions opts = { .fix = STRATA_CHECK_FIX_LEAKS };
  StrataCheckResult r = { 0 };

  g_free (tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 -o refcount_bits=2 leaky.qcow2 1M "
                     "&& qemu-io -c 'write -P 1 0 128k' leaky.qcow2 >/dev/null && "
                     "qemu-img convert -O raw leaky.qcow2 leaky-a.raw && "
                     "qemu-img snapshot -c a leaky.qcow2 && "
                     "qemu-io -c 'write -P 2 0 64k' leaky.qcow2 >/dev/null && "
                     "qemu-img snapshot -c b leaky.qcow2 && "
                     "qemu-img convert -O raw leaky.qcow2 leaky-now.raw && "
                     "! qemu-img snapshot -c c leaky.qcow2 2>/dev/null", tu_dir ()));
  g_assert_cmpint (tu_run (NULL, NULL, "qemu-img check '%s'", path), ==, 3);

  g_assert_true (strata_check_sync (path, &opts, NULL, &r, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (r.leaks_fixed, >, 0);
  strata_check_result_clear (&r);
  tu_assert_qemu_check_clean (path);
  tu_assert_qemu_compare (path, tu_path ("leaky-now.raw"));
  /* (Not -a: with 2-bit refcounts a third reference to the shared clusters cannot be
   * counted, by qemu-img either.) */
  g_free (tu_run_ok ("cd '%s' && qemu-img convert -l snapshot.name=a -O raw leaky.qcow2 "
                     "leaky-a-now.raw", tu_dir ()));
  tu_assert_qemu_compare (tu_path ("leaky-a-now.raw"), tu_path ("leaky-a.raw"));
}

/*
 * Entries as QEMU 1.x wrote them (16 bytes of extra data: no icount) and entries with extra
 * data from some future version: shown as qemu-img shows them, and kept byte for byte when
 * Strata rewrites the table.
 */
static void
test_foreign_entries (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) list = NULL;
  const char *path = tu_path ("foreign.qcow2");
  g_autofree char *qemu_before = NULL, *qemu_after = NULL, *extra = NULL;
  const StrataSnapshotInfo *sn;

  /* Rewrites the table: entry 1 with 16 bytes of extra data, entry 2 with 40 (16 unknown
   * bytes "future!!future!!"). */
  g_free (tu_run_ok (
    "cd '%s' && qemu-img create -q -f qcow2 foreign.qcow2 1M && "
    "qemu-io -c 'write -P 1 0 64k' foreign.qcow2 >/dev/null && "
    "qemu-img snapshot -c old foreign.qcow2 && qemu-img snapshot -c new foreign.qcow2 && "
    "python3 - foreign.qcow2 <<'EOF'\n"
    "import struct, sys\n"
    "f = open(sys.argv[1], 'r+b'); h = f.read(72)\n"
    "n, off = struct.unpack('>IQ', h[60:72]); f.seek(off); t = f.read(65536)\n"
    "out = b''; p = 0\n"
    "for i in range(n):\n"
    "  p = (p + 7) & ~7\n"
    "  hd = bytearray(t[p:p + 40]); ids, ns = struct.unpack('>HH', hd[12:16])\n"
    "  ex = struct.unpack('>I', hd[36:40])[0]; e = t[p + 40:p + 40 + ex]\n"
    "  names = t[p + 40 + ex:p + 40 + ex + ids + ns]; p += 40 + ex + ids + ns\n"
    "  e = e[:16] if i == 0 else e + b'future!!future!!'\n"
    "  hd[36:40] = struct.pack('>I', len(e))\n"
    "  out += b'\\0' * (((len(out) + 7) & ~7) - len(out)) + bytes(hd) + e + names\n"
    "f.seek(off); f.write(out)\n"
    "EOF", tu_dir ()));
  qemu_before = tu_run_ok ("qemu-img info --output=json '%s' | grep -v actual-size", path);
  tu_assert_qemu_check_clean (path);

  list = strata_snapshot_list_sync (path, FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list->len, ==, 2);
  sn = list->pdata[0];
  g_assert_false (sn->has_icount);
  g_assert_cmpuint (sn->disk_size, ==, 1 << 20);
  sn = list->pdata[1];
  g_assert_true (sn->has_icount);

  /* Strata rewrites the table (a third entry), then deletes it again. */
  g_assert_true (strata_snapshot_create_sync (path, "third", &error));
  g_assert_no_error (error);
  g_assert_true (strata_snapshot_delete_sync (path, "third", &error));
  g_assert_no_error (error);
  tu_assert_qemu_check_clean (path);

  qemu_after = tu_run_ok ("qemu-img info --output=json '%s' | grep -v actual-size", path);
  /* (Strata writes the 24 bytes of extra data QEMU 7.2 writes: the old entry gains an
   * icount of -1, "none", so qemu-img shows the same as before.) */
  g_assert_cmpstr (qemu_after, ==, qemu_before);
  /* The table the header points at now: "new" kept its unknown extra data. */
  extra = tu_run_ok ("python3 - '%s' <<'EOF'\n"
                     "import struct, sys\n"
                     "f = open(sys.argv[1], 'rb'); h = f.read(72)\n"
                     "n, off = struct.unpack('>IQ', h[60:72]); f.seek(off); t = f.read(65536)\n"
                     "p = 0\n"
                     "for i in range(n):\n"
                     "  p = (p + 7) & ~7; hd = t[p:p + 40]\n"
                     "  ids, ns = struct.unpack('>HH', hd[12:16])\n"
                     "  ex = struct.unpack('>I', hd[36:40])[0]\n"
                     "  print(ex, t[p + 40 + 24:p + 40 + ex].decode())\n"
                     "  p += 40 + ex + ids + ns\n"
                     "EOF", path);
  g_assert_cmpstr (extra, ==, "24 \n40 future!!future!!\n");
  g_free (tu_run_ok ("qemu-img snapshot -a old '%s' && qemu-img snapshot -a new '%s'", path,
                     path));
  tu_assert_qemu_check_clean (path);
}

/* A COPIED flag that another tool left on shared tables (the L1 entry and the L2 entry of
 * guest cluster 0, refcount 2) does not make Strata write into the snapshot's clusters. */
static void
test_wrong_copied_flag (void)
{
  g_autoptr(GError) error = NULL;
  const char *path = tu_path ("flag.qcow2");
  StrataImage *image;
  guint8 buf[4096];

  g_free (tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 flag.qcow2 1M && "
                     "qemu-io -c 'write -P 1 0 128k' flag.qcow2 >/dev/null && "
                     "qemu-img convert -O raw flag.qcow2 flag-s.raw && "
                     "qemu-img snapshot -c s flag.qcow2 && "
                     "python3 - flag.qcow2 <<'EOF'\n"
                     "import struct, sys\n"
                     "f = open(sys.argv[1], 'r+b'); h = f.read(72)\n"
                     "l1 = struct.unpack('>Q', h[40:48])[0]\n"
                     "f.seek(l1); e = struct.unpack('>Q', f.read(8))[0] | (1 << 63)\n"
                     "f.seek(l1); f.write(struct.pack('>Q', e))\n"
                     "l2 = e & 0x00fffffffffffe00\n"
                     "f.seek(l2); d = struct.unpack('>Q', f.read(8))[0] | (1 << 63)\n"
                     "f.seek(l2); f.write(struct.pack('>Q', d))\n"
                     "EOF", tu_dir ()));
  g_assert_cmpint (tu_run (NULL, NULL, "qemu-img check '%s'", path), ==, 2);

  image = strata_image_open (path, NULL, STRATA_OPEN_WRITE, &error);
  g_assert_no_error (error);
  memset (buf, 9, sizeof buf);
  g_assert_true (strata_image_write (image, 0, sizeof buf, buf, &error));
  g_assert_no_error (error);
  g_assert_true (strata_image_close (image, &error));
  g_assert_no_error (error);
  strata_image_unref (image);

  tu_assert_qemu_check_clean (path);
  g_free (tu_run_ok ("cd '%s' && qemu-img convert -l snapshot.name=s -O raw flag.qcow2 "
                     "flag-s-now.raw && qemu-io -f raw -c 'write -P 9 0 4k' flag-s.raw "
                     ">/dev/null && qemu-img compare -q flag.qcow2 flag-s.raw && "
                     "qemu-io -f raw -c 'write -P 1 0 4k' flag-s.raw >/dev/null", tu_dir ()));
  tu_assert_qemu_compare (tu_path ("flag-s-now.raw"), tu_path ("flag-s.raw"));
}

int
main (int argc, char **argv)
{
  tu_init (&argc, &argv);
  g_test_add_func ("/snapshot/errors", test_errors);
  g_test_add_func ("/snapshot/repair-leaks", test_repair_leaks);
  g_test_add_func ("/snapshot/foreign-entries", test_foreign_entries);
  g_test_add_func ("/snapshot/wrong-copied-flag", test_wrong_copied_flag);
  return g_test_run ();
}
