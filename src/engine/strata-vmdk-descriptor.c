/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-vmdk-descriptor.h"
#include "strata-error.h"

#include <string.h>

/*
 * Grammar, from VMware's "Virtual Disk Format 1.1" and what qemu-img writes:
 *
 *   # comment
 *   key=value            (CID, parentCID, createType, parentFileNameHint, ddb.*, ...)
 *   RW 4192256 SPARSE "x-s001.vmdk"
 *   RW 20480 FLAT "x-flat.vmdk" 0
 *   RDONLY 1000 ZERO
 *
 * Lines that are neither are ignored, as QEMU does: descriptors in the wild carry all sorts
 * of tool-specific lines.
 */

static void
extent_desc_free (gpointer data)
{
  StrataVmdkExtentDesc *e = data;

  g_free (e->type_name);
  g_free (e->filename);
  g_free (e);
}

void
strata_vmdk_descriptor_free (StrataVmdkDescriptor *desc)
{
  if (desc == NULL)
    return;
  g_free (desc->create_type);
  g_free (desc->parent_hint);
  g_clear_pointer (&desc->extents, g_ptr_array_unref);
  g_free (desc);
}

static gboolean
is_blank (char c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Splits off the next blank-separated token of [*p, end). */
static gboolean
next_token (const char **p,
            const char  *end,
            const char **tok,
            gsize       *tok_len)
{
  while (*p < end && is_blank (**p))
    (*p)++;
  if (*p >= end)
    return FALSE;
  *tok = *p;
  while (*p < end && !is_blank (**p))
    (*p)++;
  *tok_len = *p - *tok;
  return TRUE;
}

static gboolean
parse_decimal (const char *tok,
               gsize       len,
               guint64    *value)
{
  guint64 v = 0;

  if (len == 0 || len > 20)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    {
      if (!g_ascii_isdigit (tok[i]))
        return FALSE;
      if (v > (G_MAXUINT64 - (tok[i] - '0')) / 10)
        return FALSE;
      v = v * 10 + (tok[i] - '0');
    }
  *value = v;
  return TRUE;
}

/* CID values are hexadecimal, read like sscanf("%x"): digits up to the first other byte. */
static gboolean
parse_cid (const char *value,
           guint32    *cid)
{
  guint64 v = 0;
  gsize n = 0;

  if (g_ascii_strncasecmp (value, "0x", 2) == 0)
    value += 2;
  for (; g_ascii_isxdigit (value[n]); n++)
    {
      v = (v << 4) | g_ascii_xdigit_value (value[n]);
      if (v > G_MAXUINT32)
        return FALSE;
    }
  if (n == 0)
    return FALSE;
  *cid = (guint32) v;
  return TRUE;
}

static StrataVmdkExtentType
extent_type_from_name (const char *name)
{
  static const struct { const char *name; StrataVmdkExtentType type; } types[] = {
    { "SPARSE", STRATA_VMDK_EXTENT_SPARSE },
    { "FLAT", STRATA_VMDK_EXTENT_FLAT },
    { "ZERO", STRATA_VMDK_EXTENT_ZERO },
    { "VMFS", STRATA_VMDK_EXTENT_VMFS },
    { "VMFSSPARSE", STRATA_VMDK_EXTENT_VMFSSPARSE },
    { "SESPARSE", STRATA_VMDK_EXTENT_SESPARSE },
  };

  for (guint i = 0; i < G_N_ELEMENTS (types); i++)
    if (strcmp (name, types[i].name) == 0)
      return types[i].type;
  return STRATA_VMDK_EXTENT_OTHER;
}

static gboolean
parse_extent_line (StrataVmdkDescriptor *desc,
                   StrataVmdkAccess      access,
                   const char           *p,
                   const char           *end,
                   guint                 line_no,
                   const char           *filename,
                   GError              **error)
{
  g_autofree char *line = g_strndup (p, MIN (end - p, 200));
  StrataVmdkExtentDesc *e;
  const char *tok;
  gsize tok_len;
  guint64 sectors;

#define INVALID(why)                                                                     \
  G_STMT_START {                                                                         \
    g_autofree char *escaped_ = g_strescape (line, NULL);                                \
    g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT,                              \
                 "%s: descriptor line %u: invalid extent line (%s): %s", filename,        \
                 line_no, why, escaped_);                                                 \
    return FALSE;                                                                        \
  } G_STMT_END

  /* The access word was already recognised by the caller. */
  next_token (&p, end, &tok, &tok_len);

  if (!next_token (&p, end, &tok, &tok_len) || !parse_decimal (tok, tok_len, &sectors))
    INVALID ("the size in sectors is not a number");
  if (sectors == 0)
    INVALID ("the size is zero");

  if (!next_token (&p, end, &tok, &tok_len))
    INVALID ("no extent type");

  if (desc->extents->len >= STRATA_VMDK_MAX_EXTENTS)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT,
                   "%s: the descriptor lists more than %d extents", filename,
                   STRATA_VMDK_MAX_EXTENTS);
      return FALSE;
    }

  e = g_new0 (StrataVmdkExtentDesc, 1);
  e->access = access;
  e->sectors = sectors;
  e->type_name = g_strndup (tok, tok_len);
  e->type = extent_type_from_name (e->type_name);
  e->line = line_no;
  g_ptr_array_add (desc->extents, e);

  while (p < end && is_blank (*p))
    p++;

  if (p < end && *p == '"')
    {
      const char *close = memchr (p + 1, '"', end - p - 1);

      if (close == NULL)
        INVALID ("the file name has no closing quote");
      if (close == p + 1)
        INVALID ("the file name is empty");
      e->filename = g_strndup (p + 1, close - p - 1);
      p = close + 1;

      if (next_token (&p, end, &tok, &tok_len))
        {
          if (!parse_decimal (tok, tok_len, &e->offset))
            INVALID ("the offset is not a number");
          if (e->type != STRATA_VMDK_EXTENT_FLAT)
            INVALID ("only FLAT extents have an offset");
        }
      else if (e->type == STRATA_VMDK_EXTENT_FLAT)
        INVALID ("a FLAT extent needs an offset");

      if (next_token (&p, end, &tok, &tok_len))
        INVALID ("unexpected text after the extent");
    }
  else if (e->type != STRATA_VMDK_EXTENT_ZERO)
    INVALID ("no quoted file name");
  else if (p < end)
    INVALID ("unexpected text after a ZERO extent");

