/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-job.h"

/* At most this many notifications a second reach the main loop. */
#define NOTIFY_INTERVAL_US (G_USEC_PER_SEC / 8)

struct _StrataJob
{
  GObject       parent_instance;

  char         *title;
  GMainContext *context;

  GMutex        mutex;
  guint64       done;
  guint64       total;
  char         *phase;
  gint64        started_us;
  double        rate;
  gint64        last_notify_us;
  guint         idle_id;
  gboolean      finished;
};

enum {
  PROP_0,
  PROP_TITLE,
  PROP_FRACTION,
  PROP_BYTES_DONE,
  PROP_BYTES_TOTAL,
  PROP_RATE,
  PROP_ETA,
  PROP_PHASE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (StrataJob, strata_job, G_TYPE_OBJECT)

static void
strata_job_finalize (GObject *object)
{
  StrataJob *self = STRATA_JOB (object);

  g_free (self->title);
  g_free (self->phase);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_mutex_clear (&self->mutex);

  G_OBJECT_CLASS (strata_job_parent_class)->finalize (object);
}

static void
strata_job_get_property (GObject    *object,
                         guint       prop_id,
                         GValue     *value,
                         GParamSpec *pspec)
{
  StrataJob *self = STRATA_JOB (object);

  switch (prop_id)
    {
    case PROP_TITLE:
      g_value_set_string (value, self->title);
      break;
    case PROP_FRACTION:
      g_value_set_double (value, strata_job_get_fraction (self));
      break;
    case PROP_BYTES_DONE:
      g_value_set_uint64 (value, strata_job_get_bytes_done (self));
      break;
    case PROP_BYTES_TOTAL:
      g_value_set_uint64 (value, strata_job_get_bytes_total (self));
      break;
    case PROP_RATE:
      g_value_set_double (value, strata_job_get_rate (self));
      break;
    case PROP_ETA:
      g_value_set_double (value, strata_job_get_eta (self));
      break;
    case PROP_PHASE:
      g_value_take_string (value, strata_job_dup_phase (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
strata_job_set_property (GObject      *object,
                         guint         prop_id,
                         const GValue *value,
                         GParamSpec   *pspec)
{
  StrataJob *self = STRATA_JOB (object);

  switch (prop_id)
    {
    case PROP_TITLE:
      self->title = g_value_dup_string (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
strata_job_class_init (StrataJobClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = strata_job_finalize;
  object_class->get_property = strata_job_get_property;
  object_class->set_property = strata_job_set_property;

  properties[PROP_TITLE] =
    g_param_spec_string ("title", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_FRACTION] =
    g_param_spec_double ("fraction", NULL, NULL, 0.0, 1.0, 0.0,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_BYTES_DONE] =
    g_param_spec_uint64 ("bytes-done", NULL, NULL, 0, G_MAXUINT64, 0,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_BYTES_TOTAL] =
    g_param_spec_uint64 ("bytes-total", NULL, NULL, 0, G_MAXUINT64, 0,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_RATE] =
    g_param_spec_double ("rate", NULL, NULL, 0.0, G_MAXDOUBLE, 0.0,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_ETA] =
    g_param_spec_double ("eta", NULL, NULL, -1.0, G_MAXDOUBLE, -1.0,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_PHASE] =
    g_param_spec_string ("phase", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
strata_job_init (StrataJob *self)
{
  g_mutex_init (&self->mutex);
  self->context = g_main_context_ref_thread_default ();
}

StrataJob *
strata_job_new (const char *title)
{
  return g_object_new (STRATA_TYPE_JOB, "title", title, NULL);
}

const char *
strata_job_get_title (StrataJob *self)
{
  g_return_val_if_fail (STRATA_IS_JOB (self), NULL);
  return self->title;
}

double
strata_job_get_fraction (StrataJob *self)
{
  double fraction;

  g_return_val_if_fail (STRATA_IS_JOB (self), 0.0);

  g_mutex_lock (&self->mutex);
  if (self->finished)
    fraction = 1.0;
  else if (self->total == 0)
    fraction = 0.0;
  else
    fraction = CLAMP ((double) self->done / (double) self->total, 0.0, 1.0);
  g_mutex_unlock (&self->mutex);

  return fraction;
}

guint64
strata_job_get_bytes_done (StrataJob *self)
{
  guint64 v;

  g_return_val_if_fail (STRATA_IS_JOB (self), 0);
  g_mutex_lock (&self->mutex);
  v = self->done;
  g_mutex_unlock (&self->mutex);
  return v;
}

guint64
strata_job_get_bytes_total (StrataJob *self)
{
  guint64 v;

  g_return_val_if_fail (STRATA_IS_JOB (self), 0);
  g_mutex_lock (&self->mutex);
  v = self->total;
  g_mutex_unlock (&self->mutex);
  return v;
}

double
strata_job_get_rate (StrataJob *self)
{
  double v;

  g_return_val_if_fail (STRATA_IS_JOB (self), 0.0);
  g_mutex_lock (&self->mutex);
  v = self->rate;
  g_mutex_unlock (&self->mutex);
  return v;
}

double
strata_job_get_eta (StrataJob *self)
{
  double eta = -1.0;

  g_return_val_if_fail (STRATA_IS_JOB (self), -1.0);
  g_mutex_lock (&self->mutex);
  if (self->rate > 0.0 && self->total >= self->done)
    eta = (double) (self->total - self->done) / self->rate;
  g_mutex_unlock (&self->mutex);
  return eta;
}

char *
strata_job_dup_phase (StrataJob *self)
{
  char *v;

  g_return_val_if_fail (STRATA_IS_JOB (self), NULL);
  g_mutex_lock (&self->mutex);
  v = g_strdup (self->phase);
  g_mutex_unlock (&self->mutex);
  return v;
}

static gboolean
notify_idle_cb (gpointer user_data)
{
  StrataJob *self = user_data;

  g_mutex_lock (&self->mutex);
  self->idle_id = 0;
  g_mutex_unlock (&self->mutex);

  g_object_freeze_notify (G_OBJECT (self));
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_FRACTION]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BYTES_DONE]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BYTES_TOTAL]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RATE]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ETA]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PHASE]);
  g_object_thaw_notify (G_OBJECT (self));

  return G_SOURCE_REMOVE;
}

/* Called with the mutex held. */
static void
schedule_notify_locked (StrataJob *self, gboolean force)
{
  gint64 now = g_get_monotonic_time ();
  GSource *source;

  if (self->idle_id != 0)
    return;
  if (!force && now - self->last_notify_us < NOTIFY_INTERVAL_US)
    return;

  self->last_notify_us = now;
  source = g_idle_source_new ();
  g_source_set_priority (source, G_PRIORITY_DEFAULT_IDLE);
  g_source_set_callback (source, notify_idle_cb, g_object_ref (self), g_object_unref);
  g_source_set_static_name (source, "[strata] job progress");
  self->idle_id = g_source_attach (source, self->context);
  g_source_unref (source);
}

void
strata_job_set_progress (StrataJob *self,
                         guint64    done,
                         guint64    total)
{
  gint64 now;

  g_return_if_fail (STRATA_IS_JOB (self));

  now = g_get_monotonic_time ();

  g_mutex_lock (&self->mutex);
  if (self->started_us == 0)
    self->started_us = now;
  self->done = done;
  self->total = total;
  if (now > self->started_us)
    self->rate = (double) done * G_USEC_PER_SEC / (double) (now - self->started_us);
  schedule_notify_locked (self, FALSE);
  g_mutex_unlock (&self->mutex);
}

void
strata_job_set_phase (StrataJob  *self,
                      const char *phase)
{
  g_return_if_fail (STRATA_IS_JOB (self));

  g_mutex_lock (&self->mutex);
  g_free (self->phase);
  self->phase = g_strdup (phase);
  schedule_notify_locked (self, TRUE);
  g_mutex_unlock (&self->mutex);
}

void
strata_job_finish (StrataJob *self)
{
  g_return_if_fail (STRATA_IS_JOB (self));

  g_mutex_lock (&self->mutex);
  self->finished = TRUE;
  self->done = self->total;
  schedule_notify_locked (self, TRUE);
  g_mutex_unlock (&self->mutex);
}
