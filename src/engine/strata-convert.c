/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-convert.h"
#include "strata-target.h"
#include "strata-compress.h"
#include "strata-error.h"
#include "strata-protect.h"
#include "strata-vmdk-write.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * The conversion pipeline:
 *
 *   walker thread ──> N worker threads ──> writer (the calling thread)
 *
 * The walker follows the source chain's block status, skips zero and unallocated ranges
 * and hands out runs of target clusters that hold data as chunks. Each worker reads its
 * chunk through its own handle on the source, finds all-zero clusters and compresses the
 * others with its own compressor. The writer takes chunks strictly in guest order (qcow2
 * appends compressed clusters, so the file is laid out in order and the qcow2 layer sees
 * one sequential writer; a VMDK target is written in one pass in that order) and returns
 * them to the free list. A fixed number of chunks
 * exists, which bounds memory whatever the size of the image.
 *
 * StrataImage is not thread-safe: the walker uses the caller's source handle (block status
 * only), each worker its own handle, and only the writer touches the target.
 */

/* A chunk carries at least this many guest bytes: large enough that locking and
 * write calls are noise, small enough that a few chunks per thread stay cheap. */
#define CHUNK_MIN_BYTES      (1024 * 1024)
/* Memory all the chunks' buffers may take together. */
#define PIPELINE_BUDGET      (32 * 1024 * 1024)
/* Start the kernel's writeback of the target after this many bytes; see writer_run(). */
#define WRITEBACK_INTERVAL   (16 * 1024 * 1024)
/* Zero detection granularity for a raw target: as qemu-img's default -S 4k. */
#define RAW_TARGET_GRANULE   4096

typedef enum
{
  CLUSTER_SKIP,       /* all zeros: leave it unallocated (reads as zeros) */
  CLUSTER_RAW,        /* store as is */
  CLUSTER_COMPRESSED, /* store out_buf[out_off[i] .. + out_len[i]] compressed */
} ClusterKind;

typedef struct
{
  guint64  seq;
  guint64  offset;     /* guest offset of the first cluster, cluster-aligned */
  gsize    length;     /* guest bytes in the chunk (the image end may cut the last cluster) */
  guint    n_clusters;
  guint8  *in_buf;     /* n_clusters * cluster_size, zero-padded at the image end */
  guint8  *out_buf;    /* compressed clusters, cluster i at i * out_stride */
  guint8  *kinds;      /* ClusterKind per cluster */
  guint32 *out_len;
  gboolean ready;      /* processed by a worker */
  gboolean zero;       /* a ZERO run: nothing is read, the range is zeroed in the target */
  GArray  *salvaged;   /* SalvagedRange: what --salvage replaced by zeros, or NULL */
} Chunk;

typedef struct
{
  guint64  offset;
  guint64  length;
  char    *message;
} SalvagedRange;

/* Consecutive regions --salvage gave up on, reported as one. */
typedef struct
{
  guint64  offset;
  guint64  length;
  char    *message;
} WarnRun;

typedef struct
{
  /* Fixed for the whole run. */
  StrataImage       *src;
  StrataImage       *dst;           /* a qcow2 or raw target, or NULL ... */
  StrataVmdkWriter  *vmdk;          /* ... a VMDK target */
  StrataFile        *dst_file;
  guint64            virtual_size;
  guint64            cluster_size;
  gsize              chunk_size;
  gboolean           compress;
  StrataCompression  compression;
  gsize              out_stride;    /* room for one compressed cluster in out_buf */
  gsize              compress_limit; /* the most bytes a compressed cluster may take */
  int                level;
  guint              n_workers;
  GCancellable      *cancellable;
  StrataJob         *job;
  const StrataConvertOptions *opts;
  guint64            data_total;
  gboolean           top_only;      /* -B: copy the source's top layer only */
  guint64            sparse_size;   /* -S */
  guint64            zero_limit;    /* zeros are written below this offset */
  GMutex             warn_lock;     /* serialises opts->warning */
  WarnRun            read_warning;  /* the writer's, for data it could not read */

  GMutex             lock;
  GCond              cond;
  Chunk             *chunks;
  guint              n_chunks;
  GQueue             free_chunks;
  GQueue             todo;
  Chunk            **ring;          /* chunks read and not yet written, by seq % n_chunks */
  guint64            next_seq;
  guint64            write_seq;
  gboolean           reader_done;
  gboolean           stop;
  GError            *error;         /* the first error of any thread */
} Pipeline;

void
strata_convert_options_init (StrataConvertOptions *opts)
{
  memset (opts, 0, sizeof *opts);
  strata_create_options_init (&opts->qcow2);
  strata_vmdk_options_init (&opts->vmdk);
  opts->target_format = "qcow2";
  opts->sparse_size = 4096;
}

static inline guint64
align_down (guint64 v, guint64 a)
{
  return v - v % a;
}

static inline guint64
align_up (guint64 v, guint64 a)
{
  return align_down (v + a - 1, a);
}

/* Stops the pipeline with @error (taken), unless another thread failed first. */
static void
pipeline_fail (Pipeline *p,
               GError   *error)
{
  g_mutex_lock (&p->lock);
  if (p->error == NULL)
    p->error = error;
  else
    g_error_free (error);
  p->stop = TRUE;
  g_cond_broadcast (&p->cond);
  g_mutex_unlock (&p->lock);
}

static gboolean
pipeline_check_cancelled (Pipeline *p)
{
  GError *error = NULL;

  if (g_cancellable_set_error_if_cancelled (p->cancellable, &error))
    {
      pipeline_fail (p, error);
      return TRUE;
    }
  return FALSE;
}

/*
 * Walks the source's block status and returns, in order and never overlapping, maximal
 * runs of target clusters that need work: DATA runs are read and written, ZERO runs are
 * zeroed in the target without reading (a target that does not read as zeros by itself:
 * -n, or an overlay whose backing shows through). A cluster that a run of data touches is
 * data as a whole; one that zeros touch is zeroed, unless data touches it too.
 */
typedef enum
{
  RUN_NONE = 0, /* nothing to do: skipped */
  RUN_ZERO,
  RUN_DATA,
} RunKind;

typedef struct
{
  guint64 start;
  guint64 end;
  RunKind kind;
} Run;

typedef struct
{
  StrataImage *image;
  guint64      virtual_size;
  guint64      cluster_size;
  gboolean     top_only;     /* -B: the top layer's own allocation only */
  guint64      backing_size; /* the size of the top layer's backing (0: none) */
  gboolean     full;         /* -S 0: zeros are written as data */
  guint64      zero_limit;   /* zeros must be written below this guest offset */
  gboolean     salvage;      /* --salvage: a status error makes a cluster data */
  Pipeline    *report;       /* where to report it (NULL: counting, not converting) */
  WarnRun      warning;
  guint64      pos;
  gboolean     has_pending;
  Run          pending;
  Run          ready[4];
  guint        n_ready;
  guint        ready_pos;
} Walker;

static void report_salvaged (Pipeline *p, WarnRun *run, const char *what,
                             guint64 offset, guint64 length, const char *message);

