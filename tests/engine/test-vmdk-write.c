/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-compare.h"
#include "strata-convert.h"
#include "strata-error.h"
#include "strata-image.h"
#include "strata-vmdk-write.h"
#include "convert-fixture.h"
#include "test-util.h"

#include <glib/gstdio.h>
#include <string.h>

/*
 * convert -O vmdk, judged by QEMU: every source of the matrix (made by qemu-img/qemu-io) is
 * converted to both subformats; `qemu-img check` must find the result clean, `qemu-img
 * compare` identical to the source, `qemu-img info` must show the subformat, and Strata's
 * own reader must read it back identically too. Then the descriptor (what VirtualBox and
 * VMware read), QEMU writing into a monolithicSparse output, and the ways a conversion must
 * refuse or end early without leaving anything behind.
 */

/* 40 MiB + 3 sectors: more than one grain table (32 MiB each), the last grain cut short. */
#define CONTENT_SIZE (40 * 1024 * 1024 + 1536)

/* Compressible file data, incompressible random data, zeros written explicitly, a pattern,
 * holes, and data on both sides of the first grain table's end. */
static const char *
content (void)
{
  return cf_content (CONTENT_SIZE, "-c 'write -P 0x11 32704k 128k' -c 'write -P 0x22 40M 1536'");
}

typedef struct
{
  const char *name;
  /* Shell commands making the source "%1$s" from content.raw "%2$s". */
  const char *make;
  const char *file;
} SourceKind;

static const SourceKind sources[] = {
  { "raw", "cp --sparse=always %2$s %1$s", "src.raw" },
  /* Compressed clusters, then zero clusters over data, data over compressed ones, and the
   * holes of the content left unallocated. */
  { "qcow2", "qemu-img convert -c -O qcow2 %2$s %1$s && "
    "qemu-io -f qcow2 -c 'write -z 64k 128k' -c 'write -P 0x66 1M 64k' "
    "-c 'write -z 13M 64k' %1$s >/dev/null", "src.qcow2" },
  { "vmdk", "qemu-img convert -O vmdk -o subformat=streamOptimized %2$s %1$s", "src.vmdk" },
  { "empty", "qemu-img create -q -f qcow2 %1$s 5M", "empty.qcow2" },
  /* Smaller than a sector. */
  { "tiny", "head -c 1000 /usr/bin/qemu-img > %1$s", "tiny.raw" },
  /* A whole number of sectors, not of grains; data only in the cut last grain. */
  { "odd", "truncate -s 200704 %1$s && qemu-io -f raw -c 'write -P 0x99 196608 4096' "
    "%1$s >/dev/null", "odd.raw" },
  { "chain", "qemu-img convert -O qcow2 %2$s chain-base.qcow2 && "
    "qemu-img create -q -f qcow2 -b chain-base.qcow2 -F qcow2 -o cluster_size=4k %1$s && "
    "qemu-io -f qcow2 -c 'write -P 0x33 100k 300k' -c 'write -z 1M 512k' "
    "-c 'write -P 0x45 35M 1M' %1$s >/dev/null", "chain-top.qcow2" },
};

static const char *
make_source (const SourceKind *kind)
{
  return cf_make_source (kind->file, kind->make, content ());
}

typedef struct
{
  const SourceKind   *source;
  StrataVmdkSubformat subformat;
  gboolean            compress;
} MatrixCase;

