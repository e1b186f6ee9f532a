/* The standard library functions whose work grows with their input,
 * metered for the sandbox. The count hook sees Lua instructions only; a
 * single call of string.rep, table.concat or table.move does its work in
 * C, where no hook runs. Each function here charges that work to the
 * request's budget (lsb_charge), before doing it where its size is known,
 * or step by step where it is not, so that the instruction budget and the
 * deadline bound every call. docs/plugins.md has the table of functions
 * and their bounds.
 *
 * Functions marked "wraps" get Lua's own function as upvalue 1 and call
 * it once charged; the others are written here. */
#ifndef AANTAFEL_LMETERED_H
#define AANTAFEL_LMETERED_H

#include <lua.h>

/* string (the pattern functions are in lpattern.h) */
int lmt_str_rep(lua_State *L);          /* wraps */
int lmt_str_format(lua_State *L);       /* wraps */
int lmt_str_byte(lua_State *L);         /* wraps */
int lmt_str_char(lua_State *L);         /* wraps */
int lmt_str_by_length(lua_State *L);    /* wraps: upper, lower, reverse */
int lmt_str_sub(lua_State *L);          /* wraps */
int lmt_str_pack(lua_State *L);         /* wraps: pack, unpack, packsize */

/* table */
int lmt_tbl_insert(lua_State *L);
int lmt_tbl_remove(lua_State *L);
int lmt_tbl_move(lua_State *L);
int lmt_tbl_concat(lua_State *L);
int lmt_tbl_unpack(lua_State *L);
int lmt_tbl_pack(lua_State *L);         /* wraps */
int lmt_tbl_sort(lua_State *L);

/* utf8 */
int lmt_utf8_char(lua_State *L);        /* wraps */
int lmt_utf8_len(lua_State *L);         /* wraps */
int lmt_utf8_codepoint(lua_State *L);   /* wraps */
int lmt_utf8_offset(lua_State *L);      /* wraps */

/* base and os */
int lmt_tonumber(lua_State *L);         /* wraps */
int lmt_os_date(lua_State *L);          /* wraps */

#endif