static void
walker_init (Walker      *w,
             Pipeline    *p,
             StrataImage *image,
             gboolean     report)
{
  memset (w, 0, sizeof *w);
  w->image = image;
  w->virtual_size = strata_image_get_size (image);
  w->cluster_size = p->cluster_size;
  w->top_only = p->top_only;
  if (strata_image_get_backing (image) != NULL)
    w->backing_size = strata_image_get_size (strata_image_get_backing (image));
  w->full = p->sparse_size == 0;
  w->zero_limit = p->zero_limit;
  w->salvage = p->opts->salvage;
  w->report = report ? p : NULL;
}

static void
walker_emit (Walker    *w,
             const Run *run)
{
  if (run->kind == RUN_NONE || run->start >= run->end)
    return;
  g_assert (w->n_ready < G_N_ELEMENTS (w->ready));
  w->ready[w->n_ready++] = *run;
}

static void
walker_append (Walker  *w,
               guint64  start,
               guint64  end,
               RunKind  kind)
{
  if (w->has_pending && w->pending.kind == kind && w->pending.end == start)
    {
      w->pending.end = end;
      return;
    }
  if (w->has_pending)
    walker_emit (w, &w->pending);
  w->pending.start = start;
  w->pending.end = end;
  w->pending.kind = kind;
  w->has_pending = TRUE;
}

/*
 * The kind of a cluster that two runs share. A cluster partly zeros and partly left to the
 * backing cannot be one zero cluster: it is written whole, as data read through the source
 * (qemu-img writes the zeros into it and the rest comes from the backing, the same bytes
 * when the backing holds what the source's does).
 */
static RunKind
merge_kinds (RunKind a,
             RunKind b)
{
  if ((a == RUN_ZERO && b == RUN_NONE) || (a == RUN_NONE && b == RUN_ZERO))
    return RUN_DATA;
  return MAX (a, b);
}

/* Adds the bytes [a, b) of @kind, following the bytes added before. */
static void
walker_add (Walker  *w,
            guint64  a,
            guint64  b,
            RunKind  kind)
{
  guint64 cs = w->cluster_size;
  guint64 ca = align_down (a, cs);
  guint64 cb = MIN (align_up (b, cs), w->virtual_size);

  /* Runs come in order, so only the first cluster can be shared with what came before:
   * see merge_kinds(). */
  if (w->has_pending && ca < w->pending.end)
    {
      guint64 shared_end = MIN (ca + cs, w->virtual_size);
      RunKind shared = merge_kinds (w->pending.kind, kind);

      if (shared != w->pending.kind)
        {
          w->pending.end = ca;
          if (w->pending.end == w->pending.start)
            w->has_pending = FALSE;
          walker_append (w, ca, shared_end, shared);
        }
      ca = shared_end;
    }
  if (ca < cb)
    walker_append (w, ca, cb, kind);
}

static gboolean
walker_query (Walker           *w,
              guint64           offset,
              guint64          *len,
              StrataBlockKind  *kind,
              GError          **error)
{
  if (w->top_only)
    {
      StrataBlockStatus st;

      if (!strata_image_block_status (w->image, offset, *len, &st, error))
        return FALSE;
      *kind = st.kind;
      *len = st.length;
    }
  else
    {
      StrataChainStatus st;

      if (!strata_image_chain_status (w->image, offset, *len, &st, error))
        return FALSE;
      *kind = st.kind;
      *len = st.length;
    }
  return TRUE;
}

/* Reads the next status run at w->pos into the walker. FALSE on error. */
static gboolean
walker_step (Walker  *w,
             GError **error)
{
  guint64 a = w->pos;
  guint64 len = w->virtual_size - a;
  StrataBlockKind kind;
  gboolean below_limit = a < w->zero_limit;
  GError *local_error = NULL;
  gboolean ok;
  RunKind run;

  /* Zeros are handled differently on both sides of the limit, and the top layer's
   * unallocated clusters on both sides of its backing's end: split there. */
  if (below_limit)
    len = MIN (len, w->zero_limit - a);
  if (w->top_only && a < w->backing_size)
    len = MIN (len, w->backing_size - a);

  ok = walker_query (w, a, &len, &kind, &local_error);
  /* A driver may check a whole table ahead of the run it reports: with --salvage, ask about
   * this one cluster before giving up on it. */
  if (!ok && w->salvage)
    {
      len = MIN (align_down (a, w->cluster_size) + w->cluster_size, w->virtual_size) - a;
      g_clear_error (&local_error);
      ok = walker_query (w, a, &len, &kind, &local_error);
    }

  if (!ok)
    {
      if (!w->salvage)
        {
          g_propagate_error (error, local_error);
          return FALSE;
        }
      /* Try to read that cluster then; what cannot be read becomes zeros. */
      len = MIN (align_down (a, w->cluster_size) + w->cluster_size, w->virtual_size) - a;
      if (w->report != NULL)
        report_salvaged (w->report, &w->warning, "block status", a, len,
                         local_error->message);
      g_clear_error (&local_error);
      kind = STRATA_BLOCK_DATA;
    }
  if (len == 0)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_IO,
                   "%s: no block status at offset %" G_GUINT64_FORMAT,
                   strata_image_get_filename (w->image), a);
      return FALSE;
    }

  /* Unallocated in the top layer: the backing answers there, in the source as in the
   * target; past the backing's end (or without one) it reads as zeros. */
  if (kind == STRATA_BLOCK_DATA)
    run = RUN_DATA;
  else if (kind == STRATA_BLOCK_UNALLOCATED && w->top_only && a < w->backing_size)
    run = RUN_NONE;
  else if (w->full && (!w->top_only || below_limit))
    run = RUN_DATA;
  else if (below_limit)
    run = RUN_ZERO;
  else
    run = RUN_NONE;

  w->pos = a + len;
  walker_add (w, a, a + len, run);
  return TRUE;
}

/* Returns FALSE on error; *found is FALSE at the end. */
static gboolean
walker_next (Walker   *w,
             gboolean *found,
             Run      *run,
             GError  **error)
{
  *found = FALSE;

  while (w->ready_pos == w->n_ready)
    {
      w->ready_pos = w->n_ready = 0;
      if (w->pos >= w->virtual_size)
        {
          if (w->report != NULL)
            report_salvaged (w->report, &w->warning, "block status", 0, 0, NULL);
          if (!w->has_pending)
            return TRUE;
          w->has_pending = FALSE;
          walker_emit (w, &w->pending);
          continue;
        }
      if (!walker_step (w, error))
        return FALSE;
    }

  *found = TRUE;
  *run = w->ready[w->ready_pos++];
  return TRUE;
}

static gboolean
count_data_bytes (Pipeline *p,
                  guint64  *total,
                  GError  **error)
{
  Walker w;
  gboolean found;
  Run run;

  walker_init (&w, p, p->src, FALSE);
  *total = 0;

  for (;;)
    {
      if (!walker_next (&w, &found, &run, error))
        return FALSE;
      if (!found)
        return TRUE;
      if (run.kind == RUN_DATA)
        *total += run.end - run.start;
    }
}

