/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <glib/gi18n.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "strata-error.h"
#include "strata-file.h"
#include "strata-vm.h"

/* How long QEMU may take to close its images after SIGTERM before it is killed
 * (STRATA_RUN_STOP_TIMEOUT, in seconds, overrides it for tests). */
#define STOP_TIMEOUT_S 10
/* How often a starting machine is asked whether it has opened its disk yet. */
#define PROBE_INTERVAL_MS 100

struct _StrataVm
{
  GObject           parent_instance;

  StrataJobManager *jobs;
  StrataJob        *job;
  GCancellable     *cancellable;
  gulong            cancelled_id;
  GSubprocess      *process;
  char             *path;
  char             *name;
  char             *accel;
  guint             memory_mib;
  guint             stop_timeout;
  StrataVmState     state;
  guint             probe_id;
  guint             kill_id;
  gboolean          killed;
  gboolean          held_app;
};

enum
{
  PROP_0,
  PROP_PATH,
  PROP_STATE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (StrataVm, strata_vm, G_TYPE_OBJECT)

/* The machines whose process has not exited (main thread only). */
static GList *live_vms;

guint
strata_vm_count_running (StrataJobManager *jobs)
{
  guint n = 0;

  for (GList *l = live_vms; l != NULL; l = l->next)
    if (((StrataVm *) l->data)->jobs == jobs)
      n++;
  return n;
}

gboolean
strata_vm_owns_job (StrataJob *job)
{
  for (GList *l = live_vms; l != NULL; l = l->next)
    if (((StrataVm *) l->data)->job == job)
      return TRUE;
  return FALSE;
}

gboolean
strata_vm_available (void)
{
  g_autofree char *qemu = NULL;

  if (g_file_test ("/.flatpak-info", G_FILE_TEST_EXISTS))
    return FALSE;
  qemu = g_find_program_in_path ("qemu-system-x86_64");
  return qemu != NULL;
}

gboolean
strata_vm_kvm_usable (void)
{
  return access ("/dev/kvm", R_OK | W_OK) == 0;
}

/* QEMU's option syntax splits values at commas; a literal comma is written twice. */
static char *
escape_option (const char *value)
{
  g_auto(GStrv) parts = g_strsplit (value, ",", -1);

  return g_strjoinv (",,", parts);
}

static gboolean
chooses_accel (const char *arg)
{
  static const char *const options[] = {
    "-accel", "--accel", "-machine", "--machine", "-M", "-enable-kvm", "--enable-kvm",
  };

  for (guint i = 0; i < G_N_ELEMENTS (options); i++)
    if (g_str_equal (arg, options[i]))
      return TRUE;
  return g_str_has_prefix (arg, "-accel=") || g_str_has_prefix (arg, "-machine=");
}

static gboolean
chooses_display (const char *arg)
{
  return g_str_equal (arg, "-display") || g_str_equal (arg, "--display")
         || g_str_equal (arg, "-nographic") || g_str_equal (arg, "--nographic");
}

/* "kvm" or "tcg": STRATA_RUN_ACCEL when set, else KVM when usable. */
static const char *
auto_accel (void)
{
  const char *forced = g_getenv ("STRATA_RUN_ACCEL");

  if (forced != NULL && *forced != '\0')
    return forced;
  return strata_vm_kvm_usable () ? "kvm" : "tcg";
}

char **
strata_vm_build_argv (const char  *path,
                      const char  *format,
                      guint        memory_mib,
                      gboolean     display,
                      GError     **error)
{
  const char *extra_text = g_getenv ("STRATA_RUN_EXTRA_ARGS");
  g_auto(GStrv) extra = NULL;
  g_autofree char *file = NULL;
  g_autofree char *name = NULL;
  g_autofree char *base = NULL;
  gboolean own_accel = TRUE;
  gboolean own_display = TRUE;
  GPtrArray *argv;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (format != NULL, NULL);

  if (extra_text != NULL && *extra_text != '\0')
    {
      g_autoptr(GError) local_error = NULL;

      if (!g_shell_parse_argv (extra_text, NULL, &extra, &local_error))
        {
          g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                       _("STRATA_RUN_EXTRA_ARGS cannot be read: %s"), local_error->message);
          return NULL;
        }
      for (guint i = 0; extra[i] != NULL; i++)
        {
          if (chooses_accel (extra[i]))
            own_accel = FALSE;
          if (chooses_display (extra[i]))
            own_display = FALSE;
        }
    }

