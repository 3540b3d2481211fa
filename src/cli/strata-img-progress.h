/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

#include "strata-image.h"

G_BEGIN_DECLS

/*
 * qemu-img's "-p" lines, "    (12.34/100%)\r", reproduced exactly. qemu-img decides what it
 * prints from how it walks the image (in chunks of its own size, skipping what it does not
 * copy) and prints a value only when it moved by more than a step (1% for convert, 2% for
 * rebase). Strata's engine works in other chunks, so the CLI works out qemu-img's list of
 * values first (a "plan") and then prints each value once the engine has got that far. The
 * output is the same whatever the speed of the machine.
 */
typedef struct _StrataImgProgress StrataImgProgress;

/* @min_skip: qemu-img's step (1.0 for convert and commit, 2.0 for rebase). */
StrataImgProgress *strata_img_progress_new   (float              min_skip);
void               strata_img_progress_free  (StrataImgProgress *self);

/* qemu-img's progress update: @max == 0 sets the value to @delta (a percentage), otherwise
 * it adds @delta / 100 * @max. Records a line when qemu-img would print one. */
void               strata_img_progress_step  (StrataImgProgress *self,
                                              float              delta,
                                              int                max);

/* Adds the lines `qemu-img convert -p` prints while it copies @source (with its chain) into
 * a target without a backing file. @compressed_cluster is the target's cluster size for
 * `-c` (0 otherwise); @min_sparse is `-S` in bytes (0: everything is copied). */
gboolean           strata_img_progress_plan_convert (StrataImgProgress *self,
                                                     StrataImage       *source,
                                                     guint64            compressed_cluster,
                                                     guint64            min_sparse,
                                                     GError           **error);

/* Adds the lines `qemu-img rebase -p` (safe mode) prints for @overlay, whose old and new
 * backing files have @old_size and @new_size bytes (@new_size 0 when there is none).
 * @prefix: the new backing when it is a layer of @overlay's current chain, else NULL. */
gboolean           strata_img_progress_plan_rebase  (StrataImgProgress *self,
                                                     StrataImage       *overlay,
                                                     guint64            old_size,
                                                     guint64            new_size,
                                                     StrataImage       *prefix,
                                                     GError           **error);

/* Prints the planned lines up to @fraction (0..1) of the work. */
void               strata_img_progress_play  (StrataImgProgress *self,
                                              double             fraction);
/* Prints the value at once when qemu-img would (for operations whose qemu-img output
 * depends on timing, such as commit). */
void               strata_img_progress_live  (StrataImgProgress *self,
                                              double             fraction);
/* On success prints the rest of the plan and qemu-img's closing 100%; then the newline. */
void               strata_img_progress_end   (StrataImgProgress *self,
                                              gboolean           ok);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (StrataImgProgress, strata_img_progress_free)

G_END_DECLS