/* Takes a free chunk, waiting for the writer to return one; NULL when stopping. */
static Chunk *
pipeline_get_free_chunk (Pipeline *p)
{
  Chunk *chunk = NULL;

  g_mutex_lock (&p->lock);
  while (!p->stop && g_queue_is_empty (&p->free_chunks))
    g_cond_wait (&p->cond, &p->lock);
  if (!p->stop)
    chunk = g_queue_pop_head (&p->free_chunks);
  g_mutex_unlock (&p->lock);

  return chunk;
}

/* A ZERO chunk carries at most this many guest bytes (nothing is read for it). */
#define ZERO_CHUNK_MAX       (G_GUINT64_CONSTANT (1) << 30)

static gboolean
reader_emit (Pipeline  *p,
             const Run *run)
{
  guint64 start = run->start;

  while (start < run->end)
    {
      Chunk *chunk;
      gboolean zero = run->kind == RUN_ZERO;
      gsize len = MIN (run->end - start, zero ? ZERO_CHUNK_MAX : p->chunk_size);
      gsize padded = align_up (len, p->cluster_size);

      if (pipeline_check_cancelled (p))
        return FALSE;
      if (!(chunk = pipeline_get_free_chunk (p)))
        return FALSE;

      chunk->offset = start;
      chunk->length = len;
      chunk->n_clusters = zero ? 0 : padded / p->cluster_size;
      chunk->zero = zero;
      /* Nothing to read or compress: straight to the writer. */
      chunk->ready = zero;

      g_mutex_lock (&p->lock);
      chunk->seq = p->next_seq++;
      p->ring[chunk->seq % p->n_chunks] = chunk;
      if (!zero)
        g_queue_push_tail (&p->todo, chunk);
      g_cond_broadcast (&p->cond);
      g_mutex_unlock (&p->lock);

      start += len;
    }

  return TRUE;
}

/* Lowers the calling thread's CPU priority (on Linux a thread has its own nice value), for
 * opts->background. Best effort: a failure only leaves the priority as it was. */
static void
pipeline_thread_start (Pipeline *p)
{
  if (p->opts->background)
    {
      pid_t tid = gettid ();
      int nice_value;

      errno = 0;
      nice_value = getpriority (PRIO_PROCESS, tid);
      if (errno == 0)
        (void) setpriority (PRIO_PROCESS, tid, MIN (nice_value + 10, 19));
    }
}

static gpointer
reader_thread (gpointer data)
{
  Pipeline *p = data;
  GError *error = NULL;
  Walker w;

  pipeline_thread_start (p);

  walker_init (&w, p, p->src, TRUE);

  for (;;)
    {
      gboolean found;
      Run run;

      if (!walker_next (&w, &found, &run, &error))
        {
          pipeline_fail (p, error);
          break;
        }
      if (!found || !reader_emit (p, &run))
        break;
    }
  g_free (w.warning.message);

  g_mutex_lock (&p->lock);
  p->reader_done = TRUE;
  g_cond_broadcast (&p->cond);
  g_mutex_unlock (&p->lock);

  return NULL;
}

static gboolean
is_zero (const guint8 *buf,
         gsize         len)
{
  /* Word checks find the data of a non-zero cluster in its first bytes; memcmp against
   * itself shifted by 16 bytes then checks the rest at memory speed. */
  for (gsize i = 0; i < 16 && i < len; i++)
    if (buf[i] != 0)
      return FALSE;
  return len <= 16 || memcmp (buf, buf + 16, len - 16) == 0;
}

/*
 * -S larger than a cluster: a run of zero clusters is left out only when it is that long
 * (or the whole chunk), as qemu-img looks for zero runs of at least -S inside what it
 * read. Compressed targets skip any zero cluster, as qemu-img does for them.
 */
static void
keep_short_zero_runs (Pipeline *p,
                      Chunk    *chunk)
{
  guint64 min_run = MIN (p->sparse_size, (guint64) chunk->length);
  guint i = 0;

  while (i < chunk->n_clusters)
    {
      guint j = i;

      if (chunk->kinds[i] != CLUSTER_SKIP)
        {
          i++;
          continue;
        }
      while (j < chunk->n_clusters && chunk->kinds[j] == CLUSTER_SKIP)
        j++;
      if ((guint64) (j - i) * p->cluster_size < min_run)
        for (guint k = i; k < j; k++)
          chunk->kinds[k] = CLUSTER_RAW;
      i = j;
    }
}

static void
worker_process (Pipeline         *p,
                StrataCompressor *compressor,
                Chunk            *chunk)
{
  gsize cs = p->cluster_size;

  for (guint i = 0; i < chunk->n_clusters; i++)
    {
      const guint8 *in = chunk->in_buf + i * cs;
      gsize n;

      /* -S 0: every cluster is written, zeros too. */
      if (p->sparse_size != 0 && is_zero (in, cs))
        {
          chunk->kinds[i] = CLUSTER_SKIP;
          continue;
        }

      chunk->kinds[i] = CLUSTER_RAW;
      if (compressor == NULL)
        continue;

      /* QEMU's qcow2 rule: a cluster that does not shrink below its size is stored as is.
       * A streamOptimized VMDK compresses every grain: its limit is the zlib bound. */
      n = strata_compressor_compress (compressor, in, cs, chunk->out_buf + i * p->out_stride,
                                      p->compress_limit);
      if (n > 0)
        {
          chunk->kinds[i] = CLUSTER_COMPRESSED;
          chunk->out_len[i] = n;
        }
    }

  if (p->sparse_size > cs && compressor == NULL)
    keep_short_zero_runs (p, chunk);
}

static void
salvaged_range_clear (gpointer data)
{
  g_free (((SalvagedRange *) data)->message);
}

static void
chunk_add_salvaged (Chunk      *chunk,
                    guint64     offset,
                    guint64     length,
                    const char *message)
{
  SalvagedRange r;

  if (chunk->salvaged == NULL)
    {
      chunk->salvaged = g_array_new (FALSE, FALSE, sizeof (SalvagedRange));
      g_array_set_clear_func (chunk->salvaged, salvaged_range_clear);
    }
  if (chunk->salvaged->len > 0)
    {
      SalvagedRange *last = &g_array_index (chunk->salvaged, SalvagedRange,
                                            chunk->salvaged->len - 1);

      if (last->offset + last->length == offset)
        {
          last->length += length;
          return;
        }
    }
  r.offset = offset;
  r.length = length;
  r.message = g_strdup (message);
  g_array_append_val (chunk->salvaged, r);
}

/* Unreadable sectors of the source are read as zeros (--salvage): the chunk is read again
 * in smaller pieces, and a piece that still fails sector by sector, as qemu-img does. */
#define SALVAGE_PIECE  (64 * 1024)
#define SECTOR         512

static void
salvage_read (StrataImage *src,
              Chunk       *chunk)
{
  for (gsize done = 0; done < chunk->length; )
    {
      guint64 offset = chunk->offset + done;
      gsize n = MIN (chunk->length - done, SALVAGE_PIECE - offset % SALVAGE_PIECE);
      g_autoptr(GError) error = NULL;

      if (!strata_image_read (src, offset, n, chunk->in_buf + done, NULL))
        for (gsize s = 0; s < n; )
          {
            gsize m = MIN (n - s, SECTOR - (offset + s) % SECTOR);

            if (!strata_image_read (src, offset + s, m, chunk->in_buf + done + s, &error))
              {
                memset (chunk->in_buf + done + s, 0, m);
                chunk_add_salvaged (chunk, offset + s, m, error->message);
                g_clear_error (&error);
              }
            s += m;
          }
      done += n;
    }
}