  file = escape_option (path);
  base = g_path_get_basename (path);
  name = escape_option (base);

  argv = g_ptr_array_new ();
  g_ptr_array_add (argv, g_strdup ("qemu-system-x86_64"));
  g_ptr_array_add (argv, g_strdup ("-name"));
  g_ptr_array_add (argv, g_strdup (name));
  g_ptr_array_add (argv, g_strdup ("-drive"));
  g_ptr_array_add (argv, g_strdup_printf ("file=%s,format=%s,if=virtio", file, format));
  g_ptr_array_add (argv, g_strdup ("-m"));
  g_ptr_array_add (argv, g_strdup_printf ("%u", memory_mib));
  if (own_accel)
    {
      g_ptr_array_add (argv, g_strdup ("-accel"));
      g_ptr_array_add (argv, g_strdup (auto_accel ()));
    }
  if (own_display && !display)
    {
      g_ptr_array_add (argv, g_strdup ("-display"));
      g_ptr_array_add (argv, g_strdup ("none"));
    }
  /* Stopped by signal: no monitor to talk to, and none to leave open on a terminal. */
  g_ptr_array_add (argv, g_strdup ("-monitor"));
  g_ptr_array_add (argv, g_strdup ("none"));
  for (guint i = 0; extra != NULL && extra[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (extra[i]));
  g_ptr_array_add (argv, NULL);

  return (char **) g_ptr_array_free (argv, FALSE);
}

/* The accelerator the command line asks for, for the job's status line. */
static char *
accel_of (char **argv)
{
  for (guint i = 0; argv[i] != NULL; i++)
    {
      if (g_str_equal (argv[i], "-enable-kvm") || g_str_equal (argv[i], "--enable-kvm"))
        return g_strdup ("kvm");
      if ((g_str_equal (argv[i], "-accel") || g_str_equal (argv[i], "--accel"))
          && argv[i + 1] != NULL)
        return g_strndup (argv[i + 1], strcspn (argv[i + 1], ","));
      if ((g_str_equal (argv[i], "-machine") || g_str_equal (argv[i], "-M"))
          && argv[i + 1] != NULL && strstr (argv[i + 1], "accel=") != NULL)
        {
          const char *value = strstr (argv[i + 1], "accel=") + strlen ("accel=");

          return g_strndup (value, strcspn (value, ",:"));
        }
    }
  return NULL;
}

char *
strata_vm_dup_accel (void)
{
  g_auto(GStrv) argv = strata_vm_build_argv ("disk", "raw", 128, FALSE, NULL);

  return argv != NULL ? accel_of (argv) : NULL;
}

static void
set_state (StrataVm      *self,
           StrataVmState  state)
{
  if (self->state == state)
    return;
  self->state = state;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
}

static void
update_phase (StrataVm *self)
{
  g_autofree char *phase = NULL;
  g_autofree char *accel = self->accel != NULL ? g_ascii_strup (self->accel, -1) : NULL;

  switch (self->state)
    {
    case STRATA_VM_STARTING:
      phase = g_strdup (_("Starting the virtual machine…"));
      break;
    case STRATA_VM_RUNNING:
      if (accel != NULL)
        /* Translators: a running VM's status; e.g. "Running · 1024 MiB · KVM". */
        phase = g_strdup_printf (_("Running · %u MiB · %s"), self->memory_mib, accel);
      else
        phase = g_strdup_printf (_("Running · %u MiB"), self->memory_mib);
      break;
    case STRATA_VM_STOPPING:
      phase = g_strdup (_("Stopping…"));
      break;
    case STRATA_VM_EXITED:
    default:
      return;
    }
  strata_job_set_phase (self->job, phase);
}

/* TRUE once QEMU holds the image for writing: it has opened it and the machine is built. */
static gboolean
disk_is_held (const char *path)
{
  StrataFile *file = strata_file_open (path, STRATA_FILE_READ, NULL);
  gboolean held;

  if (file == NULL)
    return FALSE;
  held = strata_file_test_conflict (file,
                                    STRATA_PERM_CONSISTENT_READ | STRATA_PERM_WRITE
                                    | STRATA_PERM_RESIZE,
                                    STRATA_PERM_CONSISTENT_READ | STRATA_PERM_WRITE_UNCHANGED);
  strata_file_unref (file);
  return held;
}

static gboolean
probe_cb (gpointer user_data)
{
  StrataVm *self = user_data;

  if (self->state != STRATA_VM_STARTING)
    {
      self->probe_id = 0;
      return G_SOURCE_REMOVE;
    }
  if (!disk_is_held (self->path))
    return G_SOURCE_CONTINUE;

  self->probe_id = 0;
  set_state (self, STRATA_VM_RUNNING);
  update_phase (self);
  return G_SOURCE_REMOVE;
}

static gboolean
kill_cb (gpointer user_data)
{
  StrataVm *self = user_data;

  self->kill_id = 0;
  self->killed = TRUE;
  g_subprocess_force_exit (self->process);
  return G_SOURCE_REMOVE;
}

void
strata_vm_stop (StrataVm *self)
{
  g_return_if_fail (STRATA_IS_VM (self));

  if (self->state == STRATA_VM_STOPPING || self->state == STRATA_VM_EXITED)
    return;

  set_state (self, STRATA_VM_STOPPING);
  update_phase (self);
  /* QEMU closes (and flushes) its images on SIGTERM, as on a quit from its monitor. */
  g_subprocess_send_signal (self->process, SIGTERM);
  self->kill_id = g_timeout_add_seconds (self->stop_timeout, kill_cb, self);
}

static gboolean
stop_idle_cb (gpointer user_data)
{
  g_autoptr(StrataVm) self = user_data;

  strata_vm_stop (self);
  return G_SOURCE_REMOVE;
}

static void
cancelled_cb (GCancellable *cancellable,
              StrataVm     *self)
{
  /* The handler may run inside g_cancellable_cancel(): act from the main loop instead. */
  g_idle_add (stop_idle_cb, g_object_ref (self));
}

/* QEMU's own message, trimmed: its last lines are what went wrong. */
static char *
last_lines (const char *text,
            guint       max_lines)
{
  g_auto(GStrv) lines = NULL;
  g_autoptr(GPtrArray) kept = g_ptr_array_new ();
  g_autofree char *stripped = g_strstrip (g_strdup (text != NULL ? text : ""));
  guint n;

  lines = g_strsplit (stripped, "\n", -1);
  n = g_strv_length (lines);
  for (guint i = n > max_lines ? n - max_lines : 0; i < n; i++)
    if (*g_strstrip (lines[i]) != '\0')
      g_ptr_array_add (kept, lines[i]);
  g_ptr_array_add (kept, NULL);
  return g_strjoinv ("\n", (char **) kept->pdata);
}

static void
communicate_cb (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(StrataVm) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) job_error = NULL;
  g_autoptr(GBytes) err_bytes = NULL;
  g_autofree char *err_text = NULL;
  g_autofree char *summary = NULL;
  g_autofree char *base = g_path_get_basename (self->path);
  gboolean stopped = self->state == STRATA_VM_STOPPING;
  int status = -1;

