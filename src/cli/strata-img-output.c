/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-img-output.h"
#include "strata-img.h"

#include "strata-error.h"

#include <string.h>

/* QEMU's dictionaries have 512 buckets chosen by this hash of the key (the one from
 * Samba's tdb) and are walked bucket by bucket, newest entry first inside a bucket. */
#define QDICT_BUCKETS 512

static guint
qdict_bucket (const char *key)
{
  guint32 value = 0x238F13AFu * (guint32) strlen (key);

  for (guint i = 0; key[i] != '\0'; i++)
    value += (guint32) (guint8) key[i] << (i * 5 % 24);

  return (1103515243u * value + 12345u) % QDICT_BUCKETS;
}

typedef struct
{
  const char *name;
  guint       bucket;
  guint       index;
} Member;

static int
member_compare (gconstpointer a, gconstpointer b)
{
  const Member *ma = a;
  const Member *mb = b;

  if (ma->bucket != mb->bucket)
    return ma->bucket < mb->bucket ? -1 : 1;
  /* Later insertions come first inside a bucket. */
  return ma->index > mb->index ? -1 : (ma->index < mb->index ? 1 : 0);
}

/* The object's member names in the order QEMU would print them. */
static GArray *
ordered_members (JsonObject *object)
{
  g_autoptr(GList) names = json_object_get_members (object);
  GArray *members = g_array_new (FALSE, FALSE, sizeof (Member));
  guint index = 0;

  for (GList *l = names; l != NULL; l = l->next, index++)
    {
      Member m = { l->data, qdict_bucket (l->data), index };

      g_array_append_val (members, m);
    }
  g_array_sort (members, member_compare);
  return members;
}

JsonNode *
strata_img_variant_to_json (GVariant *value)
{
  const GVariantType *type = g_variant_get_type (value);
  JsonNode *node;

  if (g_variant_type_equal (type, G_VARIANT_TYPE_VARIANT))
    {
      g_autoptr(GVariant) inner = g_variant_get_variant (value);

      return strata_img_variant_to_json (inner);
    }

  if (g_variant_type_is_subtype_of (type, G_VARIANT_TYPE_VARDICT) ||
      (g_variant_type_is_array (type) &&
       g_variant_type_is_dict_entry (g_variant_type_element (type))))
    {
      JsonObject *object = json_object_new ();
      GVariantIter iter;
      GVariant *entry;

      g_variant_iter_init (&iter, value);
      while ((entry = g_variant_iter_next_value (&iter)) != NULL)
        {
          g_autoptr(GVariant) key = g_variant_get_child_value (entry, 0);
          g_autoptr(GVariant) val = g_variant_get_child_value (entry, 1);

          if (g_variant_is_of_type (key, G_VARIANT_TYPE_STRING))
            json_object_set_member (object, g_variant_get_string (key, NULL),
                                    strata_img_variant_to_json (val));
          g_variant_unref (entry);
        }
      node = json_node_new (JSON_NODE_OBJECT);
      json_node_take_object (node, object);
      return node;
    }

  if (g_variant_type_is_array (type) || g_variant_type_is_tuple (type))
    {
      JsonArray *array = json_array_new ();
      GVariantIter iter;
      GVariant *child;

      g_variant_iter_init (&iter, value);
      while ((child = g_variant_iter_next_value (&iter)) != NULL)
        {
          json_array_add_element (array, strata_img_variant_to_json (child));
          g_variant_unref (child);
        }
      node = json_node_new (JSON_NODE_ARRAY);
      json_node_take_array (node, array);
      return node;
    }

  node = json_node_new (JSON_NODE_VALUE);
  switch (g_variant_classify (value))
    {
    case G_VARIANT_CLASS_BOOLEAN:
      json_node_set_boolean (node, g_variant_get_boolean (value));
      break;
    case G_VARIANT_CLASS_BYTE:
      json_node_set_int (node, g_variant_get_byte (value));
      break;
    case G_VARIANT_CLASS_INT16:
      json_node_set_int (node, g_variant_get_int16 (value));
      break;
    case G_VARIANT_CLASS_UINT16:
      json_node_set_int (node, g_variant_get_uint16 (value));
      break;
    case G_VARIANT_CLASS_INT32:
      json_node_set_int (node, g_variant_get_int32 (value));
      break;
    case G_VARIANT_CLASS_UINT32:
      json_node_set_int (node, g_variant_get_uint32 (value));
      break;
    case G_VARIANT_CLASS_INT64:
      json_node_set_int (node, g_variant_get_int64 (value));
      break;
    case G_VARIANT_CLASS_UINT64:
      /* JSON-GLib stores integers as gint64; QEMU never reports values past that. */
      json_node_set_int (node, (gint64) g_variant_get_uint64 (value));
      break;
    case G_VARIANT_CLASS_DOUBLE:
      json_node_set_double (node, g_variant_get_double (value));
      break;
    case G_VARIANT_CLASS_STRING:
    case G_VARIANT_CLASS_OBJECT_PATH:
    case G_VARIANT_CLASS_SIGNATURE:
      json_node_set_string (node, g_variant_get_string (value, NULL));
      break;
    default:
      {
        g_autofree char *text = g_variant_print (value, FALSE);

        json_node_set_string (node, text);
      }
      break;
    }
  return node;
}