typedef struct
{
  Pipeline    *pipeline;
  StrataImage *src;      /* this worker's own handle on the source chain */
  GThread     *thread;
} Worker;

static gpointer
worker_thread (gpointer data)
{
  Worker *worker = data;
  Pipeline *p = worker->pipeline;
  g_autoptr(StrataCompressor) compressor = NULL;

  pipeline_thread_start (p);
  if (p->compress && p->vmdk != NULL)
    compressor = strata_compressor_new_zlib (p->level);
  else if (p->compress)
    compressor = strata_compressor_new (p->compression, p->level);

  for (;;)
    {
      Chunk *chunk;

      g_mutex_lock (&p->lock);
      while (!p->stop && g_queue_is_empty (&p->todo) && !p->reader_done)
        g_cond_wait (&p->cond, &p->lock);
      chunk = p->stop ? NULL : g_queue_pop_head (&p->todo);
      g_mutex_unlock (&p->lock);

      if (chunk == NULL)
        break;
      if (pipeline_check_cancelled (p))
        break;

      {
        GError *error = NULL;
        gsize padded = (gsize) chunk->n_clusters * p->cluster_size;

        if (padded > chunk->length)
          memset (chunk->in_buf + chunk->length, 0, padded - chunk->length);
        if (!strata_image_read (worker->src, chunk->offset, chunk->length, chunk->in_buf,
                                &error))
          {
            if (!p->opts->salvage)
              {
                pipeline_fail (p, error);
                break;
              }
            g_clear_error (&error);
            salvage_read (worker->src, chunk);
          }
      }

      worker_process (p, compressor, chunk);

      g_mutex_lock (&p->lock);
      chunk->ready = TRUE;
      g_cond_broadcast (&p->cond);
      g_mutex_unlock (&p->lock);
    }

  return NULL;
}

/* Adds a region to @run, reporting what @run held when this one does not follow it;
 * a @message of NULL reports what is left. */
static void
report_salvaged (Pipeline   *p,
                 WarnRun    *run,
                 const char *what,
                 guint64     offset,
                 guint64     length,
                 const char *message)
{
  g_autofree char *text = NULL;

  if (message != NULL && run->message != NULL && run->offset + run->length == offset)
    {
      run->length += length;
      return;
    }
  if (run->message != NULL && p->opts->warning != NULL)
    {
      text = g_strdup_printf ("error while reading %s at offset %" G_GUINT64_FORMAT " (%"
                              G_GUINT64_FORMAT " bytes %s): %s", what, run->offset,
                              run->length, g_str_equal (what, "block status")
                                             ? "read as data" : "written as zeros",
                              run->message);
      g_mutex_lock (&p->warn_lock);
      p->opts->warning (text, p->opts->warning_data);
      g_mutex_unlock (&p->warn_lock);
    }
  g_free (run->message);
  run->message = g_strdup (message);
  run->offset = offset;
  run->length = length;
}

/* Makes [offset, offset + length) read as zeros in a target that does not by itself; past
 * zero_limit (the end of a new overlay's backing) it already does. */
static gboolean
writer_zero (Pipeline  *p,
             guint64    offset,
             guint64    length,
             GError   **error)
{
  if (offset >= p->zero_limit)
    return TRUE;
  length = MIN (length, p->zero_limit - offset);
  /* qcow2: zero clusters, whatever lies below, as qemu-img writes them. */
  if (g_strcmp0 (strata_image_get_format (p->dst), "qcow2") == 0)
    return strata_image_write_zeroes_masking (p->dst, offset, length, error);
  return strata_image_write_zeroes (p->dst, offset, length, error);
}

static gboolean
writer_write_chunk (Pipeline  *p,
                    Chunk     *chunk,
                    GError   **error)
{
  gsize cs = p->cluster_size;
  guint i = 0;

  if (chunk->salvaged != NULL)
    {
      for (guint k = 0; k < chunk->salvaged->len; k++)
        {
          SalvagedRange *r = &g_array_index (chunk->salvaged, SalvagedRange, k);

          report_salvaged (p, &p->read_warning, "data", r->offset, r->length, r->message);
        }
      g_clear_pointer (&chunk->salvaged, g_array_unref);
    }

  if (chunk->zero)
    return writer_zero (p, chunk->offset, chunk->length, error);

  while (i < chunk->n_clusters)
    {
      guint64 offset = chunk->offset + (guint64) i * cs;

      switch (chunk->kinds[i])
        {
        case CLUSTER_SKIP:
          {
            guint j = i + 1;

            while (j < chunk->n_clusters && chunk->kinds[j] == CLUSTER_SKIP)
              j++;
            if (p->dst != NULL &&
                !writer_zero (p, offset, MIN ((gsize) (j - i) * cs,
                                              chunk->length - (gsize) i * cs), error))
              return FALSE;
            i = j;
          }
          break;

        case CLUSTER_COMPRESSED:
          if (p->vmdk != NULL
              ? !strata_vmdk_writer_write_compressed (p->vmdk, offset,
                                                      chunk->out_buf + i * p->out_stride,
                                                      chunk->out_len[i], error)
              : !strata_image_write_compressed (p->dst, offset,
                                                chunk->out_buf + i * p->out_stride,
                                                chunk->out_len[i], error))
            return FALSE;
          i++;
          break;

        case CLUSTER_RAW:
        default:
          {
            /* One write for a run of stored clusters. */
            guint j = i + 1;
            gsize len;

            while (j < chunk->n_clusters && chunk->kinds[j] == CLUSTER_RAW)
              j++;
            len = MIN ((gsize) (j - i) * cs, chunk->length - (gsize) i * cs);
            if (p->vmdk != NULL
                ? !strata_vmdk_writer_write (p->vmdk, offset, chunk->in_buf + i * cs, len,
                                             error)
                : !strata_image_write (p->dst, offset, len, chunk->in_buf + i * cs, error))
              return FALSE;
            i = j;
          }
          break;
        }
    }

  return TRUE;
}

