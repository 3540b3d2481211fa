/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-qcow2-private.h"

/* Placeholder: writing lands in the next step. */

gboolean
qcow2_open_for_writing (Qcow2State  *s,
                        GError     **error)
{
  g_set_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED,
               "%s: writing qcow2 images is not supported yet", s->filename);
  return FALSE;
}

gboolean qcow2_writeback (Qcow2State *s, GError **error) { return TRUE; }
gboolean qcow2_writeback_refcounts (Qcow2State *s, GError **error) { return TRUE; }
gboolean qcow2_write_header (Qcow2State *s, const char *n, const char *f, GError **error)
{ return qcow2_open_for_writing (s, error); }
gboolean qcow2_write (StrataImage *self, guint64 o, gsize l, const void *b, GError **error)
{ return qcow2_open_for_writing (self->priv, error); }
gboolean qcow2_write_zeroes (StrataImage *self, guint64 o, guint64 l, GError **error)
{ return qcow2_open_for_writing (self->priv, error); }
gboolean qcow2_discard (StrataImage *self, guint64 o, guint64 l, GError **error)
{ return qcow2_open_for_writing (self->priv, error); }
gboolean qcow2_write_compressed (StrataImage *self, guint64 o, const void *d, gsize l,
                                 GError **error)
{ return qcow2_open_for_writing (self->priv, error); }
gboolean qcow2_flush (StrataImage *self, GError **error) { return TRUE; }
gboolean qcow2_truncate (StrataImage *self, guint64 size, GError **error)
{ return qcow2_open_for_writing (self->priv, error); }
gboolean qcow2_close_clean (StrataImage *self, GError **error) { return TRUE; }