static void
assert_strata_reads_identical (const char *a,
                               const char *b)
{
  g_autoptr(GError) error = NULL;
  StrataCompareResult result;

  g_assert_true (strata_compare_sync (a, b, NULL, NULL, &result, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (result.verdict, ==, STRATA_COMPARE_IDENTICAL);
}

static void
test_matrix (gconstpointer data)
{
  const MatrixCase *mc = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(StrataImage) image = NULL;
  g_autofree char *name = NULL;
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  g_autofree char *info = NULL;
  g_autofree char *type = NULL;
  StrataConvertOptions opts;
  StrataConvertResult result;
  const char *src = make_source (mc->source);
  const char *dst;

  name = g_strdup_printf ("out-%s-%s%s.vmdk", mc->source->name,
                          strata_vmdk_subformat_name (mc->subformat), mc->compress ? "-c" : "");
  dst = tu_path (name);
  before = tu_run_ok ("cd '%s' && sha256sum %s", tu_dir (),
                      g_str_has_prefix (mc->source->name, "chain") ? "chain-*"
                                                                    : mc->source->file);

  strata_convert_options_init (&opts);
  opts.target_format = "vmdk";
  opts.vmdk.subformat = mc->subformat;
  opts.compress = mc->compress;
  opts.threads = 3; /* more workers than cores: chunks finish out of order */

  g_assert_true (strata_convert_sync (src, dst, &opts, NULL, &result, NULL, &error));
  g_assert_no_error (error);

  tu_assert_qemu_check_clean (dst);
  tu_assert_qemu_compare (src, dst);
  assert_strata_reads_identical (src, dst);

  info = tu_run_ok ("qemu-img info --output=json '%s'", dst);
  g_assert_nonnull (strstr (info, "\"format\": \"vmdk\""));
  type = g_strdup_printf ("\"create-type\": \"%s\"", strata_vmdk_subformat_name (mc->subformat));
  g_assert_nonnull (strstr (info, type));
  g_assert_nonnull (strstr (info, "\"cluster-size\": 65536"));

  image = strata_image_open (dst, NULL, STRATA_OPEN_READ_ONLY, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (strata_image_get_format (image), ==, "vmdk");
  /* VMDK sizes are whole sectors. */
  g_assert_cmpuint (strata_image_get_size (image), ==,
                    (strata_image_get_size (image) + 511) / 512 * 512);

  if (mc->source == &sources[0])
    {
      /* The zeros written at 9 MiB are not stored: QEMU sees no data there. */
      g_autofree char *map = tu_run_ok ("qemu-img map --output=json --start-offset=9M "
                                        "--max-length=2M '%s'", dst);

      g_assert_nonnull (strstr (map, "\"data\": false"));
      g_assert_null (strstr (map, "\"data\": true"));
      if (mc->subformat == STRATA_VMDK_STREAM_OPTIMIZED)
        g_assert_cmpuint (result.target_size, <, result.data_bytes * 4 / 5);
    }

  after = tu_run_ok ("cd '%s' && sha256sum %s", tu_dir (),
                     g_str_has_prefix (mc->source->name, "chain") ? "chain-*"
                                                                   : mc->source->file);
  g_assert_cmpstr (before, ==, after);
  g_unlink (dst);
}

/* A monolithicSparse output is a disk QEMU (and so VirtualBox, VMware) can go on using:
 * its grain tables exist, so writes anywhere land, and the image stays clean. */
static void
test_qemu_writes_into_output (void)
{
  g_autoptr(GError) error = NULL;
  const char *src = make_source (&sources[0]);
  const char *dst = tu_path ("writable.vmdk");
  const char *expect = tu_path ("writable-expect.raw");
  StrataConvertOptions opts;

  strata_convert_options_init (&opts);
  opts.target_format = "vmdk";
  g_assert_true (strata_convert_sync (src, dst, &opts, NULL, NULL, NULL, &error));
  g_assert_no_error (error);

  g_free (tu_run_ok ("cp --sparse=always '%s' '%s' && "
                     "for f in '%s' '%s'; do qemu-io -c 'write -P 0xab 20M 192k' "
                     "-c 'write -P 0xcd 9M 64k' -c 'write -P 0xef 38M 4k' \"$f\" >/dev/null; "
                     "done", src, expect, expect, dst));
  tu_assert_qemu_check_clean (dst);
  tu_assert_qemu_compare (expect, dst);
  assert_strata_reads_identical (expect, dst);
}

static char *
descriptor_value (const char *text,
                  const char *key)
{
  g_autofree char *pattern = g_strdup_printf ("(?m)^%s ?= ?\"?([^\"\\n]*)\"?$", key);
  g_autoptr(GRegex) re = g_regex_new (pattern, 0, 0, NULL);
  g_autoptr(GMatchInfo) match = NULL;

  if (!g_regex_match (re, text, 0, &match))
    return NULL;
  return g_match_info_fetch (match, 1);
}

static char *
read_descriptor (const char *path)
{
  /* The embedded descriptor: sector 1 on, NUL-padded. */
  return tu_run_ok ("dd if='%s' bs=512 skip=1 count=20 status=none | tr -d '\\000'", path);
}

/* What VirtualBox and VMware read from the descriptor, for each adapter: the geometry
 * qemu-img computes for the same size, the adapter, the hardware version, the identity. */
static void
test_descriptor (void)
{
  static const struct
  {
    StrataVmdkAdapter adapter;
    const char       *name;
  } adapters[] = {
    { STRATA_VMDK_ADAPTER_IDE, "ide" },
    { STRATA_VMDK_ADAPTER_LSILOGIC, "lsilogic" },
    { STRATA_VMDK_ADAPTER_BUSLOGIC, "buslogic" },
    { STRATA_VMDK_ADAPTER_LEGACY_ESX, "legacyESX" },
  };
  const char *src = tu_path ("geometry.qcow2");

  /* 3 GiB + 5 sectors: the geometry divisions do not come out even. */
  g_free (tu_run_ok ("qemu-img create -q -f qcow2 '%s' 3221228032", src));

  for (guint i = 0; i < G_N_ELEMENTS (adapters); i++)
    for (guint sf = 0; sf < 2; sf++)
      {
        g_autoptr(GError) error = NULL;
        g_autofree char *dst = g_strdup_printf ("%s/geo-%s-%u.vmdk", tu_dir (),
                                                adapters[i].name, sf);
        g_autofree char *ref = g_strdup_printf ("%s/geo-%s-%u-qemu.vmdk", tu_dir (),
                                                adapters[i].name, sf);
        g_autofree char *ours = NULL;
        g_autofree char *theirs = NULL;
        const char *keys[] = { "ddb.geometry.cylinders", "ddb.geometry.heads",
                               "ddb.geometry.sectors", "ddb.adapterType", "createType",
                               "parentCID", "ddb.virtualHWVersion" };
        StrataConvertOptions opts;

        strata_convert_options_init (&opts);
        opts.target_format = "vmdk";
        opts.vmdk.adapter = adapters[i].adapter;
        opts.vmdk.subformat = sf;
        opts.vmdk.hwversion = 7;
        g_assert_true (strata_convert_sync (src, dst, &opts, NULL, NULL, NULL, &error));
        g_assert_no_error (error);
        g_free (tu_run_ok ("qemu-img convert -O vmdk -o adapter_type=%s,hwversion=7,"
                           "subformat=%s '%s' '%s'", adapters[i].name,
                           strata_vmdk_subformat_name (sf), src, ref));

        ours = read_descriptor (dst);
        theirs = read_descriptor (ref);
        for (guint k = 0; k < G_N_ELEMENTS (keys); k++)
          {
            g_autofree char *a = descriptor_value (ours, keys[k]);
            g_autofree char *b = descriptor_value (theirs, keys[k]);

            g_assert_nonnull (b);
            if (g_strcmp0 (a, b) != 0)
              g_error ("%s: %s is \"%s\", qemu-img writes \"%s\"", dst, keys[k], a, b);
          }

        {
          g_autofree char *cid = descriptor_value (ours, "CID");
          g_autofree char *uuid = descriptor_value (ours, "ddb.uuid.image");
          g_autofree char *extent = NULL;
          g_autofree char *base = g_path_get_basename (dst);
          g_autofree char *expect_extent = g_strdup_printf ("RW 6291461 SPARSE \"%s\"", base);

          g_assert_nonnull (cid);
          g_assert_cmpuint (strlen (cid), ==, 8);
          g_assert_nonnull (uuid);
          g_assert_true (g_uuid_string_is_valid (uuid));
          /* The extent names the final file, never the temporary one. */
          g_assert_nonnull (strstr (ours, expect_extent));
        }
        tu_assert_qemu_check_clean (dst);
        g_unlink (dst);
        g_unlink (ref);
      }
}

/* As qemu-img's options say: compression needs streamOptimized. Nothing is written. */
static void
test_compress_needs_stream (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *list_before = NULL;
  g_autofree char *list_after = NULL;
  const char *src = make_source (&sources[0]);
  const char *dst = tu_path ("refused-c.vmdk");
  StrataConvertOptions opts;

  list_before = tu_list_dir (tu_dir ());
  strata_convert_options_init (&opts);
  opts.target_format = "vmdk";
  opts.compress = TRUE;
  g_assert_false (strata_convert_sync (src, dst, &opts, NULL, NULL, NULL, &error));
  g_assert_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "streamOptimized"));
  list_after = tu_list_dir (tu_dir ());
  g_assert_cmpstr (list_before, ==, list_after);
}

/* The same target safety as qcow2: the source itself is never the target. */
static void
test_refuse_source (void)
{
  g_autoptr(GError) error = NULL;
  const char *src = make_source (&sources[2]);
  g_autofree char *sum_before = tu_file_checksum (src);
  g_autofree char *sum_after = NULL;
  StrataConvertOptions opts;

  strata_convert_options_init (&opts);
  opts.target_format = "vmdk";
  opts.vmdk.subformat = STRATA_VMDK_STREAM_OPTIMIZED;
  g_assert_false (strata_convert_sync (src, src, &opts, NULL, NULL, NULL, &error));
  g_assert_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "the source image"));
  sum_after = tu_file_checksum (src);
  g_assert_cmpstr (sum_before, ==, sum_after);
}

