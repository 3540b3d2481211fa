/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-convert.h"
#include "strata-target.h"
#include "strata-compress.h"
#include "strata-error.h"
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
} Chunk;

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
 * Walks the chain's block status and returns maximal runs of target clusters holding
 * data, in order, never returning a cluster twice (a source run may end inside a cluster
 * the previous run already covered).
 */
typedef struct
{
  StrataImage *image;
  guint64      virtual_size;
  guint64      cluster_size;
  guint64      pos;
  guint64      emitted_end;
  gboolean     has_pending;
  guint64      pending_start;
  guint64      pending_end;
} Walker;

static void
walker_init (Walker      *w,
             StrataImage *image,
             guint64      cluster_size)
{
  memset (w, 0, sizeof *w);
  w->image = image;
  w->virtual_size = strata_image_get_size (image);
  w->cluster_size = cluster_size;
}

/* Returns FALSE on error; *found is FALSE at the end. */
static gboolean
walker_next (Walker   *w,
             gboolean *found,
             guint64  *start,
             guint64  *end,
             GError  **error)
{
  *found = FALSE;

  while (w->pos < w->virtual_size)
    {
      StrataChainStatus st;
      guint64 a = w->pos;
      guint64 b;
      guint64 ca;
      guint64 cb;

      if (!strata_image_chain_status (w->image, a, w->virtual_size - a, &st, error))
        return FALSE;
      b = a + st.length;
      w->pos = b;

      if (st.kind != STRATA_BLOCK_DATA)
        continue;

      ca = MAX (align_down (a, w->cluster_size), w->emitted_end);
      cb = MIN (align_up (b, w->cluster_size), w->virtual_size);
      if (ca >= cb)
        continue;

      if (w->has_pending && ca <= w->pending_end)
        {
          w->pending_end = MAX (w->pending_end, cb);
          continue;
        }

      if (w->has_pending)
        {
          *found = TRUE;
          *start = w->pending_start;
          *end = w->pending_end;
          w->emitted_end = *end;
          w->pending_start = ca;
          w->pending_end = cb;
          return TRUE;
        }

      w->has_pending = TRUE;
      w->pending_start = ca;
      w->pending_end = cb;
    }

  if (w->has_pending)
    {
      *found = TRUE;
      *start = w->pending_start;
      *end = w->pending_end;
      w->emitted_end = *end;
      w->has_pending = FALSE;
    }

  return TRUE;
}

static gboolean
count_data_bytes (StrataImage *image,
                  guint64      cluster_size,
                  guint64     *total,
                  GError     **error)
{
  Walker w;
  gboolean found;
  guint64 start, end;

  walker_init (&w, image, cluster_size);
  *total = 0;

  for (;;)
    {
      if (!walker_next (&w, &found, &start, &end, error))
        return FALSE;
      if (!found)
        return TRUE;
      *total += end - start;
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

static gboolean
reader_emit (Pipeline *p,
             guint64   start,
             guint64   end)
{
  while (start < end)
    {
      Chunk *chunk;
      gsize len = MIN (end - start, p->chunk_size);
      gsize padded = align_up (len, p->cluster_size);

      if (pipeline_check_cancelled (p))
        return FALSE;
      if (!(chunk = pipeline_get_free_chunk (p)))
        return FALSE;

      chunk->offset = start;
      chunk->length = len;
      chunk->n_clusters = padded / p->cluster_size;
      chunk->ready = FALSE;

      g_mutex_lock (&p->lock);
      chunk->seq = p->next_seq++;
      p->ring[chunk->seq % p->n_chunks] = chunk;
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

  walker_init (&w, p->src, p->cluster_size);

  for (;;)
    {
      gboolean found;
      guint64 start, end;

      if (!walker_next (&w, &found, &start, &end, &error))
        {
          pipeline_fail (p, error);
          break;
        }
      if (!found || !reader_emit (p, start, end))
        break;
    }

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

      if (is_zero (in, cs))
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
            pipeline_fail (p, error);
            break;
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

static gboolean
writer_write_chunk (Pipeline  *p,
                    Chunk     *chunk,
                    GError   **error)
{
  gsize cs = p->cluster_size;
  guint i = 0;

  while (i < chunk->n_clusters)
    {
      guint64 offset = chunk->offset + (guint64) i * cs;

      switch (chunk->kinds[i])
        {
        case CLUSTER_SKIP:
          i++;
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
        return;

      if (pipeline_check_cancelled (p))
        return;

      if (!writer_write_chunk (p, chunk, &error))
        {
          pipeline_fail (p, error);
          return;
        }
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
               GError                    **error)
{
  const char *path = strata_file_get_path (tmp);

  if (g_strcmp0 (opts->target_format, "raw") == 0)
    {
      if (!strata_file_truncate (tmp, size, error))
        return NULL;
      return strata_image_open (path, "raw", STRATA_OPEN_WRITE | STRATA_OPEN_NO_LOCK, error);
    }
  else
    {
      StrataCreateOptions copts = opts->qcow2;

      copts.size = size;
      copts.has_size = TRUE;
      copts.backing_file = NULL;
      copts.backing_format = NULL;
      if (!strata_create_qcow2_in_file (tmp, &copts, error))
        return NULL;
      return strata_image_open (path, "qcow2",
                                STRATA_OPEN_WRITE | STRATA_OPEN_NO_LOCK |
                                STRATA_OPEN_NO_BACKING, error);
    }
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
  g_autoptr(StrataFile) tmp = NULL;
  g_autoptr(GArray) sizes = NULL;
  g_autoptr(StrataVmdkWriter) vmdk = NULL;
  StrataConvertOptions defaults;
  Pipeline p;
  gboolean is_raw;
  gboolean is_vmdk;
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
   * link, device, protected image or an image a running QEMU holds. */
  if (!strata_target_check_replace (target, src, &target_mode, error))
    return FALSE;
  sizes = chain_file_sizes (src);

  memset (&p, 0, sizeof p);
  g_mutex_init (&p.lock);
  g_cond_init (&p.cond);
  p.src = src;
  p.virtual_size = strata_image_get_size (src);
  p.cluster_size = is_raw ? RAW_TARGET_GRANULE
                  : is_vmdk ? STRATA_VMDK_GRAIN_SIZE : opts->qcow2.cluster_size;
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

  if (p.cluster_size < 512 || (p.cluster_size & (p.cluster_size - 1)) != 0)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                   "%s: the cluster size %" G_GUINT64_FORMAT " is not a power of two of at "
                   "least 512 bytes", target, p.cluster_size);
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

  if (!(ok = count_data_bytes (src, p.cluster_size, &p.data_total, error)))
    goto out;

  if (!(tmp = strata_file_create_temp (target, error)))
    {
      ok = FALSE;
      goto out;
    }
  strata_target_apply_mode (tmp, target_mode);

  if (!(ok = check_target_can_hold (tmp, opts, source, p.virtual_size, target, error)))
    goto out;

  if (is_vmdk)
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
  else if (!(dst = create_target (tmp, opts, p.virtual_size, error)))
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

  if ((ok = !g_cancellable_set_error_if_cancelled (cancellable, error)))
    ok = strata_file_commit_rename (tmp, target, error);
  if (!ok)
    {
      name_target_in_error (error, target);
      goto out;
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
