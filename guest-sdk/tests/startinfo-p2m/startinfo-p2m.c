/*
 * startinfo-p2m - the startinfo test guest built with the INIT_P2M and
 * MOD_START_PFN notes (see tests/startinfo/startinfo.c).
 */
#define STARTINFO_INIT_P2M 1
#include "../startinfo/startinfo.c"
