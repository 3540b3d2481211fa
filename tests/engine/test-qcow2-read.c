/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-error.h"
#include "strata-image.h"
#include "test-util.h"

#include <json-glib/json-glib.h>
#include <string.h>

/*
 * Reading qcow2: images made by qemu-img/qemu-io across versions, cluster sizes, refcount
 * widths, extended L2, zlib and zstd compression and backing files, read by Strata and
 * compared byte for byte with `qemu-img convert -O raw`, block status compared with
 * `qemu-img map`. Malformed headers must give clear errors naming the file.
 */

/* Compares Strata's guest view of @name with qemu-img's raw conversion. */
static void
assert_reads_like_qemu (const char *name)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(StrataImage) image = NULL;
  g_autofree char *raw_name = g_strdup_printf ("%s.raw", name);
  g_autofree char *expected = NULL;
  g_autofree guint8 *buf = NULL;
  gsize expected_len = 0;
  guint64 size, chunk = 3 * 65536 + 4096; /* odd size: reads straddle clusters */

  g_free (tu_run_ok ("qemu-img convert -U -O raw %s %s", name, raw_name));
  g_assert_true (g_file_get_contents (tu_path (raw_name), &expected, &expected_len, NULL));

  image = strata_image_open (tu_path (name), NULL, STRATA_OPEN_READ_ONLY, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (strata_image_get_format (image), ==, "qcow2");
  size = strata_image_get_size (image);
  g_assert_cmpuint (size, ==, expected_len);

  buf = g_malloc (chunk);
  for (guint64 off = 0; off < size; off += chunk)
    {
      gsize n = MIN (chunk, size - off);

      g_assert_true (strata_image_read (image, off, n, buf, &error));
      g_assert_no_error (error);
      if (memcmp (buf, expected + off, n) != 0)
        g_error ("%s: content differs from qemu-img in [%" G_GUINT64_FORMAT ", +%"
                 G_GSIZE_FORMAT ")", name, off, n);
    }
}

/* Compares chain status with `qemu-img map --output=json`. */
static void
assert_map_like_qemu (const char *name)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(StrataImage) image = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autofree char *out = tu_run_ok ("qemu-img map -U --output=json %s", name);
  JsonArray *arr;

  g_assert_true (json_parser_load_from_data (parser, out, -1, &error));
  arr = json_node_get_array (json_parser_get_root (parser));

  image = strata_image_open (tu_path (name), NULL, STRATA_OPEN_READ_ONLY, &error);
  g_assert_no_error (error);

  for (guint i = 0; i < json_array_get_length (arr); i++)
    {
      JsonObject *o = json_array_get_object_element (arr, i);
      guint64 start = json_object_get_int_member (o, "start");
      guint64 end = start + json_object_get_int_member (o, "length");
      gboolean present = json_object_get_boolean_member (o, "present");
      gboolean data = json_object_get_boolean_member (o, "data");
      gboolean has_offset = json_object_has_member (o, "offset");
      guint64 offset = has_offset ? json_object_get_int_member (o, "offset") : 0;
      int depth = json_object_get_int_member (o, "depth");

      for (guint64 pos = start; pos < end;)
        {
          StrataChainStatus cs;

          g_assert_true (strata_image_chain_status (image, pos, end - pos, &cs, &error));
          g_assert_no_error (error);
          if ((cs.kind != STRATA_BLOCK_UNALLOCATED) != present ||
              (cs.kind == STRATA_BLOCK_DATA) != data ||
              (present && cs.depth != depth) ||
              (has_offset && data && (!cs.has_host_offset ||
                                      cs.host_offset != offset + (pos - start))) ||
              (data && !has_offset && !cs.compressed))
            g_error ("%s: status at %" G_GUINT64_FORMAT " (kind %d depth %d offset 0x%"
                     G_GINT64_MODIFIER "x compressed %d) differs from qemu-img map entry "
                     "%u:\n%s", name, pos, cs.kind, cs.depth, cs.host_offset, cs.compressed,
                     i, out);
          pos += cs.length;
        }
    }
}

static void
assert_like_qemu (const char *name)
{
  assert_reads_like_qemu (name);
  assert_map_like_qemu (name);
}

