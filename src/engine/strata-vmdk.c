/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-driver.h"
#include "strata-error.h"

/* Placeholder until the vmdk driver lands. */

static int
vmdk_probe (const guint8 *buf, gsize len, const char *filename)
{
  return 0;
}

static gboolean
vmdk_open (StrataImage *self, GError **error)
{
  g_set_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED, "%s: vmdk is not supported yet",
               self->filename);
  return FALSE;
}

const StrataDriver strata_vmdk_driver = {
  .name = "vmdk",
  .probe = vmdk_probe,
  .open = vmdk_open,
};
