/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Output size and single-core speed (in CPU time, so a loaded machine does not skew it) of
 * each compressor level on the non-zero clusters of a raw disk image, against QEMU's own
 * choice (zlib level 6, 4 KiB window, no header). This is how STRATA_DEFLATE_DEFAULT_LEVEL was chosen. Build and run:
 *   cc -O2 tests/bench/bench-levels.c -o bench-levels -ldeflate -lz -lzstd
 *   ./bench-levels /var/tmp/strata-bench/disk.raw 65536
 */
#include <libdeflate.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>
#include <zstd.h>

static double
now (void)
{
  struct timespec t;

  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static int
is_zero (const unsigned char *p, size_t n)
{
  return p[0] == 0 && memcmp (p, p + 1, n - 1) == 0;
}

int
main (int argc, char **argv)
{
  size_t cs = argc > 2 ? strtoul (argv[2], NULL, 0) : 65536;
  size_t max = (size_t) 512 << 20; /* enough data for stable numbers */
  unsigned char *data = malloc (max), *out = malloc (cs * 2), *buf = malloc (cs);
  size_t n = 0, total, ref;
  FILE *f;
  double t;

  if (argc < 2 || !(f = fopen (argv[1], "rb")))
    {
      fprintf (stderr, "usage: %s RAW_IMAGE [CLUSTER_SIZE]\n", argv[0]);
      return 1;
    }
  while (n + cs <= max && fread (buf, 1, cs, f) == cs)
    if (!is_zero (buf, cs))
      {
        memcpy (data + n, buf, cs);
        n += cs;
      }
  fclose (f);
  printf ("%zu MB of non-zero %zu-byte clusters\n", n >> 20, cs);

  t = now ();
  total = 0;
  for (size_t i = 0; i < n; i += cs)
    {
      z_stream s;
      int r;

      memset (&s, 0, sizeof s);
      deflateInit2 (&s, 6, Z_DEFLATED, -12, 9, Z_DEFAULT_STRATEGY);
      s.next_in = data + i;
      s.avail_in = cs;
      s.next_out = out;
      s.avail_out = cs - 1;
      r = deflate (&s, Z_FINISH);
      total += r == Z_STREAM_END ? s.total_out : cs;
      deflateEnd (&s);
    }
  ref = total;
  printf ("%-14s %12zu  %.3f  %6.1f MB/s\n", "qemu zlib-6", total, 1.0, n / 1e6 / (now () - t));

  for (int l = 1; l <= 9; l++)
    {
      struct libdeflate_compressor *c = libdeflate_alloc_compressor (l);

      t = now ();
      total = 0;
      for (size_t i = 0; i < n; i += cs)
        {
          size_t r = libdeflate_deflate_compress (c, data + i, cs, out, cs - 1);
          total += r ? r : cs;
        }
      printf ("libdeflate-%-3d %12zu  %.3f  %6.1f MB/s\n", l, total, (double) total / ref,
              n / 1e6 / (now () - t));
      libdeflate_free_compressor (c);
    }

  for (int l = 1; l <= 5; l++)
    {
      ZSTD_CCtx *z = ZSTD_createCCtx ();

      t = now ();
      total = 0;
      for (size_t i = 0; i < n; i += cs)
        {
          size_t r = ZSTD_compressCCtx (z, out, cs - 1, data + i, cs, l);
          total += ZSTD_isError (r) ? cs : r;
        }
      printf ("zstd-%-9d %12zu  %.3f  %6.1f MB/s\n", l, total, (double) total / ref,
              n / 1e6 / (now () - t));
      ZSTD_freeCCtx (z);
    }
  return 0;
}
