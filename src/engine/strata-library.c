/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The library: folders → inspected files (records) → a graph of nodes and edges.
 *
 * Workers walk folders and inspect files; each job hands back one Result through a queue.
 * The library's main context drains the queue, updates its records and then rebuilds the
 * graph it wants from the records and compares it with the nodes it has, so that observers
 * see only what changed (a node added, changed or removed; an edge added or removed).
 * strata_library_scan_sync() runs the same jobs and drains its own queue in the caller.
 */
#include "strata-library-private.h"
#include "strata-error.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Results are applied at most this often while a scan streams in. */
#define APPLY_INTERVAL_MS 40
/* File-monitor events are gathered this long (from the first one) before files are
 * inspected again: a VM writing fires many events, the model follows within a second. */
#define COALESCE_MS 250

/* ---------------------------------------------------------------------------------------- */
/* Jobs and results, shared with the workers                                                */

typedef struct
{
  gatomicrefcount  ref_count;
  GMutex           mutex;
  GMainContext    *context;
  GWeakRef         library;
  GThreadPool     *pool;
  GAsyncQueue     *results[2];    /* [async, sync] */
  int              pending[2];    /* jobs whose result is not applied yet (atomic) */
  gboolean         apply_scheduled;
  gboolean         shutting_down;
} Shared;

typedef enum
{
  JOB_WALK,   /* list a folder (recursively when asked), queue a FILE job per file */
  JOB_FILE,   /* inspect one file (folder NULL: outside the folders) */
  JOB_BATCH,  /* inspect changed files again, then stat every backing path again */
  JOB_LOCKS,  /* probe the locks of some files */
} JobKind;

typedef struct
{
  char     *path;
  char     *folder;
  LibEntry *previous;      /* stat fields only: skip the file if it did not change */
} BatchFile;

typedef struct
{
  char     *path;          /* the entry's path */
  char     *backing_path;
  gboolean  exists;
  dev_t     dev;
  ino_t     ino;
  char     *error;
} Relink;

typedef struct
{
  JobKind       kind;
  Shared       *shared;
  gboolean      sync;
  guint         generation;
  gboolean      force_share;
  GCancellable *cancellable;
  char         *path;
  char         *folder;
  gboolean      recursive;
  GPtrArray    *files;      /* BATCH: BatchFile; LOCKS: char * */
  GArray       *relinks;    /* BATCH: Relink (filled by the worker) */
  guint64       stamp;      /* LOCKS: later probes win over earlier ones */
} Job;

typedef struct
{
  JobKind    kind;
  guint      generation;
  gboolean   cancelled;
  char      *path;
  char      *folder;
  LibEntry  *entry;        /* FILE */
  GPtrArray *entries;      /* BATCH: LibEntry, NULL where unchanged (paths in job order) */
  GPtrArray *paths;        /* WALK: the files seen; BATCH: the paths asked about */
  GPtrArray *dirs;         /* WALK: the folders seen, @path included */
  GError    *error;        /* WALK: the top folder could not be read */
  GArray    *relinks;      /* BATCH */
  GArray    *in_use;       /* LOCKS: gboolean per path */
  guint64    stamp;
} Result;

static Shared *
shared_ref (Shared *shared)
{
  g_atomic_ref_count_inc (&shared->ref_count);
  return shared;
}

static void
result_free (Result *r);

static void
shared_unref (Shared *shared)
{
  if (!g_atomic_ref_count_dec (&shared->ref_count))
    return;
  for (guint i = 0; i < 2; i++)
    {
      Result *r;

      while ((r = g_async_queue_try_pop (shared->results[i])) != NULL)
        result_free (r);
      g_async_queue_unref (shared->results[i]);
    }
  g_weak_ref_clear (&shared->library);
  g_main_context_unref (shared->context);
  g_mutex_clear (&shared->mutex);
  g_free (shared);
}

static void
batch_file_free (gpointer data)
{
  BatchFile *f = data;

  g_free (f->path);
  g_free (f->folder);
  lib_entry_free (f->previous);
  g_free (f);
}

static void
relink_clear (gpointer data)
{
  Relink *r = data;

  g_free (r->path);
  g_free (r->backing_path);
  g_free (r->error);
}

static void
job_free (Job *job)
{
  shared_unref (job->shared);
  g_clear_object (&job->cancellable);
  g_free (job->path);
  g_free (job->folder);
  g_clear_pointer (&job->files, g_ptr_array_unref);
  g_clear_pointer (&job->relinks, g_array_unref);
  g_free (job);
}

static void
result_free (Result *r)
{
  g_free (r->path);
  g_free (r->folder);
  lib_entry_free (r->entry);
  g_clear_pointer (&r->entries, g_ptr_array_unref);
  g_clear_pointer (&r->paths, g_ptr_array_unref);
  g_clear_pointer (&r->dirs, g_ptr_array_unref);
  g_clear_error (&r->error);
  g_clear_pointer (&r->relinks, g_array_unref);
  g_clear_pointer (&r->in_use, g_array_unref);
  g_free (r);
}

static gboolean apply_async_cb (gpointer data);

/* Hands a result to the library's main context (or to scan_sync's loop). */
static void
shared_push (Shared   *shared,
             Result   *r,
             gboolean  sync)
{
  g_async_queue_push (shared->results[sync], r);
  if (sync)
    return;

  g_mutex_lock (&shared->mutex);
  if (!shared->apply_scheduled && !shared->shutting_down)
    {
      g_autoptr(GSource) source = g_timeout_source_new (APPLY_INTERVAL_MS);

      shared->apply_scheduled = TRUE;
      g_source_set_static_name (source, "[strata] library apply");
      g_source_set_callback (source, apply_async_cb, shared_ref (shared),
                             (GDestroyNotify) shared_unref);
      g_source_attach (source, shared->context);
    }
  g_mutex_unlock (&shared->mutex);
}

/* Queues @job in the pool (from the main context or a worker). */
static void
shared_queue (Shared *shared,
              Job    *job)
{
  g_mutex_lock (&shared->mutex);
  if (shared->shutting_down)
    {
      g_mutex_unlock (&shared->mutex);
      job_free (job);
      return;
    }
  g_atomic_int_inc (&shared->pending[job->sync]);
  g_thread_pool_push (shared->pool, job, NULL);
  g_mutex_unlock (&shared->mutex);
}

static Job *
job_new (JobKind       kind,
         Shared       *shared,
         gboolean      sync,
         guint         generation,
         gboolean      force_share,
         GCancellable *cancellable)
{
  Job *job = g_new0 (Job, 1);

  job->kind = kind;
  job->shared = shared_ref (shared);
  job->sync = sync;
  job->generation = generation;
  job->force_share = force_share;
  job->cancellable = cancellable != NULL ? g_object_ref (cancellable) : NULL;
  return job;
}

/* Whether @path is a folder that can be listed; the error names it and says why not. */
static gboolean
check_folder (const char  *path,
              GError     **error)
{
  int fd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int saved_errno = errno;

  if (fd < 0)
    {
      g_set_error (error, STRATA_ERROR,
                   saved_errno == ENOENT ? STRATA_ERROR_NOT_FOUND
                   : saved_errno == EACCES || saved_errno == EPERM ? STRATA_ERROR_PERMISSION
                   : STRATA_ERROR_IO,
                   "%s: cannot read the folder: %s", path, g_strerror (saved_errno));
      return FALSE;
    }
  close (fd);
  return TRUE;
}

typedef struct
{
  dev_t dev;
  ino_t ino;
} DirId;

