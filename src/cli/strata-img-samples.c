/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-img.h"

#include <stdio.h>

#include "strata-samples.h"

/* Writes the sample images into DIR with the engine alone (no qemu-img needed). */
int
strata_img_create_samples (int argc, char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new ("DIR");
  g_autoptr(GError) error = NULL;
  gboolean quiet = FALSE;
  const GOptionEntry entries[] = {
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "Print nothing on success", NULL },
    { NULL }
  };
  const char * const *names;

  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_summary (context,
                                "Writes a base qcow2, three overlays of it and a VMDK to "
                                "convert into DIR (created if missing). Refuses if any of "
                                "them exists.");
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      strata_img_error ("%s", error->message);
      return 1;
    }
  if (argc != 2)
    {
      strata_img_error ("Expecting one folder name");
      return 1;
    }

  if (!strata_samples_create (argv[1], NULL, &error))
    {
      strata_img_error ("%s", error->message);
      return 1;
    }

  if (!quiet)
    for (names = strata_samples_get_names (); *names != NULL; names++)
      {
        g_autofree char *path = g_build_filename (argv[1], *names, NULL);

        printf ("%s\n", path);
      }
  return 0;
}
