/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "test-util.h"

int
main (int argc, char **argv)
{
  tu_init (&argc, &argv);
  return g_test_run ();
}
