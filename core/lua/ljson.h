/* Lua values and JSON (jansson), both ways, for the plugin store, the
 * handlers' {json = …} answers and the API's operations. */
#ifndef AANTAFEL_LJSON_H
#define AANTAFEL_LJSON_H

#include <jansson.h>
#include <lua.h>
#include <stdbool.h>
#include <stddef.h>

#define JSON_DEPTH_MAX 32
#define LJSON_TEXT_MAX (16 * 1024 * 1024)      /* about the JSON text of one value from Lua */

/* The Lua value at IDX as JSON: tables with keys 1..n are arrays, tables
 * with string keys objects, the empty table an object, safe HTML its
 * text. NULL with the
 * reason in ERR for what JSON cannot hold (functions, mixed tables,
 * invalid UTF-8, nesting deeper than JSON_DEPTH_MAX, more than about
 * LJSON_TEXT_MAX bytes of text, or the request's budget spent by the
 * conversion, which is charged to it). DEPTH starts at 0. Never raises. */
json_t *ljson_from_lua(lua_State *L, int idx, int depth, char *err, size_t errlen);

/* Pushes J as a Lua value; may raise (memory): call under protection.
 * With HTML, a string under a key ending in "_html", or in an object
 * under such a key (a record's fields_html), becomes the core's safe-HTML
 * value: only for documents whose such fields the core made itself (the
 * API's answers, from cmark; a workflow record's field may not be named
 * so, core/lua/prelude.lua). */
int ljson_push(lua_State *L, json_t *j, int depth, bool html);

/* Pushes the JSON text TEXT (LEN bytes) as a Lua value in one pass, with
 * no tree in between: for the large answers of the API's reads. The same
 * values as ljson_push (null: nil; HTML: as there). Raises on malformed
 * text or memory: call under protection. */
void ljson_decode(lua_State *L, const char *text, size_t len, bool html);

/* J (the caller's reference, released here whatever happens) as JSON
 * text with FLAGS, written into a new userdatum pushed on L, which Lua
 * collects even if a later push raises; *LEN its length. NULL when J
 * cannot be encoded (nothing pushed). When L cannot allocate (its memory
 * cap), J is released before the error is raised. */
char *ljson_dump_box(lua_State *L, json_t *j, size_t flags, size_t *len);

#endif