  /* Should the pipe break, the process is still reaped; only its message is lost. */
  if (g_subprocess_communicate_finish (G_SUBPROCESS (object), result, NULL, &err_bytes, &error)
      && err_bytes != NULL && g_bytes_get_size (err_bytes) > 0)
    err_text = g_utf8_make_valid (g_bytes_get_data (err_bytes, NULL),
                                  g_bytes_get_size (err_bytes));
  g_subprocess_wait (self->process, NULL, NULL);

  g_clear_handle_id (&self->probe_id, g_source_remove);
  g_clear_handle_id (&self->kill_id, g_source_remove);
  g_cancellable_disconnect (self->cancellable, self->cancelled_id);
  self->cancelled_id = 0;

  if (g_subprocess_get_if_exited (self->process))
    status = g_subprocess_get_exit_status (self->process);

  if (stopped && self->killed)
    {
      summary = g_strdup_printf (ngettext ("Stopped by force after %u second; check %s",
                                           "Stopped by force after %u seconds; check %s",
                                           self->stop_timeout),
                                 self->stop_timeout, base);
      job_error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, summary);
    }
  else if (stopped)
    {
      summary = g_strdup_printf (_("Stopped; QEMU closed %s"), base);
      job_error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, summary);
    }
  else if (status == 0)
    summary = g_strdup_printf (_("The virtual machine on %s shut down"), base);
  else
    {
      g_autofree char *message = last_lines (err_text, 6);
      g_autofree char *how = NULL;

      if (status >= 0)
        how = g_strdup_printf (_("QEMU exited with status %d"), status);
      else
        how = g_strdup_printf (_("QEMU was killed by signal %d"),
                               g_subprocess_get_term_sig (self->process));
      if (*message != '\0')
        job_error = g_error_new (STRATA_ERROR, STRATA_ERROR_FAILED, "%s: %s:\n%s", base, how,
                                 message);
      else
        job_error = g_error_new (STRATA_ERROR, STRATA_ERROR_FAILED, "%s: %s", base, how);
    }

  /* The job first: who watches the state reads the job's outcome. */
  strata_job_manager_complete (self->jobs, self->job, summary, job_error);
  set_state (self, STRATA_VM_EXITED);

  if (self->held_app && g_application_get_default () != NULL)
    g_application_release (g_application_get_default ());
  self->held_app = FALSE;

  /* The reference the running process held (the one this callback owns is dropped too). */
  live_vms = g_list_remove (live_vms, self);
  g_object_unref (self);
}

