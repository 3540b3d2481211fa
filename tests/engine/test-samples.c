/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-error.h"
#include "strata-image.h"
#include "strata-samples.h"
#include "test-util.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <zlib.h>

/*
 * The sample images are written by the engine alone; QEMU judges them: check clean, the
 * overlays' backing chain in `info`, every sample read identical to its expected content,
 * and the content itself recognisable (partition table, file system, text) when read back
 * through qemu-img.
 */

static guint32
le32 (const guint8 *p)
{
  return p[0] | p[1] << 8 | p[2] << 16 | (guint32) p[3] << 24;
}

static guint64
le64 (const guint8 *p)
{
  return le32 (p) | (guint64) le32 (p + 4) << 32;
}

static int
compare_names (gconstpointer a,
               gconstpointer b)
{
  return strcmp (*(const char * const *) a, *(const char * const *) b);
}

static JsonObject *
qemu_info (JsonParser *parser,
           const char *path)
{
  g_autofree char *out = tu_run_ok ("qemu-img info --output=json '%s'", path);

  g_assert_true (json_parser_load_from_data (parser, out, -1, NULL));
  return json_node_get_object (json_parser_get_root (parser));
}

/* Reads guest bytes of an image through qemu-img (not through the engine). */
static GBytes *
qemu_read (const char *image,
           guint64     offset,
           gsize       len)
{
  g_autofree char *raw = g_strdup_printf ("%s.read.raw", image);
  g_autoptr(GFile) file = NULL;
  g_autoptr(GFileInputStream) in = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = NULL;

  g_free (tu_run_ok ("qemu-img convert -O raw '%s' '%s'", image, raw));
  file = g_file_new_for_path (raw);
  in = g_file_read (file, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_seekable_seek (G_SEEKABLE (in), offset, G_SEEK_SET, NULL, &error));
  bytes = g_input_stream_read_bytes (G_INPUT_STREAM (in), len, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (bytes), ==, len);
  g_unlink (raw);
  return g_steal_pointer (&bytes);
}

static void
test_create (void)
{
  const char *dir = tu_path ("set");
  const char * const *names = strata_samples_get_names ();
  g_autoptr(GError) error = NULL;
  g_autofree char *listing = NULL;
  g_autoptr(GString) expected_listing = g_string_new (NULL);
  guint64 allocated[4] = { 0 };

  g_assert_true (strata_samples_create (dir, NULL, &error));
  g_assert_no_error (error);

  /* Exactly the sample files, no temporary file left. */
  {
    g_autoptr(GPtrArray) sorted = g_ptr_array_new ();

    for (guint i = 0; names[i] != NULL; i++)
      g_ptr_array_add (sorted, (gpointer) names[i]);
    g_ptr_array_sort (sorted, compare_names);
    for (guint i = 0; i < sorted->len; i++)
      g_string_append_printf (expected_listing, "%s%s", i ? " " : "",
                              (char *) sorted->pdata[i]);
  }
  listing = tu_list_dir (dir);
  g_assert_cmpstr (listing, ==, expected_listing->str);

  for (guint i = 0; names[i] != NULL; i++)
    {
      g_autofree char *path = g_build_filename (dir, names[i], NULL);
      g_autofree char *raw = g_strdup_printf ("%s/expected-%s.raw", tu_dir (), names[i]);
      g_autoptr(JsonParser) parser = json_parser_new ();
      JsonObject *info;
      gboolean is_vmdk = g_str_has_suffix (names[i], ".vmdk");

      tu_assert_qemu_check_clean (path);
      g_assert_true (strata_samples_write_expected_raw (names[i], raw, &error));
      g_assert_no_error (error);
      tu_assert_qemu_compare (path, raw);

      info = qemu_info (parser, path);
      g_assert_cmpstr (json_object_get_string_member (info, "format"), ==,
                       is_vmdk ? "vmdk" : "qcow2");
      if (g_str_has_prefix (names[i], "vm"))
        {
          g_assert_cmpstr (json_object_get_string_member (info, "backing-filename"), ==,
                           "debian-base.qcow2");
          g_assert_cmpstr (json_object_get_string_member (info, "backing-filename-format"), ==,
                           "qcow2");
          allocated[names[i][3] - '0'] = json_object_get_int_member (info, "actual-size");
        }
      else
        g_assert_false (json_object_has_member (info, "backing-filename"));
      if (is_vmdk)
        {
          JsonObject *fs = json_object_get_object_member (info, "format-specific");
          JsonObject *data = json_object_get_object_member (fs, "data");

          g_assert_cmpstr (json_object_get_string_member (data, "create-type"), ==,
                           "monolithicSparse");
        }

      /* The engine reads its own samples identically too. */
      g_free (tu_run_ok ("%s compare '%s' '%s'", tu_strata_img (), path, raw));
    }

  /* Different amounts written: each overlay larger than the previous one. */
  g_assert_cmpuint (allocated[1], <, allocated[2]);
  g_assert_cmpuint (allocated[2], <, allocated[3]);
  /* An overlay is not the base: it changed something (the host name at least). */
  g_assert_cmpint (tu_run (NULL, NULL, "qemu-img compare -q set/vm01.qcow2 "
                           "set/debian-base.qcow2"), ==, 1);
}