static void
walk (Job    *job,
      Result *r)
{
  g_autoptr(GPtrArray) stack = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GArray) seen_dirs = g_array_new (FALSE, FALSE, sizeof (DirId));

  r->paths = g_ptr_array_new_with_free_func (g_free);
  r->dirs = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (stack, g_strdup (job->path));

  while (stack->len > 0)
    {
      g_autofree char *dir_path = g_ptr_array_steal_index (stack, stack->len - 1);
      g_autoptr(GDir) dir = NULL;
      const char *name;
      struct stat st;
      DirId id;
      gboolean dup = FALSE;

      if (g_cancellable_is_cancelled (job->cancellable))
        {
          r->cancelled = TRUE;
          return;
        }

      /* A folder reached twice (bind mounts, a hard-linked tree) is walked once. */
      if (stat (dir_path, &st) == 0)
        {
          id.dev = st.st_dev;
          id.ino = st.st_ino;
          for (guint i = 0; i < seen_dirs->len && !dup; i++)
            dup = g_array_index (seen_dirs, DirId, i).dev == id.dev &&
                  g_array_index (seen_dirs, DirId, i).ino == id.ino;
          if (dup)
            continue;
          g_array_append_val (seen_dirs, id);
        }

      dir = g_dir_open (dir_path, 0, NULL);
      if (dir == NULL)
        {
          if (g_str_equal (dir_path, job->path) && check_folder (dir_path, &r->error))
            g_set_error (&r->error, STRATA_ERROR, STRATA_ERROR_IO,
                         "%s: cannot read the folder", dir_path);
          continue;
        }
      g_ptr_array_add (r->dirs, g_strdup (dir_path));

      while ((name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *path = NULL;
          Job *child;

          if (lib_is_temp_name (name))
            continue;
          path = g_build_filename (dir_path, name, NULL);
          if (lstat (path, &st) != 0)
            continue;
          if (S_ISDIR (st.st_mode))
            {
              /* Symbolic links to folders are not followed: they could lead anywhere. */
              if (job->recursive)
                g_ptr_array_add (stack, g_steal_pointer (&path));
              continue;
            }
          if (S_ISLNK (st.st_mode) && (stat (path, &st) != 0 || !S_ISREG (st.st_mode)))
            continue;
          if (!S_ISREG (st.st_mode))
            continue;

          child = job_new (JOB_FILE, job->shared, job->sync, job->generation,
                           job->force_share, job->cancellable);
          child->path = g_strdup (path);
          child->folder = g_strdup (job->folder);
          g_ptr_array_add (r->paths, g_steal_pointer (&path));
          shared_queue (job->shared, child);
        }
    }
}

static void
relink_stat (Relink *rl)
{
  rl->exists = lib_stat_id (rl->backing_path, &rl->dev, &rl->ino, &rl->error);
}

static void
worker_func (gpointer data,
             gpointer user_data)
{
  Job *job = data;
  Result *r = g_new0 (Result, 1);

  r->kind = job->kind;
  r->generation = job->generation;
  r->stamp = job->stamp;
  r->path = g_strdup (job->path);
  r->folder = g_strdup (job->folder);

  if (g_cancellable_is_cancelled (job->cancellable))
    r->cancelled = TRUE;
  else switch (job->kind)
    {
    case JOB_WALK:
      walk (job, r);
      break;

    case JOB_FILE:
      r->entry = lib_entry_inspect (job->path, job->folder, job->force_share);
      break;

    case JOB_BATCH:
      r->entries = g_ptr_array_new_with_free_func ((GDestroyNotify) lib_entry_free);
      for (guint i = 0; i < job->files->len; i++)
        {
          BatchFile *f = g_ptr_array_index (job->files, i);

          if (f->previous != NULL && lib_entry_unchanged (f->previous, f->path))
            g_ptr_array_add (r->entries, NULL);
          else
            g_ptr_array_add (r->entries, lib_entry_inspect (f->path, f->folder,
                                                            job->force_share));
        }
      for (guint i = 0; i < job->relinks->len; i++)
        relink_stat (&g_array_index (job->relinks, Relink, i));
      r->relinks = g_steal_pointer (&job->relinks);
      r->paths = g_ptr_array_new_with_free_func (g_free);
      for (guint i = 0; i < job->files->len; i++)
        g_ptr_array_add (r->paths,
                         g_strdup (((BatchFile *) g_ptr_array_index (job->files, i))->path));
      break;

    case JOB_LOCKS:
      r->in_use = g_array_sized_new (FALSE, TRUE, sizeof (gboolean), job->files->len);
      r->paths = g_ptr_array_ref (job->files);
      for (guint i = 0; i < job->files->len; i++)
        {
          gboolean in_use = lib_probe_in_use (g_ptr_array_index (job->files, i));

          g_array_append_val (r->in_use, in_use);
        }
      break;

    default:
      g_assert_not_reached ();
    }

  shared_push (job->shared, r, job->sync);
  job_free (job);
}

/* ---------------------------------------------------------------------------------------- */
/* The library                                                                              */

struct _StrataLibrary
{
  GObject       parent_instance;

  Shared       *shared;
  GPtrArray    *folders;        /* char *, NULL-terminated */
  GHashTable   *recursive;      /* folder → GINT_TO_POINTER (recursive) */
  GPtrArray    *unstarted;      /* folders waiting for the first async scan */
  GHashTable   *unstarted_files; /* add_file() paths (→ folder) waiting likewise */
  guint         start_source;

  GHashTable   *records;        /* path → LibEntry, files found in the folders */
  GHashTable   *externals;      /* path → LibEntry, backing files asked about */
  GHashTable   *external_pending; /* paths whose inspection is queued */
  GHashTable   *opened;         /* paths given to rescan_file() outside the folders */
  guint64       order;
  guint64       seq;
  guint         generation;
  GCancellable *cancellable;    /* of the async jobs */

  GListStore   *nodes;
  GHashTable   *nodes_by_id;    /* id → StrataLibraryNode (a reference) */

  GHashTable   *monitors;       /* folder path → GFileMonitor */
  GHashTable   *dirty;          /* path → library folder, waiting for the coalesce timer */
  guint         dirty_source;

  guint         locks_pending;
  guint64       locks_stamp;  /* LOCKS jobs among the pending async ones */
  GError       *sync_error;     /* the first folder scan_sync could not read */
  gboolean      scanning;
  guint         n_images;
  guint         n_problems;
};

G_DEFINE_FINAL_TYPE (StrataLibrary, strata_library, G_TYPE_OBJECT)

enum
{
  PROP_0,
  PROP_SCANNING,
  PROP_N_IMAGES,
  PROP_N_PROBLEMS,
  N_PROPS
};

