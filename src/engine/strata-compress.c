/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-compress.h"

#include <libdeflate.h>
#include <zstd.h>

struct _StrataCompressor
{
  StrataCompression              type;
  int                            level;
  struct libdeflate_compressor  *deflate;
  gboolean                       zlib_wrapper;
  ZSTD_CCtx                     *zstd;
};

StrataCompressor *
strata_compressor_new (StrataCompression type,
                       int               level)
{
  StrataCompressor *self;

  g_return_val_if_fail (type == STRATA_COMPRESSION_ZLIB || type == STRATA_COMPRESSION_ZSTD,
                        NULL);

  self = g_new0 (StrataCompressor, 1);
  self->type = type;

  if (type == STRATA_COMPRESSION_ZLIB)
    {
      self->level = level > 0 ? MIN (level, 12) : STRATA_DEFLATE_DEFAULT_LEVEL;
      self->deflate = libdeflate_alloc_compressor (self->level);
      if (self->deflate == NULL)
        g_error ("libdeflate: out of memory");
    }
  else
    {
      self->level = level > 0 ? MIN (level, ZSTD_maxCLevel ()) : STRATA_ZSTD_DEFAULT_LEVEL;
      self->zstd = ZSTD_createCCtx ();
      if (self->zstd == NULL)
        g_error ("zstd: out of memory");
      ZSTD_CCtx_setParameter (self->zstd, ZSTD_c_compressionLevel, self->level);
      /* QEMU's reader does not need these; leaving them out saves bytes per cluster. */
      ZSTD_CCtx_setParameter (self->zstd, ZSTD_c_checksumFlag, 0);
    }

  return self;
}

StrataCompressor *
strata_compressor_new_zlib (int level)
{
  StrataCompressor *self = strata_compressor_new (STRATA_COMPRESSION_ZLIB, level);

  self->zlib_wrapper = TRUE;
  return self;
}

gsize
strata_compress_zlib_bound (gsize len)
{
  return libdeflate_zlib_compress_bound (NULL, len);
}

void
strata_compressor_free (StrataCompressor *self)
{
  if (self == NULL)
    return;

  g_clear_pointer (&self->deflate, libdeflate_free_compressor);
  g_clear_pointer (&self->zstd, ZSTD_freeCCtx);
  g_free (self);
}

StrataCompression
strata_compressor_get_type (StrataCompressor *self)
{
  g_return_val_if_fail (self != NULL, STRATA_COMPRESSION_ZLIB);
  return self->type;
}

gsize
strata_compressor_compress (StrataCompressor *self,
                            const void       *src,
                            gsize             src_len,
                            void             *dst,
                            gsize             dst_size)
{
  gsize n;

  g_return_val_if_fail (self != NULL, 0);

  if (self->deflate != NULL && self->zlib_wrapper)
    return libdeflate_zlib_compress (self->deflate, src, src_len, dst, dst_size);
  if (self->deflate != NULL)
    return libdeflate_deflate_compress (self->deflate, src, src_len, dst, dst_size);

  /* One frame holding the whole cluster: QEMU streams it into a cluster-sized buffer. */
  n = ZSTD_compress2 (self->zstd, dst, dst_size, src, src_len);
  if (ZSTD_isError (n))
    return 0;
  return n;
}

gboolean
strata_decompress (StrataCompression  type,
                   const void        *src,
                   gsize              src_len,
                   void              *dst,
                   gsize              dst_len)
{
  if (type == STRATA_COMPRESSION_ZLIB)
    {
      struct libdeflate_decompressor *d = libdeflate_alloc_decompressor ();
      enum libdeflate_result r;
      size_t in_used = 0;
      size_t out_len = 0;

      if (d == NULL)
        return FALSE;
      r = libdeflate_deflate_decompress_ex (d, src, src_len, dst, dst_len, &in_used, &out_len);
      libdeflate_free_decompressor (d);
      return r == LIBDEFLATE_SUCCESS && out_len == dst_len;
    }
  else if (type == STRATA_COMPRESSION_ZSTD)
    {
      ZSTD_DCtx *d = ZSTD_createDCtx ();
      ZSTD_inBuffer in = { src, src_len, 0 };
      ZSTD_outBuffer out = { dst, dst_len, 0 };
      gboolean ok = TRUE;

      if (d == NULL)
        return FALSE;
      /* Like QEMU: keep going until the cluster is full; stop on an error or no progress. */
      while (out.pos < out.size)
        {
          gsize last_in = in.pos;
          gsize last_out = out.pos;
          gsize r = ZSTD_decompressStream (d, &out, &in);

          if (ZSTD_isError (r) || (in.pos == last_in && out.pos == last_out))
            {
              ok = FALSE;
              break;
            }
        }
      ZSTD_freeDCtx (d);
      return ok;
    }

  return FALSE;
}
