/* Stand-in for bcryptprimitives.dll under Wine 8, which lacks ProcessPrng.
 * Rust std >= 1.78 imports ProcessPrng for its random seeds; without this,
 * every Rust exe exits 53 with no output under Wine. Real Windows 10+ has it:
 * this DLL only ever goes into the scratch Wine prefix of .ci/cross. */
#include <windows.h>
#include <ntsecapi.h> /* RtlGenRandom (SystemFunction036) */

BOOL WINAPI ProcessPrng(PBYTE p, SIZE_T n) {
    while (n) {
        ULONG c = n > 0x10000000 ? 0x10000000 : (ULONG)n;
        if (!RtlGenRandom(p, c))
            return FALSE;
        p += c;
        n -= c;
    }
    return TRUE;
}
