/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Seeds for fuzz-qcow2-compressed: one whole cluster of guest data compressed the way a
 * qcow2 image stores it (raw deflate, window 4 KiB, as QEMU writes it; or a zstd frame),
 * behind the three control bytes described in strata-fuzz.c. Usage: fuzz-corpus-gen DIR
 */
#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

static gsize
deflate_cluster (const guint8 *in, gsize len, guint8 *out, gsize out_len)
{
  z_stream s = { 0 };
  gsize n;

  if (deflateInit2 (&s, 6, Z_DEFLATED, -12, 9, Z_DEFAULT_STRATEGY) != Z_OK)
    return 0;
  s.next_in = (Bytef *) in;
  s.avail_in = len;
  s.next_out = out;
  s.avail_out = out_len;
  if (deflate (&s, Z_FINISH) != Z_STREAM_END)
    {
      deflateEnd (&s);
      return 0;
    }
  n = out_len - s.avail_out;
  deflateEnd (&s);
  return n;
}

static void
fill (guint8 *buf, gsize len, int pattern)
{
  guint32 x = 12345;

  for (gsize i = 0; i < len; i++)
    {
      x = x * 1103515245 + 12345;
      switch (pattern)
        {
        case 0: buf[i] = 0; break;
        case 1: buf[i] = "strata fuzz seed text "[i % 22]; break;
        case 2: buf[i] = (i / 64) & 1 ? (guint8) (x >> 16) : (guint8) i; break;
        default: buf[i] = (guint8) (x >> 16); break;
        }
    }
}

int
main (int argc, char **argv)
{
  int count = 0;

  if (argc != 2)
    {
      fprintf (stderr, "usage: %s DIR\n", argv[0]);
      return 1;
    }

  for (guint bits = 9; bits <= 16; bits++)
    for (int pattern = 0; pattern < 4; pattern++)
      for (int zstd = 0; zstd <= 1; zstd++)
        {
          gsize cluster = (gsize) 1 << bits;
          gsize cap = cluster * 2 + 1024;
          g_autofree guint8 *in = g_malloc (cluster);
          g_autofree guint8 *out = g_malloc (cap + 3);
          g_autofree char *name = NULL;
          g_autoptr(GError) error = NULL;
          gsize n;

          /* Large clusters with random data make seeds bigger than useful. */
          if (bits > 13 && pattern == 3)
            continue;

          fill (in, cluster, pattern);
          out[0] = (zstd ? 1 : 0) | (guint8) ((bits - 9) << 1);
          out[1] = 0;
          out[2] = 0;
          if (zstd)
            {
              n = ZSTD_compress (out + 3, cap, in, cluster, 3);
              if (ZSTD_isError (n))
                n = 0;
            }
          else
            n = deflate_cluster (in, cluster, out + 3, cap);
          if (n == 0)
            continue;

          name = g_strdup_printf ("%s/seed-%s-c%u-p%d", argv[1], zstd ? "zstd" : "zlib",
                                  bits, pattern);
          if (!g_file_set_contents (name, (char *) out, n + 3, &error))
            {
              fprintf (stderr, "%s\n", error->message);
              return 1;
            }
          count++;
        }

  printf ("%d seeds written to %s\n", count, argv[1]);
  return 0;
}