typedef struct
{
  GCancellable *cancellable;
  guint64       done_at_cancel;
} CancelState;

static void
cancel_halfway_cb (guint64 done, guint64 total, gpointer user_data)
{
  CancelState *s = user_data;

  if (!g_cancellable_is_cancelled (s->cancellable) && done * 2 >= total)
    {
      s->done_at_cancel = done;
      g_cancellable_cancel (s->cancellable);
    }
}

static void
test_cancel_halfway (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autofree char *list_before = NULL;
  g_autofree char *list_after = NULL;
  const char *src = make_source (&sources[0]);
  const char *dst = tu_path ("cancelled.vmdk");
  CancelState state = { cancellable, 0 };
  StrataConvertOptions opts;

  list_before = tu_list_dir (tu_dir ());
  strata_convert_options_init (&opts);
  opts.target_format = "vmdk";
  opts.vmdk.subformat = STRATA_VMDK_STREAM_OPTIMIZED;
  opts.threads = 2;
  opts.progress = cancel_halfway_cb;
  opts.progress_data = &state;

  g_assert_false (strata_convert_sync (src, dst, &opts, NULL, NULL, cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpuint (state.done_at_cancel, >, 0);
  list_after = tu_list_dir (tu_dir ());
  g_assert_cmpstr (list_before, ==, list_after);
}

/* A write of the target fails half-way (both subformats): the error names the target and
 * the temporary file is gone. */
static void
test_write_error_midway (void)
{
  for (guint sf = 0; sf < 2; sf++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *list_before = NULL;
      g_autofree char *list_after = NULL;
      const char *src = make_source (&sources[0]);
      const char *dst = tu_path ("failed.vmdk");
      StrataConvertOptions opts;
      StrataIoHooks hooks = { 0 };

      list_before = tu_list_dir (tu_dir ());
      strata_convert_options_init (&opts);
      opts.target_format = "vmdk";
      opts.vmdk.subformat = sf;

      /* Past the header, descriptor and directories: among the grains. */
      hooks.fail_after_ops = 6;
      strata_io_set_hooks (&hooks);
      g_assert_false (strata_convert_sync (src, dst, &opts, NULL, NULL, NULL, &error));
      strata_io_set_hooks (NULL);

      g_assert_error (error, STRATA_ERROR, STRATA_ERROR_IO);
      g_assert_nonnull (strstr (error->message, dst));
      list_after = tu_list_dir (tu_dir ());
      g_assert_cmpstr (list_before, ==, list_after);
    }
}

/* qemu-img writes a VMDK of a 0-byte source that it then cannot open ("RW 0 SPARSE" is no
 * extent): Strata refuses it, naming the source. */
static void
test_zero_size (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *list_before = NULL;
  g_autofree char *list_after = NULL;
  const char *src = tu_path ("zero.raw");
  const char *dst = tu_path ("zero.vmdk");
  StrataConvertOptions opts;

  g_free (tu_run_ok ("truncate -s 0 '%s'", src));
  list_before = tu_list_dir (tu_dir ());
  strata_convert_options_init (&opts);
  opts.target_format = "vmdk";
  g_assert_false (strata_convert_sync (src, dst, &opts, NULL, NULL, NULL, &error));
  g_assert_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT);
  g_assert_true (g_str_has_prefix (error->message, src));
  g_assert_nonnull (strstr (error->message, "0 bytes"));
  list_after = tu_list_dir (tu_dir ());
  g_assert_cmpstr (list_before, ==, list_after);
}

/* An empty streamOptimized image from strata_vmdk_create_empty() is one QEMU appends
 * grains to (more than one grain table's worth, the last grain cut short): then QEMU finds
 * it clean and both readers see what was written. */
static void
test_empty_stream_takes_grains (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(StrataFile) file = NULL;
  const char *dst = tu_path ("empty-stream.vmdk");
  const char *expect = tu_path ("empty-stream-expect.raw");
  StrataVmdkOptions opts;
  g_autofree char *desc = NULL;

  strata_vmdk_options_init (&opts);
  opts.subformat = STRATA_VMDK_STREAM_OPTIMIZED;
  file = strata_file_open (dst, STRATA_FILE_WRITE | STRATA_FILE_CREATE, &error);
  g_assert_no_error (error);
  g_assert_true (strata_vmdk_create_empty (file, "empty-stream.vmdk", CONTENT_SIZE, &opts,
                                           &error));
  g_assert_no_error (error);
  g_clear_pointer (&file, strata_file_unref);

  desc = read_descriptor (dst);
  g_assert_nonnull (strstr (desc, "createType=\"streamOptimized\""));
  tu_assert_qemu_check_clean (dst);

  g_free (tu_run_ok ("truncate -s %d '%s' && for f in '%s' '%s'; do qemu-io -f $(case "
                     "\"$f\" in *.raw) echo raw;; *) echo vmdk;; esac) "
                     "-c 'write -P 0xab 0 128k' -c 'write -P 0xcd 33M 64k' "
                     "-c 'write -P 0xef 40M 1536' \"$f\" >/dev/null; done",
                     CONTENT_SIZE, expect, expect, dst));
  tu_assert_qemu_check_clean (dst);
  tu_assert_qemu_compare (expect, dst);
  assert_strata_reads_identical (expect, dst);
}

/* A sparse extent addresses 2^32 sectors: a larger disk is refused before anything is
 * written. */
static void
test_too_large (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *list_before = NULL;
  g_autofree char *list_after = NULL;
  const char *src = tu_path ("huge.qcow2");
  const char *dst = tu_path ("huge.vmdk");
  StrataConvertOptions opts;

  g_free (tu_run_ok ("qemu-img create -q -f qcow2 '%s' 3T", src));
  list_before = tu_list_dir (tu_dir ());
  strata_convert_options_init (&opts);
  opts.target_format = "vmdk";
  g_assert_false (strata_convert_sync (src, dst, &opts, NULL, NULL, NULL, &error));
  g_assert_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED);
  g_assert_true (g_str_has_prefix (error->message, src));
  g_assert_nonnull (strstr (error->message, "3298534883328 bytes"));
  list_after = tu_list_dir (tu_dir ());
  g_assert_cmpstr (list_before, ==, list_after);
}

