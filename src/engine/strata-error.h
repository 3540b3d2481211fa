/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define STRATA_ERROR (strata_error_quark ())

/* Cancellation is reported as G_IO_ERROR_CANCELLED, never with this domain. */
typedef enum
{
  STRATA_ERROR_FAILED,
  STRATA_ERROR_INVALID_ARGUMENT, /* the caller asked for something impossible */
  STRATA_ERROR_CORRUPT,          /* the image is malformed or damaged */
  STRATA_ERROR_UNSUPPORTED,      /* recognised, but not something we can do safely */
  STRATA_ERROR_BACKING,          /* missing backing file, loop, json:/protocol name */
  STRATA_ERROR_LOCKED,           /* another process (a running QEMU) holds the image */
  STRATA_ERROR_PROTECTED,        /* the image is write-protected (mode bits) */
  STRATA_ERROR_SHARED_BASE,      /* other images use the base that would change */
  STRATA_ERROR_NO_SPACE,         /* the target filesystem is full */
  STRATA_ERROR_IO,               /* a read, write or flush failed */
  STRATA_ERROR_NOT_FOUND,        /* a file does not exist */
  STRATA_ERROR_PERMISSION,       /* permission denied */
  STRATA_ERROR_NO_SNAPSHOT,      /* the image has no snapshot with that ID or name */
  STRATA_ERROR_NO_SNAPSHOTS,     /* the image's format has no internal snapshots */
} StrataError;

GQuark strata_error_quark (void);

/* Sets an error in STRATA_ERROR (or G_IO_ERROR for cancellation-like errno values) from
 * @saved_errno, formatted as "FILENAME: MESSAGE: strerror". */
void strata_set_error_from_errno (GError    **error,
                                  int         saved_errno,
                                  const char *filename,
                                  const char *format,
                                  ...) G_GNUC_PRINTF (4, 5);

G_END_DECLS