static void
child_setup (gpointer user_data)
{
  /* Should Strata itself die, its machines do not outlive it holding the images. */
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

StrataVm *
strata_vm_start (StrataJobManager   *jobs,
                 GtkWindow          *owner,
                 const char         *path,
                 const char         *format,
                 const char * const *reads,
                 guint               memory_mib,
                 gboolean            display,
                 GError            **error)
{
  g_autoptr(StrataVm) self = NULL;
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GError) local_error = NULL;
  g_auto(GStrv) argv = NULL;
  g_autofree char *base = NULL;
  g_autofree char *title = NULL;
  const char *writes[] = { path, NULL };
  GCancellable *cancellable;

  g_return_val_if_fail (STRATA_IS_JOB_MANAGER (jobs), NULL);
  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (format != NULL, NULL);

  argv = strata_vm_build_argv (path, format, memory_mib, display, error);
  if (argv == NULL)
    return NULL;

  base = g_path_get_basename (path);
  /* Translators: the job of a running VM; %s is the disk image's name. */
  title = g_strdup_printf (_("Virtual machine on %s"), base);

  self = g_object_new (STRATA_TYPE_VM, NULL);
  self->jobs = g_object_ref (jobs);
  self->job = strata_job_new (title);
  self->path = g_strdup (path);
  self->name = g_strdup (base);
  self->memory_mib = memory_mib;
  self->accel = accel_of (argv);

  /* Listed before the job appears, so that its rows know it is a machine's. */
  live_vms = g_list_prepend (live_vms, self);
  cancellable = strata_job_manager_start (jobs, self->job, owner, reads, writes, error);
  if (cancellable == NULL)
    {
      live_vms = g_list_remove (live_vms, self);
      return NULL;
    }
  self->cancellable = g_object_ref (cancellable);
  update_phase (self);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE
                                        | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_set_child_setup (launcher, child_setup, NULL, NULL);
  self->process = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv,
                                                &local_error);
  if (self->process == NULL)
    {
      g_autoptr(GError) job_error =
        g_error_new (STRATA_ERROR, STRATA_ERROR_FAILED, _("%s: QEMU could not be started: %s"),
                     base, local_error->message);

      live_vms = g_list_remove (live_vms, self);
      strata_job_manager_complete (jobs, self->job, NULL, job_error);
      set_state (self, STRATA_VM_EXITED);
      g_propagate_error (error, g_steal_pointer (&job_error));
      return NULL;
    }

  /* From here the process owns a reference (the list's), dropped when it has exited. */
  g_object_ref (self);
  g_subprocess_communicate_async (self->process, NULL, NULL, communicate_cb,
                                  g_object_ref (self));
  self->cancelled_id = g_cancellable_connect (self->cancellable, G_CALLBACK (cancelled_cb),
                                              self, NULL);
  self->probe_id = g_timeout_add (PROBE_INTERVAL_MS, probe_cb, self);

  /* Quitting waits for the machine to close its images. */
  if (g_application_get_default () != NULL)
    {
      g_application_hold (g_application_get_default ());
      self->held_app = TRUE;
    }

  return g_steal_pointer (&self);
}