/* Runs in the calling thread until every chunk is written or something failed. */
static void
writer_run (Pipeline *p)
{
  int fd = strata_file_get_fd (p->dst_file);
  guint64 done = 0;
  guint64 hinted = 0;

  if (p->job != NULL)
    strata_job_set_progress (p->job, 0, p->data_total);

  for (;;)
    {
      GError *error = NULL;
      Chunk *chunk;

      g_mutex_lock (&p->lock);
      for (;;)
        {
          chunk = p->ring[p->write_seq % p->n_chunks];
          if (p->stop)
            break;
          if (chunk != NULL && chunk->seq == p->write_seq && chunk->ready)
            break;
          if (p->reader_done && p->write_seq == p->next_seq)
            break;
          g_cond_wait (&p->cond, &p->lock);
        }
      if (p->stop || p->write_seq == p->next_seq)
        chunk = NULL;
      g_mutex_unlock (&p->lock);

      if (chunk == NULL)
        {
          report_salvaged (p, &p->read_warning, "data", 0, 0, NULL);
          return;
        }

      if (pipeline_check_cancelled (p))
        return;

      if (!writer_write_chunk (p, chunk, &error))
        {
          pipeline_fail (p, error);
          return;
        }
      if (!chunk->zero)
        done += chunk->length;

      /* The target is flushed once at the end; starting writeback as we go lets the disk
       * work while we compress instead of all at once in that flush (it halves the final
       * fdatasync of an uncompressed conversion). Only a hint: errors show up at the flush. */
      if (done - hinted >= WRITEBACK_INTERVAL)
        {
          (void) sync_file_range (fd, 0, 0, SYNC_FILE_RANGE_WRITE);
          hinted = done;
        }

      g_mutex_lock (&p->lock);
      p->ring[p->write_seq % p->n_chunks] = NULL;
      p->write_seq++;
      g_queue_push_tail (&p->free_chunks, chunk);
      g_cond_broadcast (&p->cond);
      g_mutex_unlock (&p->lock);

      if (p->job != NULL)
        strata_job_set_progress (p->job, done, p->data_total);
      if (p->opts->progress != NULL)
        p->opts->progress (done, p->data_total, p->opts->progress_data);
    }
}

static gboolean
pipeline_run (Pipeline  *p,
              GError   **error)
{
  g_autofree Worker *workers = NULL;
  g_autofree guint8 *arena = NULL;
  GError *local_error = NULL;
  GThread *reader;
  gsize clusters_per_chunk;
  gsize in_size;
  gsize out_size;
  gsize per_chunk;

  clusters_per_chunk = MAX (1, p->chunk_size / p->cluster_size);
  p->chunk_size = clusters_per_chunk * p->cluster_size;
  in_size = p->chunk_size;
  out_size = p->compress ? clusters_per_chunk * p->out_stride : 0;
  per_chunk = in_size + out_size + clusters_per_chunk * (1 + sizeof (guint32));
  /* Every chunk starts aligned, so its guint32 lengths are too. */
  per_chunk = (per_chunk + 63) & ~(gsize) 63;

  /* Two chunks per worker keep every worker busy while the writer and the reader each hold
   * one; the budget caps it for large clusters or many threads. */
  p->n_chunks = 2 * p->n_workers + 2;
  p->n_chunks = CLAMP (PIPELINE_BUDGET / per_chunk, 3, p->n_chunks);
  /* A worker without a chunk to work on only costs memory (its compressor and source
   * handle): with large clusters and many threads the budget caps the workers too, so the
   * peak stays under 64 MiB (measured: 2 MiB clusters, -m 16). */
  p->n_workers = MIN (p->n_workers, p->n_chunks - 2);

  arena = g_malloc (per_chunk * p->n_chunks);
  p->chunks = g_new0 (Chunk, p->n_chunks);
  p->ring = g_new0 (Chunk *, p->n_chunks);
  for (guint i = 0; i < p->n_chunks; i++)
    {
      guint8 *base = arena + per_chunk * i;
      Chunk *c = &p->chunks[i];

      c->in_buf = base;
      c->out_buf = p->compress ? base + in_size : NULL;
      c->out_len = (guint32 *) (base + in_size + out_size);
      c->kinds = base + in_size + out_size + clusters_per_chunk * sizeof (guint32);
      g_queue_push_tail (&p->free_chunks, c);
    }

  /* Each worker reads with its own handle (an image is used by one thread at a time), so
   * reads and decompression of a compressed source run in parallel too. The main handle
   * holds the locks. */
  workers = g_new0 (Worker, p->n_workers);
  for (guint i = 0; i < p->n_workers; i++)
    {
      workers[i].pipeline = p;
      workers[i].src = strata_image_open (strata_image_get_filename (p->src),
                                          strata_image_get_format (p->src),
                                          STRATA_OPEN_NO_LOCK, &local_error);
      if (workers[i].src == NULL)
        {
          for (guint j = 0; j < i; j++)
            strata_image_unref (workers[j].src);
          g_clear_pointer (&workers, g_free);
          g_clear_pointer (&arena, g_free);
          g_clear_pointer (&p->chunks, g_free);
          g_clear_pointer (&p->ring, g_free);
          g_propagate_error (error, g_steal_pointer (&local_error));
          return FALSE;
        }
    }

  reader = g_thread_new ("strata-convert-walk", reader_thread, p);
  for (guint i = 0; i < p->n_workers; i++)
    workers[i].thread = g_thread_new ("strata-convert-work", worker_thread, &workers[i]);

  writer_run (p);

  /* Whatever ended the writer, make sure the other threads end too. */
  g_mutex_lock (&p->lock);
  if (p->error != NULL || !p->reader_done || p->write_seq != p->next_seq)
    p->stop = TRUE;
  g_cond_broadcast (&p->cond);
  g_mutex_unlock (&p->lock);

  g_thread_join (reader);
  for (guint i = 0; i < p->n_workers; i++)
    {
      g_thread_join (workers[i].thread);
      strata_image_unref (workers[i].src);
    }

  g_queue_clear (&p->free_chunks);
  g_queue_clear (&p->todo);
  for (guint i = 0; i < p->n_chunks; i++)
    g_clear_pointer (&p->chunks[i].salvaged, g_array_unref);
  g_clear_pointer (&p->read_warning.message, g_free);
  g_clear_pointer (&p->chunks, g_free);
  g_clear_pointer (&p->ring, g_free);

  if (p->error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&p->error));
      return FALSE;
    }
  return TRUE;
}

/* Errors of the target's temporary file should name the file the user asked for. */
static void
name_target_in_error (GError     **error,
                      const char  *target)
{
  GError *e;

  if (error == NULL || *error == NULL)
    return;
  e = *error;
  if (e->domain != STRATA_ERROR)
    return;

  if (e->code == STRATA_ERROR_NO_SPACE)
    {
      char *msg = g_strdup_printf ("%s: no space left on the target's filesystem; the "
                                   "conversion was abandoned and nothing was written (%s)",
                                   target, e->message);
      g_free (e->message);
      e->message = msg;
    }
  else if (!g_str_has_prefix (e->message, target))
    g_prefix_error (error, "%s: could not write the converted image: ", target);
}

/* File sizes of every layer of the chain, to notice a source cut short (or grown) while it
 * was read: the drivers read missing bytes past the end as zeros, which would otherwise
 * end up in the target as if they were data. */
static GArray *
chain_file_sizes (StrataImage *src)
{
  GArray *sizes = g_array_new (FALSE, TRUE, sizeof (guint64));

  for (StrataImage *layer = src; layer != NULL; layer = strata_image_get_backing (layer))
    {
      guint64 size = G_MAXUINT64;

      if (!strata_file_get_size (strata_image_get_file (layer), &size, NULL))
        size = G_MAXUINT64;
      g_array_append_val (sizes, size);
    }
  return sizes;
}

