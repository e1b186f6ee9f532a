/* Lua's pattern functions (string.find, match, gmatch and gsub) written
 * again with a meter. Lua's own matcher backtracks inside one C call that
 * the count hook never sees: "%b()" over a million "(" ran for minutes.
 * Here every step of the matcher is charged to the running request's
 * budget (lsb_charge), so the instruction budget and the deadline hold
 * whatever the pattern and the subject. Results and error messages are
 * those of Lua 5.4's string library (tests/unit/test_lpattern.c compares
 * them). */
#ifndef AANTAFEL_LPATTERN_H
#define AANTAFEL_LPATTERN_H

#include <lua.h>
#include <stddef.h>

int lpat_find(lua_State *L);
int lpat_match(lua_State *L);
int lpat_gmatch(lua_State *L);
int lpat_gsub(lua_State *L);

/* A start position of the string library (negative counts from the end)
 * made 1-based and clipped below, as Lua's posrelatI: what find, match,
 * gmatch, byte and sub take. */
size_t lpat_position(lua_Integer pos, size_t len);

#endif
