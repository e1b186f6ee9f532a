/* db_int: integers read from results, checked rather than trusted. The
 * results are built with libpq's own constructors, no server needed. */
#include <libpq-fe.h>

#include "check.h"
#include "db.h"

static PGresult *one_column(const char *const *values, int n)
{
	PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
	PGresAttDesc att = {.name = (char *)"v", .format = 0};
	PQsetResultAttrs(r, 1, &att);
	for (int i = 0; i < n; i++)
		PQsetvalue(r, i, 0, (char *)values[i], values[i] ? (int)strlen(values[i]) : -1);
	return r;
}

int main(void)
{
	const char *v[] = {"42", "-7", "9223372036854775807", "9223372036854775808", "12abc", "", " 5", NULL, "+5",
			   "-9223372036854775808", "-9223372036854775809", "0x10", "5 "};
	const int n = (int)(sizeof(v) / sizeof(v[0]));
	PGresult *r = one_column(v, n);
	CHECK_INT_EQ(db_int(r, 0, 0), 42);
	CHECK_INT_EQ(db_int(r, 1, 0), -7);
	CHECK(db_int(r, 2, 0) == INT64_MAX);
	CHECK_INT_EQ(db_int(r, 3, 0), 0);          /* out of range */
	CHECK_INT_EQ(db_int(r, 4, 0), 0);          /* trailing junk */
	CHECK_INT_EQ(db_int(r, 5, 0), 0);          /* empty */
	/* PostgreSQL writes an integer as digits with an optional '-' and
	 * nothing around them; anything else is not one (db.h). */
	CHECK_INT_EQ(db_int(r, 6, 0), 0);          /* leading white space */
	CHECK_INT_EQ(db_int(r, 7, 0), 0);          /* NULL */
	CHECK_INT_EQ(db_int(r, 8, 0), 0);          /* a leading '+' */
	CHECK(db_int(r, 9, 0) == INT64_MIN);
	CHECK_INT_EQ(db_int(r, 10, 0), 0);         /* out of range below */
	CHECK_INT_EQ(db_int(r, 11, 0), 0);         /* not decimal */
	CHECK_INT_EQ(db_int(r, 12, 0), 0);         /* trailing space */
	CHECK_INT_EQ(db_int(r, n, 0), 0);          /* no such row */
	CHECK_INT_EQ(db_int(r, -1, 0), 0);
	CHECK_INT_EQ(db_int(r, 0, 1), 0);          /* no such column */
	CHECK_INT_EQ(db_int(NULL, 0, 0), 0);
	PQclear(r);
	return check_exit("test_db_int");
}