#undef INVALID
  return TRUE;
}

static gboolean
parse_key_value (StrataVmdkDescriptor *desc,
                 const char           *p,
                 const char           *eq,
                 const char           *end,
                 guint                 line_no,
                 const char           *filename,
                 GError              **error)
{
  const char *key_end = eq;
  const char *v = eq + 1;
  const char *v_end = end;
  g_autofree char *key = NULL;
  g_autofree char *value = NULL;
  gboolean quoted = FALSE;

  while (key_end > p && is_blank (key_end[-1]))
    key_end--;
  while (v < end && is_blank (*v))
    v++;

  if (v < end && *v == '"')
    {
      const char *close = memchr (v + 1, '"', end - v - 1);

      quoted = TRUE;
      if (close != NULL)
        {
          v_end = close;
          v++;
        }
      else
        quoted = FALSE;
    }
  if (!quoted)
    while (v_end > v && is_blank (v_end[-1]))
      v_end--;

  key = g_strndup (p, key_end - p);
  value = g_strndup (v, v_end - v);

  if (strcmp (key, "CID") == 0 && !desc->has_cid)
    {
      if (!parse_cid (value, &desc->cid))
        {
          g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT,
                       "%s: descriptor line %u: CID \"%s\" is not a 32-bit hexadecimal number",
                       filename, line_no, value);
          return FALSE;
        }
      desc->has_cid = TRUE;
    }
  else if (strcmp (key, "parentCID") == 0 && !desc->has_parent_cid)
    {
      if (!parse_cid (value, &desc->parent_cid))
        {
          g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT,
                       "%s: descriptor line %u: parentCID \"%s\" is not a 32-bit hexadecimal "
                       "number", filename, line_no, value);
          return FALSE;
        }
      desc->has_parent_cid = TRUE;
    }
  else if (strcmp (key, "createType") == 0 && desc->create_type == NULL)
    desc->create_type = g_steal_pointer (&value);
  else if (strcmp (key, "parentFileNameHint") == 0 && desc->parent_hint == NULL)
    {
      if (!quoted)
        {
          g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT,
                       "%s: descriptor line %u: parentFileNameHint is not a quoted name",
                       filename, line_no);
          return FALSE;
        }
      if (strlen (value) != (gsize) (v_end - v))
        {
          g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT,
                       "%s: descriptor line %u: parentFileNameHint contains a NUL byte",
                       filename, line_no);
          return FALSE;
        }
      if (v_end - v > STRATA_VMDK_MAX_PARENT_HINT)
        {
          g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT,
                       "%s: descriptor line %u: parentFileNameHint is longer than %d bytes",
                       filename, line_no, STRATA_VMDK_MAX_PARENT_HINT);
          return FALSE;
        }
      desc->parent_hint = g_steal_pointer (&value);
    }

  return TRUE;
}