enum
{
  SIGNAL_NODE_CHANGED,
  SIGNAL_EDGE_ADDED,
  SIGNAL_EDGE_REMOVED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

static void rebuild (StrataLibrary *self, GPtrArray *requests);
static void ensure_monitor (StrataLibrary *self, const char *dir, const char *folder);
static void queue_batch (StrataLibrary *self, GHashTable *paths, gboolean only_changed);
static void remove_monitors_under (StrataLibrary *self, const char *dir, gboolean self_too);

static void
strata_library_dispose (GObject *object)
{
  StrataLibrary *self = STRATA_LIBRARY (object);
  GHashTableIter iter;
  gpointer value;

  if (self->shared != NULL)
    {
      g_mutex_lock (&self->shared->mutex);
      self->shared->shutting_down = TRUE;
      g_mutex_unlock (&self->shared->mutex);
      g_cancellable_cancel (self->cancellable);
      /* Waits for the jobs that are running (each checks the cancellable per file). */
      g_thread_pool_free (self->shared->pool, TRUE, TRUE);
      self->shared->pool = NULL;
      g_clear_pointer (&self->shared, shared_unref);
    }

  g_clear_handle_id (&self->start_source, g_source_remove);
  g_clear_handle_id (&self->dirty_source, g_source_remove);
  if (self->monitors != NULL)
    {
      g_hash_table_iter_init (&iter, self->monitors);
      while (g_hash_table_iter_next (&iter, NULL, &value))
        {
          g_signal_handlers_disconnect_by_data (value, self);
          g_file_monitor_cancel (value);
        }
      g_clear_pointer (&self->monitors, g_hash_table_unref);
    }

  /* Edges hold plain pointers: cut them before the nodes go. */
  if (self->nodes_by_id != NULL)
    {
      g_hash_table_iter_init (&iter, self->nodes_by_id);
      while (g_hash_table_iter_next (&iter, NULL, &value))
        lib_node_set_backing (value, NULL);
    }
  g_clear_object (&self->nodes);
  g_clear_pointer (&self->nodes_by_id, g_hash_table_unref);
  g_clear_object (&self->cancellable);

  G_OBJECT_CLASS (strata_library_parent_class)->dispose (object);
}

static void
strata_library_finalize (GObject *object)
{
  StrataLibrary *self = STRATA_LIBRARY (object);

  g_ptr_array_unref (self->folders);
  g_hash_table_unref (self->recursive);
  g_ptr_array_unref (self->unstarted);
  g_hash_table_unref (self->unstarted_files);
  g_hash_table_unref (self->records);
  g_hash_table_unref (self->externals);
  g_hash_table_unref (self->external_pending);
  g_hash_table_unref (self->opened);
  g_hash_table_unref (self->dirty);
  g_clear_error (&self->sync_error);

  G_OBJECT_CLASS (strata_library_parent_class)->finalize (object);
}

static void
strata_library_get_property (GObject    *object,
                             guint       prop_id,
                             GValue     *value,
                             GParamSpec *pspec)
{
  StrataLibrary *self = STRATA_LIBRARY (object);

  switch (prop_id)
    {
    case PROP_SCANNING: g_value_set_boolean (value, self->scanning); break;
    case PROP_N_IMAGES: g_value_set_uint (value, self->n_images); break;
    case PROP_N_PROBLEMS: g_value_set_uint (value, self->n_problems); break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
strata_library_class_init (StrataLibraryClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags flags = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->dispose = strata_library_dispose;
  object_class->finalize = strata_library_finalize;
  object_class->get_property = strata_library_get_property;

  properties[PROP_SCANNING] = g_param_spec_boolean ("scanning", NULL, NULL, FALSE, flags);
  properties[PROP_N_IMAGES] = g_param_spec_uint ("n-images", NULL, NULL, 0, G_MAXUINT, 0,
                                                 flags);
  properties[PROP_N_PROBLEMS] = g_param_spec_uint ("n-problems", NULL, NULL, 0, G_MAXUINT, 0,
                                                   flags);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  signals[SIGNAL_NODE_CHANGED] =
    g_signal_new ("node-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 1, STRATA_TYPE_LIBRARY_NODE);
  signals[SIGNAL_EDGE_ADDED] =
    g_signal_new ("edge-added", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 2,
                  STRATA_TYPE_LIBRARY_NODE, STRATA_TYPE_LIBRARY_NODE);
  signals[SIGNAL_EDGE_REMOVED] =
    g_signal_new ("edge-removed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 2,
                  STRATA_TYPE_LIBRARY_NODE, STRATA_TYPE_LIBRARY_NODE);
}

static void
strata_library_init (StrataLibrary *self)
{
  /* Inspecting is mostly waiting for the disk when the cache is cold: more workers than
   * cores keep more reads in flight. */
  guint threads = CLAMP (2 * g_get_num_processors (), 4, 8);

  self->shared = g_new0 (Shared, 1);
  g_atomic_ref_count_init (&self->shared->ref_count);
  g_mutex_init (&self->shared->mutex);
  self->shared->context = g_main_context_ref_thread_default ();
  g_weak_ref_init (&self->shared->library, self);
  self->shared->results[0] = g_async_queue_new ();
  self->shared->results[1] = g_async_queue_new ();
  /* Jobs still queued when the library goes are freed by the pool. */
  self->shared->pool = g_thread_pool_new_full (worker_func, NULL, (GDestroyNotify) job_free,
                                               threads, FALSE, NULL);

  self->folders = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (self->folders, NULL);
  self->recursive = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->unstarted = g_ptr_array_new_with_free_func (g_free);
  self->unstarted_files = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->records = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                         (GDestroyNotify) lib_entry_free);
  self->externals = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                           (GDestroyNotify) lib_entry_free);
  self->external_pending = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->opened = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->cancellable = g_cancellable_new ();
  self->nodes = g_list_store_new (STRATA_TYPE_LIBRARY_NODE);
  self->nodes_by_id = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_object_unref);
  self->monitors = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->dirty = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}

StrataLibrary *
strata_library_new (void)
{
  return g_object_new (STRATA_TYPE_LIBRARY, NULL);
}

/* ---------------------------------------------------------------------------------------- */
/* Folders                                                                                  */

static char *
absolute_path (const char *path)
{
  return g_canonicalize_filename (path, NULL);
}

static guint
folder_index (StrataLibrary *self,
              const char    *folder)
{
  for (guint i = 0; i + 1 < self->folders->len; i++)
    if (g_str_equal (g_ptr_array_index (self->folders, i), folder))
      return i;
  return G_MAXUINT;
}

static gboolean
has_folder (StrataLibrary *self,
            const char    *folder)
{
  return folder != NULL && folder_index (self, folder) != G_MAXUINT;
}

static gboolean
path_is_under (const char *path,
               const char *dir)
{
  gsize len = strlen (dir);

  if (len == 1 && dir[0] == '/')
    return path[0] == '/' && path[1] != '\0';
  return strncmp (path, dir, len) == 0 && path[len] == '/';
}

/* The library folder @path (a file or a folder) belongs to, or NULL. */
static const char *
folder_for_path (StrataLibrary *self,
                 const char    *path)
{
  g_autofree char *parent = g_path_get_dirname (path);

  for (guint i = 0; i + 1 < self->folders->len; i++)
    {
      const char *folder = g_ptr_array_index (self->folders, i);

      if (g_str_equal (parent, folder))
        return folder;
      if (GPOINTER_TO_INT (g_hash_table_lookup (self->recursive, folder)) &&
          path_is_under (path, folder))
        return folder;
    }
  return NULL;
}

static void
update_scanning (StrataLibrary *self)
{
  /* Lock probes are not a scan: the app asks for them every few seconds. */
  gboolean scanning = self->start_source != 0 ||
                      g_atomic_int_get (&self->shared->pending[0]) > (int) self->locks_pending;

  if (scanning != self->scanning)
    {
      self->scanning = scanning;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SCANNING]);
    }
}

static void
queue_walk (StrataLibrary *self,
            const char    *dir,
            const char    *folder,
            gboolean       sync,
            gboolean       force_share,
            GCancellable  *cancellable)
{
  Job *job = job_new (JOB_WALK, self->shared, sync, self->generation, force_share,
                      cancellable);

  job->path = g_strdup (dir);
  job->folder = g_strdup (folder);
  job->recursive = GPOINTER_TO_INT (g_hash_table_lookup (self->recursive, folder));
  shared_queue (self->shared, job);
}

static gboolean
start_cb (gpointer data)
{
  StrataLibrary *self = data;

  self->start_source = 0;
  for (guint i = 0; i < self->unstarted->len; i++)
    {
      const char *folder = g_ptr_array_index (self->unstarted, i);

      if (!has_folder (self, folder))
        continue;
      ensure_monitor (self, folder, folder);
      queue_walk (self, folder, folder, FALSE, TRUE, self->cancellable);
    }
  g_ptr_array_set_size (self->unstarted, 0);
  if (g_hash_table_size (self->unstarted_files) > 0)
    {
      g_autoptr(GHashTable) files = g_steal_pointer (&self->unstarted_files);

      self->unstarted_files = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
      queue_batch (self, files, FALSE);
    }
  update_scanning (self);
  return G_SOURCE_REMOVE;
}