static gboolean
check_chain_unchanged (StrataImage  *src,
                       GArray       *before,
                       GError      **error)
{
  g_autoptr(GArray) after = chain_file_sizes (src);
  guint i = 0;

  for (StrataImage *layer = src; layer != NULL; layer = strata_image_get_backing (layer), i++)
    {
      guint64 a = g_array_index (before, guint64, i);
      guint64 b = g_array_index (after, guint64, i);

      if (a != b)
        {
          g_set_error (error, STRATA_ERROR, STRATA_ERROR_IO,
                       "%s: the file changed size while it was converted (%" G_GUINT64_FORMAT
                       " bytes, now %" G_GUINT64_FORMAT "); the conversion was abandoned",
                       strata_image_get_filename (layer), a, b);
          return FALSE;
        }
    }
  return TRUE;
}

/* Disk usage of every file the source reads (layers and VMDK extents). */
static guint64
chain_allocated (StrataImage *src)
{
  g_autoptr(GPtrArray) files = strata_image_list_chain_files (src);
  guint64 total = 0;

  for (guint i = 0; i < files->len; i++)
    total += strata_file_get_allocated (g_ptr_array_index (files, i));
  return total;
}

/* The fewest bytes the target file takes whatever the data: a raw disk is as long as its
 * virtual size; a qcow2 file holds at least its header cluster and L1 table, a VMDK its
 * header, descriptor and grain directories and tables. */
static guint64
target_min_size (const StrataConvertOptions *opts,
                 guint64                     size)
{
  guint64 cs = opts->qcow2.cluster_size;
  guint64 l2_entries;

  if (g_strcmp0 (opts->target_format, "raw") == 0)
    return size;
  if (g_strcmp0 (opts->target_format, "vmdk") == 0)
    return strata_vmdk_metadata_size (size, &opts->vmdk);

  l2_entries = cs / (opts->qcow2.extended_l2 ? 16 : 8);
  return cs + (size / (cs * l2_entries) + 1) * 8;
}

/*
 * Refuses, before anything is written, a source whose declared size the target's file
 * system cannot hold: ftruncate() of the empty temporary file to the least the target
 * takes fails with EFBIG past the file system's largest file (a FAT stick: 4 GiB) or the
 * process's RLIMIT_FSIZE. Only the file's length changes, and back: a probe, not a write
 * the I/O hooks need to see. Without this the error would come halfway through, naming
 * only the temporary file.
 */
static gboolean
check_target_can_hold (StrataFile                 *tmp,
                       const StrataConvertOptions *opts,
                       const char                 *source,
                       guint64                     size,
                       const char                 *target,
                       GError                    **error)
{
  int fd = strata_file_get_fd (tmp);
  guint64 needed = target_min_size (opts, size);
  g_autofree char *human = g_format_size_full (size, G_FORMAT_SIZE_IEC_UNITS);
  int saved_errno;

  if (needed == 0)
    return TRUE;
  if (needed <= G_MAXINT64 && ftruncate (fd, (off_t) needed) == 0)
    {
      if (ftruncate (fd, 0) != 0)
        {
          strata_set_error_from_errno (error, errno, strata_file_get_path (tmp),
                                       "Could not resize the file");
          return FALSE;
        }
      return TRUE;
    }
  saved_errno = needed > G_MAXINT64 ? EFBIG : errno;

  if (saved_errno != EFBIG && saved_errno != EINVAL)
    {
      strata_set_error_from_errno (error, saved_errno, strata_file_get_path (tmp),
                                   "Could not resize the file to %" G_GUINT64_FORMAT " bytes",
                                   needed);
      return FALSE;
    }

  if (needed == size)
    g_set_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED,
                 "%s: its virtual size, %" G_GUINT64_FORMAT " bytes (%s), is more than the "
                 "file system of %s can hold in one file (%s); nothing was written",
                 source, size, human, target, g_strerror (saved_errno));
  else
    g_set_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED,
                 "%s: a %s image of its virtual size, %" G_GUINT64_FORMAT " bytes (%s), "
                 "takes at least %" G_GUINT64_FORMAT " bytes, more than the file system of "
                 "%s can hold in one file (%s); nothing was written",
                 source, opts->target_format, size, human, needed, target,
                 g_strerror (saved_errno));
  return FALSE;
}

static StrataImage *
create_target (StrataFile                 *tmp,
               const StrataConvertOptions *opts,
               guint64                     size,
               const char                 *backing_format,
               GError                    **error)
{
  const char *path = strata_file_get_path (tmp);

  if (g_strcmp0 (opts->target_format, "raw") == 0)
    {
      if (!strata_file_truncate (tmp, size, error) ||
          !strata_raw_preallocate (tmp, opts->qcow2.preallocation, 0, size, error))
        return NULL;
      return strata_image_open (path, "raw", STRATA_OPEN_WRITE | STRATA_OPEN_NO_LOCK, error);
    }
  else
    {
      StrataCreateOptions copts = opts->qcow2;

      copts.size = size;
      copts.has_size = TRUE;
      /* The name as given (it is resolved against the target's folder, which the temporary
       * file shares); the format as given or as found. */
      copts.backing_format = copts.backing_file != NULL ? backing_format : NULL;
      if (!strata_create_qcow2_in_file (tmp, &copts, error))
        return NULL;
      return strata_image_open (path, "qcow2",
                                STRATA_OPEN_WRITE | STRATA_OPEN_NO_LOCK |
                                STRATA_OPEN_NO_BACKING, error);
    }
}

static gboolean
same_file (StrataFile  *file,
           const char  *path)
{
  struct stat a, b;

  return fstat (strata_file_get_fd (file), &a) == 0 && stat (path, &b) == 0 &&
         a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* -B: opens the new backing (resolved against the target's folder), which must exist, and
 * finds its format when none is given. The target must not be one of its files. */
static StrataImage *
open_new_backing (const char                 *target,
                  const StrataConvertOptions *opts,
                  GError                    **error)
{
  g_autofree char *path = NULL;
  g_autoptr(StrataImage) base = NULL;
  g_autoptr(GPtrArray) files = NULL;
  GError *local_error = NULL;

  if (!(path = strata_resolve_backing_name (target, opts->qcow2.backing_file, error)))
    return NULL;
  base = strata_image_open (path, opts->qcow2.backing_format, STRATA_OPEN_FORCE_SHARE,
                            &local_error);
  if (base == NULL)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_BACKING,
                   "%s: could not open the backing file \"%s\" (%s): %s; nothing was written",
                   target, opts->qcow2.backing_file, path, local_error->message);
      g_error_free (local_error);
      return NULL;
    }

  files = strata_image_list_chain_files (base);
  for (guint i = 0; i < files->len; i++)
    if (same_file (g_ptr_array_index (files, i), target))
      {
        g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                     "%s: refusing to overwrite %s, which the new backing file %s reads",
                     target, strata_file_get_path (g_ptr_array_index (files, i)), path);
        return NULL;
      }
  return g_steal_pointer (&base);
}