static gboolean
starts_with_word (const char *p,
                  const char *end,
                  const char *word)
{
  gsize n = strlen (word);

  return (gsize) (end - p) > n && memcmp (p, word, n) == 0 && is_blank (p[n]);
}

StrataVmdkDescriptor *
strata_vmdk_descriptor_parse (const char  *buf,
                              gsize        len,
                              const char  *filename,
                              GError     **error)
{
  g_autoptr(StrataVmdkDescriptor) desc = NULL;
  const char *nul;
  const char *p;
  const char *text_end;
  guint line_no = 0;

  g_return_val_if_fail (buf != NULL || len == 0, NULL);
  g_return_val_if_fail (filename != NULL, NULL);

  desc = g_new0 (StrataVmdkDescriptor, 1);
  desc->extents = g_ptr_array_new_with_free_func (extent_desc_free);

  /* An embedded descriptor is padded with zeros up to its sector count. */
  nul = memchr (buf, '\0', len);
  text_end = nul != NULL ? nul : buf + len;

  for (p = buf; p < text_end; )
    {
      const char *nl = memchr (p, '\n', text_end - p);
      const char *end = nl != NULL ? nl : text_end;
      const char *next = nl != NULL ? nl + 1 : text_end;
      const char *eq;

      line_no++;
      while (p < end && is_blank (*p))
        p++;
      while (end > p && is_blank (end[-1]))
        end--;

      if (p == end || *p == '#')
        ;
      else if (starts_with_word (p, end, "RW"))
        {
          if (!parse_extent_line (desc, STRATA_VMDK_ACCESS_RW, p, end, line_no, filename, error))
            return NULL;
        }
      else if (starts_with_word (p, end, "RDONLY"))
        {
          if (!parse_extent_line (desc, STRATA_VMDK_ACCESS_RDONLY, p, end, line_no, filename,
                                  error))
            return NULL;
        }
      else if (starts_with_word (p, end, "NOACCESS"))
        {
          if (!parse_extent_line (desc, STRATA_VMDK_ACCESS_NOACCESS, p, end, line_no, filename,
                                  error))
            return NULL;
        }
      else if ((eq = memchr (p, '=', end - p)) != NULL && eq > p)
        {
          if (!parse_key_value (desc, p, eq, end, line_no, filename, error))
            return NULL;
        }

      p = next;
    }

  return g_steal_pointer (&desc);
}
