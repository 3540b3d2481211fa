/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * One node of the library's graph: a read-only view of what the library decided about a
 * file. Only the library (in its main context) changes it.
 */
#include "strata-library-private.h"

#include <string.h>

struct _StrataLibraryNode
{
  GObject            parent_instance;

  char              *id;
  StrataNodeKind     kind;
  char              *path;
  char              *name;
  char              *folder;
  char              *format;
  guint              format_version;
  guint64            virtual_size;
  guint64            apparent_size;
  guint64            allocated_size;
  guint64            cluster_size;
  char              *compression_type;
  gboolean           compressed;
  gboolean           dirty;
  gboolean           corrupt;
  gboolean           encrypted;
  gboolean           protected;
  gboolean           in_use;
  char              *backing_name;
  char              *backing_format;
  char              *backing_path;
  char              *error;
  StrataImageInfo   *info;
  guint64            info_seq;  /* the entry seq the info was copied from */

  StrataLibraryNode *backing;   /* not a reference */
  GPtrArray         *overlays;  /* not references */
};

G_DEFINE_FINAL_TYPE (StrataLibraryNode, strata_library_node, G_TYPE_OBJECT)

enum
{
  PROP_0,
  PROP_ID,
  PROP_KIND,
  PROP_PATH,
  PROP_NAME,
  PROP_FOLDER,
  PROP_FORMAT,
  PROP_FORMAT_VERSION,
  PROP_VIRTUAL_SIZE,
  PROP_APPARENT_SIZE,
  PROP_ALLOCATED_SIZE,
  PROP_CLUSTER_SIZE,
  PROP_COMPRESSION_TYPE,
  PROP_COMPRESSED,
  PROP_DIRTY,
  PROP_CORRUPT,
  PROP_ENCRYPTED,
  PROP_PROTECTED,
  PROP_IN_USE,
  PROP_BACKING_NAME,
  PROP_BACKING_FORMAT,
  PROP_BACKING_PATH,
  PROP_BACKING,
  PROP_ERROR,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

GType
strata_node_kind_get_type (void)
{
  static gsize type_id = 0;

  if (g_once_init_enter (&type_id))
    {
      static const GEnumValue values[] = {
        { STRATA_NODE_IMAGE, "STRATA_NODE_IMAGE", "image" },
        { STRATA_NODE_EXTERNAL, "STRATA_NODE_EXTERNAL", "external" },
        { STRATA_NODE_MISSING, "STRATA_NODE_MISSING", "missing" },
        { STRATA_NODE_UNREADABLE, "STRATA_NODE_UNREADABLE", "unreadable" },
        { STRATA_NODE_LOOP, "STRATA_NODE_LOOP", "loop" },
        { 0, NULL, NULL },
      };
      GType type = g_enum_register_static (g_intern_static_string ("StrataNodeKind"), values);

      g_once_init_leave (&type_id, type);
    }
  return type_id;
}

const char *
strata_node_kind_to_string (StrataNodeKind kind)
{
  switch (kind)
    {
    case STRATA_NODE_IMAGE: return "image";
    case STRATA_NODE_EXTERNAL: return "external";
    case STRATA_NODE_MISSING: return "missing";
    case STRATA_NODE_UNREADABLE: return "unreadable";
    case STRATA_NODE_LOOP: return "loop";
    default: return "unknown";
    }
}

static void
strata_library_node_finalize (GObject *object)
{
  StrataLibraryNode *self = STRATA_LIBRARY_NODE (object);

  g_free (self->id);
  g_free (self->path);
  g_free (self->name);
  g_free (self->folder);
  g_free (self->format);
  g_free (self->compression_type);
  g_free (self->backing_name);
  g_free (self->backing_format);
  g_free (self->backing_path);
  g_free (self->error);
  g_clear_pointer (&self->info, strata_image_info_free);
  g_clear_pointer (&self->overlays, g_ptr_array_unref);

  G_OBJECT_CLASS (strata_library_node_parent_class)->finalize (object);
}

static void
strata_library_node_get_property (GObject    *object,
                                  guint       prop_id,
                                  GValue     *value,
                                  GParamSpec *pspec)
{
  StrataLibraryNode *self = STRATA_LIBRARY_NODE (object);

  switch (prop_id)
    {
    case PROP_ID: g_value_set_string (value, self->id); break;
    case PROP_KIND: g_value_set_enum (value, self->kind); break;
    case PROP_PATH: g_value_set_string (value, self->path); break;
    case PROP_NAME: g_value_set_string (value, self->name); break;
    case PROP_FOLDER: g_value_set_string (value, self->folder); break;
    case PROP_FORMAT: g_value_set_string (value, self->format); break;
    case PROP_FORMAT_VERSION: g_value_set_uint (value, self->format_version); break;
    case PROP_VIRTUAL_SIZE: g_value_set_uint64 (value, self->virtual_size); break;
    case PROP_APPARENT_SIZE: g_value_set_uint64 (value, self->apparent_size); break;
    case PROP_ALLOCATED_SIZE: g_value_set_uint64 (value, self->allocated_size); break;
    case PROP_CLUSTER_SIZE: g_value_set_uint64 (value, self->cluster_size); break;
    case PROP_COMPRESSION_TYPE: g_value_set_string (value, self->compression_type); break;
    case PROP_COMPRESSED: g_value_set_boolean (value, self->compressed); break;
    case PROP_DIRTY: g_value_set_boolean (value, self->dirty); break;
    case PROP_CORRUPT: g_value_set_boolean (value, self->corrupt); break;
    case PROP_ENCRYPTED: g_value_set_boolean (value, self->encrypted); break;
    case PROP_PROTECTED: g_value_set_boolean (value, self->protected); break;
    case PROP_IN_USE: g_value_set_boolean (value, self->in_use); break;
    case PROP_BACKING_NAME: g_value_set_string (value, self->backing_name); break;
    case PROP_BACKING_FORMAT: g_value_set_string (value, self->backing_format); break;
    case PROP_BACKING_PATH: g_value_set_string (value, self->backing_path); break;
    case PROP_BACKING: g_value_set_object (value, self->backing); break;
    case PROP_ERROR: g_value_set_string (value, self->error); break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
strata_library_node_class_init (StrataLibraryNodeClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags flags = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->finalize = strata_library_node_finalize;
  object_class->get_property = strata_library_node_get_property;

#define STR_PROP(ID, NAME) \
  properties[ID] = g_param_spec_string (NAME, NULL, NULL, NULL, flags)
#define BOOL_PROP(ID, NAME) \
  properties[ID] = g_param_spec_boolean (NAME, NULL, NULL, FALSE, flags)
#define U64_PROP(ID, NAME) \
  properties[ID] = g_param_spec_uint64 (NAME, NULL, NULL, 0, G_MAXUINT64, 0, flags)

  STR_PROP (PROP_ID, "id");
  properties[PROP_KIND] = g_param_spec_enum ("kind", NULL, NULL, STRATA_TYPE_NODE_KIND,
                                             STRATA_NODE_IMAGE, flags);
  STR_PROP (PROP_PATH, "path");
  STR_PROP (PROP_NAME, "name");
  STR_PROP (PROP_FOLDER, "folder");
  STR_PROP (PROP_FORMAT, "format");
  properties[PROP_FORMAT_VERSION] = g_param_spec_uint ("format-version", NULL, NULL,
                                                       0, G_MAXUINT, 0, flags);
  U64_PROP (PROP_VIRTUAL_SIZE, "virtual-size");
  U64_PROP (PROP_APPARENT_SIZE, "apparent-size");
  U64_PROP (PROP_ALLOCATED_SIZE, "allocated-size");
  U64_PROP (PROP_CLUSTER_SIZE, "cluster-size");
  STR_PROP (PROP_COMPRESSION_TYPE, "compression-type");
  BOOL_PROP (PROP_COMPRESSED, "compressed");
  BOOL_PROP (PROP_DIRTY, "dirty");
  BOOL_PROP (PROP_CORRUPT, "corrupt");
  BOOL_PROP (PROP_ENCRYPTED, "encrypted");
  BOOL_PROP (PROP_PROTECTED, "protected");
  BOOL_PROP (PROP_IN_USE, "in-use");
  STR_PROP (PROP_BACKING_NAME, "backing-name");
  STR_PROP (PROP_BACKING_FORMAT, "backing-format");
  STR_PROP (PROP_BACKING_PATH, "backing-path");
  properties[PROP_BACKING] = g_param_spec_object ("backing", NULL, NULL,
                                                  STRATA_TYPE_LIBRARY_NODE, flags);
  STR_PROP (PROP_ERROR, "error");

#undef STR_PROP
#undef BOOL_PROP
#undef U64_PROP

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
strata_library_node_init (StrataLibraryNode *self)
{
  self->overlays = g_ptr_array_new ();
}

StrataLibraryNode *
lib_node_new (const char *id)
{
  StrataLibraryNode *self = g_object_new (STRATA_TYPE_LIBRARY_NODE, NULL);

  self->id = g_strdup (id);
  return self;
}

static gboolean
set_str (StrataLibraryNode *self,
         char             **field,
         const char        *value,
         guint              prop)
{
  if (g_strcmp0 (*field, value) == 0)
    return FALSE;
  g_free (*field);
  *field = g_strdup (value);
  g_object_notify_by_pspec (G_OBJECT (self), properties[prop]);
  return TRUE;
}

#define SET_SCALAR(field, value, prop) \
  ((self->field != (value)) \
   ? (self->field = (value), g_object_notify_by_pspec (G_OBJECT (self), properties[prop]), TRUE) \
   : FALSE)

gboolean
lib_node_update (StrataLibraryNode  *self,
                 const LibNodeState *state)
{
  const LibEntry *e = state->entry;
  const StrataImageInfo *info = e != NULL ? e->info : NULL;
  g_autofree char *name = g_path_get_basename (state->path);
  gboolean changed = FALSE;

  g_object_freeze_notify (G_OBJECT (self));

  changed |= SET_SCALAR (kind, state->kind, PROP_KIND);
  changed |= set_str (self, &self->path, state->path, PROP_PATH);
  changed |= set_str (self, &self->name, name, PROP_NAME);
  changed |= set_str (self, &self->folder, state->folder, PROP_FOLDER);
  changed |= set_str (self, &self->format, info ? info->format : NULL, PROP_FORMAT);
  changed |= SET_SCALAR (format_version, e ? e->format_version : 0, PROP_FORMAT_VERSION);
  changed |= SET_SCALAR (virtual_size, info ? info->virtual_size : 0, PROP_VIRTUAL_SIZE);
  changed |= SET_SCALAR (apparent_size, e && e->exists ? e->size : 0, PROP_APPARENT_SIZE);
  changed |= SET_SCALAR (allocated_size, e && e->exists ? e->allocated : 0,
                         PROP_ALLOCATED_SIZE);
  changed |= SET_SCALAR (cluster_size, info ? info->cluster_size : 0, PROP_CLUSTER_SIZE);
  changed |= set_str (self, &self->compression_type, e ? e->compression_type : NULL,
                      PROP_COMPRESSION_TYPE);
  changed |= SET_SCALAR (compressed, e ? e->compressed : FALSE, PROP_COMPRESSED);
  changed |= SET_SCALAR (dirty, info ? info->dirty_flag : FALSE, PROP_DIRTY);
  changed |= SET_SCALAR (corrupt, e ? e->corrupt : FALSE, PROP_CORRUPT);
  changed |= SET_SCALAR (encrypted, info ? info->encrypted : FALSE, PROP_ENCRYPTED);
  changed |= SET_SCALAR (protected, e && e->exists ? e->protected : FALSE, PROP_PROTECTED);
  changed |= SET_SCALAR (in_use, e ? e->in_use : FALSE, PROP_IN_USE);
  changed |= set_str (self, &self->backing_name, info ? info->backing_filename : NULL,
                      PROP_BACKING_NAME);
  changed |= set_str (self, &self->backing_format, info ? info->backing_format : NULL,
                      PROP_BACKING_FORMAT);
  changed |= set_str (self, &self->backing_path, e ? e->backing_path : NULL,
                      PROP_BACKING_PATH);
  changed |= set_str (self, &self->error, state->error, PROP_ERROR);

  /* A copy of the image info, taken again only when the entry behind it was replaced. */
  if (e == NULL || e->seq != self->info_seq || info == NULL)
    {
      g_clear_pointer (&self->info, strata_image_info_free);
      self->info_seq = e != NULL ? e->seq : 0;
      if (info != NULL)
        {
          self->info = g_new0 (StrataImageInfo, 1);
          *self->info = *info;
          self->info->filename = g_strdup (state->path);
          self->info->format = g_strdup (info->format);
          self->info->backing_filename = g_strdup (info->backing_filename);
          self->info->full_backing_filename = g_strdup (info->full_backing_filename);
          self->info->backing_format = g_strdup (info->backing_format);
          if (info->format_specific != NULL)
            self->info->format_specific = g_variant_ref (info->format_specific);
          self->info->warnings = g_strdupv (info->warnings);
          if (info->snapshots != NULL)
            self->info->snapshots = g_ptr_array_ref (info->snapshots);
        }
    }
  else if (self->info != NULL && g_strcmp0 (self->info->filename, state->path) != 0)
    {
      g_free (self->info->filename);
      self->info->filename = g_strdup (state->path);
    }
  if (self->info != NULL)
    self->info->in_use = self->in_use;

  g_object_thaw_notify (G_OBJECT (self));
  return changed;
}

void
lib_node_set_in_use (StrataLibraryNode *self,
                     gboolean           in_use)
{
  SET_SCALAR (in_use, in_use, PROP_IN_USE);
  if (self->info != NULL)
    self->info->in_use = in_use;
}

void
lib_node_set_backing (StrataLibraryNode *self,
                      StrataLibraryNode *backing)
{
  if (self->backing == backing)
    return;
  if (self->backing != NULL)
    g_ptr_array_remove (self->backing->overlays, self);
  self->backing = backing;
  if (backing != NULL)
    g_ptr_array_add (backing->overlays, self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BACKING]);
}

#undef SET_SCALAR

const char *
strata_library_node_get_id (StrataLibraryNode *self)
{
  g_return_val_if_fail (STRATA_IS_LIBRARY_NODE (self), NULL);
  return self->id;
}

StrataNodeKind
strata_library_node_get_kind (StrataLibraryNode *self)
{
  g_return_val_if_fail (STRATA_IS_LIBRARY_NODE (self), STRATA_NODE_UNREADABLE);
  return self->kind;
}

#define GETTER(type, field, fallback) \
  type \
  strata_library_node_get_##field (StrataLibraryNode *self) \
  { \
    g_return_val_if_fail (STRATA_IS_LIBRARY_NODE (self), fallback); \
    return self->field; \
  }

GETTER (const char *, path, NULL)
GETTER (const char *, name, NULL)
GETTER (const char *, folder, NULL)
GETTER (const char *, format, NULL)
GETTER (guint, format_version, 0)
GETTER (guint64, virtual_size, 0)
GETTER (guint64, apparent_size, 0)
GETTER (guint64, allocated_size, 0)
GETTER (guint64, cluster_size, 0)
GETTER (const char *, compression_type, NULL)
GETTER (gboolean, compressed, FALSE)
GETTER (gboolean, dirty, FALSE)
GETTER (gboolean, corrupt, FALSE)
GETTER (gboolean, encrypted, FALSE)
GETTER (gboolean, protected, FALSE)
GETTER (gboolean, in_use, FALSE)
GETTER (const char *, backing_name, NULL)
GETTER (const char *, backing_format, NULL)
GETTER (const char *, backing_path, NULL)
GETTER (StrataLibraryNode *, backing, NULL)
GETTER (const char *, error, NULL)

#undef GETTER

const StrataImageInfo *
strata_library_node_get_image_info (StrataLibraryNode *self)
{
  g_return_val_if_fail (STRATA_IS_LIBRARY_NODE (self), NULL);
  return self->info;
}

static int
compare_nodes_by_path (gconstpointer a,
                       gconstpointer b)
{
  const StrataLibraryNode *na = *(StrataLibraryNode * const *) a;
  const StrataLibraryNode *nb = *(StrataLibraryNode * const *) b;

  return strcmp (na->path, nb->path);
}

GPtrArray *
strata_library_node_dup_overlays (StrataLibraryNode *self)
{
  GPtrArray *copy;

  g_return_val_if_fail (STRATA_IS_LIBRARY_NODE (self), NULL);

  copy = g_ptr_array_copy (self->overlays, NULL, NULL);
  g_ptr_array_sort (copy, compare_nodes_by_path);
  return copy;
}

guint
strata_library_node_get_depth (StrataLibraryNode *self)
{
  g_autoptr(GHashTable) seen = NULL;
  guint depth = 0;

  g_return_val_if_fail (STRATA_IS_LIBRARY_NODE (self), 0);

  seen = g_hash_table_new (NULL, NULL);
  for (StrataLibraryNode *n = self->backing;
       n != NULL && g_hash_table_add (seen, n);
       n = n->backing)
    depth++;
  return depth;
}