/* -n: opens the existing target for writing in place. */
static StrataImage *
open_existing_target (const char                 *target,
                      StrataImage                *src,
                      const StrataConvertOptions *opts,
                      GError                    **error)
{
  g_autoptr(StrataImage) dst = NULL;
  g_autoptr(GPtrArray) files = strata_image_list_chain_files (src);

  if (g_strcmp0 (opts->target_format, "vmdk") == 0)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED,
                   "%s: writing into an existing VMDK image (-n) is not supported (qcow2 or "
                   "raw)", target);
      return NULL;
    }

  for (guint i = 0; i < files->len; i++)
    if (same_file (g_ptr_array_index (files, i), target))
      {
        g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                     "%s: refusing to write into %s, which is part of the source", target,
                     strata_file_get_path (g_ptr_array_index (files, i)));
        return NULL;
      }

  /* Root ignores the mode bits: a protected image is refused from the bits themselves. */
  if (!strata_protect_check_writable (target, error))
    return NULL;

  /* Its backing is not opened: only the top layer is written, and its zero writes mask
   * whatever lies below. */
  dst = strata_image_open (target, opts->target_format,
                           STRATA_OPEN_WRITE | STRATA_OPEN_NO_BACKING, error);
  if (dst == NULL)
    return NULL;
  if (strata_image_get_size (dst) < strata_image_get_size (src))
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                   "%s: the target (%" G_GUINT64_FORMAT " bytes) is smaller than the source "
                   "%s (%" G_GUINT64_FORMAT " bytes)", target, strata_image_get_size (dst),
                   strata_image_get_filename (src), strata_image_get_size (src));
      return NULL;
    }
  return g_steal_pointer (&dst);
}

gboolean
strata_convert_sync (const char                 *source,
                     const char                 *target,
                     const StrataConvertOptions *opts,
                     StrataJob                  *job,
                     StrataConvertResult        *result,
                     GCancellable               *cancellable,
                     GError                    **error)
{
  g_autoptr(StrataImage) src = NULL;
  g_autoptr(StrataImage) dst = NULL;
  g_autoptr(StrataImage) base = NULL;
  g_autoptr(StrataFile) tmp = NULL;
  g_autoptr(GArray) sizes = NULL;
  g_autoptr(StrataVmdkWriter) vmdk = NULL;
  StrataConvertOptions defaults;
  Pipeline p;
  gboolean is_raw;
  gboolean is_vmdk;
  gboolean in_place;
  gboolean ok;
  guint target_mode = 0;
  struct stat st;

  g_return_val_if_fail (source != NULL, FALSE);
  g_return_val_if_fail (target != NULL, FALSE);
  g_return_val_if_fail (job == NULL || STRATA_IS_JOB (job), FALSE);

  if (opts == NULL)
    {
      strata_convert_options_init (&defaults);
      opts = &defaults;
    }

  is_raw = g_strcmp0 (opts->target_format, "raw") == 0;
  is_vmdk = g_strcmp0 (opts->target_format, "vmdk") == 0;
  in_place = opts->existing_target;
  if (!is_raw && !is_vmdk && g_strcmp0 (opts->target_format, "qcow2") != 0)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED,
                   "%s: converting to the %s format is not supported (qcow2, raw or vmdk)",
                   target, opts->target_format ? opts->target_format : "(null)");
      return FALSE;
    }
  if (is_raw && opts->compress)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                   "%s: compression is not supported for the raw format", target);
      return FALSE;
    }
  /* qemu-img 7.2 quietly writes uncompressed grains here; saying so is kinder. */
  if (is_vmdk && opts->compress && opts->vmdk.subformat != STRATA_VMDK_STREAM_OPTIMIZED)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                   "%s: compression is only supported for the streamOptimized VMDK "
                   "subformat (-o subformat=streamOptimized)", target);
      return FALSE;
    }
  if (opts->qcow2.backing_file != NULL && !in_place && !is_raw && !is_vmdk)
    {
      if (!(base = open_new_backing (target, opts, error)))
        return FALSE;
    }
  else if (opts->qcow2.backing_file != NULL && !in_place)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED,
                   "%s: a backing file is only supported for a qcow2 target", target);
      return FALSE;
    }

  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return FALSE;

  if (job != NULL)
    strata_job_set_phase (job, "Reading the source");

  src = strata_image_open (source, opts->source_format,
                           opts->force_share ? STRATA_OPEN_FORCE_SHARE : STRATA_OPEN_READ_ONLY,
                           error);
  if (src == NULL)
    return FALSE;

  /* The one check for replaced names (strata-target.c): not the source or its files, not a
   * link, device, protected image or an image a running QEMU holds. -n writes into the file
   * instead: it must not be part of the source, and the lock says whether QEMU holds it. */
  if (in_place)
    {
      if (!(dst = open_existing_target (target, src, opts, error)))
        return FALSE;
    }
  else if (!strata_target_check_replace (target, src, &target_mode, error))
    return FALSE;
  sizes = chain_file_sizes (src);

  memset (&p, 0, sizeof p);
  g_mutex_init (&p.lock);
  g_mutex_init (&p.warn_lock);
  g_cond_init (&p.cond);
  p.src = src;
  p.virtual_size = strata_image_get_size (src);
  p.cluster_size = is_raw ? RAW_TARGET_GRANULE
                  : is_vmdk ? STRATA_VMDK_GRAIN_SIZE : opts->qcow2.cluster_size;
  if (in_place && !is_raw)
    p.cluster_size = strata_image_get_cluster_size (dst);
  /* Every cluster of a preallocated target has its host cluster already: as with raw,
   * zero runs inside a cluster are left unwritten (holes with metadata), as qemu-img
   * leaves them. */
  else if (!is_raw && !is_vmdk && opts->qcow2.preallocation != STRATA_PREALLOC_OFF)
    p.cluster_size = MIN (p.cluster_size, RAW_TARGET_GRANULE);
  p.chunk_size = MAX (CHUNK_MIN_BYTES, p.cluster_size);
  /* Every grain of a streamOptimized VMDK is compressed, -c or not. */
  p.compress = opts->compress ||
               (is_vmdk && opts->vmdk.subformat == STRATA_VMDK_STREAM_OPTIMIZED);
  p.compression = opts->qcow2.compression_type;
  p.out_stride = p.cluster_size;
  p.compress_limit = p.cluster_size - 1;
  if (is_vmdk)
    {
      p.compress_limit = strata_compress_zlib_bound (p.cluster_size);
      p.out_stride = align_up (p.compress_limit, 64);
    }
  p.level = opts->compression_level;
  p.n_workers = opts->threads > 0 ? opts->threads : g_get_num_processors ();
  p.n_workers = CLAMP (p.n_workers, 1, 64);
  p.cancellable = cancellable;
  p.job = job;
  p.opts = opts;
  p.sparse_size = opts->sparse_size;
  /* A new overlay gets what the source's top layer holds; where the top layer holds zeros,
   * the overlay must say so too, but only where its backing would show something else. A
   * target written in place must be zeroed wherever the source reads as zeros. */
  p.top_only = base != NULL || (in_place && opts->qcow2.backing_file != NULL);
  p.zero_limit = in_place ? p.virtual_size : base != NULL ? strata_image_get_size (base) : 0;

  if (p.cluster_size < 512 || (p.cluster_size & (p.cluster_size - 1)) != 0)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                   "%s: the cluster size %" G_GUINT64_FORMAT " is not a power of two of at "
                   "least 512 bytes", target, p.cluster_size);
      ok = FALSE;
      goto out;
    }
  if (opts->sparse_size % 512 != 0)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                   "%s: the sparse detection size %" G_GUINT64_FORMAT " is not a multiple of "
                   "512 bytes", target, opts->sparse_size);
      ok = FALSE;
      goto out;
    }

  /* qemu-img writes one, then cannot open it: an extent of 0 sectors is invalid. */
  if (is_vmdk && p.virtual_size == 0)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                   "%s: its virtual size is 0 bytes, and a VMDK disk needs at least one "
                   "sector (QEMU and VMware cannot open an empty one); nothing was written",
                   source);
      ok = FALSE;
      goto out;
    }

  if (is_vmdk && p.virtual_size > STRATA_VMDK_MAX_SIZE)
    {
      g_autofree char *human = g_format_size_full (p.virtual_size, G_FORMAT_SIZE_IEC_UNITS);

      g_set_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED,
                   "%s: its virtual size, %" G_GUINT64_FORMAT " bytes (%s), is more than a "
                   "VMDK sparse extent can address (%" G_GUINT64_FORMAT " bytes: 32-bit "
                   "sector offsets); nothing was written", source, p.virtual_size, human,
                   STRATA_VMDK_MAX_SIZE);
      ok = FALSE;
      goto out;
    }

  if (!(ok = count_data_bytes (&p, &p.data_total, error)))
    goto out;

  if (in_place)
    {
      p.dst = dst;
      p.dst_file = strata_image_get_file (dst);
    }
  else
    {
      if (!(tmp = strata_file_create_temp (target, error)))
        {
          ok = FALSE;
          goto out;
        }
      strata_target_apply_mode (tmp, target_mode);

      if (!(ok = check_target_can_hold (tmp, opts, source, p.virtual_size, target, error)))
        goto out;
    }

  if (in_place)
    ;
  else if (is_vmdk)
    {
      g_autofree char *name = g_path_get_basename (target);

      vmdk = strata_vmdk_writer_new (tmp, name, p.virtual_size, &opts->vmdk,
                                     opts->compression_level, error);
      if (vmdk == NULL)
        {
          name_target_in_error (error, target);
          ok = FALSE;
          goto out;
        }
      p.vmdk = vmdk;
      p.dst_file = tmp;
    }
  else if (!(dst = create_target (tmp, opts, p.virtual_size,
                                  base != NULL ? strata_image_get_format (base) : NULL,
                                  error)))
    {
      name_target_in_error (error, target);
      ok = FALSE;
      goto out;
    }
  else
    {
      p.dst = dst;
      p.dst_file = strata_image_get_file (dst);
    }

  if (p.compress && dst != NULL && !strata_image_supports_compression (dst))
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED,
                   "%s: the %s driver cannot write compressed clusters", target,
                   strata_image_get_format (dst));
      ok = FALSE;
      goto out;
    }
  if (p.compress && dst != NULL)
    p.compression = strata_image_get_compression (dst);

  if (job != NULL)
    strata_job_set_phase (job, "Converting");

  if (!(ok = pipeline_run (&p, error)))
    {
      name_target_in_error (error, target);
      goto out;
    }
  if (!(ok = check_chain_unchanged (src, sizes, error)))
    goto out;

  if (job != NULL)
    strata_job_set_phase (job, "Writing to disk");

  /* A cancel during the final flush still wins: nothing may be left behind. */
  if (!(ok = vmdk != NULL ? strata_vmdk_writer_finish (vmdk, error)
                          : strata_image_close (dst, error)))
    {
      name_target_in_error (error, target);
      goto out;
    }
  g_clear_pointer (&dst, strata_image_unref);
  g_clear_pointer (&vmdk, strata_vmdk_writer_free);

  if (!in_place)
    {
      if ((ok = !g_cancellable_set_error_if_cancelled (cancellable, error)))
        ok = strata_file_commit_rename (tmp, target, error);
      if (!ok)
        {
          name_target_in_error (error, target);
          goto out;
        }
    }

  if (result != NULL)
    {
      memset (result, 0, sizeof *result);
      result->source_allocated = chain_allocated (src);
      result->virtual_size = p.virtual_size;
      result->data_bytes = p.data_total;
      if (stat (target, &st) == 0)
        result->target_size = (guint64) st.st_blocks * 512;
    }
  if (job != NULL)
    strata_job_finish (job);

