/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "cli-util.h"
#include "test-util.h"

#include <json-glib/json-glib.h>
#include <string.h>

void
cli_result_clear (CliResult *r)
{
  g_clear_pointer (&r->out, g_free);
  g_clear_pointer (&r->err, g_free);
}

/* A guard against hangs only (exit 124), far above what any command here takes on a loaded
 * machine under the sanitizers: no result may depend on how fast the machine is. */
#define HANG_GUARD "timeout 120"

void
cli_run_qemu (CliResult  *r,
              const char *dir,
              const char *args)
{
  r->rc = tu_run (&r->out, &r->err, "cd '%s' && " HANG_GUARD " qemu-img %s", dir, args);
}

void
cli_run_strata (CliResult  *r,
                const char *dir,
                const char *args)
{
  r->rc = tu_run (&r->out, &r->err, "cd '%s' && " HANG_GUARD " '%s' %s", dir, tu_strata_img (),
                  args);
}

gboolean
cli_skip_if_unsupported (const CliResult *r)
{
  if (r->rc != 0 && r->err != NULL && strstr (r->err, "not supported yet") != NULL)
    {
      g_autofree char *msg = g_strdup_printf ("driver not landed yet: %s", r->err);

      g_strchomp (msg);
      g_test_skip (msg);
      return TRUE;
    }
  return FALSE;
}

gboolean
cli_driver_available (const char *format)
{
  static GHashTable *known;
  gpointer value;

  if (known == NULL)
    known = g_hash_table_new (g_str_hash, g_str_equal);

  if (!g_hash_table_lookup_extended (known, format, NULL, &value))
    {
      g_autofree char *dir = g_strdup_printf ("%s/driver-probe-%s", tu_dir (), format);
      g_auto(CliResult) s = { 0 };
      gboolean ok;

      g_free (tu_run_ok ("mkdir -p '%s' && cd '%s' && qemu-img create -q -f %s probe.img 1M",
                         dir, dir, format));
      cli_run_strata (&s, dir, "info --output=json probe.img");
      ok = s.rc == 0 && strstr (s.out, "\"format\": \"raw\"") == NULL;
      value = GINT_TO_POINTER (ok);
      g_hash_table_insert (known, g_strdup (format), value);
    }

  if (!GPOINTER_TO_INT (value))
    {
      g_autofree char *msg = g_strdup_printf ("the %s driver has not landed yet", format);

      g_test_skip (msg);
      return FALSE;
    }
  return TRUE;
}

static void
compare_nodes (const char        *path,
               JsonNode          *q,
               JsonNode          *s,
               const char *const *ignore,
               GString           *diffs)
{
  if (JSON_NODE_TYPE (q) != JSON_NODE_TYPE (s))
    {
      g_string_append_printf (diffs, "  %s: different kinds of value\n", path);
      return;
    }

  if (JSON_NODE_HOLDS_OBJECT (q))
    {
      JsonObject *qo = json_node_get_object (q);
      JsonObject *so = json_node_get_object (s);
      g_autoptr(GList) qm = json_object_get_members (qo);
      g_autoptr(GList) sm = json_object_get_members (so);

      for (GList *l = qm; l != NULL; l = l->next)
        {
          g_autofree char *child = g_strdup_printf ("%s.%s", path, (char *) l->data);

          if (ignore != NULL && g_strv_contains (ignore, l->data))
            continue;
          if (!json_object_has_member (so, l->data))
            g_string_append_printf (diffs, "  %s: missing in strata-img\n", child);
          else
            compare_nodes (child, json_object_get_member (qo, l->data),
                           json_object_get_member (so, l->data), ignore, diffs);
        }
      for (GList *l = sm; l != NULL; l = l->next)
        if (!json_object_has_member (qo, l->data) && !g_str_has_prefix (l->data, "strata-") &&
            !(ignore != NULL && g_strv_contains (ignore, l->data)))
          g_string_append_printf (diffs, "  %s.%s: only strata-img prints it\n", path,
                                  (char *) l->data);
    }
  else if (JSON_NODE_HOLDS_ARRAY (q))
    {
      JsonArray *qa = json_node_get_array (q);
      JsonArray *sa = json_node_get_array (s);

      if (json_array_get_length (qa) != json_array_get_length (sa))
        g_string_append_printf (diffs, "  %s: %u elements from qemu-img, %u from strata-img\n",
                                path, json_array_get_length (qa), json_array_get_length (sa));
      else
        for (guint i = 0; i < json_array_get_length (qa); i++)
          {
            g_autofree char *child = g_strdup_printf ("%s[%u]", path, i);

            compare_nodes (child, json_array_get_element (qa, i),
                           json_array_get_element (sa, i), ignore, diffs);
          }
    }
  else if (!json_node_equal (q, s))
    {
      g_autofree char *qt = json_to_string (q, FALSE);
      g_autofree char *st = json_to_string (s, FALSE);

      g_string_append_printf (diffs, "  %s: qemu-img %s, strata-img %s\n", path, qt, st);
    }
}

char *
cli_json_diff (const char        *qemu_json,
               const char        *strata_json,
               const char *const *ignore)
{
  g_autoptr(JsonParser) qp = json_parser_new ();
  g_autoptr(JsonParser) sp = json_parser_new ();
  g_autoptr(GError) error = NULL;
  GString *diffs = g_string_new (NULL);

  json_parser_load_from_data (qp, qemu_json, -1, &error);
  g_assert_no_error (error);
  if (!json_parser_load_from_data (sp, strata_json, -1, &error))
    g_string_append_printf (diffs, "  strata-img printed invalid JSON: %s\n", error->message);
  else
    compare_nodes ("$", json_parser_get_root (qp), json_parser_get_root (sp), ignore, diffs);

  if (diffs->len == 0)
    {
      g_string_free (diffs, TRUE);
      return NULL;
    }
  return g_string_free (diffs, FALSE);
}

void
cli_assert_json_matches (const char        *what,
                         const char        *qemu_json,
                         const char        *strata_json,
                         const char *const *ignore)
{
  g_autofree char *diffs = cli_json_diff (qemu_json, strata_json, ignore);

  if (diffs != NULL)
    g_error ("%s: strata-img differs from qemu-img:\n%s--- qemu-img:\n%s--- strata-img:\n%s",
             what, diffs, qemu_json, strata_json);
}

char *
cli_strip_strata_lines (const char *text)
{
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);
  GString *out = g_string_new (NULL);

  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *trimmed = lines[i] + strspn (lines[i], " ");

      if (g_str_has_prefix (lines[i], "in use: ") || g_str_has_prefix (lines[i], "protected: ") ||
          g_str_has_prefix (lines[i], "warning: "))
        continue;

      /* A "strata-*" member of pretty JSON, with its whole value when that spans lines. */
      if (g_str_has_prefix (trimmed, "\"strata-"))
        {
          gsize indent = trimmed - lines[i];

          if (g_str_has_suffix (trimmed, "[") || g_str_has_suffix (trimmed, "{"))
            while (lines[i + 1] != NULL)
              {
                i++;
                if (strspn (lines[i], " ") == indent &&
                    (lines[i][indent] == ']' || lines[i][indent] == '}'))
                  break;
              }
          continue;
        }

      g_string_append (out, lines[i]);
      if (lines[i + 1] != NULL)
        g_string_append_c (out, '\n');
    }
  return g_string_free (out, FALSE);
}