/* Strings as QEMU quotes them: ASCII as is, everything else as \uXXXX. */
static void
append_quoted (GString *out, const char *str)
{
  const char *p = str;

  g_string_append_c (out, '"');
  while (*p != '\0')
    {
      gunichar c = g_utf8_get_char_validated (p, -1);

      if (c == (gunichar) -1 || c == (gunichar) -2)
        {
          c = 0xFFFD;
          p++;
        }
      else
        p = g_utf8_next_char (p);

      switch (c)
        {
        case '"': g_string_append (out, "\\\""); break;
        case '\\': g_string_append (out, "\\\\"); break;
        case '\b': g_string_append (out, "\\b"); break;
        case '\f': g_string_append (out, "\\f"); break;
        case '\n': g_string_append (out, "\\n"); break;
        case '\r': g_string_append (out, "\\r"); break;
        case '\t': g_string_append (out, "\\t"); break;
        default:
          if (c > 0xFFFF)
            g_string_append_printf (out, "\\u%04X\\u%04X", 0xD800 + ((c - 0x10000) >> 10),
                                    0xDC00 + ((c - 0x10000) & 0x3FF));
          else if (c < 0x20 || c >= 0x7F)
            g_string_append_printf (out, "\\u%04X", c);
          else
            g_string_append_c (out, (char) c);
        }
    }
  g_string_append_c (out, '"');
}

static void
newline (GString *out, int depth)
{
  g_string_append_printf (out, "\n%*s", depth * 4, "");
}

static void
append_node (GString *out, JsonNode *node, int depth)
{
  switch (JSON_NODE_TYPE (node))
    {
    case JSON_NODE_OBJECT:
      {
        JsonObject *object = json_node_get_object (node);
        g_autoptr(GArray) members = ordered_members (object);

        g_string_append_c (out, '{');
        for (guint i = 0; i < members->len; i++)
          {
            const Member *m = &g_array_index (members, Member, i);

            if (i > 0)
              g_string_append_c (out, ',');
            newline (out, depth + 1);
            append_quoted (out, m->name);
            g_string_append (out, ": ");
            append_node (out, json_object_get_member (object, m->name), depth + 1);
          }
        newline (out, depth);
        g_string_append_c (out, '}');
      }
      break;

    case JSON_NODE_ARRAY:
      {
        JsonArray *array = json_node_get_array (node);
        guint n = json_array_get_length (array);

        g_string_append_c (out, '[');
        for (guint i = 0; i < n; i++)
          {
            if (i > 0)
              g_string_append_c (out, ',');
            newline (out, depth + 1);
            append_node (out, json_array_get_element (array, i), depth + 1);
          }
        newline (out, depth);
        g_string_append_c (out, ']');
      }
      break;

    case JSON_NODE_NULL:
      g_string_append (out, "null");
      break;

    case JSON_NODE_VALUE:
    default:
      switch (json_node_get_value_type (node))
        {
        case G_TYPE_BOOLEAN:
          g_string_append (out, json_node_get_boolean (node) ? "true" : "false");
          break;
        case G_TYPE_INT64:
          g_string_append_printf (out, "%" G_GINT64_FORMAT, json_node_get_int (node));
          break;
        case G_TYPE_DOUBLE:
          {
            char buf[G_ASCII_DTOSTR_BUF_SIZE];

            g_string_append (out, g_ascii_formatd (buf, sizeof buf, "%.17g",
                                                   json_node_get_double (node)));
          }
          break;
        case G_TYPE_STRING:
        default:
          append_quoted (out, json_node_get_string (node) ? json_node_get_string (node) : "");
          break;
        }
      break;
    }
}

