/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-create.h"
#include "strata-error.h"
#include "strata-image.h"
#include "test-util.h"

#include <json-glib/json-glib.h>
#include <string.h>

/*
 * qcow2 creation: every option combination must pass `qemu-img check` and give the same
 * `qemu-img info` as qemu-img's own create with the same options.
 */

static char *
info_without_volatile_keys (const char *name)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(JsonGenerator) gen = json_generator_new ();
  g_autofree char *out = tu_run_ok ("qemu-img info -U --output=json %s", name);
  JsonObject *o;

  g_assert_true (json_parser_load_from_data (parser, out, -1, NULL));
  o = json_node_get_object (json_parser_get_root (parser));
  json_object_remove_member (o, "filename");
  json_object_remove_member (o, "actual-size");
  json_generator_set_root (gen, json_parser_get_root (parser));
  json_generator_set_pretty (gen, TRUE);
  return json_generator_to_data (gen, NULL);
}

typedef struct
{
  const char *opts;
  const char *size;  /* NULL: taken from the backing */
  const char *qemu_extra; /* qemu-img needs the backing format Strata probes */
} CreateCase;

static const CreateCase cases[] = {
  { "", "1G" },
  { "compat=0.10", "1G" },
  { "compat=v2,cluster_size=4k", "100M" },
  { "compat=v3,cluster_size=512,refcount_bits=1", "64M" },
  { "cluster_size=2M,refcount_bits=64", "10G" },
  { "refcount_bits=8,lazy_refcounts=on", "1G" },
  { "refcount_bits=2", "3G" },
  { "refcount_bits=4,cluster_size=1k", "1G" },
  { "refcount_bits=32,compression_type=zstd", "5G" },
  { "extended_l2=on", "1T" },
  { "extended_l2=on,cluster_size=16k,compression_type=zstd", "12345678" },
  { "size=20M", NULL },
  { "cluster_size=512", "16G" },
  { "cluster_size=4k,refcount_bits=1", "512G" },
  { "backing_file=base.qcow2,backing_fmt=qcow2", NULL },
  { "backing_file=base.qcow2", "2G", ",backing_fmt=qcow2" },
  { "backing_file=base.raw", NULL, ",backing_fmt=raw" },
  { "compat=0.10,backing_file=base.qcow2,backing_fmt=qcow2", "1G" },
  { "backing_file=base.qcow2,,extra,backing_fmt=raw", NULL },
  { "", "0" },
  { "", "1" },
  { "cluster_size=512", "511" },
};

static void
test_create (gconstpointer data)
{
  const CreateCase *c = data;
  g_autoptr(GError) error = NULL;
  StrataCreateOptions opts;
  g_autofree char *ours = g_strdup_printf ("ours-%p.qcow2", (void *) c);
  g_autofree char *theirs = g_strdup_printf ("theirs-%p.qcow2", (void *) c);
  g_autofree char *info_ours = NULL;
  g_autofree char *info_theirs = NULL;

  if (!tu_file_exists (tu_path ("base.qcow2")))
    g_free (tu_run_ok ("qemu-img create -q -f qcow2 base.qcow2 300M && "
                       "qemu-img create -q -f raw base.raw 7M && "
                       "qemu-img create -q -f raw 'base.qcow2,extra' 9M"));

  strata_create_options_init (&opts);
  g_assert_true (strata_create_options_parse (&opts, c->opts, &error));
  g_assert_no_error (error);
  if (c->size != NULL)
    {
      g_autofree char *o = g_strdup_printf ("size=%s", c->size);

      g_assert_true (strata_create_options_parse (&opts, o, &error));
    }

  g_assert_true (strata_create_qcow2 (tu_path (ours), &opts, &error));
  g_assert_no_error (error);

  g_free (tu_run_ok ("qemu-img create -q -f qcow2 %s%s%s%s %s %s", *c->opts ? "-o '" : "",
                     c->opts, c->qemu_extra ? c->qemu_extra : "", *c->opts ? "'" : "",
                     theirs, c->size ? c->size : ""));

  tu_assert_qemu_check_clean (tu_path (ours));
  info_ours = info_without_volatile_keys (ours);
  info_theirs = info_without_volatile_keys (theirs);
  g_assert_cmpstr (info_ours, ==, info_theirs);

  /* Strata reads back what it wrote as QEMU does. */
  tu_assert_qemu_compare (tu_path (ours), tu_path (theirs));
}

static void
test_bad_options (void)
{
  const char *bad[] = {
    "cluster_size=1000", "cluster_size=4M", "refcount_bits=3", "refcount_bits=128",
    "compat=0.9", "compat=0.10,lazy_refcounts=on", "compat=0.10,extended_l2=on",
    "extended_l2=on,cluster_size=4k", "compression_type=lz4", "preallocation=sparse",
    "encryption=on", "encrypt.format=luks", "no_such_option=1", "lazy_refcounts=maybe",
    "compat=0.10,refcount_bits=8", "size=12Q", "cluster_size=512,size=4T",
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      StrataCreateOptions opts;
      gboolean ok;

      strata_create_options_init (&opts);
      ok = strata_create_options_parse (&opts, bad[i], &error);
      if (ok)
        {
          if (!opts.has_size)
            {
              opts.size = 1 << 20;
              opts.has_size = TRUE;
            }
          ok = strata_create_qcow2 (tu_path ("bad.qcow2"), &opts, &error);
        }
      if (ok)
        g_error ("option \"%s\" was accepted", bad[i]);
      g_assert_nonnull (error);
      g_assert_false (tu_file_exists (tu_path ("bad.qcow2")));
    }

  /* Nothing hidden left behind either. */
  {
    g_autofree char *list = tu_list_dir (tu_dir ());

    g_assert_null (strstr (list, ".strata-"));
  }
}

static void
test_missing_backing (void)
{
  g_autoptr(GError) error = NULL;
  StrataCreateOptions opts;

  strata_create_options_init (&opts);
  g_assert_true (strata_create_options_parse (&opts, "backing_file=nothere.qcow2", &error));
  g_assert_false (strata_create_qcow2 (tu_path ("orphan.qcow2"), &opts, &error));
  g_assert_error (error, STRATA_ERROR, STRATA_ERROR_BACKING);
  g_assert_nonnull (strstr (error->message, "orphan.qcow2"));
  g_assert_nonnull (strstr (error->message, "nothere.qcow2"));
  g_assert_false (tu_file_exists (tu_path ("orphan.qcow2")));
}

int
main (int argc, char **argv)
{
  tu_init (&argc, &argv);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/qcow2/create/%u", i);

      g_test_add_data_func (path, &cases[i], test_create);
    }
  g_test_add_func ("/qcow2/create/bad-options", test_bad_options);
  g_test_add_func ("/qcow2/create/missing-backing", test_missing_backing);

  return g_test_run ();
}