const char *
strata_vm_get_path (StrataVm *self)
{
  g_return_val_if_fail (STRATA_IS_VM (self), NULL);
  return self->path;
}

StrataJob *
strata_vm_get_job (StrataVm *self)
{
  g_return_val_if_fail (STRATA_IS_VM (self), NULL);
  return self->job;
}

StrataVmState
strata_vm_get_state (StrataVm *self)
{
  g_return_val_if_fail (STRATA_IS_VM (self), STRATA_VM_EXITED);
  return self->state;
}

static void
strata_vm_finalize (GObject *object)
{
  StrataVm *self = STRATA_VM (object);

  g_assert (self->probe_id == 0);
  g_assert (self->kill_id == 0);
  if (self->cancelled_id != 0)
    g_cancellable_disconnect (self->cancellable, self->cancelled_id);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->process);
  g_clear_object (&self->job);
  g_clear_object (&self->jobs);
  g_clear_pointer (&self->path, g_free);
  g_clear_pointer (&self->name, g_free);
  g_clear_pointer (&self->accel, g_free);

  G_OBJECT_CLASS (strata_vm_parent_class)->finalize (object);
}

static void
strata_vm_get_property (GObject    *object,
                        guint       prop_id,
                        GValue     *value,
                        GParamSpec *pspec)
{
  StrataVm *self = STRATA_VM (object);

  switch (prop_id)
    {
    case PROP_PATH:
      g_value_set_string (value, self->path);
      break;
    case PROP_STATE:
      g_value_set_int (value, self->state);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
strata_vm_class_init (StrataVmClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = strata_vm_finalize;
  object_class->get_property = strata_vm_get_property;

  properties[PROP_PATH] =
    g_param_spec_string ("path", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_STATE] =
    g_param_spec_int ("state", NULL, NULL, STRATA_VM_STARTING, STRATA_VM_EXITED,
                      STRATA_VM_STARTING,
                      G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
strata_vm_init (StrataVm *self)
{
  const char *timeout = g_getenv ("STRATA_RUN_STOP_TIMEOUT");
  guint64 value;

  self->state = STRATA_VM_STARTING;
  self->stop_timeout = STOP_TIMEOUT_S;
  if (timeout != NULL && g_ascii_string_to_unsigned (timeout, 10, 1, 600, &value, NULL))
    self->stop_timeout = (guint) value;
}