char *
strata_img_json_to_string (JsonNode *node)
{
  GString *out = g_string_new (NULL);

  append_node (out, node, 0);
  return g_string_free (out, FALSE);
}

static void
dump_scalar (GString *out, JsonNode *node)
{
  switch (json_node_get_value_type (node))
    {
    case G_TYPE_BOOLEAN:
      g_string_append (out, json_node_get_boolean (node) ? "true" : "false");
      break;
    case G_TYPE_INT64:
      g_string_append_printf (out, "%" G_GINT64_FORMAT, json_node_get_int (node));
      break;
    case G_TYPE_DOUBLE:
      g_string_append_printf (out, "%g", json_node_get_double (node));
      break;
    default:
      g_string_append (out, json_node_get_string (node) ? json_node_get_string (node) : "");
      break;
    }
}

static gboolean
is_composite (JsonNode *node)
{
  return JSON_NODE_HOLDS_OBJECT (node) || JSON_NODE_HOLDS_ARRAY (node);
}

void
strata_img_json_dump_human (GString  *out,
                            JsonNode *node,
                            int       indent)
{
  if (JSON_NODE_HOLDS_OBJECT (node))
    {
      JsonObject *object = json_node_get_object (node);
      g_autoptr(GArray) members = ordered_members (object);

      for (guint i = 0; i < members->len; i++)
        {
          const Member *m = &g_array_index (members, Member, i);
          JsonNode *child = json_object_get_member (object, m->name);
          g_autofree char *key = g_strdup (m->name);

          g_strdelimit (key, "-", ' ');
          g_string_append_printf (out, "%*s%s:%s", indent * 4, "", key,
                                  is_composite (child) ? "\n" : " ");
          if (is_composite (child))
            strata_img_json_dump_human (out, child, indent + 1);
          else
            {
              dump_scalar (out, child);
              g_string_append_c (out, '\n');
            }
        }
    }
  else if (JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *array = json_node_get_array (node);

      for (guint i = 0; i < json_array_get_length (array); i++)
        {
          JsonNode *child = json_array_get_element (array, i);

          g_string_append_printf (out, "%*s[%u]:%s", indent * 4, "", i,
                                  is_composite (child) ? "\n" : " ");
          if (is_composite (child))
            strata_img_json_dump_human (out, child, indent + 1);
          else
            {
              dump_scalar (out, child);
              g_string_append_c (out, '\n');
            }
        }
    }
  else
    {
      dump_scalar (out, node);
      g_string_append_c (out, '\n');
    }
}

char *
strata_img_size_to_str (guint64 size)
{
  static const char *const units[] = { "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei" };
  double scaled = (double) size / (1000.0 / 1024.0);
  int unit = 0;

  /* Switch to the next unit once the number would reach 1000 (not 1024), as qemu-img
   * does, so that sizes print with at most three significant digits. */
  while (unit + 1 < (int) G_N_ELEMENTS (units) &&
         scaled >= (double) (1ULL << ((unit + 1) * 10)))
    unit++;

  return g_strdup_printf ("%0.3g %sB", (double) size / (double) (1ULL << (unit * 10)),
                          units[unit]);
}

gboolean
strata_img_parse_output (const char *value,
                         gboolean   *json)
{
  if (g_strcmp0 (value, "json") == 0)
    *json = TRUE;
  else if (g_strcmp0 (value, "human") == 0)
    *json = FALSE;
  else
    {
      strata_img_error ("--output must be used with human or json as argument.");
      return FALSE;
    }
  return TRUE;
}