int
main (int argc, char **argv)
{
  tu_init (&argc, &argv);

  for (guint i = 0; i < G_N_ELEMENTS (sources); i++)
    for (guint sf = 0; sf < 3; sf++)
      {
        MatrixCase *mc = g_new0 (MatrixCase, 1);
        g_autofree char *path = NULL;

        /* -c (the third column) only changes anything for a raw source's test: the
         * streamOptimized path is the same. */
        if (sf == 2 && i != 0)
          {
            g_free (mc);
            continue;
          }
        mc->source = &sources[i];
        mc->subformat = sf == 0 ? STRATA_VMDK_MONOLITHIC_SPARSE : STRATA_VMDK_STREAM_OPTIMIZED;
        mc->compress = sf == 2;
        path = g_strdup_printf ("/vmdk-write/matrix/%s/%s%s", sources[i].name,
                                strata_vmdk_subformat_name (mc->subformat),
                                mc->compress ? "-c" : "");
        g_test_add_data_func_full (path, mc, test_matrix, g_free);
      }

  g_test_add_func ("/vmdk-write/qemu-writes-into-output", test_qemu_writes_into_output);
  g_test_add_func ("/vmdk-write/descriptor", test_descriptor);
  g_test_add_func ("/vmdk-write/compress-needs-stream", test_compress_needs_stream);
  g_test_add_func ("/vmdk-write/refuse-source", test_refuse_source);
  g_test_add_func ("/vmdk-write/cancel-halfway", test_cancel_halfway);
  g_test_add_func ("/vmdk-write/write-error-midway", test_write_error_midway);
  g_test_add_func ("/vmdk-write/zero-size", test_zero_size);
  g_test_add_func ("/vmdk-write/too-large", test_too_large);
  g_test_add_func ("/vmdk-write/empty-stream-takes-grains", test_empty_stream_takes_grains);

  return g_test_run ();
}