static void
schedule_start (StrataLibrary *self,
                const char    *folder)
{
  if (folder != NULL)
    g_ptr_array_add (self->unstarted, g_strdup (folder));
  if (self->start_source == 0)
    {
      GSource *source = g_idle_source_new ();

      g_source_set_static_name (source, "[strata] library start");
      g_source_set_callback (source, start_cb, self, NULL);
      self->start_source = g_source_attach (source, self->shared->context);
      g_source_unref (source);
    }
  update_scanning (self);
}

gboolean
strata_library_add_folder (StrataLibrary  *self,
                           const char     *folder,
                           gboolean        recursive,
                           GError        **error)
{
  g_autofree char *abs = NULL;
  guint index;

  g_return_val_if_fail (STRATA_IS_LIBRARY (self), FALSE);
  g_return_val_if_fail (folder != NULL, FALSE);

  abs = absolute_path (folder);
  if (!check_folder (abs, error))
    return FALSE;

  index = folder_index (self, abs);
  if (index != G_MAXUINT)
    {
      if (GPOINTER_TO_INT (g_hash_table_lookup (self->recursive, abs)) == !!recursive)
        return TRUE;
      g_hash_table_replace (self->recursive, g_strdup (abs), GINT_TO_POINTER (!!recursive));
      /* The walk that follows drops the records of the sub-folders; their watches go now. */
      if (!recursive)
        remove_monitors_under (self, abs, FALSE);
    }
  else
    {
      g_ptr_array_insert (self->folders, self->folders->len - 1, g_strdup (abs));
      g_hash_table_replace (self->recursive, g_strdup (abs), GINT_TO_POINTER (!!recursive));
    }
  schedule_start (self, abs);
  return TRUE;
}


void
strata_library_remove_folder (StrataLibrary *self,
                              const char    *folder)
{
  g_autofree char *abs = NULL;
  GHashTableIter iter;
  LibEntry *entry;
  guint index;

  g_return_if_fail (STRATA_IS_LIBRARY (self));
  g_return_if_fail (folder != NULL);

  abs = absolute_path (folder);
  index = folder_index (self, abs);
  if (index == G_MAXUINT)
    return;
  g_ptr_array_remove_index (self->folders, index);
  g_hash_table_remove (self->recursive, abs);

  remove_monitors_under (self, abs, TRUE);

  g_hash_table_iter_init (&iter, self->records);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &entry))
    if (g_strcmp0 (entry->folder, abs) == 0)
      g_hash_table_iter_remove (&iter);
  rebuild (self, NULL);
}

const char * const *
strata_library_get_folders (StrataLibrary *self)
{
  g_return_val_if_fail (STRATA_IS_LIBRARY (self), NULL);
  return (const char * const *) self->folders->pdata;
}

GListModel *
strata_library_get_nodes (StrataLibrary *self)
{
  g_return_val_if_fail (STRATA_IS_LIBRARY (self), NULL);
  return G_LIST_MODEL (self->nodes);
}

gboolean
strata_library_get_scanning (StrataLibrary *self)
{
  g_return_val_if_fail (STRATA_IS_LIBRARY (self), FALSE);
  return self->scanning;
}

guint
strata_library_get_n_images (StrataLibrary *self)
{
  g_return_val_if_fail (STRATA_IS_LIBRARY (self), 0);
  return self->n_images;
}

guint
strata_library_get_n_problems (StrataLibrary *self)
{
  g_return_val_if_fail (STRATA_IS_LIBRARY (self), 0);
  return self->n_problems;
}

static char *
missing_id (const char *path)
{
  return g_strconcat ("missing:", path, NULL);
}

StrataLibraryNode *
strata_library_lookup (StrataLibrary *self,
                       const char    *path)
{
  g_autofree char *abs = NULL;
  g_autofree char *id = NULL;
  LibEntry *entry;
  struct stat st;

  g_return_val_if_fail (STRATA_IS_LIBRARY (self), NULL);
  g_return_val_if_fail (path != NULL, NULL);

  abs = absolute_path (path);
  entry = g_hash_table_lookup (self->records, abs);
  if (entry == NULL)
    entry = g_hash_table_lookup (self->externals, abs);
  if (entry != NULL && entry->exists)
    id = lib_file_id (entry->dev, entry->ino);
  else if (stat (abs, &st) == 0)
    id = lib_file_id (st.st_dev, st.st_ino);
  else
    id = missing_id (abs);
  return g_hash_table_lookup (self->nodes_by_id, id);
}

StrataLibraryNode *
strata_library_lookup_id (StrataLibrary *self,
                          const char    *id)
{
  g_return_val_if_fail (STRATA_IS_LIBRARY (self), NULL);
  g_return_val_if_fail (id != NULL, NULL);
  return g_hash_table_lookup (self->nodes_by_id, id);
}

guint
strata_library_count_in_folder (StrataLibrary *self,
                                const char    *folder)
{
  g_autofree char *abs = NULL;
  GHashTableIter iter;
  gpointer value;
  guint n = 0;

  g_return_val_if_fail (STRATA_IS_LIBRARY (self), 0);
  g_return_val_if_fail (folder != NULL, 0);

  abs = absolute_path (folder);
  g_hash_table_iter_init (&iter, self->nodes_by_id);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (g_strcmp0 (strata_library_node_get_folder (value), abs) == 0)
      n++;
  return n;
}

/* ---------------------------------------------------------------------------------------- */
/* The graph                                                                                */

typedef struct
{
  char           *id;
  StrataNodeKind  kind;
  const char     *path;
  const char     *folder;
  const LibEntry *entry;
  char           *error;
  char           *missing_path;  /* the path, when the Want owns it (missing, external) */
  const char     *backing_id;    /* points into another Want's id */
  guint           stamp;
} Want;

static void
want_free (Want *w)
{
  g_free (w->id);
  g_free (w->error);
  g_free (w->missing_path);
  g_free (w);
}

static guint
count_slashes (const char *path)
{
  guint n = 0;

  for (; *path != '\0'; path++)
    n += *path == '/';
  return n;
}

/* Which name of a file the node shows: a real name before a symbolic link, a shallower one
 * before a deeper one, then by name; so the choice does not depend on which worker finished
 * first. */
static int
compare_names (gconstpointer a,
               gconstpointer b)
{
  const LibEntry *ea = *(const LibEntry * const *) a;
  const LibEntry *eb = *(const LibEntry * const *) b;
  guint da, db;

  if (ea->is_link != eb->is_link)
    return ea->is_link ? 1 : -1;
  da = count_slashes (ea->path);
  db = count_slashes (eb->path);
  if (da != db)
    return da < db ? -1 : 1;
  return strcmp (ea->path, eb->path);
}

static Want *
want_add (GHashTable     *wants,
          GPtrArray      *order,
          char           *id,
          StrataNodeKind  kind,
          const LibEntry *entry)
{
  Want *w = g_new0 (Want, 1);

  w->id = id;
  w->kind = kind;
  w->entry = entry;
  if (entry != NULL)
    {
      w->path = entry->path;
      w->folder = entry->folder;
      if (entry->unreadable)
        w->error = g_strdup (entry->error);
    }
  g_hash_table_insert (wants, w->id, w);
  g_ptr_array_add (order, w);
  return w;
}

