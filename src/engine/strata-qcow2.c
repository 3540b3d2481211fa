/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-driver.h"
#include "strata-error.h"

/* Placeholder until the qcow2 driver lands. */

static int
qcow2_probe (const guint8 *buf, gsize len, const char *filename)
{
  return 0;
}

static gboolean
qcow2_open (StrataImage *self, GError **error)
{
  g_set_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED, "%s: qcow2 is not supported yet",
               self->filename);
  return FALSE;
}

const StrataDriver strata_qcow2_driver = {
  .name = "qcow2",
  .probe = qcow2_probe,
  .open = qcow2_open,
};