void
strata_img_snapshot_table (GString   *out,
                           GPtrArray *snapshots)
{
  if (snapshots == NULL || snapshots->len == 0)
    return;

  g_string_append (out, "Snapshot list:\n");
  g_string_append_printf (out, "%-10s%-17s%8s%20s%13s%11s\n", "ID", "TAG", "VM SIZE", "DATE",
                          "VM CLOCK", "ICOUNT");
  for (guint i = 0; i < snapshots->len; i++)
    {
      const StrataSnapshotInfo *sn = snapshots->pdata[i];
      g_autoptr(GDateTime) date = g_date_time_new_from_unix_local (sn->date_sec);
      g_autofree char *date_text = date != NULL ? g_date_time_format (date, "%Y-%m-%d %H:%M:%S")
                                                : g_strdup ("");
      g_autofree char *vm_size = strata_img_size_to_str (sn->vm_state_size);
      g_autofree char *icount = sn->has_icount ? g_strdup_printf ("%" G_GINT64_FORMAT,
                                                                  (gint64) sn->icount)
                                               : g_strdup ("");
      guint64 secs = sn->vm_clock_nsec / 1000000000;
      g_autofree char *clock = g_strdup_printf ("%02d:%02d:%02d.%03d", (int) (secs / 3600),
                                                (int) ((secs / 60) % 60), (int) (secs % 60),
                                                (int) ((sn->vm_clock_nsec / 1000000) % 1000));

      g_string_append_printf (out, "%-9s %-16s %8s%20s%13s%11s\n", sn->id, sn->name, vm_size,
                              date_text, clock, icount);
    }
}

static void
add_snapshots (JsonBuilder *builder,
               GPtrArray   *snapshots)
{
  json_builder_set_member_name (builder, "snapshots");
  json_builder_begin_array (builder);
  for (guint i = 0; i < snapshots->len; i++)
    {
      const StrataSnapshotInfo *sn = snapshots->pdata[i];

      /* QAPI's SnapshotInfo members, in its order. */
      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "id");
      json_builder_add_string_value (builder, sn->id);
      json_builder_set_member_name (builder, "name");
      json_builder_add_string_value (builder, sn->name);
      json_builder_set_member_name (builder, "vm-state-size");
      json_builder_add_int_value (builder, (gint64) sn->vm_state_size);
      json_builder_set_member_name (builder, "date-sec");
      json_builder_add_int_value (builder, sn->date_sec);
      json_builder_set_member_name (builder, "date-nsec");
      json_builder_add_int_value (builder, sn->date_nsec);
      json_builder_set_member_name (builder, "vm-clock-sec");
      json_builder_add_int_value (builder, (gint64) (sn->vm_clock_nsec / 1000000000));
      json_builder_set_member_name (builder, "vm-clock-nsec");
      json_builder_add_int_value (builder, (gint64) (sn->vm_clock_nsec % 1000000000));
      if (sn->has_icount)
        {
          json_builder_set_member_name (builder, "icount");
          json_builder_add_int_value (builder, (gint64) sn->icount);
        }
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);
}

static gboolean
variant_is_type_data (GVariant *dict)
{
  g_autoptr(GVariant) type = g_variant_lookup_value (dict, "type", G_VARIANT_TYPE_STRING);
  g_autoptr(GVariant) data = g_variant_lookup_value (dict, "data", NULL);

  return type != NULL && data != NULL && g_variant_n_children (dict) == 2;
}

static void
add_strata_keys (JsonBuilder           *builder,
                 const StrataImageInfo *info)
{
  if (info->has_allocated_bytes)
    {
      json_builder_set_member_name (builder, "strata-allocated-bytes");
      json_builder_add_int_value (builder, (gint64) info->allocated_bytes);
    }
  json_builder_set_member_name (builder, "strata-in-use");
  json_builder_add_boolean_value (builder, info->in_use);
  json_builder_set_member_name (builder, "strata-protected");
  json_builder_add_boolean_value (builder, info->read_only_mode);
  if (info->warnings != NULL && info->warnings[0] != NULL)
    {
      json_builder_set_member_name (builder, "strata-warnings");
      json_builder_begin_array (builder);
      for (guint i = 0; info->warnings[i] != NULL; i++)
        json_builder_add_string_value (builder, info->warnings[i]);
      json_builder_end_array (builder);
    }
}

