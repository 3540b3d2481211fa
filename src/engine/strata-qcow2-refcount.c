/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-qcow2-private.h"
