/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-img.h"

#include "strata-size.h"

#include <getopt.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct
{
  const char *name;
  int       (*run) (int argc, char **argv);
  const char *synopsis;
} Command;

static const Command commands[] = {
  { "info", strata_img_info,
    "info [-f FMT] [-U] [--backing-chain] [--output=human|json] [--strata-keys] FILE" },
  { "create", strata_img_create,
    "create [-q] [-f qcow2|raw|vmdk] [-b BACKING -F FMT] [-u] [-o OPTIONS] FILE [SIZE]" },
  { "map", strata_img_map,
    "map [-f FMT] [-U] [--start-offset=OFFSET] [--max-length=LEN] [--output=human|json] "
    "FILE" },
  { "measure", strata_img_measure,
    "measure [--output=human|json] [-O qcow2|raw] [-o OPTIONS] [-U] [--size SIZE | [-f FMT] "
    "FILE]" },
  { "convert", strata_img_convert,
    "convert [-p] [--sizes] [-c] [-n] [-C] [-f FMT] -O FMT [-o OPTIONS] [-B BACKING -F FMT] "
    "[-S SIZE] [--salvage] [-m N] [-W] SRC DST" },
  { "check", strata_img_check, "check [-r leaks|all] [--output=human|json] FILE" },
  { "compare", strata_img_compare, "compare [-s] A B" },
  { "rebase", strata_img_rebase, "rebase [-p] [-u] -b NEW [-F FMT] FILE" },
  { "resize", strata_img_resize,
    "resize [-q] [-f FMT] [--shrink] [--preallocation=off|metadata|falloc|full] FILE [+|-]SIZE" },
  { "snapshot", strata_img_snapshot,
    "snapshot [-q] [-U] [-l | -a SNAPSHOT | -c SNAPSHOT | -d SNAPSHOT] FILE" },
  { "commit", strata_img_commit,
    "commit [-p] [-d] [-b BASE] [--sizes] [--force] [--library DIR]... [--into-copy NEWBASE] FILE" },
  { "protect", strata_img_protect, "protect FILE" },
  { "unprotect", strata_img_unprotect, "unprotect FILE" },
  { "tree", strata_img_tree, "tree [-r] [-U] [--output=human|json|dot] DIR|FILE..." },
  { "create-samples", strata_img_create_samples, "create-samples DIR" },
};

void
strata_img_error (const char *format, ...)
{
  g_autofree char *msg = NULL;
  va_list args;

  va_start (args, format);
  msg = g_strdup_vprintf (format, args);
  va_end (args);

  fprintf (stderr, "strata-img: %s\n", msg);
}

int
strata_img_bad_option (int             c,
                       char          **argv,
                       StrataImgUsage  usage)
{
  switch (c)
    {
    case STRATA_IMG_OPT_OBJECT:
      strata_img_error ("--object is not supported");
      break;
    case STRATA_IMG_OPT_IMAGE_OPTS:
      strata_img_error ("--image-opts is not supported; give a file name");
      break;
    case ':':
      strata_img_error ("option '%s' needs an argument", argv[optind - 1]);
      break;
    default:
      strata_img_error ("unrecognized option '%s'", argv[optind - 1]);
      usage (stderr);
      break;
    }
  return 1;
}

const char *
strata_img_one_file (int             argc,
                     char          **argv,
                     StrataImgUsage  usage)
{
  if (optind != argc - 1)
    {
      strata_img_error ("Expecting one image file name");
      usage (stderr);
      return NULL;
    }
  return argv[optind];
}

gboolean
strata_img_parse_size (const char *text,
                       guint64    *size)
{
  gboolean hex_suffix;

  if (strata_parse_size (text, size, &hex_suffix) != STRATA_SIZE_OK)
    return FALSE;
  if (hex_suffix)
    fprintf (stderr, "strata-img: warning: Using a multiplier suffix on hex numbers is "
             "deprecated: %s\n", text);
  return TRUE;
}

static void
usage (FILE *out)
{
  fprintf (out, "Usage: strata-img COMMAND [OPTIONS]\n\nCommands:\n");
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    fprintf (out, "  %s\n", commands[i].synopsis);
}

int
main (int argc, char **argv)
{
  setlocale (LC_ALL, "");

  if (argc < 2)
    {
      usage (stderr);
      return 1;
    }

  if (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0)
    {
      usage (stdout);
      return 0;
    }

  if (strcmp (argv[1], "--version") == 0 || strcmp (argv[1], "-V") == 0)
    {
      printf ("strata-img version " STRATA_VERSION "\n");
      return 0;
    }

  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    if (strcmp (argv[1], commands[i].name) == 0)
      return commands[i].run (argc - 1, argv + 1);

  strata_img_error ("unknown command \"%s\"", argv[1]);
  usage (stderr);
  return 1;
}
