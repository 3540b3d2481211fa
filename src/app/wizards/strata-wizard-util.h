/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "strata-library.h"
#include "strata-job-manager.h"

G_BEGIN_DECLS

/*
 * What the wizards share: the checks they show before starting, the numbers they show
 * after, and the small widgets for both.
 */

/* Bytes allocated on disk by @path (st_blocks × 512), 0 when it cannot be read. */
guint64   strata_wizard_disk_usage       (const char *path);
/* "1.1 GB → 486 MB, −56%" (or "+12%"). */
char     *strata_wizard_format_saving    (guint64     before,
                                          guint64     after);
/* Free bytes on the filesystem of @folder, G_MAXUINT64 when unknown. */
guint64   strata_wizard_free_space       (const char *folder);
/* TRUE when another process (a running QEMU) holds @path so that we may not read it
 * consistently (@for_write FALSE) or not write it (@for_write TRUE). FALSE when the file
 * cannot be opened (the operation then reports why). */
gboolean  strata_wizard_held_by_other    (const char *path,
                                          gboolean    for_write);
/* Why @name cannot be a new file in @folder, in words that name both, or NULL when it can
 * (the folder exists and is a folder; the name is not empty, has no "/", is not hidden and
 * is not taken). */
char     *strata_wizard_check_new_name   (const char *folder,
                                          const char *name);
/* TRUE when @final_path exists or a hidden temporary file of it (".NAME.strata-*") is left
 * in its folder: what a cancelled job must not leave. */
gboolean  strata_wizard_anything_left    (const char *final_path);
/* Why the operation may not write @path right now (protected, held by QEMU, written or
 * read by a running job), or NULL. */
char     *strata_wizard_check_writable   (StrataJobManager *jobs,
                                          const char       *path);

/* Opens a GtkFileChooserNative for a file (or a folder) and calls @callback with the chosen
 * path, or not at all when the user cancels. */
typedef void (*StrataWizardChooseFunc) (GtkWidget  *wizard,
                                        const char *path);
void      strata_wizard_choose_file      (GtkWidget             *wizard,
                                          const char            *title,
                                          gboolean               folder,
                                          const char            *initial,
                                          StrataWizardChooseFunc callback);

/* @target as a path relative to the folder @from_dir ("base.qcow2", "../bases/base.qcow2"),
 * both absolute. */
char     *strata_wizard_relative_path    (const char *from_dir,
                                          const char *target);

/* Finds, in a worker thread, the images whose backing file is @path (its folder and the
 * library's folders), for the wizards that must say who relies on an image. */
void      strata_wizard_find_overlays_async  (const char          *path,
                                              StrataLibrary       *library,
                                              GAsyncReadyCallback  callback,
                                              gpointer             user_data);
/* The paths found (NULL-terminated), or NULL with an error. */
char    **strata_wizard_find_overlays_finish (GAsyncResult        *result,
                                              GError             **error);
/* Adds one row per path to @group (name as title, the folder as subtitle, a warning icon),
 * and shows the group with @description; hides it when @paths is empty. */
void      strata_wizard_list_images          (AdwPreferencesGroup *group,
                                              const char * const  *paths,
                                              const char          *description);

/* A question over @parent (an AdwMessageDialog) with two answers: "cancel" (@cancel_label:
 * the default, and what closing it means) and @action (@action_label, shown with
 * @appearance). The caller sets the body, connects "response" and presents it. */
GtkWidget *strata_wizard_question_new    (GtkWindow             *parent,
                                          const char            *heading,
                                          const char            *cancel_label,
                                          const char            *action,
                                          const char            *action_label,
                                          AdwResponseAppearance  appearance);

/* The library asks to look at @path again (nothing when @library is NULL). */
void      strata_wizard_rescan           (StrataLibrary *library,
                                          const char    *path);

G_END_DECLS