typedef struct
{
  const char *name;
  const char *opts;
  const char *compressed_write; /* whole clusters only */
} Variant;

static const Variant variants[] = {
  { "v2-64k", "compat=0.10", "4M 64k" },
  { "v3-64k", "compat=1.1", "4M 64k" },
  { "v3-512", "cluster_size=512", "4M 1k" },
  { "v3-4k-rc1", "cluster_size=4096,refcount_bits=1", "4M 8k" },
  { "v3-2m-rc64", "cluster_size=2M,refcount_bits=64", "0 2M" },
  { "v2-4k", "compat=0.10,cluster_size=4096", "4M 4k" },
  { "v3-extl2-64k", "extended_l2=on", "4M 64k" },
  { "v3-extl2-16k", "extended_l2=on,cluster_size=16k", "4M 32k" },
  { "v3-lazy-zstd", "lazy_refcounts=on,compression_type=zstd", "4M 128k" },
};

static void
test_matrix (gconstpointer data)
{
  const Variant *v = data;
  g_autofree char *base = g_strdup_printf ("%s-base.qcow2", v->name);
  g_autofree char *top = g_strdup_printf ("%s-top.qcow2", v->name);

  g_free (tu_run_ok ("qemu-img create -q -f qcow2 -o %s %s 5M", v->opts, base));
  g_free (tu_run_ok ("qemu-io -f qcow2 -c 'write -c -P 0xdd %s' -c 'write -P 0xaa 0 100k' "
                     "-c 'write -P 0xbb 300k 5k' "
                     "-c 'write -z 1M 200k' -c 'write -P 0xcc 2M 1M' -c 'discard 2304k 64k' "
                     "-c 'write -P 0xee 4600k 3k' %s",
                     v->compressed_write, base));
  assert_like_qemu (base);

  g_free (tu_run_ok ("qemu-img create -q -f qcow2 -o %s -b %s -F qcow2 %s 6M", v->opts, base,
                     top));
  g_free (tu_run_ok ("qemu-io -f qcow2 -c 'write -P 0x55 50k 20k' -c 'write -z 2200k 100k' "
                     "-c 'write -P 0x66 5200k 10k' -c 'discard 3M 128k' "
                     "-c 'write -P 0x77 1100k 1k' %s", top));
  assert_like_qemu (top);
}

static void
test_compressed (gconstpointer data)
{
  const char *opts = data;
  g_autofree char *name = g_strdup_printf ("c-%s.qcow2", opts);

  for (char *p = name; *p; p++)
    if (*p == ',' || *p == '=')
      *p = '-';

  if (!tu_file_exists (tu_path ("src.raw")))
    g_free (tu_run_ok ("(base64 -w 0 /dev/urandom | head -c 3000000; head -c 1000000 /dev/zero;"
                       " head -c 777777 /dev/urandom; base64 /dev/urandom | head -c 1500001)"
                       " > src.raw"));
  g_free (tu_run_ok ("qemu-img convert -c -O qcow2 -o %s src.raw %s", opts, name));
  assert_like_qemu (name);
}

static const char *compressed_opts[] = {
  "compression_type=zlib",
  "compression_type=zstd",
  "compression_type=zlib,cluster_size=4096",
  "compression_type=zstd,cluster_size=2M",
  "compression_type=zlib,cluster_size=512",
  "compression_type=zstd,extended_l2=on",
};

