// MPI's C API, for the few files of harness/dist that call it directly (only when built with MPI). One place
// for the macros that keep Open MPI's and MPICH's deprecated C++ bindings out (they warn under -Wextra).
#pragma once

#ifdef VITBENCH_MPI
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif
