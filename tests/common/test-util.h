/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * Shared helpers for the test programs: a scratch folder per test program, running shell
 * commands (qemu-img, qemu-io, strata-img) and asserting on their results.
 */

/* Initialises GTest, sets LC_ALL=C.UTF-8 (for this program and every command it runs), and
 * creates the scratch folder under $STRATA_TEST_TMPDIR or $TMPDIR (removed at exit unless
 * STRATA_TEST_KEEP=1). */
void        tu_init              (int *argc, char ***argv);
/* The scratch folder of this test program. */
const char *tu_dir               (void);
/* A path inside the scratch folder; the string lives until exit. */
const char *tu_path              (const char *name);
/* The strata-img binary under test. */
const char *tu_strata_img        (void);

/* Runs "/bin/sh -c CMD" and returns its exit status; stdout/stderr are returned when the
 * pointers are non-NULL. */
int         tu_run               (char      **out,
                                  char      **err,
                                  const char *fmt,
                                  ...) G_GNUC_PRINTF (3, 4);
/* Runs CMD and fails the test (printing stderr) unless it exits 0; returns stdout. */
char       *tu_run_ok            (const char *fmt,
                                  ...) G_GNUC_PRINTF (1, 2);

/* Asserts `qemu-img check` reports no errors and no leaks. */
void        tu_assert_qemu_check_clean (const char *path);
/* Asserts `qemu-img compare` finds the two images' guest contents identical. */
void        tu_assert_qemu_compare     (const char *a,
                                        const char *b);
/* The secret (object "sec0") tu_qemu_create_encrypted() encrypts with. */
#define TU_ENCRYPT_SECRET_ARGS "--object secret,id=sec0,data=abc123"

/* Creates an encrypted qcow2 image with qemu-img: @path (relative to the scratch folder or
 * absolute), @size as qemu-img takes it, @encrypt_opts the encrypt.* options
 * ("encrypt.format=luks,encrypt.iter-time=50", "encrypt.format=aes"); the key secret is
 * added. qemu-img 7.2 calibrates LUKS key derivation with per-thread CPU time in whole
 * milliseconds and gives up ("Unable to get accurate CPU usage") when a round measures 0 ms,
 * which depends on the machine and its load: that failure alone is retried, a bounded number
 * of times. Any other failure (or the last retry's) fails the test with qemu-img's message. */
void        tu_qemu_create_encrypted (const char *path,
                                      const char *encrypt_opts,
                                      const char *size);

/* QEMU's image locks, as a running VM holds them (simulated by qemu-io). */

/* TRUE when some process holds a lock on byte @byte of @path (QEMU locks bytes 100 + perm
 * and 200 + perm). Asks with F_OFD_GETLK, which takes no lock itself, so it cannot make the
 * holder's own open fail the way a probing opener could, and needs no /proc/locks. */
gboolean    tu_byte_locked       (const char *path,
                                  guint       byte);
/* Waits until process @pid has opened @path read-write with all of QEMU's locks: the write
 * byte (101) and, for formats other than raw (which share writes), the last "not shared" byte
 * (203). Fails the test if @pid exits first. No timing assumption: only a hang guard of
 * several minutes. */
void        tu_wait_qemu_rw_locks (const char *path,
                                   const char *format,
                                   GPid        pid);

typedef struct _TuHolder TuHolder;
/* Starts qemu-io on @image (in @dir) read-write, reading commands from a FIFO kept open by a
 * sleeping writer, and returns once it holds the image's locks. */
TuHolder   *tu_hold_with_qemu_io (const char *dir,
                                  const char *image,
                                  const char *format);
/* Closes qemu-io's input and waits until it released the locks. */
void        tu_holder_release    (TuHolder   *holder);

/* Runs what follows as the user nobody (for permission errors: root ignores mode bits). */
#define TU_AS_NOBODY "setpriv --reuid=nobody --regid=nogroup --clear-groups"
/* TRUE when TU_AS_NOBODY works here and nobody can run strata-img and enter @dir; otherwise
 * the test is skipped with the reason (not root, no CAP_SETUID, a closed folder on the path
 * of the build or of $TMPDIR) and FALSE is returned. */
gboolean    tu_nobody_can_run    (const char *dir);

/* Whether the file system holding @dir gives blocks back when a hole is punched (tmpfs,
 * ext4, xfs and btrfs do; some network and FUSE file systems do not). */
gboolean    tu_fs_punches_holes  (const char *dir);

/* SHA-256 of a file's bytes (to prove a file was left untouched). */
char       *tu_file_checksum     (const char *path);
gboolean    tu_file_exists       (const char *path);
/* Names of files in @dir (sorted), as one space-separated string, for "nothing left"
 * assertions; hidden files included. */
char       *tu_list_dir          (const char *dir);

G_END_DECLS
