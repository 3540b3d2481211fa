/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "strata-job-manager.h"

G_BEGIN_DECLS

/*
 * A virtual machine (a qemu-system-x86_64 process) run as a job of the job manager: the job
 * writes its disk image and reads the chain below it, so the graph marks them, writing jobs
 * are refused, and closing the window asks first. Cancelling the job stops the machine
 * (SIGTERM, which QEMU answers by closing its images cleanly; SIGKILL after a timeout). A
 * machine that exits on its own ends the job: succeeded when QEMU exits with status 0,
 * failed with QEMU's own message otherwise.
 *
 * The job manager's entry, not the caller, keeps a StrataVm alive: it holds a reference to
 * itself until its process has exited and the job is complete, so the wizard that started it
 * may close at any time.
 *
 * Properties (read-only): "path", "state" (StrataVmState, notified).
 */
#define STRATA_TYPE_VM (strata_vm_get_type ())
G_DECLARE_FINAL_TYPE (StrataVm, strata_vm, STRATA, VM, GObject)

typedef enum
{
  STRATA_VM_STARTING, /* the process runs but has not opened its disk yet */
  STRATA_VM_RUNNING,  /* QEMU holds the disk image's locks */
  STRATA_VM_STOPPING, /* asked to stop, waiting for the process to exit */
  STRATA_VM_EXITED,   /* the process has exited and the job is complete */
} StrataVmState;

/* TRUE when this system can run virtual machines: qemu-system-x86_64 is in PATH and Strata
 * is not running in a Flatpak sandbox. */
gboolean       strata_vm_available   (void);
/* How many machines of @jobs have not exited yet. */
guint          strata_vm_count_running (StrataJobManager *jobs);
/* TRUE when @job is a machine's job whose process has not exited. */
gboolean       strata_vm_owns_job      (StrataJob        *job);
/* TRUE when KVM can be used (/dev/kvm readable and writable). */
gboolean       strata_vm_kvm_usable  (void);

/* The accelerator a machine started now would use ("kvm", "tcg", ...), or NULL when the
 * extra arguments leave it to QEMU. */
char          *strata_vm_dup_accel   (void);

/* The command line for @path (disk format @format, @memory_mib of memory, a display window
 * when @display). The accelerator is KVM when usable, else TCG; STRATA_RUN_ACCEL ("kvm",
 * "tcg") overrides that choice, and so do extra arguments in STRATA_RUN_EXTRA_ARGS (split
 * as a shell would) that choose an accelerator or machine themselves ("-accel",
 * "-machine", "-M", "-enable-kvm"); extra "-display" or "-nographic" replace the display
 * choice. The extra arguments come last. */
char         **strata_vm_build_argv  (const char *path,
                                      const char *format,
                                      guint       memory_mib,
                                      gboolean    display,
                                      GError    **error);

/* Starts a machine on @path: registers its job with @jobs (writing @path, reading @reads,
 * the files of the chain below it) and spawns QEMU without blocking. Returns the machine (a
 * new reference for the caller), or NULL with an error when the job manager refuses or QEMU
 * cannot be started (the job then ends as failed). @owner (may be NULL) shows the result. */
StrataVm      *strata_vm_start       (StrataJobManager   *jobs,
                                      GtkWindow          *owner,
                                      const char         *path,
                                      const char         *format,
                                      const char * const *reads,
                                      guint               memory_mib,
                                      gboolean            display,
                                      GError            **error);

const char    *strata_vm_get_path    (StrataVm *self);
StrataJob     *strata_vm_get_job     (StrataVm *self);
StrataVmState  strata_vm_get_state   (StrataVm *self);
/* Stops the machine (the same as cancelling its job). */
void           strata_vm_stop        (StrataVm *self);

G_END_DECLS
