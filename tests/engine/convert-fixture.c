/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "convert-fixture.h"

#include "test-util.h"

const char *
cf_content (guint64     size,
            const char *more_writes)
{
  static char *path;

  if (path != NULL)
    return path;

  path = g_strdup (tu_path ("content.raw"));
  g_free (tu_run_ok ("truncate -s %" G_GUINT64_FORMAT " %s && "
                     "dd if=/usr/bin/qemu-img of=%s bs=64k count=40 conv=notrunc "
                     "status=none && "
                     "head -c 1572864 /dev/urandom | dd of=%s bs=1M seek=5 conv=notrunc "
                     "status=none && "
                     "dd if=/dev/zero of=%s bs=1M seek=9 count=2 conv=notrunc status=none && "
                     "qemu-io -f raw -c 'write -P 0x5a 13M 1536k' %s %s >/dev/null",
                     size, path, path, path, path, more_writes, path));
  return path;
}

const char *
cf_make_source (const char *file,
                const char *make,
                const char *content)
{
  const char *path = tu_path (file);
  g_autofree char *cmd = NULL;

  if (tu_file_exists (path))
    return path;

  /* Positional %1$s/%2$s: printf-style with both arguments. */
  cmd = g_strdup_printf (make, path, content);
  g_free (tu_run_ok ("set -e; cd '%s'; %s", tu_dir (), cmd));
  return path;
}