out:
  if (!ok && tmp != NULL)
    {
      g_clear_pointer (&dst, strata_image_unref);
      g_clear_pointer (&vmdk, strata_vmdk_writer_free);
      strata_file_unlink (tmp);
    }
  g_mutex_clear (&p.lock);
  g_mutex_clear (&p.warn_lock);
  g_cond_clear (&p.cond);
  return ok;
}

typedef struct
{
  char                 *source;
  char                 *target;
  StrataConvertOptions  opts;
  char                 *source_format;
  char                 *target_format;
  char                 *backing_file;
  char                 *backing_format;
  StrataJob            *job;
  StrataConvertResult   result;
} ConvertTaskData;

static void
convert_task_data_free (gpointer data)
{
  ConvertTaskData *d = data;

  g_free (d->source);
  g_free (d->target);
  g_free (d->source_format);
  g_free (d->target_format);
  g_free (d->backing_file);
  g_free (d->backing_format);
  g_clear_object (&d->job);
  g_free (d);
}

static void
convert_thread (GTask        *task,
                gpointer      source_object,
                gpointer      task_data,
                GCancellable *cancellable)
{
  ConvertTaskData *d = task_data;
  GError *error = NULL;

  if (strata_convert_sync (d->source, d->target, &d->opts, d->job, &d->result, cancellable,
                           &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

void
strata_convert_async (const char                 *source,
                      const char                 *target,
                      const StrataConvertOptions *opts,
                      StrataJob                  *job,
                      GCancellable               *cancellable,
                      GAsyncReadyCallback         callback,
                      gpointer                    user_data)
{
  g_autoptr(GTask) task = NULL;
  ConvertTaskData *d;

  g_return_if_fail (source != NULL);
  g_return_if_fail (target != NULL);

  d = g_new0 (ConvertTaskData, 1);
  d->source = g_strdup (source);
  d->target = g_strdup (target);
  if (opts != NULL)
    d->opts = *opts;
  else
    strata_convert_options_init (&d->opts);
  d->opts.source_format = d->source_format = g_strdup (d->opts.source_format);
  d->opts.target_format = d->target_format = g_strdup (d->opts.target_format);
  d->opts.qcow2.backing_file = d->backing_file = g_strdup (d->opts.qcow2.backing_file);
  d->opts.qcow2.backing_format = d->backing_format = g_strdup (d->opts.qcow2.backing_format);
  d->job = job ? g_object_ref (job) : NULL;

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, strata_convert_async);
  g_task_set_task_data (task, d, convert_task_data_free);
  g_task_run_in_thread (task, convert_thread);
}

gboolean
strata_convert_finish (GAsyncResult         *result,
                       StrataConvertResult  *out,
                       GError              **error)
{
  GTask *task;

  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);

  task = G_TASK (result);
  if (!g_task_propagate_boolean (task, error))
    return FALSE;
  if (out != NULL)
    *out = ((ConvertTaskData *) g_task_get_task_data (task))->result;
  return TRUE;
}