JsonNode *
strata_img_info_to_json (const StrataImageInfo *info,
                         gboolean               strata_keys)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();

  /* Members in the order QEMU's ImageInfo declares them; it only matters for ties. */
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "filename");
  json_builder_add_string_value (builder, info->filename);
  json_builder_set_member_name (builder, "format");
  json_builder_add_string_value (builder, info->format);
  json_builder_set_member_name (builder, "dirty-flag");
  json_builder_add_boolean_value (builder, info->dirty_flag);
  json_builder_set_member_name (builder, "actual-size");
  json_builder_add_int_value (builder, (gint64) info->actual_size);
  json_builder_set_member_name (builder, "virtual-size");
  json_builder_add_int_value (builder, (gint64) info->virtual_size);
  if (info->cluster_size > 0)
    {
      json_builder_set_member_name (builder, "cluster-size");
      json_builder_add_int_value (builder, (gint64) info->cluster_size);
    }
  if (info->encrypted)
    {
      json_builder_set_member_name (builder, "encrypted");
      json_builder_add_boolean_value (builder, TRUE);
    }
  if (info->backing_filename != NULL)
    {
      json_builder_set_member_name (builder, "backing-filename");
      json_builder_add_string_value (builder, info->backing_filename);
    }
  if (info->full_backing_filename != NULL)
    {
      json_builder_set_member_name (builder, "full-backing-filename");
      json_builder_add_string_value (builder, info->full_backing_filename);
    }
  if (info->backing_format != NULL)
    {
      json_builder_set_member_name (builder, "backing-filename-format");
      json_builder_add_string_value (builder, info->backing_format);
    }
  if (info->snapshots != NULL && info->snapshots->len > 0)
    add_snapshots (builder, info->snapshots);
  if (info->format_specific != NULL)
    {
      json_builder_set_member_name (builder, "format-specific");
      if (variant_is_type_data (info->format_specific))
        json_builder_add_value (builder, strata_img_variant_to_json (info->format_specific));
      else
        {
          json_builder_begin_object (builder);
          json_builder_set_member_name (builder, "type");
          json_builder_add_string_value (builder, info->format);
          json_builder_set_member_name (builder, "data");
          json_builder_add_value (builder, strata_img_variant_to_json (info->format_specific));
          json_builder_end_object (builder);
        }
    }

  /* Strata's own keys, under names qemu-img will never use; only when asked for, since
   * scripts compare qemu-img's JSON whole. */
  if (strata_keys)
    add_strata_keys (builder, info);
  json_builder_end_object (builder);

  return json_builder_get_root (builder);
}

static void
report (const char   *filename,
        gboolean      write,
        const GError *error)
{
  static const char hint[] = "Use -U (force share) to read it anyway. ";
  g_autofree char *words = strata_img_qemu_words (filename, write, error);

  if (words != NULL)
    strata_img_error ("%s", words);
  /* The engine puts its advice first; on a terminal it reads better after the reason. */
  else if (g_error_matches (error, STRATA_ERROR, STRATA_ERROR_LOCKED) &&
           g_str_has_prefix (error->message, hint))
    strata_img_error ("%s %.*s", error->message + strlen (hint), (int) strlen (hint) - 1,
                      hint);
  else
    strata_img_error ("%s", error->message);
}

void
strata_img_report (const char   *filename,
                   const GError *error)
{
  report (filename, FALSE, error);
}

void
strata_img_report_for_write (const char   *filename,
                             const GError *error)
{
  report (filename, TRUE, error);
}

void
strata_img_report_error (const char   *filename,
                         const GError *error)
{
  if (filename != NULL && strstr (error->message, filename) == NULL &&
      error->domain == STRATA_ERROR && error->code != STRATA_ERROR_LOCKED)
    strata_img_error ("%s: %s", filename, error->message);
  else
    strata_img_report (filename, error);
}

void
strata_img_report_open_error (const char   *filename,
                              const GError *error)
{
  if (g_error_matches (error, STRATA_ERROR, STRATA_ERROR_NOT_FOUND) &&
      g_str_has_prefix (error->message, filename) &&
      g_str_has_prefix (error->message + strlen (filename), ": Could not open"))
    strata_img_error ("Could not open '%s': Could not open '%s': No such file or directory",
                      filename, filename);
  else
    strata_img_report_error (filename, error);
}
