/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-error.h"
#include "strata-image.h"
#include "strata-job.h"
#include "test-util.h"

#include <string.h>

static void
test_backing_name_resolution (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *a = strata_resolve_backing_name ("dir/top.qcow2", "base.qcow2", &error);
  g_autofree char *b = strata_resolve_backing_name ("top.qcow2", "base.qcow2", &error);
  g_autofree char *c = strata_resolve_backing_name ("/x/top.qcow2", "/abs/base.raw", &error);
  char *d;

  g_assert_no_error (error);
  g_assert_cmpstr (a, ==, "dir/base.qcow2");
  g_assert_cmpstr (b, ==, "base.qcow2");
  g_assert_cmpstr (c, ==, "/abs/base.raw");

  d = strata_resolve_backing_name ("top.qcow2", "json:{\"file.filename\":\"/etc/passwd\"}",
                                   &error);
  g_assert_null (d);
  g_assert_error (error, STRATA_ERROR, STRATA_ERROR_BACKING);
  g_assert_nonnull (strstr (error->message, "top.qcow2"));
  g_clear_error (&error);

  d = strata_resolve_backing_name ("top.qcow2", "nbd://localhost/x", &error);
  g_assert_null (d);
  g_assert_error (error, STRATA_ERROR, STRATA_ERROR_BACKING);
}

static void
test_raw_read_and_status (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(StrataImage) image = NULL;
  const char *path = tu_path ("sparse.raw");
  StrataBlockStatus bs;
  guint8 buf[4096];

  g_free (tu_run_ok ("truncate -s 1M %s && printf 'hello' | dd of=%s bs=1 seek=524288 "
                     "conv=notrunc status=none", path, path));

  image = strata_image_open (path, NULL, STRATA_OPEN_READ_ONLY, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (strata_image_get_format (image), ==, "raw");
  g_assert_cmpuint (strata_image_get_size (image), ==, 1048576);

  g_assert_true (strata_image_block_status (image, 0, 1048576, &bs, &error));
  g_assert_cmpint (bs.kind, ==, STRATA_BLOCK_ZERO);
  g_assert_cmpuint (bs.length, ==, 524288);

  g_assert_true (strata_image_read (image, 524288, sizeof buf, buf, &error));
  g_assert_cmpmem (buf, 5, "hello", 5);

  g_assert_false (strata_image_read (image, 1048576 - 10, 20, buf, &error));
  g_assert_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT);
}

static void
test_missing_file (void)
{
  g_autoptr(GError) error = NULL;
  StrataImage *image = strata_image_open (tu_path ("nope.qcow2"), NULL, 0, &error);

  g_assert_null (image);
  g_assert_error (error, STRATA_ERROR, STRATA_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "nope.qcow2"));
}

static void
notify_cb (GObject *object, GParamSpec *pspec, gpointer user_data)
{
  guint *count = user_data;

  if (g_strcmp0 (pspec->name, "fraction") == 0)
    (*count)++;
}

static gpointer
job_worker (gpointer data)
{
  StrataJob *job = data;

  for (guint i = 1; i <= 1000; i++)
    strata_job_set_progress (job, i, 1000);
  strata_job_finish (job);
  return NULL;
}

static void
test_job_progress (void)
{
  g_autoptr(StrataJob) job = strata_job_new ("Test");
  GThread *thread;
  guint count = 0;

  g_signal_connect (job, "notify", G_CALLBACK (notify_cb), &count);
  thread = g_thread_new ("worker", job_worker, job);
  g_thread_join (thread);

  /* Notifications happen in the main context only, and are coalesced. */
  g_assert_cmpuint (count, ==, 0);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpuint (count, >=, 1);
  g_assert_cmpuint (count, <=, 3);
  g_assert_cmpfloat (strata_job_get_fraction (job), ==, 1.0);
}

/* strata-allocated-bytes: what qemu-img map reports as present in the top layer. */
static void
test_allocated_bytes (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(StrataImage) image = NULL;
  g_autoptr(StrataImageInfo) info = NULL;
  const char *path = tu_path ("alloc.qcow2");

  g_free (tu_run_ok ("qemu-img create -q -f qcow2 -o cluster_size=4k '%s' 1T && "
                     "qemu-io -c 'write 0 1M' -c 'write -z 5M 64k' -c 'write 500G 100k' '%s'",
                     path, path));
  image = strata_image_open (path, NULL, STRATA_OPEN_READ_ONLY, &error);
  g_assert_no_error (error);
  info = strata_image_get_info (image, &error);
  g_assert_no_error (error);
  g_assert_true (info->has_allocated_bytes);
  g_assert_cmpuint (info->allocated_bytes, ==, 1048576 + 65536 + 102400);
}

int
main (int argc, char **argv)
{
  tu_init (&argc, &argv);

  g_test_add_func ("/core/backing-name-resolution", test_backing_name_resolution);
  g_test_add_func ("/core/raw-read-and-status", test_raw_read_and_status);
  g_test_add_func ("/core/missing-file", test_missing_file);
  g_test_add_func ("/core/job-progress", test_job_progress);
  g_test_add_func ("/core/allocated-bytes", test_allocated_bytes);

  return g_test_run ();
}