static StrataNodeKind
entry_kind (const LibEntry *entry)
{
  if (entry->unreadable)
    return STRATA_NODE_UNREADABLE;
  return entry->folder != NULL ? STRATA_NODE_IMAGE : STRATA_NODE_EXTERNAL;
}

static void
request_external (StrataLibrary *self,
                  const char    *path)
{
  Job *job;

  if (g_hash_table_contains (self->external_pending, path))
    return;
  g_hash_table_add (self->external_pending, g_strdup (path));
  job = job_new (JOB_FILE, self->shared, FALSE, self->generation, TRUE, self->cancellable);
  job->path = g_strdup (path);
  shared_queue (self->shared, job);
}

/* Decides where @w's backing pointer leads. Returns a path to inspect when that is not known
 * yet (a backing file outside the folders), else NULL. */
static const char *
link_backing (StrataLibrary *self,
              GHashTable    *wants,
              GPtrArray     *order,
              Want          *w)
{
  const LibEntry *e = w->entry;
  const LibEntry *ext;
  g_autofree char *tid = NULL;
  Want *target;

  if (e == NULL || e->unreadable || e->backing_path == NULL)
    return NULL;

  ext = g_hash_table_lookup (self->externals, e->backing_path);
  if (ext != NULL && ext->exists)
    tid = lib_file_id (ext->dev, ext->ino);
  else if (ext == NULL && e->backing_exists)
    tid = lib_file_id (e->backing_dev, e->backing_ino);

  if (tid == NULL)
    {
      g_autofree char *canon = absolute_path (e->backing_path);
      g_autofree char *mid = missing_id (canon);

      target = g_hash_table_lookup (wants, mid);
      if (target == NULL)
        {
          target = want_add (wants, order, g_steal_pointer (&mid), STRATA_NODE_MISSING, NULL);
          target->missing_path = g_steal_pointer (&canon);
          target->path = target->missing_path;
          target->error = g_strdup_printf ("%s: the backing file \"%s\" of %s does not exist",
                                           target->path, e->info->backing_filename, e->path);
        }
      w->backing_id = target->id;
      return NULL;
    }

  target = g_hash_table_lookup (wants, tid);
  if (target == NULL && ext != NULL && ext->is_image)
    {
      g_autofree char *canon = absolute_path (ext->path);
      struct stat st;

      target = want_add (wants, order, g_steal_pointer (&tid), entry_kind (ext), ext);
      /* "/vm/../base.qcow2" reads better as "/base.qcow2", when that is the same file (a
       * symbolic link on the way would make ".." lead elsewhere). */
      if (!g_str_equal (canon, ext->path) && stat (canon, &st) == 0 &&
          st.st_dev == ext->dev && st.st_ino == ext->ino)
        {
          target->missing_path = g_steal_pointer (&canon);
          target->path = target->missing_path;
        }
    }
  if (target == NULL)
    return ext == NULL ? e->backing_path : NULL;
  w->backing_id = target->id;
  return NULL;
}

static void
mark_loops (GHashTable *wants,
            GPtrArray  *order)
{
  for (guint i = 0; i < order->len; i++)
    {
      Want *w = g_ptr_array_index (order, i);
      Want *x = w;
      guint stamp = i + 1;

      while (x != NULL && x->stamp == 0)
        {
          x->stamp = stamp;
          x = x->backing_id != NULL ? g_hash_table_lookup (wants, x->backing_id) : NULL;
        }
      if (x == NULL || x->stamp != stamp)
        continue;

      /* x is on a cycle reached in this walk: mark every node of it. */
      {
        Want *y = x;

        do
          {
            Want *next = g_hash_table_lookup (wants, y->backing_id);

            y->kind = STRATA_NODE_LOOP;
            g_free (y->error);
            if (next == y)
              y->error = g_strdup_printf ("%s: the image is its own backing file", y->path);
            else
              y->error = g_strdup_printf ("%s: the backing chain loops back to this image "
                                          "(its backing file is %s)", y->path, next->path);
            y = next;
          }
        while (y != x);
      }
    }
}

static gboolean
is_problem (const Want *w)
{
  return w->kind == STRATA_NODE_MISSING || w->kind == STRATA_NODE_UNREADABLE ||
         w->kind == STRATA_NODE_LOOP || (w->entry != NULL && w->entry->corrupt);
}

/* Works out the graph the records describe and changes the model to match it. The backing
 * files outside the folders that still need inspecting are added to @requests (strings), or
 * inspected in a worker when @requests is NULL and no scan is running. */