static void
test_info (void)
{
  g_autoptr(GError) error = NULL;
  const char *cmds[] = {
    "qemu-img create -q -f qcow2 -o compat=0.10 i-v2.qcow2 1G",
    "qemu-img create -q -f qcow2 i-v3.qcow2 1G",
    "qemu-img create -q -f qcow2 -o lazy_refcounts=on,extended_l2=on,compression_type=zstd,"
    "refcount_bits=8 i-lazy.qcow2 1G",
    "qemu-img create -q -f qcow2 i-bitmaps.qcow2 64M && qemu-img bitmap --add i-bitmaps.qcow2 b1 "
    "&& qemu-img bitmap --add -g 128k --disable i-bitmaps.qcow2 second",
    "qemu-img create -q -f qcow2 -o cluster_size=2M,refcount_bits=64 i-2m.qcow2 1T",
    "qemu-img create -q -f qcow2 -o data_file=zd.raw,data_file_raw=on i-datafile.qcow2 1M",
  };

  for (guint i = 0; i < G_N_ELEMENTS (cmds); i++)
    {
      g_autoptr(StrataImage) image = NULL;
      g_autoptr(StrataImageInfo) info = NULL;
      g_autoptr(JsonParser) parser = json_parser_new ();
      g_autoptr(JsonNode) ours = NULL;
      g_autoptr(JsonGenerator) gen = json_generator_new ();
      g_autofree char *name = g_strndup (strstr (cmds[i], "i-"),
                                         strcspn (strstr (cmds[i], "i-"), " "));
      g_autofree char *out = NULL;
      g_autofree char *ours_str = NULL;
      JsonObject *root;
      JsonNode *data;

      g_free (tu_run_ok ("%s", cmds[i]));
      out = tu_run_ok ("qemu-img info --output=json %s", name);
      g_assert_true (json_parser_load_from_data (parser, out, -1, &error));
      root = json_node_get_object (json_parser_get_root (parser));
      data = json_object_get_member (json_object_get_object_member (root, "format-specific"),
                                     "data");

      image = strata_image_open (tu_path (name), NULL, 0, &error);
      g_assert_no_error (error);
      info = strata_image_get_info (image, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (info->cluster_size, ==, json_object_get_int_member (root, "cluster-size"));
      g_assert_cmpuint (info->virtual_size, ==, json_object_get_int_member (root, "virtual-size"));
      g_assert_true (info->has_dirty_flag);
      g_assert_false (info->dirty_flag);

      /* Same keys, same values, same JSON types. */
      ours = json_gvariant_serialize (info->format_specific);
      json_generator_set_root (gen, ours);
      ours_str = json_generator_to_data (gen, NULL);
      if (!json_node_equal (ours, data))
        g_error ("%s: format-specific data differs:\nours: %s\nqemu: %s", name, ours_str, out);
    }
}

/* Patches bytes of a fresh image and expects a clear error naming the file. */
typedef struct
{
  const char *name;
  const char *create;   /* qemu-img create options */
  const char *patch;    /* shell command run on $F */
  gboolean    on_read;  /* the error shows when reading, not when opening */
  int         code;
} Malformed;

/* Python one-liners that overwrite the first L1 entry or the first L2 entry. */
#define PATCH_PY "python3 -c 'import struct,sys; f=open(sys.argv[1],\"r+b\"); " \
  "g=lambda o: struct.unpack(\">Q\", (f.seek(o), f.read(8))[1])[0] & 0xfffffffffffe00; "
#define PATCH_L1(v) PATCH_PY "f.seek(g(40)); f.write(struct.pack(\">Q\", " v "))' $F"
#define PATCH_L2(v) PATCH_PY "f.seek(g(g(40))); f.write(struct.pack(\">Q\", " v "))' $F"

static const Malformed malformed[] = {
  { "cluster-bits-8", "", "printf '\\000\\000\\000\\010' | dd of=$F bs=1 seek=20 conv=notrunc",
    FALSE, STRATA_ERROR_CORRUPT },
  { "cluster-bits-22", "", "printf '\\000\\000\\000\\026' | dd of=$F bs=1 seek=20 conv=notrunc",
    FALSE, STRATA_ERROR_CORRUPT },
  { "version-1", "", "printf '\\000\\000\\000\\001' | dd of=$F bs=1 seek=4 conv=notrunc",
    FALSE, STRATA_ERROR_UNSUPPORTED },
  { "version-4", "", "printf '\\000\\000\\000\\004' | dd of=$F bs=1 seek=4 conv=notrunc", FALSE,
    STRATA_ERROR_UNSUPPORTED },
  { "header-length", "", "printf '\\000\\000\\000\\144' | dd of=$F bs=1 seek=100 conv=notrunc",
    FALSE, STRATA_ERROR_CORRUPT },
  { "refcount-order", "", "printf '\\000\\000\\000\\007' | dd of=$F bs=1 seek=96 conv=notrunc",
    FALSE, STRATA_ERROR_CORRUPT },
  { "l1-huge", "", "printf '\\020\\000\\000\\000' | dd of=$F bs=1 seek=36 conv=notrunc", FALSE,
    STRATA_ERROR_CORRUPT },
  { "l1-past-eof", "", "printf '\\000\\000\\000\\100' | dd of=$F bs=1 seek=40 conv=notrunc",
    FALSE, STRATA_ERROR_CORRUPT },
  { "reftable-huge", "", "printf '\\000\\001\\000\\000' | dd of=$F bs=1 seek=56 conv=notrunc",
    FALSE, STRATA_ERROR_CORRUPT },
  { "reftable-unaligned", "",
    "printf '\\000\\001\\002\\000' | dd of=$F bs=1 seek=52 conv=notrunc", FALSE,
    STRATA_ERROR_CORRUPT },
  { "backing-too-long", "", "printf '\\000\\000\\002\\000\\000\\000\\010\\000' | "
    "dd of=$F bs=1 seek=12 conv=notrunc", FALSE, STRATA_ERROR_CORRUPT },
  { "unknown-incompat", "", "printf '\\004' | dd of=$F bs=1 seek=78 conv=notrunc", FALSE,
    STRATA_ERROR_UNSUPPORTED },
  { "extl2-small-clusters", "cluster_size=4096",
    "printf '\\020' | dd of=$F bs=1 seek=79 conv=notrunc", FALSE, STRATA_ERROR_CORRUPT },
  { "truncated", "", "truncate -s 60 $F", FALSE, STRATA_ERROR_CORRUPT },
  { "truncated-tables", "", "truncate -s 70000 $F", FALSE, STRATA_ERROR_CORRUPT },
  /* The L1 entry of the written data points past the end of the file. */
  { "l2-past-eof", "", PATCH_L1 ("0x8000000010000000"), TRUE, STRATA_ERROR_CORRUPT },
  /* The L2 entry of the first cluster gets an unaligned offset. */
  { "data-unaligned", "", PATCH_L2 ("0x8000000000050200"), TRUE, STRATA_ERROR_CORRUPT },
  { "data-past-eof", "", PATCH_L2 ("0x8000001000000000"), TRUE, STRATA_ERROR_CORRUPT },
  { "reserved-bits", "", PATCH_L2 ("0x8000000000050002"), TRUE, STRATA_ERROR_CORRUPT },
  { "compressed-garbage", "", PATCH_L2 ("0x4000000000030000"), TRUE, STRATA_ERROR_CORRUPT },
  { "compressed-past-eof", "", PATCH_L2 ("0x4000000100000000"), TRUE, STRATA_ERROR_CORRUPT },
};

static void
test_malformed (gconstpointer data)
{
  const Malformed *m = data;
  g_autoptr(GError) error = NULL;
  g_autofree char *name = g_strdup_printf ("bad-%s.qcow2", m->name);
  StrataImage *image;

  g_free (tu_run_ok ("qemu-img create -q -f qcow2 %s%s %s 1M && "
                     "qemu-io -f qcow2 -c 'write -P 0x42 0 64k' %s >/dev/null",
                     *m->create ? "-o " : "", m->create, name, name));
  g_free (tu_run_ok ("F=%s; ( %s ) 2>/dev/null", name, m->patch));

  image = strata_image_open (tu_path (name), "qcow2", STRATA_OPEN_READ_ONLY, &error);
  if (m->on_read)
    {
      guint8 buf[4096];

      g_assert_no_error (error);
      g_assert_nonnull (image);
      g_assert_false (strata_image_read (image, 0, sizeof buf, buf, &error));
      strata_image_unref (image);
    }
  else
    g_assert_null (image);

  g_assert_error (error, STRATA_ERROR, m->code);
  g_assert_nonnull (strstr (error->message, name));
  if (g_test_verbose ())
    g_printerr ("%s\n", error->message);

  /* Probing must not fall back to raw either. */
  if (!m->on_read)
    {
      g_clear_error (&error);
      image = strata_image_open (tu_path (name), NULL, STRATA_OPEN_READ_ONLY, &error);
      g_assert_null (image);
      g_assert_nonnull (error);
    }
}


/* Random byte flips in the metadata: errors are fine, crashes and hangs are not. */
static void
test_fuzz (gconstpointer data)
{
  const char *opts = data;
  g_autoptr(GRand) rand = g_rand_new_with_seed (g_str_hash (opts));
  g_autofree char *orig_name = g_strdup_printf ("fuzz-%08x.qcow2", g_str_hash (opts));
  g_autofree guint8 *orig = NULL;
  g_autofree guint8 *buf = g_malloc (1 << 20);
  gsize len;

  g_free (tu_run_ok ("qemu-img create -q -f qcow2 -o %s %s 8M && qemu-io -f qcow2 "
                     "-c 'write -c -P 0x33 0 64k' -c 'write -P 0x11 100k 300k' "
                     "-c 'write -z 1M 64k' -c 'write -P 0x22 3M 5k' %s >/dev/null",
                     opts, orig_name, orig_name));
  g_assert_true (g_file_get_contents (tu_path (orig_name), (char **) &orig, &len, NULL));

  for (guint iter = 0; iter < 300; iter++)
    {
      g_autofree guint8 *copy = g_memdup2 (orig, len);
      g_autoptr(GError) error = NULL;
      g_autoptr(StrataImage) image = NULL;
      const char *path = tu_path ("fuzzed.qcow2");
      guint flips = g_rand_int_range (rand, 1, 9);
      guint64 size;

      for (guint f = 0; f < flips; f++)
        {
          /* Mostly the header and first tables, sometimes anywhere. */
          gsize at = g_rand_boolean (rand) ? g_rand_int_range (rand, 0, MIN (len, 512))
                                           : g_rand_int_range (rand, 0, len);

          copy[at] ^= 1 << g_rand_int_range (rand, 0, 8);
        }
      g_assert_true (g_file_set_contents_full (path, (char *) copy,
                                               g_rand_int_range (rand, 0, 8)
                                               ? len : g_rand_int_range (rand, 0, len),
                                               G_FILE_SET_CONTENTS_NONE, 0644, NULL));

      image = strata_image_open (path, NULL, STRATA_OPEN_READ_ONLY | STRATA_OPEN_NO_BACKING,
                                 &error);
      if (image == NULL)
        {
          g_assert_nonnull (error);
          continue;
        }
      strata_image_info_free (strata_image_get_info (image, NULL));
      size = MIN (strata_image_get_size (image), 64 << 20);
      for (guint64 off = 0; off < size; off += 1 << 20)
        {
          StrataBlockStatus bs;

          if (!strata_image_read (image, off, MIN (1 << 20, size - off), buf, &error))
            {
              g_assert_nonnull (strstr (error->message, "fuzzed.qcow2"));
              break;
            }
          if (!strata_image_block_status (image, off, MIN (1 << 20, size - off), &bs, &error))
            break;
        }
    }
}

int
main (int argc, char **argv)
{
  tu_init (&argc, &argv);

  for (guint i = 0; i < G_N_ELEMENTS (variants); i++)
    {
      g_autofree char *path = g_strdup_printf ("/qcow2/read/%s", variants[i].name);

      g_test_add_data_func (path, &variants[i], test_matrix);
    }
  for (guint i = 0; i < G_N_ELEMENTS (compressed_opts); i++)
    {
      g_autofree char *path = g_strdup_printf ("/qcow2/read/compressed/%u", i);

      g_test_add_data_func (path, compressed_opts[i], test_compressed);
    }
  g_test_add_func ("/qcow2/info", test_info);
  g_test_add_data_func ("/qcow2/fuzz/4k", "cluster_size=4k", test_fuzz);
  g_test_add_data_func ("/qcow2/fuzz/extl2-zstd", "extended_l2=on,cluster_size=16k,"
                        "compression_type=zstd", test_fuzz);
  g_test_add_data_func ("/qcow2/fuzz/v2-512", "compat=0.10,cluster_size=512", test_fuzz);
  for (guint i = 0; i < G_N_ELEMENTS (malformed); i++)
    {
      g_autofree char *path = g_strdup_printf ("/qcow2/malformed/%s", malformed[i].name);

      g_test_add_data_func (path, &malformed[i], test_malformed);
    }

  return g_test_run ();
}
