/* The Lua sandbox: one lua_State per tenant per worker, an allow-list
 * environment, a memory cap in the allocator, and one instruction budget
 * and deadline per request shared by all of its coroutines, enforced by a
 * count hook whose kill is sticky (pcall cannot swallow it). Core calls
 * that need the database yield with a tag; the sandbox's own
 * coroutine.resume/wrap pass such yields outward to the request's
 * scheduler. */
#ifndef AANTAFEL_LSANDBOX_H
#define AANTAFEL_LSANDBOX_H

#include <lua.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LSB_HOOK_STEP 1000              /* instructions between hook calls */
#define LSB_HOOK_STEP_SLOW 10           /* ... once instructions turned out costly */
#define LSB_SLOW_INTERVAL_NS 1000000    /* a hook interval this long means costly instructions */
#define LSB_CLOCK_UNITS 1000            /* charged units between looks at the clock */
#define LSB_ALLOC_CHECK (64 * 1024)     /* allocated bytes between charges */
#define LSB_BYTES_PER_UNIT 16           /* bytes copied that one unit stands for */
#define LSB_SCAN_BYTES_PER_UNIT 4       /* bytes looked at one by one (decoded, converted, parsed) */
#define LSB_STRING_MAX (8 * 1024 * 1024) /* largest string.rep result */
#define LSB_PRINT_MAX 100               /* print lines logged per budget */

/* What one request (or one load) may spend. A unit is about one Lua
 * instruction's worth of work: the count hook charges the instructions,
 * the library functions whose work grows with their input charge theirs
 * (lsb_charge), and so does every allocation. */
struct lbudget {
	int64_t instructions;   /* units left */
	int64_t deadline_ms;    /* CLOCK_MONOTONIC milliseconds */
	int64_t unclocked;      /* units charged since the clock was last read */
	int64_t hook_ns;        /* when the count hook last ran (0: not yet) */
	size_t alloc_bytes;     /* allocated since the last charge for it */
	int64_t slice_end_ns;   /* the hook yields the request after this (0: never) */
	bool sliced;            /* ... and did: the yield is the scheduler's, not a core call */
	bool killed;            /* sticky: every later hook and pcall re-raises */
	const char *why;
	unsigned prints;
};

struct lsandbox {
	lua_State *L;
	size_t mem_used;
	size_t mem_limit;
	struct lbudget *budget;         /* of the code running now, or NULL */
	int base_ref;                   /* the read-only table behind every env */
	const char *log_tag;            /* tenant slug for print and errors */
};

/* Creates a sandbox whose allocations stop at MEM_LIMIT bytes. */
struct lsandbox *lsb_new(size_t mem_limit, const char *log_tag, char *err, size_t errlen);
void lsb_free(struct lsandbox *sb);

/* The sandbox that owns a Lua thread. */
struct lsandbox *lsb_of(lua_State *L);

/* Adds the value on top of the stack to the allow-list under NAME (before
 * any plugin is loaded). Pops it. */
void lsb_expose(struct lsandbox *sb, const char *name);

/* Pushes a fresh environment: reads fall through to the allow-list, an
 * undeclared name is an error, writes stay in this environment. */
void lsb_push_env(struct lsandbox *sb);

/* Loads a text chunk (binary chunks are refused) with the environment at
 * ENV_IDX. Pushes the function and returns 0, or returns -1 with
 * "name:line: message" in err. */
int lsb_load(struct lsandbox *sb, const char *chunk, size_t len, const char *name, int env_idx, char *err,
	     size_t errlen);
/* The same on L, a thread of the sandbox (a request's coroutine). */
int lsb_load_in(lua_State *L, const char *chunk, size_t len, const char *name, int env_idx, char *err, size_t errlen);

/* Calls the function below NARGS arguments on the main thread with budget
 * B, like lua_pcall; on error returns -1 with the message (and where) in
 * err. Code run this way may not yield. */
int lsb_call(struct lsandbox *sb, int nargs, int nresults, struct lbudget *b, char *err, size_t errlen);

/* Resumes coroutine CO with budget B. Returns the lua_resume status; *nres
 * as lua_resume. On LUA_YIELD, lsb_core_yield tells whether it is a core
 * request (tagged) or a stray coroutine.yield. */
int lsb_resume(struct lsandbox *sb, lua_State *co, int nargs, int *nres, struct lbudget *b);

/* Core functions yield with this tag as their first value. */
void lsb_push_core_tag(lua_State *L);
bool lsb_core_yield(lua_State *co, int nres);

/* Charges UNITS of work done by C code (a library function, a core
 * function) to the running budget; raises the sticky kill when the units
 * or the time are spent. Call it before the work where the cost is known
 * in advance, so that a refused call does none of it. Nothing happens on
 * a state without a budget. */
void lsb_charge(lua_State *L, int64_t units);
/* The same without raising, for a caller that holds what Lua would not
 * free: false when the budget is now spent (then free it and call
 * lsb_charge(L, 0), which raises the kill). */
bool lsb_try_charge(lua_State *L, int64_t units);
/* The same for copying N bytes (LSB_BYTES_PER_UNIT each unit). */
void lsb_charge_bytes(lua_State *L, size_t n);

/* Where a killed budget stopped the code on thread L, from stack LEVEL
 * up, into BUF: "file:line: " of the running plugin's own code (the
 * source of the outermost frame that is not the prelude: the handler,
 * hook or job the runtime called), at its innermost line; when the kill
 * came in other code that it called (the site's layout under
 * plugin.render, a library's Lua), that place follows in WHERE_ELSE as
 * " (stopped in file:line)". Both empty when no frame has a line. */
void lsb_kill_where(lua_State *L, int level, char *buf, size_t len, char *where_else, size_t else_len);

/* A budget from limits: instructions and milliseconds from now. */
void lsb_budget_init(struct lbudget *b, int64_t instructions, int64_t ms);

/* Makes the table on top of the stack read-only: replaces it with a proxy
 * whose writes, rawset-free, fail and whose metatable is hidden. */
void lsb_protect(lua_State *L);

#endif