static void
rebuild (StrataLibrary *self,
         GPtrArray     *requests)
{
  g_autoptr(GHashTable) wants = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                                       (GDestroyNotify) want_free);
  g_autoptr(GPtrArray) order = g_ptr_array_new ();
  g_autoptr(GPtrArray) entries = g_ptr_array_new ();
  g_autoptr(GPtrArray) wanted = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) added = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GPtrArray) changed = g_ptr_array_new ();
  g_autoptr(GPtrArray) removed = g_ptr_array_new_with_free_func (g_object_unref);
  GHashTableIter iter;
  gpointer key, value;
  guint n_images = 0, n_problems = 0;

  /* Files in the folders; for links, the name compare_names() puts first. */
  g_hash_table_iter_init (&iter, self->records);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (((LibEntry *) value)->exists && ((LibEntry *) value)->is_image)
      g_ptr_array_add (entries, value);
  g_ptr_array_sort (entries, compare_names);
  for (guint i = 0; i < entries->len; i++)
    {
      LibEntry *e = g_ptr_array_index (entries, i);
      char *id = lib_file_id (e->dev, e->ino);

      if (g_hash_table_contains (wants, id))
        g_free (id);
      else
        want_add (wants, order, id, entry_kind (e), e);
    }

  /* Files opened outside the folders. */
  g_hash_table_iter_init (&iter, self->opened);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    {
      LibEntry *e = g_hash_table_lookup (self->externals, key);
      char *id;

      if (e == NULL || (e->exists && !e->is_image))
        continue;
      if (!e->exists)
        {
          g_autofree char *mid = missing_id (key);

          if (!g_hash_table_contains (wants, mid))
            {
              Want *w = want_add (wants, order, g_steal_pointer (&mid), STRATA_NODE_MISSING,
                                  NULL);

              w->missing_path = g_strdup (key);
              w->path = w->missing_path;
              w->error = g_strdup (e->error);
            }
          continue;
        }
      id = lib_file_id (e->dev, e->ino);
      if (g_hash_table_contains (wants, id))
        g_free (id);
      else
        want_add (wants, order, id, entry_kind (e), e);
    }

  /* Edges; external and missing nodes join the end of @order as they are found. */
  for (guint i = 0; i < order->len; i++)
    {
      const char *request = link_backing (self, wants, order, g_ptr_array_index (order, i));

      if (request != NULL)
        g_ptr_array_add (wanted, g_strdup (request));
    }
  mark_loops (wants, order);

  /* Now the model: new nodes first, so that edges can point at them. */
  for (guint i = 0; i < order->len; i++)
    {
      Want *w = g_ptr_array_index (order, i);
      StrataLibraryNode *node = g_hash_table_lookup (self->nodes_by_id, w->id);
      LibNodeState state = {
        .id = w->id, .kind = w->kind, .path = w->path, .folder = w->folder,
        .entry = w->entry, .error = w->error,
      };

      if (w->folder != NULL)
        n_images++;
      if (is_problem (w))
        n_problems++;

      if (node == NULL)
        {
          node = lib_node_new (w->id);
          lib_node_update (node, &state);
          g_hash_table_insert (self->nodes_by_id,
                               (gpointer) strata_library_node_get_id (node), node);
          g_ptr_array_add (added, g_object_ref (node));
        }
      else if (lib_node_update (node, &state))
        g_ptr_array_add (changed, node);
    }

  g_hash_table_iter_init (&iter, self->nodes_by_id);
  while (g_hash_table_iter_next (&iter, &key, &value))
    if (!g_hash_table_contains (wants, key))
      g_ptr_array_add (removed, g_object_ref (value));

  if (added->len > 0)
    g_list_store_splice (self->nodes, g_list_model_get_n_items (G_LIST_MODEL (self->nodes)),
                         0, added->pdata, added->len);

  for (guint i = 0; i < removed->len; i++)
    {
      StrataLibraryNode *node = g_ptr_array_index (removed, i);
      StrataLibraryNode *old = strata_library_node_get_backing (node);

      if (old != NULL)
        {
          lib_node_set_backing (node, NULL);
          g_signal_emit (self, signals[SIGNAL_EDGE_REMOVED], 0, node, old);
        }
    }
  for (guint i = 0; i < order->len; i++)
    {
      Want *w = g_ptr_array_index (order, i);
      StrataLibraryNode *node = g_hash_table_lookup (self->nodes_by_id, w->id);
      StrataLibraryNode *target = w->backing_id != NULL
        ? g_hash_table_lookup (self->nodes_by_id, w->backing_id) : NULL;
      StrataLibraryNode *old = strata_library_node_get_backing (node);

      if (old == target)
        continue;
      lib_node_set_backing (node, target);
      if (old != NULL)
        g_signal_emit (self, signals[SIGNAL_EDGE_REMOVED], 0, node, old);
      if (target != NULL)
        g_signal_emit (self, signals[SIGNAL_EDGE_ADDED], 0, node, target);
    }

  for (guint i = 0; i < changed->len; i++)
    g_signal_emit (self, signals[SIGNAL_NODE_CHANGED], 0, g_ptr_array_index (changed, i));

  for (guint i = 0; i < removed->len; i++)
    {
      StrataLibraryNode *node = g_ptr_array_index (removed, i);
      guint position;

      if (g_list_store_find (self->nodes, node, &position))
        g_list_store_remove (self->nodes, position);
      g_hash_table_remove (self->nodes_by_id, strata_library_node_get_id (node));
    }

  /* Entries of backing files nothing points at any more are dropped. */
  {
    g_autoptr(GHashTable) named = g_hash_table_new (g_str_hash, g_str_equal);

    for (guint i = 0; i < order->len; i++)
      {
        const Want *w = g_ptr_array_index (order, i);

        if (w->entry != NULL && w->entry->backing_path != NULL)
          g_hash_table_add (named, w->entry->backing_path);
      }
    g_hash_table_iter_init (&iter, self->externals);
    while (g_hash_table_iter_next (&iter, &key, &value))
      {
        const LibEntry *e = value;
        gboolean used = g_hash_table_contains (self->opened, key) ||
                        g_hash_table_contains (named, key);

        if (!used && e->exists)
          {
            g_autofree char *id = lib_file_id (e->dev, e->ino);
            Want *w = g_hash_table_lookup (wants, id);

            used = w != NULL && w->entry == e;
          }
        if (!used)
          g_hash_table_iter_remove (&iter);
      }
  }

  if (n_images != self->n_images)
    {
      self->n_images = n_images;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_IMAGES]);
    }
  if (n_problems != self->n_problems)
    {
      self->n_problems = n_problems;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_PROBLEMS]);
    }

  for (guint i = 0; i < wanted->len; i++)
    {
      if (requests != NULL)
        g_ptr_array_add (requests, g_strdup (g_ptr_array_index (wanted, i)));
      else if (g_atomic_int_get (&self->shared->pending[0]) == (int) self->locks_pending)
        request_external (self, g_ptr_array_index (wanted, i));
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Applying results                                                                         */

static void
remove_records_under (StrataLibrary *self,
                      const char    *dir)
{
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, self->records);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    if (path_is_under (key, dir))
      g_hash_table_iter_remove (&iter);
}

static void
store_record (StrataLibrary *self,
              LibEntry      *entry)
{
  LibEntry *old = g_hash_table_lookup (self->records, entry->path);

  entry->order = old != NULL ? old->order : ++self->order;
  entry->seq = ++self->seq;
  g_hash_table_replace (self->records, entry->path, entry);
}

/* A file in a folder was inspected (again). Takes @entry. */
static void
apply_file (StrataLibrary *self,
            LibEntry      *entry,
            gboolean       sync)
{
  const char *folder = entry->folder;

  /* Whatever was known about this path as a backing file is older than this. */
  g_hash_table_remove (self->externals, entry->path);

  if (entry->exists && entry->is_image)
    {
      store_record (self, entry);
      return;
    }

  g_hash_table_remove (self->records, entry->path);
  if (entry->exists && entry->is_dir)
    {
      if (GPOINTER_TO_INT (g_hash_table_lookup (self->recursive, folder)) &&
          !g_hash_table_contains (self->monitors, entry->path))
        queue_walk (self, entry->path, folder, sync, TRUE, self->cancellable);
    }
  else if (!entry->exists)
    {
      remove_records_under (self, entry->path);
      remove_monitors_under (self, entry->path, TRUE);
    }
  lib_entry_free (entry);
}

static void
apply_external (StrataLibrary *self,
                LibEntry      *entry)
{
  g_hash_table_remove (self->external_pending, entry->path);
  entry->order = ++self->order;
  entry->seq = ++self->seq;
  g_hash_table_replace (self->externals, entry->path, entry);
}

static void
apply_walk (StrataLibrary *self,
            Result        *r)
{
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  GHashTableIter iter;
  gpointer key, value;

  for (guint i = 0; i < r->paths->len; i++)
    g_hash_table_add (seen, g_ptr_array_index (r->paths, i));

  /* Files that were in this part of the folder and are not any more. */
  g_hash_table_iter_init (&iter, self->records);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      const LibEntry *e = value;

      if (g_strcmp0 (e->folder, r->folder) == 0 && path_is_under (key, r->path) &&
          !g_hash_table_contains (seen, key))
        g_hash_table_iter_remove (&iter);
    }

  for (guint i = 0; i < r->dirs->len; i++)
    ensure_monitor (self, g_ptr_array_index (r->dirs, i), r->folder);
}

static LibEntry *
find_entry (StrataLibrary *self,
            const char    *path)
{
  LibEntry *e = g_hash_table_lookup (self->records, path);

  return e != NULL ? e : g_hash_table_lookup (self->externals, path);
}

static void
apply_batch (StrataLibrary *self,
             Result        *r,
             gboolean       sync)
{
  for (guint i = 0; i < r->entries->len; i++)
    {
      LibEntry *entry = g_ptr_array_steal_index_fast (r->entries, i);

      g_ptr_array_insert (r->entries, i, NULL);
      if (entry == NULL)
        continue;
      if (entry->folder != NULL && has_folder (self, entry->folder))
        apply_file (self, entry, sync);
      else if (entry->folder == NULL)
        apply_external (self, entry);
      else
        lib_entry_free (entry);
    }

  for (guint i = 0; i < r->relinks->len; i++)
    {
      Relink *rl = &g_array_index (r->relinks, Relink, i);
      LibEntry *e = find_entry (self, rl->path);
      LibEntry *ext = g_hash_table_lookup (self->externals, rl->backing_path);

      /* What we knew of the backing file is older than this look at it. */
      if (ext != NULL && (ext->exists != rl->exists ||
                          (rl->exists && (ext->dev != rl->dev || ext->ino != rl->ino))))
        g_hash_table_remove (self->externals, rl->backing_path);

      if (e == NULL || g_strcmp0 (e->backing_path, rl->backing_path) != 0)
        continue;
      e->backing_exists = rl->exists;
      e->backing_dev = rl->dev;
      e->backing_ino = rl->ino;
      g_free (e->backing_stat_error);
      e->backing_stat_error = g_strdup (rl->error);
    }
}