/* The content is what it claims to be, read through QEMU and checked field by field. */
static void
test_recognisable (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) head = NULL, fs = NULL, tail = NULL, app = NULL;
  const guint8 *p;
  g_autofree char *strings = NULL;
  guint64 last_lba;
  guint8 gpt[92];

  g_assert_true (strata_samples_create (tu_path ("look"), NULL, &error));
  g_assert_no_error (error);

  /* Protective MBR and GPT header with valid CRCs. */
  head = qemu_read (tu_path ("look/vm02.qcow2"), 0, 34 * 512);
  p = g_bytes_get_data (head, NULL);
  g_assert_cmpuint (p[510], ==, 0x55);
  g_assert_cmpuint (p[511], ==, 0xaa);
  g_assert_cmpuint (p[446 + 4], ==, 0xee);
  g_assert_cmpmem (p + 512, 8, "EFI PART", 8);
  memcpy (gpt, p + 512, 92);
  memset (gpt + 16, 0, 4);
  g_assert_cmpuint (crc32 (0, gpt, 92), ==, le32 (p + 512 + 16));
  g_assert_cmpuint (crc32 (0, p + 1024, 128 * 128), ==, le32 (p + 512 + 88));
  g_assert_cmpuint (le64 (p + 1024 + 32), ==, 2048); /* partition 1 starts at 1 MiB */
  last_lba = le64 (p + 512 + 32);
  g_assert_cmpuint (last_lba, ==, (1ull << 30) / 512 - 1);

  /* The backup GPT header at the last sector. */
  tail = qemu_read (tu_path ("look/vm02.qcow2"), last_lba * 512, 512);
  g_assert_cmpmem (g_bytes_get_data (tail, NULL), 8, "EFI PART", 8);

  /* An ext2 superblock at the partition. */
  fs = qemu_read (tu_path ("look/vm02.qcow2"), 1 << 20, 2048);
  p = g_bytes_get_data (fs, NULL);
  g_assert_cmpuint (p[1024 + 56], ==, 0x53);
  g_assert_cmpuint (p[1024 + 57], ==, 0xef);
  g_assert_cmpstr ((const char *) p + 1024 + 120, ==, "debian-root");

  /* Files: the base's os-release, the overlay's own host name and notes. */
  strings = tu_run_ok ("qemu-img convert -O raw look/vm02.qcow2 look/vm02.raw && "
                       "strings look/vm02.raw | grep -E '^(PRETTY_NAME|vm02$|Notes of)' | "
                       "sort -u; rm look/vm02.raw");
  g_assert_cmpstr (strings, ==,
                   "Notes of vm02\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nvm02\n");

  /* The appliance: a DOS partition table (Linux, from 1 MiB) and an ext2 file system. */
  app = qemu_read (tu_path ("look/appliance.vmdk"), 0, (1 << 20) + 2048);
  p = g_bytes_get_data (app, NULL);
  g_assert_cmpuint (p[446 + 4], ==, 0x83);
  g_assert_cmpuint (le32 (p + 446 + 8), ==, 2048);
  g_assert_cmpuint (p[(1 << 20) + 1024 + 56], ==, 0x53);
  g_assert_cmpuint (p[(1 << 20) + 1024 + 57], ==, 0xef);
}

static void
test_refuses_existing (void)
{
  const char *dir = tu_path ("existing");
  g_autoptr(GError) error = NULL;
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  g_autofree char *listing = NULL;

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_assert_true (g_file_set_contents (tu_path ("existing/vm02.qcow2"), "mine", -1, NULL));
  before = tu_file_checksum (tu_path ("existing/vm02.qcow2"));

  g_assert_false (strata_samples_create (dir, NULL, &error));
  g_assert_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "vm02.qcow2"));

  /* Nothing written, the file untouched. */
  listing = tu_list_dir (dir);
  g_assert_cmpstr (listing, ==, "vm02.qcow2");
  after = tu_file_checksum (tu_path ("existing/vm02.qcow2"));
  g_assert_cmpstr (after, ==, before);
}

static void
done_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  GError **error = user_data;

  if (strata_samples_create_finish (result, error))
    *error = (GError *) 1;
}

static GError *
run_async (const char   *dir,
           GCancellable *cancellable)
{
  GError *error = NULL;

  strata_samples_create_async (dir, cancellable, done_cb, &error);
  while (error == NULL)
    g_main_context_iteration (NULL, TRUE);
  return error == (GError *) 1 ? NULL : error;
}

static void
test_async_and_cancel (void)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *listing = NULL;

  /* Cancelled: nothing left, not even a temporary file. */
  g_cancellable_cancel (cancellable);
  error = run_async (tu_path ("cancelled"), cancellable);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  listing = tu_list_dir (tu_path ("cancelled"));
  g_assert_cmpstr (listing, ==, "");

  g_clear_error (&error);
  error = run_async (tu_path ("async"), NULL);
  g_assert_no_error (error);
  tu_assert_qemu_check_clean (tu_path ("async/vm03.qcow2"));
}

static void
test_cli (void)
{
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;

  g_free (tu_run_ok ("%s create-samples cli/new", tu_strata_img ()));
  tu_assert_qemu_check_clean (tu_path ("cli/new/vm01.qcow2"));

  /* A second run refuses, names the file, exits 1. */
  g_assert_cmpint (tu_run (&out, &err, "%s create-samples cli/new", tu_strata_img ()), ==, 1);
  g_assert_nonnull (strstr (err, "debian-base.qcow2"));
  g_assert_nonnull (strstr (err, "already exists"));
}

int
main (int argc, char **argv)
{
  tu_init (&argc, &argv);

  g_test_add_func ("/samples/create", test_create);
  g_test_add_func ("/samples/recognisable", test_recognisable);
  g_test_add_func ("/samples/refuses-existing", test_refuses_existing);
  g_test_add_func ("/samples/async-and-cancel", test_async_and_cancel);
  g_test_add_func ("/samples/cli", test_cli);
  return g_test_run ();
}
