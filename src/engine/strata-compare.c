/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-compare.h"
#include "strata-error.h"
#include "strata-image.h"

#include <stdlib.h>
#include <string.h>

#define BUF_SIZE (2 * 1024 * 1024)
#define SECTOR 512

static gboolean
buffer_is_zero (const guint8 *p, gsize len, gsize *first_nonzero)
{
  for (gsize i = 0; i < len; i++)
    if (p[i] != 0)
      {
        *first_nonzero = i;
        return FALSE;
      }
  return TRUE;
}

static gboolean
is_zero_kind (const StrataChainStatus *cs)
{
  return cs->kind != STRATA_BLOCK_DATA;
}

/* Checks that @image reads as zeros in [offset, offset+len); sets *mismatch to the first
 * non-zero sector. */
static gboolean
check_zero_range (StrataImage *image,
                  guint64      offset,
                  guint64      len,
                  guint8      *buf,
                  gboolean    *mismatch,
                  guint64     *mismatch_offset,
                  GError     **error)
{
  while (len > 0)
    {
      gsize n = MIN (len, BUF_SIZE);
      gsize at;

      if (!strata_image_read (image, offset, n, buf, error))
        return FALSE;
      if (!buffer_is_zero (buf, n, &at))
        {
          *mismatch = TRUE;
          *mismatch_offset = (offset + at) & ~(guint64) (SECTOR - 1);
          return TRUE;
        }
      offset += n;
      len -= n;
    }
  return TRUE;
}

gboolean
strata_compare_sync (const char                 *a,
                     const char                 *b,
                     const StrataCompareOptions *opts,
                     StrataJob                  *job,
                     StrataCompareResult        *result,
                     GCancellable               *cancellable,
                     GError                    **error)
{
  StrataCompareOptions defaults = { 0 };
  g_autoptr(StrataImage) ia = NULL;
  g_autoptr(StrataImage) ib = NULL;
  StrataOpenFlags flags = STRATA_OPEN_READ_ONLY;
  g_autofree guint8 *buf1 = NULL; /* posix_memalign: free() is fine */
  g_autofree guint8 *buf2 = NULL;
  guint64 size_a, size_b, common, larger, offset = 0;
  gboolean mismatch = FALSE;

  g_return_val_if_fail (a != NULL && b != NULL, FALSE);
  g_return_val_if_fail (result != NULL, FALSE);

  if (opts == NULL)
    opts = &defaults;
  memset (result, 0, sizeof *result);

  if (opts->force_share)
    flags |= STRATA_OPEN_FORCE_SHARE;
  if (!(ia = strata_image_open (a, opts->format_a, flags, error)) ||
      !(ib = strata_image_open (b, opts->format_b, flags, error)))
    return FALSE;
  result->opened = TRUE;

  size_a = strata_image_get_size (ia);
  size_b = strata_image_get_size (ib);
  common = MIN (size_a, size_b);
  larger = MAX (size_a, size_b);
  result->size_differs = size_a != size_b;
  result->common_size = common;

  if (opts->strict && result->size_differs)
    {
      result->verdict = STRATA_COMPARE_SIZE_MISMATCH;
      return TRUE;
    }

  /* 2 MiB aligned: the kernel can back them with huge pages, which makes copying out of the
   * page cache markedly cheaper. */
  if (posix_memalign ((void **) &buf1, BUF_SIZE, BUF_SIZE) != 0 ||
      posix_memalign ((void **) &buf2, BUF_SIZE, BUF_SIZE) != 0)
    g_error ("out of memory");
  if (job != NULL)
    strata_job_set_progress (job, 0, larger);

  while (offset < common)
    {
      StrataChainStatus s1, s2;
      guint64 chunk;

      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return FALSE;
      if (!strata_image_chain_status (ia, offset, common - offset, &s1, error) ||
          !strata_image_chain_status (ib, offset, common - offset, &s2, error))
        return FALSE;
      chunk = MIN (s1.length, s2.length);

      /* qemu-img compares the block status flags: compressed data has no host offset. */
      if (opts->strict && (s1.kind != s2.kind ||
                           (s1.kind == STRATA_BLOCK_DATA && s1.compressed != s2.compressed)))
        {
          result->verdict = STRATA_COMPARE_STATUS_MISMATCH;
          result->offset = offset;
          return TRUE;
        }

      if (is_zero_kind (&s1) && is_zero_kind (&s2))
        {
          /* Both read as zeros. */
        }
      else if (is_zero_kind (&s1) || is_zero_kind (&s2))
        {
          StrataImage *data_image = is_zero_kind (&s1) ? ib : ia;

          chunk = MIN (chunk, BUF_SIZE);
          if (!check_zero_range (data_image, offset, chunk, buf1, &mismatch, &result->offset,
                                 error))
            return FALSE;
        }
      else
        {
          chunk = MIN (chunk, BUF_SIZE);
          if (!strata_image_read (ia, offset, chunk, buf1, error) ||
              !strata_image_read (ib, offset, chunk, buf2, error))
            return FALSE;
          if (memcmp (buf1, buf2, chunk) != 0)
            {
              for (gsize i = 0; i < chunk; i += SECTOR)
                {
                  gsize n = MIN (SECTOR, chunk - i);

                  if (memcmp (buf1 + i, buf2 + i, n) != 0)
                    {
                      result->offset = offset + i;
                      break;
                    }
                }
              mismatch = TRUE;
            }
        }

      if (mismatch)
        {
          result->verdict = STRATA_COMPARE_CONTENT_MISMATCH;
          return TRUE;
        }
      offset += chunk;
      if (job != NULL)
        strata_job_set_progress (job, offset, larger);
    }

  /* The larger image's extra part must read as zeros. */
  while (offset < larger)
    {
      StrataImage *over = size_a > size_b ? ia : ib;
      StrataChainStatus s;
      guint64 chunk;

      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return FALSE;
      if (!strata_image_chain_status (over, offset, larger - offset, &s, error))
        return FALSE;
      chunk = s.length;
      if (s.kind == STRATA_BLOCK_DATA)
        {
          chunk = MIN (chunk, BUF_SIZE);
          if (!check_zero_range (over, offset, chunk, buf1, &mismatch, &result->offset, error))
            return FALSE;
          if (mismatch)
            {
              result->verdict = STRATA_COMPARE_CONTENT_MISMATCH;
              return TRUE;
            }
        }
      offset += chunk;
      if (job != NULL)
        strata_job_set_progress (job, offset, larger);
    }

  if (job != NULL)
    strata_job_finish (job);
  result->verdict = STRATA_COMPARE_IDENTICAL;
  return TRUE;
}