static void
apply_locks (StrataLibrary *self,
             Result        *r)
{
  for (guint i = 0; i < r->paths->len; i++)
    {
      const char *path = g_ptr_array_index (r->paths, i);
      gboolean in_use = g_array_index (r->in_use, gboolean, i);
      LibEntry *e = find_entry (self, path);
      StrataLibraryNode *node;
      g_autofree char *id = NULL;

      /* Probes finish in any order: an older one must not undo a newer one. */
      if (e == NULL || !e->exists || e->lock_stamp > r->stamp)
        continue;
      e->lock_stamp = r->stamp;
      if (e->in_use == in_use)
        continue;
      e->in_use = in_use;
      id = lib_file_id (e->dev, e->ino);
      node = g_hash_table_lookup (self->nodes_by_id, id);
      if (node != NULL && strata_library_node_get_in_use (node) != in_use)
        {
          lib_node_set_in_use (node, in_use);
          g_signal_emit (self, signals[SIGNAL_NODE_CHANGED], 0, node);
        }
    }
}

/* Applies one result; returns TRUE when the graph must be worked out again. */
static gboolean
apply_one (StrataLibrary *self,
           Result        *r,
           gboolean       sync)
{
  if (r->kind == JOB_LOCKS && (r->generation != self->generation || r->cancelled))
    self->locks_pending--;
  if (r->generation != self->generation || r->cancelled)
    {
      if (r->kind == JOB_FILE && r->folder == NULL && r->path != NULL)
        g_hash_table_remove (self->external_pending, r->path);
      return FALSE;
    }

  switch (r->kind)
    {
    case JOB_WALK:
      if (!has_folder (self, r->folder))
        return FALSE;
      if (r->error != NULL)
        {
          if (sync && self->sync_error == NULL)
            self->sync_error = g_error_copy (r->error);
          remove_records_under (self, r->path);
          return TRUE;
        }
      apply_walk (self, r);
      return TRUE;

    case JOB_FILE:
      if (r->folder == NULL)
        apply_external (self, g_steal_pointer (&r->entry));
      else if (has_folder (self, r->folder))
        apply_file (self, g_steal_pointer (&r->entry), sync);
      return TRUE;

    case JOB_BATCH:
      apply_batch (self, r, sync);
      return TRUE;

    case JOB_LOCKS:
      self->locks_pending--;
      apply_locks (self, r);
      return FALSE;

    default:
      g_assert_not_reached ();
    }
}

static gboolean
apply_async_cb (gpointer data)
{
  Shared *shared = data;
  g_autoptr(StrataLibrary) self = NULL;
  gboolean dirty = FALSE;
  Result *r;

  g_mutex_lock (&shared->mutex);
  shared->apply_scheduled = FALSE;
  g_mutex_unlock (&shared->mutex);

  self = g_weak_ref_get (&shared->library);
  if (self == NULL || self->shared == NULL)
    return G_SOURCE_REMOVE;

  while ((r = g_async_queue_try_pop (shared->results[0])) != NULL)
    {
      dirty |= apply_one (self, r, FALSE);
      result_free (r);
      g_atomic_int_dec_and_test (&shared->pending[0]);
    }
  if (dirty || g_atomic_int_get (&shared->pending[0]) == 0)
    rebuild (self, NULL);
  update_scanning (self);
  return G_SOURCE_REMOVE;
}

/* ---------------------------------------------------------------------------------------- */
/* Watching                                                                                 */

static void
relinks_for_all (StrataLibrary *self,
                 GArray        *relinks)
{
  GHashTable *tables[] = { self->records, self->externals };

  for (guint t = 0; t < G_N_ELEMENTS (tables); t++)
    {
      GHashTableIter iter;
      gpointer value;

      g_hash_table_iter_init (&iter, tables[t]);
      while (g_hash_table_iter_next (&iter, NULL, &value))
        {
          const LibEntry *e = value;
          Relink rl = { 0 };

          if (e->backing_path == NULL)
            continue;
          rl.path = g_strdup (e->path);
          rl.backing_path = g_strdup (e->backing_path);
          g_array_append_val (relinks, rl);
        }
    }
}

static LibEntry *
stat_copy (const LibEntry *e)
{
  LibEntry *copy = g_new0 (LibEntry, 1);

  copy->exists = e->exists;
  copy->dev = e->dev;
  copy->ino = e->ino;
  copy->size = e->size;
  copy->mtime_ns = e->mtime_ns;
  copy->ctime_ns = e->ctime_ns;
  return copy;
}

/* Inspects @paths (path → folder or NULL) again in one worker job, then every backing path:
 * the model changes once, from one consistent look at the files. */
static void
queue_batch (StrataLibrary *self,
             GHashTable    *paths,
             gboolean       only_changed)
{
  Job *job = job_new (JOB_BATCH, self->shared, FALSE, self->generation, TRUE,
                      self->cancellable);
  GHashTableIter iter;
  gpointer key, value;

  job->files = g_ptr_array_new_with_free_func (batch_file_free);
  job->relinks = g_array_new (FALSE, TRUE, sizeof (Relink));
  g_array_set_clear_func (job->relinks, relink_clear);

  g_hash_table_iter_init (&iter, paths);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      BatchFile *f = g_new0 (BatchFile, 1);
      const LibEntry *old = find_entry (self, key);

      f->path = g_strdup (key);
      f->folder = g_strdup (value);
      if (only_changed && old != NULL)
        f->previous = stat_copy (old);
      g_ptr_array_add (job->files, f);
    }
  relinks_for_all (self, job->relinks);
  shared_queue (self->shared, job);
  update_scanning (self);
}

static gboolean
dirty_cb (gpointer data)
{
  StrataLibrary *self = data;
  g_autoptr(GHashTable) dirty = g_steal_pointer (&self->dirty);

  self->dirty_source = 0;
  self->dirty = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  queue_batch (self, dirty, TRUE);
  return G_SOURCE_REMOVE;
}

static void
mark_dirty (StrataLibrary *self,
            GFile         *file)
{
  g_autofree char *path = g_file_get_path (file);
  g_autofree char *base = NULL;
  const char *folder;

  if (path == NULL)
    return;
  /* A library folder itself deleted or moved away: look at it again (a walk that fails
   * removes what it held). */
  if (has_folder (self, path))
    {
      if (!g_file_test (path, G_FILE_TEST_IS_DIR))
        {
          queue_walk (self, path, path, FALSE, TRUE, self->cancellable);
          update_scanning (self);
        }
      return;
    }
  base = g_path_get_basename (path);
  if (lib_is_temp_name (base))
    return;
  folder = folder_for_path (self, path);
  if (folder == NULL)
    return;
  /* A file leaving the folders (moved out) is looked at as the folder's: it is gone. */
  g_hash_table_replace (self->dirty, g_steal_pointer (&path), g_strdup (folder));
  if (self->dirty_source == 0)
    self->dirty_source = g_timeout_add_full (G_PRIORITY_DEFAULT, COALESCE_MS, dirty_cb,
                                             self, NULL);
}

static void
monitor_changed_cb (GFileMonitor      *monitor,
                    GFile             *file,
                    GFile             *other,
                    GFileMonitorEvent  event,
                    gpointer           data)
{
  StrataLibrary *self = data;

  switch (event)
    {
    case G_FILE_MONITOR_EVENT_CHANGED:
    case G_FILE_MONITOR_EVENT_CHANGES_DONE_HINT:
    case G_FILE_MONITOR_EVENT_DELETED:
    case G_FILE_MONITOR_EVENT_CREATED:
    case G_FILE_MONITOR_EVENT_ATTRIBUTE_CHANGED:
    case G_FILE_MONITOR_EVENT_MOVED_IN:
    case G_FILE_MONITOR_EVENT_MOVED_OUT:
    case G_FILE_MONITOR_EVENT_RENAMED:
    case G_FILE_MONITOR_EVENT_MOVED:
      mark_dirty (self, file);
      if (other != NULL)
        mark_dirty (self, other);
      break;
    case G_FILE_MONITOR_EVENT_PRE_UNMOUNT:
    case G_FILE_MONITOR_EVENT_UNMOUNTED:
    default:
      break;
    }
}

static void
ensure_monitor (StrataLibrary *self,
                const char    *dir,
                const char    *folder)
{
  g_autoptr(GFile) file = NULL;
  g_autoptr(GError) error = NULL;
  GFileMonitor *monitor;

  if (g_hash_table_contains (self->monitors, dir))
    return;
  file = g_file_new_for_path (dir);
  monitor = g_file_monitor_directory (file, G_FILE_MONITOR_WATCH_MOVES, NULL, &error);
  if (monitor == NULL)
    {
      g_debug ("%s: not watched: %s", dir, error->message);
      return;
    }
  g_signal_connect (monitor, "changed", G_CALLBACK (monitor_changed_cb), self);
  g_hash_table_insert (self->monitors, g_strdup (dir), monitor);
}

static void
remove_monitors_under (StrataLibrary *self,
                       const char    *dir,
                       gboolean       self_too)
{
  GHashTableIter iter;
  gpointer key, value;

  g_hash_table_iter_init (&iter, self->monitors);
  while (g_hash_table_iter_next (&iter, &key, &value))
    if ((self_too && g_str_equal (key, dir)) || path_is_under (key, dir))
      {
        g_signal_handlers_disconnect_by_data (value, self);
        g_file_monitor_cancel (value);
        g_hash_table_iter_remove (&iter);
      }
}

/* ---------------------------------------------------------------------------------------- */
/* Entry points                                                                             */

void
strata_library_rescan_file (StrataLibrary *self,
                            const char    *path)
{
  g_autoptr(GHashTable) paths = NULL;
  g_autofree char *abs = NULL;
  const char *folder;

  g_return_if_fail (STRATA_IS_LIBRARY (self));
  g_return_if_fail (path != NULL);

  abs = absolute_path (path);
  folder = folder_for_path (self, abs);
  if (folder == NULL)
    g_hash_table_add (self->opened, g_strdup (abs));
  paths = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_hash_table_insert (paths, g_steal_pointer (&abs), g_strdup (folder));
  queue_batch (self, paths, FALSE);
}

void
strata_library_add_file (StrataLibrary *self,
                         const char    *path)
{
  g_autofree char *abs = NULL;
  const char *folder;

  g_return_if_fail (STRATA_IS_LIBRARY (self));
  g_return_if_fail (path != NULL);

  abs = absolute_path (path);
  folder = folder_for_path (self, abs);
  if (folder == NULL)
    g_hash_table_add (self->opened, g_strdup (abs));
  g_hash_table_replace (self->unstarted_files, g_steal_pointer (&abs), g_strdup (folder));
  schedule_start (self, NULL);
}

void
strata_library_refresh_locks (StrataLibrary *self,
                              GPtrArray     *nodes)
{
  Job *job;

  g_return_if_fail (STRATA_IS_LIBRARY (self));

  job = job_new (JOB_LOCKS, self->shared, FALSE, self->generation, TRUE, self->cancellable);
  job->files = g_ptr_array_new_with_free_func (g_free);
  if (nodes == NULL)
    {
      guint n = g_list_model_get_n_items (G_LIST_MODEL (self->nodes));

      for (guint i = 0; i < n; i++)
        {
          g_autoptr(StrataLibraryNode) node = g_list_model_get_item (G_LIST_MODEL (self->nodes),
                                                                     i);

          if (strata_library_node_get_kind (node) != STRATA_NODE_MISSING)
            g_ptr_array_add (job->files, g_strdup (strata_library_node_get_path (node)));
        }
    }
  else
    {
      for (guint i = 0; i < nodes->len; i++)
        {
          StrataLibraryNode *node = g_ptr_array_index (nodes, i);

          if (strata_library_node_get_kind (node) != STRATA_NODE_MISSING)
            g_ptr_array_add (job->files, g_strdup (strata_library_node_get_path (node)));
        }
    }
  job->stamp = ++self->locks_stamp;
  self->locks_pending++;
  shared_queue (self->shared, job);
}

gboolean
strata_library_scan_sync (StrataLibrary  *self,
                          gboolean        force_share,
                          GCancellable   *cancellable,
                          GError        **error)
{
  g_autoptr(GCancellable) own_cancellable = NULL;
  g_autoptr(GHashTable) asked = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  Shared *shared;

  g_return_val_if_fail (STRATA_IS_LIBRARY (self), FALSE);

  shared = self->shared;
  if (cancellable == NULL)
    cancellable = own_cancellable = g_cancellable_new ();

  /* Everything in flight is superseded by this scan. */
  self->generation++;
  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  self->cancellable = g_cancellable_new ();
  g_clear_handle_id (&self->start_source, g_source_remove);
  g_ptr_array_set_size (self->unstarted, 0);
  g_hash_table_remove_all (self->unstarted_files);
  g_hash_table_remove_all (self->external_pending);
  g_clear_error (&self->sync_error);

  for (guint i = 0; i + 1 < self->folders->len; i++)
    {
      const char *folder = g_ptr_array_index (self->folders, i);

      ensure_monitor (self, folder, folder);
      queue_walk (self, folder, folder, TRUE, force_share, cancellable);
    }
  {
    GHashTableIter iter;
    gpointer key;

    /* Files outside the folders are looked at again too, in the same round: the nodes
     * stay (no remove and add) unless the files changed. */
    g_hash_table_iter_init (&iter, self->externals);
    while (g_hash_table_iter_next (&iter, &key, NULL))
      g_hash_table_add (asked, g_strdup (key));
    g_hash_table_iter_init (&iter, self->opened);
    while (g_hash_table_iter_next (&iter, &key, NULL))
      g_hash_table_add (asked, g_strdup (key));
    g_hash_table_iter_init (&iter, asked);
    while (g_hash_table_iter_next (&iter, &key, NULL))
      {
        Job *job = job_new (JOB_FILE, shared, TRUE, self->generation, force_share,
                            cancellable);

        job->path = g_strdup (key);
        shared_queue (shared, job);
      }
  }

  for (;;)
    {
      g_autoptr(GPtrArray) requests = g_ptr_array_new_with_free_func (g_free);

      while (g_atomic_int_get (&shared->pending[1]) > 0)
        {
          Result *r = g_async_queue_pop (shared->results[1]);

          apply_one (self, r, TRUE);
          result_free (r);
          g_atomic_int_dec_and_test (&shared->pending[1]);
        }
      rebuild (self, requests);
      if (g_cancellable_is_cancelled (cancellable))
        break;
      for (guint i = 0; i < requests->len; i++)
        {
          const char *path = g_ptr_array_index (requests, i);
          Job *job;

          /* Each backing file is asked about once per scan. */
          if (!g_hash_table_add (asked, g_strdup (path)))
            continue;
          job = job_new (JOB_FILE, shared, TRUE, self->generation, force_share, cancellable);
          job->path = g_strdup (path);
          shared_queue (shared, job);
        }
      if (g_atomic_int_get (&shared->pending[1]) == 0)
        break;
    }
  update_scanning (self);

  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return FALSE;
  if (self->sync_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&self->sync_error));
      return FALSE;
    }
  return TRUE;
}