typedef struct
{
  char                 *a;
  char                 *b;
  char                 *format_a;
  char                 *format_b;
  StrataCompareOptions  opts;
  StrataJob            *job;
  StrataCompareResult   result;
} CompareTask;

static void
compare_task_free (gpointer data)
{
  CompareTask *t = data;

  g_free (t->a);
  g_free (t->b);
  g_free (t->format_a);
  g_free (t->format_b);
  g_clear_object (&t->job);
  g_free (t);
}

static void
compare_thread (GTask        *task,
                gpointer      source,
                gpointer      task_data,
                GCancellable *cancellable)
{
  CompareTask *t = task_data;
  GError *error = NULL;

  if (strata_compare_sync (t->a, t->b, &t->opts, t->job, &t->result, cancellable, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

void
strata_compare_async (const char                 *a,
                      const char                 *b,
                      const StrataCompareOptions *opts,
                      StrataJob                  *job,
                      GCancellable               *cancellable,
                      GAsyncReadyCallback         callback,
                      gpointer                    user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  CompareTask *t = g_new0 (CompareTask, 1);

  t->a = g_strdup (a);
  t->b = g_strdup (b);
  if (opts != NULL)
    t->opts = *opts;
  t->format_a = g_strdup (t->opts.format_a);
  t->format_b = g_strdup (t->opts.format_b);
  t->opts.format_a = t->format_a;
  t->opts.format_b = t->format_b;
  t->job = job != NULL ? g_object_ref (job) : NULL;
  g_task_set_source_tag (task, strata_compare_async);
  g_task_set_task_data (task, t, compare_task_free);
  g_task_run_in_thread (task, compare_thread);
}

gboolean
strata_compare_finish (GAsyncResult         *result,
                       StrataCompareResult  *out,
                       GError              **error)
{
  CompareTask *t;

  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);

  if (!g_task_propagate_boolean (G_TASK (result), error))
    return FALSE;
  t = g_task_get_task_data (G_TASK (result));
  if (out != NULL)
    *out = t->result;
  return TRUE;
}
